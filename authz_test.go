package cleanroom

import (
	"strings"
	"testing"
)

func TestAuthorize(t *testing.T) {
	admin := &Principal{Kind: Admin, TokenID: "a"}
	analyst := &Principal{Kind: User, Party: "bank", User: "ann", Rooms: map[string][]Role{"r1": {RoleAnalyst}}}
	outsider := &Principal{Kind: User, Party: "other", User: "olga", Rooms: map[string][]Role{"r2": {RoleAnalyst}}}
	unvouched := &Principal{Kind: User, Party: "bank", User: "nora"}
	anon := &Principal{}
	r1 := Target{Room: "r1", RoomExists: true}
	missing := Target{Room: "zz"}
	bank := Target{Party: "bank", PartyExists: true}

	cases := []struct {
		name string
		p    *Principal
		a    Action
		t    Target
		code string // "" for allowed
		msg  string
	}{
		{"anonymous", anon, ActionWhoami, Target{}, EUnauthenticated, "token is required"},
		{"nil principal", nil, ActionRoomList, Target{}, EUnauthenticated, ""},
		{"admin creates room", admin, ActionRoomCreate, Target{}, "", ""},
		{"user creates room", analyst, ActionRoomCreate, Target{}, EForbidden, "only the platform admin may create rooms"},
		{"member sees room", analyst, ActionRoomShow, r1, "", ""},
		{"outsider does not see room", outsider, ActionRoomShow, r1, ENotFound, `room "r1" not found`},
		{"unvouched does not see room", unvouched, ActionRoomShow, r1, ENotFound, ""},
		{"missing room is 404 even for admin", admin, ActionRoomShow, missing, ENotFound, ""},
		{"member may not invite", analyst, ActionRoomInvite, r1, EForbidden, "invite parties"},
		{"outsider invite is 404", outsider, ActionRoomInvite, r1, ENotFound, ""},
		{"admin does not read room audit", admin, ActionRoomAudit, r1, EForbidden, "does not read a room's audit log"},
		{"member reads room audit", analyst, ActionRoomAudit, r1, "", ""},
		{"unvouched lists rooms", unvouched, ActionRoomList, Target{}, EForbidden, "has granted bank/nora no role"},
		{"unvouched whoami", unvouched, ActionWhoami, Target{}, "", ""},
		{"unvouched relays grant", unvouched, ActionGrantSubmit, bank, "", ""},
		{"outsider relays bank grant", outsider, ActionGrantSubmit, bank, ENotFound, `party "bank" not found`},
		{"outsider shows bank", outsider, ActionPartyShow, bank, ENotFound, ""},
		{"member shows own party", analyst, ActionPartyShow, bank, "", ""},
		{"token for self", analyst, ActionTokenCreate, Target{Party: "bank", PartyExists: true, User: "ann"}, "", ""},
		{"token for colleague", analyst, ActionTokenCreate, Target{Party: "bank", PartyExists: true, User: "bob"}, EForbidden, "only for yourself"},
		{"token for missing party", admin, ActionTokenCreate, Target{Party: "ghost", User: "x"}, ENotFound, ""},
		{"revoke own token", analyst, ActionTokenRevoke, Target{TokenOwner: &Principal{Kind: User, Party: "bank", User: "ann"}}, "", ""},
		{"revoke other's token", analyst, ActionTokenRevoke, Target{TokenOwner: &Principal{Kind: User, Party: "bank", User: "bob"}}, ENotFound, "no such token"},
		{"revoke admin token", analyst, ActionTokenRevoke, Target{TokenOwner: &Principal{Kind: Admin}}, ENotFound, ""},
		{"admin revokes any", admin, ActionTokenRevoke, Target{TokenOwner: &Principal{Kind: User, Party: "bank", User: "bob"}}, "", ""},
		{"unknown action", admin, Action("room.delete"), r1, EForbidden, "not allowed"},
	}
	for _, tc := range cases {
		err := Authorize(tc.p, tc.a, tc.t)
		if got := ErrorCode(err); got != tc.code {
			t.Errorf("%s: Authorize(%v, %s) code = %q, want %q (%v)", tc.name, tc.p, tc.a, got, tc.code, err)
			continue
		}
		if err != nil && !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: Authorize error %q does not contain %q", tc.name, err, tc.msg)
		}
	}
}

// TestAuthorizeEveryActionNeedsAToken: no action is open to anonymous
// callers, and every action is decided (none falls through to the default).
func TestAuthorizeEveryActionNeedsAToken(t *testing.T) {
	admin := &Principal{Kind: Admin}
	for _, a := range Actions {
		if ErrorCode(Authorize(&Principal{}, a, Target{})) != EUnauthenticated {
			t.Errorf("action %s is open to anonymous callers", a)
		}
		err := Authorize(admin, a, Target{Room: "r", RoomExists: true, Party: "p", PartyExists: true, TokenOwner: &Principal{Kind: Admin}})
		if err != nil && strings.Contains(err.Error(), "is not allowed") {
			t.Errorf("action %s falls through Authorize's switch", a)
		}
	}
}
