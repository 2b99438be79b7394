package agent

import (
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"testing"
)

// TestPinRefusesChangedKey: a peer key seen once is pinned; the server
// presenting another key for that peer later is refused, new peers are
// added.
func TestPinRefusesChangedKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "peers-r.json")
	bank, _, _ := ed25519.GenerateKey(nil)
	other, _, _ := ed25519.GenerateKey(nil)
	if err := pin(path, map[string]ed25519.PublicKey{"bank": bank}); err != nil {
		t.Fatal(err)
	}
	if err := pin(path, map[string]ed25519.PublicKey{"bank": bank, "insurer": other}); err != nil {
		t.Fatalf("pin with the same key and a new peer: %v", err)
	}
	err := pin(path, map[string]ed25519.PublicKey{"bank": other})
	if !errors.Is(err, ErrPeerKeyChanged) {
		t.Fatalf("pin with a changed key = %v, want ErrPeerKeyChanged", err)
	}
	// The insurer was pinned by the second call.
	if err := pin(path, map[string]ed25519.PublicKey{"insurer": bank}); !errors.Is(err, ErrPeerKeyChanged) {
		t.Fatalf("pin of a changed insurer key = %v, want ErrPeerKeyChanged", err)
	}
}
