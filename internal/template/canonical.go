package template

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/gowebpki/jcs"
)

// Canonical returns the RFC 8785 (JSON Canonicalization Scheme) encoding of
// t's JSON form: keys sorted, no white space, numbers in their shortest
// ECMAScript form. Two templates with the same content have the same
// encoding, however their YAML was laid out. It fails only for a template
// with a NaN or infinite number, which Validate rejects.
func Canonical(t *cleanroom.Template) ([]byte, error) {
	raw, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("canonical template: %w", err)
	}
	canon, err := jcs.Transform(raw)
	if err != nil {
		return nil, fmt.Errorf("canonical template: %w", err)
	}
	return canon, nil
}

// Digest returns the lower-case hex SHA-256 of t's canonical encoding: the
// value each reader's approval signs. It returns "" for a template
// Canonical cannot encode, which no valid template is.
func Digest(t *cleanroom.Template) string {
	canon, err := Canonical(t)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:])
}
