//go:build beam

package scaleout

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/harness"
	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	fnpb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/fnexecution_v1"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/util/grpcx"
	"google.golang.org/grpc"

	"github.com/cleanroom-dev/cleanroom/internal/engine"
	"github.com/cleanroom-dev/cleanroom/internal/prepare"
	"github.com/cleanroom-dev/cleanroom/internal/tabular"
)

// Built reports whether this binary can run Beam pipelines.
const Built = true

func init() {
	register.DoFn3x1[context.Context, int, func([]byte, []byte), error](&readFn{})
	register.DoFn4x1[context.Context, []byte, func(*[]byte) bool, func([]byte, []byte), error](&boundFn{})
	register.DoFn3x1[context.Context, []byte, func(*[]byte) bool, error](&collectFn{})
	register.DoFn2x1[context.Context, int, error](&prepareFn{})
	register.Emitter2[[]byte, []byte]()
	register.Iter1[[]byte]()
}

// readFn reads shards of the dataset versions. Its only field, the job's
// ID, is all that travels in the pipeline: the worker finds the plan, the
// inputs and the keys in its own process.
type readFn struct {
	Job string
	j   *job
	s   *sealer
}

func (f *readFn) Setup() error {
	var err error
	if f.j, err = lookup(f.Job); err != nil {
		return err
	}
	f.s, err = f.j.keys.newSealer()
	return err
}

func (f *readFn) ProcessElement(ctx context.Context, shard int, emit func([]byte, []byte)) error {
	return f.j.readShard(ctx, shard, f.s, emit)
}

// boundFn bounds each person's contributions and sends one sealed partial
// per group and bundle to the second shuffle.
type boundFn struct {
	Job string
	j   *job
	s   *sealer
	acc map[string]*partial
}

func (f *boundFn) Setup() error {
	var err error
	if f.j, err = lookup(f.Job); err != nil {
		return err
	}
	f.s, err = f.j.keys.newSealer()
	return err
}

func (f *boundFn) StartBundle(context.Context, func([]byte, []byte)) error {
	f.acc = map[string]*partial{}
	return nil
}

func (f *boundFn) ProcessElement(ctx context.Context, key []byte, values func(*[]byte) bool, _ func([]byte, []byte)) error {
	return f.j.bound(key, values, f.acc)
}

func (f *boundFn) FinishBundle(_ context.Context, emit func([]byte, []byte)) error {
	f.j.flush(f.acc, f.s, emit)
	return nil
}

// collectFn sums each group's partials into the job's result.
type collectFn struct {
	Job string
	j   *job
}

func (f *collectFn) Setup() error {
	var err error
	f.j, err = lookup(f.Job)
	return err
}

func (f *collectFn) ProcessElement(_ context.Context, key []byte, values func(*[]byte) bool) error {
	return f.j.collect(key, values)
}

// FinishBundle, in a worker of another process, writes the bundle's
// groups to the job directory.
func (f *collectFn) FinishBundle(context.Context) error {
	if f.j.results == "" {
		return nil
	}
	if err := f.j.writeResults(); err != nil {
		return f.j.fail(err)
	}
	return nil
}

// Run runs plan as a Beam pipeline over the dataset versions inputs and
// returns the same TRUE, contribution-bounded aggregates as the DuckDB
// executor for the same seed (see internal/engine). The result must reach
// no one except through the privacy core.
//
// The pipeline reads each version in opts.Shards parts, decrypting it in
// the workers; evaluates filters, group keys and row clamps; shuffles each
// person's kept rows of a dataset as one value, sealed under a key made
// for this run, by an HMAC of the person; bounds each person's
// contributions (the per-person clamp and L0); and shuffles sealed
// per-group partial sums by an HMAC of the group. No value crosses a
// shuffle in the clear, and the pipeline the job server receives holds no
// key, plan value or row. With opts.Workers the steps run in a worker
// pool of another process (ServeWorkers), which reads the job's sealed
// material from opts.JobDir and writes the sealed totals back there.
func Run(ctx context.Context, plan *engine.Plan, inputs []Input, seed uint64, opts Options) (*engine.Result, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	j, err := newJob(plan, inputs, opts.Shards, seed)
	if err != nil {
		return nil, err
	}
	defer j.done()
	p, s := beam.NewPipelineWithRoot()
	shards := beam.CreateList(s, j.shardIDs())
	rows := beam.ParDo(s, &readFn{Job: j.id}, shards)
	people := beam.GroupByKey(s, rows)
	partials := beam.ParDo(s, &boundFn{Job: j.id}, people)
	groups := beam.GroupByKey(s, partials)
	beam.ParDo0(s, &collectFn{Job: j.id}, groups)
	if opts.Workers != "" {
		if err := j.writeMaterial(opts.JobDir, opts.ZoneSecret); err != nil {
			return nil, err
		}
		defer removeMaterial(opts.JobDir, j.id)
	}
	if err := execute(ctx, p, opts); err != nil {
		if _, jerr := j.result(); jerr != nil {
			return nil, fmt.Errorf("run plan %q on beam: %w", plan.Template, jerr)
		}
		return nil, fmt.Errorf("run plan %q on beam (%s): %w", plan.Template, opts.Runner, err)
	}
	if opts.Workers != "" {
		if err := j.readResults(opts.JobDir); err != nil {
			return nil, fmt.Errorf("run plan %q on beam: %w", plan.Template, err)
		}
	}
	res, err := j.result()
	if err != nil {
		return nil, fmt.Errorf("run plan %q on beam: %w", plan.Template, err)
	}
	return res, nil
}

var (
	initOnce sync.Once
	// execMu serialises submissions: the SDK keeps the job server's
	// endpoint and the environment in process-wide options.
	execMu sync.Mutex
	// prismEndpoint is the in-process Prism job server, once started.
	prismEndpoint string
)

// execute submits a pipeline and waits for it. Workers run in this
// process (Beam's LOOPBACK environment), so they reach the job's state
// and keys, or with opts.Workers in that worker pool (EXTERNAL); the
// runner only moves sealed elements between stages.
func execute(ctx context.Context, p *beam.Pipeline, opts Options) error {
	initOnce.Do(initBeam)
	execMu.Lock()
	defer execMu.Unlock()
	*jobopts.EnvironmentType, *jobopts.EnvironmentConfig, *jobopts.WorkerBinary = "LOOPBACK", "", ""
	if opts.Workers != "" {
		// The steps run in the worker pool's processes, which are this
		// binary: the staged worker binary is never run, so stage an
		// empty file rather than this one.
		f, err := os.CreateTemp("", "cleanroom-worker-*")
		if err != nil {
			return err
		}
		f.Close()
		defer os.Remove(f.Name())
		*jobopts.EnvironmentType, *jobopts.EnvironmentConfig, *jobopts.WorkerBinary = "EXTERNAL", opts.Workers, f.Name()
	}
	// The SDK leaves an empty placeholder file per LOOPBACK job in the
	// temporary directory (apache/beam#27569): remove this job's.
	if opts.Workers == "" {
		before := loopbackFiles()
		defer func() {
			for f := range loopbackFiles() {
				if !before[f] {
					if st, err := os.Stat(f); err == nil && st.Size() == 0 {
						os.Remove(f)
					}
				}
			}
		}()
	}
	var err error
	switch opts.Runner {
	case RunnerUniversal:
		// The SDK waits minutes for a job server that does not answer;
		// find out at once.
		var d net.Dialer
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := d.DialContext(dctx, "tcp", opts.Endpoint)
		cancel()
		if err != nil {
			return fmt.Errorf("job server %s does not answer: %w", opts.Endpoint, err)
		}
		c.Close()
		*jobopts.Endpoint = opts.Endpoint
		_, err = universal.Execute(ctx, p)
	default:
		*jobopts.Endpoint = prismEndpoint
		_, err = prism.Execute(ctx, p)
		if prismEndpoint == "" {
			prismEndpoint = *jobopts.Endpoint
		}
	}
	return err
}

// loopbackFiles lists the SDK's LOOPBACK placeholder files.
func loopbackFiles() map[string]bool {
	names, _ := filepath.Glob(filepath.Join(os.TempDir(), "beamloopbackworker-*"))
	out := make(map[string]bool, len(names))
	for _, n := range names {
		out[n] = true
	}
	return out
}

// initBeam initialises the SDK once per process.
func initBeam() {
	// beam.Init replaces the default logger; keep the program's.
	l := slog.Default()
	beam.Init()
	slog.SetDefault(l)
	beamlog.SetLogger(sdkLogger{})
}

// sdkLogger passes the SDK's warnings and errors to the program's logger
// and drops its per-job chatter.
type sdkLogger struct{}

func (sdkLogger) Log(ctx context.Context, sev beamlog.Severity, _ int, msg string) {
	switch {
	case sev >= beamlog.SevError:
		slog.ErrorContext(ctx, msg, "component", "beam")
	case sev == beamlog.SevWarn:
		slog.WarnContext(ctx, msg, "component", "beam")
	}
}

// prepareFn prepares whole files into sealed shards.
type prepareFn struct {
	Job string
	j   *prepJob
	s   *sealer
}

func (f *prepareFn) Setup() error {
	var err error
	if f.j, err = lookupPrep(f.Job); err != nil {
		return err
	}
	f.s, err = f.j.keys.newSealer()
	return err
}

func (f *prepareFn) ProcessElement(ctx context.Context, file int) error {
	return f.j.prepareFile(ctx, file, f.s)
}

// Prepare prepares the files matching pattern (CSV or Parquet, see
// prepare.Prepare) as one dataset version, each file on a Beam worker: the
// party's preparation at scale, run on the party's own cluster. Each
// worker reads, validates, normalises, hashes and blinds whole files and
// writes each as a shard sealed under a key that exists only in this
// process; Prepare then assembles the shards in file order. The payload
// and manifests are those prepare.Prepare makes of the files' rows in
// that order: the same tokens, byte for byte. A file with invalid rows
// fails the run with the *tabular.FileError naming file, row and column.
func Prepare(ctx context.Context, pattern string, format tabular.Format, cfg prepare.Config, opts PrepareOptions) (*prepare.Prepared, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	files, err := Files(pattern)
	if err != nil {
		return nil, err
	}
	dir := opts.ShardDir
	if dir == "" {
		if dir, err = os.MkdirTemp(opts.JobDir, "cleanroom-shards-*"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if cfg.File == "" {
		cfg.File = pattern
	}
	j := newPrepJob(files, format, cfg, dir)
	defer j.finish()
	p, s := beam.NewPipelineWithRoot()
	ids := make([]int, len(files))
	for i := range ids {
		ids[i] = i
	}
	// Reshuffle spreads the files over the workers.
	beam.ParDo0(s, &prepareFn{Job: j.id}, beam.Reshuffle(s, beam.CreateList(s, ids)))
	if opts.Workers != "" {
		if err := j.writeMaterial(opts.JobDir, opts.ZoneSecret); err != nil {
			return nil, err
		}
		defer os.Remove(prepMaterialPath(opts.JobDir, j.id))
	}
	if err := execute(ctx, p, opts.Options); err != nil {
		j.mu.Lock()
		jerr := j.err
		j.mu.Unlock()
		if jerr != nil {
			return nil, jerr
		}
		return nil, fmt.Errorf("prepare %s on beam (%s): %w", pattern, opts.Runner, err)
	}
	return j.assemble()
}

// ServeWorkers serves a pool of Beam SDK harnesses on lis: the runner
// starts one per worker it needs (Beam's EXTERNAL environment), in this
// process. It returns when ctx is done.
func ServeWorkers(ctx context.Context, lis net.Listener, cfg WorkerConfig) error {
	if cfg.JobDir == "" || len(cfg.ZoneSecret) < 32 || (cfg.Open == nil) == (cfg.Party == nil) {
		return fmt.Errorf("scale-out workers: a job directory, the zone secret, and either an opener of the room's versions or a party's keys are required")
	}
	initOnce.Do(initBeam)
	worker.Lock()
	worker.jobDir, worker.zone, worker.open, worker.party = cfg.JobDir, cfg.ZoneSecret, cfg.Open, cfg.Party
	worker.Unlock()
	srv := grpc.NewServer()
	pool := &workerPool{root: ctx, workers: map[string]context.CancelFunc{}}
	fnpb.RegisterBeamFnExternalWorkerPoolServer(srv, pool)
	go func() {
		<-ctx.Done()
		srv.Stop()
	}()
	err := srv.Serve(lis)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// workerPool starts and stops SDK harnesses at the runner's request.
type workerPool struct {
	fnpb.UnimplementedBeamFnExternalWorkerPoolServer
	root    context.Context
	mu      sync.Mutex
	workers map[string]context.CancelFunc
}

func (p *workerPool) StartWorker(_ context.Context, req *fnpb.StartWorkerRequest) (*fnpb.StartWorkerResponse, error) {
	forgetRemoteJobs()
	p.mu.Lock()
	defer p.mu.Unlock()
	id := req.GetWorkerId()
	switch {
	case p.workers[id] != nil:
		return &fnpb.StartWorkerResponse{Error: "worker " + id + " is already running"}, nil
	case req.GetControlEndpoint().GetUrl() == "" || req.GetLoggingEndpoint().GetUrl() == "":
		return &fnpb.StartWorkerResponse{Error: "worker " + id + ": no control or logging endpoint"}, nil
	}
	ctx, cancel := context.WithCancel(grpcx.WriteWorkerID(p.root, id))
	p.workers[id] = cancel
	go func() {
		if err := harness.MainWithOptions(ctx, req.GetLoggingEndpoint().GetUrl(), req.GetControlEndpoint().GetUrl(), harness.Options{}); err != nil && ctx.Err() == nil {
			slog.Warn("scale-out worker stopped", "worker", id, "err", err)
		}
		p.mu.Lock()
		delete(p.workers, id)
		p.mu.Unlock()
	}()
	return &fnpb.StartWorkerResponse{}, nil
}

func (p *workerPool) StopWorker(_ context.Context, req *fnpb.StopWorkerRequest) (*fnpb.StopWorkerResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cancel := p.workers[req.GetWorkerId()]; cancel != nil {
		cancel()
		delete(p.workers, req.GetWorkerId())
	}
	return &fnpb.StopWorkerResponse{}, nil
}
