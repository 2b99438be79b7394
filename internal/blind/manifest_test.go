package blind

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

var testNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func testSigningKey(seed byte) ed25519.PrivateKey {
	s := make([]byte, ed25519.SeedSize)
	s[0] = seed
	return ed25519.NewKeyFromSeed(s)
}

func TestDigestTokens(t *testing.T) {
	if got, want := DigestTokens(nil), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"; got != want {
		t.Errorf("DigestTokens(nil) = %s, want SHA-256 of nothing %s", got, want)
	}
	toks := []Token{{3}, {1}, {2, 9}, {2}}
	orig := slices.Clone(toks)
	got := DigestTokens(toks)
	if !slices.Equal(toks, orig) {
		t.Error("DigestTokens reordered its argument")
	}
	sorted := []Token{{1}, {2}, {2, 9}, {3}}
	var cat []byte
	for _, tok := range sorted {
		cat = append(cat, tok[:]...)
	}
	sum := sha256.Sum256(cat)
	if want := hex.EncodeToString(sum[:]); got != want {
		t.Errorf("DigestTokens = %s, want SHA-256 of the sorted concatenation %s", got, want)
	}
	SortTokens(toks)
	if !slices.Equal(toks, sorted) {
		t.Errorf("SortTokens = %v, want %v", toks, sorted)
	}
	if DigestTokens(toks) != got {
		t.Error("the digest depends on the order of the set")
	}
}

func testManifest(t *testing.T, tokens []Token) Manifest {
	t.Helper()
	m, err := NewManifest("SHA256:server", "r1", "bank", "products", 3, cleanroom.ClassPhone, tokens, testNow)
	if err != nil {
		t.Fatalf("NewManifest: %v", err)
	}
	return m
}

func TestCheckSet(t *testing.T) {
	toks := []Token{{1}, {2}, {3}}
	m := testManifest(t, toks)
	if m.Count != 3 || m.Digest != DigestTokens(toks) || m.Type != ManifestType || !m.CreatedAt.Equal(testNow) {
		t.Errorf("NewManifest = %+v", m)
	}
	if err := CheckSet(m, []Token{{3}, {1}, {2}}); err != nil {
		t.Errorf("CheckSet(shuffled set) = %v, want nil", err)
	}
	tests := []struct {
		name   string
		tokens []Token
		want   string
	}{
		{"one token less", []Token{{1}, {2}}, "the manifest names 3 tokens, the set has 2"},
		{"one token more", []Token{{1}, {2}, {3}, {4}}, "the manifest names 3 tokens, the set has 4"},
		{"one token differs", []Token{{1}, {2}, {4}}, "the set's digest differs from the manifest's"},
	}
	for _, tt := range tests {
		err := CheckSet(m, tt.tokens)
		if !errors.Is(err, ErrSetMismatch) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: CheckSet = %v, want ErrSetMismatch: %s", tt.name, err, tt.want)
		}
	}
}

func TestManifestValidate(t *testing.T) {
	good := testManifest(t, []Token{{1}})
	tests := []struct {
		name string
		edit func(*Manifest)
		want string
	}{
		{"type", func(m *Manifest) { m.Type = "cleanroom.grant.v1" }, "statement type"},
		{"server", func(m *Manifest) { m.Server = "" }, "no server"},
		{"room", func(m *Manifest) { m.Room = "Room 1" }, "room name"},
		{"party", func(m *Manifest) { m.Party = "" }, "party name"},
		{"dataset", func(m *Manifest) { m.Dataset = "" }, "no dataset"},
		{"version", func(m *Manifest) { m.Version = 0 }, "version is 0"},
		{"class", func(m *Manifest) { m.Class = "ssn" }, "identifier class"},
		{"count", func(m *Manifest) { m.Count = -1 }, "count is -1"},
		{"digest case", func(m *Manifest) { m.Digest = strings.ToUpper(m.Digest) }, "digest"},
		{"digest length", func(m *Manifest) { m.Digest = m.Digest[:62] }, "digest"},
		{"time", func(m *Manifest) { m.CreatedAt = time.Time{} }, "created_at"},
	}
	for _, tt := range tests {
		m := good
		tt.edit(&m)
		err := m.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) || cleanroom.ErrorCode(err) != cleanroom.EInvalid {
			t.Errorf("%s: Validate = %v, want an invalid error containing %q", tt.name, err, tt.want)
		}
	}
}

func TestSignVerifyManifest(t *testing.T) {
	priv := testSigningKey(1)
	pub := priv.Public().(ed25519.PublicKey)
	m := testManifest(t, []Token{{1}, {2}})
	env, err := SignManifest(priv, m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyManifest(pub, env)
	if err != nil {
		t.Fatalf("VerifyManifest: %v", err)
	}
	if got != m {
		t.Errorf("VerifyManifest = %+v, want %+v", got, m)
	}
	if _, err := VerifyManifest(testSigningKey(2).Public().(ed25519.PublicKey), env); !errors.Is(err, statement.ErrBadSignature) {
		t.Errorf("VerifyManifest(other key) = %v, want ErrBadSignature", err)
	}

	// A signed statement with a field the manifest does not have is refused.
	extra, err := statement.Sign(priv, struct {
		Manifest
		Extra string `json:"extra"`
	}{m, "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyManifest(pub, extra); err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Errorf("VerifyManifest(extra field) = %v, want an unknown-field error", err)
	}
	// SignManifest refuses an invalid manifest.
	bad := m
	bad.Version = 0
	if _, err := SignManifest(priv, bad); err == nil {
		t.Error("SignManifest(version 0) succeeded")
	}
}
