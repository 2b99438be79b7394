package httpapi

// The partner part of the attack suite: a member party (the bank) with
// valid credentials tries to learn about one person it does not know the
// operator's side of, through the queries, match reports and uploads the
// API offers it. Every test is named TestAttack…; `make attacks` runs the
// suite alone. docs/security.md, "Attack suite", lists each attack with
// the defence that stops it.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/release"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/upload"
)

// attackTarget is the person the attacking bank singles out: a customer
// of its own whose operator side it wants to learn.
const attackTarget = 7777

// attackRuns bounds every attack loop: far more runs than any budget the
// fixture's agreement allows, so a loop that reaches it means the budget
// no longer stops repeated runs.
const attackRuns = 200

const attackBankSchema = `{"identifiers":[{"column":"phone","class":"phone","priority":1}],"attributes":[
	{"column":"tier","type":"string","policy":"dimension","categories":["basic","premium","probe"]},
	{"column":"rank","type":"int","policy":"filter"},
	{"column":"balance","type":"decimal","policy":"metric","clamp":[0,1000]}]}`

const attackOpSchema = `{"identifiers":[{"column":"phone","class":"phone","priority":1}],"attributes":[
	{"column":"plan","type":"string","policy":"dimension","categories":["basic","premium"]}]}`

var (
	attackBankAttrs = []upload.AttributeField{{Column: "tier", Type: "string"}, {Column: "rank", Type: "int"}, {Column: "balance", Type: "decimal"}}
	attackOpAttrs   = []upload.AttributeField{{Column: "plan", Type: "string"}}
)

// attackRow is one row of an attack dataset: a person and its values.
type attackRow struct {
	id     int
	values []string
}

// partnerRoom is an hmac room r1 where the bank, the attacker, holds
// bank-book and the operator op-subs.
type partnerRoom struct {
	f   *fixture
	dua int // the agreement's version
}

// newPartnerRoom makes r1 an hmac room with the bank's rows and the
// operator's people 0..599 (premium if even), plus the target if
// targetSubscribes, then matches them.
func newPartnerRoom(t *testing.T, bank []attackRow, targetSubscribes bool) *partnerRoom {
	t.Helper()
	f := newFixture(t)
	f.hmacRoom()
	r := &partnerRoom{f: f, dua: 1}
	var op []attackRow
	for i := range 600 {
		op = append(op, attackRow{i, []string{map[bool]string{true: "premium", false: "basic"}[i%2 == 0]}})
	}
	if targetSubscribes {
		op = append(op, attackRow{attackTarget, []string{"premium"}})
	}
	r.put("op-subs", "operator", attackOpSchema, attackOpAttrs, 1, op)
	r.put("bank-book", "bank", attackBankSchema, attackBankAttrs, 1, bank)
	r.match()
	if status, resp := f.do("provider", "PUT", "/api/v1/rooms/r1/agent/key", f.agentKey("bank")); status != 200 {
		t.Fatalf("bank agent key = %d %s", status, resp)
	}
	return r
}

// put commits a version of a dataset of r1 straight into the vault and the
// database, as a commit would. A person may have several rows.
func (r *partnerRoom) put(dataset, party, schema string, attrs []upload.AttributeField, version int, rows []attackRow) {
	f := r.f
	f.t.Helper()
	h := upload.Header{Room: "r1", Dataset: dataset, Version: version, Rows: len(rows),
		Identifiers: []upload.IdentifierField{{Column: "phone", Class: cleanroom.ClassPhone}}, Attributes: attrs}
	var buf bytes.Buffer
	w, _ := upload.NewWriter(&buf, h)
	for _, row := range rows {
		var tok upload.Token
		tok[0], tok[1], tok[2], tok[3] = 1, byte(row.id), byte(row.id>>8), byte(row.id>>16)
		w.Write(upload.Row{Tokens: []*upload.Token{&tok}, Values: row.values})
	}
	if err := w.Close(); err != nil {
		f.t.Fatal(err)
	}
	ctx := f.t.Context()
	f.srv.vault.CreateDataset(ctx, vaultID("r1", dataset))
	vw, err := f.srv.vault.NewVersion(ctx, vaultID("r1", dataset), version)
	if err != nil {
		f.t.Fatal(err)
	}
	vw.Write(buf.Bytes())
	if err := vw.Commit(); err != nil {
		f.t.Fatal(err)
	}
	if err := f.db.Update(ctx, func(tx *sqlite.Tx) error {
		if version == 1 {
			if err := tx.CreateDataset(sqlite.DatasetRecord{Room: "r1", Name: dataset, Party: party, Schema: []byte(schema), CreatedAt: f.now}); err != nil {
				return err
			}
		}
		return tx.CommitVersion(sqlite.VersionRecord{Room: "r1", Dataset: dataset, Version: version, Rows: len(rows), Stats: []byte("{}"), CommittedAt: f.now}, nil)
	}); err != nil {
		f.t.Fatal(err)
	}
}

// match runs a match of r1 as the bank's provider (an hmac room resolves
// at once) and returns the bank's report of its pair, or the error status.
func (r *partnerRoom) match() (int, *PairReport) {
	f := r.f
	f.t.Helper()
	status, resp := f.do("provider", "POST", "/api/v1/rooms/r1/matches", nil)
	if status != 201 {
		return status, nil
	}
	var run MatchRunBody
	json.Unmarshal(resp, &run)
	status, resp = f.do("analyst", "GET", "/api/v1/rooms/r1/matches/"+run.ID, nil)
	run = MatchRunBody{}
	json.Unmarshal(resp, &run)
	if status != 200 || run.State != "done" || run.Report == nil {
		f.t.Fatalf("match run = %d %s", status, resp)
	}
	for _, p := range run.Report.Pairs {
		return http.StatusCreated, &p
	}
	return http.StatusCreated, nil
}

// approve proposes a template as the bank's analyst, takes both parties'
// approvals as given (their lifecycle is tested elsewhere) and puts r1
// under a new agreement that permits it.
func (r *partnerRoom) approve(name, yaml string) {
	f := r.f
	f.t.Helper()
	if status, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/templates", ProposeTemplateRequest{YAML: yaml}); status != 201 {
		f.t.Fatalf("propose %s = %d %s", name, status, resp)
	}
	r.dua++
	f.db.Update(f.t.Context(), func(tx *sqlite.Tx) error {
		if err := tx.SetTemplateState("r1", name, 1, string(cleanroom.TemplateApproved)); err != nil {
			return err
		}
		d := f.testDUA("r1", r.dua, "bank", "operator")
		d.Templates = append(d.Templates, cleanroom.DUATemplate{Name: name, MinVersion: 1})
		f.putDUA(tx, d, "bank", "operator")
		return nil
	})
}

// run runs a template as the bank's analyst with the given parameters and
// opens the released result through the receiver's API. A refusal returns
// its status and body.
func (r *partnerRoom) run(name string, params map[string]string) (*release.Release, QueryBody, int, string) {
	f := r.f
	f.t.Helper()
	status, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/queries", RunQueryRequest{Template: name, Params: params})
	var q QueryBody
	json.Unmarshal(resp, &q)
	if status != 201 && status != 200 {
		return nil, q, status, string(resp)
	}
	rel := f.result("receiver", q.ID)
	if rel == nil {
		f.t.Fatalf("run %s: no result for the receiver: %s", q.ID, resp)
	}
	return rel, q, status, ""
}

// cell returns the first metric of the cell with the given key, and
// whether the cell is shown.
func cell(rel *release.Release, key string) (float64, bool) {
	for _, c := range rel.Cells {
		if c.Key[0] == key {
			return c.Values[0], true
		}
	}
	return 0, false
}

// rankTemplate is a template named name that counts the bank's customers
// at or above a rank (the parameter floor), grouped by group, at the
// given ρ.
func rankTemplate(name, group string, rho float64) string {
	return fmt.Sprintf(`name: %s
question: How many of the bank's customers at or above a rank are subscribers, per group?
join: [bank-book, op-subs]
parameters:
  floor: {type: int, min: -1000, max: 1000}
where:
  - bank-book.rank >= $floor
group_by:
  - %s
metrics:
  - people: count_distinct_person
controls:
  rho: %g
  receivers: [bank]
`, name, group, rho)
}

// budgetRefusal fails the test unless a refused run was refused for its
// budget.
func budgetRefusal(t *testing.T, status int, body string) {
	t.Helper()
	if status == 200 || status == 201 || !strings.Contains(body, "budget") {
		t.Fatalf("run refused with %d %s, want a refusal for the budget", status, strings.Join(strings.Fields(body), " "))
	}
}

// TestAttackPartnerAveraging: the bank runs one question many times with
// equivalent parameters (each a different request, so none is a repeat)
// and averages away the noise. Byte-identical repeats return the stored
// release and spend nothing; every other run is charged, so the number of
// runs, and with it the variance of the average, is bounded by the
// agreement's budget: the average is no better than one run that spent the
// whole budget at once.
func TestAttackPartnerAveraging(t *testing.T) {
	var bank []attackRow
	for i := range 600 {
		bank = append(bank, attackRow{i, []string{"premium", strconv.Itoa(i + 1000), "0"}})
	}
	r := newPartnerRoom(t, bank, false)
	const rho = 0.05
	r.approve("sizes", rankTemplate("sizes", "bank-book.tier", rho))
	f := r.f

	// A byte-identical repeat is the stored release: the same numbers,
	// nothing spent.
	first, q1, _, body := r.run("sizes", map[string]string{"floor": "0"})
	if first == nil {
		t.Fatalf("first run refused: %s", strings.Join(strings.Fields(body), " "))
	}
	spent := f.rhoUsed("bank-book")
	again, q2, _, _ := r.run("sizes", map[string]string{"floor": "0"})
	if !q2.Repeat || q2.ID != q1.ID || f.rhoUsed("bank-book") != spent {
		t.Fatalf("a repeat ran again: %+v; spent %v, then %v", q2, spent, f.rhoUsed("bank-book"))
	}
	if a, _ := cell(again, "premium"); a != first.Cells[0].Values[0] {
		t.Fatalf("a repeat drew new noise: %v, then %v", first.Cells[0].Values[0], a)
	}

	// Equivalent parameters: every rank is at least 1000, so floor 0, -1,
	// -2, ... all ask the same question.
	values := []float64{first.Cells[0].Values[0]}
	sigma := first.Metrics[0].Noise.StdDev
	for k := 1; ; k++ {
		if k == attackRuns {
			t.Fatalf("%d equivalent runs and the budget has not refused one", k)
		}
		rel, _, status, body := r.run("sizes", map[string]string{"floor": strconv.Itoa(-k)})
		if rel == nil {
			budgetRefusal(t, status, body)
			break
		}
		v, ok := cell(rel, "premium")
		if !ok {
			t.Fatal("the premium group of 300 people is not shown")
		}
		values = append(values, v)
	}
	k := len(values)
	// The agreement's ρ = 1 per dataset, the match report spent 0.05, and
	// each run ρ = 0.05: at most 19 runs.
	if maxRuns := int(math.Floor((1 - matchPairRho + 1e-9) / rho)); k > maxRuns {
		t.Errorf("%d runs were allowed, the budget allows %d", k, maxRuns)
	}
	// What the average is worth: its variance σ²/k is at least that of one
	// run spending the whole budget, σ²·ρ/ρ_cap.
	if v, floor := sigma*sigma/float64(k), sigma*sigma*rho/1; v < floor*0.999 {
		t.Errorf("the average of %d runs has variance %.2f, below one run at the whole budget (%.2f)", k, v, floor)
	}
	// The runs did draw fresh noise each: their spread is the noise's. A
	// sample variance below σ²/10 with k ≥ 15 has probability below 1e-9
	// (χ² with k−1 degrees of freedom).
	mean, ss := 0.0, 0.0
	for _, v := range values {
		mean += v / float64(k)
	}
	for _, v := range values {
		ss += (v - mean) * (v - mean)
	}
	if k < 15 {
		t.Fatalf("only %d runs before the budget refused, want about 19", k)
	}
	if s2 := ss / float64(k-1); s2 < sigma*sigma/10 {
		t.Errorf("the runs' sample variance %.2f is far below the noise's σ² = %.2f", s2, sigma*sigma)
	}
	t.Logf("averaging: %d runs before the budget refused; the average's standard error %.2f against one run's %.2f; true 600, average %.2f",
		k, sigma/math.Sqrt(float64(k)), sigma, mean)
}

// TestAttackPartnerTracker: a tracker built from allowed filters. Every
// group the bank asks for is large, but two questions differ by one person:
// "rank ≥ 500" holds the target (rank 500) and 600 others (rank ≥ 1000),
// "rank ≥ 501" only the others. Their difference in the premium cell is
// the target's plan. Each question is charged, the noise of each is the
// noise of a count, so the difference's error is the noise (σ√2) and the
// budget bounds how many differences the bank can average.
func TestAttackPartnerTracker(t *testing.T) {
	bank := []attackRow{{attackTarget, []string{"basic", "500", "0"}}}
	for i := range 600 {
		bank = append(bank, attackRow{i, []string{"basic", strconv.Itoa(i + 1000), "0"}})
	}
	r := newPartnerRoom(t, bank, true)
	r.approve("plans", rankTemplate("plans", "op-subs.plan", 0.05))
	var sse, sigma float64
	pairs := 0
	for k := 0; ; k++ {
		if k == attackRuns {
			t.Fatalf("%d pairs of tracker runs and the budget has not refused one", k)
		}
		// Equivalent parameters make each question a fresh run: 500, 499,
		// ... all hold the target; 501, 502, ... none.
		with, _, status, body := r.run("plans", map[string]string{"floor": strconv.Itoa(500 - k)})
		if with == nil {
			budgetRefusal(t, status, body)
			break
		}
		without, _, status, body := r.run("plans", map[string]string{"floor": strconv.Itoa(501 + k)})
		if without == nil {
			budgetRefusal(t, status, body)
			break
		}
		a, okA := cell(with, "premium")
		b, okB := cell(without, "premium")
		if !okA || !okB {
			t.Fatal("the premium group of 300 people is not shown")
		}
		sigma = with.Metrics[0].Noise.StdDev
		sse += (a - b - 1) * (a - b - 1)
		pairs++
	}
	if pairs < 5 || pairs > 10 {
		t.Fatalf("%d pairs of runs before the budget refused, want 5 to 10 (ρ = 1, 0.05 a run)", pairs)
	}
	// Over ≥ 5 pairs: χ² with 5 degrees of freedom below 0.25.
	differencingError(t, "tracker", sse, pairs, sigma)
}

// differencingError checks that the attacker's differences of two noisy
// counts kept the noise: their mean squared error is 2σ², and below a
// twentieth of it has probability below 1e-5 for 5 or more pairs (χ²);
// without noise it is 0.
func differencingError(t *testing.T, attack string, sse float64, pairs int, sigma float64) {
	t.Helper()
	mse, noise := sse/float64(pairs), 2*sigma*sigma
	if mse < noise/20 {
		t.Errorf("%s: the mean squared error %.2f is far below the noise's 2σ² = %.2f", attack, mse, noise)
	}
	t.Logf("%s: %d pairs before the budget refused; MSE %.2f, 2σ² %.2f", attack, pairs, mse, noise)
}

// TestAttackPartnerSmallCells: the bank labels 99 of its matched customers
// and the target "probe" and asks for the people per tier: the probe group
// has 100 people if the target subscribes and 99 if not. A group of 99 is
// never shown (the hard minimum); a group of 100 passes the DP partition
// selection only with the probability the run's explain preview states,
// so seeing the group is evidence bounded by the selection's (ε, δ). The
// bank probes with fresh, equivalent runs until the budget refuses.
func TestAttackPartnerSmallCells(t *testing.T) {
	probe := func(subscribes bool) (shown, runs int, keep float64) {
		bank := []attackRow{{attackTarget, []string{"probe", "7777", "0"}}}
		for i := range 600 {
			tier := "basic"
			if i < 99 {
				tier = "probe"
			}
			bank = append(bank, attackRow{i, []string{tier, strconv.Itoa(i), "0"}})
		}
		r := newPartnerRoom(t, bank, subscribes)
		r.approve("tiers-probe", rankTemplate("tiers-probe", "bank-book.tier", 0.02))
		e, err := r.f.srv.ExplainQuery(t.Context(), "r1", "tiers-probe", 0, map[string]string{"floor": "0"})
		if err != nil {
			t.Fatal(err)
		}
		keep = -1
		for _, p := range e.Preview.Keep {
			switch p.N {
			case 99:
				if p.P != 0 {
					t.Fatalf("the preview keeps a group of 99 with probability %v", p.P)
				}
			case 100:
				keep = p.P
			}
		}
		if keep < 0 {
			t.Fatalf("the preview %+v does not state the probability of showing a group of 100", e.Preview.Keep)
		}
		for k := 0; ; k++ {
			if k == attackRuns {
				t.Fatalf("%d probes and the budget has not refused one", k)
			}
			rel, _, status, body := r.run("tiers-probe", map[string]string{"floor": strconv.Itoa(-k)})
			if rel == nil {
				budgetRefusal(t, status, body)
				return shown, runs, keep
			}
			runs++
			if _, ok := cell(rel, "probe"); ok {
				shown++
			}
			if _, ok := cell(rel, "basic"); !ok {
				t.Fatal("the basic group of 501 people is not shown")
			}
		}
	}
	shownOut, runsOut, _ := probe(false)
	if shownOut != 0 {
		t.Errorf("a group of 99 people was shown %d times in %d runs", shownOut, runsOut)
	}
	shownIn, runsIn, keep := probe(true)
	// Shown at most as often as the stated probability allows: more than
	// n·p + 6·√(n·p) + 1 has probability below 1e-9.
	if bound := float64(runsIn)*keep + 6*math.Sqrt(float64(runsIn)*keep) + 1; float64(shownIn) > bound {
		t.Errorf("a group of 100 people was shown %d times in %d runs; the selection keeps it with p = %.2g", shownIn, runsIn, keep)
	}
	if keep > 0.01 {
		t.Errorf("the selection keeps a group of 100 with p = %.2g: the threshold gives the target away", keep)
	}
	t.Logf("small cells: 99 people shown %d/%d, 100 people shown %d/%d (p = %.2g a run)", shownOut, runsOut, shownIn, runsIn, keep)
}

// TestAttackPartnerOutlier: the bank gives the target an outlier balance
// in its own dataset, on 50 rows, a million each, and asks for the sum of
// balances per operator plan, hoping the target's plan stands out. Each
// row and each person is clamped to the template's bounds before the sum,
// so the target adds at most 1000 to one cell, and the noise is calibrated
// to that bound: the released sum is the clamped sum plus noise.
func TestAttackPartnerOutlier(t *testing.T) {
	var bank []attackRow
	for range 50 {
		bank = append(bank, attackRow{attackTarget, []string{"basic", "7777", "1000000"}})
	}
	for i := range 600 {
		bank = append(bank, attackRow{i, []string{"basic", strconv.Itoa(i), "0"}})
	}
	r := newPartnerRoom(t, bank, true)
	r.approve("balances", `name: balances
question: What do the bank's customers hold, per operator plan?
join: [bank-book, op-subs]
group_by:
  - op-subs.plan
metrics:
  - balance: {sum: bank-book.balance, clamp: [0, 1000]}
controls:
  rho: 0.05
  receivers: [bank]
`)
	rel, _, status, body := r.run("balances", nil)
	if rel == nil {
		t.Fatalf("run refused: %d %s", status, strings.Join(strings.Fields(body), " "))
	}
	premium, okP := cell(rel, "premium")
	basic, okB := cell(rel, "basic")
	if !okP || !okB {
		t.Fatalf("cells %+v, want both plans shown", rel.Cells)
	}
	sigma := rel.Metrics[0].Noise.StdDev
	// The target (premium) contributes at most the clamp's 1000; everyone
	// else 0. More than 6σ off has probability below 1e-8.
	if math.Abs(premium-1000) > 6*sigma || math.Abs(basic) > 6*sigma {
		t.Errorf("sums premium %.0f, basic %.0f; the clamped truth is 1000 and 0 with σ = %.0f", premium, basic, sigma)
	}
	// The noise hides one clamped contribution: σ is above the clamp.
	if sigma < 1000 {
		t.Errorf("σ = %.0f is below one person's largest contribution (1000)", sigma)
	}
	t.Logf("outlier: premium %.0f, basic %.0f, σ %.0f; without clamping the premium sum would be 5e7", premium, basic, sigma)
}

// TestAttackPartnerMatchReportMembership: the bank uploads a tiny dataset
// (the target alone), then one padded with 300 customers it knows to be
// subscribers, and reads the match report to learn whether the target
// subscribes. A matched count below 100 is not shown; above it, each report
// is noisy and charged to both datasets, so repeated match runs stop at the
// budget with the attacker's error at the noise.
func TestAttackPartnerMatchReportMembership(t *testing.T) {
	// Tiny: the target alone is never counted, whether it subscribes or not.
	for _, subscribes := range []bool{true, false} {
		r := newPartnerRoom(t, []attackRow{{attackTarget, []string{"basic", "1", "0"}}}, subscribes)
		for range 3 {
			status, p := r.match()
			if status != 201 || p == nil {
				t.Fatalf("match = %d", status)
			}
			if p.Matched != -1 {
				t.Errorf("a one-person upload's report shows %d matched", p.Matched)
			}
		}
	}

	// Padded: 300 known subscribers and the target.
	bank := []attackRow{{attackTarget, []string{"basic", "1", "0"}}}
	for i := range 300 {
		bank = append(bank, attackRow{i, []string{"basic", "1", "0"}})
	}
	r := newPartnerRoom(t, bank, true)
	var sse, sigma float64
	runs := 1 // the room's first match run
	for {
		if runs == attackRuns {
			t.Fatalf("%d match runs and the budget has not refused one", runs)
		}
		status, p := r.match()
		if status != 201 {
			_, resp := r.f.do("provider", "POST", "/api/v1/rooms/r1/matches", nil)
			budgetRefusal(t, status, string(resp))
			break
		}
		runs++
		if p.Matched == -1 {
			t.Fatal("the padded upload's 301 matched people are reported as fewer than 100")
		}
		sigma = p.StdDev
		sse += float64(p.Matched-301) * float64(p.Matched-301)
	}
	// ρ = 1 per dataset and 0.05 a report: 20 reports.
	if runs > 20 {
		t.Errorf("%d match runs were allowed, the budget allows 20", runs)
	}
	n := float64(runs - 1)
	if mse := sse / n; n < 10 || mse < sigma*sigma/10 {
		t.Errorf("over %.0f reports the matched count's mean squared error is %.2f, far below the noise's σ² = %.2f", n, mse, sigma*sigma)
	}
	t.Logf("match report: %d runs before the budget refused; σ %.2f a report, so the average's standard error is %.2f",
		runs, sigma, sigma/math.Sqrt(n))
}

// TestAttackPartnerVersionDifferencing: the bank alternates versions of
// its own dataset, with the target and without, and asks the same question
// after each. The budget belongs to the dataset, not to a version: a new
// version starts with what the earlier ones spent, so the pairs the bank
// can difference are bounded as in TestAttackPartnerDifferencing, and each
// difference carries the noise.
func TestAttackPartnerVersionDifferencing(t *testing.T) {
	rows := func(withTarget bool) []attackRow {
		var bank []attackRow
		if withTarget {
			bank = append(bank, attackRow{attackTarget, []string{"basic", "1", "0"}})
		}
		for i := range 600 {
			bank = append(bank, attackRow{i, []string{"basic", "1", "0"}})
		}
		return bank
	}
	r := newPartnerRoom(t, rows(true), true)
	r.approve("plans", rankTemplate("plans", "op-subs.plan", 0.01))
	f := r.f
	version := 1
	premium := func(k int) (float64, float64, bool) {
		rel, _, status, body := r.run("plans", map[string]string{"floor": strconv.Itoa(-k)})
		if rel == nil {
			budgetRefusal(t, status, body)
			return 0, 0, false
		}
		v, ok := cell(rel, "premium")
		if !ok {
			t.Fatal("the premium group is not shown")
		}
		return v, rel.Metrics[0].Noise.StdDev, true
	}
	var sse, sigma float64
	pairs := 0
	for k := 0; ; k++ {
		if k == attackRuns {
			t.Fatalf("%d versions and the budget has not refused a run", k)
		}
		spent := f.rhoUsed("bank-book")
		a, s, ok := premium(2 * k)
		if !ok {
			break
		}
		version++
		r.put("bank-book", "bank", attackBankSchema, attackBankAttrs, version, rows(false))
		if status, _ := r.match(); status != 201 {
			break // the match report's budget ran out first
		}
		if f.rhoUsed("bank-book") <= spent {
			t.Fatalf("version %d started with a fresh budget: spent %v before, %v after", version, spent, f.rhoUsed("bank-book"))
		}
		b, _, ok := premium(2*k + 1)
		if !ok {
			break
		}
		version++
		r.put("bank-book", "bank", attackBankSchema, attackBankAttrs, version, rows(true))
		if status, _ := r.match(); status != 201 {
			break
		}
		sigma = s
		sse += (a - b - 1) * (a - b - 1)
		pairs++
	}
	// Each pair spends two runs and two match reports, 0.12 of ρ = 1.
	if pairs < 6 || pairs > 8 {
		t.Fatalf("%d pairs of versions before the budget refused, want 6 to 8", pairs)
	}
	differencingError(t, fmt.Sprintf("differencing %d versions", version), sse, pairs, sigma)
}
