package keyfile

import (
	"bytes"
	"crypto/ecdh"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
)

var partyFileNames = []string{PartySigningKeyFile, PartySigningPubFile, PartyBlindingKeyFile}

// FuzzLoadParty writes fuzzed contents into a party's three key files and
// loads them. LoadParty never panics; keys it accepts are usable (the
// public file matches the signing key, the blinding key is a non-zero
// scalar) and, written out again as CreateParty writes them, load to the
// same keys.
func FuzzLoadParty(f *testing.F) {
	created := filepath.Join(f.TempDir(), "keys")
	if _, err := CreateParty(created); err != nil {
		f.Fatal(err)
	}
	var files [][]byte
	for _, name := range partyFileNames {
		b, err := os.ReadFile(filepath.Join(created, name))
		if err != nil {
			f.Fatal(err)
		}
		files = append(files, b)
	}
	f.Add(files[0], files[1], files[2])
	f.Add(files[0], files[1], append(bytes.Clone(files[2]), "\n\n"...))
	f.Add(files[0], files[0], files[2])
	f.Add(files[0], files[1], encodePEM(blindingPEMType, make([]byte, 32)))
	f.Add(files[0], files[1], encodePEM(blindingPEMType, bytes.Repeat([]byte{0xff}, 32)))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END PRIVATE KEY-----\n"), files[1], files[2])
	// One pair of directories serves every input: they run one at a time.
	dir, again := filepath.Join(f.TempDir(), "in"), filepath.Join(f.TempDir(), "again")
	for _, d := range []string{dir, again} {
		if err := os.Mkdir(d, 0o700); err != nil {
			f.Fatal(err)
		}
	}
	var last [3][]byte
	f.Fuzz(func(t *testing.T, signing, pub, blinding []byte) {
		for i, b := range [][]byte{signing, pub, blinding} {
			if last[i] != nil && bytes.Equal(last[i], b) {
				continue // the file already holds it
			}
			if err := os.WriteFile(filepath.Join(dir, partyFileNames[i]), b, 0o600); err != nil {
				t.Fatal(err)
			}
			last[i] = bytes.Clone(b)
		}
		k, err := LoadParty(dir)
		if err != nil {
			return
		}
		if !k.Public().Equal(k.Signing.Public()) || k.Blinding == nil {
			t.Fatalf("loaded keys are not usable: %v", k)
		}
		for i, b := range partyFiles(k) {
			if err := os.WriteFile(filepath.Join(again, partyFileNames[i]), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		k2, err := LoadParty(again)
		if err != nil {
			t.Fatalf("keys written out again do not load: %v", err)
		}
		if !k2.Signing.Equal(k.Signing) || k2.Blinding.Equal(k.Blinding) != 1 {
			t.Fatal("keys written out again load to other keys")
		}
	})
}

// partyFiles are the contents of k's files, encoded as CreateParty
// encodes them.
func partyFiles(k *PartyKeys) [][]byte {
	privDER, err := x509.MarshalPKCS8PrivateKey(k.Signing)
	if err != nil {
		panic(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		panic(err)
	}
	return [][]byte{encodePEM("PRIVATE KEY", privDER), encodePEM("PUBLIC KEY", pubDER), encodePEM(blindingPEMType, k.Blinding.Encode(nil))}
}

// FuzzOpen opens sealed payloads as the room opens upload chunks and an
// agent opens results. Open never panics and never opens a ciphertext not
// sealed to its key with its info; what SealTo seals opens to the same
// plaintext, and fails to open after any bit of it changes or under
// another info.
func FuzzOpen(f *testing.F) {
	priv, err := ecdh.X25519().GenerateKey(bytes.NewReader(bytes.Repeat([]byte{5}, 64)))
	if err != nil {
		f.Fatal(err)
	}
	sealed, err := SealTo(priv.PublicKey().Bytes(), []byte("info"), []byte("payload"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("info"), []byte("payload"), sealed, uint16(0))
	f.Add([]byte(""), []byte(""), make([]byte, 48), uint16(400))
	f.Add([]byte("cleanroom release v1|s|r|q|bank"), bytes.Repeat([]byte{0}, 1000), sealed[:32], uint16(7))
	f.Fuzz(func(t *testing.T, info, plaintext, ciphertext []byte, at uint16) {
		if pt, err := OpenWith(priv, info, ciphertext); err == nil && !bytes.Equal(ciphertext, sealed) {
			t.Fatalf("opened a ciphertext it was never given, to %q", pt)
		}
		ct, err := SealTo(priv.PublicKey().Bytes(), info, plaintext)
		if err != nil {
			t.Fatal(err)
		}
		if len(ct) != len(plaintext)+48 {
			t.Fatalf("sealed %d bytes into %d, want 48 more", len(plaintext), len(ct))
		}
		pt, err := OpenWith(priv, info, ct)
		if err != nil || !bytes.Equal(pt, plaintext) {
			t.Fatalf("OpenWith(SealTo(%q)) = %q, %v", plaintext, pt, err)
		}
		bad := bytes.Clone(ct)
		bad[int(at)%len(bad)] ^= 1 << (at % 8)
		if _, err := OpenWith(priv, info, bad); err == nil {
			t.Fatalf("opened a ciphertext with bit %d of byte %d flipped", at%8, int(at)%len(bad))
		}
		if _, err := OpenWith(priv, append(bytes.Clone(info), 0), ct); err == nil {
			t.Fatal("opened a ciphertext under another info")
		}
	})
}
