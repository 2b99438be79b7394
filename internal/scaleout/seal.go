package scaleout

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"sync"
)

// jobKeys are a job's secrets: they exist only in the memory of the
// process that runs the job and its workers, and are wiped when it ends.
// Nothing sealed under them outlives the job.
type jobKeys struct {
	id   string
	seal [32]byte // the AES-256-GCM subkeys of shuffle values derive from it
	mac  [32]byte // HMAC-SHA256 key of shuffle keys
}

func newJobKeys(id string) *jobKeys {
	k := &jobKeys{id: id}
	rand.Read(k.seal[:])
	rand.Read(k.mac[:])
	return k
}

func (k *jobKeys) wipe() {
	clear(k.seal[:])
	clear(k.mac[:])
}

// shuffleKey is the key an element is shuffled under: an HMAC of what it
// groups by (a person, a group), so that the shuffle sees which elements
// go together but not who or which group they are.
func (k *jobKeys) shuffleKey(kind string, data []byte) []byte {
	m := hmac.New(sha256.New, k.mac[:])
	m.Write([]byte("cleanroom scale-out key v1|" + kind + "|"))
	m.Write(data)
	return m.Sum(nil)[:16]
}

// A sealed value is salt ‖ counter ‖ AES-256-GCM ciphertext. Each sealer
// (one per worker instance) draws a random 16-byte salt and derives its
// own subkey with HKDF-SHA256, so nonces are a counter that never repeats
// under a key, whatever the number of workers and elements. The additional
// data binds the value to its job, its shuffle and its shuffle key: a
// value moved to another key or job does not open.
const (
	saltSize  = 16
	nonceSize = 12
)

var errSealed = errors.New("a shuffled value does not open under the job's key")

type sealer struct {
	keys *jobKeys
	salt [saltSize]byte
	aead cipher.AEAD
	n    uint64
}

func (k *jobKeys) subkey(salt []byte) (cipher.AEAD, error) {
	sub, err := hkdf.Key(sha256.New, k.seal[:], salt, "cleanroom scale-out seal v1", 32)
	if err != nil {
		return nil, err
	}
	defer clear(sub)
	b, err := aes.NewCipher(sub)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func (k *jobKeys) newSealer() (*sealer, error) {
	s := &sealer{keys: k}
	rand.Read(s.salt[:])
	a, err := k.subkey(s.salt[:])
	if err != nil {
		return nil, err
	}
	s.aead = a
	return s, nil
}

func aad(jobID, kind string, key []byte) []byte {
	return append([]byte("cleanroom scale-out value v1|"+jobID+"|"+kind+"|"), key...)
}

// seal seals plain for shuffle kind under shuffle key key.
func (s *sealer) seal(kind string, key, plain []byte) []byte {
	s.n++
	out := make([]byte, saltSize+nonceSize, saltSize+nonceSize+len(plain)+s.aead.Overhead())
	copy(out, s.salt[:])
	binary.BigEndian.PutUint64(out[saltSize+4:], s.n)
	nonce := out[saltSize : saltSize+nonceSize]
	return s.aead.Seal(out, nonce, plain, aad(s.keys.id, kind, key))
}

// opener opens sealed values, caching the subkey of each salt.
type opener struct {
	keys *jobKeys
	mu   sync.Mutex
	subs map[[saltSize]byte]cipher.AEAD
}

func (o *opener) open(kind string, key, sealed []byte) ([]byte, error) {
	if len(sealed) < saltSize+nonceSize {
		return nil, errSealed
	}
	var salt [saltSize]byte
	copy(salt[:], sealed)
	o.mu.Lock()
	a := o.subs[salt]
	if a == nil {
		var err error
		if a, err = o.keys.subkey(salt[:]); err != nil {
			o.mu.Unlock()
			return nil, err
		}
		if o.subs == nil {
			o.subs = map[[saltSize]byte]cipher.AEAD{}
		}
		o.subs[salt] = a
	}
	o.mu.Unlock()
	plain, err := a.Open(nil, sealed[saltSize:saltSize+nonceSize], sealed[saltSize+nonceSize:], aad(o.keys.id, kind, key))
	if err != nil {
		return nil, errSealed
	}
	return plain, nil
}
