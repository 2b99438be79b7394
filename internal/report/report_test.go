package report

import (
	"bytes"
	"encoding/xml"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/dpml"
	"github.com/cleanroom-dev/cleanroom/internal/release"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func f(v float64) *float64 { return &v }

// testDashboard is a quarter of two active rooms and an idle one.
func testDashboard() *cleanroom.Dashboard {
	q, _ := cleanroom.ParseQuarter("2026Q4")
	return &cleanroom.Dashboard{Quarter: q, Start: q.Start(), End: q.End(), AsOf: time.Date(2027, 1, 5, 9, 30, 0, 0, time.UTC), Scope: "operator",
		ActiveRooms: 2, Rooms: []cleanroom.RoomMetrics{
			{Room: "operator-bank", Parties: []string{"bank", "operator"}, Active: true,
				Agreement: &cleanroom.AgreementStatus{Version: 2, State: cleanroom.DUAActive, StartsAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
					ExpiresAt: time.Date(2027, 2, 28, 0, 0, 0, 0, time.UTC), ExpiresSoon: true},
				MatchRate: f(0.62), MatchRateInterval95: 0.01, Queries: 12, Repeats: 2, Attempts: 15, Refused: 1, RefusalRate: f(1.0 / 15),
				CellsShown: 30, CellsSuppressed: 10, SuppressionRate: f(0.25),
				Revenue: &cleanroom.RoomRevenue{Revenue: cleanroom.Revenue{Currency: "EUR", Subscription: 500000, Runs: 30000, Total: 530000, RunCount: 12},
					Payer: "bank", Seller: "operator"},
				Templates: []cleanroom.TemplateUse{{Template: "premium-product-uptake", Runs: 8, Charged: 20000}, {Template: "joint-credit-risk", Runs: 4, Charged: 10000}},
				Incidents: cleanroom.IncidentCounts{Total: 3, Breach: 1, FalsePositive: 1, Untriaged: 1},
				Budgets: []cleanroom.BudgetUse{{Dataset: "customers", Party: "bank", RhoCap: 2, RhoUsed: 1.8, EpsilonCap: 20, EpsilonUsed: 4, Used: 0.9},
					{Dataset: "subscribers", Party: "operator", RhoCap: 2, RhoUsed: 0.5, EpsilonCap: 20, EpsilonUsed: 4, Used: 0.25}}},
			{Room: "operator-shop", Parties: []string{"advertiser", "operator"}, Active: true,
				Agreement: &cleanroom.AgreementStatus{Version: 1, State: cleanroom.DUAActive, ExpiresAt: time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)},
				MatchRate: f(0.5), MatchRateInterval95: 0.02, Queries: 3, Attempts: 3,
				Templates: []cleanroom.TemplateUse{{Template: "campaign-lift", Runs: 3}}},
			{Room: "idle-room", Parties: []string{"operator", "other"}, Incidents: cleanroom.IncidentCounts{Total: 4, Untriaged: 4}},
		}}
}

func testQuarterly() *Quarterly {
	released := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	lifts, up := ResultsOf("operator-shop", "campaign-lift", released, &release.Release{Lift: []release.Lift{
		{Campaign: "spring", ExposedRate: 0.05, HoldoutRate: 0.03, Lift: 0.02, Interval95: 0.004, Relative: 0.667},
		{Campaign: "<winter & co>", ExposedRate: 0.04, HoldoutRate: 0.041, Lift: -0.001, Interval95: 0.005, Relative: -0.024},
	}})
	if up != nil {
		panic("an attribution result has no model uplift")
	}
	_, u := ResultsOf("operator-bank", "joint-credit-risk", released, &release.Release{Models: []release.ModelReport{
		{Name: cleanroom.ModelJoint, Evaluation: &dpml.Evaluation{AUC: 0.634}},
		{Name: cleanroom.ModelLabelOnly, Evaluation: &dpml.Evaluation{AUC: 0.522}},
	}})
	return &Quarterly{Dashboard: testDashboard(), Lifts: lifts, Uplifts: []Uplift{*u}, Unopened: 1}
}

// element is a parsed HTML element.
type element struct {
	name     string
	attr     map[string]string
	text     string
	children []*element
}

// parseHTML parses the page with encoding/xml in its HTML mode (void
// elements closed, HTML entities known), failing on markup it cannot
// follow.
func parseHTML(t *testing.T, page string) *element {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(page))
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	root := &element{name: "#document"}
	stack := []*element{root}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("page does not parse: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			e := &element{name: strings.ToLower(tok.Name.Local), attr: map[string]string{}}
			for _, a := range tok.Attr {
				e.attr[strings.ToLower(a.Name.Local)] = a.Value
			}
			p := stack[len(stack)-1]
			p.children = append(p.children, e)
			stack = append(stack, e)
		case xml.EndElement:
			if len(stack) == 1 {
				t.Fatalf("unbalanced </%s>", tok.Name.Local)
			}
			if got := stack[len(stack)-1].name; got != strings.ToLower(tok.Name.Local) {
				t.Fatalf("</%s> closes <%s>", tok.Name.Local, got)
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			stack[len(stack)-1].text += string(tok)
		}
	}
	if len(stack) != 1 {
		t.Fatalf("%d elements left open, the innermost <%s>", len(stack)-1, stack[len(stack)-1].name)
	}
	return root
}

func (e *element) all(name string) []*element {
	var out []*element
	for _, c := range e.children {
		if c.name == name {
			out = append(out, c)
		}
		out = append(out, c.all(name)...)
	}
	return out
}

// textOf returns the text of e and its descendants.
func (e *element) textOf() string {
	s := e.text
	for _, c := range e.children {
		s += " " + c.textOf()
	}
	return strings.Join(strings.Fields(s), " ")
}

// CheckSelfContained fails if the page loads or runs anything: scripts,
// links, images, frames, objects, external URLs or event handlers.
func checkSelfContained(t *testing.T, root *element, page string) {
	t.Helper()
	for _, name := range []string{"script", "link", "img", "image", "iframe", "object", "embed", "audio", "video", "source", "base", "form"} {
		if n := len(root.all(name)); n > 0 {
			t.Errorf("page has %d <%s> elements", n, name)
		}
	}
	var walk func(e *element)
	walk = func(e *element) {
		for k, v := range e.attr {
			if strings.HasPrefix(k, "on") || k == "href" || k == "src" || k == "srcset" || k == "action" || k == "background" {
				t.Errorf("<%s> has attribute %s=%q", e.name, k, v)
			}
		}
		for _, c := range e.children {
			walk(c)
		}
	}
	walk(root)
	low := strings.ToLower(page)
	for _, bad := range []string{"http:", "https:", "//", "url(", "@import", "@font-face", "javascript:"} {
		if i := strings.Index(low, bad); i >= 0 {
			t.Errorf("page contains %q: …%s…", bad, page[max(0, i-40):min(len(page), i+40)])
		}
	}
}

// secretRE matches what must never appear in a page: API tokens, base64 of
// 32-byte keys, hex digests, and long random IDs.
var secretRE = regexp.MustCompile(`crt_[A-Za-z0-9_-]+|[A-Za-z0-9+/]{43}=|\b[0-9a-f]{32,}\b|\b[A-Z0-9]{16}\b`)

func TestRenderQuarterly(t *testing.T) {
	q := testQuarterly()
	var buf bytes.Buffer
	if err := Render(&buf, q); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	var again bytes.Buffer
	Render(&again, testQuarterly())
	if again.String() != page {
		t.Error("the same review rendered twice differs")
	}
	root := parseHTML(t, page)
	checkSelfContained(t, root, page)
	if m := secretRE.FindString(page); m != "" {
		t.Errorf("page contains %q, which looks like a token, key or ID", m)
	}
	text := root.textOf()
	for _, want := range []string{
		"Quarterly review 2026Q4",
		"1 October 2026 to 31 December 2026: the active rooms of party operator.",
		// Summary over the two active rooms.
		"Active partner rooms 2",
		"Average match rate 56.0 %",
		"Query runs 15 18 requests",
		"Revenue (EUR) 5,300.00 EUR 5,000.00 EUR subscriptions, 300.00 EUR for 12 runs",
		"Audit incidents 3 1 breaches, 1 false positives, 1 not triaged",
		"Suppression rate 25.0 % 10 of 40 groups of released results withheld",
		"Refusal rate 5.6 % 1 of 18 run requests refused",
		"not covered: idle-room.",
		// Utilisation and value.
		"operator-bank 12 2 15 1 6.7 % 25.0 % premium-product-uptake (8), joint-credit-risk (4)",
		"operator-bank bank operator 5,000.00 EUR 12 300.00 EUR 5,300.00 EUR",
		"operator-shop no commercial terms",
		"operator-shop campaign-lift spring 5.0 % 3.0 % +2.00 pp ± 0.40 pp 66.7 % 20 November 2026",
		"<winter & co>",
		"operator-bank joint-credit-risk 0.634 0.522 +0.112",
		"1 result(s) with lift or model figures were released",
		// Regulatory.
		"operator-bank 3 1 1 1",
		"operator-bank 2 active 28 February 2027 58",
		"customers (bank) in operator-bank",
		"customers bank 1.8 of 2 4 of 20 90.0 %",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("page text lacks %q", want)
		}
	}
	// The idle room's incidents and the budget under 80 % are not in it.
	if strings.Contains(text, "subscribers") || strings.Contains(text, "idle-room 4") {
		t.Error("page shows a budget under 80 % or the inactive room's figures")
	}
	// Charts: queries, revenue, match rates, lift, uplift, one gauge.
	svgs := root.all("svg")
	if len(svgs) != 6 {
		t.Errorf("page has %d charts, want 6", len(svgs))
	}
	for _, s := range svgs {
		if s.attr["role"] != "img" || len(s.children) == 0 || s.children[0].name != "title" || s.children[0].text == "" {
			t.Errorf("chart %q is not an image with a title", s.attr["aria-label"])
		}
	}
	if strings.Contains(page, "<winter") {
		t.Error("a campaign label is not escaped")
	}
	path := filepath.Join("testdata", "quarterly.html")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(want, buf.Bytes()) {
		t.Errorf("page differs from %s; run go test -update after checking the change", path)
	}
}

// TestRenderAdminView: the platform admin's view has no budgets, and an
// empty quarter renders.
func TestRenderAdminView(t *testing.T) {
	d := testDashboard()
	d.Scope = "all"
	for i := range d.Rooms {
		d.Rooms[i].Budgets = nil
	}
	var buf bytes.Buffer
	if err := Render(&buf, &Quarterly{Dashboard: d}); err != nil {
		t.Fatal(err)
	}
	text := parseHTML(t, buf.String()).textOf()
	for _, want := range []string{"the active rooms of the platform (the admin's view of all rooms)", "Privacy budgets are shown to the rooms' members only",
		"No attribution result was released"} {
		if !strings.Contains(text, want) {
			t.Errorf("admin page lacks %q", want)
		}
	}
	q, _ := cleanroom.ParseQuarter("2025Q1")
	buf.Reset()
	if err := Render(&buf, &Quarterly{Dashboard: &cleanroom.Dashboard{Quarter: q, Start: q.Start(), End: q.End(), AsOf: q.End(), Scope: "bank"}}); err != nil {
		t.Fatal(err)
	}
	root := parseHTML(t, buf.String())
	checkSelfContained(t, root, buf.String())
	if !strings.Contains(root.textOf(), "No room had an agreement in force in this quarter") {
		t.Error("an empty quarter does not say so")
	}
	if err := Render(&buf, &Quarterly{}); err == nil {
		t.Error("rendering without a dashboard succeeded")
	}
}
