package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/release"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/upload"
)

// putVersion writes a dataset version straight into the vault and the
// database, as a commit would: one row per token index, with its tier.
func (f *fixture) putVersion(dataset, party string, ids []int, tier func(i int) string) {
	f.t.Helper()
	h := upload.Header{Room: "r1", Dataset: dataset, Version: 1, Rows: len(ids),
		Identifiers: []upload.IdentifierField{{Column: "phone", Class: cleanroom.ClassPhone}},
		Attributes:  []upload.AttributeField{{Column: "tier", Type: "string"}}}
	var buf bytes.Buffer
	w, _ := upload.NewWriter(&buf, h)
	for _, i := range ids {
		var t upload.Token
		t[0], t[1], t[2], t[3] = 1, byte(i), byte(i>>8), byte(i>>16) // shared across datasets: an hmac room compares tokens as they are
		w.Write(upload.Row{Tokens: []*upload.Token{&t}, Values: []string{tier(i)}})
	}
	if err := w.Close(); err != nil {
		f.t.Fatal(err)
	}
	ctx := f.t.Context()
	f.srv.vault.CreateDataset(ctx, vaultID("r1", dataset))
	vw, err := f.srv.vault.NewVersion(ctx, vaultID("r1", dataset), 1)
	if err != nil {
		f.t.Fatal(err)
	}
	vw.Write(buf.Bytes())
	if err := vw.Commit(); err != nil {
		f.t.Fatal(err)
	}
	err = f.db.Update(ctx, func(tx *sqlite.Tx) error {
		if _, err := tx.Dataset("r1", dataset); err != nil {
			if err := tx.CreateDataset(sqlite.DatasetRecord{Room: "r1", Name: dataset, Party: party, Schema: []byte(testSchema), CreatedAt: f.now}); err != nil {
				return err
			}
		}
		return tx.CommitVersion(sqlite.VersionRecord{Room: "r1", Dataset: dataset, Version: 1, Rows: len(ids), Stats: []byte("{}"), CommittedAt: f.now}, nil)
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

// queryReady gives r1 two matched datasets and an approved template
// "tiers" joining them, with the given controls lines appended. 440 joined
// people are premium and 10 basic.
func (f *fixture) queryReady(controls string) {
	f.t.Helper()
	var bankIDs []int
	for i := range 500 {
		bankIDs = append(bankIDs, i)
	}
	f.hmacRoomData(bankIDs)
	f.approvedTemplate(controls)
	// Both parties' agents publish their keys, to which results are sealed.
	if status, resp := f.do("provider", "PUT", "/api/v1/rooms/r1/agent/key", f.agentKey("bank")); status != 200 {
		f.t.Fatalf("bank agent key = %d %s", status, resp)
	}
	raw, _ := json.Marshal(f.agentKey("operator"))
	if err := f.db.Update(f.t.Context(), func(tx *sqlite.Tx) error { return tx.PutAgentKey("r1", "operator", raw) }); err != nil {
		f.t.Fatal(err)
	}
}

// result opens the result a bank user may see, or returns nil.
func (f *fixture) result(who, id string) *release.Release {
	f.t.Helper()
	_, q := f.seeQuery(who, id)
	if q.Sealed == nil {
		return nil
	}
	raw, err := keyfile.OpenWith(f.agentPrivs["bank"], cleanroom.ReleaseInfo(f.srv.ServerID(), "r1", id, "bank"), q.Sealed)
	if err != nil {
		f.t.Fatalf("open the result sealed to the bank: %v", err)
	}
	var r release.Release
	if err := json.Unmarshal(raw, &r); err != nil {
		f.t.Fatal(err)
	}
	return &r
}

// hmacRoomData makes r1 an hmac room with the bank's dataset of the given
// people (those below 440 premium) and the operator's of the first 450 of
// them and 50 others, and matches them.
func (f *fixture) hmacRoomData(bankIDs []int) {
	t := f.t
	t.Helper()
	f.hmacRoom()
	var opIDs []int
	for i := range min(450, len(bankIDs)) {
		opIDs = append(opIDs, bankIDs[i])
	}
	for i := 1 << 20; i < 1<<20+50; i++ {
		opIDs = append(opIDs, i)
	}
	f.putVersion("bank-customers", "bank", bankIDs, func(i int) string {
		if i < 440 {
			return "premium"
		}
		return "basic"
	})
	f.putVersion("op-subs", "operator", opIDs, func(int) string { return "basic" })
	if status, resp := f.do("provider", "POST", "/api/v1/rooms/r1/matches", nil); status != 201 {
		t.Fatalf("match = %d %s", status, resp)
	}
}

// approvedTemplate proposes "tiers" over both datasets and records both
// parties' approvals.
func (f *fixture) approvedTemplate(controls string) {
	f.t.Helper()
	f.approvedTemplateNamed("tiers", controls)
}

func (f *fixture) approvedTemplateNamed(name, controls string) {
	t := f.t
	t.Helper()
	yaml := strings.Replace(testTemplate, "join: [bank-customers]", "join: [bank-customers, op-subs]", 1)
	yaml = strings.Replace(yaml, "  receivers: [bank]\n", controls, 1)
	yaml = strings.Replace(yaml, "name: tiers", "name: "+name, 1)
	status, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/templates", ProposeTemplateRequest{YAML: yaml})
	if status != 201 {
		t.Fatalf("propose = %d %s", status, resp)
	}
	var b TemplateBody
	json.Unmarshal(resp, &b)
	if status, resp := f.do("provider", "POST", "/api/v1/rooms/r1/templates/"+name+"/approvals", f.approval("bank", b)); status != 200 {
		t.Fatalf("bank approval = %d %s", status, resp)
	}
	// The fixture has no operator user: its signed approval is recorded
	// directly.
	raw, _ := json.Marshal(f.approval("operator", b))
	f.db.Update(t.Context(), func(tx *sqlite.Tx) error {
		if err := tx.PutApproval("r1", name, 1, "operator", raw); err != nil {
			return err
		}
		return tx.SetTemplateState("r1", name, 1, string(cleanroom.TemplateApproved))
	})
}

// TestRunQuery runs an approved template end to end: two datasets joined
// on matched people, the engine's bounded aggregates, the output controls.
// The basic group of 10 people is below the minimum of 100 and is never
// shown.
func TestRunQuery(t *testing.T) {
	f := newFixture(t)
	f.queryReady("  receivers: [bank]\n")
	// Explain reads nothing and spends nothing.
	e, err := f.srv.ExplainQuery(t.Context(), "r1", "tiers", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(e.Plan, "min group size: 100") || len(e.Preview.Keep) == 0 || e.Preview.Keep[0].P != 0 || e.Preview.Metrics[0].Noise.StdDev <= 0 {
		t.Fatalf("explain = %+v", e)
	}
	out, err := f.srv.RunQuery(t.Context(), "r1", "tiers", 0, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := testEngineLabel(); out.Engine != want {
		t.Errorf("the run was computed on %q, want %q", out.Engine, want)
	}
	r := out.Release
	if len(r.Cells) != 1 || r.Cells[0].Key[0] != "premium" || r.Suppressed != 1 {
		t.Fatalf("release = %+v, want only the premium cell shown", r)
	}
	if v := r.Cells[0].Values[0]; v < 440-30 || v > 440+30 {
		t.Errorf("premium count %v is far from 440 (noise σ = %.1f)", v, r.Metrics[0].Noise.StdDev)
	}
	// The budget of both datasets was charged.
	for _, d := range []string{"bank-customers", "op-subs"} {
		if spent := f.rhoUsed(d); spent < 0.1-1e-9 {
			t.Errorf("dataset %s was charged ρ = %v, want the template's 0.1", d, spent)
		}
	}
	// A retired template does not run.
	f.db.Update(t.Context(), func(tx *sqlite.Tx) error {
		return tx.SetTemplateState("r1", "tiers", 1, string(cleanroom.TemplateRetired))
	})
	if _, err := f.srv.RunQuery(t.Context(), "r1", "tiers", 0, nil, ""); err == nil || !strings.Contains(err.Error(), "only approved templates run") {
		t.Fatalf("running a retired template = %v", err)
	}
}

// runQuery runs "tiers" as the analyst and returns the run.
func (f *fixture) runQuery() QueryBody {
	f.t.Helper()
	status, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/queries", RunQueryRequest{Template: "tiers"})
	if status != 201 && status != 200 {
		f.t.Fatalf("run = %d %s", status, resp)
	}
	var q QueryBody
	json.Unmarshal(resp, &q)
	f.ids["query"] = q.ID
	return q
}

func (f *fixture) seeQuery(who, id string) (int, QueryBody) {
	f.t.Helper()
	status, resp := f.do(who, "GET", "/api/v1/rooms/r1/queries/"+id, nil)
	var q QueryBody
	json.Unmarshal(resp, &q)
	return status, q
}

// TestQueryRolesAndRepeats: who sees a result, when; review; and a
// byte-identical request spends nothing.
func TestQueryRolesAndRepeats(t *testing.T) {
	f := newFixture(t)
	f.queryReady("  receivers: [bank]\n  review_by: [bank]\n")
	q := f.runQuery()
	if q.State != "pending_review" || q.Sealed != nil {
		t.Fatalf("run = %+v, want pending without a result for the analyst", q)
	}
	// Pending: the reviewer sees it, the receiver does not, nor the admin.
	if f.result("reviewer", q.ID) == nil {
		t.Error("the reviewer does not see the pending result")
	}
	if f.result("receiver", q.ID) != nil {
		t.Error("a receiver sees a pending result")
	}
	if status, _ := f.seeQuery("admin", q.ID); status != 403 {
		t.Errorf("the admin reading a query = %d, want 403", status)
	}
	if status, _ := f.seeQuery("outsider", q.ID); status != 404 {
		t.Errorf("a member of another room reading a query = %d, want 404", status)
	}
	// Only the reviewer decides.
	if status, _ := f.do("receiver", "POST", "/api/v1/rooms/r1/queries/"+q.ID+"/review", ReviewRequest{Decision: "approve"}); status != 403 {
		t.Errorf("a receiver reviewing = %d, want 403", status)
	}
	if status, resp := f.do("reviewer", "POST", "/api/v1/rooms/r1/queries/"+q.ID+"/review", ReviewRequest{Decision: "approve"}); status != 200 {
		t.Fatalf("review = %d %s", status, resp)
	}
	_, got := f.seeQuery("receiver", q.ID)
	if r := f.result("receiver", q.ID); got.State != "released" || r == nil || len(r.Cells) != 1 {
		t.Fatalf("released result for the receiver = %+v, %+v", got, r)
	}
	if f.result("analyst", q.ID) != nil {
		t.Error("an analyst without the receiver role sees the result")
	}
	// The template's rates count the run and its suppressed cell.
	status, resp := f.do("analyst", "GET", "/api/v1/rooms/r1/templates/tiers", nil)
	var tb TemplateBody
	json.Unmarshal(resp, &tb)
	if status != 200 || tb.Stats.Runs != 1 || tb.Stats.Cells != 1 || tb.Stats.Suppressed != 1 {
		t.Errorf("template stats = %d %+v, want 1 run, 1 cell shown, 1 suppressed", status, tb.Stats)
	}
	// A refused run counts as a refusal.
	f.do("analyst", "POST", "/api/v1/rooms/r1/queries", RunQueryRequest{Template: "tiers", Params: map[string]string{"x": "1"}})
	_, resp = f.do("analyst", "GET", "/api/v1/rooms/r1/templates/tiers", nil)
	json.Unmarshal(resp, &tb)
	if tb.Stats.Refused != 1 {
		t.Errorf("template stats after a refused run = %+v, want 1 refusal", tb.Stats)
	}
	// A repeat returns the stored release and spends nothing.
	spent := func() float64 { return f.rhoUsed("bank-customers") }
	before := spent()
	again := f.runQuery()
	if !again.Repeat || again.ID != q.ID || spent() != before {
		t.Fatalf("repeat = %+v, spent %v -> %v; want the stored release and nothing spent", again, before, spent())
	}
}

// TestAttackCrossPartySealedResult: results addressed only to the
// operator are never shown to the bank's users, whatever their roles.
func TestAttackCrossPartySealedResult(t *testing.T) {
	f := newFixture(t)
	f.queryReady("  receivers: [operator]\n")
	q := f.runQuery()
	for _, who := range []string{"analyst", "receiver", "reviewer", "provider", "payer"} {
		if _, got := f.seeQuery(who, q.ID); got.Sealed != nil {
			t.Errorf("bank's %s sees a result addressed to the operator", who)
		}
	}
}

// TestConcurrentRunsNeverOverspend: with room for five releases in a
// dataset's budget, twenty concurrent runs release exactly five; the
// others are refused before they run.
func TestConcurrentRunsNeverOverspend(t *testing.T) {
	f := newFixture(t)
	f.queryReady("  receivers: [bank]\n")
	// Cap the bank dataset at the match report's ρ = 0.05 and five runs of
	// ρ = 0.1.
	err := f.db.Update(t.Context(), func(tx *sqlite.Tx) error {
		b := &sqlite.Budget{Dataset: budgetID("r1", "bank-customers"), Party: "bank", Size: 500, Cap: defaultCap(500)}
		b.Cap.Rho = 0.55
		return tx.SetBudget(b)
	})
	if err != nil {
		t.Fatal(err)
	}
	type result struct{ err error }
	results := make(chan result, 20)
	for range 20 {
		go func() {
			_, err := f.srv.RunQuery(context.Background(), "r1", "tiers", 0, nil, "")
			results <- result{err}
		}()
	}
	ok, refused := 0, 0
	for range 20 {
		r := <-results
		switch {
		case r.err == nil:
			ok++
		case strings.Contains(r.err.Error(), "budget"):
			refused++
		default:
			t.Errorf("run failed otherwise: %v", r.err)
		}
	}
	spent := f.rhoUsed("bank-customers")
	if ok != 5 || refused != 15 || spent > 0.55+1e-9 {
		t.Fatalf("%d released, %d refused, ρ spent %v; want 5, 15 and at most 0.55", ok, refused, spent)
	}
}

// TestRunOverMemoryLimit: a run that does not fit in its memory limit
// fails with a clear error and charges nothing. The limit is the DuckDB
// engine's (a Beam run's memory is its workers'); TestEngineFailure
// checks that a failed Beam run charges nothing.
func TestRunOverMemoryLimit(t *testing.T) {
	f := newFixture(t)
	f.srv.queryMem = 16 << 20
	var ids []int
	for i := range 300_000 {
		ids = append(ids, i)
	}
	f.hmacRoomData(ids)
	f.approvedTemplate("  receivers: [bank]\n")
	before := f.rhoUsed("bank-customers")
	_, err := f.srv.RunQuery(t.Context(), "r1", "tiers", 0, nil, EngineDuckDB)
	if err == nil || !strings.Contains(err.Error(), "memory limit") {
		t.Fatalf("run over the memory limit = %v", err)
	}
	spent := f.rhoUsed("bank-customers")
	if spent != before {
		t.Errorf("a failed run charged ρ %v → %v", before, spent)
	}
}

// rhoUsed returns the ρ a dataset of r1 has spent or reserved.
func (f *fixture) rhoUsed(dataset string) float64 {
	f.t.Helper()
	var rho float64
	err := f.db.View(f.t.Context(), func(tx *sqlite.Tx) error {
		us, err := tx.BudgetUsage(budgetID("r1", dataset))
		for _, u := range us {
			rho += u.Spent.Rho + u.Reserved.Rho
		}
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return rho
}

// TestTwoReceiversShareOneBudget: results for two receivers draw on the
// same dataset budget; together they cannot spend more than it.
func TestTwoReceiversShareOneBudget(t *testing.T) {
	f := newFixture(t)
	f.queryReady("  receivers: [bank]\n")
	f.approvedTemplateNamed("tiers-for-operator", "  receivers: [operator]\n")
	// Room for the match report (ρ 0.05) and two runs of ρ 0.1.
	err := f.db.Update(t.Context(), func(tx *sqlite.Tx) error {
		b := &sqlite.Budget{Dataset: budgetID("r1", "bank-customers"), Party: "bank", Size: 500, Cap: defaultCap(500)}
		b.Cap.Rho = 0.25
		return tx.SetBudget(b)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.srv.RunQuery(t.Context(), "r1", "tiers", 0, nil, ""); err != nil {
		t.Fatalf("run for the bank: %v", err)
	}
	if _, err := f.srv.RunQuery(t.Context(), "r1", "tiers-for-operator", 0, nil, ""); err != nil {
		t.Fatalf("run for the operator: %v", err)
	}
	for _, name := range []string{"tiers", "tiers-for-operator"} {
		if _, err := f.srv.RunQuery(t.Context(), "r1", name, 0, nil, ""); err == nil || !strings.Contains(err.Error(), "budget") {
			t.Errorf("third run (%s) = %v, want refused for budget", name, err)
		}
	}
	if used := f.rhoUsed("bank-customers"); used > 0.25+1e-9 {
		t.Errorf("ρ used %v exceeds the cap of 0.25", used)
	}
}

// TestAttackPartnerDifferencing plays an analyst who runs two approved templates
// whose segments differ by one premium person (one joins a copy of the
// operator's dataset without that person), and estimates the person's
// contribution as the difference of the two premium counts. Over the runs
// the budget allows (the selection δ under 1/(10·N) allows 19 pairs), the
// estimate's mean squared error stays at the noise's 2σ²: it is not below
// a tenth of it except with probability below 10⁻⁸ (chi-square with 19
// degrees of freedom). More pairs are refused by the budget.
func TestAttackPartnerDifferencing(t *testing.T) {
	f := newFixture(t)
	f.hmacRoom()
	var bankIDs, opIDs, opIDs2 []int
	for i := range 500 {
		bankIDs = append(bankIDs, i)
	}
	for i := range 450 {
		opIDs = append(opIDs, i)
		if i != 0 {
			opIDs2 = append(opIDs2, i) // person 0, premium, only in op-subs
		}
	}
	tier := func(i int) string {
		if i < 440 {
			return "premium"
		}
		return "basic"
	}
	f.putVersion("bank-customers", "bank", bankIDs, tier)
	f.putVersion("op-subs", "operator", opIDs, tier)
	f.putVersion("op-subs-b", "operator", opIDs2, tier)
	if status, resp := f.do("provider", "POST", "/api/v1/rooms/r1/matches", nil); status != 201 {
		t.Fatalf("match = %d %s", status, resp)
	}
	f.approvedTemplateNamed("tiers", "  receivers: [bank]\n")
	yaml := strings.Replace(testTemplate, "join: [bank-customers]", "join: [bank-customers, op-subs-b]", 1)
	yaml = strings.Replace(yaml, "name: tiers", "name: tiers-b", 1)
	status, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/templates", ProposeTemplateRequest{YAML: yaml})
	if status != 201 {
		t.Fatalf("propose = %d %s", status, resp)
	}
	// Both readers' approvals are taken as given here; the lifecycle is
	// tested elsewhere.
	f.db.Update(t.Context(), func(tx *sqlite.Tx) error {
		return tx.SetTemplateState("r1", "tiers-b", 1, string(cleanroom.TemplateApproved))
	})
	// An amended agreement allows the large budget.
	f.db.Update(t.Context(), func(tx *sqlite.Tx) error {
		d := f.testDUA("r1", 2, "bank", "operator")
		d.Budget.Rho, d.Budget.Epsilon = 1000, 40
		f.putDUA(tx, d, "bank", "operator")
		return nil
	})
	for _, d := range []string{"bank-customers", "op-subs", "op-subs-b"} {
		err := f.db.Update(t.Context(), func(tx *sqlite.Tx) error {
			b := &sqlite.Budget{Dataset: budgetID("r1", d), Party: "bank", Size: 500, Cap: defaultCap(500)}
			if d != "bank-customers" {
				b.Party = "operator"
			}
			// As much as the privacy core allows for 500 people: ρ and the
			// selection's ε, and δ just under 1/(10·N).
			b.Cap.Rho, b.Cap.Epsilon, b.Cap.Delta = 1000, 40, 1.9e-4
			return tx.SetBudget(b)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	premium := func(name string) (float64, float64, error) {
		out, err := f.srv.RunQuery(t.Context(), "r1", name, 0, nil, "")
		if err != nil {
			return 0, 0, err
		}
		for _, c := range out.Release.Cells {
			if c.Key[0] == "premium" {
				return c.Values[0], out.Release.Metrics[0].Noise.StdDev, nil
			}
		}
		return 0, 0, errors.New("premium group not shown")
	}
	var sse, sigma float64
	pairs := 0
	for {
		if pairs == attackRuns {
			t.Fatalf("%d pairs of runs and the budget has not refused one", pairs)
		}
		a, s, err := premium("tiers")
		if err != nil {
			if !strings.Contains(err.Error(), "budget") {
				t.Fatal(err)
			}
			break
		}
		b, _, err := premium("tiers-b")
		if err != nil {
			if !strings.Contains(err.Error(), "budget") {
				t.Fatal(err)
			}
			break
		}
		sse += (a - b - 1) * (a - b - 1)
		sigma = s
		pairs++
	}
	if pairs < 17 || pairs > 20 {
		t.Fatalf("%d pairs of runs before the budget refused, want 17 to 20", pairs)
	}
	mse, noise := sse/float64(pairs), 2*sigma*sigma
	if mse < noise/10 {
		t.Errorf("the attacker's mean squared error %.2f is far below the noise's 2σ² = %.2f", mse, noise)
	}
	t.Logf("differencing over %d pairs of runs: MSE %.2f, 2σ² %.2f; then the budget refused", pairs, mse, noise)
}

// TestQueryRunAudited: a run's entry records the privacy loss it spent,
// and cell counts only once the result is released.
func TestQueryRunAudited(t *testing.T) {
	for _, tc := range []struct {
		policy   string
		released bool
	}{{"  receivers: [bank]\n", true}, {"  receivers: [bank]\n  review_by: [bank]\n", false}} {
		f := newFixture(t)
		f.queryReady(tc.policy)
		q := f.runQuery()
		e := f.lastAudit()
		if e.Action != cleanroom.ActionQueryRun || e.Object != "query:"+q.ID {
			t.Fatalf("last entry %+v is not the run", e)
		}
		for _, k := range []string{"rho", "epsilon", "delta"} {
			if v, err := strconv.ParseFloat(e.Detail[k], 64); err != nil || v <= 0 {
				t.Errorf("entry detail %s = %q, want the loss spent", k, e.Detail[k])
			}
		}
		if _, ok := e.Detail["cells"]; ok != tc.released {
			t.Errorf("released %v: entry detail %v", tc.released, e.Detail)
		}
	}
}
