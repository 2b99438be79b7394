package keyfile

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/atomicfile"
)

// Names of the key files in a room server's data directory.
const (
	ServerSigningKeyFile = "server-signing.key"
	ServerHPKEKeyFile    = "server-hpke.key"
	KEKFile              = "kek.key"
)

// The HPKE suite (RFC 9180) of payloads sealed to a room: DHKEM(X25519,
// HKDF-SHA256), HKDF-SHA256, AES-256-GCM.
var (
	hpkeKEM  = hpke.DHKEM(ecdh.X25519())
	hpkeKDF  = hpke.HKDFSHA256()
	hpkeAEAD = hpke.AES256GCM()
)

// ServerKeys are a room server's long-term secrets, kept in its data
// directory.
//
// ServerKeys print, log and marshal to JSON without their secrets. They are
// read-only after loading, so a ServerKeys is safe for concurrent use.
type ServerKeys struct {
	// Signing signs what the server vouches for: audit checkpoints and
	// receipts (RFC 8032 Ed25519).
	Signing ed25519.PrivateKey
	// HPKE is the X25519 key that opens payloads parties seal to the room
	// with SealTo.
	HPKE *ecdh.PrivateKey
	// KEK is the key-encryption key that wraps per-dataset keys when no
	// KMS is configured.
	KEK [32]byte
}

// CreateServer generates a room server's keys and writes them into dir
// (created with mode 0700 if missing), each file with mode 0600. If any of
// the files exists it writes nothing and returns an error wrapping ErrExist.
func CreateServer(dir string) (*ServerKeys, error) {
	_, signing, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("create server keys: %w", err)
	}
	hk, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("create server keys: %w", err)
	}
	k := &ServerKeys{Signing: signing, HPKE: hk}
	rand.Read(k.KEK[:])

	signDER, err := x509.MarshalPKCS8PrivateKey(signing)
	if err != nil {
		return nil, fmt.Errorf("create server keys: %w", err)
	}
	hpkeDER, err := x509.MarshalPKCS8PrivateKey(hk)
	if err != nil {
		return nil, fmt.Errorf("create server keys: %w", err)
	}
	err = createFiles(dir, []keyFile{
		{ServerSigningKeyFile, encodePEM("PRIVATE KEY", signDER), 0o600},
		{ServerHPKEKeyFile, encodePEM("PRIVATE KEY", hpkeDER), 0o600},
		{KEKFile, encodePEM(kekPEMType, k.KEK[:]), 0o600},
	})
	clear(signDER)
	clear(hpkeDER)
	if err != nil {
		return nil, fmt.Errorf("create server keys: %w", err)
	}
	return k, nil
}

// LoadServer reads the keys CreateServer wrote into dir. It refuses a key
// file whose mode gives group or others access (ErrMode). A missing file
// gives an error for which errors.Is(err, fs.ErrNotExist) holds. Every error
// names the file.
func LoadServer(dir string) (*ServerKeys, error) {
	k, err := loadServer(dir)
	if err != nil {
		return nil, fmt.Errorf("load server keys: %w", err)
	}
	return k, nil
}

func loadServer(dir string) (*ServerKeys, error) {
	signing, err := loadSigningKey(filepath.Join(dir, ServerSigningKeyFile))
	if err != nil {
		return nil, err
	}

	hpkePath := filepath.Join(dir, ServerHPKEKeyFile)
	der, err := readPEM(hpkePath, "PRIVATE KEY", true)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("%s: not a PKCS#8 private key: %w", hpkePath, err)
	}
	hk, ok := key.(*ecdh.PrivateKey)
	if !ok || hk.Curve() != ecdh.X25519() {
		return nil, fmt.Errorf("%s: %T is not an X25519 private key", hpkePath, key)
	}

	kekPath := filepath.Join(dir, KEKFile)
	b, err := readPEM(kekPath, kekPEMType, true)
	if err != nil {
		return nil, err
	}
	k := &ServerKeys{Signing: signing, HPKE: hk}
	if len(b) != len(k.KEK) {
		return nil, fmt.Errorf("%s: key-encryption key is %d bytes, want %d", kekPath, len(b), len(k.KEK))
	}
	copy(k.KEK[:], b)
	clear(b)
	if subtle.ConstantTimeCompare(k.KEK[:], make([]byte, len(k.KEK))) == 1 {
		return nil, fmt.Errorf("%s: key-encryption key is all zeros", kekPath)
	}
	return k, nil
}

// SigningPublic returns the public half of the server's signing key.
func (k ServerKeys) SigningPublic() ed25519.PublicKey {
	return k.Signing.Public().(ed25519.PublicKey)
}

// HPKEPublic returns the room's HPKE public key, the 32-byte X25519 public
// key that parties pass to SealTo.
func (k ServerKeys) HPKEPublic() []byte {
	return k.HPKE.PublicKey().Bytes()
}

// Open decrypts a ciphertext made by SealTo with the server's HPKE public
// key and the same info. It fails if the ciphertext was altered, sealed to
// another key, or sealed with another info.
func (k ServerKeys) Open(info, ciphertext []byte) ([]byte, error) {
	return OpenWith(k.HPKE, info, ciphertext)
}

// OpenWith decrypts a ciphertext made by SealTo for the public key of priv,
// with the same info.
func OpenWith(priv *ecdh.PrivateKey, info, ciphertext []byte) ([]byte, error) {
	if priv == nil {
		return nil, errors.New("open sealed payload: no HPKE key")
	}
	sk, err := hpke.NewDHKEMPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("open sealed payload: %w", err)
	}
	pt, err := hpke.Open(sk, hpkeKDF, hpkeAEAD, info, ciphertext)
	if err != nil {
		return nil, fmt.Errorf("open sealed payload: %w", err)
	}
	return pt, nil
}

// SealTo encrypts plaintext to the holder of the X25519 private key whose
// public key is pub (a room's ServerKeys.HPKEPublic), with HPKE single-shot
// base mode. info binds the ciphertext to its context (room, dataset,
// purpose): Open must be given the same info. The result is the
// encapsulated key followed by the AEAD ciphertext, 48 bytes longer than
// plaintext.
func SealTo(pub, info, plaintext []byte) ([]byte, error) {
	pk, err := hpkeKEM.NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("seal payload: invalid X25519 public key: %w", err)
	}
	ct, err := hpke.Seal(pk, hpkeKDF, hpkeAEAD, info, plaintext)
	if err != nil {
		return nil, fmt.Errorf("seal payload: %w", err)
	}
	return ct, nil
}

// String describes the keys by their public keys' fingerprints only.
func (k ServerKeys) String() string {
	sig, hp := k.fingerprints()
	return "server keys " + sig + " (HPKE " + hp + ")"
}

// Format makes every fmt verb, %#v and %x included, print String, so a
// secret cannot reach output through fmt.
func (k ServerKeys) Format(f fmt.State, verb rune) { fmt.Fprint(f, k.String()) }

// LogValue redacts the keys in log/slog output to their public keys'
// fingerprints.
func (k ServerKeys) LogValue() slog.Value {
	sig, hp := k.fingerprints()
	return slog.GroupValue(
		slog.String("signing_key_fingerprint", sig),
		slog.String("hpke_key_fingerprint", hp),
	)
}

// MarshalJSON refuses to encode the keys, so that they cannot leave the
// process by accident through encoding/json.
func (k ServerKeys) MarshalJSON() ([]byte, error) {
	return nil, errors.New("keyfile: server keys are secret and are not marshalled")
}

// fingerprints returns the fingerprints of the public signing and HPKE
// keys, or "none" for a key that is missing.
func (k ServerKeys) fingerprints() (sig, hp string) {
	sig, hp = "none", "none"
	if len(k.Signing) == ed25519.PrivateKeySize {
		sig = cleanroom.KeyFingerprint(k.SigningPublic())
	}
	if k.HPKE != nil {
		hp = cleanroom.KeyFingerprint(k.HPKEPublic())
	}
	return sig, hp
}

// SealToExporting seals like SealTo and also returns a secret of n bytes
// exported from the HPKE context (RFC 9180, section 5.3) under
// exportContext: only the sender, now, and the holder of the private key,
// by OpenWithExporting, can compute it.
func SealToExporting(pub, info, plaintext, exportContext []byte, n int) (ct, secret []byte, err error) {
	pk, err := hpkeKEM.NewPublicKey(pub)
	if err != nil {
		return nil, nil, fmt.Errorf("seal payload: invalid X25519 public key: %w", err)
	}
	enc, s, err := hpke.NewSender(pk, hpkeKDF, hpkeAEAD, info)
	if err != nil {
		return nil, nil, fmt.Errorf("seal payload: %w", err)
	}
	sealed, err := s.Seal(nil, plaintext)
	if err != nil {
		return nil, nil, fmt.Errorf("seal payload: %w", err)
	}
	if secret, err = s.Export(string(exportContext), n); err != nil {
		return nil, nil, fmt.Errorf("seal payload: %w", err)
	}
	return append(enc, sealed...), secret, nil
}

// OpenWithExporting opens what SealToExporting sealed (or SealTo: the
// format is the same) and returns the exported secret with the plaintext.
func OpenWithExporting(priv *ecdh.PrivateKey, info, ciphertext, exportContext []byte, n int) (plaintext, secret []byte, err error) {
	if priv == nil {
		return nil, nil, errors.New("open sealed payload: no HPKE key")
	}
	sk, err := hpke.NewDHKEMPrivateKey(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("open sealed payload: %w", err)
	}
	const encSize = 32 // X25519
	if len(ciphertext) < encSize {
		return nil, nil, errors.New("open sealed payload: too short")
	}
	r, err := hpke.NewRecipient(ciphertext[:encSize], sk, hpkeKDF, hpkeAEAD, info)
	if err != nil {
		return nil, nil, fmt.Errorf("open sealed payload: %w", err)
	}
	if plaintext, err = r.Open(nil, ciphertext[encSize:]); err != nil {
		return nil, nil, fmt.Errorf("open sealed payload: %w", err)
	}
	if secret, err = r.Export(string(exportContext), n); err != nil {
		return nil, nil, fmt.Errorf("open sealed payload: %w", err)
	}
	return plaintext, secret, nil
}

// NextKEKFile holds, while a rotation of the key-encryption key runs, the
// key it moves to. Its presence means a rotation has not finished.
const NextKEKFile = "kek.key.next"

// BeginKEKRotation returns the key-encryption key a rotation of dir's key
// moves to: the one an interrupted rotation left in NextKEKFile, or a new
// random key written there (mode 0600) before it is returned, so a
// rotation that stops at any point can be finished with the same key.
func BeginKEKRotation(dir string) ([32]byte, error) {
	var next [32]byte
	p := filepath.Join(dir, NextKEKFile)
	b, err := readPEM(p, kekPEMType, true)
	switch {
	case err == nil:
		defer clear(b)
		if len(b) != len(next) || subtle.ConstantTimeCompare(b, make([]byte, len(b))) == 1 {
			return next, fmt.Errorf("%s: not a 32-byte key-encryption key", p)
		}
		copy(next[:], b)
		return next, nil
	case !errors.Is(err, fs.ErrNotExist):
		return next, err
	}
	rand.Read(next[:])
	if err := writeFileAtomic(p, encodePEM(kekPEMType, next[:]), 0o600); err != nil {
		return [32]byte{}, err
	}
	return next, nil
}

// FinishKEKRotation makes the key in NextKEKFile dir's key-encryption key:
// it replaces KEKFile in one rename, so the old key is gone from dir (not
// from backups of it). Call it only once every key the old one wrapped is
// wrapped by the new one.
func FinishKEKRotation(dir string) error {
	if err := os.Rename(filepath.Join(dir, NextKEKFile), filepath.Join(dir, KEKFile)); err != nil {
		return fmt.Errorf("finish key rotation: %w", err)
	}
	atomicfile.SyncDir(dir)
	return nil
}

// KEKRotationPending reports whether dir holds a rotation of its
// key-encryption key that has not finished.
func KEKRotationPending(dir string) bool {
	_, err := os.Lstat(filepath.Join(dir, NextKEKFile))
	return err == nil
}
