package cleanroom

import (
	"slices"
	"time"
)

// Room is where parties answer agreed questions over their joined data. It
// names its host: the organisation that runs the room server and sees the
// pseudonymous join in memory. The host is therefore never a provider of
// the room (DESIGN.md, "Trust model").
type Room struct {
	Name        string `json:"name"`
	Host        string `json:"host"`
	Description string `json:"description"`
	// Matching is the room's matching mode, fixed at creation:
	// MatchingECDH (the default) or MatchingHMAC.
	Matching  string    `json:"matching"`
	CreatedAt time.Time `json:"created_at"`
	// Parties are the parties invited to the room, sorted by name.
	Parties []string `json:"parties"`
	// Members are the users holding a verified grant in the room. Filled in
	// for the admin and the room's members.
	Members []Member `json:"members,omitempty"`
}

// Member is a user's verified membership of a room.
type Member struct {
	Party     string    `json:"party"`
	User      string    `json:"user"`
	Roles     []Role    `json:"roles"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Matching modes. A room never mixes them.
const (
	// MatchingECDH blinds identifiers with each party's key and has each
	// peer's agent re-blind them: no one, not even the parties together,
	// holds a key that maps identifiers to tokens.
	MatchingECDH = "ecdh"
	// MatchingHMAC is faster and weaker: tokens are an HMAC under a secret
	// one provider's agent generates and seals to the others; the room
	// never holds it, and nothing is re-blinded. Any party can compute the
	// token of any identifier.
	MatchingHMAC = "hmac"
)

// Validate checks the room's invariants: valid names, at most 2000
// characters of description, no party listed twice, a known matching
// mode ("" means MatchingECDH).
func (r *Room) Validate() error {
	switch r.Matching {
	case "":
		r.Matching = MatchingECDH
	case MatchingECDH, MatchingHMAC:
	default:
		return Errorf(EInvalid, "matching mode %q of room %q is not known", r.Matching, r.Name).
			WithHint("use ecdh (the default) or hmac")
	}
	if err := ValidateName("room name", r.Name); err != nil {
		return err
	}
	if r.Host == "" {
		return Errorf(EInvalid, "room %q names no host", r.Name).
			WithHint("the host is the organisation that runs this server, for example a neutral processor; pass --host")
	}
	if err := ValidateName("host name", r.Host); err != nil {
		return err
	}
	if len(r.Description) > 2000 {
		return Errorf(EInvalid, "description of room %q is longer than 2000 characters", r.Name)
	}
	seen := map[string]bool{}
	for _, p := range r.Parties {
		if err := ValidateName("party name", p); err != nil {
			return err
		}
		if seen[p] {
			return Errorf(EInvalid, "party %q is listed twice in room %q", p, r.Name)
		}
		seen[p] = true
	}
	return nil
}

// HostedBy reports whether party is the room's host.
func (r *Room) HostedBy(party string) bool { return r.Host == party }

// HasParty reports whether party is invited to the room.
func (r *Room) HasParty(party string) bool { return slices.Contains(r.Parties, party) }

// RoomID is the identity of a room across servers: the server's ID and the
// room's name. Parties derive their per-room blinding key from it, so tokens
// never link across rooms, not even across two servers' rooms of the same
// name.
func RoomID(server, room string) string { return server + "/" + room }
