package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/agent"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/library"
	"github.com/cleanroom-dev/cleanroom/internal/tlscert"
	"github.com/cleanroom-dev/cleanroom/internal/webui"
)

// screenshotDir is where the browser tests leave screenshots of the main
// pages (README, "Web UI").
var screenshotDir = filepath.Join("..", "..", "screenshots")

// browser starts headless Chromium (Debian's chromium, which .ci/run
// installs). A machine without it fails the test: the UI is part of the
// product.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Fatal("no Chromium on this machine: install Debian's chromium (`apt-get install -y chromium`, as .ci/run does)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("ignore-certificate-errors", true), chromedp.WindowSize(1280, 900))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// idp starts a test identity provider for a party; each sign-in through it
// is as the next user queued with QueueUser.
func idp(t *testing.T, party, name string) (*mockoidc.MockOIDC, webui.Provider) {
	t.Helper()
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown() })
	c := m.Config()
	return m, webui.Provider{Party: party, Name: name, Issuer: c.Issuer, ClientID: c.ClientID, ClientSecret: c.ClientSecret}
}

// TestWebUI signs in through each party's identity provider in a real
// browser against a real server holding the demo room, and walks the
// rooms list, a room's page and its audit log: pages show what the
// user's party may see, refuse what it may not, and carry no identifier,
// token or key.
func TestWebUI(t *testing.T) {
	ctx := browser(t)
	dir := filepath.Join(t.TempDir(), "demo")
	var out strings.Builder
	if err := runDemo(context.Background(), DemoConfig{DataDir: dir, Addr: "127.0.0.1:0", NoServe: true, Subscribers: 3000, Customers: 1500},
		&out, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	bankIdP, bankProvider := idp(t, "bank", "Bank SSO")
	opIdP, opProvider := idp(t, "operator", "Operator SSO")
	m := NewMain(ServeConfig{DataDir: dir, Addr: "127.0.0.1:0", Providers: []webui.Provider{bankProvider, opProvider}}, slog.New(slog.DiscardHandler))
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(sctx) }()
	t.Cleanup(func() { stop(); <-done })
	select {
	case <-m.Ready():
	case err := <-done:
		t.Fatal(err)
	}
	var session demoSession
	raw, _ := os.ReadFile(filepath.Join(dir, "demo-session.json"))
	if err := json.Unmarshal(raw, &session); err != nil {
		t.Fatal(err)
	}
	// A second room the bank is not in.
	_, _, certPath, _ := dataPaths(dir)
	tc, _ := tlscert.ClientConfig(certPath)
	admin := client.New(m.URL(), session.Admin, tc)
	if _, err := admin.CreateRoom(context.Background(), httpapi.CreateRoomRequest{Name: "operator-insurer", Host: demoHost,
		Parties: []string{"operator"}}); err != nil {
		t.Fatal(err)
	}
	// Commercial terms: the bank pays the operator 1,000.00 EUR a quarter
	// and 25.00 EUR a run.
	if _, err := admin.SetTerms(context.Background(), demoRoom, httpapi.TermsRequest{Currency: "EUR", Subscription: 100000, RunPrice: 2500,
		Payer: "bank", Seller: "operator"}); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	forbidden := forbiddenStrings(t, dir, &session)

	// The bank's ben signs in through the bank's identity provider.
	bankIdP.QueueUser(&mockoidc.MockUser{Subject: "bank-0001", PreferredUsername: "ben", Email: "ben@bank.example", EmailVerified: true})
	// do runs browser actions, failing the test after 30 seconds with
	// where the browser is.
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			t.Fatalf("%s: %v (at %s)", what, err, loc)
		}
	}
	var html string
	page := func(name string, actions ...chromedp.Action[chromedp.Void]) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			h, _ := chromedp.Run(ctx, chromedp.OuterHTML("html"))
			t.Fatalf("%s: %v\nat %s:\n%s", name, err, loc, h)
		}
		var err error
		if html, err = chromedp.Run(sctx, chromedp.OuterHTML("html")); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		shot, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("%s: screenshot: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(screenshotDir, name+".png"), shot, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, s := range forbidden {
			if strings.Contains(html, s) {
				t.Errorf("page %s shows %q, an identifier, token or key", name, s)
			}
		}
		for _, bad := range []string{"<script", "https://fonts.", "@import", "src=\"http"} {
			if strings.Contains(html, bad) {
				t.Errorf("page %s loads something from outside or runs a script: %q", name, bad)
			}
		}
		return html
	}
	h := page("signin", chromedp.Navigate(m.URL()+"/"), chromedp.WaitVisible(`a[href="/ui/login/bank"]`))
	if !strings.Contains(h, "Sign in with Bank SSO") || !strings.Contains(h, "Sign in with Operator SSO") {
		t.Errorf("sign-in page:\n%s", h)
	}
	h = page("rooms", chromedp.Click(`a[href="/ui/login/bank"]`), chromedp.WaitVisible(`a[href="/ui/rooms/operator-bank"]`))
	if !strings.Contains(h, "bank/ben") || strings.Contains(h, "operator-insurer") {
		t.Errorf("rooms page as bank/ben: want the demo room, not the operator's other room:\n%s", h)
	}
	h = page("room", chromedp.Click(`a[href="/ui/rooms/operator-bank"]`), chromedp.WaitVisible(`#match`))
	for _, want := range []string{"Members and roles", "advertiser", "Data-use agreement", "verifies with the party",
		"Datasets and privacy budgets", "customers", "Match report", "<svg", "Match rate per identifier class", "95 % interval", "joint-credit-risk-scoring", "approved"} {
		if !strings.Contains(h, want) {
			t.Errorf("room page lacks %q", want)
		}
	}
	// On a phone's screen the page fits its width: wide tables scroll in
	// their own box.
	page("room-phone", chromedp.EmulateViewport(390, 844), chromedp.Reload(), chromedp.WaitVisible(`#match`))
	width, err := chromedp.Run(ctx, chromedp.EvaluateAsDevTools[int](`document.documentElement.scrollWidth`))
	if err != nil || width > 390 {
		t.Errorf("the room page is %d pixels wide on a 390-pixel screen (%v)", width, err)
	}
	// Keyboard: the first Tab reaches the first link, and focus is drawn.
	focused, err := chromedp.Run(ctx, chromedp.EvaluateAsDevTools[string](`document.querySelector('a').focus(); getComputedStyle(document.activeElement).outlineStyle`))
	if err != nil || focused == "none" {
		t.Errorf("a focused link shows no outline (%q, %v)", focused, err)
	}
	do("back to a laptop screen", chromedp.EmulateViewport(1280, 900))
	h = page("audit", chromedp.Click(`a[href="/ui/rooms/operator-bank/audit"]`), chromedp.WaitVisible(`#entries`))
	if !strings.Contains(h, "Verified: the") || !strings.Contains(h, "query.run") {
		t.Errorf("audit page does not show a verified log with the runs")
	}
	// Another party's room: refused like the API refuses it.
	h = page("refused", chromedp.Navigate(m.URL()+"/ui/rooms/operator-insurer"), chromedp.WaitVisible(`.error`))
	if !strings.Contains(h, "not found") {
		t.Errorf("another party's room as bank/ben:\n%s", h)
	}
	// Sign out: the session and its token end.
	page("signed-out", chromedp.Navigate(m.URL()+"/ui/rooms"), chromedp.WaitVisible(`header form button`),
		chromedp.Click(`header form button`), chromedp.WaitVisible(`a[href="/ui/login/bank"]`))
	if strings.Contains(html, "bank/ben") {
		t.Error("still signed in after signing out")
	}

	// The parties' agents run, so results open for their users.
	for _, party := range []string{"operator", "bank"} {
		u := demoUserOf(party)
		keys, err := keyfile.LoadParty(filepath.Join(dir, "parties", party, "keys"))
		if err != nil {
			t.Fatal(err)
		}
		a, err := agent.New(sctx, admin.WithToken(session.Users[party+"/"+u.user]), demoRoom, keys, filepath.Join(dir, "parties", party, "agent"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if party == "bank" {
			// The bank's agent signs the browser approvals of ben, confirmed
			// at the bank's identity provider.
			a.Approvals = &agent.Approvals{Issuer: bankProvider.Issuer, ClientID: bankProvider.ClientID, Approvers: []string{"ben"}}
		}
		go a.Run(sctx, time.Second)
	}

	// A new template version waits for the bank's approval; ben approves
	// it in the browser, confirms at the bank's identity provider, and the
	// bank's agent signs it with the bank's key.
	lib, err := library.Get("spend-by-tier")
	if err != nil {
		t.Fatal(err)
	}
	yaml := strings.Replace(string(lib.YAML), "question: ", "question: (revised) ", 1)
	if _, err := admin.WithToken(session.Users["operator/olivia"]).ProposeTemplate(context.Background(), demoRoom, yaml); err != nil {
		t.Fatal(err)
	}
	bankIdP.QueueUser(&mockoidc.MockUser{Subject: "bank-0001", PreferredUsername: "ben", EmailVerified: true})
	h = page("approve", chromedp.Click(`a[href="/ui/login/bank"]`), chromedp.WaitVisible(`a[href="/ui/rooms/operator-bank"]`),
		chromedp.Navigate(m.URL()+"/ui/rooms/operator-bank"), chromedp.WaitVisible(`form:has(input[value="spend-by-tier"]) button`))
	bankIdP.QueueUser(&mockoidc.MockUser{Subject: "bank-0001", PreferredUsername: "ben", EmailVerified: true})
	h = page("approved", chromedp.Click(`form:has(input[value="spend-by-tier"]) button`),
		chromedp.WaitNotPresent(`form:has(input[value="spend-by-tier"]) button`), chromedp.WaitVisible(`#templates`))
	tb, err := admin.WithToken(session.Users["bank/ben"]).ShowTemplate(context.Background(), demoRoom, "spend-by-tier", 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(tb.ApprovedBy, "bank") || len(tb.Approvals) == 0 {
		t.Errorf("after ben's approval in the browser, version 2 is approved by %v", tb.ApprovedBy)
	}
	do("sign out", chromedp.Click(`header form button`), chromedp.WaitVisible(`a[href="/ui/login/bank"]`))

	// The operator's olivia runs a template from its form, with the
	// preview first; the bank reviews the result before she receives it.
	opIdP.QueueUser(&mockoidc.MockUser{Subject: "op-0001", PreferredUsername: "olivia", EmailVerified: true})
	page("olivia", chromedp.Click(`a[href="/ui/login/operator"]`), chromedp.WaitVisible(`a[href="/ui/rooms/operator-bank"]`))
	h = page("run", chromedp.Navigate(m.URL()+"/ui/rooms/operator-bank"), chromedp.WaitVisible(`a[href="/ui/rooms/operator-bank/run/tier-by-default-flag"]`),
		chromedp.Click(`a[href="/ui/rooms/operator-bank/run/tier-by-default-flag"]`), chromedp.WaitVisible(`#p-since`),
		chromedp.SetValue(`#p-flag`, "false"), chromedp.SetValue(`#p-since`, "2011-01-01"),
		chromedp.Click(`button[value="explain"]`), chromedp.WaitVisible(`#preview`))
	if !strings.Contains(h, "Std. dev. per cell") || !strings.Contains(h, "is shown with probability") {
		t.Errorf("run form's preview:\n%s", h)
	}
	h = page("query-pending", chromedp.Click(`button[value="run"]`), chromedp.WaitVisible(`.badge`))
	if !strings.Contains(h, "pending_review") || strings.Contains(h, `id="result"`) {
		t.Errorf("the analyst's run before review: want pending, no result:\n%s", h)
	}
	queryURL, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	do("sign out", chromedp.Click(`header form button`), chromedp.WaitVisible(`a[href="/ui/login/bank"]`))
	bankIdP.QueueUser(&mockoidc.MockUser{Subject: "bank-0001", PreferredUsername: "ben", EmailVerified: true})
	h = page("review-queue", chromedp.Click(`a[href="/ui/login/bank"]`), chromedp.WaitVisible(`a[href="/ui/rooms/operator-bank"]`),
		chromedp.Navigate(m.URL()+"/ui/rooms/operator-bank/queries"), chromedp.WaitVisible(`#review`))
	h = page("review", chromedp.Navigate(queryURL), chromedp.WaitVisible(`#result`))
	if !strings.Contains(h, "Approve and release") || !strings.Contains(h, "<svg") {
		t.Errorf("the reviewer's page of the held result:\n%s", h)
	}
	h = page("reviewed", chromedp.Click(`button[value="approve"]`), chromedp.WaitVisible(`.badge.ok`))
	if !strings.Contains(h, "released") {
		t.Errorf("after approval:\n%s", h)
	}
	do("sign out", chromedp.Click(`header form button`), chromedp.WaitVisible(`a[href="/ui/login/operator"]`))
	opIdP.QueueUser(&mockoidc.MockUser{Subject: "op-0001", PreferredUsername: "olivia", EmailVerified: true})
	h = page("result", chromedp.Click(`a[href="/ui/login/operator"]`), chromedp.WaitVisible(`a[href="/ui/rooms/operator-bank"]`),
		chromedp.Navigate(queryURL), chromedp.WaitVisible(`#result`))
	if !strings.Contains(h, "released") || !strings.Contains(h, "<svg") || !strings.Contains(h, "± ") || strings.Contains(h, "Approve and release") {
		t.Errorf("the receiver's released result:\n%s", h)
	}
	// The dashboard shows what the API's dashboard says for her party,
	// revenue included (the one run since the terms: 25.00, and the
	// quarter's subscription); the quarterly review is the same page as
	// `cleanroom report quarterly`.
	want, err := admin.WithToken(session.Users["operator/olivia"]).Dashboard(context.Background(), cleanroom.QuarterOf(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	h = page("dashboard", chromedp.Click(`a[href="/ui/dashboard"]`), chromedp.WaitVisible(`#measures`))
	for _, cell := range []string{fmt.Sprintf(`id="active-rooms">%d<`, want.ActiveRooms), fmt.Sprintf(`id="queries">%d<`, want.Queries),
		`id="revenue-EUR">1025.00`, "<svg"} {
		if !strings.Contains(h, cell) {
			t.Errorf("dashboard lacks %s (the API says %+v)", cell, want)
		}
	}
	// The ledger downloads as CSV from the dashboard: the subscription and
	// the run charged (fetched outside the browser, as a download is).
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: tc}}
	if resp, err := hc.PostForm(m.URL()+"/ui/token", url.Values{"token": {session.Users["operator/olivia"]}}); err != nil || resp.StatusCode != 200 {
		t.Fatalf("token sign-in: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	resp, err := hc.Get(m.URL() + "/ui/ledger.csv?quarter=" + want.Quarter.String())
	if err != nil {
		t.Fatal(err)
	}
	csvOut, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" ||
		!strings.Contains(string(csvOut), "subscription") || !strings.Contains(string(csvOut), "tier-by-default-flag") {
		t.Errorf("ledger CSV from the dashboard: %d\n%s", resp.StatusCode, csvOut)
	}
	h = page("quarterly", chromedp.Navigate(m.URL()+"/ui/report?quarter="+want.Quarter.String()), chromedp.WaitReady(`main`))
	if !strings.Contains(h, "operator-bank") || !strings.Contains(h, "<svg") {
		t.Errorf("quarterly review page:\n%.2000s", h)
	}
	do("sign out", chromedp.Navigate(m.URL()+"/ui/rooms"), chromedp.WaitVisible(`header form button`),
		chromedp.Click(`header form button`), chromedp.WaitVisible(`a[href="/ui/login/operator"]`))

	// The operator's olivia sees the demo room, not the operator's other
	// room, where the operator granted her nothing; a user the operator
	// granted nothing at all sees no room and is refused the room's pages.
	opIdP.QueueUser(&mockoidc.MockUser{Subject: "op-0001", PreferredUsername: "olivia", EmailVerified: true})
	h = page("rooms-operator", chromedp.Click(`a[href="/ui/login/operator"]`), chromedp.WaitVisible(`a[href="/ui/rooms/operator-bank"]`))
	if !strings.Contains(h, "operator/olivia") || strings.Contains(h, "operator-insurer") {
		t.Errorf("rooms page as operator/olivia: want the demo room only:\n%s", h)
	}
	do("sign out", chromedp.Click(`header form button`), chromedp.WaitVisible(`a[href="/ui/login/operator"]`))
	opIdP.QueueUser(&mockoidc.MockUser{Subject: "op-0002", PreferredUsername: "oscar", EmailVerified: true})
	h = page("rooms-ungranted", chromedp.Click(`a[href="/ui/login/operator"]`), chromedp.WaitVisible(`h1`))
	if strings.Contains(h, `href="/ui/rooms/operator-bank"`) {
		t.Errorf("a user the operator granted nothing sees the demo room")
	}
	h = page("refused-role", chromedp.Navigate(m.URL()+"/ui/rooms/operator-bank/audit"), chromedp.WaitVisible(`.error`))
	if !strings.Contains(h, "Not allowed") && !strings.Contains(h, "Not found") {
		t.Errorf("the audit log for a user without a grant:\n%s", h)
	}
	// The platform admin signs in with its API token and sees the whole
	// platform's dashboard.
	do("sign out", chromedp.Navigate(m.URL()+"/ui/rooms"), chromedp.WaitVisible(`header form button`),
		chromedp.Click(`header form button`), chromedp.WaitVisible(`#token`))
	h = page("dashboard-admin", chromedp.SetValue(`#token`, session.Admin), chromedp.Submit(`#token`), chromedp.WaitVisible(`a[href="/ui/rooms/operator-insurer"]`),
		chromedp.Navigate(m.URL()+"/ui/dashboard"), chromedp.WaitVisible(`#measures`))
	if !strings.Contains(h, "All rooms of the platform") || !strings.Contains(h, "operator-insurer") {
		t.Errorf("the platform admin's dashboard:\n%s", h)
	}

	// The API agrees with the pages: signing in left an audit entry.
	entries, err := admin.PlatformAudit(context.Background(), client.AuditPage{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	signins := 0
	for _, e := range entries.Entries {
		if e.Action == httpapi.ActionSignIn {
			signins++
		}
	}
	if signins != 7 {
		t.Errorf("%d sign-in entries in the log, want 7", signins)
	}
}

// forbiddenStrings are what no page may show: the users' token secrets,
// the parties' key material, and a sample of the synthetic identifiers.
func forbiddenStrings(t *testing.T, dir string, s *demoSession) []string {
	t.Helper()
	out := []string{s.Admin}
	for _, tok := range s.Users {
		out = append(out, tok)
	}
	for _, party := range []string{"operator", "bank", "advertiser"} {
		files, _ := filepath.Glob(filepath.Join(dir, "parties", party, "keys", "*"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err == nil && len(b) >= 16 {
				for _, line := range strings.Split(string(b), "\n") {
					if line = strings.TrimSpace(line); len(line) >= 24 && !strings.HasPrefix(line, "-----") {
						out = append(out, line)
					}
				}
			}
		}
	}
	for _, file := range []string{"operator_subscribers.csv", "bank_customers.csv"} {
		f, err := os.Open(filepath.Join(s.SynthDir, file))
		if err != nil {
			t.Fatal(err)
		}
		r := csv.NewReader(f)
		header, _ := r.Read()
		for n := 0; n < 200; n++ {
			rec, err := r.Read()
			if err == io.EOF {
				break
			}
			for i, col := range header {
				if (col == "phone" || col == "email") && len(rec[i]) > 6 {
					out = append(out, rec[i])
				}
			}
		}
		f.Close()
	}
	return out
}
