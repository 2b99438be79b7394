package httpapi

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

// fuzzRoute is one route as FuzzAPI calls it: the concrete path the
// authorization matrix gives it, the caller the matrix lets through, and
// which path segments are the pattern's wildcards.
type fuzzRoute struct {
	key, method, path, query, who string
	wildcards                     []int
	// longPoll routes wait for an agent up to ?wait=; the fuzzer's wait is
	// overridden with 0s, so a run never sleeps.
	longPoll bool
}

// fuzzCallers are tried in order for the caller of a route: the first the
// matrix expects to succeed.
var fuzzCallers = []string{"admin", "provider", "analyst", "receiver", "reviewer", "payer", "outsider"}

// fuzzAPI builds the server FuzzAPI calls: the fixture, with r1 an hmac
// room whose data is matched, "tiers" approved and one run of it waiting
// for the bank's review, an upload staged for commit and a spare token to
// revoke.
func fuzzAPI(f *testing.F) (*fixture, []fuzzRoute, map[string][]any) {
	fx := newFixture(f)
	fx.queryReady("  receivers: [bank]\n  review_by: [bank]\n")
	fx.runQuery()
	fx.do("outsider", "GET", "/api/v1/rooms/r1/datasets", nil) // an incident in r1
	seq := strconv.FormatInt(fx.lastAudit().Seq, 10)
	fx.ids["incident"], fx.ids["entry"] = seq, seq
	fx.ids["match"], fx.ids["job"] = "no-such-match", "no-such-job"
	fx.ids["opening"], fx.ids["approval"], fx.ids["scoring"] = "open-1", "appr-1", "req-1"
	err := fx.db.Update(context.Background(), func(tx *sqlite.Tx) error {
		fx.addToken(tx, "spare", cleanroom.User, "bank", "u-spare", time.Hour)
		for _, id := range []string{"up-commit", "up-stale", "up-chunk", "up-abort"} {
			if err := tx.OpenUpload(&sqlite.UploadRecord{ID: id, Room: "r1", Dataset: "bank-customers", Party: "bank", User: "u-provider", CreatedAt: fx.now}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
	// DELETE /api/v1/tokens/{analyst} revokes the spare token, not the
	// analyst's.
	fx.ids["analyst"] = fx.ids["spare"]
	// Upload up-commit has a valid payload of three rows for the version
	// its session reserved, and up-stale one for version 1, which the
	// dataset already has.
	var version int
	fx.db.View(context.Background(), func(tx *sqlite.Tx) error {
		u, err := tx.Upload("up-commit")
		if err == nil {
			version = u.Version
		}
		return err
	})
	payload, manifest := fx.testPayload("up-commit", version, 3, nil)
	chunks := fx.seal("up-commit", payload, 200)
	stale, _ := fx.testPayload("up-stale", 1, 3, nil)
	fx.seal("up-stale", stale, 200)
	// The commit seeds leave the session open, so that every input reaches
	// the payload's validation: a manifest signed by another party's key,
	// a chunk count one short.
	forged, err := statement.Sign(fx.keys["operator"], json.RawMessage(manifest.Statement))
	if err != nil {
		f.Fatal(err)
	}
	commits := []any{CommitUploadRequest{Chunks: chunks, Manifests: []statement.Envelope{forged}},
		CommitUploadRequest{Chunks: chunks - 1, Manifests: []statement.Envelope{manifest}}}

	var routes []fuzzRoute
	for _, rt := range fx.srv.Routes() {
		key := rt.Method + " " + rt.Pattern
		m, ok := matrix[key]
		if !ok {
			f.Fatalf("route %s has no entry in the authorization matrix, which gives FuzzAPI its path and caller", key)
		}
		r := fuzzRoute{key: key, method: rt.Method, longPoll: strings.Contains(m.req.path, "wait=")}
		r.path, r.query, _ = strings.Cut(fx.path(m.req.path), "?")
		switch {
		case rt.Method == "DELETE":
			r.path = strings.ReplaceAll(r.path, "/uploads/up1", "/uploads/up-abort")
		case rt.Method == "PUT":
			r.path = strings.ReplaceAll(r.path, "/uploads/up1", "/uploads/up-chunk")
		default:
			r.path = strings.ReplaceAll(r.path, "/uploads/up1", "/uploads/up-commit")
		}
		r.path = strings.ReplaceAll(r.path, "/duas/1/termination", "/duas/2/termination")
		if strings.Contains(r.path+r.query, "{") {
			f.Fatalf("route %s: FuzzAPI has no value for a placeholder of %s", key, r.path)
		}
		for _, who := range fuzzCallers {
			if s := m.want[who]; s >= 200 && s < 300 {
				r.who = who
				break
			}
		}
		if r.who == "" {
			r.who = "admin"
		}
		pat, segs := strings.Split(rt.Pattern, "/"), strings.Split(r.path, "/")
		if len(pat) != len(segs) {
			f.Fatalf("route %s: path %s does not match its pattern", key, r.path)
		}
		for i, s := range pat {
			if strings.HasPrefix(s, "{") {
				r.wildcards = append(r.wildcards, i)
			}
		}
		routes = append(routes, r)
	}
	slices.SortFunc(routes, func(a, b fuzzRoute) int { return strings.Compare(a.key, b.key) })

	tpl := TemplateBody{Template: cleanroom.Template{Name: "tiers", Version: 1}}
	fx.db.View(context.Background(), func(tx *sqlite.Tx) error {
		row, err := tx.Template("r1", "tiers", 0)
		if err == nil {
			tpl.Digest = row.Digest
		}
		return nil
	})
	draft := fx.draftSignedBy("operator", "bank")
	seeds := map[string][]any{
		"POST /api/v1/parties": {CreatePartyRequest{Name: "new", DisplayName: "New", SigningKey: cleanroom.EncodeKey(fx.keys["late"].Public().(ed25519.PublicKey))},
			`{"name":"x","signing_key":"AAAA"}`},
		"POST /api/v1/parties/{party}/grants":                                         {fx.grant("bank", "bank", "fresh", "r1", cleanroom.RoleAnalyst)},
		"POST /api/v1/tokens":                                                         {CreateTokenRequest{Party: "bank", User: "u-analyst", TTL: "1h", Description: "ci"}},
		"POST /api/v1/rooms":                                                          {CreateRoomRequest{Name: "room-new", Host: "neutral", Parties: []string{"late"}, Matching: "ecdh"}},
		"POST /api/v1/rooms/{room}/parties":                                           {InviteRequest{Party: "late"}},
		"POST /api/v1/rooms/{room}/audit/cosignatures":                                {fx.cosignature("bank")},
		"POST /api/v1/rooms/{room}/datasets":                                          {CreateDatasetRequest{Name: "ds-new", Schema: []byte(testSchema)}},
		"PUT /api/v1/rooms/{room}/datasets/{dataset}/uploads/{upload}/chunks/{index}": {[]byte("sealed bytes")},
		"POST /api/v1/rooms/{room}/datasets/{dataset}/uploads/{upload}/commit":        commits,
		"POST /api/v1/rooms/{room}/agent/jobs/{job}/result":                           {JobResult{Tokens: []string{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}}},
		"PUT /api/v1/rooms/{room}/agent/key":                                          {fx.agentKey("bank")},
		"POST /api/v1/rooms/{room}/agent/opening/{request}":                           {OpeningResult{Refused: "a test refusal"}},
		"POST /api/v1/rooms/{room}/approvals": {ApprovalRequest{Intent: NewApprovalIntent(fx.srv.ServerID(), "r1", "bank", "u-provider",
			ApproveTemplate, "tiers", 1, tpl.Digest, fx.now), IDToken: "a-token"}},
		"POST /api/v1/rooms/{room}/agent/approvals/{request}":      {ApprovalAnswer{Refused: "a test refusal"}},
		"POST /api/v1/rooms/{room}/hmac":                           {fx.hmacCreate("bank")},
		"POST /api/v1/rooms/{room}/templates":                      {ProposeTemplateRequest{YAML: testTemplate}},
		"POST /api/v1/rooms/{room}/templates/{template}/approvals": {fx.approval("bank", tpl)},
		"POST /api/v1/rooms/{room}/templates/{template}/retire":    {RetireRequest{Version: 2}},
		"POST /api/v1/rooms/{room}/queries":                        {RunQueryRequest{Template: "tiers"}, `{"template":"tiers","params":{"x":1}}`},
		"POST /api/v1/rooms/{room}/queries/explain":                {RunQueryRequest{Template: "tiers"}},
		"POST /api/v1/rooms/{room}/queries/{query}/review":         {ReviewRequest{Decision: "approve"}, ReviewRequest{Decision: "reject"}},
		"POST /api/v1/rooms/{room}/incidents/{seq}/triage":         {TriageRequest{Verdict: "false_positive", Note: "a user typed the wrong room"}},
		"POST /api/v1/rooms/{room}/duas":                           {fx.testDUA("r1", 0, "bank", "operator")},
		"POST /api/v1/rooms/{room}/duas/{version}/signatures":      {draft},
		// A termination of the draft, not of the agreement in force, which
		// would delete r1's data for the rest of the run.
		"POST /api/v1/rooms/{room}/duas/{version}/termination": {fuzzTermination(fx, 2)},
		"POST /api/v1/rooms/{room}/scores":                     {ScoreRequest{Model: "m", Token: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}},
		"POST /api/v1/rooms/{room}/agent/scoring/{request}":    {ScoringResult{Refused: "a test refusal"}},
		"PUT /api/v1/rooms/{room}/terms": {TermsRequest{Currency: "EUR", Subscription: 500000, RunPrice: 2500, Payer: "bank", Seller: "operator",
			TemplatePrices: map[string]int64{"tiers": 100}}},
	}
	return fx, routes, seeds
}

// fuzzTermination is the bank's signed termination of r1's agreement
// version.
func fuzzTermination(fx *fixture, version int) statement.Envelope {
	var digest string
	fx.db.View(context.Background(), func(tx *sqlite.Tx) error {
		ds, err := tx.DUAs("r1")
		if err == nil && version <= len(ds) {
			digest = ds[version-1].Digest
		}
		return err
	})
	env, err := statement.Sign(fx.keys["bank"], cleanroom.DUATermination{Type: cleanroom.DUATerminationType, Server: fx.srv.ServerID(),
		Room: "r1", Version: version, Digest: digest, Party: "bank", Reason: "the partnership ends", IssuedAt: fx.now})
	if err != nil {
		fx.t.Fatal(err)
	}
	return env
}

// FuzzAPI sends fuzzed bodies, path segments and query strings to every
// route through the server's handler, as a caller the route lets through.
// Whatever arrives, the answer is not a 5xx (bad input is the caller's
// error: 4xx with {code, message}), and every error is a JSON error body
// whose code maps to its status. The one 5xx allowed is 503
// "unavailable", which says a party's agent did not answer in time.
//
// The server is shared by all inputs of a run, so state builds up the way
// it does on a real server; a crasher is replayed on a fresh one.
func FuzzAPI(f *testing.F) {
	oldApproval, oldOpening := approvalTimeout, openingTimeout
	approvalTimeout, openingTimeout = 10*time.Millisecond, 10*time.Millisecond
	f.Cleanup(func() { approvalTimeout, openingTimeout = oldApproval, oldOpening })

	fx, routes, seeds := fuzzAPI(f)
	// The server's log says what an internal error was.
	logged := &fuzzLog{}
	fx.srv.log = slog.New(slog.NewTextHandler(logged, &slog.HandlerOptions{Level: slog.LevelError}))
	byKey := map[string]*fuzzRoute{}
	for i := range routes {
		byKey[routes[i].key] = &routes[i]
	}
	odd := []string{"0", "-1", "99999999999999999999", "..", "a b", "é", "\x00", strings.Repeat("x", 300)}
	for n, r := range routes {
		// The matrix's own request, then each seed body.
		f.Add(r.key, uint8(0), "", "", []byte(nil))
		for _, s := range seeds[r.key] {
			var raw []byte
			switch v := s.(type) {
			case string:
				raw = []byte(v)
			case []byte:
				raw = v
			default:
				var err error
				if raw, err = json.Marshal(v); err != nil {
					f.Fatal(err)
				}
			}
			f.Add(r.key, uint8(0), "", "", raw)
		}
		// Each wildcard replaced with something odd.
		for i := range r.wildcards {
			f.Add(r.key, uint8(i+1), odd[(n+i)%len(odd)], "", []byte("{}"))
		}
		if r.method == "GET" {
			f.Add(r.key, uint8(0), "", "wait=1ns&seq=-1&old=-5&quarter=2026Q9&limit=0&after=-1", []byte(nil))
			f.Add(r.key, uint8(0), "", "seq=9223372036854775807&old=99999999999&quarter=0000Q1&limit=1000000&after=x", []byte(nil))
		} else {
			f.Add(r.key, uint8(0), "", "", []byte("null"))
			f.Add(r.key, uint8(0), "", "", []byte(`{"a":1}`))
		}
	}

	f.Fuzz(func(t *testing.T, key string, slot uint8, segment, query string, body []byte) {
		r := byKey[key]
		if r == nil {
			h := fnv.New32a()
			io.WriteString(h, key)
			r = &routes[h.Sum32()%uint32(len(routes))]
		}
		segs := strings.Split(r.path, "/")
		if n := len(r.wildcards); n > 0 && int(slot)%(n+1) > 0 {
			segs[r.wildcards[int(slot)%(n+1)-1]] = url.PathEscape(segment)
		}
		target := strings.Join(segs, "/")
		q := query
		if q == "" {
			q = r.query
		}
		if r.longPoll {
			q = "wait=0s&" + q
		}
		if q != "" {
			target += "?" + q
		}
		var rd io.Reader
		if r.method != "GET" {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(t.Context(), r.method, "http://room.test"+target, rd)
		if err != nil {
			return // not a request a client can send
		}
		req.Header.Set("Authorization", "Bearer "+fx.tokens[r.who])
		rec := httptest.NewRecorder()
		logged.reset()
		fx.srv.Handler().ServeHTTP(rec, req)

		status, out := rec.Code, rec.Body.Bytes()
		var e ErrorBody
		switch {
		case status >= 300 && status < 400:
			// The mux's redirect of an unclean path ("..", "//").
		case status == http.StatusServiceUnavailable:
			if json.Unmarshal(out, &e) != nil || e.Code != cleanroom.EUnavailable {
				t.Fatalf("%s %s as %s = 503 with body %s, want code %q", r.method, target, r.who, out, cleanroom.EUnavailable)
			}
		case status >= 500:
			t.Fatalf("%s %s as %s = %d %s\nbody sent: %q\nserver log: %s", r.method, target, r.who, status, out, body, logged.bytes())
		case status >= 400:
			if err := json.Unmarshal(out, &e); err != nil || e.Code == "" || e.Message == "" {
				t.Fatalf("%s %s as %s = %d with body %s, want {code, message, hint}", r.method, target, r.who, status, out)
			}
			if statusOf(e.Code) != status {
				t.Fatalf("%s %s as %s = %d with code %q, which maps to %d", r.method, target, r.who, status, e.Code, statusOf(e.Code))
			}
		default:
			if !json.Valid(out) {
				t.Fatalf("%s %s as %s = %d with a body that is not JSON: %q", r.method, target, r.who, status, out)
			}
		}
	})
}

// fuzzLog keeps what the server logs; work the server finishes in the
// background may log while a request is served.
type fuzzLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *fuzzLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *fuzzLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Reset()
}

func (l *fuzzLog) bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.buf.Bytes())
}
