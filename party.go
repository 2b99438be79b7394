package cleanroom

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"time"
)

// Party is an organisation that brings data into rooms: an operator, a bank,
// an advertiser. It is registered by the platform admin with the public half
// of its Ed25519 signing key; the private half and the party's blinding key
// never leave the party's premises.
type Party struct {
	Name        string            `json:"name"`
	DisplayName string            `json:"display_name"`
	SigningKey  ed25519.PublicKey `json:"signing_key"`
	CreatedAt   time.Time         `json:"created_at"`
	// Rooms lists the rooms the party has been invited to. It is filled in
	// only for the admin and the party's own users.
	Rooms []string `json:"rooms,omitempty"`
}

// Validate checks the party's invariants: a valid name and a 32-byte
// Ed25519 public key.
func (p *Party) Validate() error {
	if err := ValidateName("party name", p.Name); err != nil {
		return err
	}
	if len(p.DisplayName) > 200 {
		return Errorf(EInvalid, "display name of party %q is longer than 200 characters", p.Name)
	}
	if len(p.SigningKey) != ed25519.PublicKeySize {
		return Errorf(EInvalid, "signing key of party %q is %d bytes, want an Ed25519 public key of %d bytes",
			p.Name, len(p.SigningKey), ed25519.PublicKeySize).
			WithHint("run `cleanroom keys init` on the party's side and pass the printed public key")
	}
	return nil
}

// KeyFingerprint returns a short, stable fingerprint of a public key, used to
// name keys in statements and listings: the first 16 bytes of its SHA-256,
// hex-encoded.
func KeyFingerprint(pub []byte) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:16])
}

// EncodeKey and DecodeKey are the one text encoding of public keys used in
// the API, the CLI and statements: standard base64.
func EncodeKey(pub []byte) string { return base64.StdEncoding.EncodeToString(pub) }

// DecodeKey decodes a key written by EncodeKey.
func DecodeKey(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, Errorf(EInvalid, "key is not valid base64: %v", err)
	}
	return b, nil
}
