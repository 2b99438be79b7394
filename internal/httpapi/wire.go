package httpapi

import (
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

// The request and response bodies of the API. Field names are part of the
// API contract: add fields freely, never rename them.

// ErrorBody is the one error shape of the API.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Hint    string `json:"hint"`
}

// ServerInfo is the room server's public identity: its signing key, whose
// fingerprint grant statements name, and the HPKE key uploads are sealed to.
type ServerInfo struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	ServerID   string `json:"server_id"`
	SigningKey []byte `json:"signing_key"`
	HPKEKey    []byte `json:"hpke_key"`
	HPKESuite  string `json:"hpke_suite"`
}

// Whoami describes the caller.
type Whoami struct {
	Kind           string                      `json:"kind"`
	Party          string                      `json:"party,omitempty"`
	User           string                      `json:"user,omitempty"`
	TokenID        string                      `json:"token_id"`
	TokenExpiresAt time.Time                   `json:"token_expires_at"`
	Rooms          map[string][]cleanroom.Role `json:"rooms"`
}

// CreatePartyRequest registers a party with its public signing key
// (standard base64 of the 32-byte Ed25519 key).
type CreatePartyRequest struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	SigningKey  string `json:"signing_key"`
}

// PartyBody is a party as the API shows it.
type PartyBody struct {
	cleanroom.Party
	Fingerprint string `json:"fingerprint"`
}

// PartyList is the response of GET /parties.
type PartyList struct {
	Parties []PartyBody `json:"parties"`
}

// GrantBody is a grant statement as the server sees it now: Status is
// "active", "revoked", "expired" or "inactive" (the party is no longer in
// the room, or the server refuses the statement for another reason).
type GrantBody struct {
	Party     string           `json:"party"`
	User      string           `json:"user"`
	Room      string           `json:"room"`
	Roles     []cleanroom.Role `json:"roles"`
	IssuedAt  time.Time        `json:"issued_at"`
	ExpiresAt time.Time        `json:"expires_at"`
	Status    string           `json:"status"`
}

// GrantList is the response of GET /parties/{party}/grants.
type GrantList struct {
	Grants []GrantBody `json:"grants"`
}

// CreateTokenRequest mints a token for a user of a party. TTL is a Go
// duration ("720h"); empty means the default of 30 days.
type CreateTokenRequest struct {
	Party       string `json:"party"`
	User        string `json:"user"`
	TTL         string `json:"ttl"`
	Description string `json:"description"`
	// Request is the party's signed cleanroom.TokenRequest for this user.
	// With it the token carries the user's grants and its secret comes
	// back sealed to the request's key; without it a token the admin
	// mints carries none (cleanroom.Token.AdminMinted).
	Request *statement.Envelope `json:"request,omitempty"`
}

// TokenCreated carries the token's secret: it is shown this once.
type TokenCreated struct {
	cleanroom.Token
	// Secret is empty when the token was made at a signed request: then
	// SealedSecret holds it, sealed to the request's key.
	Secret       string `json:"secret"`
	SealedSecret []byte `json:"sealed_secret,omitempty"`
}

// TokenList is the response of GET /tokens.
type TokenList struct {
	Tokens []cleanroom.Token `json:"tokens"`
}

// CreateRoomRequest creates a room naming its host and, optionally, the
// parties invited from the start.
type CreateRoomRequest struct {
	Name        string   `json:"name"`
	Host        string   `json:"host"`
	Description string   `json:"description"`
	Parties     []string `json:"parties"`
	// Matching is "ecdh" (the default) or "hmac"; it cannot change later.
	Matching string `json:"matching"`
}

// RoomList is the response of GET /rooms.
type RoomList struct {
	Rooms []cleanroom.Room `json:"rooms"`
}

// InviteRequest invites a party to a room.
type InviteRequest struct {
	Party string `json:"party"`
}

// AuditList is a page of audit entries; Next is the "after" value for the
// next page (0 when there is none).
type AuditList struct {
	Entries []cleanroom.AuditEntry `json:"entries"`
	Next    int64                  `json:"next"`
}
