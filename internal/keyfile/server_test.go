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
)

func TestCreateLoadServer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	k, err := CreateServer(dir)
	if err != nil {
		t.Fatalf("CreateServer: %v", err)
	}
	got, err := LoadServer(dir)
	if err != nil {
		t.Fatalf("LoadServer: %v", err)
	}
	if !got.Signing.Equal(k.Signing) {
		t.Error("LoadServer: signing key differs from the one created")
	}
	if !got.HPKE.Equal(k.HPKE) {
		t.Error("LoadServer: HPKE key differs from the one created")
	}
	if got.KEK != k.KEK {
		t.Error("LoadServer: KEK differs from the one created")
	}
	if !got.SigningPublic().Equal(k.Signing.Public()) {
		t.Error("SigningPublic() does not match the signing key")
	}
	if len(got.HPKEPublic()) != 32 {
		t.Errorf("HPKEPublic() is %d bytes, want 32", len(got.HPKEPublic()))
	}

	if runtime.GOOS != "windows" {
		for _, name := range []string{ServerSigningKeyFile, ServerHPKEKeyFile, KEKFile} {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if m := fi.Mode().Perm(); m != 0o600 {
				t.Errorf("mode of %s = %v, want 0600", name, m)
			}
		}
	}

	if _, err := CreateServer(dir); !errors.Is(err, ErrExist) {
		t.Errorf("second CreateServer: err = %v, want ErrExist", err)
	}
}

func TestLoadServerErrors(t *testing.T) {
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKCS8PrivateKey(edPriv)
	p256, _ := ecdh.P256().GenerateKey(rand.Reader)
	p256DER, _ := x509.MarshalPKCS8PrivateKey(p256)

	tests := []struct {
		name    string
		file    string
		content string
		remove  bool
		mode    fs.FileMode
		is      error
		want    string
	}{
		{name: "missing signing key", file: ServerSigningKeyFile, remove: true, is: fs.ErrNotExist},
		{name: "missing HPKE key", file: ServerHPKEKeyFile, remove: true, is: fs.ErrNotExist},
		{name: "missing KEK", file: KEKFile, remove: true, is: fs.ErrNotExist},
		{name: "signing key world-readable", file: ServerSigningKeyFile, mode: 0o604, is: ErrMode, want: "chmod 600"},
		{name: "HPKE key group-readable", file: ServerHPKEKeyFile, mode: 0o640, is: ErrMode, want: "chmod 600"},
		{name: "KEK world-readable", file: KEKFile, mode: 0o644, is: ErrMode, want: "mode 0644 allows others to read it"},
		{name: "HPKE key is Ed25519", file: ServerHPKEKeyFile, content: pemFile("PRIVATE KEY", edDER),
			want: "is not an X25519 private key"},
		{name: "HPKE key is P-256", file: ServerHPKEKeyFile, content: pemFile("PRIVATE KEY", p256DER),
			want: "is not an X25519 private key"},
		{name: "HPKE key corrupt", file: ServerHPKEKeyFile, content: "garbage", want: "no PEM block found"},
		{name: "KEK short", file: KEKFile, content: pemFile(kekPEMType, make([]byte, 16)),
			want: "key-encryption key is 16 bytes, want 32"},
		{name: "KEK zero", file: KEKFile, content: pemFile(kekPEMType, make([]byte, 32)), want: "all zeros"},
		{name: "KEK wrong type", file: KEKFile, content: pemFile("PRIVATE KEY", make([]byte, 32)),
			want: `want "CLEANROOM KEY ENCRYPTION KEY"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.mode != 0 && runtime.GOOS == "windows" {
				t.Skip("no Unix file modes on Windows")
			}
			dir := t.TempDir()
			if _, err := CreateServer(dir); err != nil {
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
			k, err := LoadServer(dir)
			if err == nil {
				t.Fatalf("LoadServer = %v, want an error", k)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "load server keys: "+path+": ") {
				t.Errorf("LoadServer error %q does not start with the operation and the file %s", msg, path)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("LoadServer error %q does not wrap %v", msg, tt.is)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("LoadServer error %q does not contain %q", msg, tt.want)
			}
		})
	}
}

func TestSealOpen(t *testing.T) {
	k, err := CreateServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	info := []byte("cleanroom-v1|room telco-bank|dataset bank.products|v3")
	msg := []byte("a chunk of blinded tokens")
	ct, err := SealTo(k.HPKEPublic(), info, msg)
	if err != nil {
		t.Fatalf("SealTo: %v", err)
	}
	if len(ct) != len(msg)+48 {
		t.Errorf("len(SealTo(...)) = %d, want %d", len(ct), len(msg)+48)
	}
	got, err := k.Open(info, ct)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Errorf("Open(SealTo(%q)) = %q", msg, got)
	}
	if ct2, _ := SealTo(k.HPKEPublic(), info, msg); bytes.Equal(ct, ct2) {
		t.Error("two seals of one message are equal; the encapsulated key must be fresh")
	}

	other, err := CreateServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		c := bytes.Clone(ct)
		c[i] ^= 1
		return c
	}
	fails := []struct {
		name string
		keys *ServerKeys
		info []byte
		ct   []byte
	}{
		{"wrong info", k, []byte("cleanroom-v1|room other"), ct},
		{"empty info", k, nil, ct},
		{"tampered encapsulated key", k, info, flip(0)},
		{"tampered ciphertext", k, info, flip(40)},
		{"tampered tag", k, info, flip(len(ct) - 1)},
		{"truncated", k, info, ct[:len(ct)-1]},
		{"shorter than the encapsulated key", k, info, ct[:10]},
		{"wrong recipient", other, info, ct},
	}
	for _, f := range fails {
		if pt, err := f.keys.Open(f.info, f.ct); err == nil {
			t.Errorf("Open with %s = %q, want an error", f.name, pt)
		} else if !strings.HasPrefix(err.Error(), "open sealed payload: ") {
			t.Errorf("Open with %s: error %q lacks the operation prefix", f.name, err)
		}
	}

	if _, err := SealTo(make([]byte, 31), info, msg); err == nil {
		t.Error("SealTo with a 31-byte public key succeeded")
	}
	if _, err := (ServerKeys{}).Open(info, ct); err == nil {
		t.Error("Open without an HPKE key succeeded")
	}
}

func TestServerKeysRedacted(t *testing.T) {
	k, err := CreateServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for _, b := range [][]byte{k.Signing.Seed(), k.HPKE.Bytes(), k.KEK[:]} {
		secrets = append(secrets, hex.EncodeToString(b), base64.StdEncoding.EncodeToString(b), fmt.Sprint(b[:8]))
	}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d"} {
		outs = append(outs, fmt.Sprintf(verb, k), fmt.Sprintf(verb, *k))
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("loaded", "keys", k)
	outs = append(outs, logs.String())
	for _, out := range outs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("output %q contains a secret", out)
			}
		}
	}
	if !strings.Contains(logs.String(), "hpke_key_fingerprint") {
		t.Errorf("log %q does not show the HPKE key fingerprint", logs.String())
	}
	if b, err := json.Marshal(k); err == nil {
		t.Errorf("json.Marshal(server keys) = %s, want an error", b)
	}
}
