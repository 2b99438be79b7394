package keyfile

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/gtank/ristretto255"

	"github.com/cleanroom-dev/cleanroom"
)

// Names of the files in a party's key directory.
const (
	PartySigningKeyFile  = "signing.key"
	PartySigningPubFile  = "signing.pub"
	PartyBlindingKeyFile = "blinding.key"
)

// PEM block types of the files written by this package that have no
// standard type.
const (
	blindingPEMType = "CLEANROOM BLINDING KEY"
	kekPEMType      = "CLEANROOM KEY ENCRYPTION KEY"
)

// PartyKeys are a party's secrets: they are created and kept on the party's
// premises and never sent anywhere. Only the public half of Signing is
// shared, to register the party.
//
// PartyKeys print, log and marshal to JSON without their secrets. The keys
// are read-only after loading, so a PartyKeys is safe for concurrent use.
type PartyKeys struct {
	// Signing signs the party's statements (RFC 8032 Ed25519).
	Signing ed25519.PrivateKey
	// Blinding is the blinding master key, a non-zero ristretto255 scalar
	// (RFC 9496). It is never used directly: RoomKey derives each room's
	// key from it.
	Blinding *ristretto255.Scalar
}

// CreateParty generates a party's keys and writes them into dir (created
// with mode 0700 if missing): signing.key and blinding.key with mode 0600,
// signing.pub with mode 0644. If any of the files exists it writes nothing
// and returns an error wrapping ErrExist.
func CreateParty(dir string) (*PartyKeys, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("create party keys: %w", err)
	}
	var wide [64]byte
	rand.Read(wide[:])
	k := &PartyKeys{Signing: priv, Blinding: ristretto255.NewScalar().FromUniformBytes(wide[:])}
	clear(wide[:])

	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("create party keys: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("create party keys: %w", err)
	}
	err = createFiles(dir, []keyFile{
		{PartySigningKeyFile, encodePEM("PRIVATE KEY", privDER), 0o600},
		{PartyBlindingKeyFile, encodePEM(blindingPEMType, k.Blinding.Encode(nil)), 0o600},
		{PartySigningPubFile, encodePEM("PUBLIC KEY", pubDER), 0o644},
	})
	clear(privDER)
	if err != nil {
		return nil, fmt.Errorf("create party keys: %w", err)
	}
	return k, nil
}

// LoadParty reads the keys CreateParty wrote into dir. It refuses a private
// key file whose mode gives group or others access (ErrMode), and a
// signing.pub that does not match signing.key. A missing file gives an
// error for which errors.Is(err, fs.ErrNotExist) holds. Every error names
// the file.
func LoadParty(dir string) (*PartyKeys, error) {
	k, err := loadParty(dir)
	if err != nil {
		return nil, fmt.Errorf("load party keys: %w", err)
	}
	return k, nil
}

func loadParty(dir string) (*PartyKeys, error) {
	signing, err := loadSigningKey(filepath.Join(dir, PartySigningKeyFile))
	if err != nil {
		return nil, err
	}
	pubPath := filepath.Join(dir, PartySigningPubFile)
	der, err := readPEM(pubPath, "PUBLIC KEY", false)
	if err != nil {
		return nil, err
	}
	pk, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%s: not a PKIX public key: %w", pubPath, err)
	}
	pub, ok := pk.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s: %T is not an Ed25519 public key", pubPath, pk)
	}
	if !pub.Equal(signing.Public()) {
		return nil, fmt.Errorf("%s: does not match %s", pubPath, PartySigningKeyFile)
	}

	blindPath := filepath.Join(dir, PartyBlindingKeyFile)
	b, err := readPEM(blindPath, blindingPEMType, true)
	if err != nil {
		return nil, err
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("%s: blinding key is %d bytes, want 32", blindPath, len(b))
	}
	blinding := ristretto255.NewScalar()
	if err := blinding.Decode(b); err != nil {
		return nil, fmt.Errorf("%s: blinding key is not a canonical ristretto255 scalar", blindPath)
	}
	clear(b)
	if blinding.Equal(ristretto255.NewScalar()) == 1 {
		return nil, fmt.Errorf("%s: blinding key is zero", blindPath)
	}
	return &PartyKeys{Signing: signing, Blinding: blinding}, nil
}

// loadSigningKey reads an Ed25519 private key from a PKCS#8 PEM file.
func loadSigningKey(path string) (ed25519.PrivateKey, error) {
	der, err := readPEM(path, "PRIVATE KEY", true)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("%s: not a PKCS#8 private key: %w", path, err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: %T is not an Ed25519 private key", path, key)
	}
	return priv, nil
}

// Public returns the public half of the party's signing key, the key the
// party registers with (`cleanroom party create --signing-key`).
func (k PartyKeys) Public() ed25519.PublicKey {
	return k.Signing.Public().(ed25519.PublicKey)
}

// Fingerprint returns the fingerprint of the public signing key, as
// cleanroom.KeyFingerprint computes it.
func (k PartyKeys) Fingerprint() string {
	if len(k.Signing) != ed25519.PrivateKeySize {
		return "none"
	}
	return cleanroom.KeyFingerprint(k.Public())
}

// String describes the keys by the public key's fingerprint only.
func (k PartyKeys) String() string {
	return "party keys " + k.Fingerprint()
}

// Format makes every fmt verb, %#v and %x included, print String, so a
// secret cannot reach output through fmt.
func (k PartyKeys) Format(f fmt.State, verb rune) { fmt.Fprint(f, k.String()) }

// LogValue redacts the keys in log/slog output to the public key's
// fingerprint.
func (k PartyKeys) LogValue() slog.Value {
	return slog.GroupValue(slog.String("signing_key_fingerprint", k.Fingerprint()))
}

// MarshalJSON refuses to encode the keys, so that they cannot leave the
// process by accident through encoding/json.
func (k PartyKeys) MarshalJSON() ([]byte, error) {
	return nil, errors.New("keyfile: party keys are secret and are not marshalled")
}

// roomKeyDST separates the room-key derivation from every other use of
// SHA-512 in Cleanroom.
const roomKeyDST = "cleanroom-v1|room-key|"

// RoomKey derives the party's blinding key for one room from its blinding
// master key, k_room = HashToScalar(master, room_id), as
//
//	k_room = FromUniformBytes(SHA-512("cleanroom-v1|room-key|" ||
//	                                  uint64be(len(roomID)) || roomID ||
//	                                  master.Encode()))
//
// where FromUniformBytes reduces the 64-byte digest modulo the group order
// (RFC 9496, section 4.4). The length prefix keeps the encoding injective.
// Keys of different rooms are independent, so a party's tokens cannot be
// linked across rooms. RoomKey is deterministic and safe for concurrent use.
func RoomKey(master *ristretto255.Scalar, roomID string) *ristretto255.Scalar {
	h := sha512.New()
	h.Write([]byte(roomKeyDST))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(roomID)))
	h.Write(n[:])
	h.Write([]byte(roomID))
	m := master.Encode(make([]byte, 0, 32))
	h.Write(m)
	clear(m)
	sum := h.Sum(make([]byte, 0, sha512.Size))
	k := ristretto255.NewScalar().FromUniformBytes(sum)
	clear(sum)
	return k
}
