// Package statement signs and verifies the statements parties make to the
// room server (grants today; DUAs and template approvals later).
//
// A statement is a JSON object. It is signed over its RFC 8785 (JSON
// Canonicalization Scheme) encoding, prefixed with a context string, with
// Ed25519 (RFC 8032). The envelope carries the statement as sent, so
// verification re-canonicalises it and never depends on whitespace or key
// order.
package statement

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/gowebpki/jcs"
)

// context separates these signatures from any other use of a party's key.
const context = "cleanroom statement v1\x00"

// Envelope is a signed statement as it travels.
type Envelope struct {
	Statement json.RawMessage `json:"statement"`
	// Signature is the Ed25519 signature over context || JCS(Statement);
	// standard base64 in JSON.
	Signature []byte `json:"signature"`
}

// ErrBadSignature is returned by Verify when the signature does not verify.
var ErrBadSignature = errors.New("statement signature does not verify")

// Sign encodes v as JSON and signs its canonical form with priv.
func Sign(priv ed25519.PrivateKey, v any) (Envelope, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return Envelope{}, fmt.Errorf("sign statement: %w", err)
	}
	canon, err := jcs.Transform(raw)
	if err != nil {
		return Envelope{}, fmt.Errorf("sign statement: canonicalize: %w", err)
	}
	sig := ed25519.Sign(priv, append([]byte(context), canon...))
	return Envelope{Statement: canon, Signature: sig}, nil
}

// Verify checks env's signature with pub and, if it verifies, decodes the
// statement into v, rejecting unknown fields.
func Verify(pub ed25519.PublicKey, env Envelope, v any) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("verify statement: public key is %d bytes", len(pub))
	}
	if len(env.Statement) == 0 {
		return errors.New("verify statement: statement is empty")
	}
	canon, err := jcs.Transform(env.Statement)
	if err != nil {
		return fmt.Errorf("verify statement: not canonicalizable JSON: %w", err)
	}
	if !ed25519.Verify(pub, append([]byte(context), canon...), env.Signature) {
		return ErrBadSignature
	}
	if err := checkKeys(canon); err != nil {
		return fmt.Errorf("verify statement: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(canon))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("verify statement: decode: %w", err)
	}
	return nil
}

// Canonical returns the RFC 8785 canonical JSON encoding of v and the hex
// SHA-256 digest of it: what a party signs when it signs a document (a
// data-use agreement) that others sign too.
func Canonical(v any) (canon []byte, digest string, err error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, "", fmt.Errorf("canonicalize: %w", err)
	}
	if canon, err = jcs.Transform(raw); err != nil {
		return nil, "", fmt.Errorf("canonicalize: %w", err)
	}
	sum := sha256.Sum256(canon)
	return canon, hex.EncodeToString(sum[:]), nil
}

// checkKeys refuses a statement in which one object has two keys that are
// equal without regard to case ("party" and "Party"). encoding/json matches
// field names that way, so the later key would silently override the
// earlier: the value read would differ from the text that was signed and
// that a person, or another implementation, reads.
func checkKeys(canon []byte) error {
	// A frame is an open object (keys non-nil) or array; key says whether
	// an object's next token is a key.
	type frame struct {
		keys map[string]bool
		key  bool
	}
	var stack []*frame
	done := func() { // a value ended
		if n := len(stack); n > 0 && stack[n-1].keys != nil {
			stack[n-1].key = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(canon))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if n := len(stack); n > 0 && stack[n-1].keys != nil && stack[n-1].key {
			if k, ok := tok.(string); ok {
				fk := foldKey(k)
				if stack[n-1].keys[fk] {
					return fmt.Errorf("key %q repeats another key of its object in another case", k)
				}
				stack[n-1].keys[fk] = true
				stack[n-1].key = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{keys: map[string]bool{}, key: true})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			done()
		default:
			done()
		}
	}
}

// foldKey maps s to a key that is the same for exactly the strings that
// strings.EqualFold holds equal to s: each rune becomes the least rune of
// its Unicode simple case folding orbit.
func foldKey(s string) string {
	var b strings.Builder
	for _, r := range s {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}
