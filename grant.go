package cleanroom

import (
	"slices"
	"time"
)

// GrantType is the type string of a grant statement.
const GrantType = "cleanroom.grant.v1"

// GrantStatement is a party's signed decision about one of its users in one
// room: the roles the user holds there, until when. A statement with no
// roles revokes every earlier one. Statements are signed on the party's side
// (RFC 8785 canonical JSON, Ed25519) and verified by the room server each
// time they are used, so neither the platform admin nor the host can give a
// user roles the party did not grant.
type GrantStatement struct {
	Type string `json:"type"`
	// Server is the fingerprint of the room server's signing key, so a
	// statement made for one server is useless on another.
	Server    string    `json:"server"`
	Party     string    `json:"party"`
	User      string    `json:"user"`
	Room      string    `json:"room"`
	Roles     []Role    `json:"roles"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Validate checks the statement on its own: type, names, roles, times.
func (g *GrantStatement) Validate() error {
	if g.Type != GrantType {
		return Errorf(EInvalid, "statement type is %q, want %q", g.Type, GrantType)
	}
	if g.Server == "" {
		return Errorf(EInvalid, "grant names no server").WithHint("sign grants with `cleanroom user grant`, which fetches it")
	}
	for _, v := range []struct{ kind, s string }{{"party name", g.Party}, {"user name", g.User}, {"room name", g.Room}} {
		if err := ValidateName(v.kind, v.s); err != nil {
			return err
		}
	}
	for i, r := range g.Roles {
		if err := r.Validate(); err != nil {
			return err
		}
		if slices.Contains(g.Roles[:i], r) {
			return Errorf(EInvalid, "role %q is granted twice", string(r))
		}
	}
	if g.IssuedAt.IsZero() {
		return Errorf(EInvalid, "grant has no issued_at time")
	}
	if len(g.Roles) > 0 && !g.ExpiresAt.After(g.IssuedAt) {
		return Errorf(EInvalid, "grant expires at %s, not after it was issued (%s)",
			g.ExpiresAt.Format(time.RFC3339), g.IssuedAt.Format(time.RFC3339))
	}
	return nil
}

// Revokes reports whether the statement revokes the user's roles.
func (g *GrantStatement) Revokes() bool { return len(g.Roles) == 0 }

// maxClockSkew is how far in the future a statement's issue time may lie.
const maxClockSkew = 5 * time.Minute

// CheckGrant decides whether the room server accepts a new, already
// signature-verified statement. server is the fingerprint of this server's
// key, room the room the statement names (nil if there is none), prev the
// statement currently in force for the same party, user and room (nil if
// none). Statements must be newer than the one they replace, so an old
// grant cannot be replayed after a revocation.
func CheckGrant(g *GrantStatement, server string, room *Room, prev *GrantStatement, now time.Time) error {
	if err := g.Validate(); err != nil {
		return err
	}
	if g.Server != server {
		return Errorf(EInvalid, "grant was signed for another room server (%s, this one is %s)", g.Server, server).
			WithHint("sign the grant again against this server with `cleanroom user grant`")
	}
	if room == nil || !room.HasParty(g.Party) {
		return Errorf(ENotFound, "party %q is not invited to room %q", g.Party, g.Room).
			WithHint("the platform admin invites parties with `cleanroom room invite`")
	}
	if room.HostedBy(g.Party) && slices.Contains(g.Roles, RoleProvider) {
		return Errorf(EInvalid, "party %q hosts room %q and cannot be one of its providers", g.Party, g.Room).
			WithHint("the host sees the pseudonymous join in memory; a provider's data must go to a room hosted by someone else")
	}
	if g.IssuedAt.After(now.Add(maxClockSkew)) {
		return Errorf(EInvalid, "grant is issued at %s, in the future", g.IssuedAt.Format(time.RFC3339)).
			WithHint("check the clock of the machine that signed it")
	}
	if prev != nil && !g.IssuedAt.After(prev.IssuedAt) {
		return Errorf(EConflict, "a newer grant for user %q of party %q in room %q is already in force", g.User, g.Party, g.Room).
			WithHint("sign a new statement; an older one cannot replace a newer one")
	}
	if !g.Revokes() && !g.ExpiresAt.After(now) {
		return Errorf(EInvalid, "grant expired at %s", g.ExpiresAt.Format(time.RFC3339))
	}
	return nil
}

// ActiveIn reports whether a verified statement gives roles in room at
// time now: it grants at least one role, has not expired, its party is still
// invited, and a host party holds no provider role.
func (g *GrantStatement) ActiveIn(room *Room, now time.Time) bool {
	if g.Revokes() || !g.ExpiresAt.After(now) || room == nil || room.Name != g.Room || !room.HasParty(g.Party) {
		return false
	}
	return !(room.HostedBy(g.Party) && slices.Contains(g.Roles, RoleProvider))
}
