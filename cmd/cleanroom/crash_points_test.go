package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/agent"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/dp"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/prepare"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
	"github.com/cleanroom-dev/cleanroom/internal/synth"
	"github.com/cleanroom-dev/cleanroom/internal/tlscert"
	"github.com/cleanroom-dev/cleanroom/internal/upload"
)

// envCrashAt names the crash point (internal/crashpoint) that the test
// binary arms when it runs as the cleanroom command.
const envCrashAt = "CLEANROOM_CRASH_AT"

// TestCrashPoints kills the server with SIGKILL at each crash point of
// internal/crashpoint, restarts it on the same data directory and checks
// what the restart finds: no partial dataset version and no vault file the
// database does not record, no budget reservation left open or spent
// twice, no result released twice, and an audit log whose hash chain
// holds, whose Merkle tree extends every checkpoint the parties kept
// before the crash (`cleanroom audit verify`), and whose entries match the
// room's queries and match runs. A point that is never reached fails its
// subtest: the server must die of its own SIGKILL.
func TestCrashPoints(t *testing.T) {
	base := newCrashBase(t)
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, r *crashRoom)
	}{
		{"upload-commit", crashUploadCommit},
		{"match-job-result", crashJobResult},
		{"match-resolve", crashMatchResolve},
		{"query-reserved", func(t *testing.T, r *crashRoom) { crashQuery(t, r, "query.reserved", 0) }},
		// Once a run's noise is drawn its budget is spent, whether or not
		// its result is then recorded (internal/sqlite's ledger): the
		// interrupted run stays charged, and the retried request is a new
		// run.
		{"query-spent", func(t *testing.T, r *crashRoom) { crashQuery(t, r, "query.spent", 1) }},
		{"query-release", func(t *testing.T, r *crashRoom) { crashQuery(t, r, "commit:query.run", 1) }},
		{"review-release", crashReview},
		{"audit-cosign", crashCosign},
		{"key-destruction", func(t *testing.T, r *crashRoom) { crashTermination(t, r, "retention.destroyed") }},
		{"vault-tombstone", func(t *testing.T, r *crashRoom) { crashTermination(t, r, "vault.tombstoned") }},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, base.clone(t)) })
	}
}

// crashBase is the demo room, set up once and copied for each crash: a
// stopped server's data directory and each party's kept checkpoints.
type crashBase struct {
	dir string
	rm  *burstRoom
	// customers is another file of bank customers than the one uploaded,
	// so that its upload brings matching new tokens.
	customers string
}

func newCrashBase(t *testing.T) *crashBase {
	t.Helper()
	ctx := context.Background()
	b := &crashBase{dir: filepath.Join(t.TempDir(), "data")}
	res, err := initDataDir(ctx, b.dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := tlscert.ClientConfig(res.TLSCert)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServerProcess(t, b.dir)
	b.rm = setUpBurstRoom(t, ctx, client.New(srv.url, res.AdminToken, tc), tc)
	b.rm.ca, b.rm.config = res.TLSCert, filepath.Join(t.TempDir(), "config.json")
	for _, u := range demoUsers {
		b.rm.checkpoint(t, srv, u.party)
	}
	srv.kill()

	data := filepath.Join(t.TempDir(), "synth")
	sc := synth.DefaultConfig()
	sc.Seed, sc.Subscribers, sc.Customers = 2, 1000, 500
	if _, err := synth.Generate(ctx, sc, data, nil); err != nil {
		t.Fatal(err)
	}
	b.customers = filepath.Join(data, "bank_customers.csv")
	return b
}

// crashRoom is one copy of the base room and its server.
type crashRoom struct {
	base *crashBase
	dir  string
	rm   *burstRoom
	srv  *serverProcess
	// log is what the room's servers wrote on stderr.
	log lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// clone copies the base room's data directory and the parties' kept
// checkpoints for one test.
func (b *crashBase) clone(t *testing.T) *crashRoom {
	t.Helper()
	root := t.TempDir()
	r := &crashRoom{base: b, dir: filepath.Join(root, "data")}
	copyTree(t, b.dir, r.dir)
	r.rm = &burstRoom{keys: b.rm.keys, keyDirs: b.rm.keyDirs, tokens: b.rm.tokens, state: map[string]string{},
		ca: b.rm.ca, config: filepath.Join(root, "config.json"), tls: b.rm.tls}
	for party, dir := range b.rm.state {
		r.rm.state[party] = filepath.Join(root, party+"-audit")
		copyTree(t, dir, r.rm.state[party])
	}
	return r
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(dst, info.Mode().Perm())
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, raw, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// start runs the server on the room's data directory with crash point
// armed ("" for none), as startServerProcess does, keeping its log.
func (r *crashRoom) start(t *testing.T, point string) {
	t.Helper()
	cmd := exec.Command("cleanroom", "serve", "--data", r.dir, "--addr", "127.0.0.1:0", "--log-level", "warn")
	cmd.Env = append(os.Environ(), envCrashAt+"="+point)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.MultiWriter(os.Stderr, &r.log)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{cmd: cmd}
	t.Cleanup(p.kill)
	urlRE := regexp.MustCompile(`serving (https://\S+) `)
	found := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			if m := urlRE.FindStringSubmatch(s.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case p.url = <-found:
		r.srv = p
	case <-time.After(30 * time.Second):
		t.Fatal("server process did not start")
	}
}

// resolved checks that match run, resumed or finished after a crash, is
// done, or failed only because drawing its noisy counts overran their
// padded deadline, which a machine too busy to schedule the server in
// time causes (the run is then recorded failed and its budget charged, as
// its noise was drawn; check verifies the ledger).
func (r *crashRoom) resolved(t *testing.T, run *httpapi.MatchRunBody) {
	t.Helper()
	switch {
	case run.State == "done":
	case run.State == "failed" && strings.Contains(r.log.String(), dp.ErrOverrun.Error()):
		t.Logf("match run %s failed: the noise of its report overran its padded deadline on this busy machine", run.ID)
	default:
		t.Errorf("match run %s is %s (pending jobs %v, error %q), want done", run.ID, run.State, run.PendingJobs, run.Error)
	}
}

// crashed checks that err, the outcome of a request that reaches point,
// is a lost connection, and that the server died there.
func (r *crashRoom) crashed(t *testing.T, point string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("the request that reaches crash point %s succeeded: the point was not hit", point)
	}
	if apiErr := (*client.APIError)(nil); errors.As(err, &apiErr) {
		t.Fatalf("the request that reaches crash point %s was answered: %v", point, err)
	}
	r.died(t, point)
}

// died waits for the server to end and checks that it killed itself with
// SIGKILL, which only an armed crash point does.
func (r *crashRoom) died(t *testing.T, point string) {
	t.Helper()
	done := make(chan struct{})
	go func() { r.srv.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the server still runs: crash point %s was not hit", point)
	}
	ws, ok := r.srv.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the server ended with %v, want a SIGKILL at crash point %s", r.srv.cmd.ProcessState, point)
	}
}

func (r *crashRoom) user(party string) *client.Client { return r.rm.user(r.srv, party) }

// vaultDir is the vault directory of a room's dataset.
func (r *crashRoom) vaultDir(dataset string) string {
	return filepath.Join(r.dir, "datasets", demoRoom+"."+dataset)
}

func versionNumbers(t *testing.T, c *client.Client, dataset string) []int {
	t.Helper()
	d, err := c.ShowDataset(context.Background(), demoRoom, dataset)
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, v := range d.Versions {
		out = append(out, v.Version)
	}
	return out
}

// crashUploadCommit: the server dies after a version's ciphertext is in
// the vault and before its transaction commits. After the restart the
// version is absent, its file gone, and the same upload session commits.
func crashUploadCommit(t *testing.T, r *crashRoom) {
	const point = "commit:upload.commit"
	ctx := context.Background()
	r.start(t, point)
	bank := r.user("bank")
	before := versionNumbers(t, bank, "customers")
	s, err := bank.OpenUpload(ctx, demoRoom, "customers")
	if err != nil {
		t.Fatal(err)
	}
	d, err := bank.ShowDataset(ctx, demoRoom, "customers")
	if err != nil {
		t.Fatal(err)
	}
	info, err := bank.ServerInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, err := prepare.Prepare(ctx, r.base.customers, "", prepare.Config{Server: info.ServerID, Room: demoRoom, Party: "bank",
		Dataset: "customers", Version: s.Version, Schema: &d.Schema, Keys: r.rm.keys["bank"], Region: "RU"})
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := keyfile.SealTo(s.HPKEKey, upload.SealInfo(demoRoom, "customers", s.ID, 0, true), p.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bank.PutChunk(ctx, demoRoom, "customers", s.ID, 0, sealed); err != nil {
		t.Fatal(err)
	}
	req := httpapi.CommitUploadRequest{Chunks: 1, Manifests: p.Manifests}
	_, err = bank.CommitUpload(ctx, demoRoom, "customers", s.ID, req)
	r.crashed(t, point, err)
	file := filepath.Join(r.vaultDir("customers"), fmt.Sprintf("v%d.enc", s.Version))
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("at the crash the version's file is not in the vault: %v", err)
	}

	r.start(t, "")
	bank = r.user("bank")
	if vs := versionNumbers(t, bank, "customers"); !slices.Equal(vs, before) {
		t.Fatalf("after the restart the versions are %v, want %v: the interrupted commit is visible", vs, before)
	}
	if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after the restart the interrupted version's file is still in the vault (%v)", err)
	}
	v, err := bank.CommitUpload(ctx, demoRoom, "customers", s.ID, req)
	if err != nil {
		t.Fatalf("the same commit after the restart: %v", err)
	}
	if v.Rows != p.Report.Rows {
		t.Errorf("committed version has %d rows, want %d", v.Rows, p.Report.Rows)
	}
	if vs := versionNumbers(t, bank, "customers"); !slices.Equal(vs, append(before, s.Version)) {
		t.Errorf("versions after the retried commit: %v, want %v", vs, append(before, s.Version))
	}
	entries := r.check(t, 0)
	if n := countEntries(entries, cleanroom.ActionUploadCommit, "upload:"+s.ID, cleanroom.OutcomeOK); n != 1 {
		t.Errorf("the log records %d commits of upload %s, want 1", n, s.ID)
	}
}

// newVersionAndMatch uploads a new version of the bank's customers, with
// new tokens, and starts a match run, whose jobs then wait for the other
// parties' agents.
func newVersionAndMatch(t *testing.T, r *crashRoom) *httpapi.MatchRunBody {
	t.Helper()
	ctx := context.Background()
	bank := r.user("bank")
	f := uploadFlags{room: demoRoom, file: r.base.customers, country: "RU"}
	if _, err := uploadDataset(ctx, bank, "customers", f, r.rm.keys["bank"], io.Discard); err != nil {
		t.Fatal(err)
	}
	run, err := bank.StartMatch(ctx, demoRoom)
	if err != nil {
		t.Fatal(err)
	}
	if run.State != "waiting" || len(run.PendingJobs) == 0 {
		t.Fatalf("match run after a new upload: %s with pending jobs %v, want jobs for the agents", run.State, run.PendingJobs)
	}
	return run
}

// runAgents runs each party's agent once, with its state in the room's
// directory.
func (r *crashRoom) runAgents(t *testing.T) (int, error) {
	t.Helper()
	ctx := context.Background()
	done := 0
	for _, u := range demoUsers {
		a, err := agent.New(ctx, r.user(u.party), demoRoom, r.rm.keys[u.party], filepath.Join(filepath.Dir(r.dir), u.party+"-agent"), nil)
		if err != nil {
			return done, err
		}
		n, err := a.RunOnce(ctx)
		done += n
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// crashJobResult: the server dies after an agent's re-blinded set is in
// the vault and before the job is recorded done. After the restart the
// agents finish the run.
func crashJobResult(t *testing.T, r *crashRoom) {
	const point = "commit:agent.result"
	ctx := context.Background()
	r.start(t, point)
	run := newVersionAndMatch(t, r)
	if n, _ := r.runAgents(t); n > 0 {
		t.Fatalf("%d job results were accepted: crash point %s was not hit", n, point)
	}
	r.died(t, point)

	r.start(t, "")
	bank := r.user("bank")
	if got, err := bank.ShowMatch(ctx, demoRoom, run.ID); err != nil || got.State != "waiting" {
		t.Fatalf("after the restart the match run is %v, %v; want waiting", got, err)
	}
	if _, err := r.runAgents(t); err != nil {
		t.Fatal(err)
	}
	got, err := bank.ShowMatch(ctx, demoRoom, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	r.resolved(t, got)
	r.check(t, 0)
}

// crashMatchResolve: the server dies while recording a finished match run
// (room people in the vault, reservations committed, report and audit
// entry in the transaction). After the restart the run is finished.
func crashMatchResolve(t *testing.T, r *crashRoom) {
	const point = "match.resolved"
	ctx := context.Background()
	r.start(t, point)
	bank := r.user("bank")
	before, err := bank.ListMatches(ctx, demoRoom)
	if err != nil {
		t.Fatal(err)
	}
	// Every set is re-blinded already: the run resolves at once.
	_, err = bank.StartMatch(ctx, demoRoom)
	r.crashed(t, point, err)

	r.start(t, "")
	bank = r.user("bank")
	after, err := bank.ListMatches(ctx, demoRoom)
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Runs) != len(before.Runs)+1 {
		t.Fatalf("after the restart the room has %d match runs, want %d", len(after.Runs), len(before.Runs)+1)
	}
	for i := range after.Runs {
		r.resolved(t, &after.Runs[i])
	}
	r.check(t, 0)
}

// crashQuery: the server dies at point during a query run. After the
// restart no query is listed, the run's budget is given back or, once its
// noise was drawn, spent (lost is 1), and the same request runs once.
func crashQuery(t *testing.T, r *crashRoom, point string, lost int) {
	ctx := context.Background()
	r.start(t, point)
	req := httpapi.RunQueryRequest{Template: "spend-by-tier"}
	_, err := r.user("operator").RunQuery(ctx, demoRoom, req)
	r.crashed(t, point, err)

	r.start(t, "")
	op := r.user("operator")
	l, err := op.ListQueries(ctx, demoRoom)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Queries) != 0 {
		t.Fatalf("after the restart the room lists %d queries, want none", len(l.Queries))
	}
	q, err := op.RunQuery(ctx, demoRoom, req)
	if err != nil {
		t.Fatalf("the same request after the restart: %v", err)
	}
	if q.Repeat || q.State != cleanroom.QueryReleased || len(q.Sealed) == 0 {
		t.Fatalf("the same request after the restart: repeat %v, state %s, %d sealed bytes; want a new released run", q.Repeat, q.State, len(q.Sealed))
	}
	r.check(t, lost)
}

// crashReview: the server dies while a reviewer's approval releases a
// result. After the restart the result is still held; approving it
// releases it once.
func crashReview(t *testing.T, r *crashRoom) {
	const point = "commit:query.review"
	ctx := context.Background()
	r.start(t, point)
	q, err := r.user("operator").RunQuery(ctx, demoRoom, httpapi.RunQueryRequest{Template: "tier-by-default-flag",
		Params: map[string]string{"flag": "false", "since": "2010-01-01"}})
	if err != nil {
		t.Fatal(err)
	}
	if q.State != cleanroom.QueryPendingReview {
		t.Fatalf("query state %s, want %s", q.State, cleanroom.QueryPendingReview)
	}
	_, err = r.user("bank").ReviewQuery(ctx, demoRoom, q.ID, "approve")
	r.crashed(t, point, err)

	r.start(t, "")
	op, bank := r.user("operator"), r.user("bank")
	got, err := op.ShowQuery(ctx, demoRoom, q.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != cleanroom.QueryPendingReview || len(got.Sealed) != 0 {
		t.Fatalf("after the restart the query is %s with %d sealed bytes for its receiver, want %s and none", got.State, len(got.Sealed), cleanroom.QueryPendingReview)
	}
	if _, err := bank.ReviewQuery(ctx, demoRoom, q.ID, "approve"); err != nil {
		t.Fatalf("approval after the restart: %v", err)
	}
	if _, err := bank.ReviewQuery(ctx, demoRoom, q.ID, "approve"); err == nil {
		t.Error("a released result was approved a second time")
	}
	if got, err = op.ShowQuery(ctx, demoRoom, q.ID); err != nil || got.State != cleanroom.QueryReleased || len(got.Sealed) == 0 {
		t.Fatalf("after the approval the query is %v, %v; want released with its sealed result", got, err)
	}
	entries := r.check(t, 0)
	if n := countEntries(entries, cleanroom.ActionQueryReview, "query:"+q.ID, cleanroom.OutcomeOK); n != 1 {
		t.Errorf("the log records %d approvals of query %s, want 1", n, q.ID)
	}
}

// crashCosign: the server dies while keeping a party's cosignature of the
// checkpoint the party just kept. After the restart the log extends that
// checkpoint and the party cosigns again.
func crashCosign(t *testing.T, r *crashRoom) {
	const point = "commit:audit.cosign"
	r.start(t, point)
	out, err := r.rm.run(r.srv, "bank", "audit", "checkpoint", "--room", demoRoom, "--state", r.rm.state["bank"], "--keys", r.rm.keyDirs["bank"])
	if err == nil {
		t.Fatalf("audit checkpoint succeeded: crash point %s was not hit\n%s", point, out)
	}
	if !strings.Contains(out, "Kept checkpoint") {
		t.Fatalf("audit checkpoint failed before its cosignature: %v\n%s", err, out)
	}
	r.died(t, point)

	r.start(t, "")
	r.check(t, 0)
}

// crashTermination: the bank terminates the agreement, and the server
// dies while deleting the room's datasets, at point. After the restart
// the deletion finishes: no dataset keeps a version or its key, and each
// deletion is audited once, saying its key was destroyed.
func crashTermination(t *testing.T, r *crashRoom, point string) {
	ctx := context.Background()
	r.start(t, point)
	bank := r.user("bank")
	info, err := bank.ServerInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l, err := bank.ListDUAs(ctx, demoRoom)
	if err != nil {
		t.Fatal(err)
	}
	d := l.Agreements[len(l.Agreements)-1]
	env, err := statement.Sign(r.rm.keys["bank"].Signing, cleanroom.DUATermination{Type: cleanroom.DUATerminationType, Server: info.ServerID,
		Room: demoRoom, Version: d.Version, Digest: d.Digest, Party: "bank", Reason: "crash test", IssuedAt: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bank.TerminateDUA(ctx, demoRoom, d.Version, env)
	r.crashed(t, point, err)
	// One dataset is marked destroyed; at vault.tombstoned its key file
	// is still there.
	marked := 0
	for _, ds := range demoDatasets {
		if _, err := os.Stat(filepath.Join(r.vaultDir(ds.name), "destroyed")); err != nil {
			continue
		}
		marked++
		_, err := os.Stat(filepath.Join(r.vaultDir(ds.name), "kek"))
		if kept := err == nil; kept != (point == "vault.tombstoned") {
			t.Errorf("at the crash dataset %s is marked destroyed and its key file kept is %v", ds.name, kept)
		}
	}
	if marked != 1 {
		t.Fatalf("at the crash %d datasets are marked destroyed, want 1", marked)
	}

	r.start(t, "")
	bank = r.user("bank")
	// The scheduler's first sweep, at start, finishes the deletion.
	deadline := time.Now().Add(20 * time.Second)
	for _, ds := range demoDatasets {
		for len(versionNumbers(t, bank, ds.name)) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("dataset %s still has versions %v 20s after the restart", ds.name, versionNumbers(t, bank, ds.name))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	entries := r.check(t, 0)
	for _, ds := range demoDatasets {
		var deletions []string
		for _, e := range entries {
			if e.Action == httpapi.ActionDatasetDelete && e.Object == "dataset:"+ds.name {
				deletions = append(deletions, "versions "+e.Detail["versions"]+", key destroyed "+e.Detail["kek_destroyed"])
			}
		}
		if len(deletions) != 1 || !strings.HasSuffix(deletions[0], "key destroyed true") {
			t.Errorf("the log records the deletion of dataset %s as %q, want once, with its key destroyed", ds.name, deletions)
		}
		if _, err := os.Stat(filepath.Join(r.vaultDir(ds.name), "destroyed")); err != nil {
			t.Errorf("dataset %s is not marked destroyed in the vault: %v", ds.name, err)
		}
	}
}

func countEntries(entries []cleanroom.AuditEntry, action cleanroom.Action, object, outcome string) int {
	n := 0
	for _, e := range entries {
		if e.Action == action && e.Object == object && e.Outcome == outcome {
			n++
		}
	}
	return n
}

// check checks the restarted room, then stops its server and checks its
// data directory. lost is the number of query runs whose budget a crash
// left spent with no result recorded. It returns the room's log.
//
// Through the API and the command line: each party keeps a checkpoint,
// which must extend the ones it kept before the crash, cosigns it, exports
// the log and verifies it; the room's queries and the log's runs name the
// same queries, each run and each approval once; each finished match run
// is released once in the log and no run waits with all its jobs done.
//
// In the data directory: the whole log's hash chain holds and the room's
// entries are those exported; the budget ledger is consistent, with no
// reservation left open but those of match runs waiting for jobs, each
// listed query charged, and lost charges of runs no query records; every
// vault version is recorded in the database and every recorded one is in
// the vault; no temporary file is left; a destroyed dataset keeps neither
// key nor versions.
func (r *crashRoom) check(t *testing.T, lost int) []cleanroom.AuditEntry {
	t.Helper()
	ctx := context.Background()
	var export string
	for _, u := range demoUsers {
		r.rm.checkpoint(t, r.srv, u.party)
		export = filepath.Join(t.TempDir(), u.party+"-audit.json")
		r.rm.cli(t, r.srv, u.party, "audit", "export", "--room", demoRoom, "--out", export)
		if out := r.rm.cli(t, r.srv, "", "audit", "verify", export, "--state", r.rm.state[u.party]); !strings.Contains(out, "verifies") {
			t.Fatalf("audit verify for %s: %s", u.party, out)
		}
	}
	entries := readExport(t, export).Entries
	op := r.user("operator")
	checkQueriesLogged(t, ctx, op, entries)
	l, err := op.ListQueries(ctx, demoRoom)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range l.Queries {
		runs := 0
		for _, e := range entries {
			if e.Action == cleanroom.ActionQueryRun && e.Object == "query:"+q.ID && e.Outcome == cleanroom.OutcomeOK && e.Detail["repeat_of"] == "" {
				runs++
			}
		}
		if runs != 1 {
			t.Errorf("the log records %d runs of query %s, want 1", runs, q.ID)
		}
		if n := countEntries(entries, cleanroom.ActionQueryReview, "query:"+q.ID, cleanroom.OutcomeOK); n > 1 {
			t.Errorf("the log records %d reviews of query %s, want at most 1", n, q.ID)
		}
	}
	matches, err := op.ListMatches(ctx, demoRoom)
	if err != nil {
		t.Fatal(err)
	}
	waiting := map[string]bool{}
	for _, run := range matches.Runs {
		waiting[run.ID] = run.State == "waiting"
		released := countEntries(entries, httpapi.ActionMatchRelease, "match:"+run.ID, cleanroom.OutcomeOK) +
			countEntries(entries, httpapi.ActionMatchRelease, "match:"+run.ID, cleanroom.OutcomeRefused)
		want := 1
		if run.State == "waiting" {
			want = 0
			if len(run.PendingJobs) == 0 {
				t.Errorf("match run %s waits with every job done", run.ID)
			}
		}
		if released != want {
			t.Errorf("match run %s is %s and the log records its outcome %d times, want %d", run.ID, run.State, released, want)
		}
	}
	r.srv.kill()
	r.checkStore(t, entries, lost, waiting)
	return entries
}

// checkStore checks the stopped server's data directory (see check).
// waiting says which match runs wait for jobs, and may hold their
// reservations open.
func (r *crashRoom) checkStore(t *testing.T, exported []cleanroom.AuditEntry, lost int, waiting map[string]bool) {
	t.Helper()
	ctx := context.Background()
	dbPath, _, _, _ := dataPaths(r.dir)
	db, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var stored []sqlite.StoredVersion
	var queries []sqlite.QueryRow
	err = db.View(ctx, func(tx *sqlite.Tx) error {
		if err := tx.CheckLedger(); err != nil {
			t.Error(err)
		}
		open, err := tx.OpenReservations()
		if err != nil {
			return err
		}
		for _, res := range open {
			if run, _, _ := strings.Cut(res.ID, ":"); !waiting[run] {
				t.Errorf("reservation %s is still open", res.ID)
			}
		}
		if queries, err = tx.Queries(demoRoom); err != nil {
			return err
		}
		for _, q := range queries {
			if res, err := tx.Reservation("query:" + q.ID); err != nil || res.State != sqlite.Committed {
				t.Errorf("query %s is listed and its reservation is %v, %v; want committed", q.ID, res, err)
			}
		}
		// The whole log, platform entries included: each entry's hash
		// covers its content and the entry before.
		var room []cleanroom.AuditEntry
		prev := make([]byte, len(exported[0].PrevHash))
		for after := int64(0); ; {
			page, err := tx.Audit(sqlite.AuditFilter{After: after, Limit: 1000})
			if err != nil {
				return err
			}
			for i := range page {
				e := &page[i]
				if !bytes.Equal(e.PrevHash, prev) || !bytes.Equal(sqlite.EntryHash(e), e.Hash) {
					t.Errorf("audit entry %d does not chain to the one before it", e.Seq)
				}
				prev = e.Hash
				if e.Room == demoRoom {
					room = append(room, *e)
				}
			}
			if len(page) < 1000 {
				break
			}
			after = page[len(page)-1].Seq
		}
		if len(room) != len(exported) {
			t.Errorf("the database holds %d entries of the room, the export %d", len(room), len(exported))
		}
		stored, err = tx.StoredVersions()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// Charges of query runs that no query records.
	raw, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rows, err := raw.QueryContext(ctx, `SELECT id FROM dp_reservations WHERE state = 'committed' AND id LIKE 'query:%'`)
	if err != nil {
		t.Fatal(err)
	}
	charged := 0
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(queries, func(q sqlite.QueryRow) bool { return "query:"+q.ID == id }) {
			charged++
		}
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if charged != lost {
		t.Errorf("%d query runs are charged with no query recorded, want %d", charged, lost)
	}

	// The vault holds exactly the versions the database records.
	recorded := map[string]bool{}
	for _, v := range stored {
		id := v.Room + "." + v.Dataset
		if v.Kind != "" {
			id = v.Room + "._" + map[string]string{sqlite.StoredReblinded: "reblinded", sqlite.StoredResolution: "resolution", sqlite.StoredModel: "models"}[v.Kind]
		}
		recorded[filepath.Join(id, "v"+strconv.Itoa(v.Version)+".enc")] = true
	}
	vault := filepath.Join(r.dir, "datasets")
	inVault := map[string]bool{}
	err = filepath.WalkDir(vault, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(vault, path)
		switch {
		case strings.HasSuffix(rel, ".tmp"):
			t.Errorf("temporary file left in the vault: %s", rel)
		case strings.HasSuffix(rel, ".enc"):
			inVault[rel] = true
			if !recorded[rel] {
				t.Errorf("vault version %s is not recorded in the database", rel)
			}
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(path), "destroyed")); err == nil && d.Name() != "destroyed" {
			t.Errorf("destroyed dataset keeps %s", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for rel := range recorded {
		if !inVault[rel] {
			t.Errorf("the database records vault version %s, which is not in the vault", rel)
		}
	}
}
