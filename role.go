package cleanroom

import (
	"slices"
	"strings"
)

// Role is what a party's user may do in one room. Roles are granted by the
// party in a statement signed with its key (see GrantStatement); the room
// server only verifies them.
type Role string

// The roles a party can grant its users in a room.
const (
	RoleProvider Role = "provider" // brings datasets into the room
	RoleAnalyst  Role = "analyst"  // runs approved templates
	RoleReceiver Role = "receiver" // receives released results
	RoleReviewer Role = "reviewer" // approves results before release
	RolePayer    Role = "payer"    // is charged for runs
)

// Roles lists every role in a stable order.
var Roles = []Role{RoleProvider, RoleAnalyst, RoleReceiver, RoleReviewer, RolePayer}

// Validate reports whether r is one of Roles.
func (r Role) Validate() error {
	if !slices.Contains(Roles, r) {
		return Errorf(EInvalid, "unknown role %q", string(r)).
			WithHint("roles are %s", roleList(Roles))
	}
	return nil
}

// ParseRoles parses a comma-separated list of roles, rejecting unknown and
// repeated ones. The result is sorted in the order of Roles.
func ParseRoles(s string) ([]Role, error) {
	var out []Role
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		r := Role(f)
		if err := r.Validate(); err != nil {
			return nil, err
		}
		if slices.Contains(out, r) {
			return nil, Errorf(EInvalid, "role %q is listed twice", f)
		}
		out = append(out, r)
	}
	sortRoles(out)
	return out, nil
}

func sortRoles(rs []Role) {
	slices.SortFunc(rs, func(a, b Role) int {
		return slices.Index(Roles, a) - slices.Index(Roles, b)
	})
}

func roleList(rs []Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}
