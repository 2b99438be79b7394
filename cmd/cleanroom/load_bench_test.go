package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/agent"
	"github.com/cleanroom-dev/cleanroom/internal/auditlog"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/dp"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/library"
	"github.com/cleanroom-dev/cleanroom/internal/merkle"
	"github.com/cleanroom-dev/cleanroom/internal/prepare"
	"github.com/cleanroom-dev/cleanroom/internal/release"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
	"github.com/cleanroom-dev/cleanroom/internal/synth"
	"github.com/cleanroom-dev/cleanroom/internal/template"
	"github.com/cleanroom-dev/cleanroom/internal/tlscert"
	"github.com/cleanroom-dev/cleanroom/internal/upload"
	"github.com/cleanroom-dev/cleanroom/internal/vault"
)

// The load benchmark's settings:
//
//	go test -run '^$' -bench '^BenchmarkLoad$' -benchtime 1x ./cmd/cleanroom/ -args -load.duration 30s
var (
	loadDuration = flag.Duration("load.duration", 30*time.Second, "BenchmarkLoad: how long the clients start new requests")
	loadClients  = flag.Int("load.clients", 50, "BenchmarkLoad: clients sending requests at the same time")
	loadRooms    = flag.Int("load.rooms", 10, "BenchmarkLoad: rooms the clients are spread over")
	loadCPU      = flag.String("load.cpuprofile", "", "BenchmarkLoad: write a CPU profile of the load, without the set-up, to this file")
	loadBlock    = flag.String("load.blockprofile", "", "BenchmarkLoad: write a profile of where goroutines waited during the load to this file")
)

const (
	// loadRunsPerRoom is how many new runs over subscribers × customers
	// each room is given during the load, spread evenly over its
	// duration. A run's partition selection spends 1/20 of a dataset's
	// lifetime δ (and ε 1 of the agreement's 40), so 20 is the most a
	// room admits; the rest of the analysts' runs are repeats of released
	// requests, which spend nothing.
	loadRunsPerRoom = 16
	// loadChunks is the number of sealed chunks of each upload.
	loadChunks = 4
)

// loadTemplates are the templates the rooms approve: four over
// subscribers × customers and one over exposures × conversions × shoppers.
var loadTemplates = []string{"tier-by-default-flag", "spend-by-tier", "premium-product-uptake", "travel-spend-segments", "campaign-lift"}

// Operation kinds, as reported. Those in loadAudited are audited by the
// room with the action given.
const (
	opRunNew       = "run, new"
	opRunRepeat    = "run, repeat"
	opShow         = "show result"
	opReview       = "review"
	opListQueries  = "list queries"
	opListDatasets = "list datasets"
	opShowDataset  = "show dataset"
	opAuditPage    = "audit page"
	opCheckpoint   = "audit checkpoint"
	opExplain      = "explain"
	opUploadOpen   = "upload open"
	opUploadChunk  = "upload chunk"
	opUploadCommit = "upload commit"
	// Not requests: the client's side of an upload and a result.
	opUploadWhole   = "upload, whole"
	opUploadPrepare = "upload prepare (client)"
	opOpenResult    = "open result (client)"
)

var loadOps = []string{opRunNew, opRunRepeat, opShow, opReview, opListQueries, opListDatasets, opShowDataset, opAuditPage,
	opCheckpoint, opExplain, opUploadOpen, opUploadChunk, opUploadCommit, opUploadWhole, opUploadPrepare, opOpenResult}

var loadAudited = map[string]cleanroom.Action{
	opRunNew: cleanroom.ActionQueryRun, opRunRepeat: cleanroom.ActionQueryRun, opShow: cleanroom.ActionQueryShow,
	opReview: cleanroom.ActionQueryReview, opUploadOpen: cleanroom.ActionUploadOpen, opUploadChunk: cleanroom.ActionUploadChunk,
	opUploadCommit: cleanroom.ActionUploadCommit,
}

func isRequest(op string) bool {
	return op != opUploadWhole && op != opUploadPrepare && op != opOpenResult
}

// BenchmarkLoad runs a room server on loopback TLS, with its SQLite
// database, DuckDB engine and vault, on rooms set up as the demo's (three
// parties, an agreement, five datasets uploaded through the parties'
// preparation and matched by their agents, approved templates), and has
// concurrent clients use it for a fixed time: analysts run templates with
// parameters (new runs, paced by the rooms' budgets, and repeats), read
// and open results, list queries and datasets, explain runs, page and
// checkpoint the audit log; the bank's reviewer approves results; a
// provider per room uploads new versions of a dataset (sealed chunks,
// signed manifests). It reports throughput and latency percentiles per
// kind of request and fails on any error. Then it checks that every
// room's audit log verifies and extends the checkpoint kept before the
// load, that it records exactly the audited requests answered, that each
// dataset's budget spent during the load equals the losses of the runs
// logged, that no reservation is open and the ledger is consistent, and
// that every committed version is whole in the vault.
//
// The benchmark runs the load once, whatever b.N; use -benchtime 1x.
func BenchmarkLoad(b *testing.B) {
	ctx := context.Background()
	nRooms, nClients := max(1, *loadRooms), max(1, *loadClients)

	dir := filepath.Join(b.TempDir(), "data")
	res, err := initDataDir(ctx, dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	// The server's warnings and errors go to standard error; an error
	// fails the benchmark, since one can hide behind a request answered
	// with success.
	serverErrors := &errorCount{}
	logger := slog.New(countingHandler{slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}), serverErrors})
	m := NewMain(ServeConfig{DataDir: dir, Addr: "127.0.0.1:0"}, logger)
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(sctx) }()
	stopped := false
	stopServer := func() {
		if stopped {
			return
		}
		stopped = true
		stop()
		if err := <-done; err != nil {
			b.Errorf("room server: %v", err)
		}
	}
	defer stopServer()
	select {
	case <-m.Ready():
	case err := <-done:
		b.Fatalf("room server did not start: %v", err)
	}
	tc, err := tlscert.ClientConfig(res.TLSCert)
	if err != nil {
		b.Fatal(err)
	}

	setupStart := time.Now()
	l, err := setUpLoad(ctx, b.TempDir(), m.URL(), res.AdminToken, tc, nRooms, nClients)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("set up %d rooms and %d clients in %v", nRooms, nClients, time.Since(setupStart).Round(time.Millisecond))
	dbPath, _, _, _ := dataPaths(dir)
	before, err := l.snapshot(ctx, dbPath)
	if err != nil {
		b.Fatal(err)
	}

	cpu0, busy0 := processCPU(), machineCPU()
	load0 := loadAverage()
	if *loadCPU != "" {
		f, err := os.Create(*loadCPU)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
	}
	if *loadBlock != "" {
		runtime.SetBlockProfileRate(int(time.Millisecond))
	}
	b.ResetTimer()
	start := time.Now()
	until := start.Add(*loadDuration)
	for _, r := range l.rooms {
		r.start, r.every = start, *loadDuration/loadRunsPerRoom
	}
	var wg sync.WaitGroup
	for _, c := range l.clients {
		wg.Go(func() { c.loop(ctx, until) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if *loadCPU != "" {
		pprof.StopCPUProfile()
	}
	if *loadBlock != "" {
		runtime.SetBlockProfileRate(0)
		if err := writeProfile("block", *loadBlock); err != nil {
			b.Fatal(err)
		}
	}
	cpu := processCPU() - cpu0
	others := machineCPU() - busy0 - cpu

	stats := l.report(b, elapsed)
	b.Logf("CPU during the load: this process %.1f s in %.1f s of wall time (%.2f cores), other processes %.1f s; load average %s before, %s after",
		cpu.Seconds(), elapsed.Seconds(), cpu.Seconds()/elapsed.Seconds(), others.Seconds(), load0, loadAverage())

	errs := 0
	for _, c := range l.clients {
		errs += c.errors
	}
	if n := serverErrors.all.Load(); n > 0 {
		b.Errorf("the server logged %d errors", n)
	}
	if n := serverErrors.overruns.Load(); n > 0 {
		// The release path refuses to release a result whose noise took
		// longer than its padded window, so that its timing does not
		// show: on a machine this busy a goroutine can wait that long
		// for a core.
		b.Logf("%d runs failed because their release overran its padded deadline: the machine was too busy for the benchmark", n)
	}
	b.ReportMetric(float64(stats.requests)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(stats.count[opRunNew]+stats.count[opRunRepeat])/elapsed.Seconds(), "runs/s")
	b.ReportMetric(float64(stats.count[opRunNew])/elapsed.Seconds(), "new-runs/s")
	b.ReportMetric(stats.quantile(opRunNew, 0.5), "run-p50-ms")
	b.ReportMetric(stats.quantile(opRunNew, 0.99), "run-p99-ms")
	b.ReportMetric(stats.quantile(opShow, 0.99), "show-p99-ms")
	b.ReportMetric(float64(errs), "errors")
	if errs > 0 {
		for _, c := range l.clients {
			for _, e := range c.firstErrors {
				b.Logf("client %s/%s in %s: %v", c.party, c.user, c.room.name, e)
			}
		}
		b.Fatalf("%d requests failed", errs)
	}

	// Consistency, first as the room's members see it.
	for _, r := range l.rooms {
		if err := l.checkRoom(ctx, r, before[r.name]); err != nil {
			b.Error(err)
		}
	}
	stopServer()
	// Then in the database and the vault the server leaves behind.
	if err := l.checkStore(ctx, dir, before); err != nil {
		b.Error(err)
	}
	if b.Failed() {
		return
	}
	b.Logf("consistency: every room's audit log verifies, extends the checkpoint kept before the load and records exactly the %d audited requests answered; "+
		"budget spent = losses of the %d new runs on every dataset (least budget left: %s); no open reservation; ledger consistent; %d uploaded versions whole",
		stats.audited, stats.count[opRunNew], l.leastLeft, l.versionsChecked)
}

func writeProfile(name, file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// errorCount counts a server's error records, and among them the
// releases that overran their padding.
type errorCount struct{ all, overruns atomic.Int64 }

// countingHandler counts the records of error level.
type countingHandler struct {
	slog.Handler
	n *errorCount
}

func (h countingHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.n.all.Add(1)
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "err" && strings.Contains(a.Value.String(), dp.ErrOverrun.Error()) {
				h.n.overruns.Add(1)
			}
			return true
		})
	}
	return h.Handler.Handle(ctx, r)
}

func (h countingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return countingHandler{h.Handler.WithAttrs(as), h.n}
}

func (h countingHandler) WithGroup(name string) slog.Handler {
	return countingHandler{h.Handler.WithGroup(name), h.n}
}

// processCPU is the CPU time the process used so far, in user and
// system mode, from /proc (0 where there is none).
func processCPU() time.Duration {
	raw, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	// The fields after the command's name, which is in parentheses:
	// utime and stime are the 12th and 13th, in clock ticks of 1/100 s.
	_, rest, _ := strings.Cut(string(raw), ") ")
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	user, _ := strconv.ParseInt(f[11], 10, 64)
	sys, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(user+sys) * 10 * time.Millisecond
}

// machineCPU is the CPU time all processes used so far, from /proc (0
// where there is none): every state of the first line of /proc/stat but
// idle and waiting for I/O, in clock ticks of 1/100 s.
func machineCPU() time.Duration {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for i, v := range f[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(raw))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// loadSetup is the rooms and clients of a load run.
type loadSetup struct {
	url       string
	serverID  string
	serverKey ed25519.PublicKey
	keys      map[string]*keyfile.PartyKeys
	// members are the demo users' clients (olivia, ben, ada), by party,
	// who set the rooms up and check them afterwards.
	members  map[string]*client.Client
	auditDir string
	rooms    []*loadRoom
	clients  []*loadClient
	// Set by checkStore.
	leastLeft       string
	versionsChecked int
}

// loadRoom is one room and what its clients learnt during the load.
type loadRoom struct {
	name      string
	agentDirs map[string]string // party → agent state
	schemas   map[string]*cleanroom.Schema
	files     map[string]string // dataset → synthetic file
	rows      map[string]int    // dataset → rows of its first version

	// start and every pace the room's new runs: the nth is due at
	// start + n·every.
	start time.Time
	every time.Duration

	mu          sync.Mutex
	taken       int
	liftClaimed bool
	released    []loadRun
	fresh       map[string]bool // new runs answered
	repeats     map[string]int  // query → repeats answered
	reviewed    map[string]bool
	committed   map[string][]int // dataset → versions committed by the load
}

// loadRun is a released run that analysts repeat and read.
type loadRun struct {
	id        string
	req       httpapi.RunQueryRequest
	receivers []string
}

// ticket returns the number of the next new run if one is due.
func (r *loadRoom) ticket(now time.Time) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	due := min(loadRunsPerRoom, int(now.Sub(r.start)/r.every)+1)
	if r.taken >= due {
		return 0, false
	}
	r.taken++
	return r.taken - 1, true
}

// claimLift reports whether the caller runs the room's one campaign-lift
// request, the others repeating it.
func (r *loadRoom) claimLift() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.liftClaimed {
		return false
	}
	r.liftClaimed = true
	return true
}

// pick returns a released run party receives, if any.
func (r *loadRoom) pick(rng *rand.Rand, party string, template string) (loadRun, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ok []loadRun
	for _, q := range r.released {
		if slices.Contains(q.receivers, party) && (template == "" || q.req.Template == template) {
			ok = append(ok, q)
		}
	}
	if len(ok) == 0 {
		return loadRun{}, false
	}
	return ok[rng.IntN(len(ok))], true
}

func (r *loadRoom) release(q loadRun) {
	r.mu.Lock()
	r.released = append(r.released, q)
	r.mu.Unlock()
}

// freshRequest is the nth new request over subscribers × customers: first
// every distinct request of the templates with few, then segment sizes
// with a new date each.
func freshRequest(n int) httpapi.RunQueryRequest {
	tiers := []string{"basic", "standard", "premium"}
	products := []string{"mortgage", "credit_card", "deposit", "personal_loan"}
	switch {
	case n == 0:
		return httpapi.RunQueryRequest{Template: "spend-by-tier"}
	case n <= len(tiers):
		return httpapi.RunQueryRequest{Template: "travel-spend-segments", Params: map[string]string{"tier": tiers[n-1]}}
	case n <= len(tiers)+len(products):
		return httpapi.RunQueryRequest{Template: "premium-product-uptake", Params: map[string]string{"product": products[n-1-len(tiers)]}}
	}
	return httpapi.RunQueryRequest{Template: "tier-by-default-flag", Params: map[string]string{
		"flag": strconv.FormatBool(n%2 == 0), "since": time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n).Format(time.DateOnly)}}
}

// Kinds of clients, in the order each room's clients are given them.
const (
	kindOperator   = "operator analyst"
	kindReviewer   = "bank analyst and reviewer"
	kindBank       = "bank analyst"
	kindAdvertiser = "advertiser analyst"
	kindUploader   = "provider uploading"
)

var loadRoster = []string{kindOperator, kindReviewer, kindAdvertiser, kindOperator, kindUploader}

// loadClient is one client with a connection and a user of its own.
type loadClient struct {
	kind, party, user string
	room              *loadRoom
	l                 *loadSetup
	c                 *client.Client
	rng               *rand.Rand
	// dataset is the uploader's dataset.
	dataset string

	lat     map[string][]time.Duration
	audited map[cleanroom.Action]int
	// errors counts failed requests; firstErrors keeps a few.
	errors      int
	firstErrors []error
	auditAfter  int64
	cpSize      int
	cpRoot      [32]byte
}

func (c *loadClient) record(op string, d time.Duration) {
	c.lat[op] = append(c.lat[op], d)
	if a, ok := loadAudited[op]; ok {
		c.audited[a]++
	}
}

func (c *loadClient) fail(op string, err error) {
	c.errors++
	if len(c.firstErrors) < 3 {
		c.firstErrors = append(c.firstErrors, fmt.Errorf("%s: %w", op, err))
	}
}

// timed runs one request and records its latency if it succeeded.
func (c *loadClient) timed(op string, f func() error) error {
	t0 := time.Now()
	err := f()
	if err != nil {
		c.fail(op, err)
		return err
	}
	c.record(op, time.Since(t0))
	return nil
}

// loop sends requests until the time is up; the last one started
// finishes.
func (c *loadClient) loop(ctx context.Context, until time.Time) {
	for time.Now().Before(until) {
		switch c.kind {
		case kindUploader:
			c.upload(ctx)
		case kindReviewer:
			c.review(ctx)
			c.analyse(ctx)
		default:
			c.analyse(ctx)
		}
	}
}

// analyse does one thing an analyst does, chosen at random.
func (c *loadClient) analyse(ctx context.Context) {
	r := c.room
	switch n := c.rng.IntN(100); {
	case n < 30:
		c.run(ctx)
	case n < 55:
		c.show(ctx)
	case n < 65:
		c.timed(opListQueries, func() error { _, err := c.c.ListQueries(ctx, r.name); return err })
	case n < 73:
		c.timed(opListDatasets, func() error { _, err := c.c.ListDatasets(ctx, r.name); return err })
	case n < 80:
		ds := demoDatasets[c.rng.IntN(len(demoDatasets))].name
		c.timed(opShowDataset, func() error { _, err := c.c.ShowDataset(ctx, r.name, ds); return err })
	case n < 90:
		c.timed(opAuditPage, func() error {
			page, err := c.c.RoomAudit(ctx, r.name, client.AuditPage{After: c.auditAfter, Limit: 100})
			if err == nil && len(page.Entries) > 0 {
				c.auditAfter = page.Entries[len(page.Entries)-1].Seq
			}
			return err
		})
	case n < 93:
		c.checkpoint(ctx)
	default:
		req := freshRequest(c.rng.IntN(40))
		c.timed(opExplain, func() error { _, err := c.c.ExplainQuery(ctx, r.name, req); return err })
	}
}

// run runs a new request when the room's budget pacing has one due, and
// otherwise repeats a released one.
func (c *loadClient) run(ctx context.Context) {
	r := c.room
	var req httpapi.RunQueryRequest
	fresh := false
	var repeat loadRun
	switch {
	case c.party == "advertiser" && r.claimLift():
		req, fresh = httpapi.RunQueryRequest{Template: "campaign-lift"}, true
	case c.party == "advertiser":
		var ok bool
		if repeat, ok = r.pick(c.rng, c.party, "campaign-lift"); !ok {
			c.show(ctx)
			return
		}
		req = repeat.req
	default:
		if n, ok := r.ticket(time.Now()); ok {
			req, fresh = freshRequest(n), true
			break
		}
		var ok bool
		if repeat, ok = r.pick(c.rng, c.party, ""); !ok {
			c.timed(opListQueries, func() error { _, err := c.c.ListQueries(ctx, r.name); return err })
			return
		}
		req = repeat.req
	}
	op := opRunRepeat
	if fresh {
		op = opRunNew
	}
	var q *httpapi.QueryBody
	if c.timed(op, func() (err error) {
		q, err = c.c.RunQuery(ctx, r.name, req)
		switch {
		case err != nil:
		case q.Repeat == fresh:
			err = fmt.Errorf("%s %v: answered with repeat = %v", req.Template, req.Params, q.Repeat)
		case !fresh && q.ID != repeat.id:
			err = fmt.Errorf("%s %v: the repeat of %s answered %s", req.Template, req.Params, repeat.id, q.ID)
		}
		return err
	}) != nil {
		return
	}
	if !fresh {
		r.mu.Lock()
		r.repeats[q.ID]++
		r.mu.Unlock()
		return
	}
	r.mu.Lock()
	r.fresh[q.ID] = true
	r.mu.Unlock()
	if q.State == cleanroom.QueryReleased {
		r.release(loadRun{id: q.ID, req: req, receivers: q.Receivers})
	}
}

// show reads a released result the client's party receives and opens it
// with the party's agent key.
func (c *loadClient) show(ctx context.Context) {
	r := c.room
	q, ok := r.pick(c.rng, c.party, "")
	if !ok {
		c.timed(opListDatasets, func() error { _, err := c.c.ListDatasets(ctx, r.name); return err })
		return
	}
	var body *httpapi.QueryBody
	if c.timed(opShow, func() (err error) {
		body, err = c.c.ShowQuery(ctx, r.name, q.id)
		if err == nil && len(body.Sealed) == 0 {
			err = fmt.Errorf("query %s: no sealed result for %s", q.id, c.party)
		}
		return err
	}) != nil {
		return
	}
	c.timed(opOpenResult, func() error {
		raw, _, err := agent.OpenRelease(r.agentDirs[c.party], c.l.serverID, r.name, q.id, c.party, body.Sealed)
		if err != nil {
			return err
		}
		var rel release.Release
		return json.Unmarshal(raw, &rel)
	})
}

// review approves the results waiting for the bank's review.
func (c *loadClient) review(ctx context.Context) {
	r := c.room
	var l *httpapi.QueryList
	if c.timed(opListQueries, func() (err error) { l, err = c.c.ListQueries(ctx, r.name); return err }) != nil {
		return
	}
	for _, q := range l.Queries {
		if q.State != cleanroom.QueryPendingReview {
			continue
		}
		if c.timed(opReview, func() error { _, err := c.c.ReviewQuery(ctx, r.name, q.ID, "approve"); return err }) != nil {
			continue
		}
		r.mu.Lock()
		r.reviewed[q.ID] = true
		r.mu.Unlock()
		r.release(loadRun{id: q.ID, req: httpapi.RunQueryRequest{Template: q.Template, Params: q.Params}, receivers: q.Receivers})
	}
}

// checkpoint fetches the room log's newest checkpoint and checks its
// signature and that it extends the one the client saw before.
func (c *loadClient) checkpoint(ctx context.Context) {
	r := c.room
	c.timed(opCheckpoint, func() error {
		body, err := c.c.AuditCheckpoint(ctx, r.name, c.cpSize)
		if err != nil {
			return err
		}
		cp := body.Checkpoint
		if err := cp.Verify(c.l.serverKey); err != nil {
			return err
		}
		if c.cpSize > 0 {
			proof, err := auditlog.ParseProof(body.Proof)
			if err != nil {
				return err
			}
			if err := merkle.VerifyConsistency(c.cpSize, cp.Size, c.cpRoot, cp.Root32(), proof); err != nil {
				return fmt.Errorf("checkpoint of %d entries does not extend the one of %d: %w", cp.Size, c.cpSize, err)
			}
		}
		c.cpSize, c.cpRoot = cp.Size, cp.Root32()
		return nil
	})
}

// upload uploads the client's dataset file as a new version: a session,
// the file prepared with the party's keys for that version, sealed chunks
// and the commit with the signed manifests.
func (c *loadClient) upload(ctx context.Context) {
	r := c.room
	t0 := time.Now()
	var s *httpapi.UploadBody
	if c.timed(opUploadOpen, func() (err error) { s, err = c.c.OpenUpload(ctx, r.name, c.dataset); return err }) != nil {
		return
	}
	var p *prepare.Prepared
	if c.timed(opUploadPrepare, func() (err error) {
		p, err = prepare.Prepare(ctx, r.files[c.dataset], "", prepare.Config{Server: c.l.serverID, Room: r.name, Party: c.party,
			Dataset: c.dataset, Version: s.Version, Schema: r.schemas[c.dataset], Keys: c.l.keys[c.party], Region: "RU"})
		return err
	}) != nil {
		return
	}
	size := (len(p.Payload) + loadChunks - 1) / loadChunks
	for i := range loadChunks {
		part := p.Payload[min(len(p.Payload), i*size):min(len(p.Payload), (i+1)*size)]
		sealed, err := keyfile.SealTo(s.HPKEKey, upload.SealInfo(r.name, c.dataset, s.ID, i, i == loadChunks-1), part)
		if err != nil {
			c.fail(opUploadChunk, err)
			return
		}
		if c.timed(opUploadChunk, func() error { _, err := c.c.PutChunk(ctx, r.name, c.dataset, s.ID, i, sealed); return err }) != nil {
			return
		}
	}
	var v *httpapi.VersionBody
	if c.timed(opUploadCommit, func() (err error) {
		v, err = c.c.CommitUpload(ctx, r.name, c.dataset, s.ID, httpapi.CommitUploadRequest{Chunks: loadChunks, Manifests: p.Manifests})
		if err == nil && (v.Version != s.Version || v.Rows != r.rows[c.dataset]) {
			err = fmt.Errorf("committed version %d with %d rows, want version %d with %d", v.Version, v.Rows, s.Version, r.rows[c.dataset])
		}
		return err
	}) != nil {
		return
	}
	c.record(opUploadWhole, time.Since(t0))
	r.mu.Lock()
	r.committed[c.dataset] = append(r.committed[c.dataset], v.Version)
	r.mu.Unlock()
}

// setUpLoad registers the demo's parties, then sets up each room: the
// demo users' grants, an agreement with a budget the load does not
// exhaust, the five datasets uploaded, matching done by the parties'
// agents, the templates approved; and makes the clients, each a user of
// its own with the roles its kind needs.
func setUpLoad(ctx context.Context, tmp, url, adminToken string, tc *tls.Config, nRooms, nClients int) (*loadSetup, error) {
	admin := client.New(url, adminToken, tc)
	info, err := admin.ServerInfo(ctx)
	if err != nil {
		return nil, err
	}
	l := &loadSetup{url: url, serverID: info.ServerID, serverKey: info.SigningKey, keys: map[string]*keyfile.PartyKeys{},
		members: map[string]*client.Client{}, auditDir: filepath.Join(tmp, "audit")}
	for _, u := range demoUsers {
		k, err := keyfile.CreateParty(filepath.Join(tmp, u.party+"-keys"))
		if err != nil {
			return nil, err
		}
		l.keys[u.party] = k
		if _, err := admin.CreateParty(ctx, httpapi.CreatePartyRequest{Name: u.party, SigningKey: cleanroom.EncodeKey(k.Public())}); err != nil {
			return nil, err
		}
		tok, err := admin.CreatePartyToken(ctx, httpapi.CreateTokenRequest{Party: u.party, User: u.user}, k.Signing)
		if err != nil {
			return nil, err
		}
		l.members[u.party] = admin.WithToken(tok.Secret)
	}

	data := filepath.Join(tmp, "synth")
	sc := synth.DefaultConfig()
	sc.Subscribers, sc.Customers = 2000, 1000
	if _, err := synth.Generate(ctx, sc, data, nil); err != nil {
		return nil, err
	}

	grant := func(party, user, room string, roles []cleanroom.Role) error {
		now := time.Now().UTC()
		env, err := statement.Sign(l.keys[party].Signing, cleanroom.GrantStatement{Type: cleanroom.GrantType, Server: l.serverID,
			Party: party, User: user, Room: room, Roles: roles, IssuedAt: now, ExpiresAt: now.Add(24 * time.Hour)})
		if err != nil {
			return err
		}
		_, err = admin.SubmitGrant(ctx, party, env)
		return err
	}
	for i := range nRooms {
		r := &loadRoom{name: fmt.Sprintf("load-%02d", i+1), agentDirs: map[string]string{}, schemas: map[string]*cleanroom.Schema{},
			files: map[string]string{}, rows: map[string]int{}, fresh: map[string]bool{}, repeats: map[string]int{},
			reviewed: map[string]bool{}, committed: map[string][]int{}}
		if _, err := admin.CreateRoom(ctx, httpapi.CreateRoomRequest{Name: r.name, Host: demoHost, Parties: demoParties()}); err != nil {
			return nil, err
		}
		for _, u := range demoUsers {
			if err := grant(u.party, u.user, r.name, u.roles); err != nil {
				return nil, err
			}
			r.agentDirs[u.party] = filepath.Join(tmp, r.name, u.party+"-agent")
		}
		if err := l.setUpRoom(ctx, r, data); err != nil {
			return nil, fmt.Errorf("room %s: %w", r.name, err)
		}
		l.rooms = append(l.rooms, r)
	}

	roles := map[string][]cleanroom.Role{
		kindOperator:   {cleanroom.RoleAnalyst, cleanroom.RoleReceiver},
		kindReviewer:   {cleanroom.RoleAnalyst, cleanroom.RoleReceiver, cleanroom.RoleReviewer},
		kindBank:       {cleanroom.RoleAnalyst, cleanroom.RoleReceiver},
		kindAdvertiser: {cleanroom.RoleAnalyst, cleanroom.RoleReceiver},
		kindUploader:   {cleanroom.RoleProvider},
	}
	parties := map[string]string{kindOperator: "operator", kindReviewer: "bank", kindBank: "bank", kindAdvertiser: "advertiser"}
	for i := range nClients {
		r := l.rooms[i%nRooms]
		slot := i / nRooms
		kind := loadRoster[slot%len(loadRoster)]
		if kind == kindReviewer && slot >= len(loadRoster) {
			// One reviewer per room, so that no two decide the same
			// result.
			kind = kindBank
		}
		c := &loadClient{kind: kind, party: parties[kind], user: fmt.Sprintf("load-%02d", i+1), room: r, l: l,
			rng: rand.New(rand.NewPCG(uint64(i), 1)), lat: map[string][]time.Duration{}, audited: map[cleanroom.Action]int{}}
		if kind == kindUploader {
			// Uploaders alternate between the bank's customers and the
			// advertiser's shoppers.
			c.party, c.dataset = "bank", "customers"
			if (i/nRooms/len(loadRoster)+i%nRooms)%2 == 1 {
				c.party, c.dataset = "advertiser", "shoppers"
			}
		}
		if err := grant(c.party, c.user, r.name, roles[kind]); err != nil {
			return nil, err
		}
		tok, err := admin.CreatePartyToken(ctx, httpapi.CreateTokenRequest{Party: c.party, User: c.user}, l.keys[c.party].Signing)
		if err != nil {
			return nil, err
		}
		// Each client has a connection of its own.
		c.c = client.New(url, tok.Secret, tc)
		l.clients = append(l.clients, c)
	}
	return l, nil
}

// setUpRoom brings a room to where analysts run templates.
func (l *loadSetup) setUpRoom(ctx context.Context, r *loadRoom, data string) error {
	d, err := readDUABytes(demoDUA)
	if err != nil {
		return err
	}
	d.Type, d.Server, d.Room = cleanroom.DUAType, l.serverID, r.name
	d.Budget.Rho, d.Budget.Epsilon = 10, 40
	d.StartsAt = time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	d.ExpiresAt = d.StartsAt.AddDate(0, 0, 30)
	b, err := l.members["operator"].DraftDUA(ctx, r.name, d)
	if err != nil {
		return err
	}
	for _, u := range demoUsers {
		env, err := statement.Sign(l.keys[u.party].Signing, b.Document)
		if err != nil {
			return err
		}
		if b, err = l.members[u.party].SignDUA(ctx, r.name, b.Version, env.Signature); err != nil {
			return err
		}
	}
	if b.State != cleanroom.DUAActive {
		return fmt.Errorf("agreement after every signature: %s", b.State)
	}

	for _, ds := range demoDatasets {
		schema, err := demoSchemas.ReadFile("demodata/" + ds.name + ".schema.json")
		if err != nil {
			return err
		}
		c := l.members[ds.party]
		if _, err := c.CreateDataset(ctx, r.name, ds.name, schema); err != nil {
			return err
		}
		r.files[ds.name] = filepath.Join(data, ds.file)
		res, err := uploadDataset(ctx, c, ds.name, uploadFlags{room: r.name, file: r.files[ds.name], country: "RU"}, l.keys[ds.party], io.Discard)
		if err != nil {
			return fmt.Errorf("upload %s: %w", ds.name, err)
		}
		r.rows[ds.name] = res.Version.Rows
		shown, err := c.ShowDataset(ctx, r.name, ds.name)
		if err != nil {
			return err
		}
		r.schemas[ds.name] = &shown.Schema
	}

	run, err := l.members["operator"].StartMatch(ctx, r.name)
	if err != nil {
		return err
	}
	for _, u := range demoUsers {
		a, err := agent.New(ctx, l.members[u.party], r.name, l.keys[u.party], r.agentDirs[u.party], nil)
		if err != nil {
			return err
		}
		if _, err := a.RunOnce(ctx); err != nil {
			return err
		}
	}
	if run, err = l.members["operator"].ShowMatch(ctx, r.name, run.ID); err != nil {
		return err
	}
	if run.State != "done" {
		return fmt.Errorf("match run %s is %s %s", run.ID, run.State, run.Error)
	}

	entries, err := library.All()
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !slices.Contains(loadTemplates, e.Template.Name) {
			continue
		}
		t, err := l.members["operator"].ProposeTemplate(ctx, r.name, string(e.YAML))
		if err != nil {
			return fmt.Errorf("propose %s: %w", e.Template.Name, err)
		}
		for _, party := range slices.Clone(t.Pending) {
			env, err := statement.Sign(l.keys[party].Signing, cleanroom.TemplateApproval{Type: cleanroom.ApprovalType, Server: l.serverID,
				Room: r.name, Name: t.Template.Name, Version: t.Template.Version, Digest: template.Digest(&t.Template), IssuedAt: time.Now().UTC()})
			if err != nil {
				return err
			}
			if t, err = l.members[party].ApproveTemplate(ctx, r.name, t.Template.Name, env); err != nil {
				return fmt.Errorf("approve %s: %w", e.Template.Name, err)
			}
		}
		if t.State != cleanroom.TemplateApproved {
			return fmt.Errorf("template %s is %s after every approval", t.Template.Name, t.State)
		}
	}
	return nil
}

// loadBefore is a room's state before the load: the checkpoint its
// operator kept and what each dataset's budget had spent (on matching).
type loadBefore struct {
	checkpoint *auditlog.Checkpoint
	spent      map[string]dp.LossUnits
}

// snapshot keeps a checkpoint of every room's log as its operator, and
// reads the budgets' usage from the database.
func (l *loadSetup) snapshot(ctx context.Context, dbPath string) (map[string]*loadBefore, error) {
	out := map[string]*loadBefore{}
	for _, r := range l.rooms {
		cp, _, err := keepCheckpoint(ctx, l.members["operator"], r.name, l.auditDir)
		if err != nil {
			return nil, err
		}
		out[r.name] = &loadBefore{checkpoint: cp, spent: map[string]dp.LossUnits{}}
	}
	db, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	err = db.View(ctx, func(tx *sqlite.Tx) error {
		for _, r := range l.rooms {
			for _, ds := range demoDatasets {
				u, err := datasetUsage(tx, r.name, ds.name)
				if err != nil {
					return err
				}
				if out[r.name].spent[ds.name], err = u.Spent.Units(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return out, err
}

// datasetUsage is the usage of a dataset's own cap (the budget never
// renews, so there is one period).
func datasetUsage(tx *sqlite.Tx, room, dataset string) (*sqlite.Usage, error) {
	us, err := tx.BudgetUsage(room + "/" + dataset)
	if err != nil {
		return nil, err
	}
	for i := range us {
		if us[i].Scope == "dataset" {
			return &us[i], nil
		}
	}
	return &sqlite.Usage{}, nil
}

// loadStats are the merged figures of all clients.
type loadStats struct {
	lat      map[string][]time.Duration
	count    map[string]int
	requests int
	audited  int
}

func (s *loadStats) quantile(op string, q float64) float64 {
	d := s.lat[op]
	if len(d) == 0 {
		return 0
	}
	return float64(d[min(len(d)-1, int(q*float64(len(d))))].Microseconds()) / 1000
}

// report merges the clients' latencies and logs a table of them.
func (l *loadSetup) report(b *testing.B, elapsed time.Duration) *loadStats {
	s := &loadStats{lat: map[string][]time.Duration{}, count: map[string]int{}}
	for _, c := range l.clients {
		for op, ds := range c.lat {
			s.lat[op] = append(s.lat[op], ds...)
		}
	}
	var lines []string
	lines = append(lines, fmt.Sprintf("%-24s %8s %8s %9s %9s %9s %9s", "operation", "count", "per s", "p50 ms", "p90 ms", "p99 ms", "max ms"))
	for _, op := range loadOps {
		ds := s.lat[op]
		slices.Sort(ds)
		s.count[op] = len(ds)
		if isRequest(op) {
			s.requests += len(ds)
		}
		if _, ok := loadAudited[op]; ok {
			s.audited += len(ds)
		}
		if len(ds) == 0 {
			continue
		}
		lines = append(lines, fmt.Sprintf("%-24s %8d %8.1f %9.1f %9.1f %9.1f %9.1f", op, len(ds), float64(len(ds))/elapsed.Seconds(),
			s.quantile(op, 0.5), s.quantile(op, 0.9), s.quantile(op, 0.99), float64(ds[len(ds)-1].Microseconds())/1000))
	}
	kinds := map[string]int{}
	for _, c := range l.clients {
		kinds[c.kind]++
	}
	var mix []string
	for _, k := range slices.Sorted(maps.Keys(kinds)) {
		mix = append(mix, fmt.Sprintf("%d %s", kinds[k], k))
	}
	// The table goes to standard output: the benchmark's log keeps ten
	// lines only.
	fmt.Printf("\n%d clients (%s) in %d rooms for %v (last requests finished after %v): %d requests, %.1f requests/s, %d new runs (%.2f/s), %d repeats (%.1f/s)\n%s\n",
		len(l.clients), strings.Join(mix, ", "), len(l.rooms), *loadDuration, elapsed.Round(time.Millisecond), s.requests,
		float64(s.requests)/elapsed.Seconds(), s.count[opRunNew], float64(s.count[opRunNew])/elapsed.Seconds(),
		s.count[opRunRepeat], float64(s.count[opRunRepeat])/elapsed.Seconds(), strings.Join(lines, "\n"))
	return s
}

// checkRoom checks a room's log as its operator: the newest checkpoint
// extends the one kept before the load, the export verifies against every
// checkpoint kept, and the entries the load added are exactly the audited
// requests the clients were answered, with each new run once and each
// repeat and review accounted for; the room lists exactly the new runs;
// every upload committed a whole version.
func (l *loadSetup) checkRoom(ctx context.Context, r *loadRoom, before *loadBefore) error {
	c := l.members["operator"]
	if _, _, err := keepCheckpoint(ctx, c, r.name, l.auditDir); err != nil {
		return fmt.Errorf("room %s: checkpoint after the load: %w", r.name, err)
	}
	e, err := exportLog(ctx, c, r.name)
	if err != nil {
		return err
	}
	st, err := loadAuditState(auditStatePath(l.auditDir, l.serverID, r.name))
	if err != nil {
		return err
	}
	if findings := auditlog.Verify(e, st.ServerKey, st.Checkpoints, st.Receipts, st.Cosigned); len(findings) > 0 {
		return fmt.Errorf("room %s: the audit log does not verify: %s", r.name, strings.Join(findings, "; "))
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	want := map[cleanroom.Action]int{}
	for _, cl := range l.clients {
		if cl.room == r {
			for a, n := range cl.audited {
				want[a] += n
			}
		}
	}
	got := map[cleanroom.Action]int{}
	runs, repeats, reviews := map[string]int{}, map[string]int{}, map[string]int{}
	for _, en := range e.Entries[before.checkpoint.Size:] {
		if en.Outcome != cleanroom.OutcomeOK {
			bad("entry %d: %s %s %s (%s)", en.Seq, en.Action, en.Object, en.Outcome, en.Code)
			continue
		}
		got[en.Action]++
		id, _ := strings.CutPrefix(en.Object, "query:")
		switch {
		case en.Action == cleanroom.ActionQueryRun && en.Detail["repeat_of"] == "":
			runs[id]++
		case en.Action == cleanroom.ActionQueryRun:
			repeats[en.Detail["repeat_of"]]++
		case en.Action == cleanroom.ActionQueryReview:
			reviews[id]++
		}
	}
	for _, a := range slices.Sorted(maps.Keys(mergeKeys(want, got))) {
		if want[a] != got[a] {
			bad("%d %s entries logged, %d requests answered", got[a], a, want[a])
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for id := range r.fresh {
		if runs[id] != 1 {
			bad("new run %s logged %d times", id, runs[id])
		}
	}
	for id := range runs {
		if !r.fresh[id] {
			bad("run %s logged and not answered", id)
		}
	}
	for id, n := range r.repeats {
		if repeats[id] != n {
			bad("%d repeats of %s answered, %d logged", n, id, repeats[id])
		}
	}
	for id := range r.reviewed {
		if reviews[id] != 1 {
			bad("review of %s logged %d times", id, reviews[id])
		}
	}
	ql, err := c.ListQueries(ctx, r.name)
	if err != nil {
		return err
	}
	listed := map[string]bool{}
	for _, q := range ql.Queries {
		listed[q.ID] = true
	}
	if !maps.Equal(listed, r.fresh) {
		bad("the room lists %d queries, the load ran %d", len(listed), len(r.fresh))
	}
	for ds, vs := range r.committed {
		d, err := c.ShowDataset(ctx, r.name, ds)
		if err != nil {
			return err
		}
		var have []int
		for _, v := range d.Versions {
			if v.Rows != r.rows[ds] {
				bad("dataset %s version %d has %d rows, want %d", ds, v.Version, v.Rows, r.rows[ds])
			}
			have = append(have, v.Version)
		}
		if len(have) != 1+len(vs) || !slices.Equal(have[1:], slices.Sorted(slices.Values(vs))) {
			bad("dataset %s has versions %v; the load committed %v after the first", ds, have, vs)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("room %s:\n\t%s", r.name, strings.Join(problems, "\n\t"))
	}
	return nil
}

func mergeKeys[K comparable, V any](a, b map[K]V) map[K]bool {
	out := map[K]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// checkStore checks the stopped server's database and vault: the audit
// chain is intact, no budget reservation is open, the ledger's usage
// equals its charges, each new run's reservation is committed with the
// loss its audit entry records, each dataset's budget spent during the
// load is the sum of the losses of the runs that read it and some is
// left, and every version of the uploaded datasets reads whole from the
// vault.
func (l *loadSetup) checkStore(ctx context.Context, dir string, before map[string]*loadBefore) error {
	dbPath, keyDir, _, _ := dataPaths(dir)
	db, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	versions := map[string][]sqlite.VersionRecord{} // vault ID → versions
	least := 1.0
	err = db.View(ctx, func(tx *sqlite.Tx) error {
		if seq, err := tx.VerifyAuditChain(); err != nil || seq != 0 {
			bad("audit chain broken at entry %d (%v)", seq, err)
		}
		open, err := tx.OpenReservations()
		if err != nil {
			return err
		}
		for _, o := range open {
			bad("reservation %s is still open", o.ID)
		}
		if err := tx.CheckLedger(); err != nil {
			bad("%v", err)
		}
		for _, r := range l.rooms {
			// The loss each new run's entry records.
			logged := map[string]dp.Loss{}
			for after := int64(0); ; {
				es, err := tx.Audit(sqlite.AuditFilter{Room: r.name, After: after})
				if err != nil {
					return err
				}
				if len(es) == 0 {
					break
				}
				for _, e := range es {
					if e.Action == cleanroom.ActionQueryRun && e.Outcome == cleanroom.OutcomeOK && e.Detail["repeat_of"] == "" {
						logged[strings.TrimPrefix(e.Object, "query:")] = dp.Loss{Rho: parseFloat(e.Detail["rho"]),
							Epsilon: parseFloat(e.Detail["epsilon"]), Delta: parseFloat(e.Detail["delta"])}
					}
				}
				after = es[len(es)-1].Seq
			}
			spent := map[string]dp.LossUnits{}
			for id := range r.fresh {
				logged := logged[id]
				res, err := tx.Reservation("query:" + id)
				if err != nil {
					return err
				}
				lu, err1 := logged.Units()
				ru, err2 := res.Loss.Units()
				if err := errors.Join(err1, err2); err != nil {
					return err
				}
				if res.State != sqlite.Committed || lu != ru {
					bad("run %s: reservation %s of %+v, the log records %+v", id, res.State, res.Loss, logged)
				}
				for _, ds := range res.Datasets {
					s := spent[ds]
					spent[ds] = dp.LossUnits{Rho: s.Rho + ru.Rho, Epsilon: s.Epsilon + ru.Epsilon, Delta: s.Delta + ru.Delta}
				}
			}
			for _, ds := range demoDatasets {
				u, err := datasetUsage(tx, r.name, ds.name)
				if err != nil {
					return err
				}
				now, err := u.Spent.Units()
				if err != nil {
					return err
				}
				b := before[r.name].spent[ds.name]
				during := dp.LossUnits{Rho: now.Rho - b.Rho, Epsilon: now.Epsilon - b.Epsilon, Delta: now.Delta - b.Delta}
				if during != spent[r.name+"/"+ds.name] {
					bad("dataset %s/%s spent %+v during the load, its runs' losses add up to %+v", r.name, ds.name, during, spent[r.name+"/"+ds.name])
				}
				if u.Reserved != (dp.Loss{}) {
					bad("dataset %s/%s has %+v reserved", r.name, ds.name, u.Reserved)
				}
				for _, f := range []struct{ spent, limit float64 }{{u.Spent.Rho, u.Cap.Rho}, {u.Spent.Epsilon, u.Cap.Epsilon}, {u.Spent.Delta, u.Cap.Delta}} {
					if f.limit > 0 {
						least = min(least, 1-f.spent/f.limit)
					}
				}
			}
			for ds := range r.committed {
				vs, err := tx.Versions(r.name, ds)
				if err != nil {
					return err
				}
				versions[r.name+"."+ds] = vs
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if least <= 0 {
		bad("a dataset's budget is used up")
	}
	l.leastLeft = fmt.Sprintf("%.0f %%", 100*least)

	keys, err := keyfile.LoadServer(keyDir)
	if err != nil {
		return err
	}
	store, err := vault.Open(filepath.Join(dir, "datasets"), vault.NewLocalWrapper(keys.KEK))
	if err != nil {
		return err
	}
	inVault, err := store.Versions()
	if err != nil {
		return err
	}
	for id, vs := range versions {
		var want []int
		for _, v := range vs {
			want = append(want, v.Version)
			rows, err := readVersion(ctx, store, id, v.Version)
			if err != nil {
				bad("vault %s version %d: %v", id, v.Version, err)
			} else if rows != v.Rows {
				bad("vault %s version %d holds %d rows, the database %d", id, v.Version, rows, v.Rows)
			}
			l.versionsChecked++
		}
		if have := slices.Sorted(slices.Values(inVault[id])); !slices.Equal(have, want) {
			bad("vault %s holds versions %v, the database %v", id, have, want)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("after the load:\n\t%s", strings.Join(problems, "\n\t"))
	}
	return nil
}

func parseFloat(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

// readVersion decrypts a version and counts its rows.
func readVersion(ctx context.Context, store *vault.Store, id string, version int) (int, error) {
	rc, err := store.OpenVersion(ctx, id, version)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	rd, err := upload.NewReader(rc)
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		_, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}
