package httpapi

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gtank/ristretto255"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/blind"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
	"github.com/cleanroom-dev/cleanroom/internal/upload"
)

const scoringTemplate = `name: risk-scoring
question: What is this applicant's default risk?
join: [loans, usage]
model:
  label: loans.defaulted
  features: [loans.balance, usage.late, usage.arpu]
  epsilon: 0.5
  lambda: 0.003
  score_edges: [0, 0.05, 0.1, 0.2, 0.3, 0.5, 1]
  scoring: {disclosure: credit-scores, to: bank, identifier: phone, daily_limit: LIMIT}
controls:
  min_group_size: 100
  rho: 0.2
  max_groups_per_person: 2
  receivers: [bank]
`

// scoringRoom is r1 as an ecdh room with real blinding: the bank's loans
// (people 0..3999) and the operator's usage (people 0..3999 too), where
// defaults follow the operator's late flag (every fourth person), matched
// through the API with both agents played by the test.
type scoringRoom struct {
	f              *fixture
	bankKey, opKey *ristretto255.Scalar
	late           func(i int) bool
}

func personDigest(i int) [32]byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	return sha256.Sum256(b[:])
}

// putBlinded commits version 1 of a dataset whose people are ids, their
// phones blinded with key, with the party's signed manifest.
func (f *fixture) putBlinded(dataset, party, schema string, key *ristretto255.Scalar, attrs []upload.AttributeField, ids []int, values func(i int) []string) {
	f.t.Helper()
	digests := make([][32]byte, len(ids))
	for k, i := range ids {
		digests[k] = personDigest(i)
	}
	tokens, err := blind.Blind(key, "r1", cleanroom.ClassPhone, digests)
	if err != nil {
		f.t.Fatal(err)
	}
	m, _ := blind.NewManifest(f.srv.ServerID(), "r1", party, dataset, 1, cleanroom.ClassPhone, tokens, f.now)
	env, _ := blind.SignManifest(f.keys[party], m)
	raw, _ := json.Marshal(env)
	ts := make([]upload.Token, len(tokens))
	for k, t := range tokens {
		ts[k] = upload.Token(t)
	}
	f.commitTable(dataset, party, schema, attrs, ids, ts, values,
		[]sqlite.ManifestRecord{{Class: "phone", Count: m.Count, Digest: m.Digest, Envelope: raw}})
}

// reblindJobs plays a party's agent for every pending matching job.
func (f *fixture) reblindJobs(who string, key *ristretto255.Scalar) {
	f.t.Helper()
	status, resp := f.do(who, "GET", "/api/v1/rooms/r1/agent/jobs", nil)
	var jobs JobList
	json.Unmarshal(resp, &jobs)
	if status != 200 || len(jobs.Jobs) == 0 {
		f.t.Fatalf("%s's jobs = %d %s", who, status, resp)
	}
	for _, j := range jobs.Jobs {
		path := "/api/v1/rooms/r1/agent/jobs/" + j.ID
		status, resp := f.do(who, "GET", path, nil)
		var job JobBody
		if err := json.Unmarshal(resp, &job); status != 200 || err != nil {
			f.t.Fatalf("job = %d %s", status, resp)
		}
		tokens := make([]blind.Token, len(job.Tokens))
		for i, s := range job.Tokens {
			b, _ := base64.StdEncoding.DecodeString(s)
			copy(tokens[i][:], b)
		}
		out, err := blind.ReBlind(key, tokens)
		if err != nil {
			f.t.Fatal(err)
		}
		var res JobResult
		for _, t := range out {
			res.Tokens = append(res.Tokens, base64.StdEncoding.EncodeToString(t[:]))
		}
		if status, resp := f.do(who, "POST", path+"/result", res); status != 200 {
			f.t.Fatalf("result = %d %s", status, resp)
		}
	}
}

func newScoringRoom(t *testing.T, limit int, declare bool) *scoringRoom {
	return scoringRoomOn(newFixture(t), 4000, scoringYAML(limit, ""), declare)
}

// scoringYAML is the scoring template with a daily limit and more
// controls.
func scoringYAML(limit int, controls string) string {
	return strings.Replace(scoringTemplate, "LIMIT", strconv.Itoa(limit), 1) + controls
}

// scoringRoomOn sets up a fixture's r1 with people 0..n-1 and the
// template yaml proposed, approved and permitted.
func scoringRoomOn(f *fixture, n int, yaml string, declare bool) *scoringRoom {
	t := f.t
	r := &scoringRoom{f: f, bankKey: randomScalar(), opKey: randomScalar(), late: func(i int) bool { return i%4 == 0 }}
	if err := f.db.Update(t.Context(), func(tx *sqlite.Tx) error {
		f.addToken(tx, "op-provider", cleanroom.User, "operator", "o-provider", time.Hour)
		f.putGrant(tx, "operator", "o-provider", "r1", cleanroom.RoleProvider)
		f.addToken(tx, "op-analyst", cleanroom.User, "operator", "o-analyst", time.Hour)
		f.putGrant(tx, "operator", "o-analyst", "r1", cleanroom.RoleAnalyst)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var ids []int
	for i := range n {
		ids = append(ids, i)
	}
	f.putBlinded("loans", "bank", `{"identifiers":[{"column":"phone","class":"phone","priority":1}],"attributes":[
		  {"column":"balance","type":"decimal","policy":"metric","clamp":[0,1000]},
		  {"column":"defaulted","type":"bool","policy":"filter"}]}`, r.bankKey,
		[]upload.AttributeField{{Column: "balance", Type: "decimal"}, {Column: "defaulted", Type: "bool"}}, ids,
		func(i int) []string {
			d := (r.late(i) && i%3 == 0) || (!r.late(i) && i%25 == 0)
			return []string{strconv.Itoa(i % 10 * 100), strconv.FormatBool(d)}
		})
	f.putBlinded("usage", "operator", `{"identifiers":[{"column":"phone","class":"phone","priority":1}],"attributes":[
		  {"column":"late","type":"bool","policy":"filter"},
		  {"column":"arpu","type":"decimal","policy":"metric","clamp":[0,100]}]}`, r.opKey,
		[]upload.AttributeField{{Column: "late", Type: "bool"}, {Column: "arpu", Type: "decimal"}}, ids,
		func(i int) []string { return []string{strconv.FormatBool(r.late(i)), "50"} })
	if status, resp := f.do("provider", "POST", "/api/v1/rooms/r1/matches", nil); status != 201 {
		t.Fatalf("match = %d %s", status, resp)
	}
	f.reblindJobs("provider", r.bankKey)
	f.reblindJobs("op-provider", r.opKey)

	if status, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/templates", ProposeTemplateRequest{YAML: yaml}); status != 201 {
		t.Fatalf("propose = %d %s", status, resp)
	}
	if status, resp := f.do("provider", "PUT", "/api/v1/rooms/r1/agent/key", f.agentKey("bank")); status != 200 {
		t.Fatalf("agent key = %d %s", status, resp)
	}
	r.agreement(2, declare)
	return r
}

// agreement puts r1 under a new agreement permitting the template, which
// declares per-person scores to the bank if declare is set.
func (r *scoringRoom) agreement(version int, declare bool) {
	f := r.f
	if err := f.db.Update(f.t.Context(), func(tx *sqlite.Tx) error {
		if err := tx.SetTemplateState("r1", "risk-scoring", 1, string(cleanroom.TemplateApproved)); err != nil {
			return err
		}
		d := f.testDUA("r1", version, "bank", "operator")
		d.Templates = append(d.Templates, cleanroom.DUATemplate{Name: "risk-scoring", MinVersion: 1})
		if declare {
			d.Purposes = append(d.Purposes, "credit scoring of applicants")
			d.Disclosures = []cleanroom.DUADisclosure{{Name: "credit-scores", To: "bank", Purpose: "credit scoring of applicants",
				Description: "the joint model's score of an applicant the bank asks about"}}
		}
		f.putDUA(tx, d, "bank", "operator")
		return nil
	}); err != nil {
		f.t.Fatal(err)
	}
}

// runModel runs the template as the bank's analyst and returns the run.
func (r *scoringRoom) runModel() string {
	r.f.t.Helper()
	status, resp := r.f.do("analyst", "POST", "/api/v1/rooms/r1/queries", RunQueryRequest{Template: "risk-scoring"})
	if status != 201 {
		r.f.t.Fatalf("run = %d %s", status, resp)
	}
	var q QueryBody
	json.Unmarshal(resp, &q)
	return q.ID
}

// serveOperator plays the operator's agent for online scoring with a real
// Guard, until the test ends; answered counts the tokens it re-blinded.
func (r *scoringRoom) serveOperator(answered *atomic.Int64) {
	f := r.f
	g, err := blind.NewGuard(f.t.TempDir(), "operator", "r1", f.srv.ServerID(),
		map[string]ed25519.PublicKey{"bank": f.keys["bank"].Public().(ed25519.PublicKey)})
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	f.t.Cleanup(func() { cancel(); <-done })
	call := func(method, path string, body []byte) *http.Response {
		req, _ := http.NewRequestWithContext(ctx, method, f.http.URL+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+f.tokens["op-provider"])
		resp, err := f.http.Client().Do(req)
		if err != nil {
			return nil
		}
		return resp
	}
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			resp := call("GET", "/api/v1/rooms/r1/agent/scoring?wait=2s", nil)
			if resp == nil {
				continue
			}
			var jobs ScoringJobs
			json.NewDecoder(resp.Body).Decode(&jobs)
			resp.Body.Close()
			for _, j := range jobs.Jobs {
				var tok blind.Token
				b, _ := base64.StdEncoding.DecodeString(j.Token)
				copy(tok[:], b)
				var res ScoringResult
				if out, err := g.ReBlindRequest(ctx, r.opKey, j.Manifest, tok); err != nil {
					res.Refused = err.Error()
				} else {
					res.Token = base64.StdEncoding.EncodeToString(out[:])
					answered.Add(1)
				}
				body, _ := json.Marshal(res)
				if resp := call("POST", "/api/v1/rooms/r1/agent/scoring/"+j.ID, body); resp != nil {
					resp.Body.Close()
				}
			}
		}
	}()
}

// scoreRequest builds the bank's request for person i, signed at at.
func (r *scoringRoom) scoreRequest(model string, i int, balance string, at time.Time) ScoreRequest {
	f := r.f
	f.t.Helper()
	ts, err := blind.Blind(r.bankKey, "r1", cleanroom.ClassPhone, [][32]byte{personDigest(i)})
	if err != nil {
		f.t.Fatal(err)
	}
	m, err := blind.NewRequestManifest(f.srv.ServerID(), "r1", "bank", "score:"+model, cleanroom.ClassPhone, ts[0], at)
	if err != nil {
		f.t.Fatal(err)
	}
	env, err := statement.Sign(f.keys["bank"], m)
	if err != nil {
		f.t.Fatal(err)
	}
	return ScoreRequest{Model: model, Manifest: env, Token: base64.StdEncoding.EncodeToString(ts[0][:]),
		Features: map[string]string{"loans.balance": balance}}
}

// expected is the kept model's score of a person with these features,
// rounded as the API rounds it.
func (r *scoringRoom) expected(model string, late bool, balance string) float64 {
	h := r.f.srv.scoring
	h.mu.Lock()
	ix := h.indexes["r1/"+model]
	h.mu.Unlock()
	if ix == nil {
		r.f.t.Fatal("no index for the model")
	}
	values := map[string]string{"loans.balance": balance, "usage.late": strconv.FormatBool(late), "usage.arpu": "50"}
	x := inputs(ix.cfg, ix.encoders, ix.model.Scale, func(i int) string { return values[ix.encoders[i].name] })
	return math.Round(ix.model.Model.Score(x)*1e6) / 1e6
}

func (r *scoringRoom) score(who string, req ScoreRequest) (int, ScoreBody, []byte) {
	r.f.t.Helper()
	status, resp := r.f.do(who, "POST", "/api/v1/rooms/r1/scores", req)
	var b ScoreBody
	if status == 200 {
		var fields map[string]any
		json.Unmarshal(resp, &fields)
		keys := slices.Sorted(maps.Keys(fields))
		if !slices.Equal(keys, []string{"bin", "model", "score"}) {
			r.f.t.Errorf("score body has fields %v, want bin, model, score", keys)
		}
		json.Unmarshal(resp, &b)
	}
	return status, b, resp
}

// TestOnlineScoring: the bank scores applicants under a kept model through
// the operator's agent. A subscriber is scored with its own operator
// features; a non-subscriber gets a score of the same form, the same on
// every request, drawn with a subscriber's features in the subscribers'
// proportions, and answered in the same time.
func TestOnlineScoring(t *testing.T) {
	r := newScoringRoom(t, 10000, false)
	f := r.f
	// Not declared in the agreement: refused before anything is spent.
	before := f.rhoUsed("loans")
	status, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/queries", RunQueryRequest{Template: "risk-scoring"})
	if status != 403 || !strings.Contains(string(resp), "credit-scores") {
		t.Fatalf("run without the disclosure = %d %s, want 403", status, resp)
	}
	if f.rhoUsed("loans") != before {
		t.Errorf("a refused run spent budget")
	}
	r.agreement(3, true)
	model := r.runModel()
	var answered atomic.Int64
	r.serveOperator(&answered)
	now := time.Now

	// Subscribers: their own late flag scores them.
	for i := range 24 {
		bal := strconv.Itoa(i % 10 * 100)
		status, b, resp := r.score("analyst", r.scoreRequest(model, i, bal, now()))
		if status != 200 {
			t.Fatalf("score subscriber %d = %d %s", i, status, resp)
		}
		if want := r.expected(model, r.late(i), bal); b.Score != want || b.Model != model {
			t.Errorf("subscriber %d (late %v): score %v, want %v", i, r.late(i), b.Score, want)
		}
	}
	if hi, lo := r.expected(model, true, "500"), r.expected(model, false, "500"); !(hi > lo) {
		t.Errorf("late subscribers score %v, others %v; defaults follow lateness", hi, lo)
	}

	// The log records each answer, the disclosure and who re-blinded, and
	// never the token or the score.
	entries := f.auditSince(0)
	scored := 0
	for _, e := range entries {
		if e.Action != cleanroom.ActionScore || e.Outcome != cleanroom.OutcomeOK {
			continue
		}
		scored++
		if e.Detail["disclosure"] != "credit-scores to bank" || e.Detail["reblinded_by"] != "operator" {
			t.Errorf("score entry detail %v", e.Detail)
		}
		for k, v := range e.Detail {
			if strings.Contains(v, "0.") || len(v) > 40 {
				t.Errorf("score entry detail %s = %q looks like a score or a token", k, v)
			}
		}
	}
	if want := int(answered.Load()); scored != want || scored < 24 {
		t.Errorf("%d score entries, the agent answered %d", scored, want)
	}
}

// mannWhitneyZ is the normal approximation of the Mann-Whitney U statistic
// of two samples.
func mannWhitneyZ(a, b []float64) float64 {
	u := 0.0
	for _, x := range a {
		for _, y := range b {
			switch {
			case x > y:
				u++
			case x == y:
				u += 0.5
			}
		}
	}
	n1, n2 := float64(len(a)), float64(len(b))
	return (u - n1*n2/2) / math.Sqrt(n1*n2*(n1+n2+1)/12)
}

// TestOnlineScoringRefusals: only the bank's analyst scores, with a fresh
// manifest its party signed for exactly the token sent, its own features,
// once per manifest, under the day's limit.
func TestOnlineScoringRefusals(t *testing.T) {
	r := newScoringRoom(t, 10000, true)
	f := r.f
	model := r.runModel()
	var answered atomic.Int64
	r.serveOperator(&answered)
	ok := r.scoreRequest(model, 5, "100", time.Now())
	if status, _, resp := r.score("analyst", ok); status != 200 {
		t.Fatalf("score = %d %s", status, resp)
	}
	other := r.scoreRequest(model, 6, "100", time.Now())
	wrongToken := r.scoreRequest(model, 5, "100", time.Now())
	wrongToken.Token = other.Token
	missing := r.scoreRequest(model, 5, "100", time.Now())
	missing.Features = map[string]string{}
	extra := r.scoreRequest(model, 5, "100", time.Now())
	extra.Features["usage.late"] = "true"
	notNumber := r.scoreRequest(model, 5, "lots", time.Now())
	// 44 characters of base64 without padding decode to 33 bytes.
	long := r.scoreRequest(model, 5, "100", time.Now())
	long.Token = "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA0"
	otherModel := r.scoreRequest(model, 5, "100", time.Now())
	otherModel.Model = "0123456789abcdef"
	for _, c := range []struct {
		name, who string
		req       ScoreRequest
		status    int
		want      string
	}{
		{"replayed manifest", "analyst", ok, 403, "used before"},
		{"stale manifest", "analyst", r.scoreRequest(model, 5, "100", time.Now().Add(-5*time.Minute)), 403, "not fresh"},
		{"token other than the manifest's", "analyst", wrongToken, 400, "does not match"},
		{"missing feature", "analyst", missing, 400, "loans.balance"},
		{"the operator's feature", "analyst", extra, 400, "usage.late"},
		{"not a number", "analyst", notNumber, 400, "not a number"},
		{"no such model", "analyst", otherModel, 404, "no scoring model"},
		{"33 bytes of base64", "analyst", long, 400, "blinded identifier"},
		{"the operator asks", "op-analyst", r.scoreRequest(model, 5, "100", time.Now()), 403, "only"},
		{"not an analyst", "provider", r.scoreRequest(model, 5, "100", time.Now()), 403, "analyst"},
		{"another room's member", "outsider", r.scoreRequest(model, 5, "100", time.Now()), 404, "not found"},
		{"the platform admin", "admin", r.scoreRequest(model, 5, "100", time.Now()), 403, "admin"},
	} {
		status, _, resp := r.score(c.who, c.req)
		if status != c.status || !strings.Contains(string(resp), c.want) {
			t.Errorf("%s: %d %s, want %d with %q", c.name, status, resp, c.status, c.want)
		}
	}

	// The day's limit.
	if err := f.db.Update(t.Context(), func(tx *sqlite.Tx) error {
		for range 3 {
			if _, err := tx.CountScoringRequest("r1", model, time.Now().UTC().Format(time.DateOnly)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	raw, _ := sql.Open("sqlite", f.dbPath)
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE scoring_requests SET count = 10000`); err != nil {
		t.Fatal(err)
	}
	if status, _, resp := r.score("analyst", r.scoreRequest(model, 5, "100", time.Now())); status != 429 || !strings.Contains(string(resp), "10000 requests") {
		t.Errorf("over the day's limit: %d %s, want 429", status, resp)
	}
}

// TestOnlineScoringLifecycle: a model held for review scores only once
// released; after retention deletes the versions it was trained on it
// scores no more, and when the agreement ends the kept model is deleted.
func TestOnlineScoringLifecycle(t *testing.T) {
	f := newFixture(t)
	r := scoringRoomOn(f, 1000, scoringYAML(100, "  review_by: [bank]\n"), true)
	model := r.runModel()
	var answered atomic.Int64
	r.serveOperator(&answered)
	if status, _, resp := r.score("analyst", r.scoreRequest(model, 3, "100", time.Now())); status != 409 || !strings.Contains(string(resp), "pending_review") {
		t.Fatalf("score under a held model = %d %s, want 409", status, resp)
	}
	if status, resp := f.do("reviewer", "POST", "/api/v1/rooms/r1/queries/"+model+"/review", ReviewRequest{Decision: "approve"}); status != 200 {
		t.Fatalf("review = %d %s", status, resp)
	}
	if status, _, resp := r.score("analyst", r.scoreRequest(model, 3, "100", time.Now())); status != 200 {
		t.Fatalf("score once released = %d %s", status, resp)
	}

	// Past retention the versions go, and so does the index. (The clock
	// goes back after each sweep, so the test's tokens stay valid.)
	t0 := f.now
	f.now = t0.AddDate(0, 0, 91)
	if _, err := f.srv.SweepRetention(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.now = t0
	if n := len(f.srv.scoring.indexes); n != 0 {
		t.Errorf("%d scoring indexes kept after the versions were deleted", n)
	}
	if status, _, resp := r.score("analyst", r.scoreRequest(model, 3, "100", time.Now())); status != 409 || !strings.Contains(string(resp), "no longer in the room") {
		t.Errorf("score after retention = %d %s, want 409", status, resp)
	}

	// The agreement ends: the kept model is deleted.
	f.now = t0.AddDate(1, 0, 1)
	if _, err := f.srv.SweepRetention(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.now = t0
	var kept []sqlite.ScoringModel
	f.db.View(t.Context(), func(tx *sqlite.Tx) (err error) {
		kept, err = tx.ScoringModels("r1")
		return err
	})
	if len(kept) != 0 {
		t.Errorf("kept models after the agreement ended: %+v", kept)
	}
	if _, err := f.srv.vault.OpenVersion(t.Context(), modelsVault("r1"), 1); err == nil {
		t.Error("the kept model can still be read after the agreement ended")
	}
	if status, _, resp := r.score("analyst", r.scoreRequest(model, 3, "100", time.Now())); status < 400 {
		t.Errorf("score after the agreement ended = %d %s", status, resp)
	}
}

// TestOnlineScoringNeedsReblinding: an hmac room, whose agents re-blind
// nothing, refuses to keep a model for scoring.
func TestOnlineScoringNeedsReblinding(t *testing.T) {
	f := newFixture(t)
	r := scoringRoomOn(f, 400, scoringYAML(100, ""), true)
	f.hmacRoom()
	status, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/queries", RunQueryRequest{Template: "risk-scoring"})
	if status != 400 || !strings.Contains(string(resp), "hmac") {
		t.Errorf("run in an hmac room = %d %s, want 400", status, resp)
	}
	_ = r
}
