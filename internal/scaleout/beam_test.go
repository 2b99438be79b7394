//go:build beam

package scaleout

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	"github.com/cleanroom-dev/cleanroom/internal/dp"
	"github.com/cleanroom-dev/cleanroom/internal/engine"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/prepare"
	"github.com/cleanroom-dev/cleanroom/internal/release"
)

// jobServerEnv makes the test binary a Prism job server on the port it
// names: the separate process TestBeamJobServer submits to.
const jobServerEnv = "CLEANROOM_TEST_PRISM_JOB_SERVER"

// workerPoolEnv makes the test binary a scale-out worker pool:
// "port,jobdir,zone secret in hex".
const workerPoolEnv = "CLEANROOM_TEST_WORKER_POOL"

// partyPoolEnv makes the test binary a party's worker pool:
// "port,jobdir,key directory".
const partyPoolEnv = "CLEANROOM_TEST_PARTY_POOL"

func TestMain(m *testing.M) {
	if cfg := os.Getenv(partyPoolEnv); cfg != "" {
		f := strings.Split(cfg, ",")
		keys, err := keyfile.LoadParty(f[2])
		if err != nil {
			exitChild(err)
		}
		zone, _ := PartyZoneSecret(keys)
		serveChild(f[0], WorkerConfig{JobDir: f[1], ZoneSecret: zone, Party: keys})
	}
	if cfg := os.Getenv(workerPoolEnv); cfg != "" {
		f := strings.Split(cfg, ",")
		zone, _ := hex.DecodeString(f[2])
		serveChild(f[0], WorkerConfig{JobDir: f[1], ZoneSecret: zone,
			Open: func(_ context.Context, s Source) (io.ReadCloser, error) { return os.Open(s.Path) }})
	}
	if port := os.Getenv(jobServerEnv); port != "" {
		p, err := strconv.Atoi(port)
		if err != nil {
			exitChild(err)
		}
		ctx, cancel := context.WithCancelCause(context.Background())
		if _, err := prism.CreateJobServer(ctx, prism.Options{Port: p, IdleShutdownTimeout: 5 * time.Minute, CancelFn: cancel}); err != nil {
			exitChild(err)
		}
		<-ctx.Done()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serveChild serves a worker pool on port, as a child process.
func serveChild(port string, cfg WorkerConfig) {
	l, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		exitChild(err)
	}
	exitChild(ServeWorkers(context.Background(), l, cfg))
}

func exitChild(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(2)
}

// child is the test binary started as a job server or a worker pool.
type child struct {
	addr string // 127.0.0.1:port
	cmd  *exec.Cmd
	log  *syncBuffer
	tmp  string // its TMPDIR
}

// startChild starts the test binary with env set to value(port), a free
// port, and waits until it listens there.
func startChild(t *testing.T, env string, value func(port int) string) *child {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{addr: "127.0.0.1:" + strconv.Itoa(port), cmd: exec.Command(exe, "-test.run=^$"), log: &syncBuffer{}, tmp: t.TempDir()}
	c.cmd.Env = append(os.Environ(), env+"="+value(port), "TMPDIR="+c.tmp)
	c.cmd.Stderr = c.log
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.cmd.Process.Kill(); c.cmd.Wait() })
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if conn, err := net.Dial("tcp", c.addr); err == nil {
			conn.Close()
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child process did not listen on %s: %s", c.addr, c.log.String())
		}
	}
}

// TestBeamMatchesDuckDB runs every shipped plan template on Beam (Prism,
// in process) and on DuckDB over the same random data and wants the same
// exact, bounded aggregates.
func TestBeamMatchesDuckDB(t *testing.T) {
	vs := synthRoom(t, 3000, 800, 11)
	for name, plan := range shippedPlans(t) {
		t.Run(name, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			defer func() {
				if left, _ := os.ReadDir(tmp); len(left) != 0 {
					t.Errorf("the run left %d files in the temporary directory", len(left))
				}
			}()
			const seed = 99
			want := runDuckDB(t, plan, vs, seed)
			if len(want.Groups) == 0 {
				t.Fatal("DuckDB found no group: the data exercises nothing")
			}
			got, err := Run(context.Background(), plan, inputs(vs), seed, Options{Shards: 3})
			if err != nil {
				t.Fatal(err)
			}
			sameResult(t, name, got, want)
			// And the same release, with the privacy core's deterministic
			// noise stand-in in place of the secure noise.
			beamRelease, duckRelease := releaseOf(t, plan, got), releaseOf(t, plan, want)
			if !reflect.DeepEqual(beamRelease, duckRelease) {
				t.Fatalf("releases differ:\n beam   %+v\n duckdb %+v", beamRelease, duckRelease)
			}
			if len(beamRelease.Cells) == 0 {
				t.Fatal("the release shows no cell: the comparison checks nothing")
			}
		})
	}
}

// TestBeamJobServer submits a run through Beam's portable job API to a
// Prism job server in a separate process on loopback: the path a Flink or
// Spark job server takes.
func TestBeamJobServer(t *testing.T) {
	js := startChild(t, jobServerEnv, strconv.Itoa)
	endpoint, cmd, log := js.addr, js.cmd, js.log

	vs := synthRoom(t, 2000, 600, 12)
	plans := shippedPlans(t)
	plan := plans["tier-by-default-flag"]
	want := runDuckDB(t, plan, vs, 5)
	got, err := Run(context.Background(), plan, inputs(vs), 5, Options{Runner: RunnerUniversal, Endpoint: endpoint, Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	sameResult(t, "tier-by-default-flag on the job server", got, want)
	if !strings.Contains(log.String(), "pipeline done") {
		t.Fatalf("the separate job server ran no pipeline; its log:\n%s", log.String())
	}

	// The job server is the only one it reached: once it is gone, a run
	// fails instead of falling back to another runner.
	cmd.Process.Kill()
	cmd.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := Run(ctx, plan, inputs(vs), 5, Options{Runner: RunnerUniversal, Endpoint: endpoint}); err == nil {
		t.Error("a run succeeded with its job server stopped")
	}
}

// syncBuffer is a buffer a child process's output is copied into while
// the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestBeamPrepareMatchesInProcess prepares several files on Beam (Prism)
// and wants the tokens, payload and manifests the in-process preparation
// makes of the same rows.
func TestBeamPrepareMatchesInProcess(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	dir, all := prepFiles(t, 4, 150)
	cfg := prepConfig(t)
	want, err := prepare.Prepare(context.Background(), all, "", cfg)
	if err != nil {
		t.Fatal(err)
	}
	shards := t.TempDir()
	var progress []int
	cfg.Progress = func(stage string, done, total int) {
		if stage == "files" && total == 4 {
			progress = append(progress, done)
		}
	}
	got, err := Prepare(context.Background(), filepath.Join(dir, "*.csv"), "", cfg, PrepareOptions{ShardDir: shards})
	if err != nil {
		t.Fatal(err)
	}
	samePrepared(t, got, want)
	if len(progress) != 4 {
		t.Errorf("progress reported %v, want each of 4 files", progress)
	}
	if names, _ := filepath.Glob(filepath.Join(shards, "part-*-of-00004.sealed")); len(names) != 4 {
		t.Errorf("shards written: %v", names)
	}
}

// TestBeamWorkerPool runs plans with every step in a worker pool of
// another process (Beam's EXTERNAL environment), which reads the job's
// sealed material and the inputs from a shared directory and writes the
// sealed totals back: the way workers on other machines of the isolated
// zone run. This process cannot read the inputs, so a step run here would
// fail the run.
func TestBeamWorkerPool(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	vs := synthRoom(t, 2000, 600, 21)
	dataDir, jobDir := t.TempDir(), t.TempDir()
	var ins []Input
	for _, v := range vs {
		path := filepath.Join(dataDir, v.dataset+".payload")
		if err := os.WriteFile(path, v.payload, 0o600); err != nil {
			t.Fatal(err)
		}
		ins = append(ins, Input{Dataset: v.dataset, Persons: v.persons, Source: Source{Path: path},
			Open: func(context.Context) (io.ReadCloser, error) { return nil, errors.New("read in the submitting process") }})
	}
	zone := make([]byte, 32)
	for i := range zone {
		zone[i] = byte(i * 7)
	}
	pool := startChild(t, workerPoolEnv, func(port int) string { return fmt.Sprintf("%d,%s,%x", port, jobDir, zone) })
	addr, log := pool.addr, pool.log
	opts := Options{Shards: 2, Workers: addr, JobDir: jobDir, ZoneSecret: zone}
	for name, plan := range shippedPlans(t) {
		want := runDuckDB(t, plan, vs, 8)
		got, err := Run(context.Background(), plan, ins, 8, opts)
		if err != nil {
			t.Fatalf("%s: %v\nworker log:\n%s", name, err, log.String())
		}
		sameResult(t, name+" on the worker pool", got, want)
	}
	if left, _ := os.ReadDir(jobDir); len(left) != 0 {
		t.Errorf("the job directory keeps %d files after the runs", len(left))
	}
	// A pool with another zone secret cannot open the material.
	opts.ZoneSecret = make([]byte, 32)
	if _, err := Run(context.Background(), shippedPlans(t)["spend-by-tier"], ins, 8, opts); err == nil {
		t.Error("a run whose material the workers cannot open succeeded")
	}
}

// TestBeamPartyWorkerPool prepares files on a party's worker pool in
// another process, which holds the party's keys and shares the job
// directory and the files: the same payload and manifests as the
// in-process preparation. A pool with another party's keys refuses.
func TestBeamPartyWorkerPool(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	dir, all := prepFiles(t, 3, 120)
	cfg := prepConfig(t)
	keyDir := filepath.Join(t.TempDir(), "keys")
	keys, err := keyfile.CreateParty(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Keys = keys
	want, err := prepare.Prepare(context.Background(), all, "", cfg)
	if err != nil {
		t.Fatal(err)
	}
	jobDir := t.TempDir()
	addr := startChild(t, partyPoolEnv, func(port int) string { return fmt.Sprintf("%d,%s,%s", port, jobDir, keyDir) }).addr
	zone, err := PartyZoneSecret(cfg.Keys)
	if err != nil {
		t.Fatal(err)
	}
	here := 0
	cfg.Progress = func(stage string, _, _ int) {
		if stage == "files" {
			here++
		}
	}
	opts := PrepareOptions{Options: Options{Workers: addr, JobDir: jobDir, ZoneSecret: zone}}
	got, err := Prepare(context.Background(), filepath.Join(dir, "*.csv"), "", cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	samePrepared(t, got, want)
	if here != 0 {
		t.Errorf("%d files were prepared in this process, not on the pool", here)
	}
	if left, _ := os.ReadDir(jobDir); len(left) != 0 {
		t.Errorf("the job directory keeps %d entries", len(left))
	}

	other := prepConfig(t)
	otherZone, _ := PartyZoneSecret(other.Keys)
	opts.ZoneSecret = otherZone
	if _, err := Prepare(context.Background(), filepath.Join(dir, "*.csv"), "", other, opts); err == nil {
		t.Error("another party's preparation ran on this party's pool")
	}
}

// releaseOf releases a result through the output controls of its plan
// with dp.ZeroNoise, as the room does (every group of the plan's domain,
// selection, noise, coarsening).
func releaseOf(t *testing.T, plan *engine.Plan, res *engine.Result) *release.Release {
	t.Helper()
	c := plan.Controls
	r, err := release.Apply(release.Controls{MinGroupSize: 10, Rho: c.Rho, Epsilon: c.Epsilon, L0: c.MaxGroupsPerPerson,
		Coarsen: c.Coarsen, SelectionEpsilon: 1, SelectionDelta: 1e-6, Noise: dp.ZeroNoise{}}, release.PlanMetrics(plan), release.PlanGroups(plan, res))
	if err != nil {
		t.Fatal(err)
	}
	return r
}
