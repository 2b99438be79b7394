package cleanroom

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Statements of hmac matching (see MatchingHMAC). The room stores and
// relays them; it can forge none, since each is signed with a party's key.

// AgentKeyType is the type string of an AgentKey statement.
const AgentKeyType = "cleanroom.agentkey.v1"

// AgentKey is a party's statement of its agent's HPKE public key (X25519)
// in one room, to which the hmac secret is sealed. Signed with the party's
// key, so the host cannot substitute a key of its own and read the secret.
type AgentKey struct {
	Type     string    `json:"type"`
	Server   string    `json:"server"`
	Room     string    `json:"room"`
	Party    string    `json:"party"`
	HPKEKey  []byte    `json:"hpke_key"`
	IssuedAt time.Time `json:"issued_at"`
}

// Validate checks the statement on its own.
func (k *AgentKey) Validate() error {
	if k.Type != AgentKeyType {
		return Errorf(EInvalid, "statement type is %q, want %q", k.Type, AgentKeyType)
	}
	if len(k.HPKEKey) != 32 {
		return Errorf(EInvalid, "agent key of party %q is %d bytes, want a 32-byte X25519 key", k.Party, len(k.HPKEKey))
	}
	if k.Server == "" || k.IssuedAt.IsZero() {
		return Errorf(EInvalid, "agent key statement lacks its server or issue time")
	}
	if err := ValidateName("party name", k.Party); err != nil {
		return err
	}
	return ValidateName("room name", k.Room)
}

// SecretCommitmentType is the type string of a SecretCommitment.
const SecretCommitmentType = "cleanroom.hmacsecret.v1"

// SecretCommitment is the statement of the provider whose agent generated
// a room's hmac secret: a commitment to it (hex SHA-256 of a context
// string and the secret). An agent accepts a sealed secret only if it
// opens to the committed value, so a host that seals a secret of its own
// choosing to an agent is caught.
type SecretCommitment struct {
	Type       string    `json:"type"`
	Server     string    `json:"server"`
	Room       string    `json:"room"`
	Creator    string    `json:"creator"`
	Commitment string    `json:"commitment"`
	IssuedAt   time.Time `json:"issued_at"`
}

// Validate checks the statement on its own.
func (s *SecretCommitment) Validate() error {
	if s.Type != SecretCommitmentType {
		return Errorf(EInvalid, "statement type is %q, want %q", s.Type, SecretCommitmentType)
	}
	if len(s.Commitment) != 64 || s.Server == "" || s.IssuedAt.IsZero() {
		return Errorf(EInvalid, "secret commitment lacks its server, issue time or a SHA-256 commitment")
	}
	if err := ValidateName("party name", s.Creator); err != nil {
		return err
	}
	return ValidateName("room name", s.Room)
}

// ReleaseInfo is the HPKE info of a query result sealed to a receiving
// party's agent key: it binds the ciphertext to its server, room, query
// and party.
func ReleaseInfo(server, room, query, party string) []byte {
	return []byte("cleanroom release v1|" + server + "|" + room + "|" + query + "|" + party)
}

// ResultDigestContext is the HPKE exporter context of a result's digest
// key: the room exports it when it seals a result to a party and forgets
// it; the party exports the same key when it opens the result.
const ResultDigestContext = "cleanroom result digest v1"

// ResultDigest is what a query's audit entry shows of a result for one
// party: the hex HMAC-SHA256 of the sealed plaintext under the digest key
// only that party (and, for a moment, the room) holds. The party checks
// that the result it opened is the one the log recorded; other members
// learn nothing from it, not even by guessing results.
func ResultDigest(key, plaintext []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(plaintext)
	return hex.EncodeToString(m.Sum(nil))
}
