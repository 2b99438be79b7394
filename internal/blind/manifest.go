package blind

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

// ManifestType is the type string of a token manifest.
const ManifestType = "cleanroom.manifest.v1"

// Manifest is a party's signed description of one token set it blinded: the
// room server and room it is for, the dataset version and identifier class
// it comes from, how many tokens it holds and their digest. It travels with
// the set as a statement envelope (internal/statement), and a peer's agent
// re-blinds the set only if the manifest verifies and matches (Guard).
type Manifest struct {
	Type string `json:"type"` // ManifestType
	// Server is the fingerprint of the room server's signing key, as in a
	// grant, so a set made for one server is refused on another.
	Server  string                    `json:"server"`
	Room    string                    `json:"room"`
	Party   string                    `json:"party"`   // the party that blinded and signed the set
	Dataset string                    `json:"dataset"` // the dataset the set comes from
	Version int                       `json:"version"` // the dataset version, from 1
	Class   cleanroom.IdentifierClass `json:"class"`
	Count   int                       `json:"count"`  // number of tokens
	Digest  string                    `json:"digest"` // DigestTokens of the set
	// CreatedAt is when the party signed the manifest; two manifests of the
	// same set differ by it.
	CreatedAt time.Time `json:"created_at"`
	// Request, when set, makes this the manifest of one online request
	// rather than of a dataset version: "score:<model>" for an applicant's
	// identifier sent for scoring. A request's manifest names no dataset or
	// version, describes exactly one token, and is accepted by a Guard only
	// while fresh (Guard.ReBlindRequest).
	Request string `json:"request,omitempty"`
}

// NewRequestManifest describes the one token of an online request. now is
// the creation time, stored in UTC; the manifest is validated.
func NewRequestManifest(server, room, party, request string, class cleanroom.IdentifierClass, token Token, now time.Time) (Manifest, error) {
	tokens := []Token{token}
	m := Manifest{Type: ManifestType, Server: server, Room: room, Party: party, Class: class, Count: 1,
		Digest: DigestTokens(tokens), CreatedAt: now.UTC(), Request: request}
	if err := m.Validate(); err != nil {
		return Manifest{}, fmt.Errorf("new request manifest: %w", err)
	}
	return m, nil
}

// NewManifest describes tokens, which it does not modify. now is the
// creation time; it is stored in UTC. The manifest is validated.
func NewManifest(server, room, party, dataset string, version int, class cleanroom.IdentifierClass, tokens []Token, now time.Time) (Manifest, error) {
	m := Manifest{
		Type:      ManifestType,
		Server:    server,
		Room:      room,
		Party:     party,
		Dataset:   dataset,
		Version:   version,
		Class:     class,
		Count:     len(tokens),
		Digest:    DigestTokens(tokens),
		CreatedAt: now.UTC(),
	}
	if err := m.Validate(); err != nil {
		return Manifest{}, fmt.Errorf("new manifest: %w", err)
	}
	return m, nil
}

// Validate checks the manifest on its own: type, names, version, class,
// count, digest form and creation time.
func (m *Manifest) Validate() error {
	if m.Type != ManifestType {
		return cleanroom.Errorf(cleanroom.EInvalid, "statement type is %q, want %q", m.Type, ManifestType)
	}
	if m.Server == "" {
		return cleanroom.Errorf(cleanroom.EInvalid, "manifest names no server")
	}
	if err := cleanroom.ValidateName("room name", m.Room); err != nil {
		return err
	}
	if err := cleanroom.ValidateName("party name", m.Party); err != nil {
		return err
	}
	if m.Request != "" {
		if len(m.Request) > 200 {
			return cleanroom.Errorf(cleanroom.EInvalid, "manifest request is %d bytes, more than 200", len(m.Request))
		}
		if m.Dataset != "" || m.Version != 0 || m.Count != 1 {
			return cleanroom.Errorf(cleanroom.EInvalid, "a request's manifest names no dataset or version and describes one token")
		}
	} else if m.Dataset == "" {
		return cleanroom.Errorf(cleanroom.EInvalid, "manifest names no dataset")
	}
	if m.Request == "" && m.Version < 1 {
		return cleanroom.Errorf(cleanroom.EInvalid, "manifest dataset version is %d, want at least 1", m.Version)
	}
	if err := m.Class.Validate(); err != nil {
		return err
	}
	if m.Count < 0 {
		return cleanroom.Errorf(cleanroom.EInvalid, "manifest token count is %d", m.Count)
	}
	if b, err := hex.DecodeString(m.Digest); err != nil || len(b) != sha256.Size || hex.EncodeToString(b) != m.Digest {
		return cleanroom.Errorf(cleanroom.EInvalid, "manifest digest is not 64 lower-case hex digits")
	}
	if m.CreatedAt.IsZero() {
		return cleanroom.Errorf(cleanroom.EInvalid, "manifest has no created_at time")
	}
	return nil
}

// SignManifest validates m and signs it with the party's signing key.
func SignManifest(priv ed25519.PrivateKey, m Manifest) (statement.Envelope, error) {
	if err := m.Validate(); err != nil {
		return statement.Envelope{}, fmt.Errorf("sign manifest: %w", err)
	}
	env, err := statement.Sign(priv, m)
	if err != nil {
		return statement.Envelope{}, fmt.Errorf("sign manifest: %w", err)
	}
	return env, nil
}

// VerifyManifest checks env's signature with the signing party's public
// key, decodes the manifest (refusing unknown fields) and validates it. A
// bad signature gives an error wrapping statement.ErrBadSignature.
func VerifyManifest(pub ed25519.PublicKey, env statement.Envelope) (Manifest, error) {
	var m Manifest
	if err := statement.Verify(pub, env, &m); err != nil {
		return Manifest{}, fmt.Errorf("verify manifest: %w", err)
	}
	if err := m.Validate(); err != nil {
		return Manifest{}, fmt.Errorf("verify manifest: %w", err)
	}
	return m, nil
}

// SortTokens sorts tokens bytewise in place, the order DigestTokens hashes
// them in.
func SortTokens(tokens []Token) {
	slices.SortFunc(tokens, compareTokens)
}

func compareTokens(a, b Token) int { return bytes.Compare(a[:], b[:]) }

// DigestTokens returns the hex SHA-256 of the concatenation of the tokens
// sorted bytewise, so the digest does not depend on the set's order. It
// does not modify tokens.
func DigestTokens(tokens []Token) string {
	if !slices.IsSortedFunc(tokens, compareTokens) {
		tokens = slices.Clone(tokens)
		SortTokens(tokens)
	}
	h := sha256.New()
	for i := range tokens {
		h.Write(tokens[i][:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ErrSetMismatch is wrapped by CheckSet's errors: the set is not the one
// the manifest describes.
var ErrSetMismatch = errors.New("token set does not match its manifest")

// CheckSet reports whether tokens are exactly the set m describes: the
// count first, then the digest. tokens are not modified.
func CheckSet(m Manifest, tokens []Token) error {
	if len(tokens) != m.Count {
		return fmt.Errorf("%w: the manifest names %d tokens, the set has %d", ErrSetMismatch, m.Count, len(tokens))
	}
	if DigestTokens(tokens) != m.Digest {
		return fmt.Errorf("%w: the set's digest differs from the manifest's", ErrSetMismatch)
	}
	return nil
}
