package httpapi

import (
	"crypto/ed25519"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
)

// request is how the matrix calls one route: its concrete path and body.
type request struct {
	path string
	body func(f *fixture, who string) any
}

// matrix gives, for every route, the request to send and the status each
// principal must get. A route without an entry fails TestAuthorizationMatrix.
var matrix = map[string]struct {
	req  request
	want map[string]int
}{
	"GET /healthz":             {request{path: "/healthz"}, all(200)},
	"GET /api/v1/openapi.json": {request{path: "/api/v1/openapi.json"}, all(200)},
	"GET /api/v1/server":       {request{path: "/api/v1/server"}, all(200)},
	"GET /api/v1/whoami":       {request{path: "/api/v1/whoami"}, authed(200, 200, 200, 200)},

	"POST /api/v1/parties": {request{path: "/api/v1/parties", body: func(f *fixture, who string) any {
		pub := f.keys["late"].Public().(ed25519.PublicKey)
		return CreatePartyRequest{Name: "new-" + who, SigningKey: cleanroom.EncodeKey(pub)}
	}}, authed(201, 403, 403, 403)},
	"GET /api/v1/parties":         {request{path: "/api/v1/parties"}, authed(200, 200, 200, 403)},
	"GET /api/v1/parties/{party}": {request{path: "/api/v1/parties/bank"}, authed(200, 200, 404, 403)},
	"POST /api/v1/parties/{party}/grants": {request{path: "/api/v1/parties/bank/grants", body: func(f *fixture, who string) any {
		return f.grant("bank", "bank", "fresh", "r1", cleanroom.RoleAnalyst)
	}}, authed(201, 201, 404, 201)},
	"GET /api/v1/parties/{party}/grants": {request{path: "/api/v1/parties/bank/grants"}, authed(200, 200, 404, 403)},

	"POST /api/v1/tokens": {request{path: "/api/v1/tokens", body: func(f *fixture, who string) any {
		return CreateTokenRequest{Party: "bank", User: "u-analyst", TTL: "1h"}
	}}, with(authed(201, 403, 403, 403), "analyst", 201)},
	"GET /api/v1/tokens": {request{path: "/api/v1/tokens"}, authed(200, 200, 200, 200)},
	"DELETE /api/v1/tokens/{id}": {request{path: "/api/v1/tokens/{analyst}"},
		with(authed(200, 404, 404, 404), "analyst", 200)},

	"POST /api/v1/rooms": {request{path: "/api/v1/rooms", body: func(f *fixture, who string) any {
		return CreateRoomRequest{Name: "room-" + who, Host: "neutral", Parties: []string{"late"}}
	}}, authed(201, 403, 403, 403)},
	"GET /api/v1/rooms":        {request{path: "/api/v1/rooms"}, authed(200, 200, 200, 403)},
	"GET /api/v1/rooms/{room}": {request{path: "/api/v1/rooms/r1"}, authed(200, 200, 404, 404)},
	"POST /api/v1/rooms/{room}/parties": {request{path: "/api/v1/rooms/r1/parties", body: func(f *fixture, who string) any {
		return InviteRequest{Party: "late"}
	}}, authed(200, 403, 404, 404)},
	"GET /api/v1/rooms/{room}/audit":            {request{path: "/api/v1/rooms/r1/audit"}, authed(403, 200, 404, 404)},
	"GET /api/v1/rooms/{room}/audit/checkpoint": {request{path: "/api/v1/rooms/r1/audit/checkpoint?old=0"}, authed(403, 200, 404, 404)},
	"GET /api/v1/audit":                         {request{path: "/api/v1/audit"}, authed(200, 403, 403, 403)},
	"POST /api/v1/rooms/{room}/audit/cosignatures": {request{path: "/api/v1/rooms/r1/audit/cosignatures", body: func(f *fixture, who string) any {
		return f.cosignature("bank")
	}}, authed(403, 201, 404, 404)},
	"GET /api/v1/rooms/{room}/audit/receipt": {request{path: "/api/v1/rooms/r1/audit/receipt?seq={entry}", body: func(f *fixture, who string) any {
		f.do("outsider", "GET", "/api/v1/rooms/r1/datasets", nil) // an entry in r1
		f.ids["entry"] = strconv.FormatInt(f.lastAudit().Seq, 10)
		return nil
	}}, authed(403, 200, 404, 404)},

	"POST /api/v1/rooms/{room}/datasets": {request{path: "/api/v1/rooms/r1/datasets", body: func(f *fixture, who string) any {
		return CreateDatasetRequest{Name: "ds-" + who, Schema: []byte(testSchema)}
	}}, with(authed(403, 403, 404, 404), "provider", 201)},
	"GET /api/v1/rooms/{room}/datasets":           {request{path: "/api/v1/rooms/r1/datasets"}, authed(403, 200, 404, 404)},
	"GET /api/v1/rooms/{room}/datasets/{dataset}": {request{path: "/api/v1/rooms/r1/datasets/bank-customers"}, authed(403, 200, 404, 404)},
	"POST /api/v1/rooms/{room}/datasets/{dataset}/uploads": {request{path: "/api/v1/rooms/r1/datasets/bank-customers/uploads"},
		with(authed(403, 403, 404, 404), "provider", 201)},
	"PUT /api/v1/rooms/{room}/datasets/{dataset}/uploads/{upload}/chunks/{index}": {request{
		path: "/api/v1/rooms/r1/datasets/bank-customers/uploads/up1/chunks/0", body: func(f *fixture, who string) any { return []byte("sealed bytes") }},
		with(authed(403, 403, 404, 404), "provider", 200)},
	"POST /api/v1/rooms/{room}/datasets/{dataset}/uploads/{upload}/commit": {request{
		path: "/api/v1/rooms/r1/datasets/bank-customers/uploads/up1/commit", body: func(f *fixture, who string) any { return f.stageUpload("up1", 1) }},
		with(authed(403, 403, 404, 404), "provider", 201)},
	"POST /api/v1/rooms/{room}/matches": {request{path: "/api/v1/rooms/r1/matches", body: func(f *fixture, who string) any {
		f.matchData()
		return nil
	}}, with(authed(403, 403, 404, 404), "provider", 201)},
	"GET /api/v1/rooms/{room}/matches/{match}": {request{path: "/api/v1/rooms/r1/matches/{match}", body: func(f *fixture, who string) any {
		f.matchReady()
		return nil
	}}, authed(403, 200, 404, 404)},
	"GET /api/v1/rooms/{room}/agent/jobs": {request{path: "/api/v1/rooms/r1/agent/jobs"}, with(authed(403, 403, 404, 404), "provider", 200)},
	"GET /api/v1/rooms/{room}/agent/jobs/{job}": {request{path: "/api/v1/rooms/r1/agent/jobs/{job}", body: func(f *fixture, who string) any {
		f.matchReady()
		return nil
	}}, with(authed(403, 403, 404, 404), "provider", 200)},
	"POST /api/v1/rooms/{room}/agent/jobs/{job}/result": {request{path: "/api/v1/rooms/r1/agent/jobs/{job}/result", body: func(f *fixture, who string) any {
		return f.jobResult()
	}}, with(authed(403, 403, 404, 404), "provider", 200)},
	"PUT /api/v1/rooms/{room}/agent/key": {request{path: "/api/v1/rooms/r1/agent/key", body: func(f *fixture, who string) any {
		return f.agentKey("bank")
	}}, with(with(with(authed(403, 403, 404, 404), "provider", 200), "receiver", 200), "reviewer", 200)},
	"GET /api/v1/rooms/{room}/queries/{query}/opened": {request{path: "/api/v1/rooms/r1/queries/{query}/opened", body: func(f *fixture, who string) any {
		f.queryReady("  receivers: [bank]\n")
		f.runQuery()
		if who == "receiver" {
			f.openAsAgent("bank")
		}
		return nil
	}}, with(authed(403, 403, 404, 404), "receiver", 200)},
	"GET /api/v1/rooms/{room}/agent/opening": {request{path: "/api/v1/rooms/r1/agent/opening?wait=0s"},
		with(with(with(authed(403, 403, 404, 404), "provider", 200), "receiver", 200), "reviewer", 200)},
	"POST /api/v1/rooms/{room}/agent/opening/{request}": {request{path: "/api/v1/rooms/r1/agent/opening/{opening}", body: func(f *fixture, who string) any {
		task := &scoringTask{room: "r1", party: "bank", id: "open-1", result: make(chan scoringAnswer, 1), job: OpeningJob{ID: "open-1"}}
		f.srv.opening.push(task)
		f.srv.opening.take(f.t.Context(), "r1", "bank", 0)
		f.ids["opening"] = "open-1"
		return OpeningResult{Refused: "a test refusal"}
	}}, with(with(with(authed(403, 403, 404, 404), "provider", 200), "receiver", 200), "reviewer", 200)},
	"POST /api/v1/rooms/{room}/approvals": {request{path: "/api/v1/rooms/r1/approvals", body: func(f *fixture, who string) any {
		in := NewApprovalIntent(f.srv.ServerID(), "r1", "bank", "u-"+who, ApproveTemplate, "tiers", 1, "d1", f.now)
		if who == "provider" {
			f.signAsAgent("bank")
		} else {
			// No agent answers the other members' approvals.
			old := approvalTimeout
			approvalTimeout = 50 * time.Millisecond
			f.t.Cleanup(func() { approvalTimeout = old })
		}
		return ApprovalRequest{Intent: in, IDToken: "a-token"}
	}}, with(authed(403, 503, 404, 404), "provider", 200)},
	"GET /api/v1/rooms/{room}/agent/approvals": {request{path: "/api/v1/rooms/r1/agent/approvals?wait=0s"},
		with(with(with(authed(403, 403, 404, 404), "provider", 200), "receiver", 200), "reviewer", 200)},
	"POST /api/v1/rooms/{room}/agent/approvals/{request}": {request{path: "/api/v1/rooms/r1/agent/approvals/{approval}", body: func(f *fixture, who string) any {
		task := &scoringTask{room: "r1", party: "bank", id: "appr-1", result: make(chan scoringAnswer, 1), job: ApprovalJob{ID: "appr-1"}}
		f.srv.approving.push(task)
		f.srv.approving.take(f.t.Context(), "r1", "bank", 0)
		f.ids["approval"] = "appr-1"
		return ApprovalAnswer{Refused: "a test refusal"}
	}}, with(with(with(authed(403, 403, 404, 404), "provider", 200), "receiver", 200), "reviewer", 200)},
	"GET /api/v1/rooms/{room}/matches":    {request{path: "/api/v1/rooms/r1/matches"}, authed(403, 200, 404, 404)},
	"GET /api/v1/rooms/{room}/agent/keys": {request{path: "/api/v1/rooms/r1/agent/keys"}, authed(403, 200, 404, 404)},
	"GET /api/v1/rooms/{room}/hmac": {request{path: "/api/v1/rooms/r1/hmac", body: func(f *fixture, who string) any {
		f.hmacRoom()
		return nil
	}}, with(authed(403, 403, 404, 404), "provider", 200)},
	"POST /api/v1/rooms/{room}/hmac": {request{path: "/api/v1/rooms/r1/hmac", body: func(f *fixture, who string) any {
		f.hmacRoom()
		return f.hmacCreate("bank")
	}}, with(authed(403, 403, 404, 404), "provider", 200)},
	"POST /api/v1/rooms/{room}/templates": {request{path: "/api/v1/rooms/r1/templates", body: func(f *fixture, who string) any {
		return ProposeTemplateRequest{YAML: testTemplate}
	}}, with(with(authed(403, 403, 404, 404), "analyst", 201), "provider", 201)},
	"GET /api/v1/rooms/{room}/templates": {request{path: "/api/v1/rooms/r1/templates"}, authed(403, 200, 404, 404)},
	"GET /api/v1/rooms/{room}/templates/{template}": {request{path: "/api/v1/rooms/r1/templates/tiers", body: func(f *fixture, who string) any {
		f.proposeTemplate()
		return nil
	}}, authed(403, 200, 404, 404)},
	"POST /api/v1/rooms/{room}/templates/{template}/approvals": {request{path: "/api/v1/rooms/r1/templates/tiers/approvals", body: func(f *fixture, who string) any {
		return f.approval("bank", f.proposeTemplate())
	}}, with(authed(403, 403, 404, 404), "provider", 200)},
	"POST /api/v1/rooms/{room}/templates/{template}/retire": {request{path: "/api/v1/rooms/r1/templates/tiers/retire", body: func(f *fixture, who string) any {
		f.proposeTemplate()
		return RetireRequest{Version: 1}
	}}, with(authed(403, 403, 404, 404), "provider", 200)},
	"POST /api/v1/rooms/{room}/queries": {request{path: "/api/v1/rooms/r1/queries", body: func(f *fixture, who string) any {
		f.queryReady("  receivers: [bank]\n")
		return RunQueryRequest{Template: "tiers"}
	}}, with(authed(403, 403, 404, 404), "analyst", 201)},
	"GET /api/v1/rooms/{room}/queries": {request{path: "/api/v1/rooms/r1/queries"}, authed(403, 200, 404, 404)},
	"POST /api/v1/rooms/{room}/queries/explain": {request{path: "/api/v1/rooms/r1/queries/explain", body: func(f *fixture, who string) any {
		f.queryReady("  receivers: [bank]\n")
		return RunQueryRequest{Template: "tiers"}
	}}, authed(403, 200, 404, 404)},
	"GET /api/v1/rooms/{room}/queries/{query}": {request{path: "/api/v1/rooms/r1/queries/{query}", body: func(f *fixture, who string) any {
		f.queryReady("  receivers: [bank]\n")
		f.runQuery()
		return nil
	}}, authed(403, 200, 404, 404)},
	"POST /api/v1/rooms/{room}/queries/{query}/review": {request{path: "/api/v1/rooms/r1/queries/{query}/review", body: func(f *fixture, who string) any {
		f.queryReady("  receivers: [bank]\n  review_by: [bank]\n")
		f.runQuery()
		return ReviewRequest{Decision: "approve"}
	}}, with(authed(403, 403, 404, 404), "reviewer", 200)},
	"GET /api/v1/rooms/{room}/incidents": {request{path: "/api/v1/rooms/r1/incidents"}, authed(403, 200, 404, 404)},
	"POST /api/v1/rooms/{room}/incidents/{seq}/triage": {request{path: "/api/v1/rooms/r1/incidents/{incident}/triage", body: func(f *fixture, who string) any {
		f.do("outsider", "GET", "/api/v1/rooms/r1/datasets", nil) // an incident in r1
		f.ids["incident"] = strconv.FormatInt(f.lastAudit().Seq, 10)
		return TriageRequest{Verdict: "false_positive", Note: "a user typed the wrong room"}
	}}, with(authed(403, 403, 404, 404), "reviewer", 200)},
	"POST /api/v1/rooms/{room}/duas": {request{path: "/api/v1/rooms/r1/duas", body: func(f *fixture, who string) any {
		return f.testDUA("r1", 0, "bank", "operator")
	}}, authed(403, 201, 404, 404)},
	"GET /api/v1/rooms/{room}/duas":           {request{path: "/api/v1/rooms/r1/duas"}, authed(403, 200, 404, 404)},
	"GET /api/v1/rooms/{room}/duas/{version}": {request{path: "/api/v1/rooms/r1/duas/1"}, authed(403, 200, 404, 404)},
	"POST /api/v1/rooms/{room}/duas/{version}/signatures": {request{path: "/api/v1/rooms/r1/duas/2/signatures", body: func(f *fixture, who string) any {
		return f.draftSignedBy("operator", "bank")
	}}, authed(403, 200, 404, 404)},
	"POST /api/v1/rooms/{room}/duas/{version}/termination": {request{path: "/api/v1/rooms/r1/duas/1/termination", body: func(f *fixture, who string) any {
		return f.termination("bank", 1)
	}}, authed(403, 200, 404, 404)},
	"POST /api/v1/rooms/{room}/scores": {request{path: "/api/v1/rooms/r1/scores", body: func(f *fixture, who string) any {
		if who != "analyst" {
			// Refused before the model is looked up.
			return ScoreRequest{Model: "m", Token: "x"}
		}
		r := scoringRoomOn(f, 400, scoringYAML(100, ""), true)
		model := r.runModel()
		var answered atomic.Int64
		r.serveOperator(&answered)
		f.again = func() any { return r.scoreRequest(model, 7, "100", time.Now()) }
		return f.again()
	}}, with(authed(403, 403, 404, 404), "analyst", 200)},
	"GET /api/v1/rooms/{room}/agent/scoring": {request{path: "/api/v1/rooms/r1/agent/scoring?wait=0s"}, with(authed(403, 403, 404, 404), "provider", 200)},
	"POST /api/v1/rooms/{room}/agent/scoring/{request}": {request{path: "/api/v1/rooms/r1/agent/scoring/{scoring}", body: func(f *fixture, who string) any {
		// A request waiting for the bank's agent, taken by it.
		task := &scoringTask{room: "r1", party: "bank", id: "req-1", result: make(chan scoringAnswer, 1), job: ScoringJob{ID: "req-1"}}
		f.srv.scoring.push(task)
		f.srv.scoring.take(f.t.Context(), "r1", "bank", 0)
		f.ids["scoring"] = "req-1"
		return ScoringResult{Refused: "a test refusal"}
	}}, with(authed(403, 403, 404, 404), "provider", 200)},
	"DELETE /api/v1/rooms/{room}/datasets/{dataset}/uploads/{upload}": {request{path: "/api/v1/rooms/r1/datasets/bank-customers/uploads/up1"},
		with(authed(403, 403, 404, 404), "provider", 200)},
	"PUT /api/v1/rooms/{room}/terms": {request{path: "/api/v1/rooms/r1/terms", body: func(f *fixture, who string) any {
		return TermsRequest{Currency: "EUR", Subscription: 500000, RunPrice: 2500, Payer: "bank", Seller: "operator"}
	}}, authed(200, 403, 404, 404)},
	"GET /api/v1/rooms/{room}/terms": {request{path: "/api/v1/rooms/r1/terms"}, authed(200, 200, 404, 404)},
	"GET /api/v1/billing/ledger":     {request{path: "/api/v1/billing/ledger?quarter=2026Q4"}, authed(200, 200, 200, 403)},
	"GET /api/v1/dashboard":          {request{path: "/api/v1/dashboard?quarter=2026Q4"}, authed(200, 200, 200, 403)},
}

// all expects the same status for every principal.
func all(status int) map[string]int {
	m := map[string]int{}
	for _, p := range principals {
		m[p] = status
	}
	return m
}

// authed expects 401 without a valid token, and the given statuses for the
// admin, each member of r1 (one per role), the member of another room, and
// the user the party never granted anything.
func authed(admin, member, outsider, nogrant int) map[string]int {
	m := map[string]int{"admin": admin, "outsider": outsider, "nogrant": nogrant, "revoked": 401, "expired": 401, "none": 401}
	for _, r := range cleanroom.Roles {
		m[string(r)] = member
	}
	return m
}

func with(m map[string]int, who string, status int) map[string]int {
	m[who] = status
	return m
}

// TestAuthorizationMatrix checks every registered route for every kind of
// caller, and that each request is audited exactly as it should be: a
// successful state change, a read that hands over data or key material,
// and every refusal write one entry; other reads write none.
func TestAuthorizationMatrix(t *testing.T) {
	f0 := newFixture(t)
	seen := map[string]bool{}
	for _, rt := range f0.srv.Routes() {
		key := rt.Method + " " + rt.Pattern
		seen[key] = true
		m, ok := matrix[key]
		if !ok {
			t.Errorf("route %s has no entry in the authorization matrix", key)
			continue
		}
		for _, who := range principals {
			want, ok := m.want[who]
			if !ok {
				t.Errorf("%s: matrix has no expectation for %s", key, who)
				continue
			}
			t.Run(strings.ReplaceAll(key, "/", "_")+"/"+who, func(t *testing.T) {
				f := newFixture(t)
				var body any
				if m.req.body != nil {
					body = m.req.body(f, who)
				}
				path := f.path(m.req.path)
				before := f.counts()
				got, resp := f.do(who, rt.Method, path, body)
				if got != want {
					t.Fatalf("%s %s as %s = %d, want %d; body: %s", rt.Method, path, who, got, want, resp)
				}
				after := f.counts()
				checkAudit(t, f, rt, got, before, after, resp)
			})
		}
	}
	for key := range matrix {
		if !seen[key] {
			t.Errorf("matrix entry %s matches no registered route", key)
		}
	}
}

func checkAudit(t *testing.T, f *fixture, rt Route, status int, before, after map[string]int, resp []byte) {
	t.Helper()
	added := after["audit_log"] - before["audit_log"]
	switch {
	case rt.Action == "":
		if added != 0 {
			t.Errorf("public route wrote %d audit entries", added)
		}
	case status >= 400:
		var e ErrorBody
		if err := json.Unmarshal(resp, &e); err != nil || e.Code == "" || e.Message == "" {
			t.Errorf("refusal body %s is not {code, message, hint}", resp)
		}
		if added != 1 {
			t.Fatalf("refusal wrote %d audit entries, want 1", added)
		}
		last := f.lastAudit()
		if last.Outcome != cleanroom.OutcomeRefused || last.Action != rt.Action || last.Code != e.Code {
			t.Errorf("refusal audited as %+v, want outcome refused, action %s, code %s", last, rt.Action, e.Code)
		}
		for table, n := range after {
			if table != "audit_log" && n != before[table] {
				t.Errorf("refused request changed table %s: %d -> %d rows", table, before[table], n)
			}
		}
	case rt.Mutates || rt.Discloses:
		// Entries the room writes on its own as a consequence (a
		// termination's deletions) come after the request's own.
		own := f.auditSince(before["audit_log"])
		own = slices.DeleteFunc(own, func(e cleanroom.AuditEntry) bool { return e.Actor == "room" })
		if len(own) != 1 {
			t.Fatalf("state change or disclosure wrote %d audit entries, want 1", len(own))
		}
		last := own[0]
		if last.Outcome != cleanroom.OutcomeOK || last.Action != rt.Action || last.Actor == "" || last.Object == "" {
			t.Errorf("audited as %+v, want outcome ok, action %s, an actor and an object", last, rt.Action)
		}
	default:
		if added != 0 {
			t.Errorf("read wrote %d audit entries", added)
		}
	}
}

// TestAuthorizeCoversEveryAction makes sure the domain's action list and
// the routes agree: every action is served by a route.
func TestAuthorizeCoversEveryAction(t *testing.T) {
	f := newFixture(t)
	served := map[cleanroom.Action]bool{}
	for _, rt := range f.srv.Routes() {
		if rt.Action != "" {
			served[rt.Action] = true
		}
	}
	for _, a := range cleanroom.Actions {
		if !served[a] {
			t.Errorf("action %s has no route", a)
		}
	}
	if len(served) != len(cleanroom.Actions) {
		t.Errorf("routes name %d actions, the domain lists %d", len(served), len(cleanroom.Actions))
	}
}
