package httpapi

// The access part of the attack suite: callers with valid credentials of
// the wrong kind — the platform admin, a member of another room or party,
// a user with a low role, a revoked token — and malformed names and
// parameters try to reach what the API keeps from them. Each attack must
// be refused, audited as a refusal, and change nothing. Role × route is
// TestAuthorizationMatrix's; these tests take the attacker's view of it.

import (
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/auditlog"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

// rowCounts returns the number of rows of every table of the fixture's
// database, read directly, so a refused request is seen to change none.
func (f *fixture) rowCounts() map[string]int {
	f.t.Helper()
	db, err := sql.Open("sqlite", f.dbPath)
	if err != nil {
		f.t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		f.t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		rows.Scan(&name)
		tables = append(tables, name)
	}
	rows.Close()
	out := map[string]int{}
	for _, t := range tables {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM "` + t + `"`).Scan(&n); err != nil {
			f.t.Fatal(err)
		}
		out[t] = n
	}
	return out
}

// attempt is one request an attacker makes.
type attempt struct {
	name, method, path string
	body               any
}

// refused sends a as who and checks it is refused with status: an error
// body {code, message}, exactly one audit entry, outcome refused with the
// error's code, by who's principal, and no other row added or removed
// anywhere in the database. It returns the error body.
func (f *fixture) refused(who string, a attempt, status int) ErrorBody {
	f.t.Helper()
	before := f.rowCounts()
	got, resp := f.do(who, a.method, a.path, a.body)
	var e ErrorBody
	if got != status {
		f.t.Errorf("%s: %s %s as %s = %d, want %d; body %s", a.name, a.method, a.path, who, got, status, resp)
		return e
	}
	if err := json.Unmarshal(resp, &e); err != nil || e.Code == "" || e.Message == "" {
		f.t.Errorf("%s: refusal body %s is not {code, message}", a.name, resp)
	}
	after := f.rowCounts()
	for table, n := range after {
		want := before[table]
		if table == "audit_log" {
			want++
		}
		if n != want {
			f.t.Errorf("%s: table %s has %d rows after the refusal, want %d", a.name, table, n, want)
		}
	}
	if last := f.lastAudit(); last.Outcome != cleanroom.OutcomeRefused || last.Code != e.Code {
		f.t.Errorf("%s: audited as %+v, want a refusal with code %s", a.name, last, e.Code)
	} else if want := f.actorOf(who); last.Actor != want {
		f.t.Errorf("%s: refusal audited for %q, want %q", a.name, last.Actor, want)
	}
	return e
}

// actorOf names who's principal as audit entries do.
func (f *fixture) actorOf(who string) string {
	f.t.Helper()
	status, resp := f.do(who, "GET", "/api/v1/whoami", nil)
	var w Whoami
	if status != 200 || json.Unmarshal(resp, &w) != nil {
		return "anonymous"
	}
	if w.Kind == "admin" {
		return "admin"
	}
	return w.Party + "/" + w.User
}

// signedBy returns v signed with priv.
func signedBy(t *testing.T, priv ed25519.PrivateKey, v any) statement.Envelope {
	t.Helper()
	env, err := statement.Sign(priv, v)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// mint has the admin mint a token for party/user and stores it as name.
func (f *fixture) mint(name, party, user string) {
	f.t.Helper()
	status, resp := f.do("admin", "POST", "/api/v1/tokens", CreateTokenRequest{Party: party, User: user})
	if status != 201 {
		f.t.Fatalf("mint a token for %s/%s = %d %s", party, user, status, resp)
	}
	var tc TokenCreated
	json.Unmarshal(resp, &tc)
	f.tokens[name], f.ids[name] = tc.Secret, tc.ID
}

// TestAttackAdminActsAsParty: the platform admin, with its own token, tries
// every party action in a room in use — reading datasets and results,
// uploading, matching, proposing and approving templates, running and
// reviewing queries, signing agreements, reading and cosigning the audit
// log — and signs what only a party may sign with the keys it holds (the
// server's). Then it seats a party of its own making in the room: it
// registers "puppet" with a key it holds, invites it into r1 and grants
// its user every role. Everything is refused and audited; the puppet reads
// and signs the room's agreements only, until the room's parties sign one
// that names it (cleanroom.Admitted).
func TestAttackAdminActsAsParty(t *testing.T) {
	f := newFixture(t)
	f.queryReady("  receivers: [bank]\n  review_by: [bank]\n")
	q := f.runQuery()
	serverKey := f.srv.signer
	tpl := TemplateBody{Template: cleanroom.Template{Name: "tiers", Version: 1}, Digest: strings.Repeat("0", 64)}
	forgedApproval := signedBy(t, serverKey, cleanroom.TemplateApproval{Type: cleanroom.ApprovalType, Server: f.srv.ServerID(),
		Room: "r1", Name: "tiers", Version: 1, Digest: tpl.Digest, IssuedAt: f.now})
	forgedDUASig := signedBy(t, serverKey, f.testDUA("r1", 1, "bank", "operator")).Signature
	cp := f.cosignature("bank")
	forgedCosign, _ := (&auditlog.Checkpoint{Server: f.srv.ServerID(), Room: "r1", Size: cp.Size, Root: cp.Root}).Cosign("bank", serverKey)

	room := "/api/v1/rooms/r1"
	attempts := []attempt{
		{"list datasets", "GET", room + "/datasets", nil},
		{"read a dataset", "GET", room + "/datasets/bank-customers", nil},
		{"register a dataset", "POST", room + "/datasets", CreateDatasetRequest{Name: "admin-data", Schema: []byte(testSchema)}},
		{"open an upload", "POST", room + "/datasets/bank-customers/uploads", nil},
		{"send a chunk", "PUT", room + "/datasets/bank-customers/uploads/up1/chunks/0", []byte("sealed bytes")},
		{"commit an upload", "POST", room + "/datasets/bank-customers/uploads/up1/commit", CommitUploadRequest{Chunks: 1}},
		{"abort an upload", "DELETE", room + "/datasets/bank-customers/uploads/up1", nil},
		{"run matching", "POST", room + "/matches", nil},
		{"read match runs", "GET", room + "/matches", nil},
		{"take re-blinding jobs", "GET", room + "/agent/jobs", nil},
		{"fetch the hmac secret", "GET", room + "/hmac", nil},
		{"read agent keys", "GET", room + "/agent/keys", nil},
		{"publish an agent key", "PUT", room + "/agent/key", signedBy(t, serverKey, cleanroom.AgentKey{Type: cleanroom.AgentKeyType,
			Server: f.srv.ServerID(), Room: "r1", Party: "bank", HPKEKey: make([]byte, 32), IssuedAt: f.now})},
		{"propose a template", "POST", room + "/templates", ProposeTemplateRequest{YAML: testTemplate}},
		{"read templates", "GET", room + "/templates", nil},
		{"approve a template with the server's key", "POST", room + "/templates/tiers/approvals", forgedApproval},
		{"retire a template", "POST", room + "/templates/tiers/retire", RetireRequest{Version: 1}},
		{"run a query", "POST", room + "/queries", RunQueryRequest{Template: "tiers"}},
		{"explain a query", "POST", room + "/queries/explain", RunQueryRequest{Template: "tiers"}},
		{"list queries", "GET", room + "/queries", nil},
		{"read a result", "GET", room + "/queries/" + q.ID, nil},
		{"open a result", "GET", room + "/queries/" + q.ID + "/opened", nil},
		{"review a result", "POST", room + "/queries/" + q.ID + "/review", ReviewRequest{Decision: "approve"}},
		{"request a score", "POST", room + "/scores", ScoreRequest{Model: "m", Token: "x"}},
		{"draft an agreement", "POST", room + "/duas", f.testDUA("r1", 0, "bank", "operator")},
		{"read the agreements", "GET", room + "/duas", nil},
		{"sign the agreement with the server's key", "POST", room + "/duas/1/signatures", DUASignRequest{Signature: forgedDUASig}},
		{"terminate the agreement", "POST", room + "/duas/1/termination", signedBy(t, serverKey, cleanroom.DUATermination{
			Type: cleanroom.DUATerminationType, Server: f.srv.ServerID(), Room: "r1", Version: 1, Party: "bank", Reason: "x", IssuedAt: f.now})},
		{"read the audit log", "GET", room + "/audit", nil},
		{"read a checkpoint", "GET", room + "/audit/checkpoint", nil},
		{"cosign for the bank with the server's key", "POST", room + "/audit/cosignatures", forgedCosign},
		{"read incidents", "GET", room + "/incidents", nil},
		{"triage an incident", "POST", room + "/incidents/1/triage", TriageRequest{Verdict: "false_positive"}},
		{"approve in the web UI", "POST", room + "/approvals", ApprovalRequest{Intent: NewApprovalIntent(f.srv.ServerID(), "r1", "bank", "u-provider",
			ApproveTemplate, "tiers", 1, "d1", f.now), IDToken: "a-token"}},
	}
	for _, a := range attempts {
		if e := f.refused("admin", a, 403); e.Code != "" && e.Code != cleanroom.EForbidden {
			t.Errorf("%s: refused with %s, want forbidden", a.name, e.Code)
		}
	}
	// Whatever the walk left out, the matrix holds: the admin is refused
	// every route inside a room but the room itself, invitations and terms.
	adminMay := []string{"GET /api/v1/rooms/{room}", "POST /api/v1/rooms/{room}/parties", "PUT /api/v1/rooms/{room}/terms", "GET /api/v1/rooms/{room}/terms"}
	for key, m := range matrix {
		if strings.Contains(key, "/rooms/{room}") && !slices.Contains(adminMay, key) && m.want["admin"] < 400 {
			t.Errorf("the authorization matrix lets the admin %s (%d)", key, m.want["admin"])
		}
	}

	// A grant signed with the server's key, for a user the admin made up,
	// does not verify as the bank's.
	f.mint("mallory", "bank", "mallory")
	grant := signedBy(t, serverKey, cleanroom.GrantStatement{Type: cleanroom.GrantType, Server: f.srv.ServerID(), Party: "bank",
		User: "mallory", Room: "r1", Roles: cleanroom.Roles, IssuedAt: f.now, ExpiresAt: f.now.Add(time.Hour)})
	if e := f.refused("admin", attempt{"grant signed with the server's key", "POST", "/api/v1/parties/bank/grants", grant}, 400); !strings.Contains(e.Message, "does not verify") {
		t.Errorf("forged grant refused with %q", e.Message)
	}
	f.refused("mallory", attempt{"the made-up user reads datasets", "GET", room + "/datasets", nil}, 404)

	// A party of the admin's making, invited into the room.
	f.puppet()
	f.tokens["eve"] = f.tokens["puppet"]
	priv := f.keys["puppet"]
	raw, _ := json.Marshal(f.agentKey("puppet"))
	for _, a := range []attempt{
		{"read the audit log", "GET", room + "/audit", nil},
		{"read a checkpoint", "GET", room + "/audit/checkpoint", nil},
		{"list datasets", "GET", room + "/datasets", nil},
		{"read a dataset", "GET", room + "/datasets/bank-customers", nil},
		{"read templates", "GET", room + "/templates", nil},
		{"list queries", "GET", room + "/queries", nil},
		{"read a result", "GET", room + "/queries/" + q.ID, nil},
		{"read match runs", "GET", room + "/matches", nil},
		{"read incidents", "GET", room + "/incidents", nil},
		{"triage an incident", "POST", room + "/incidents/1/triage", TriageRequest{Verdict: "false_positive"}},
		{"publish an agent key", "PUT", room + "/agent/key", json.RawMessage(raw)},
		{"read agent keys", "GET", room + "/agent/keys", nil},
		{"fetch the hmac secret", "GET", room + "/hmac", nil},
		{"cosign", "POST", room + "/audit/cosignatures", f.cosignature("puppet")},
		{"propose a template", "POST", room + "/templates", ProposeTemplateRequest{YAML: testTemplate}},
		{"read terms", "GET", room + "/terms", nil},
	} {
		e := f.refused("eve", a, 403)
		if e.Code != "" && !strings.Contains(e.Message, "not a party to any data-use agreement of room \"r1\"") {
			t.Errorf("puppet: %s: refused with %q", a.name, e.Message)
		}
	}
	// Its user sees the room and its agreements, to sign one naming it.
	for _, p := range []string{room, room + "/duas", room + "/duas/1"} {
		if status, resp := f.do("eve", "GET", p, nil); status != 200 {
			t.Errorf("puppet reads %s = %d %s, want 200", p, status, resp)
		}
	}
	if status, resp := f.do("eve", "GET", "/api/v1/dashboard?quarter=2026Q4", nil); status == 200 && strings.Contains(string(resp), `"r1"`) {
		t.Errorf("the puppet's dashboard shows r1: %s", resp)
	}
	// Nor can it end the room's agreement (a party's termination deletes
	// the room's data).
	term := signedBy(t, f.keys["puppet"], cleanroom.DUATermination{Type: cleanroom.DUATerminationType, Server: f.srv.ServerID(), Room: "r1",
		Version: 1, Digest: agreementDigest(f), Party: "puppet", Reason: "the host ends it", IssuedAt: f.now})
	f.refused("eve", attempt{"terminate the room's agreement", "POST", room + "/duas/1/termination", term}, 403)
	if status, resp := f.do("analyst", "GET", room+"/duas/1", nil); status != 200 || !strings.Contains(string(resp), `"state": "active"`) {
		t.Errorf("the agreement after the puppet's termination: %d %s", status, resp)
	}
	// An agreement the puppet drafts and signs alone does not admit it.
	d := f.testDUA("r1", 0, "bank", "operator", "puppet")
	status, resp := f.do("eve", "POST", room+"/duas", d)
	var drafted DUABody
	json.Unmarshal(resp, &drafted)
	if status != 201 {
		t.Fatalf("puppet drafts an agreement = %d %s", status, resp)
	}
	d.Version = drafted.Version
	if status, resp := f.do("eve", "POST", fmt.Sprintf("%s/duas/%d/signatures", room, d.Version), DUASignRequest{Signature: signedBy(t, priv, d).Signature}); status != 200 {
		t.Fatalf("puppet signs = %d %s", status, resp)
	}
	f.refused("eve", attempt{"read the audit log after signing alone", "GET", room + "/audit", nil}, 403)
	// Once the room's parties sign it too, the puppet is a party like any.
	err := f.db.Update(t.Context(), func(tx *sqlite.Tx) error {
		for _, p := range []string{"bank", "operator"} {
			if err := tx.PutDUASignature("r1", d.Version, sqlite.DUASignature{Party: p, Signature: signedBy(t, f.keys[p], d).Signature, SignedBy: p + "/test"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if status, resp := f.do("eve", "GET", room+"/audit", nil); status != 200 {
		t.Errorf("puppet named by an agreement every party signed reads the audit log = %d %s, want 200", status, resp)
	}

	// Every route of a room, as the authorization matrix calls it, refuses
	// the puppet but the room itself, its agreements (and approvals, which
	// go to the puppet's own agent) and the admin's invitations.
	joining := []cleanroom.Action{cleanroom.ActionRoomShow, cleanroom.ActionRoomInvite, cleanroom.ActionDUADraft, cleanroom.ActionDUAList,
		cleanroom.ActionDUAShow, cleanroom.ActionDUASign, cleanroom.ActionDUATerminate}
	for _, rt := range f.srv.Routes() {
		key := rt.Method + " " + rt.Pattern
		m, ok := matrix[key]
		if !ok || !strings.Contains(key, "/rooms/{room}") || slices.Contains(joining, rt.Action) {
			continue
		}
		t.Run(strings.ReplaceAll(key, "/", "_"), func(t *testing.T) {
			g := newFixture(t)
			g.puppet()
			var body any
			if m.req.body != nil {
				body = m.req.body(g, "puppet")
			}
			if e := g.refused("puppet", attempt{key, rt.Method, g.path(m.req.path), body}, 403); e.Code != "" && !strings.Contains(e.Message, "not a party to any data-use agreement") {
				t.Errorf("refused with %q", e.Message)
			}
		})
	}
}

// agreementDigest is the digest of r1's agreement version 1.
func agreementDigest(f *fixture) string {
	f.t.Helper()
	_, resp := f.do("analyst", "GET", "/api/v1/rooms/r1/duas/1", nil)
	var b DUABody
	json.Unmarshal(resp, &b)
	return b.Digest
}

// puppet registers party "puppet" with a key of the admin's, invites it
// into r1 and grants its user puppet/eve every role there; its token is
// "puppet".
func (f *fixture) puppet() {
	f.t.Helper()
	pub, priv, _ := ed25519.GenerateKey(nil)
	f.keys["puppet"] = priv
	for _, step := range []attempt{
		{"register puppet", "POST", "/api/v1/parties", CreatePartyRequest{Name: "puppet", SigningKey: cleanroom.EncodeKey(pub)}},
		{"invite puppet", "POST", "/api/v1/rooms/r1/parties", InviteRequest{Party: "puppet"}},
		{"grant puppet's user", "POST", "/api/v1/parties/puppet/grants", f.grant("puppet", "puppet", "eve", "r1", cleanroom.Roles...)},
	} {
		if status, resp := f.do("admin", step.method, step.path, step.body); status >= 300 {
			f.t.Fatalf("%s = %d %s", step.name, status, resp)
		}
	}
	// The admin holds the puppet's key, so it can sign the request for a
	// token that carries eve's grants.
	f.mintAtRequest("puppet", "puppet", "eve")
}

// member gives party/user a token (as name) and a grant of roles in room.
func (f *fixture) member(name, party, user, room string, roles ...cleanroom.Role) {
	f.t.Helper()
	if err := f.db.Update(f.t.Context(), func(tx *sqlite.Tx) error {
		f.addToken(tx, name, cleanroom.User, party, user, time.Hour)
		f.putGrant(tx, party, user, room, roles...)
		return nil
	}); err != nil {
		f.t.Fatal(err)
	}
}

// probe is a pair of requests for an object the attacker may not reach:
// one names an object that exists, the other one that does not; id is the
// existing object's name in the first path, fake the other's.
type probe struct {
	name       string
	method     string
	real, fake string // paths
	id, fakeID string
	body       any
	// norm, if set, rewrites both refusals' messages before they are
	// compared (a log size that grew between the two requests).
	norm func(string) string
}

// sameRefusal sends both requests of p as who and checks that they are
// refused alike: the same status, want, and the same error once the names
// are swapped, so the refusal tells nothing about whether the object
// exists.
func (f *fixture) sameRefusal(who string, p probe, want int) {
	f.t.Helper()
	realErr := f.refused(who, attempt{p.name + " (existing)", p.method, p.real, p.body}, want)
	fakeErr := f.refused(who, attempt{p.name + " (made up)", p.method, p.fake, p.body}, want)
	if p.id != "" {
		fakeErr.Message = strings.ReplaceAll(fakeErr.Message, p.fakeID, p.id)
		fakeErr.Hint = strings.ReplaceAll(fakeErr.Hint, p.fakeID, p.id)
	}
	if p.norm != nil {
		realErr.Message, fakeErr.Message = p.norm(realErr.Message), p.norm(fakeErr.Message)
	}
	if realErr != fakeErr {
		f.t.Errorf("%s: the refusal tells whether the object exists:\n  existing:  %+v\n  made up:   %+v", p.name, realErr, fakeErr)
	}
}

// logSize is a log's size in a refusal's message.
var logSize = regexp.MustCompile(`first \d+ entries`)

// TestAttackCrossRoomAndCrossParty: a member of one room reaches for
// another room's objects by name or guessed ID, and a party's user for
// another party's objects in its own room — upload sessions, re-blinding
// jobs, sealed results, the hmac secret's sealed copies, requests waiting
// for another party's agent. Each is refused exactly as a made-up object
// is (cleanroom.Authorize: a room one is not a member of is "not found"
// like one that does not exist; an upload or job of another user or party
// is "not found" like one that does not exist), so the refusal does not
// reveal that the object exists. (That bank users never see a result
// addressed to the operator is TestAttackCrossPartySealedResult.)
func TestAttackCrossRoomAndCrossParty(t *testing.T) {
	f := newFixture(t)
	f.queryReady("  receivers: [bank]\n")
	q := f.runQuery()
	if _, got := f.seeQuery("receiver", q.ID); got.Sealed == nil {
		t.Fatal("the run is not released to the bank")
	}
	// r2 holds a dataset and an open upload of its party.
	if err := f.db.Update(t.Context(), func(tx *sqlite.Tx) error {
		if err := tx.CreateDataset(sqlite.DatasetRecord{Room: "r2", Name: "other-data", Party: "other", Schema: []byte(testSchema), CreatedAt: f.now}); err != nil {
			return err
		}
		return tx.OpenUpload(&sqlite.UploadRecord{ID: "up2", Room: "r2", Dataset: "other-data", Party: "other", User: "olga", CreatedAt: f.now})
	}); err != nil {
		t.Fatal(err)
	}
	f.do("outsider", "GET", "/api/v1/rooms/r1/datasets", nil) // an incident in r1
	incident := fmt.Sprint(f.lastAudit().Seq)
	runs := func() string {
		_, resp := f.do("analyst", "GET", "/api/v1/rooms/r1/matches", nil)
		var l MatchRunList
		json.Unmarshal(resp, &l)
		if len(l.Runs) == 0 {
			t.Fatal("no match run in r1")
		}
		return l.Runs[0].ID
	}()

	// olga, a member of r2 only, reaches into r1 and guesses its objects;
	// r1's paths answer as a room that does not exist.
	for _, p := range []probe{
		{name: "r1's datasets", method: "GET", real: "/api/v1/rooms/r1/datasets", fake: "/api/v1/rooms/r9/datasets", id: "r1", fakeID: "r9"},
		{name: "r1's dataset", method: "GET", real: "/api/v1/rooms/r1/datasets/bank-customers", fake: "/api/v1/rooms/r9/datasets/bank-customers", id: "r1", fakeID: "r9"},
		{name: "r1's upload", method: "PUT", real: "/api/v1/rooms/r1/datasets/bank-customers/uploads/up1/chunks/0", fake: "/api/v1/rooms/r9/datasets/bank-customers/uploads/up1/chunks/0",
			id: "r1", fakeID: "r9", body: []byte("sealed")},
		{name: "r1's query", method: "GET", real: "/api/v1/rooms/r1/queries/" + q.ID, fake: "/api/v1/rooms/r9/queries/" + q.ID, id: "r1", fakeID: "r9"},
		{name: "r1's result", method: "GET", real: "/api/v1/rooms/r1/queries/" + q.ID + "/opened", fake: "/api/v1/rooms/r9/queries/" + q.ID + "/opened", id: "r1", fakeID: "r9"},
		{name: "r1's match run", method: "GET", real: "/api/v1/rooms/r1/matches/" + runs, fake: "/api/v1/rooms/r9/matches/" + runs, id: "r1", fakeID: "r9"},
		{name: "r1's audit log", method: "GET", real: "/api/v1/rooms/r1/audit", fake: "/api/v1/rooms/r9/audit", id: "r1", fakeID: "r9"},
		{name: "r1's hmac secret", method: "GET", real: "/api/v1/rooms/r1/hmac", fake: "/api/v1/rooms/r9/hmac", id: "r1", fakeID: "r9"},
		{name: "r1's agreement", method: "GET", real: "/api/v1/rooms/r1/duas/1", fake: "/api/v1/rooms/r9/duas/1", id: "r1", fakeID: "r9"},
	} {
		f.sameRefusal("outsider", p, 404)
	}
	// Through its own room's paths, r1's IDs are as unknown as made-up ones.
	fakeQuery := strings.Repeat("Q", len(q.ID))
	for _, p := range []probe{
		{name: "r1's query through r2", method: "GET", real: "/api/v1/rooms/r2/queries/" + q.ID, fake: "/api/v1/rooms/r2/queries/" + fakeQuery, id: q.ID, fakeID: fakeQuery},
		{name: "r1's match run through r2", method: "GET", real: "/api/v1/rooms/r2/matches/" + runs, fake: "/api/v1/rooms/r2/matches/" + fakeQuery[:len(runs)], id: runs, fakeID: fakeQuery[:len(runs)]},
		{name: "r1's dataset through r2", method: "GET", real: "/api/v1/rooms/r2/datasets/bank-customers", fake: "/api/v1/rooms/r2/datasets/made-up", id: "bank-customers", fakeID: "made-up"},
		{name: "r1's audit entry through r2", method: "GET", real: "/api/v1/rooms/r2/audit/receipt?seq=" + incident, fake: "/api/v1/rooms/r2/audit/receipt?seq=999999",
			id: incident, fakeID: "999999", norm: func(m string) string { return logSize.ReplaceAllLiteralString(m, "first N entries") }},
	} {
		f.sameRefusal("outsider", p, 404)
	}
	f.member("r2-reviewer", "other", "otto", "r2", cleanroom.RoleReviewer)
	f.sameRefusal("r2-reviewer", probe{name: "r1's incident through r2", method: "POST", real: "/api/v1/rooms/r2/incidents/" + incident + "/triage",
		fake: "/api/v1/rooms/r2/incidents/999999/triage", id: incident, fakeID: "999999", body: TriageRequest{Verdict: "false_positive"}}, 404)
	// And the other way: a member of r1 guessing r2's upload and dataset.
	f.sameRefusal("provider", probe{name: "r2's upload through r1", method: "PUT",
		real: "/api/v1/rooms/r1/datasets/bank-customers/uploads/up2/chunks/0", fake: "/api/v1/rooms/r1/datasets/bank-customers/uploads/upX/chunks/0",
		id: "up2", fakeID: "upX", body: []byte("sealed")}, 404)
	f.sameRefusal("analyst", probe{name: "r2's dataset through r1", method: "GET",
		real: "/api/v1/rooms/r1/datasets/other-data", fake: "/api/v1/rooms/r1/datasets/made-up", id: "other-data", fakeID: "made-up"}, 404)

	// In r1, the operator's users and a second bank provider reach for
	// what belongs to the bank and to u-provider.
	f.member("op-provider", "operator", "oona", "r1", cleanroom.RoleProvider, cleanroom.RoleReceiver, cleanroom.RoleReviewer, cleanroom.RoleAnalyst)
	f.member("provider2", "bank", "bert", "r1", cleanroom.RoleProvider)
	upload := "/api/v1/rooms/r1/datasets/bank-customers/uploads/"
	for _, p := range []probe{
		{name: "another user's upload: chunk", method: "PUT", real: upload + "up1/chunks/0", fake: upload + "upX/chunks/0", id: "up1", fakeID: "upX", body: []byte("sealed")},
		{name: "another user's upload: commit", method: "POST", real: upload + "up1/commit", fake: upload + "upX/commit", id: "up1", fakeID: "upX", body: CommitUploadRequest{Chunks: 1}},
		{name: "another user's upload: abort", method: "DELETE", real: upload + "up1", fake: upload + "upX", id: "up1", fakeID: "upX"},
	} {
		f.sameRefusal("provider2", p, 404)
		f.sameRefusal("op-provider", p, 403) // the dataset is the bank's: refused before the session is looked up
	}
	// The operator's receiver sees the run but no copy of a result
	// addressed to the bank, and cannot have one opened.
	if status, got := f.seeQuery("op-provider", q.ID); status != 200 || got.Sealed != nil {
		t.Errorf("the operator's receiver sees the bank's result: %d, sealed %d bytes", status, len(got.Sealed))
	}
	f.refused("op-provider", attempt{"open the bank's result", "GET", "/api/v1/rooms/r1/queries/" + q.ID + "/opened", nil}, 403)
	// The hmac secret's copy sealed to the bank is handed to the bank only.
	if err := f.db.Update(t.Context(), func(tx *sqlite.Tx) error {
		if err := tx.PutSecretCommitment("r1", "bank", []byte(`{}`)); err != nil {
			return err
		}
		_, err := tx.PutSealedSecret("r1", "bank", []byte("sealed to the bank's agent"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if status, resp := f.do("op-provider", "GET", "/api/v1/rooms/r1/hmac", nil); status != 200 || strings.Contains(string(resp), `"sealed":`) {
		t.Errorf("the operator's agent gets = %d %s, want no sealed copy", status, resp)
	}
	// Requests waiting for the bank's agent cannot be answered by the
	// operator's.
	for _, hub := range []struct {
		name, path string
		hub        *scoringHub
		job        any
		answer     any
	}{
		{"opening", "/api/v1/rooms/r1/agent/opening/", f.srv.opening, OpeningJob{ID: "req-b"}, OpeningResult{Refused: "x"}},
		{"approval", "/api/v1/rooms/r1/agent/approvals/", f.srv.approving, ApprovalJob{ID: "req-b"}, ApprovalAnswer{Refused: "x"}},
		{"scoring", "/api/v1/rooms/r1/agent/scoring/", f.srv.scoring, ScoringJob{ID: "req-b"}, ScoringResult{Refused: "x"}},
	} {
		task := &scoringTask{room: "r1", party: "bank", id: "req-b", result: make(chan scoringAnswer, 1), job: hub.job}
		hub.hub.push(task)
		hub.hub.take(t.Context(), "r1", "bank", 0)
		f.sameRefusal("op-provider", probe{name: "the bank's " + hub.name + " request", method: "POST", real: hub.path + "req-b", fake: hub.path + "req-x",
			id: "req-b", fakeID: "req-x", body: hub.answer}, 404)
		if len(task.result) != 0 {
			t.Errorf("%s: the operator's answer reached the bank's request", hub.name)
		}
	}

	// A re-blinding job of the bank, asked for by the operator's agent.
	g := newFixture(t)
	g.matchReady()
	g.member("op-provider", "operator", "oona", "r1", cleanroom.RoleProvider)
	fakeJob := strings.Repeat("J", len(g.ids["job"]))
	jobs := "/api/v1/rooms/r1/agent/jobs/"
	g.sameRefusal("op-provider", probe{name: "the bank's job", method: "GET", real: jobs + g.ids["job"], fake: jobs + fakeJob, id: g.ids["job"], fakeID: fakeJob}, 404)
	g.sameRefusal("op-provider", probe{name: "the bank's job result", method: "POST", real: jobs + g.ids["job"] + "/result", fake: jobs + fakeJob + "/result",
		id: g.ids["job"], fakeID: fakeJob, body: JobResult{Tokens: []string{}}}, 404)
}

// TestAttackRoleEscalation: the bank's analyst tries what needs another
// role, and tries to give itself roles: a grant it signs with a key of its
// own, one signed by another party, the bank's grant edited, a grant with
// a repeated key, grants moved to another party, room or server, and a
// token for another of its party's users. Each is refused (the grant's
// signature is checked against the party's registered key over the RFC
// 8785 form, which has no repeated keys: statement.Verify; the rest is
// cleanroom.Authorize and cleanroom.CheckGrant), and the analyst's roles
// are what the bank granted, nothing more.
func TestAttackRoleEscalation(t *testing.T) {
	f := newFixture(t)
	f.queryReady("  receivers: [bank]\n  review_by: [bank]\n")
	q := f.runQuery()
	f.do("outsider", "GET", "/api/v1/rooms/r1/datasets", nil) // an incident in r1
	incident := fmt.Sprint(f.lastAudit().Seq)
	_, resp := f.do("analyst", "GET", "/api/v1/rooms/r1/templates/tiers", nil)
	var tpl TemplateBody
	json.Unmarshal(resp, &tpl)
	room := "/api/v1/rooms/r1"
	for _, c := range []struct {
		attempt
		need string
	}{
		{attempt{"review a result", "POST", room + "/queries/" + q.ID + "/review", ReviewRequest{Decision: "approve"}}, "reviewer role"},
		{attempt{"triage an incident", "POST", room + "/incidents/" + incident + "/triage", TriageRequest{Verdict: "false_positive"}}, "reviewer role"},
		{attempt{"approve a template", "POST", room + "/templates/tiers/approvals", f.approval("bank", tpl)}, "provider role"},
		{attempt{"retire a template", "POST", room + "/templates/tiers/retire", RetireRequest{Version: 1}}, "provider role"},
		{attempt{"register a dataset", "POST", room + "/datasets", CreateDatasetRequest{Name: "mine", Schema: []byte(testSchema)}}, "provider role"},
		{attempt{"open an upload", "POST", room + "/datasets/bank-customers/uploads", nil}, "provider role"},
		{attempt{"run matching", "POST", room + "/matches", nil}, "provider role"},
		{attempt{"take re-blinding jobs", "GET", room + "/agent/jobs", nil}, "provider role"},
		{attempt{"fetch the hmac secret", "GET", room + "/hmac", nil}, "provider role"},
		{attempt{"invite a party", "POST", room + "/parties", InviteRequest{Party: "late"}}, "only the platform admin"},
		{attempt{"set the room's terms", "PUT", room + "/terms", TermsRequest{Currency: "EUR", Payer: "bank", Seller: "operator"}}, "only the platform admin"},
		{attempt{"register a party", "POST", "/api/v1/parties", CreatePartyRequest{Name: "mine", SigningKey: cleanroom.EncodeKey(make([]byte, 32))}}, "only the platform admin"},
		{attempt{"create a room", "POST", "/api/v1/rooms", CreateRoomRequest{Name: "mine", Host: "neutral", Parties: []string{"bank"}}}, "only the platform admin"},
		{attempt{"read the platform's audit log", "GET", "/api/v1/audit", nil}, "only the platform admin"},
		{attempt{"mint a token for the bank's reviewer", "POST", "/api/v1/tokens", CreateTokenRequest{Party: "bank", User: "u-reviewer"}}, "only for yourself"},
	} {
		if e := f.refused("analyst", c.attempt, 403); e.Code != "" && !strings.Contains(e.Message, c.need) {
			t.Errorf("%s: refused with %q, want it to name %q", c.name, e.Message, c.need)
		}
	}

	// Grants the analyst makes for itself.
	_, own, _ := ed25519.GenerateKey(nil)
	all := cleanroom.Roles
	stmt := func(party, user, room string) cleanroom.GrantStatement {
		return cleanroom.GrantStatement{Type: cleanroom.GrantType, Server: f.srv.ServerID(), Party: party, User: user, Room: room,
			Roles: all, IssuedAt: f.now.Add(time.Minute), ExpiresAt: f.now.Add(time.Hour)}
	}
	edited := signedBy(t, f.keys["bank"], cleanroom.GrantStatement{Type: cleanroom.GrantType, Server: f.srv.ServerID(), Party: "bank",
		User: "u-analyst", Room: "r1", Roles: []cleanroom.Role{cleanroom.RoleAnalyst}, IssuedAt: f.now.Add(time.Minute), ExpiresAt: f.now.Add(time.Hour)})
	edited.Statement = json.RawMessage(strings.Replace(string(edited.Statement), `"roles":["analyst"]`, `"roles":["analyst","provider","receiver","reviewer","payer"]`, 1))
	if !strings.Contains(string(edited.Statement), `"provider"`) {
		t.Fatalf("the edit did not apply to %s", edited.Statement)
	}
	repeated := signedBy(t, f.keys["bank"], cleanroom.GrantStatement{Type: cleanroom.GrantType, Server: f.srv.ServerID(), Party: "bank",
		User: "u-analyst", Room: "r1", Roles: []cleanroom.Role{cleanroom.RoleAnalyst}, IssuedAt: f.now.Add(time.Minute), ExpiresAt: f.now.Add(time.Hour)})
	repeated.Statement = json.RawMessage(strings.Replace(string(repeated.Statement), `{`, `{"roles":["analyst","provider","receiver","reviewer","payer"],`, 1))
	otherServer := stmt("bank", "u-analyst", "r1")
	otherServer.Server = "SHA256:another-server"
	for _, c := range []struct {
		attempt
		status int
		want   string
	}{
		{attempt{"a grant signed with its own key", "POST", "/api/v1/parties/bank/grants", signedBy(t, own, stmt("bank", "u-analyst", "r1"))}, 400, "does not verify"},
		{attempt{"a grant signed by the operator", "POST", "/api/v1/parties/bank/grants", signedBy(t, f.keys["operator"], stmt("bank", "u-analyst", "r1"))}, 400, "does not verify"},
		{attempt{"the bank's grant with roles added", "POST", "/api/v1/parties/bank/grants", edited}, 400, "does not verify"},
		{attempt{"the bank's grant with a repeated roles key", "POST", "/api/v1/parties/bank/grants", repeated}, 400, "does not verify"},
		{attempt{"the operator's grant through the operator's path", "POST", "/api/v1/parties/operator/grants", signedBy(t, f.keys["operator"], stmt("operator", "u-analyst", "r1"))}, 404, `party "operator" not found`},
		{attempt{"a bank grant naming an operator user", "POST", "/api/v1/parties/bank/grants", signedBy(t, f.keys["bank"], stmt("operator", "oona", "r1"))}, 400, "is by party \"operator\""},
		{attempt{"a grant for a room the bank is not in", "POST", "/api/v1/parties/bank/grants", signedBy(t, f.keys["bank"], stmt("bank", "u-analyst", "r2"))}, 404, "not invited to room \"r2\""},
		{attempt{"a grant made for another server", "POST", "/api/v1/parties/bank/grants", signedBy(t, f.keys["bank"], otherServer)}, 400, "another room server"},
	} {
		if e := f.refused("analyst", c.attempt, c.status); e.Code != "" && !strings.Contains(e.Message, c.want) {
			t.Errorf("%s: refused with %q, want it to contain %q", c.name, e.Message, c.want)
		}
	}
	status, resp := f.do("analyst", "GET", "/api/v1/whoami", nil)
	var w Whoami
	json.Unmarshal(resp, &w)
	if status != 200 || len(w.Rooms) != 1 || !slices.Equal(w.Rooms["r1"], []cleanroom.Role{cleanroom.RoleAnalyst}) {
		t.Errorf("after the attempts the analyst holds %v, want [analyst] in r1", w.Rooms)
	}
}

// TestAttackTokenReplayAfterRevocation: a token revoked by its owner or by
// the admin is replayed on every kind of route, including the ones that
// would mint or revoke tokens, and a user whose grant the party revoked
// replays the older grant. The tokens are refused exactly like a made-up
// token (cleanroom.Token.ActiveAt, checked on every request); the grant is
// refused as older than the revocation (cleanroom.CheckGrant), and the
// user is no member of the room any more.
func TestAttackTokenReplayAfterRevocation(t *testing.T) {
	f := newFixture(t)
	status, resp := f.do("analyst", "POST", "/api/v1/tokens", CreateTokenRequest{Party: "bank", User: "u-analyst", Description: "laptop"})
	if status != 201 {
		t.Fatalf("create a token = %d %s", status, resp)
	}
	var laptop TokenCreated
	json.Unmarshal(resp, &laptop)
	f.tokens["laptop"], f.ids["laptop"] = laptop.Secret, laptop.ID
	f.tokens["made-up"], _ = func() (string, string) { id, secret := cleanroom.NewTokenSecret(); return secret, id }()
	if status, _ := f.do("laptop", "GET", "/api/v1/rooms/r1/datasets", nil); status != 200 {
		t.Fatalf("the new token reads datasets = %d", status)
	}
	if status, resp := f.do("laptop", "DELETE", "/api/v1/tokens/"+laptop.ID, nil); status != 200 {
		t.Fatalf("the owner revokes it = %d %s", status, resp)
	}
	if status, resp := f.do("admin", "DELETE", "/api/v1/tokens/"+f.ids["receiver"], nil); status != 200 {
		t.Fatalf("the admin revokes the receiver's token = %d %s", status, resp)
	}
	replays := []attempt{
		{"whoami", "GET", "/api/v1/whoami", nil},
		{"list datasets", "GET", "/api/v1/rooms/r1/datasets", nil},
		{"read the audit log", "GET", "/api/v1/rooms/r1/audit", nil},
		{"propose a template", "POST", "/api/v1/rooms/r1/templates", ProposeTemplateRequest{YAML: testTemplate}},
		{"mint a fresh token", "POST", "/api/v1/tokens", CreateTokenRequest{Party: "bank", User: "u-analyst"}},
		{"list its tokens", "GET", "/api/v1/tokens", nil},
		{"revoke the owner's other token", "DELETE", "/api/v1/tokens/" + f.ids["analyst"], nil},
		{"submit a grant", "POST", "/api/v1/parties/bank/grants", f.grant("bank", "bank", "u-analyst", "r1", cleanroom.RoleAnalyst)},
	}
	for _, a := range replays {
		want := f.refused("made-up", a, 401)
		for _, who := range []string{"laptop", "receiver"} {
			if got := f.refused(who, a, 401); got != want {
				t.Errorf("%s with %s's revoked token: %+v, a made-up token gets %+v", a.name, who, got, want)
			}
		}
	}
	if status, _ := f.do("analyst", "GET", "/api/v1/rooms/r1/datasets", nil); status != 200 {
		t.Errorf("the analyst's other token stopped working: %d", status)
	}

	// The bank revokes u-reviewer's roles; u-reviewer replays its grant.
	old := f.grant("bank", "bank", "u-reviewer", "r1", cleanroom.RoleReviewer) // as issued at the fixture's start
	f.now = f.now.Add(time.Minute)
	if status, resp := f.do("reviewer", "POST", "/api/v1/parties/bank/grants", f.grant("bank", "bank", "u-reviewer", "r1")); status != 201 {
		t.Fatalf("revoke = %d %s", status, resp)
	}
	f.refused("reviewer", attempt{"read r1 after the revocation", "GET", "/api/v1/rooms/r1", nil}, 404)
	backdated := cleanroom.GrantStatement{Type: cleanroom.GrantType, Server: f.srv.ServerID(), Party: "bank", User: "u-reviewer", Room: "r1",
		Roles: []cleanroom.Role{cleanroom.RoleReviewer}, IssuedAt: f.now, ExpiresAt: f.now.Add(time.Hour)} // issued with the revocation
	for _, g := range []attempt{
		{"replay the grant in force before", "POST", "/api/v1/parties/bank/grants", old},
		{"replay a grant issued with the revocation", "POST", "/api/v1/parties/bank/grants", signedBy(t, f.keys["bank"], backdated)},
	} {
		if e := f.refused("reviewer", g, 409); e.Code != "" && !strings.Contains(e.Message, "newer grant") {
			t.Errorf("%s: refused with %q", g.name, e.Message)
		}
	}
	f.refused("reviewer", attempt{"read r1 after the replays", "GET", "/api/v1/rooms/r1", nil}, 404)
}

// tree lists every file and directory under dir with its size, except
// the database's own files, whose size changes with every audit entry.
func tree(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if strings.Contains(filepath.Base(path), "cleanroom.db") {
			return nil
		}
		var size int64
		if info, err := d.Info(); err == nil && !d.IsDir() {
			size = info.Size()
		}
		out[path] = size
		return nil
	})
	return out
}

// TestAttackPathAndParameterInjection: names and parameters crafted to
// escape — path traversal (.., %2e%2e, encoded slashes, NUL) in room,
// dataset, upload, query, template, token and party names; SQL in names,
// template parameters and template fields; oversized bodies, names and
// values; unknown fields (raw SQL passed beside a template) and repeated
// keys. Every request is refused with a 4xx (or, for a path with a
// literal "..", redirected to its cleaned form, which is then authorized
// like any path), nothing is added to the database and no file appears or
// changes anywhere under the test's directories. The defences: names are
// checked against one pattern before use (cleanroom.ValidateName),
// objects are looked up by bound parameters and files named only from
// server-made IDs (internal/sqlite, Server.chunkPath), template
// parameters are parsed into typed values (template.Bind), bodies are one
// JSON object of known fields within a limit (decodeJSON). Which roles
// reach which route is TestAuthorizationMatrix's, which also fails for a
// route without an entry.
func TestAttackPathAndParameterInjection(t *testing.T) {
	f := newFixture(t)
	f.queryReady("  receivers: [bank]\n")
	// An approved template with an enum parameter.
	yaml := strings.Replace(testTemplate, "join: [bank-customers]", "join: [bank-customers, op-subs]\nparameters:\n  tier: {type: enum, values: [basic, premium]}\nwhere:\n  - bank-customers.tier = $tier", 1)
	yaml = strings.Replace(yaml, "name: tiers", "name: tiers-b", 1)
	status, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/templates", ProposeTemplateRequest{YAML: yaml})
	if status != 201 {
		t.Fatalf("propose = %d %s", status, resp)
	}
	var tb TemplateBody
	json.Unmarshal(resp, &tb)
	if status, resp := f.do("provider", "POST", "/api/v1/rooms/r1/templates/tiers-b/approvals", f.approval("bank", tb)); status != 200 {
		t.Fatalf("bank approval = %d %s", status, resp)
	}
	raw, _ := json.Marshal(f.approval("operator", tb))
	f.db.Update(t.Context(), func(tx *sqlite.Tx) error {
		if err := tx.PutApproval("r1", "tiers-b", 1, "operator", raw); err != nil {
			return err
		}
		return tx.SetTemplateState("r1", "tiers-b", 1, string(cleanroom.TemplateApproved))
	})

	root := filepath.Dir(filepath.Dir(f.uploadDir)) // every directory of the fixture
	files := tree(t, root)
	rows := f.rowCounts()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(who, method, path string, body []byte) (int, string, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, f.http.URL+path, strings.NewReader(string(body)))
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		req.Header.Set("Authorization", "Bearer "+f.tokens[who])
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		out := make([]byte, 4096)
		n, _ := res.Body.Read(out)
		return res.StatusCode, res.Header.Get("Location"), out[:n]
	}
	// refusedOrCleaned sends a request and follows a redirect to its
	// cleaned path, which must stay in the API; it returns the final
	// status, which must be a 4xx unless the request was redirected (a
	// cleaned path is a path like any other, authorized as such).
	refusedOrCleaned := func(who, method, path string, body []byte) int {
		t.Helper()
		status, loc, resp := send(who, method, path, body)
		switch {
		case status == http.StatusTemporaryRedirect || status == http.StatusPermanentRedirect:
			u, err := url.Parse(loc)
			if err != nil || strings.Contains(u.Path, "..") || !strings.HasPrefix(u.Path+"/", "/api/v1/") {
				t.Errorf("%s %s as %s redirects to %q", method, path, who, loc)
				return 0
			}
			status, _, _ = send(who, method, u.RequestURI(), body)
			return status
		case status < 400 || status >= 500:
			t.Errorf("%s %s as %s = %d %s, want a 4xx", method, path, who, status, resp)
		}
		return status
	}

	traversal := []string{"..", "%2e%2e", "..%2f..%2fr2", "%2e%2e%2f%2e%2e%2fkeys", "..%5c..%5ckeys", "r1%2f..%2fr2", "r1%00", "%00", "r1%00.db",
		"r1'%20OR%20'1'%3D'1", "r1%22%3B%20DROP%20TABLE%20rooms%3B--", strings.Repeat("a", 5000), "R1", "r1%0a", "%252e%252e"}
	for _, x := range traversal {
		for _, c := range []struct{ who, method, path string }{
			{"analyst", "GET", "/api/v1/rooms/" + x},
			{"analyst", "GET", "/api/v1/rooms/" + x + "/audit"},
			{"analyst", "GET", "/api/v1/rooms/r1/datasets/" + x},
			{"provider", "POST", "/api/v1/rooms/r1/datasets/" + x + "/uploads"},
			{"provider", "PUT", "/api/v1/rooms/r1/datasets/bank-customers/uploads/" + x + "/chunks/0"},
			{"provider", "PUT", "/api/v1/rooms/r1/datasets/bank-customers/uploads/up1/chunks/" + x},
			{"provider", "POST", "/api/v1/rooms/r1/datasets/bank-customers/uploads/" + x + "/commit"},
			{"provider", "DELETE", "/api/v1/rooms/r1/datasets/bank-customers/uploads/" + x},
			{"analyst", "GET", "/api/v1/rooms/r1/queries/" + x},
			{"analyst", "GET", "/api/v1/rooms/r1/queries/" + x + "/opened"},
			{"analyst", "GET", "/api/v1/rooms/r1/templates/" + x},
			{"analyst", "GET", "/api/v1/rooms/r1/matches/" + x},
			{"analyst", "GET", "/api/v1/rooms/r1/duas/" + x},
			{"analyst", "GET", "/api/v1/parties/" + x},
			{"analyst", "DELETE", "/api/v1/tokens/" + x},
			{"analyst", "GET", "/api/v1/rooms/r1/audit/receipt?seq=" + x},
			{"analyst", "GET", "/api/v1/rooms/r1/audit?after=" + x},
		} {
			var body []byte
			if c.method == "PUT" {
				body = []byte("sealed bytes")
			}
			refusedOrCleaned(c.who, c.method, c.path, body)
		}
	}
	for _, p := range []string{
		"/api/v1/rooms/r1/datasets/../../r2/datasets",
		"/api/v1/rooms/r1/datasets/bank-customers/uploads/../../../../r2/datasets/other/uploads/up1/chunks/0",
		"/api/v1/rooms/r1/../r2/audit",
	} {
		for _, method := range []string{"GET", "PUT"} {
			if status := refusedOrCleaned("provider", method, p, []byte("sealed bytes")); status != 404 && status != 405 {
				t.Errorf("%s %s as r1's provider ends in %d, want r2 not found", method, p, status)
			}
		}
	}

	// Names, bodies and parameters.
	big := strings.Repeat("x", MaxBodyBytes+1)
	for _, c := range []struct {
		who, method, path, body string
		status                  int
	}{
		{"admin", "POST", "/api/v1/rooms", `{"name":"../../etc","host":"neutral"}`, 400},
		{"admin", "POST", "/api/v1/rooms", `{"name":"r9\u0000","host":"neutral"}`, 400},
		{"admin", "POST", "/api/v1/rooms", `{"name":"r9'; DROP TABLE rooms; --","host":"neutral"}`, 400},
		{"admin", "POST", "/api/v1/rooms", `{"name":"r9","host":"neutral","parties":["bank' OR '1'='1"]}`, 400},
		{"admin", "POST", "/api/v1/rooms", `{"name":"` + strings.Repeat("r", 64) + `","host":"neutral"}`, 400},
		{"admin", "POST", "/api/v1/parties", `{"name":"../keys","signing_key":"` + cleanroom.EncodeKey(make([]byte, 32)) + `"}`, 400},
		{"admin", "POST", "/api/v1/tokens", `{"party":"bank","user":"../../u"}`, 400},
		{"admin", "POST", "/api/v1/tokens", `{"party":"bank'--","user":"u"}`, 400},
		{"provider", "POST", "/api/v1/rooms/r1/datasets", `{"name":"../../keys","schema":` + testSchema + `}`, 400},
		{"provider", "POST", "/api/v1/rooms/r1/datasets", `{"name":"ds","schema":` + strings.Replace(testSchema, `"column":"tier"`, `"column":"tier\"; DROP TABLE datasets; --"`, 1) + `}`, 400},
		{"provider", "POST", "/api/v1/rooms/r1/datasets", `{"name":"ds","schema":` + testSchema + `,"name":"../../keys"}`, 400}, // the last of a repeated key is the one checked and used
		{"provider", "POST", "/api/v1/rooms/r1/datasets", `{"name":"ds","schema":` + testSchema + `,"path":"/etc/passwd"}`, 400},
		{"provider", "POST", "/api/v1/rooms/r1/datasets", `{"name":"` + big + `"}`, 413},
		{"provider", "PUT", "/api/v1/rooms/r1/datasets/bank-customers/uploads/up1/chunks/-1", "sealed", 400},
		{"provider", "PUT", "/api/v1/rooms/r1/datasets/bank-customers/uploads/up1/chunks/99999999999", "sealed", 400},
		{"analyst", "POST", "/api/v1/rooms/r1/templates", `{"yaml":"name: ../../x\njoin: [bank-customers]\nmetrics:\n  - people: count_distinct_person\n"}`, 400},
		{"analyst", "POST", "/api/v1/rooms/r1/templates", `{"yaml":` + jsonString(strings.Replace(testTemplate, "bank-customers.tier", "bank-customers.tier; DROP TABLE queries", 1)) + `}`, 400},
		{"analyst", "POST", "/api/v1/rooms/r1/queries", `{"template":"tiers","sql":"SELECT * FROM room_people"}`, 400},
		{"analyst", "POST", "/api/v1/rooms/r1/queries", `{"template":"tiers-b","params":{"tier":"premium' OR '1'='1"}}`, 400},
		{"analyst", "POST", "/api/v1/rooms/r1/queries", `{"template":"tiers-b","params":{"tier":"premium\u0000"}}`, 400},
		{"analyst", "POST", "/api/v1/rooms/r1/queries", `{"template":"tiers-b","params":{"tier":"premium; DROP TABLE dp_charges; --"}}`, 400},
		{"analyst", "POST", "/api/v1/rooms/r1/queries", `{"template":"tiers-b","params":{"tier":"` + strings.Repeat("p", 100000) + `"}}`, 400},
		{"analyst", "POST", "/api/v1/rooms/r1/queries", `{"template":"tiers-b","params":{"tier":"premium","extra":"1=1"}}`, 400},
		{"analyst", "POST", "/api/v1/rooms/r1/queries", `{"template":"tiers-b"}`, 400},
		{"analyst", "POST", "/api/v1/rooms/r1/queries", `{"template":"../tiers-b","params":{"tier":"premium"}}`, 404},
		{"analyst", "POST", "/api/v1/rooms/r1/queries", `{"template":"tiers-b","params":{"tier":"premium"},"params":{"tier":"x' OR 1=1"}}`, 400},
		{"reviewer", "POST", "/api/v1/rooms/r1/incidents/1/triage", `{"verdict":"false_positive","note":"` + strings.Repeat("n", 3000) + `"}`, 400},
		{"analyst", "GET", "/api/v1/rooms/r1/audit?limit=100000", "", 400},
	} {
		status, _, resp := send(c.who, c.method, c.path, []byte(c.body))
		if status != c.status {
			t.Errorf("%s %s %.80s as %s = %d %s, want %d", c.method, c.path, c.body, c.who, status, resp, c.status)
		}
	}
	// A parameter bound as a value: the run with a well-formed value works.
	if status, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/queries", RunQueryRequest{Template: "tiers-b", Params: map[string]string{"tier": "premium"}}); status != 201 {
		t.Errorf("a well-formed run = %d %s", status, resp)
	}
	after := f.rowCounts()
	for table, n := range after {
		if table == "audit_log" || table == "queries" || strings.HasPrefix(table, "dp_") || strings.HasPrefix(table, "billing") || table == "query_sealed" {
			continue // the well-formed run's
		}
		if n != rows[table] {
			t.Errorf("table %s: %d rows after the attempts, %d before", table, n, rows[table])
		}
	}
	if after["queries"] != rows["queries"]+1 {
		t.Errorf("%d query runs recorded, want the well-formed one only", after["queries"]-rows["queries"])
	}
	now := tree(t, root)
	for path, size := range now {
		if old, ok := files[path]; !ok {
			t.Errorf("the attempts created %s", path)
		} else if old != size && !strings.HasPrefix(path, f.vaultDir) {
			t.Errorf("the attempts changed %s (%d -> %d bytes)", path, old, size)
		}
	}
	for path := range files {
		if _, ok := now[path]; !ok {
			t.Errorf("the attempts removed %s", path)
		}
	}
	var names []string
	f.db.View(t.Context(), func(tx *sqlite.Tx) error {
		rs, err := tx.Rooms()
		for _, r := range rs {
			names = append(names, r.Name)
		}
		return err
	})
	if !slices.Equal(names, []string{"r1", "r2"}) {
		t.Errorf("rooms after the attempts: %v", names)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
