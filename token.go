package cleanroom

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"
)

// Token is an API token's record. The secret is shown once, at creation,
// and stored only as its SHA-256 hash: tokens carry 256 bits of entropy, so
// a fast hash is enough.
type Token struct {
	ID          string        `json:"id"`
	Kind        PrincipalKind `json:"kind"`
	Party       string        `json:"party,omitempty"`
	User        string        `json:"user,omitempty"`
	Description string        `json:"description"`
	CreatedAt   time.Time     `json:"created_at"`
	ExpiresAt   time.Time     `json:"expires_at"`
	RevokedAt   *time.Time    `json:"revoked_at,omitempty"`
	// AdminMinted marks a user's token the platform admin minted without
	// a request the user's party signed. It authenticates the user but
	// carries none of the party's grants: the admin cannot act as a user
	// its party granted roles to.
	AdminMinted bool `json:"admin_minted,omitempty"`
}

// TokenRequestType is the type string of a TokenRequest statement.
const TokenRequestType = "cleanroom.token-request.v1"

// TokenRequestMaxAge bounds how far a TokenRequest's issue time may be
// from the server's clock.
const TokenRequestMaxAge = 10 * time.Minute

// TokenRequest is a party's signed request for a token of one of its
// users. The token's secret is sealed with HPKE to SealTo, an X25519 key
// the requester made for this request, so whoever relays the request (the
// platform admin, typically) never sees it. A token minted at such a
// request carries the user's grants; one the admin mints without it does
// not (Token.AdminMinted).
type TokenRequest struct {
	Type     string    `json:"type"`
	Server   string    `json:"server"`
	Party    string    `json:"party"`
	User     string    `json:"user"`
	SealTo   []byte    `json:"seal_to"`
	IssuedAt time.Time `json:"issued_at"`
}

// Validate checks the statement on its own.
func (r *TokenRequest) Validate() error {
	if r.Type != TokenRequestType {
		return Errorf(EInvalid, "statement type is %q, want %q", r.Type, TokenRequestType)
	}
	if len(r.SealTo) != 32 {
		return Errorf(EInvalid, "token request: seal_to is %d bytes, want a 32-byte X25519 key", len(r.SealTo))
	}
	if r.Server == "" || r.IssuedAt.IsZero() {
		return Errorf(EInvalid, "token request lacks its server or issue time")
	}
	if err := ValidateName("party name", r.Party); err != nil {
		return err
	}
	return ValidateName("user name", r.User)
}

// TokenSealInfo is the HPKE info a token's secret is sealed under for a
// TokenRequest.
func TokenSealInfo(server, party, user string) []byte {
	return []byte("cleanroom/token-secret/v1|" + server + "|" + party + "|" + user)
}

// tokenPrefix marks Cleanroom tokens so secret scanners can find them.
const tokenPrefix = "crt_"

// Token lifetimes.
const (
	DefaultTokenTTL = 30 * 24 * time.Hour
	MaxTokenTTL     = 366 * 24 * time.Hour
)

// NewTokenSecret returns a fresh token ID and secret from crypto/rand.
func NewTokenSecret() (id, secret string) {
	return rand.Text()[:16], tokenPrefix + base64.RawURLEncoding.EncodeToString(randomBytes(32))
}

// HashToken returns the stored form of a token secret.
func HashToken(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// LooksLikeToken reports whether s has the shape of a token secret, so
// obviously wrong values are refused without a database lookup.
func LooksLikeToken(s string) bool {
	return strings.HasPrefix(s, tokenPrefix) && len(s) == len(tokenPrefix)+43
}

// Owner returns the principal the token authenticates, without room roles.
func (t *Token) Owner() *Principal {
	return &Principal{Kind: t.Kind, Party: t.Party, User: t.User, TokenID: t.ID}
}

// ActiveAt reports whether the token can be used at now.
func (t *Token) ActiveAt(now time.Time) bool {
	return t.RevokedAt == nil && now.Before(t.ExpiresAt)
}

// ValidateTTL checks a requested token lifetime.
func ValidateTTL(ttl time.Duration) error {
	if ttl <= 0 || ttl > MaxTokenTTL {
		return Errorf(EInvalid, "token lifetime %s is out of range", ttl).
			WithHint("choose a lifetime between 1s and %s", MaxTokenTTL)
	}
	return nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand.Read never fails on supported platforms
	}
	return b
}
