package httpapi

import (
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

// TestOpenAPIMatchesRoutes checks that every registered route is in the
// OpenAPI document with its action, and that the document lists no route
// the server does not serve.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	f := newFixture(t)
	status, body := f.do("none", "GET", "/api/v1/openapi.json", nil)
	if status != 200 {
		t.Fatalf("GET /api/v1/openapi.json = %d", status)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi version %q, want 3.x", doc.OpenAPI)
	}
	documented := map[string]string{}
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			var op struct {
				Action string `json:"x-cleanroom-action"`
			}
			json.Unmarshal(raw, &op)
			documented[strings.ToUpper(method)+" "+path] = op.Action
		}
	}
	served := map[string]bool{}
	for _, rt := range f.srv.Routes() {
		key := rt.Method + " " + rt.Pattern
		served[key] = true
		action, ok := documented[key]
		if !ok {
			t.Errorf("route %s is not in the OpenAPI document", key)
			continue
		}
		if action != string(rt.Action) {
			t.Errorf("OpenAPI says %s is action %q, the route says %q", key, action, rt.Action)
		}
	}
	var extra []string
	for key := range documented {
		if !served[key] {
			extra = append(extra, key)
		}
	}
	sort.Strings(extra)
	for _, key := range extra {
		t.Errorf("OpenAPI documents %s, which the server does not serve", key)
	}
}

// TestFailureMidwayLeavesNothing makes the audit append fail after a
// route's change has been made in the transaction, and checks that neither
// the change nor an entry remains.
func TestFailureMidwayLeavesNothing(t *testing.T) {
	for _, rt := range newFixture(t).srv.Routes() {
		if !rt.Mutates {
			continue
		}
		key := rt.Method + " " + rt.Pattern
		t.Run(strings.ReplaceAll(key, "/", "_"), func(t *testing.T) {
			f := newFixture(t)
			m := matrix[key]
			// The first caller the matrix expects to succeed.
			who := ""
			for _, p := range principals {
				if m.want[p] < 300 {
					who = p
					break
				}
			}
			var body any
			if m.req.body != nil {
				body = m.req.body(f, who)
			}
			path := f.path(m.req.path)
			raw, err := sql.Open("sqlite", f.dbPath)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			if _, err := raw.Exec(`CREATE TRIGGER fail_ok_entries BEFORE INSERT ON audit_log WHEN NEW.outcome = 'ok'
				BEGIN SELECT RAISE(ABORT, 'injected failure'); END`); err != nil {
				t.Fatal(err)
			}
			before := f.counts()
			status, resp := f.do(who, rt.Method, path, body)
			if status != http.StatusInternalServerError {
				t.Fatalf("%s with a failing audit append = %d, want 500; body %s", key, status, resp)
			}
			var e ErrorBody
			json.Unmarshal(resp, &e)
			if e.Code != cleanroom.EInternal || strings.Contains(string(resp), "injected") {
				t.Errorf("internal error body %s: want code internal and no internal detail", resp)
			}
			if after := f.counts(); !equalCounts(before, after) {
				t.Errorf("failed request left changes: before %v, after %v", before, after)
			}
			if _, err := raw.Exec(`DROP TRIGGER fail_ok_entries`); err != nil {
				t.Fatal(err)
			}
			// The same request succeeds once the fault is gone (one that
			// may be made only once, like a signed scoring request, is
			// made afresh).
			if f.again != nil {
				body = f.again()
			}
			if status, resp := f.do(who, rt.Method, path, body); status >= 300 {
				t.Fatalf("%s after the fault = %d; body %s", key, status, resp)
			}
		})
	}
}

func equalCounts(a, b map[string]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return len(a) == len(b)
}

// TestBadInput sends malformed, unknown, oversized and invalid bodies and
// checks each gets a 4xx with a message naming the problem, changes nothing
// and is audited as a refusal.
func TestBadInput(t *testing.T) {
	f := newFixture(t)
	bankKey := cleanroom.EncodeKey(f.keys["bank"].Public().(ed25519.PublicKey))
	big := `{"name":"` + strings.Repeat("a", MaxBodyBytes) + `"}`
	cases := []struct {
		name, method, path string
		body               any
		status             int
		message            string
	}{
		{"malformed JSON", "POST", "/api/v1/parties", `{"name": "x",`, 400, "truncated JSON"},
		{"syntax error", "POST", "/api/v1/parties", `{"name" "x"}`, 400, "not valid JSON at byte"},
		{"not an object", "POST", "/api/v1/rooms", `[1,2]`, 400, "must be a JSON object"},
		{"wrong type", "POST", "/api/v1/rooms", `{"name": 5}`, 400, `field "name" must be a string`},
		{"unknown field", "POST", "/api/v1/parties", `{"name":"x","signing_key":"` + bankKey + `","colour":"red"}`, 400, `unknown field "colour"`},
		{"trailing data", "POST", "/api/v1/parties", `{"name":"x","signing_key":"` + bankKey + `"} {}`, 400, "data after the JSON object"},
		{"empty body", "POST", "/api/v1/rooms", ``, 400, "request body is empty"},
		{"oversized body", "POST", "/api/v1/parties", big, 413, "larger than 1048576 bytes"},
		{"invalid party name", "POST", "/api/v1/parties", CreatePartyRequest{Name: "Bank Ltd", SigningKey: bankKey}, 400, `party name "Bank Ltd" is not valid`},
		{"missing key", "POST", "/api/v1/parties", CreatePartyRequest{Name: "x"}, 400, `field "signing_key" is required`},
		{"short key", "POST", "/api/v1/parties", CreatePartyRequest{Name: "x", SigningKey: "AAAA"}, 400, "want an Ed25519 public key of 32 bytes"},
		{"duplicate party", "POST", "/api/v1/parties", CreatePartyRequest{Name: "bank", SigningKey: bankKey}, 409, `party "bank" already exists`},
		{"duplicate room", "POST", "/api/v1/rooms", CreateRoomRequest{Name: "r1", Host: "neutral"}, 409, `room "r1" already exists`},
		{"invalid room name", "POST", "/api/v1/rooms", CreateRoomRequest{Name: "r_1", Host: "neutral"}, 400, `room name "r_1" is not valid`},
		{"room without host", "POST", "/api/v1/rooms", CreateRoomRequest{Name: "r9"}, 400, `names no host`},
		{"room with unknown party", "POST", "/api/v1/rooms", CreateRoomRequest{Name: "r9", Host: "neutral", Parties: []string{"ghost"}}, 400, `party "ghost" is not registered`},
		{"invite unknown party", "POST", "/api/v1/rooms/r1/parties", InviteRequest{Party: "ghost"}, 400, `party "ghost" is not registered`},
		{"room with party twice", "POST", "/api/v1/rooms", CreateRoomRequest{Name: "r9", Host: "neutral", Parties: []string{"bank", "bank"}}, 400, `listed twice`},
		{"invite twice", "POST", "/api/v1/rooms/r1/parties", InviteRequest{Party: "bank"}, 409, `already in room "r1"`},
		{"bad ttl", "POST", "/api/v1/tokens", CreateTokenRequest{Party: "bank", User: "bob", TTL: "forever"}, 400, `field "ttl" is not a duration`},
		{"ttl too long", "POST", "/api/v1/tokens", CreateTokenRequest{Party: "bank", User: "bob", TTL: "9000h"}, 400, "out of range"},
		{"token for bad user name", "POST", "/api/v1/tokens", CreateTokenRequest{Party: "bank", User: "Bob!"}, 400, `user name "Bob!" is not valid`},
		{"grant signed by another party", "POST", "/api/v1/parties/bank/grants", f.grant("operator", "bank", "zed", "r1", cleanroom.RoleAnalyst), 400, "does not verify"},
		{"grant for another party's path", "POST", "/api/v1/parties/operator/grants", f.grant("bank", "bank", "zed", "r1", cleanroom.RoleAnalyst), 400, "does not verify"},
		{"grant with unknown role", "POST", "/api/v1/parties/bank/grants", f.grant("bank", "bank", "zed", "r1", "owner"), 400, `unknown role "owner"`},
		{"grant to an uninvited room", "POST", "/api/v1/parties/bank/grants", f.grant("bank", "bank", "zed", "r2", cleanroom.RoleAnalyst), 404, `not invited to room "r2"`},
		{"grant to a missing room", "POST", "/api/v1/parties/bank/grants", f.grant("bank", "bank", "zed", "nowhere", cleanroom.RoleAnalyst), 404, `not invited to room "nowhere"`},
		{"bad audit cursor", "GET", "/api/v1/audit?after=-1", nil, 400, `"after" must be a sequence number`},
		{"bad audit limit", "GET", "/api/v1/audit?limit=0", nil, 400, `"limit" must be between 1 and 1000`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.counts()
			status, resp := f.do("admin", tc.method, tc.path, tc.body)
			if status != tc.status {
				t.Fatalf("%s %s = %d, want %d; body %s", tc.method, tc.path, status, tc.status, resp)
			}
			var e ErrorBody
			if err := json.Unmarshal(resp, &e); err != nil {
				t.Fatalf("error body %s: %v", resp, err)
			}
			if !strings.Contains(e.Message, tc.message) {
				t.Errorf("message %q does not contain %q", e.Message, tc.message)
			}
			after := f.counts()
			for table, n := range after {
				want := before[table]
				if table == "audit_log" {
					want++ // the refusal itself
				}
				if n != want {
					t.Errorf("table %s: %d rows after the refusal, want %d", table, n, want)
				}
			}
		})
	}
}

// TestGrantLifecycle follows one user from an admin-minted token through a
// grant, a replayed older grant, a revocation and a provider grant to the
// room's host.
func TestGrantLifecycle(t *testing.T) {
	f := newFixture(t)
	f.mintAtRequest("bob", "bank", "bob")
	if status, _ := f.do("bob", "GET", "/api/v1/rooms/r1", nil); status != 404 {
		t.Fatalf("a token without a grant sees r1: %d", status)
	}
	first := f.grant("bank", "bank", "bob", "r1", cleanroom.RoleAnalyst)
	if status, resp := f.do("admin", "POST", "/api/v1/parties/bank/grants", first); status != 201 {
		t.Fatalf("submit grant = %d %s", status, resp)
	}
	status, resp := f.do("bob", "GET", "/api/v1/whoami", nil)
	var w Whoami
	json.Unmarshal(resp, &w)
	if status != 200 || len(w.Rooms["r1"]) != 1 || w.Rooms["r1"][0] != cleanroom.RoleAnalyst {
		t.Fatalf("whoami after grant = %d %s", status, resp)
	}
	// The same statement again is a replay.
	if status, resp := f.do("admin", "POST", "/api/v1/parties/bank/grants", first); status != 409 {
		t.Fatalf("replayed grant = %d %s, want 409", status, resp)
	}
	f.now = f.now.Add(time.Minute)
	revoke := f.grant("bank", "bank", "bob", "r1")
	if status, resp := f.do("bob", "POST", "/api/v1/parties/bank/grants", revoke); status != 201 {
		t.Fatalf("revoke = %d %s", status, resp)
	}
	if status, _ := f.do("bob", "GET", "/api/v1/rooms/r1", nil); status != 404 {
		t.Fatalf("revoked user sees r1: %d", status)
	}
	// Replaying the older grant after the revocation is refused.
	if status, resp := f.do("admin", "POST", "/api/v1/parties/bank/grants", first); status != 409 {
		t.Fatalf("grant replayed after revocation = %d %s, want 409", status, resp)
	}

	// A party that hosts a room cannot be its provider.
	if status, resp := f.do("admin", "POST", "/api/v1/rooms", CreateRoomRequest{Name: "r3", Host: "late", Parties: []string{"late", "bank"}}); status != 201 {
		t.Fatalf("create r3 = %d %s", status, resp)
	}
	status, resp = f.do("admin", "POST", "/api/v1/parties/late/grants", f.grant("late", "late", "lee", "r3", cleanroom.RoleProvider))
	if status != 400 || !strings.Contains(string(resp), "hosts room") {
		t.Fatalf("provider grant to the host = %d %s, want 400 naming the rule", status, resp)
	}
	if status, resp := f.do("admin", "POST", "/api/v1/parties/late/grants", f.grant("late", "late", "lee", "r3", cleanroom.RoleReviewer)); status != 201 {
		t.Fatalf("reviewer grant to the host = %d %s", status, resp)
	}

	// A grant made for another server is refused.
	g := cleanroom.GrantStatement{Type: cleanroom.GrantType, Server: "elsewhere", Party: "bank", User: "bob", Room: "r1",
		Roles: []cleanroom.Role{cleanroom.RoleAnalyst}, IssuedAt: f.now.Add(time.Minute), ExpiresAt: f.now.Add(time.Hour)}
	env := signWith(t, f, "bank", g)
	if status, resp := f.do("admin", "POST", "/api/v1/parties/bank/grants", env); status != 400 || !strings.Contains(string(resp), "another room server") {
		t.Fatalf("grant for another server = %d %s", status, resp)
	}

	// A grant that has expired stops counting without any new statement.
	f.now = f.now.Add(2 * time.Minute)
	short := cleanroom.GrantStatement{Type: cleanroom.GrantType, Server: f.srv.ServerID(), Party: "bank", User: "bob", Room: "r1",
		Roles: []cleanroom.Role{cleanroom.RoleAnalyst}, IssuedAt: f.now, ExpiresAt: f.now.Add(time.Hour)}
	if status, resp := f.do("admin", "POST", "/api/v1/parties/bank/grants", signWith(t, f, "bank", short)); status != 201 {
		t.Fatalf("short grant = %d %s", status, resp)
	}
	if status, _ := f.do("bob", "GET", "/api/v1/rooms/r1", nil); status != 200 {
		t.Fatalf("granted user cannot see r1: %d", status)
	}
	f.now = f.now.Add(2 * time.Hour)
	if status, _ := f.do("bob", "GET", "/api/v1/rooms/r1", nil); status != 404 {
		t.Fatalf("user with an expired grant sees r1: %d", status)
	}
}

func signWith(t *testing.T, f *fixture, signer string, g cleanroom.GrantStatement) statement.Envelope {
	t.Helper()
	env, err := statement.Sign(f.keys[signer], g)
	if err != nil {
		t.Fatal(err)
	}
	return env
}
