package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/agent"
	"github.com/cleanroom-dev/cleanroom/internal/auditlog"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
	"github.com/cleanroom-dev/cleanroom/internal/synth"
	"github.com/cleanroom-dev/cleanroom/internal/tlscert"
)

// TestKillDuringQueryBurst kills the server with SIGKILL while analysts run
// queries, a reviewer approves results and a member keeps checkpoints, then
// restarts it on the same data directory. After every restart each party's
// kept checkpoints must extend to the new log, `cleanroom audit verify` must
// pass on an export, and every request the server answered with success
// must be in that export: a query run exactly once, a repeat and a review at
// least as often as they were answered. The room's query list and the log's
// query runs must name the same queries.
func TestKillDuringQueryBurst(t *testing.T) {
	const rounds = 3
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	res, err := initDataDir(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := tlscert.ClientConfig(res.TLSCert)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServerProcess(t, dir)
	rm := setUpBurstRoom(t, ctx, client.New(srv.url, res.AdminToken, tc), tc)
	rm.ca, rm.config = res.TLSCert, filepath.Join(t.TempDir(), "config.json")

	// Each party keeps and cosigns a checkpoint before any query runs, so
	// that verify holds every later log against it and the other party's
	// cosignature.
	for _, u := range demoUsers {
		rm.checkpoint(t, srv, u.party)
	}

	var done []completion
	for round := 1; round <= rounds; round++ {
		b := rm.burst(t, ctx, srv)
		done = append(done, b.completed...)
		t.Logf("round %d: killed after %v: %d runs, %d repeats, %d reviews, %d checkpoints answered; %d budget refusals; %d requests failed at the kill",
			round, b.killedAfter.Round(time.Millisecond), b.count(kindRun), b.count(kindRepeat), b.count(kindReview), b.checkpoints,
			b.budgetRefusals, b.failedAtKill)

		srv = startServerProcess(t, dir)
		var export string
		for _, u := range demoUsers {
			// A fresh checkpoint must be consistent with every one kept
			// before the crash, including those kept during the burst.
			rm.checkpoint(t, srv, u.party)
			export = filepath.Join(t.TempDir(), u.party+"-audit.json")
			rm.cli(t, srv, u.party, "audit", "export", "--room", demoRoom, "--out", export)
			out := rm.cli(t, srv, "", "audit", "verify", export, "--state", rm.state[u.party])
			if !strings.Contains(out, "verifies") {
				t.Fatalf("round %d: audit verify for %s: %s", round, u.party, out)
			}
			checkLogHolds(t, round, u.party, export, done)
		}
		checkQueriesLogged(t, ctx, rm.user(srv, "operator"), readExport(t, export).Entries)
	}
}

// burstRoom is the demo room, set up for a crash test: each party's keys,
// member token and audit state directory.
type burstRoom struct {
	keys map[string]*keyfile.PartyKeys
	// keyDirs are the parties' key directories, for the CLI's --keys.
	keyDirs map[string]string
	tokens  map[string]string
	state   map[string]string
	ca      string
	config  string
	tls     *tls.Config
	// requests numbers query requests across bursts, so that parameters
	// do not repeat unless a repeat is meant.
	requests atomic.Int64
}

// setUpBurstRoom sets up the demo room on small synthetic data: parties,
// grants, an agreement with a budget large enough for several bursts,
// uploads, matching and approved templates.
func setUpBurstRoom(t *testing.T, ctx context.Context, admin *client.Client, tc *tls.Config) *burstRoom {
	t.Helper()
	rm := &burstRoom{keys: map[string]*keyfile.PartyKeys{}, keyDirs: map[string]string{}, tokens: map[string]string{}, state: map[string]string{}, tls: tc}
	info, err := admin.ServerInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range demoUsers {
		rm.state[u.party] = filepath.Join(t.TempDir(), u.party+"-audit")
		rm.keyDirs[u.party] = filepath.Join(t.TempDir(), u.party+"-keys")
		k, err := keyfile.CreateParty(rm.keyDirs[u.party])
		if err != nil {
			t.Fatal(err)
		}
		rm.keys[u.party] = k
		if _, err := admin.CreateParty(ctx, httpapi.CreatePartyRequest{Name: u.party, SigningKey: cleanroom.EncodeKey(k.Public())}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.CreateRoom(ctx, httpapi.CreateRoomRequest{Name: demoRoom, Host: demoHost, Parties: demoParties()}); err != nil {
		t.Fatal(err)
	}
	session := &demoSession{Room: demoRoom, Users: map[string]string{}}
	for _, u := range demoUsers {
		now := time.Now().UTC()
		env, err := statement.Sign(rm.keys[u.party].Signing, cleanroom.GrantStatement{Type: cleanroom.GrantType, Server: info.ServerID,
			Party: u.party, User: u.user, Room: demoRoom, Roles: u.roles, IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admin.SubmitGrant(ctx, u.party, env); err != nil {
			t.Fatal(err)
		}
		tok, err := admin.CreatePartyToken(ctx, httpapi.CreateTokenRequest{Party: u.party, User: u.user}, rm.keys[u.party].Signing)
		if err != nil {
			t.Fatal(err)
		}
		rm.tokens[u.party] = tok.Secret
		session.Users[u.party+"/"+u.user] = tok.Secret
	}
	users := map[string]*client.Client{}
	for _, u := range demoUsers {
		users[u.party] = admin.WithToken(rm.tokens[u.party])
	}

	// The demo's agreement, with a budget that several bursts of runs (ρ
	// 0.05 and ε 1 each) do not exhaust: the test is about the log, not
	// the budget.
	var d cleanroom.DUA
	dec := yaml.NewDecoder(bytes.NewReader(demoDUA))
	dec.KnownFields(true)
	if err := dec.Decode(&d); err != nil {
		t.Fatal(err)
	}
	d.Type, d.Server, d.Room = cleanroom.DUAType, info.ServerID, demoRoom
	d.Budget.Rho, d.Budget.Epsilon = 10, 40
	d.StartsAt = time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	d.ExpiresAt = d.StartsAt.AddDate(0, 0, 30)
	b, err := users["operator"].DraftDUA(ctx, demoRoom, &d)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range demoUsers {
		env, err := statement.Sign(rm.keys[u.party].Signing, b.Document)
		if err != nil {
			t.Fatal(err)
		}
		if b, err = users[u.party].SignDUA(ctx, demoRoom, b.Version, env.Signature); err != nil {
			t.Fatal(err)
		}
	}
	if b.State != cleanroom.DUAActive {
		t.Fatalf("agreement after every signature: %s", b.State)
	}

	data := filepath.Join(t.TempDir(), "synth")
	sc := synth.DefaultConfig()
	sc.Subscribers, sc.Customers = 2000, 1000
	if _, err := synth.Generate(ctx, sc, data, nil); err != nil {
		t.Fatal(err)
	}
	for _, ds := range demoDatasets {
		schema, err := demoSchemas.ReadFile("demodata/" + ds.name + ".schema.json")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := users[ds.party].CreateDataset(ctx, demoRoom, ds.name, schema); err != nil {
			t.Fatal(err)
		}
		f := uploadFlags{room: demoRoom, file: filepath.Join(data, ds.file), country: "RU"}
		if _, err := uploadDataset(ctx, users[ds.party], ds.name, f, rm.keys[ds.party], io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	run, err := users["operator"].StartMatch(ctx, demoRoom)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range demoUsers {
		a, err := agent.New(ctx, users[u.party], demoRoom, rm.keys[u.party], filepath.Join(t.TempDir(), u.party+"-agent"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if run, err = users["bank"].ShowMatch(ctx, demoRoom, run.ID); err != nil || run.State != "done" {
		t.Fatalf("match run: %v %+v", err, run)
	}
	if err := demoApproveTemplates(ctx, admin, session, rm.keys, info.ServerID, func(string, ...any) {}); err != nil {
		t.Fatal(err)
	}
	return rm
}

// user is party's member as a client of srv.
func (rm *burstRoom) user(srv *serverProcess, party string) *client.Client {
	return client.New(srv.url, rm.tokens[party], rm.tls)
}

// cli runs the cleanroom command as party's member against srv (party
// empty: with no token) and returns its output; it fails the test when the
// command fails.
func (rm *burstRoom) cli(t *testing.T, srv *serverProcess, party string, args ...string) string {
	t.Helper()
	out, err := rm.run(srv, party, args...)
	if err != nil {
		t.Fatalf("cleanroom %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (rm *burstRoom) run(srv *serverProcess, party string, args ...string) (string, error) {
	cmd := exec.Command("cleanroom", args...)
	cmd.Env = append(os.Environ(), envServer+"="+srv.url, envCA+"="+rm.ca, envConfig+"="+rm.config, envToken+"="+rm.tokens[party])
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// checkpoint keeps a checkpoint in party's audit state.
func (rm *burstRoom) checkpoint(t *testing.T, srv *serverProcess, party string) {
	t.Helper()
	if out := rm.cli(t, srv, party, "audit", "checkpoint", "--room", demoRoom, "--state", rm.state[party], "--keys", rm.keyDirs[party]); !strings.Contains(out, "consistent with the last one kept") {
		t.Fatalf("audit checkpoint for %s: %s", party, out)
	}
}

func readExport(t *testing.T, file string) *auditlog.Export {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var e auditlog.Export
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatal(err)
	}
	return &e
}

// Kinds of answered requests.
const (
	kindRun    = "run"    // a query run, answered 201
	kindRepeat = "repeat" // a repeated request, answered with the stored run
	kindReview = "review" // an approved result
)

// completion is a request the server answered with success.
type completion struct {
	kind, query string
}

// burstResult is what a burst saw.
type burstResult struct {
	completed      []completion
	checkpoints    int
	budgetRefusals int
	failedAtKill   int
	killedAfter    time.Duration
}

func (b *burstResult) count(kind string) int {
	n := 0
	for _, c := range b.completed {
		if c.kind == kind {
			n++
		}
	}
	return n
}

// burst runs queries from four analysts, approves pending results as the
// bank's reviewer and keeps the bank's checkpoints, until it SIGKILLs srv
// 200-800 ms after the first query was answered.
func (rm *burstRoom) burst(t *testing.T, ctx context.Context, srv *serverProcess) *burstResult {
	t.Helper()
	var (
		killed    atomic.Bool
		mu        sync.Mutex
		res       = &burstResult{}
		first     = make(chan struct{})
		firstOnce sync.Once
		wg        sync.WaitGroup
	)
	answered := func(c completion) {
		mu.Lock()
		res.completed = append(res.completed, c)
		mu.Unlock()
		if c.kind != kindReview {
			firstOnce.Do(func() { close(first) })
		}
	}
	// failed reports whether the worker should stop: after the kill every
	// error is expected; before it, only a refusal for budget is.
	failed := func(what string, err error) bool {
		mu.Lock()
		defer mu.Unlock()
		if killed.Load() {
			res.failedAtKill++
			return true
		}
		var apiErr *client.APIError
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict && strings.Contains(apiErr.Message, "budget") {
			if res.budgetRefusals++; res.budgetRefusals == 1 {
				t.Logf("%s refused: %v", what, err)
			}
			return false
		}
		t.Errorf("%s before the kill: %v", what, err)
		return true
	}

	for w := range 4 {
		party := demoUsers[w%2].party
		c := rm.user(srv, party)
		wg.Go(func() {
			for !killed.Load() {
				n := rm.requests.Add(1)
				req := httpapi.RunQueryRequest{Template: "tier-by-default-flag", Params: map[string]string{
					"flag": fmt.Sprint(n%2 == 0), "since": time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(n)).Format(time.DateOnly)}}
				if n%5 == 0 {
					// The same request each time: run once, then repeats.
					req = httpapi.RunQueryRequest{Template: "spend-by-tier"}
				}
				q, err := c.RunQuery(ctx, demoRoom, req)
				if err != nil {
					if failed("query "+req.Template, err) {
						return
					}
					time.Sleep(10 * time.Millisecond)
					continue
				}
				kind := kindRun
				if q.Repeat {
					kind = kindRepeat
				}
				answered(completion{kind, q.ID})
			}
		})
	}
	reviewer := rm.user(srv, "bank")
	wg.Go(func() {
		reviewed := map[string]bool{}
		for !killed.Load() {
			l, err := reviewer.ListQueries(ctx, demoRoom)
			if err != nil {
				if failed("list queries", err) {
					return
				}
				continue
			}
			for _, q := range l.Queries {
				if q.State != cleanroom.QueryPendingReview || reviewed[q.ID] {
					continue
				}
				reviewed[q.ID] = true
				if _, err := reviewer.ReviewQuery(ctx, demoRoom, q.ID, "approve"); err != nil {
					if failed("review query", err) {
						return
					}
					continue
				}
				answered(completion{kindReview, q.ID})
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	wg.Go(func() {
		for !killed.Load() {
			out, err := rm.run(srv, "bank", "audit", "checkpoint", "--room", demoRoom, "--state", rm.state["bank"], "--keys", rm.keyDirs["bank"])
			if err != nil {
				if failed("audit checkpoint", fmt.Errorf("%v: %s", err, out)) {
					return
				}
				continue
			}
			mu.Lock()
			res.checkpoints++
			mu.Unlock()
		}
	})

	start := time.Now()
	select {
	case <-first:
	case <-time.After(20 * time.Second):
		killed.Store(true)
		srv.kill()
		wg.Wait()
		t.Fatal("no query was answered within 20s")
	}
	time.Sleep(time.Duration(200+rand.IntN(600)) * time.Millisecond)
	res.killedAfter = time.Since(start)
	killed.Store(true)
	srv.kill()
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return res
}

// checkLogHolds checks that the exported log of a round holds every
// answered request of every round so far.
func checkLogHolds(t *testing.T, round int, party, file string, done []completion) {
	t.Helper()
	runs, repeats, reviews := map[string]int{}, map[string]int{}, map[string]int{}
	for _, e := range readExport(t, file).Entries {
		if e.Outcome != cleanroom.OutcomeOK {
			continue
		}
		id, ok := strings.CutPrefix(e.Object, "query:")
		if !ok {
			continue
		}
		switch {
		case e.Action == cleanroom.ActionQueryRun && e.Detail["repeat_of"] == "":
			runs[id]++
		case e.Action == cleanroom.ActionQueryRun:
			repeats[e.Detail["repeat_of"]]++
		case e.Action == cleanroom.ActionQueryReview:
			reviews[id]++
		}
	}
	answeredRepeats := map[string]int{}
	for _, c := range done {
		switch c.kind {
		case kindRun:
			if runs[c.query] != 1 {
				t.Errorf("round %d, log exported by %s: query %s was answered as run, and the log records %d runs of it, want 1", round, party, c.query, runs[c.query])
			}
		case kindRepeat:
			answeredRepeats[c.query]++
		case kindReview:
			if reviews[c.query] != 1 {
				t.Errorf("round %d, log exported by %s: query %s was answered as approved, and the log records %d reviews of it, want 1", round, party, c.query, reviews[c.query])
			}
		}
	}
	for q, n := range answeredRepeats {
		if repeats[q] < n {
			t.Errorf("round %d, log exported by %s: %d repeats of query %s were answered, and the log records %d", round, party, n, q, repeats[q])
		}
	}
}

// checkQueriesLogged checks that the room's queries and the log's query
// runs are the same: a run is recorded with its audit entry or not at all.
func checkQueriesLogged(t *testing.T, ctx context.Context, c *client.Client, entries []cleanroom.AuditEntry) {
	t.Helper()
	l, err := c.ListQueries(ctx, demoRoom)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, q := range l.Queries {
		stored[q.ID] = true
	}
	logged := map[string]bool{}
	for _, e := range entries {
		if e.Action == cleanroom.ActionQueryRun && e.Outcome == cleanroom.OutcomeOK && e.Detail["repeat_of"] == "" {
			logged[strings.TrimPrefix(e.Object, "query:")] = true
		}
	}
	for id := range stored {
		if !logged[id] {
			t.Errorf("query %s is in the room's list and its run is not in the log", id)
		}
	}
	for id := range logged {
		if !stored[id] {
			t.Errorf("query %s is in the log and not in the room's list", id)
		}
	}
}
