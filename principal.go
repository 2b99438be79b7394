package cleanroom

import (
	"log/slog"
	"slices"
)

// PrincipalKind says who is calling.
type PrincipalKind int

// The kinds of caller.
const (
	Anonymous PrincipalKind = iota // no valid token
	Admin                          // the platform admin
	User                           // a user of a party
)

// String returns "anonymous", "admin" or "user".
func (k PrincipalKind) String() string {
	switch k {
	case Admin:
		return "admin"
	case User:
		return "user"
	}
	return "anonymous"
}

// MarshalText implements encoding.TextMarshaler.
func (k PrincipalKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *PrincipalKind) UnmarshalText(b []byte) error {
	switch string(b) {
	case "admin":
		*k = Admin
	case "user":
		*k = User
	case "anonymous":
		*k = Anonymous
	default:
		return Errorf(EInvalid, "unknown principal kind %q", b)
	}
	return nil
}

// Principal is an authenticated caller. For a user, Rooms holds only roles
// from grants whose signatures verified on this request.
type Principal struct {
	Kind    PrincipalKind
	Party   string
	User    string
	TokenID string
	// Rooms maps a room name to the user's verified roles in it.
	Rooms map[string][]Role
	// Joining maps a room name to the user's verified roles in a room its
	// party is invited to but not admitted to (see Admitted): such a user
	// reads and signs the room's agreements, and nothing else of the room.
	Joining map[string][]Role
}

// Vouched reports whether the user's party vouches for it: it holds a
// verified grant in at least one room. A token minted for a user the party
// never granted anything opens nothing but whoami.
func (p *Principal) Vouched() bool { return p.Kind == User && len(p.Rooms) > 0 }

// RolesIn returns the user's verified roles in room.
func (p *Principal) RolesIn(room string) []Role { return p.Rooms[room] }

// Joins reports whether the user's party is invited to room and granted
// it roles there, but is not admitted to the room yet.
func (p *Principal) Joins(room string) bool { return p.Kind == User && len(p.Joining[room]) > 0 }

// HasRole reports whether the user holds role in room.
func (p *Principal) HasRole(room string, role Role) bool {
	return slices.Contains(p.Rooms[room], role)
}

// String names the caller in audit entries and logs: "admin",
// "party/user" or "anonymous".
func (p *Principal) String() string {
	switch p.Kind {
	case Admin:
		return "admin"
	case User:
		return p.Party + "/" + p.User
	}
	return "anonymous"
}

// LogValue implements slog.LogValuer; a principal logs as its name and
// token ID, never the token.
func (p *Principal) LogValue() slog.Value {
	return slog.GroupValue(slog.String("actor", p.String()), slog.String("token_id", p.TokenID))
}
