package cleanroom

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"bank", true}, {"b", true}, {"bank-2", true}, {strings.Repeat("a", 63), true},
		{"", false}, {"Bank", false}, {"2bank", false}, {"bank_2", false}, {"bank ltd", false},
		{strings.Repeat("a", 64), false}, {"../etc", false}, {"bank\n", false}, {"банк", false},
	} {
		err := ValidateName("party name", tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}

func TestParseRoles(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{"analyst", "analyst", ""},
		{"receiver, analyst", "analyst,receiver", ""},
		{"payer,provider,reviewer", "provider,reviewer,payer", ""},
		{"", "", ""},
		{"admin", "", `unknown role "admin"`},
		{"analyst,analyst", "", "listed twice"},
	} {
		rs, err := ParseRoles(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseRoles(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || roleListCSV(rs) != tc.want {
			t.Errorf("ParseRoles(%q) = %v, %v, want %q", tc.in, rs, err, tc.want)
		}
	}
}

func roleListCSV(rs []Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}

func TestCheckGrant(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	room := &Room{Name: "r1", Host: "neutral", Parties: []string{"bank", "neutral", "operator"}}
	base := func() *GrantStatement {
		return &GrantStatement{Type: GrantType, Server: "srv", Party: "bank", User: "ann", Room: "r1",
			Roles: []Role{RoleAnalyst}, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	}
	cases := []struct {
		name   string
		edit   func(g *GrantStatement)
		room   *Room
		prev   *GrantStatement
		code   string
		substr string
	}{
		{"valid", func(*GrantStatement) {}, room, nil, "", ""},
		{"revocation", func(g *GrantStatement) { g.Roles = nil; g.ExpiresAt = time.Time{} }, room, nil, "", ""},
		{"other server", func(g *GrantStatement) { g.Server = "x" }, room, nil, EInvalid, "another room server"},
		{"wrong type", func(g *GrantStatement) { g.Type = "x" }, room, nil, EInvalid, "statement type"},
		{"not invited", func(g *GrantStatement) { g.Party = "other" }, room, nil, ENotFound, "not invited"},
		{"no room", func(*GrantStatement) {}, nil, nil, ENotFound, "not invited"},
		{"host as provider", func(g *GrantStatement) { g.Party = "neutral"; g.Roles = []Role{RoleProvider} }, room, nil, EInvalid, "cannot be one of its providers"},
		{"host as reviewer", func(g *GrantStatement) { g.Party = "neutral"; g.Roles = []Role{RoleReviewer} }, room, nil, "", ""},
		{"duplicate role", func(g *GrantStatement) { g.Roles = []Role{RoleAnalyst, RoleAnalyst} }, room, nil, EInvalid, "granted twice"},
		{"future", func(g *GrantStatement) { g.IssuedAt = now.Add(time.Hour); g.ExpiresAt = now.Add(2 * time.Hour) }, room, nil, EInvalid, "in the future"},
		{"expired", func(g *GrantStatement) { g.IssuedAt = now.Add(-2 * time.Hour); g.ExpiresAt = now.Add(-time.Hour) }, room, nil, EInvalid, "expired"},
		{"expires before issued", func(g *GrantStatement) { g.ExpiresAt = now.Add(-time.Hour) }, room, nil, EInvalid, "not after it was issued"},
		{"older than current", func(*GrantStatement) {}, room, &GrantStatement{IssuedAt: now}, EConflict, "newer grant"},
		{"newer than current", func(*GrantStatement) {}, room, &GrantStatement{IssuedAt: now.Add(-time.Second)}, "", ""},
	}
	for _, tc := range cases {
		g := base()
		tc.edit(g)
		err := CheckGrant(g, "srv", tc.room, tc.prev, now)
		if ErrorCode(err) != tc.code || (err != nil && !strings.Contains(err.Error(), tc.substr)) {
			t.Errorf("%s: CheckGrant = %v, want code %q containing %q", tc.name, err, tc.code, tc.substr)
		}
	}
	// A provider grant to the host never counts, even if it got stored.
	g := base()
	g.Party, g.Roles = "neutral", []Role{RoleProvider}
	if g.ActiveIn(room, now) {
		t.Error("ActiveIn: a provider grant to the room's host is active")
	}
	if !base().ActiveIn(room, now) || base().ActiveIn(room, now.Add(2*time.Hour)) {
		t.Error("ActiveIn ignores expiry")
	}
}

func TestErrorMessageHidesInternalErrors(t *testing.T) {
	msg, hint := ErrorMessage(errInternal("open /var/lib/cleanroom/keys: permission denied"))
	if strings.Contains(msg+hint, "/var/lib") {
		t.Errorf("ErrorMessage leaks an internal error: %q %q", msg, hint)
	}
	if ErrorCode(errInternal("x")) != EInternal {
		t.Error("ErrorCode of a plain error is not internal")
	}
}

type errInternal string

func (e errInternal) Error() string { return string(e) }

// TestDomainHasNoAdapters keeps the domain package free of storage, HTTP
// and command-line dependencies.
func TestDomainHasNoAdapters(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/cleanroom-dev/cleanroom/") || strings.Contains(dep, "cobra") || strings.Contains(dep, "sqlite") ||
			strings.Contains(dep, "duckdb") || dep == "net/http" || dep == "database/sql" {
			t.Errorf("the domain package depends on %s", dep)
		}
	}
}
