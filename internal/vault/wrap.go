package vault

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
)

// ErrCorrupt is returned, wrapped in an error saying where, when
// ciphertext fails authentication or is malformed: a version file or kek
// file that was truncated, reordered or modified, or that was written for
// another dataset or version. LocalWrapper.Unwrap returns it when a wrapped
// key fails authentication under the right master key.
var ErrCorrupt = errors.New("ciphertext is corrupt or not for this dataset and version")

// ErrWrongKey is returned, wrapped, by LocalWrapper.Unwrap, and so by
// NewVersion and OpenVersion, when a key was wrapped under a different
// master key than the wrapper's: the server was started with another
// kek.key than the one the datasets were created with.
var ErrWrongKey = errors.New("key was wrapped under a different master key")

// KeyWrapper encrypts and decrypts the dataset key-encryption keys of a
// Store under a master key. Implementations must be safe for concurrent use.
//
// Wrap returns an opaque blob that Unwrap, given the same aad, turns back
// into plaintextKey; Unwrap must fail when the blob or the aad differ. The
// Store passes as aad the ASCII string "cleanroom/vault/v1/dataset-kek/"
// followed by the dataset id, so a wrapped key only unwraps as the dataset
// it was made for. Wrapped keys are stored in files of at most 4 KiB.
//
// The default is LocalWrapper, whose master key is the server's kek.key. A
// KMS plugs in by implementing both methods with its encrypt and decrypt
// calls under a key that never leaves the KMS: AWS KMS Encrypt/Decrypt with
// the aad as EncryptionContext (for example {"cleanroom": string(aad)}),
// Google Cloud KMS with it as additionalAuthenticatedData, HashiCorp Vault's
// transit engine with it as context. The KMS then refuses to unwrap one
// dataset's key as another's, its audit log records every unwrap by
// dataset, and revoking the server's access to the KMS key locks every
// dataset at once. Unwrap is called on every NewVersion and OpenVersion; an
// implementation may cache unwrapped keys in memory, but must honour ctx
// for the network calls and must never log keys.
type KeyWrapper interface {
	Wrap(ctx context.Context, plaintextKey []byte, aad []byte) ([]byte, error)
	Unwrap(ctx context.Context, wrapped, aad []byte) ([]byte, error)
}

// Domain-separation labels for LocalWrapper's keys, derived from the
// master key with HKDF-SHA256 (RFC 5869) so the master key itself is never
// used directly by two algorithms.
const (
	localWrapKeyInfo = "cleanroom/vault/v1/local-wrap-key"
	localKeyIDInfo   = "cleanroom/vault/v1/local-key-id"
	localFormat      = 0x01
	localKeyIDSize   = 8
)

// LocalWrapper is the KeyWrapper of a server without a KMS: it wraps keys
// with AES-256-GCM under a key derived from a 32-byte master key held in
// memory. It is safe for concurrent use.
type LocalWrapper struct {
	aead cipher.AEAD
	id   [localKeyIDSize]byte
}

// NewLocalWrapper returns a LocalWrapper for master, normally the KEK of
// keyfile.LoadServer (which refuses an all-zero key).
//
// A wrapped key is 0x01 ‖ key id (8 bytes) ‖ nonce (12 bytes, random) ‖
// AES-256-GCM ciphertext and tag, where the AES key is
// HKDF-SHA256(master, info "cleanroom/vault/v1/local-wrap-key") and the key
// id is the first 8 bytes of HKDF-SHA256(master, info
// "cleanroom/vault/v1/local-key-id"). The id lets Unwrap tell a wrong
// master key (ErrWrongKey) from a damaged blob (ErrCorrupt); it reveals
// nothing about the key.
func NewLocalWrapper(master [32]byte) *LocalWrapper {
	wk, err := hkdf.Key(sha256.New, master[:], nil, localWrapKeyInfo, 32)
	if err != nil {
		panic("vault: derive wrapping key: " + err.Error()) // only for lengths over 255·32
	}
	id, err := hkdf.Key(sha256.New, master[:], nil, localKeyIDInfo, localKeyIDSize)
	if err != nil {
		panic("vault: derive key id: " + err.Error())
	}
	w := &LocalWrapper{aead: newRandomNonceGCM(wk)}
	copy(w.id[:], id)
	clear(wk)
	return w
}

// Wrap encrypts plaintextKey bound to aad. ctx is unused: nothing blocks.
func (w *LocalWrapper) Wrap(_ context.Context, plaintextKey, aad []byte) ([]byte, error) {
	out := make([]byte, 0, 1+localKeyIDSize+len(plaintextKey)+w.aead.Overhead())
	out = append(out, localFormat)
	out = append(out, w.id[:]...)
	return w.aead.Seal(out, nil, plaintextKey, aad), nil
}

// Unwrap decrypts a key made by Wrap with the same aad. It returns an error
// wrapping ErrWrongKey if the key was wrapped under another master key,
// and ErrCorrupt if wrapped was modified or aad differs.
func (w *LocalWrapper) Unwrap(_ context.Context, wrapped, aad []byte) ([]byte, error) {
	if len(wrapped) < 1+localKeyIDSize+w.aead.Overhead() {
		return nil, fmt.Errorf("unwrap key: %d bytes is too short: %w", len(wrapped), ErrCorrupt)
	}
	if wrapped[0] != localFormat {
		return nil, fmt.Errorf("unwrap key: unknown format 0x%02x: %w", wrapped[0], ErrCorrupt)
	}
	if subtle.ConstantTimeCompare(wrapped[1:1+localKeyIDSize], w.id[:]) != 1 {
		return nil, fmt.Errorf("unwrap key: wrapped under master key %x, this is %x: %w",
			wrapped[1:1+localKeyIDSize], w.id[:], ErrWrongKey)
	}
	key, err := w.aead.Open(nil, nil, wrapped[1+localKeyIDSize:], aad)
	if err != nil {
		return nil, fmt.Errorf("unwrap key: authentication failed: %w", ErrCorrupt)
	}
	return key, nil
}

// String identifies the wrapper by its key id only.
func (w *LocalWrapper) String() string {
	return "vault.LocalWrapper(key id " + hex.EncodeToString(w.id[:]) + ")"
}

// Format makes every fmt verb print String, so no key material reaches
// output through fmt.
func (w *LocalWrapper) Format(f fmt.State, _ rune) { fmt.Fprint(f, w.String()) }

// LogValue redacts the wrapper in log/slog output to its key id.
func (w *LocalWrapper) LogValue() slog.Value {
	return slog.GroupValue(slog.String("key_id", hex.EncodeToString(w.id[:])))
}

// newRandomNonceGCM returns AES-256-GCM under key with a random nonce
// prepended to each ciphertext. Used for wrapping keys, where each key is
// wrapped only a handful of times, far below GCM's 2³² random-nonce limit.
func newRandomNonceGCM(key []byte) cipher.AEAD {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic("vault: " + err.Error()) // key is always 32 bytes
	}
	a, err := cipher.NewGCMWithRandomNonce(b)
	if err != nil {
		panic("vault: " + err.Error())
	}
	return a
}

// newGCM returns AES-256-GCM under key with caller-chosen nonces.
func newGCM(key []byte) cipher.AEAD {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic("vault: " + err.Error()) // key is always 32 bytes
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		panic("vault: " + err.Error())
	}
	return a
}
