package keyfile

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/gtank/ristretto255"

	"github.com/cleanroom-dev/cleanroom"
)

func TestCreateLoadParty(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	k, err := CreateParty(dir)
	if err != nil {
		t.Fatalf("CreateParty: %v", err)
	}
	got, err := LoadParty(dir)
	if err != nil {
		t.Fatalf("LoadParty: %v", err)
	}
	if !got.Signing.Equal(k.Signing) {
		t.Error("LoadParty: signing key differs from the one created")
	}
	if got.Blinding.Equal(k.Blinding) != 1 {
		t.Error("LoadParty: blinding key differs from the one created")
	}
	if !got.Public().Equal(k.Signing.Public()) {
		t.Error("Public() does not match the signing key")
	}
	if got.Fingerprint() != cleanroom.KeyFingerprint(k.Public()) {
		t.Errorf("Fingerprint() = %s, want %s", got.Fingerprint(), cleanroom.KeyFingerprint(k.Public()))
	}

	if runtime.GOOS == "windows" {
		return
	}
	modes := map[string]fs.FileMode{
		"":                   0o700 | fs.ModeDir,
		PartySigningKeyFile:  0o600,
		PartySigningPubFile:  0o644,
		PartyBlindingKeyFile: 0o600,
	}
	for name, want := range modes {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode() & (fs.ModePerm | fs.ModeDir); m != want {
			t.Errorf("mode of %q = %v, want %v", name, m, want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("dir has %d entries, want 3 (no temporary files left)", len(entries))
	}
}

func TestCreatePartyRefusesOverwrite(t *testing.T) {
	for _, name := range []string{PartySigningKeyFile, PartySigningPubFile, PartyBlindingKeyFile} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			existing := filepath.Join(dir, name)
			if err := os.WriteFile(existing, []byte("keep me"), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := CreateParty(dir)
			if !errors.Is(err, ErrExist) {
				t.Fatalf("CreateParty with existing %s: err = %v, want ErrExist", name, err)
			}
			if !strings.Contains(err.Error(), existing) {
				t.Errorf("error %q does not name %s", err, existing)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Errorf("CreateParty wrote files although it refused: %d entries", len(entries))
			}
			if b, _ := os.ReadFile(existing); string(b) != "keep me" {
				t.Errorf("%s was overwritten", name)
			}
		})
	}
	t.Run("twice", func(t *testing.T) {
		dir := t.TempDir()
		first, err := CreateParty(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := CreateParty(dir); !errors.Is(err, ErrExist) {
			t.Fatalf("second CreateParty: err = %v, want ErrExist", err)
		}
		k, err := LoadParty(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !k.Signing.Equal(first.Signing) {
			t.Error("second CreateParty replaced the keys")
		}
	})
}

// pemFile returns a PEM file's content.
func pemFile(typ string, b []byte) string { return string(encodePEM(typ, b)) }

func TestLoadPartyErrors(t *testing.T) {
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	otherPubDER, _ := x509.MarshalPKIXPublicKey(otherPriv.Public())
	x, _ := ecdh.X25519().GenerateKey(rand.Reader)
	xDER, _ := x509.MarshalPKCS8PrivateKey(x)
	xPubDER, _ := x509.MarshalPKIXPublicKey(x.PublicKey())
	nonCanonical := bytes.Repeat([]byte{0xff}, 32)

	tests := []struct {
		name    string
		file    string
		content string      // new content; "" keeps the file
		remove  bool        // delete the file instead
		mode    fs.FileMode // 0 keeps the mode
		is      error       // sentinel the error must wrap, if any
		want    string      // substring of the error
	}{
		{name: "missing signing key", file: PartySigningKeyFile, remove: true, is: fs.ErrNotExist},
		{name: "missing public key", file: PartySigningPubFile, remove: true, is: fs.ErrNotExist},
		{name: "missing blinding key", file: PartyBlindingKeyFile, remove: true, is: fs.ErrNotExist},
		{name: "signing key readable by others", file: PartySigningKeyFile, mode: 0o644, is: ErrMode,
			want: "mode 0644 allows others to read it; run `chmod 600 "},
		{name: "blinding key readable by group", file: PartyBlindingKeyFile, mode: 0o640, is: ErrMode,
			want: "mode 0640 allows others to read it"},
		{name: "blinding key writable by group", file: PartyBlindingKeyFile, mode: 0o620, is: ErrMode,
			want: "mode 0620 allows others to access it"},
		{name: "signing key not PEM", file: PartySigningKeyFile, content: "not a key\n", want: "no PEM block found"},
		{name: "signing key wrong PEM type", file: PartySigningKeyFile,
			content: pemFile("EC PRIVATE KEY", []byte{1, 2, 3}), want: `PEM block is "EC PRIVATE KEY", want "PRIVATE KEY"`},
		{name: "signing key bad DER", file: PartySigningKeyFile, content: pemFile("PRIVATE KEY", []byte{1, 2, 3}),
			want: "not a PKCS#8 private key"},
		{name: "signing key is X25519", file: PartySigningKeyFile, content: pemFile("PRIVATE KEY", xDER),
			want: "is not an Ed25519 private key"},
		{name: "signing key with trailing data", file: PartySigningKeyFile,
			content: pemFile("PRIVATE KEY", []byte{1}) + "junk", want: "unexpected data after the PEM block"},
		{name: "signing key encrypted", file: PartySigningKeyFile,
			content: "-----BEGIN PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nAAAA\n-----END PRIVATE KEY-----\n",
			want:    "encrypted key files are not supported"},
		{name: "public key of another party", file: PartySigningPubFile, content: pemFile("PUBLIC KEY", otherPubDER),
			want: "does not match signing.key"},
		{name: "public key not Ed25519", file: PartySigningPubFile, content: pemFile("PUBLIC KEY", xPubDER),
			want: "is not an Ed25519 public key"},
		{name: "public key corrupt", file: PartySigningPubFile, content: "-----BEGIN PUBLIC KEY-----\n!!!\n",
			want: "no PEM block found"},
		{name: "public key bad DER", file: PartySigningPubFile, content: pemFile("PUBLIC KEY", []byte{1, 2, 3}),
			want: "not a PKIX public key"},
		{name: "blinding key short", file: PartyBlindingKeyFile, content: pemFile(blindingPEMType, make([]byte, 31)),
			want: "blinding key is 31 bytes, want 32"},
		{name: "blinding key non-canonical", file: PartyBlindingKeyFile, content: pemFile(blindingPEMType, nonCanonical),
			want: "not a canonical ristretto255 scalar"},
		{name: "blinding key zero", file: PartyBlindingKeyFile, content: pemFile(blindingPEMType, make([]byte, 32)),
			want: "blinding key is zero"},
		{name: "blinding key wrong type", file: PartyBlindingKeyFile, content: pemFile("PRIVATE KEY", make([]byte, 32)),
			want: `want "CLEANROOM BLINDING KEY"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.mode != 0 && runtime.GOOS == "windows" {
				t.Skip("no Unix file modes on Windows")
			}
			dir := t.TempDir()
			if _, err := CreateParty(dir); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, tt.file)
			switch {
			case tt.remove:
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			case tt.content != "":
				if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if tt.mode != 0 {
				if err := os.Chmod(path, tt.mode); err != nil {
					t.Fatal(err)
				}
			}
			k, err := LoadParty(dir)
			if err == nil {
				t.Fatalf("LoadParty = %v, want an error", k)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "load party keys: "+path+": ") {
				t.Errorf("LoadParty error %q does not start with the operation and the file %s", msg, path)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("LoadParty error %q does not wrap %v", msg, tt.is)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("LoadParty error %q does not contain %q", msg, tt.want)
			}
		})
	}
}

func TestLoadPartyMissingDir(t *testing.T) {
	_, err := LoadParty(filepath.Join(t.TempDir(), "nope"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadParty(missing dir) = %v, want fs.ErrNotExist", err)
	}
}

func TestPartyKeysRedacted(t *testing.T) {
	k, err := CreateParty(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	seed := k.Signing.Seed()
	blind := k.Blinding.Encode(nil)
	secrets := []string{
		hex.EncodeToString(seed), base64.StdEncoding.EncodeToString(seed),
		hex.EncodeToString(blind), base64.StdEncoding.EncodeToString(blind),
		fmt.Sprint(seed), fmt.Sprint(seed[:8]), fmt.Sprint([]byte(k.Signing)),
	}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		outs = append(outs, fmt.Sprintf(verb, k), fmt.Sprintf(verb, *k))
	}
	type wrapper struct{ Keys PartyKeys }
	outs = append(outs, fmt.Sprintf("%+v", wrapper{*k}), fmt.Sprintf("%#v", wrapper{*k}))
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("loaded", "keys", k)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("loaded", "keys", *k)
	outs = append(outs, logs.String())
	for _, out := range outs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("output %q contains a secret", out)
			}
		}
	}
	if !strings.Contains(logs.String(), k.Fingerprint()) {
		t.Errorf("log %q does not show the fingerprint", logs.String())
	}
	if got, want := k.String(), "party keys "+k.Fingerprint(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if b, err := json.Marshal(k); err == nil {
		t.Errorf("json.Marshal(party keys) = %s, want an error", b)
	}
}

func TestRoomKey(t *testing.T) {
	master := ristretto255.NewScalar()
	seed := make([]byte, 32)
	seed[0] = 7
	if err := master.Decode(seed); err != nil {
		t.Fatal(err)
	}
	other := ristretto255.NewScalar()
	seed[0] = 8
	if err := other.Decode(seed); err != nil {
		t.Fatal(err)
	}

	a1, a2 := RoomKey(master, "telco-bank"), RoomKey(master, "telco-bank")
	if a1.Equal(a2) != 1 {
		t.Error("RoomKey is not deterministic for the same room")
	}
	if b := RoomKey(master, "telco-retail"); a1.Equal(b) == 1 {
		t.Error("RoomKey gives the same key to different rooms")
	}
	if c := RoomKey(other, "telco-bank"); a1.Equal(c) == 1 {
		t.Error("RoomKey gives two masters the same key for one room")
	}
	if a1.Equal(master) == 1 {
		t.Error("RoomKey returned the master key")
	}
	seen := map[string]string{}
	for _, room := range []string{"", "a", "b", "ab", "a|b", "telco-bank", "telco-bank2", strings.Repeat("x", 300)} {
		k := hex.EncodeToString(RoomKey(master, room).Encode(nil))
		if prev, ok := seen[k]; ok {
			t.Errorf("RoomKey(%q) = RoomKey(%q)", room, prev)
		}
		seen[k] = room
	}

	// A fixed vector, so that a change of the derivation (which would
	// orphan every room's tokens) cannot go unnoticed. It was computed
	// independently with Python's hashlib and integer arithmetic mod l.
	const want = "a158fa8ebd221d916218d0e665b14b83952505ee3c8eb54d14d851aba262940e"
	if got := hex.EncodeToString(a1.Encode(nil)); got != want {
		t.Errorf("RoomKey(7, %q) = %s, want %s", "telco-bank", got, want)
	}
}
