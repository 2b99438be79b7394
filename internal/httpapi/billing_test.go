package httpapi

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
)

// rawCount runs a count query on the fixture's database behind the
// server's back.
func (f *fixture) rawCount(query string, args ...any) int {
	f.t.Helper()
	raw, err := sql.Open("sqlite", f.dbPath)
	if err != nil {
		f.t.Fatal(err)
	}
	defer raw.Close()
	var n int
	if err := raw.QueryRow(query, args...).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *fixture) setTerms(req TermsRequest) TermsBody {
	f.t.Helper()
	status, resp := f.do("admin", "PUT", "/api/v1/rooms/r1/terms", req)
	if status != 200 {
		f.t.Fatalf("set terms = %d %s", status, resp)
	}
	var b TermsBody
	if err := json.Unmarshal(resp, &b); err != nil {
		f.t.Fatal(err)
	}
	return b
}

func (f *fixture) run(template string) (int, QueryBody) {
	f.t.Helper()
	status, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/queries", RunQueryRequest{Template: template})
	var q QueryBody
	json.Unmarshal(resp, &q)
	if status >= 300 {
		f.t.Fatalf("run %s = %d %s", template, status, resp)
	}
	return status, q
}

func (f *fixture) dashboardOf(who, quarter string) cleanroom.Dashboard {
	f.t.Helper()
	status, resp := f.do(who, "GET", "/api/v1/dashboard?quarter="+quarter, nil)
	if status != 200 {
		f.t.Fatalf("dashboard as %s = %d %s", who, status, resp)
	}
	var d cleanroom.Dashboard
	if err := json.Unmarshal(resp, &d); err != nil {
		f.t.Fatal(err)
	}
	return d
}

func (f *fixture) ledgerOf(who, quarter string) LedgerBody {
	f.t.Helper()
	status, resp := f.do(who, "GET", "/api/v1/billing/ledger?quarter="+quarter, nil)
	if status != 200 {
		f.t.Fatalf("ledger as %s = %d %s", who, status, resp)
	}
	var l LedgerBody
	if err := json.Unmarshal(resp, &l); err != nil {
		f.t.Fatal(err)
	}
	return l
}

func roomOf(d cleanroom.Dashboard, room string) *cleanroom.RoomMetrics {
	for i := range d.Rooms {
		if d.Rooms[i].Room == room {
			return &d.Rooms[i]
		}
	}
	return nil
}

// TestBillingLedgerAndDashboard builds a ledger — a run before any terms,
// terms, a repeat, charged runs under two versions of the terms, a refusal
// — and checks the ledger, the revenue, the CSV export and every measure of
// the dashboard against it, for the admin and for each party's users.
func TestBillingLedgerAndDashboard(t *testing.T) {
	f := newFixture(t)
	f.queryReady("  receivers: [bank]\n")
	f.approvedTemplateNamed("tiers-b", "  receivers: [bank]\n  review_by: [bank]\n")

	// Before any terms: a run, and no charge.
	_, r0 := f.run("tiers")
	if n := f.rawCount(`SELECT count(*) FROM billing_ledger`); n != 0 {
		t.Fatalf("a room without terms recorded %d ledger entries", n)
	}

	f.now = f.now.Add(time.Minute)
	v1At := f.now
	b := f.setTerms(TermsRequest{Currency: "EUR", Subscription: 500000, RunPrice: 2500, TemplatePrices: map[string]int64{"tiers-b": 10000},
		Payer: "bank", Seller: "operator"})
	if b.Current == nil || b.Current.Version != 1 || !b.Current.EffectiveFrom.Equal(v1At) || b.Current.SetBy != "admin" {
		t.Fatalf("terms after set = %+v", b)
	}
	if e := f.lastAudit(); e.Action != cleanroom.ActionTermsSet || e.Room != "r1" || e.Detail["subscription"] != "500000" || e.Detail["price.tiers-b"] != "10000" {
		t.Errorf("terms audited as %+v", e)
	}

	// A repeat returns the stored result and is not charged.
	f.now = f.now.Add(time.Minute)
	if status, q := f.run("tiers"); status != 200 || !q.Repeat || q.ID != r0.ID {
		t.Fatalf("repeat = %d %+v", status, q)
	}
	// Two runs of tiers-b at its own price.
	_, q1 := f.run("tiers-b")
	_, q2 := f.run("tiers-b")
	if e := f.lastAudit(); e.Object != "query:"+q2.ID || e.Detail["charge"] != "10000 EUR to bank (terms version 1)" {
		t.Errorf("the run's entry does not record its charge: %+v", e)
	}
	// A new version applies from now on: tiers-b at the default price.
	f.now = f.now.Add(time.Minute)
	f.setTerms(TermsRequest{Currency: "EUR", Subscription: 600000, RunPrice: 3000, Payer: "bank", Seller: "operator"})
	f.now = f.now.Add(time.Minute)
	_, q3 := f.run("tiers-b")
	// A refusal: the payer has no analyst role.
	if status, _ := f.do("payer", "POST", "/api/v1/rooms/r1/queries", RunQueryRequest{Template: "tiers"}); status != 403 {
		t.Fatalf("payer's run = %d, want 403", status)
	}
	if n := f.rawCount(`SELECT count(*) FROM billing_ledger`); n != 3 {
		t.Fatalf("ledger has %d entries, want the 3 charged runs", n)
	}

	// The ledger, as the admin.
	l := f.ledgerOf("admin", "2026Q4")
	if len(l.Entries) != 3 || l.Next != 0 {
		t.Fatalf("ledger entries = %+v", l.Entries)
	}
	for i, want := range []struct {
		query  string
		amount int64
		terms  int
	}{{q1.ID, 10000, 1}, {q2.ID, 10000, 1}, {q3.ID, 3000, 2}} {
		e := l.Entries[i]
		if e.Query != want.query || e.Amount != want.amount || e.Terms != want.terms || e.Kind != "run" || e.Template != "tiers-b" ||
			e.Version != 1 || e.Payer != "bank" || e.Seller != "operator" || e.Currency != "EUR" || e.Quarter.String() != "2026Q4" || e.Room != "r1" {
			t.Errorf("entry %d = %+v, want query %s, %d EUR under terms %d", i, e, want.query, want.amount, want.terms)
		}
	}
	if len(l.Subscriptions) != 1 {
		t.Fatalf("subscriptions = %+v, want r1's", l.Subscriptions)
	}
	if s := l.Subscriptions[0]; s.Room != "r1" || s.Amount != 500000 || s.Terms != 1 || !s.Time.Equal(v1At) || s.Kind != "subscription" {
		t.Errorf("subscription = %+v, want 500000 EUR under terms 1 from %s", s, v1At)
	}
	if len(l.Revenue) != 1 || l.Revenue[0].Room != "r1" || l.Revenue[0].Total != 523000 || l.Revenue[0].Subscription != 500000 ||
		l.Revenue[0].Runs != 23000 || l.Revenue[0].RunCount != 3 || l.Revenue[0].Currency != "EUR" {
		t.Errorf("revenue = %+v, want r1: 5000.00 + 230.00 = 5230.00 EUR over 3 runs", l.Revenue)
	}
	// Paging.
	status, resp := f.do("admin", "GET", "/api/v1/billing/ledger?quarter=2026Q4&limit=2", nil)
	var page LedgerBody
	json.Unmarshal(resp, &page)
	if status != 200 || len(page.Entries) != 2 || page.Next != page.Entries[1].Seq {
		t.Fatalf("first page = %d %+v", status, page)
	}
	_, resp = f.do("admin", "GET", "/api/v1/billing/ledger?quarter=2026Q4&limit=2&after="+itoa(page.Next), nil)
	json.Unmarshal(resp, &page)
	if len(page.Entries) != 1 || page.Entries[0].Query != q3.ID || page.Next != 0 {
		t.Fatalf("second page = %+v", page)
	}

	// The CSV export for the finance system.
	all := append(append([]cleanroom.LedgerEntry{}, l.Subscriptions...), l.Entries...)
	cleanroom.SortLedger(all)
	var buf bytes.Buffer
	if err := cleanroom.WriteLedgerCSV(&buf, all); err != nil {
		t.Fatal(err)
	}
	ts := func(at time.Time) string { return at.UTC().Format(time.RFC3339) }
	run := f.now.Add(-2 * time.Minute)
	wantCSV := "room,quarter,time,kind,template,version,query,payer,seller,amount_minor,currency\n" +
		"r1,2026Q4," + ts(v1At) + ",subscription,,,,bank,operator,500000,EUR\n" +
		"r1,2026Q4," + ts(run) + ",run,tiers-b,1," + q1.ID + ",bank,operator,10000,EUR\n" +
		"r1,2026Q4," + ts(run) + ",run,tiers-b,1," + q2.ID + ",bank,operator,10000,EUR\n" +
		"r1,2026Q4," + ts(f.now) + ",run,tiers-b,1," + q3.ID + ",bank,operator,3000,EUR\n"
	if buf.String() != wantCSV {
		t.Errorf("CSV =\n%s\nwant\n%s", buf.String(), wantCSV)
	}

	// Triage the refusal: a false positive.
	var incident int64
	for _, e := range f.auditSince(0) {
		if e.Outcome == cleanroom.OutcomeRefused && e.Room == "r1" {
			incident = e.Seq
		}
	}
	if status, resp := f.do("reviewer", "POST", "/api/v1/rooms/r1/incidents/"+itoa(incident)+"/triage",
		TriageRequest{Verdict: "false_positive", Note: "the payer clicked run"}); status != 200 {
		t.Fatalf("triage = %d %s", status, resp)
	}

	// The dashboard, as the admin: both rooms, every measure.
	d := f.dashboardOf("admin", "2026Q4")
	if d.Scope != "all" || d.ActiveRooms != 2 || len(d.Rooms) != 2 || d.Queries != 4 {
		t.Fatalf("admin dashboard = %+v, want both rooms active and 4 runs", d)
	}
	m := roomOf(d, "r1")
	if m == nil || !m.Active || m.Queries != 4 || m.Repeats != 1 || m.Attempts != 6 || m.Refused != 1 {
		t.Fatalf("r1 = %+v, want 4 runs, 1 repeat, 6 attempts, 1 refused", m)
	}
	if m.RefusalRate == nil || *m.RefusalRate != 1.0/6 || d.RefusalRate == nil || *d.RefusalRate != 1.0/6 {
		t.Errorf("refusal rate = %v (all rooms %v), want 1/6", m.RefusalRate, d.RefusalRate)
	}
	// Only the released run's cells count (the three tiers-b runs wait for
	// review).
	if m.CellsShown != r0.Cells || m.CellsSuppressed != r0.Suppressed || r0.Cells+r0.Suppressed == 0 ||
		m.SuppressionRate == nil || *m.SuppressionRate != float64(r0.Suppressed)/float64(r0.Cells+r0.Suppressed) {
		t.Errorf("cells = %d shown, %d suppressed, rate %v; want the released run's %d and %d", m.CellsShown, m.CellsSuppressed,
			m.SuppressionRate, r0.Cells, r0.Suppressed)
	}
	if m.Revenue == nil || m.Revenue.Total != 523000 || m.Revenue.Subscription != 500000 || m.Revenue.Payer != "bank" || m.Revenue.Seller != "operator" {
		t.Errorf("r1 revenue = %+v", m.Revenue)
	}
	if len(d.Revenue) != 1 || d.Revenue[0] != (cleanroom.Revenue{Currency: "EUR", Subscription: 500000, Runs: 23000, Total: 523000, RunCount: 3}) {
		t.Errorf("total revenue = %+v", d.Revenue)
	}
	if len(m.Templates) != 2 || m.Templates[0] != (cleanroom.TemplateUse{Template: "tiers-b", Runs: 3, Charged: 23000}) ||
		m.Templates[1] != (cleanroom.TemplateUse{Template: "tiers", Runs: 1}) {
		t.Errorf("templates = %+v", m.Templates)
	}
	if m.Incidents != (cleanroom.IncidentCounts{Total: 1, FalsePositive: 1}) || d.Incidents != m.Incidents {
		t.Errorf("incidents = %+v (all rooms %+v), want 1, a false positive", m.Incidents, d.Incidents)
	}
	// 450 of each dataset's 500 people match; the rates carry noise.
	if m.MatchRate == nil || math.Abs(*m.MatchRate-0.9) > 0.1 || m.MatchRateInterval95 <= 0 {
		t.Errorf("match rate = %v ± %v, want about 0.9", m.MatchRate, m.MatchRateInterval95)
	}
	if d.AverageMatchRate == nil || *d.AverageMatchRate != *m.MatchRate {
		t.Errorf("average match rate = %v, want r1's (r2 has none)", d.AverageMatchRate)
	}
	if m.Budgets != nil {
		t.Errorf("the admin sees budgets: %+v", m.Budgets)
	}
	if a := m.Agreement; a == nil || a.Version != 1 || a.State != cleanroom.DUAActive || a.ExpiresSoon {
		t.Errorf("agreement = %+v, want version 1 active, not expiring within 90 days of the quarter's end", a)
	}
	if r2 := roomOf(d, "r2"); r2 == nil || !r2.Active || r2.Revenue != nil || r2.Queries != 0 || r2.MatchRate != nil {
		t.Errorf("r2 = %+v, want active, no terms, nothing run", r2)
	}

	// A member of r1 sees r1 only, with its own party's match rate and the
	// datasets' budgets.
	for _, who := range []string{"analyst", "payer", "receiver"} {
		d := f.dashboardOf(who, "2026Q4")
		if d.Scope != "bank" || len(d.Rooms) != 1 || d.Rooms[0].Room != "r1" || d.ActiveRooms != 1 || d.Queries != 4 {
			t.Fatalf("dashboard as %s = %+v, want r1 only", who, d)
		}
		m := d.Rooms[0]
		if len(m.Budgets) != 2 {
			t.Errorf("budgets as %s = %+v, want both datasets'", who, m.Budgets)
		}
		for _, bu := range m.Budgets {
			// ρ 0.05 for the match report and 0.1 for each of 4 runs, of 1.
			if math.Abs(bu.RhoUsed-0.45) > 1e-9 || bu.RhoCap != 1 || bu.Used < 0.45-1e-9 {
				t.Errorf("budget of %s = %+v, want ρ 0.45 of 1 used", bu.Dataset, bu)
			}
		}
		if m.MatchRate == nil || math.Abs(*m.MatchRate-0.9) > 0.1 {
			t.Errorf("match rate as %s = %v", who, m.MatchRate)
		}
	}
	// Another party's user never sees r1: not in its dashboard, not in its
	// ledger, not its terms.
	od := f.dashboardOf("outsider", "2026Q4")
	if od.Scope != "other" || len(od.Rooms) != 1 || od.Rooms[0].Room != "r2" || od.Queries != 0 || len(od.Revenue) != 0 || od.Incidents.Total != 0 {
		t.Errorf("outsider's dashboard = %+v, want r2 only", od)
	}
	ol := f.ledgerOf("outsider", "2026Q4")
	if len(ol.Entries) != 0 || len(ol.Subscriptions) != 0 || len(ol.Revenue) != 0 {
		t.Errorf("outsider's ledger = %+v, want nothing of r1", ol)
	}
	if status, _ := f.do("outsider", "GET", "/api/v1/rooms/r1/terms", nil); status != 404 {
		t.Errorf("outsider reading r1's terms = %d, want 404", status)
	}
	for _, resp := range [][]byte{mustJSON(t, od), mustJSON(t, ol)} {
		if bytes.Contains(resp, []byte("r1")) || bytes.Contains(resp, []byte("tiers")) || bytes.Contains(resp, []byte(q1.ID)) {
			t.Errorf("the outsider's view mentions r1: %s", resp)
		}
	}

	// The next quarter: the room's subscription under the terms then in
	// effect, charged from the quarter's first instant; nothing else.
	f.now = time.Date(2027, 1, 2, 9, 0, 0, 0, time.UTC)
	if err := f.db.Update(t.Context(), func(tx *sqlite.Tx) error {
		f.addToken(tx, "admin", cleanroom.Admin, "", "", time.Hour) // the old one has expired
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	l = f.ledgerOf("admin", "2027Q1")
	if len(l.Entries) != 0 || len(l.Subscriptions) != 1 || l.Subscriptions[0].Amount != 600000 || l.Subscriptions[0].Terms != 2 ||
		!l.Subscriptions[0].Time.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("2027Q1 ledger = %+v, want only the subscription under terms 2 from 1 January", l)
	}
	// The Go function the web UI may call gives the same view.
	dp, err := f.srv.Dashboard(t.Context(), &cleanroom.Principal{Kind: cleanroom.Admin}, mustQuarter(t, "2027Q1"))
	d = f.dashboardOf("admin", "2027Q1")
	if err != nil || !bytes.Equal(mustJSON(t, dp), mustJSON(t, d)) {
		t.Errorf("Dashboard() = %+v, %v; the API says %+v", dp, err, d)
	}
	if m := roomOf(d, "r1"); m == nil || m.Queries != 0 || m.Attempts != 0 || m.Revenue == nil || m.Revenue.Total != 600000 {
		t.Errorf("2027Q1 r1 = %+v", m)
	}
	// The past quarter does not change.
	if l := f.ledgerOf("admin", "2026Q4"); len(l.Revenue) != 1 || l.Revenue[0].Total != 523000 {
		t.Errorf("2026Q4 revenue later = %+v", l.Revenue)
	}
	// A quarter before anything: empty, not an error.
	if d := f.dashboardOf("admin", "2025Q1"); d.ActiveRooms != 0 || d.Queries != 0 || len(d.Revenue) != 0 {
		t.Errorf("2025Q1 = %+v, want nothing", d)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTermsRefused checks that terms are set only by the platform admin,
// only with valid amounts, a currency and two of the room's parties, and
// never in another currency than before; each refusal changes nothing and
// says what was wrong.
func TestTermsRefused(t *testing.T) {
	f := newFixture(t)
	ok := TermsRequest{Currency: "EUR", Subscription: 100, RunPrice: 1, Payer: "bank", Seller: "operator"}
	f.setTerms(ok)
	for _, tc := range []struct {
		name, who string
		edit      func(r *TermsRequest)
		status    int
		message   string
	}{
		{"a member", "analyst", func(*TermsRequest) {}, 403, "only the platform admin may set a room's commercial terms"},
		{"bad currency", "admin", func(r *TermsRequest) { r.Currency = "euro" }, 400, `currency "euro" is not an ISO 4217 code`},
		{"other currency", "admin", func(r *TermsRequest) { r.Currency = "USD" }, 400, `room "r1" is billed in EUR; its terms cannot change currency to USD`},
		{"negative price", "admin", func(r *TermsRequest) { r.RunPrice = -5 }, 400, `field "run_price" is -5`},
		{"huge subscription", "admin", func(r *TermsRequest) { r.Subscription = 1 << 50 }, 400, `field "subscription"`},
		{"payer not in the room", "admin", func(r *TermsRequest) { r.Payer = "other" }, 400, `payer "other" is not a party of room "r1"`},
		{"payer is seller", "admin", func(r *TermsRequest) { r.Seller = "bank" }, 400, `party "bank" cannot both pay and earn`},
		{"bad template name", "admin", func(r *TermsRequest) { r.TemplatePrices = map[string]int64{"Tiers!": 5} }, 400, `field "template_prices": template name "Tiers!" is not valid`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := ok
			tc.edit(&req)
			before := f.rawCount(`SELECT count(*) FROM billing_terms`)
			status, resp := f.do(tc.who, "PUT", "/api/v1/rooms/r1/terms", req)
			var e ErrorBody
			json.Unmarshal(resp, &e)
			if status != tc.status || !strings.Contains(e.Message, tc.message) {
				t.Fatalf("%s = %d %s, want %d with %q", tc.name, status, resp, tc.status, tc.message)
			}
			if n := f.rawCount(`SELECT count(*) FROM billing_terms`); n != before {
				t.Errorf("refused terms stored: %d -> %d versions", before, n)
			}
		})
	}
	if status, resp := f.do("admin", "GET", "/api/v1/dashboard?quarter=2026Q5", nil); status != 400 || !strings.Contains(string(resp), `quarter \"2026Q5\" is not a quarter like 2026Q4`) {
		t.Errorf("bad quarter = %d %s", status, resp)
	}
	// Terms stored in the database cannot be edited, nor the ledger.
	raw, _ := sql.Open("sqlite", f.dbPath)
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE billing_terms SET subscription = 0`); err == nil || !strings.Contains(err.Error(), "immutable") {
		t.Errorf("editing terms = %v, want refused", err)
	}
}

// TestRunAndChargeAtomic makes recording a run fail after its ledger entry
// (at the audit append) and at the ledger entry itself, and checks that
// neither the run nor its charge remains; then that a run and its charge
// are recorded together.
func TestRunAndChargeAtomic(t *testing.T) {
	f := newFixture(t)
	f.queryReady("  receivers: [bank]\n  review_by: [bank]\n")
	f.setTerms(TermsRequest{Currency: "EUR", Subscription: 0, RunPrice: 700, Payer: "bank", Seller: "operator"})
	for _, trigger := range []string{
		`CREATE TRIGGER fail BEFORE INSERT ON audit_log WHEN NEW.outcome = 'ok' BEGIN SELECT RAISE(ABORT, 'injected failure'); END`,
		`CREATE TRIGGER fail BEFORE INSERT ON billing_ledger BEGIN SELECT RAISE(ABORT, 'injected failure'); END`,
	} {
		f.rawExec(trigger)
		status, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/queries", RunQueryRequest{Template: "tiers"})
		if status != http.StatusInternalServerError || strings.Contains(string(resp), "injected") {
			t.Fatalf("run with a failing write = %d %s, want 500 without detail", status, resp)
		}
		if q, e := f.rawCount(`SELECT count(*) FROM queries`), f.rawCount(`SELECT count(*) FROM billing_ledger`); q != 0 || e != 0 {
			t.Fatalf("failed run left %d runs and %d ledger entries", q, e)
		}
		f.rawExec(`DROP TRIGGER fail`)
	}
	for range 2 {
		f.run("tiers")
	}
	if q, e := f.rawCount(`SELECT count(*) FROM queries`), f.rawCount(`SELECT count(*) FROM billing_ledger l JOIN queries q ON q.id = l.query`); q != 2 || e != 2 {
		t.Fatalf("%d runs and %d ledger entries of them, want 2 and 2", q, e)
	}
	// The ledger is append-only.
	raw, _ := sql.Open("sqlite", f.dbPath)
	defer raw.Close()
	if _, err := raw.Exec(`DELETE FROM billing_ledger`); err == nil {
		t.Error("deleting ledger entries succeeded")
	}
}

// TestAgreementSpans derives when agreements were in force from their
// signatures, terminations and successors, and a room's subscription per
// quarter from them.
func TestAgreementSpans(t *testing.T) {
	day := func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 0, 0, 0, 0, time.UTC) }
	agr := func(v int, starts, expires, signed time.Time, terminated time.Time) *agreement {
		a := &agreement{doc: cleanroom.DUA{Version: v, StartsAt: starts, ExpiresAt: expires, Parties: []cleanroom.DUAParty{{Name: "a"}, {Name: "b"}}},
			valid: map[string]bool{"a": true, "b": true}}
		a.rec.Signatures = []sqlite.DUASignature{{Party: "a", SignedAt: starts.Add(-time.Hour)}, {Party: "b", SignedAt: signed}}
		if !terminated.IsZero() {
			a.rec.TerminatedBy, a.rec.TerminatedAt = "a", terminated
		}
		return a
	}
	// Version 1 from 1 Feb (signed late, 10 Feb) to 1 Jun; version 2,
	// signed 1 May, takes over from 15 May and is terminated 1 Aug.
	v1 := agr(1, day(2, 1), day(6, 1), day(2, 10), time.Time{})
	v2 := agr(2, day(5, 15), day(12, 31), day(5, 1), day(8, 1))
	// A draft is never in force.
	v3 := agr(3, day(9, 1), day(12, 31), day(9, 1), time.Time{})
	v3.missing = []string{"b"}
	got := inForceSpans([]*agreement{v1, v2, v3})
	want := []span{{day(2, 10), day(5, 15)}, {day(5, 15), day(8, 1)}}
	if len(got) != len(want) {
		t.Fatalf("spans = %v, want %v", got, want)
	}
	for i := range want {
		if !got[i].from.Equal(want[i].from) || !got[i].to.Equal(want[i].to) {
			t.Errorf("span %d = %v, want %v", i, got[i], want[i])
		}
	}
	terms := []cleanroom.Terms{
		{Version: 1, Currency: "EUR", Subscription: 100, Payer: "a", Seller: "b", EffectiveFrom: day(3, 15)},
		{Version: 2, Currency: "EUR", Subscription: 250, Payer: "a", Seller: "b", EffectiveFrom: day(4, 2)},
	}
	now := day(12, 1)
	for _, tc := range []struct {
		q      string
		at     time.Time
		amount int64
	}{
		{"2026Q1", day(3, 15), 100}, // terms from 15 March, in force since 10 February
		{"2026Q2", day(4, 1), 100},  // the terms in effect on 1 April
		{"2026Q3", day(7, 1), 250},  // version 2 of the agreement until 1 August
		{"2026Q4", time.Time{}, 0},  // no agreement in force
	} {
		q, _ := cleanroom.ParseQuarter(tc.q)
		e := subscriptionOf("r", terms, got, q, earliest(q.End(), now))
		switch {
		case tc.amount == 0 && e != nil:
			t.Errorf("%s: subscription %+v, want none", tc.q, e)
		case tc.amount != 0 && (e == nil || e.Amount != tc.amount || !e.Time.Equal(tc.at) || e.Quarter != q):
			t.Errorf("%s: subscription %+v, want %d from %s", tc.q, e, tc.amount, tc.at)
		}
	}
	// A quarter in progress counts only up to now.
	q, _ := cleanroom.ParseQuarter("2026Q1")
	if e := subscriptionOf("r", terms, got, q, day(3, 1)); e != nil {
		t.Errorf("subscription before the terms were set: %+v", e)
	}
	// The agreement's status for the review: version 2 was terminated, so
	// no renewal is due; version 1 expired on 1 June, replaced.
	active, st := agreementStatus([]*agreement{v1, v2, v3}, mustQuarter(t, "2026Q3"), day(10, 1))
	if !active || st == nil || st.Version != 2 || st.ExpiresSoon {
		t.Errorf("2026Q3 status = %v %+v", active, st)
	}
	// An agreement that just runs out is flagged within 90 days of the
	// quarter's end.
	v4 := agr(1, day(1, 1), time.Date(2027, 2, 15, 0, 0, 0, 0, time.UTC), day(1, 1), time.Time{})
	if _, st := agreementStatus([]*agreement{v4}, mustQuarter(t, "2026Q4"), now); st == nil || !st.ExpiresSoon {
		t.Errorf("expiring agreement status = %+v, want expires soon", st)
	}
	if _, st := agreementStatus([]*agreement{v4}, mustQuarter(t, "2026Q3"), day(10, 1)); st == nil || st.ExpiresSoon {
		t.Errorf("agreement expiring 137 days after 2026Q3 = %+v, want not flagged", st)
	}
}

func mustQuarter(t *testing.T, s string) cleanroom.Quarter {
	t.Helper()
	q, err := cleanroom.ParseQuarter(s)
	if err != nil {
		t.Fatal(err)
	}
	return q
}
