package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/synth"
)

// TestBillingAndQuarterlyReview runs the demo room on small data, then
// from the command line: the platform admin sets the room's terms; the
// parties run queries — new runs, a repeat, a refusal; the ledger is
// exported as CSV and checked run by run; and the operator's and the
// bank's quarterly reviews are written, parsed, and checked to show the
// revenue, the lift the operator received and the model uplift the bank
// received, and to hold no token, key or query ID and load nothing.
func TestBillingAndQuarterlyReview(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	// Small data on which each campaign's two arms hold enough linked
	// people (about 170 of each, against a minimum of 100) to be shown.
	sc := synth.DefaultConfig()
	sc.Subscribers, sc.Customers, sc.Reach, sc.HoldoutShare = 3000, 1500, 0.8, 0.5
	demoOut := &syncBuffer{}
	if err := runDemo(context.Background(), DemoConfig{DataDir: dir, Addr: "127.0.0.1:0", NoServe: true, Synth: &sc}, demoOut,
		slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("demo: %v\n%s", err, demoOut)
	}
	var session demoSession
	raw, err := os.ReadFile(filepath.Join(dir, "demo-session.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &session); err != nil {
		t.Fatal(err)
	}
	m := NewMain(ServeConfig{DataDir: dir, Addr: "127.0.0.1:0"}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case <-m.Ready():
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	config := filepath.Join(t.TempDir(), "config.json")
	cli := func(token string, args ...string) (string, string, int) {
		t.Helper()
		var o, e bytes.Buffer
		args = append(args, "--server", m.URL(), "--token", token, "--ca", filepath.Join(dir, "tls", "cert.pem"), "--config", config)
		code := run(ctx, args, strings.NewReader(""), &o, &e)
		return o.String(), e.String(), code
	}
	must := func(token string, args ...string) string {
		t.Helper()
		o, e, code := cli(token, args...)
		if code != 0 {
			t.Fatalf("cleanroom %s exited %d: %s", strings.Join(args, " "), code, e)
		}
		return o
	}
	admin, olivia, ben := session.Admin, session.Users["operator/olivia"], session.Users["bank/ben"]
	quarter := cleanroom.QuarterOf(time.Now()).String()

	var before cleanroom.Dashboard
	json.Unmarshal([]byte(must(admin, "report", "dashboard", "--quarter", quarter, "--json")), &before)

	// Only the platform admin sets terms.
	set := []string{"billing", "terms", "set", "--room", demoRoom, "--currency", "EUR", "--subscription", "5000", "--run-price", "25.50",
		"--price", "tier-by-default-flag=100", "--payer", "bank", "--seller", "operator"}
	if _, e, code := cli(olivia, set...); code != 1 || !strings.Contains(e, "cleanroom: only the platform admin may set a room's commercial terms") {
		t.Errorf("terms set by a member = %d %s", code, e)
	}
	if _, e, code := cli(admin, "billing", "terms", "set", "--room", demoRoom, "--currency", "EUR", "--subscription", "5000.001",
		"--run-price", "1", "--payer", "bank", "--seller", "operator"); code != 2 || !strings.Contains(e, "--subscription: amount \"5000.001\" has more than 2 decimals") {
		t.Errorf("terms with a bad amount = %d %s", code, e)
	}
	if o := must(admin, set...); !strings.Contains(o, "Set terms version 1 of room operator-bank") || !strings.Contains(o, "5,000.00 EUR per quarter") {
		t.Errorf("terms set printed:\n%s", o)
	}
	if o := must(ben, "billing", "terms", "show", "--room", demoRoom); !strings.Contains(o, "tier-by-default-flag:  100.00 EUR") ||
		!strings.Contains(o, "run price:") || !strings.Contains(o, "25.50 EUR") {
		t.Errorf("terms show as the payer:\n%s", o)
	}

	// Two new runs, a repeat, a run held for review, a refusal.
	var ids []string
	for _, p := range []string{"deposit", "credit_card", "deposit"} {
		o := must(olivia, "query", "run", "premium-product-uptake", "--room", demoRoom, "--param", "product="+p, "--json",
			"--agent-state", filepath.Join(dir, "parties", "operator", "agent"))
		var q struct {
			ID     string `json:"id"`
			Repeat bool   `json:"repeat"`
		}
		json.Unmarshal([]byte(o), &q)
		if q.Repeat != (len(ids) == 2) {
			t.Fatalf("run %d: repeat = %v", len(ids), q.Repeat)
		}
		ids = append(ids, q.ID)
	}
	o := must(olivia, "query", "run", "tier-by-default-flag", "--room", demoRoom, "--param", "flag=true", "--param", "since=2015-01-01", "--json")
	var held struct {
		ID string `json:"id"`
	}
	json.Unmarshal([]byte(o), &held)
	ids = append(ids, held.ID)
	if _, e, code := cli(olivia, "query", "run", "premium-product-uptake", "--room", demoRoom, "--param", "product=yacht"); code != 1 || !strings.Contains(e, "yacht") {
		t.Fatalf("a refused run = %d %s", code, e)
	}

	// The CSV export: the subscription and the three charged runs.
	csvPath := filepath.Join(t.TempDir(), "ledger.csv")
	must(admin, "billing", "export", "--quarter", quarter, "--out", csvPath)
	f, err := os.Open(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatalf("export is not CSV: %v", err)
	}
	if fi, _ := os.Stat(csvPath); fi.Mode().Perm() != 0o600 {
		t.Errorf("export has mode %v, want 0600", fi.Mode().Perm())
	}
	if len(rows) != 5 || strings.Join(rows[0], ",") != strings.Join(cleanroom.LedgerCSVHeader, ",") {
		t.Fatalf("export rows:\n%v", rows)
	}
	want := []struct{ kind, template, query, amount string }{
		{"subscription", "", "", "500000"},
		{"run", "premium-product-uptake", ids[0], "2550"},
		{"run", "premium-product-uptake", ids[1], "2550"},
		{"run", "tier-by-default-flag", ids[3], "10000"},
	}
	for i, w := range want {
		r := rows[i+1]
		if r[0] != demoRoom || r[1] != quarter || r[3] != w.kind || r[4] != w.template || r[6] != w.query || r[7] != "bank" || r[8] != "operator" ||
			r[9] != w.amount || r[10] != "EUR" {
			t.Errorf("row %d = %v, want %s %s %s %s", i+1, r, w.kind, w.template, w.query, w.amount)
		}
	}

	// The dashboard counts what the test did on top of the demo.
	var after cleanroom.Dashboard
	json.Unmarshal([]byte(must(admin, "report", "dashboard", "--quarter", quarter, "--json")), &after)
	if after.Queries != before.Queries+3 || after.Attempts != before.Attempts+5 || after.Refused != before.Refused+1 ||
		len(after.Revenue) != 1 || after.Revenue[0].Total != 515100 || after.ActiveRooms != 1 {
		t.Errorf("dashboard before %+v, after %+v; want 3 more runs, 5 more requests, 1 more refusal, 5,151.00 EUR", before, after)
	}
	if o := must(ben, "report", "dashboard", "--quarter", quarter); !strings.Contains(o, "5,151.00 EUR") || !strings.Contains(o, "party bank") {
		t.Errorf("dashboard as the bank:\n%s", o)
	}

	// The operator's review, with the campaign lift it received.
	secrets := append([]string{admin, olivia, ben, session.Users["advertiser/ada"]}, ids...)
	for _, id := range session.Queries {
		secrets = append(secrets, id)
	}
	out := filepath.Join(t.TempDir(), "operator.html")
	_, e, code := cli(olivia, "report", "quarterly", "--quarter", quarter, "--out", out, "--agent-state", filepath.Join(dir, "parties", "operator", "agent"))
	if code != 0 || !strings.Contains(e, "Wrote the "+quarter+" review of 1 active rooms to "+out) {
		t.Fatalf("report quarterly = %d %s", code, e)
	}
	text := checkReview(t, out, secrets)
	for _, w := range []string{"Quarterly review " + quarter, "the active rooms of party operator", "Revenue (EUR) 5,151.00 EUR",
		"operator-bank bank operator 5,000.00 EUR 3 151.00 EUR 5,151.00 EUR", "Lift per campaign"} {
		if !strings.Contains(text, w) {
			t.Errorf("the operator's review lacks %q", w)
		}
	}
	if strings.Contains(text, "No attribution result was released") || !strings.Contains(text, "No model result was released") {
		t.Error("the operator's review does not show exactly the lift it received")
	}

	// The bank's, with the model uplift, and its budgets' state.
	out = filepath.Join(t.TempDir(), "bank.html")
	must(ben, "report", "quarterly", "--quarter", quarter, "--out", out, "--agent-state", filepath.Join(dir, "parties", "bank", "agent"))
	text = checkReview(t, out, secrets)
	if !regexp.MustCompile(`operator-bank joint-credit-risk(-scoring)? 0\.\d{3} 0\.\d{3} [+-]0\.\d{3}`).MatchString(text) {
		t.Errorf("the bank's review lacks the model uplift:\n%s", text)
	}

	// Without the agent's key the results are counted, not shown.
	o, e, code = cli(olivia, "report", "quarterly", "--quarter", quarter, "--agent-state", filepath.Join(t.TempDir(), "none"))
	if code != 0 || !strings.Contains(e, "warning: a result released to party operator could not be opened") ||
		!strings.Contains(o, "result(s) with lift or model figures were released to this view") {
		t.Errorf("review without the agent state = %d\n%s", code, e)
	}
	// The admin's review covers every room, without results or budgets.
	o = must(admin, "report", "quarterly", "--quarter", quarter)
	if !strings.Contains(o, "the platform (the admin") || !strings.Contains(o, "Privacy budgets are shown to the rooms") {
		t.Error("the admin's review is not the platform's view")
	}
	if _, e, code := cli(admin, "report", "quarterly"); code != 2 || !strings.Contains(e, "--quarter is required") {
		t.Errorf("quarterly without --quarter = %d %s", code, e)
	}
}

// checkReview parses a review page and returns its text, failing if it
// loads or runs anything or holds any of secrets.
func checkReview(t *testing.T, path string, secrets []string) string {
	t.Helper()
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if s != "" && bytes.Contains(page, []byte(s)) {
			t.Errorf("%s contains a token or query ID", path)
		}
	}
	low := strings.ToLower(string(page))
	for _, bad := range []string{"http:", "https:", "//", "url(", "@import", "javascript:"} {
		if strings.Contains(low, bad) {
			t.Errorf("%s contains %q", path, bad)
		}
	}
	d := xml.NewDecoder(bytes.NewReader(page))
	d.Strict, d.AutoClose, d.Entity = false, xml.HTMLAutoClose, xml.HTMLEntity
	var text strings.Builder
	depth := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s does not parse: %v", path, err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			depth++
			switch strings.ToLower(tok.Name.Local) {
			case "script", "link", "img", "iframe", "object", "embed", "base", "form", "image":
				t.Errorf("%s has a <%s>", path, tok.Name.Local)
			}
			for _, a := range tok.Attr {
				if k := strings.ToLower(a.Name.Local); strings.HasPrefix(k, "on") || k == "href" || k == "src" {
					t.Errorf("%s has a %s attribute", path, k)
				}
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			text.Write(tok)
			text.WriteByte(' ')
		}
	}
	if depth != 0 {
		t.Errorf("%s leaves %d elements open", path, depth)
	}
	return strings.Join(strings.Fields(text.String()), " ")
}
