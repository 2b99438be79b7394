package scaleout

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/cleanroom-dev/cleanroom/internal/engine"
	"github.com/cleanroom-dev/cleanroom/internal/upload"
)

// Runners.
const (
	// RunnerPrism runs the pipeline on Beam's Prism runner inside this
	// process: for tests and for jobs that fit one machine.
	RunnerPrism = "prism"
	// RunnerUniversal submits the pipeline through Beam's portable job API
	// to a job server at Options.Endpoint: a Flink or Spark job server, or
	// a Prism job server started on its own.
	RunnerUniversal = "universal"
)

// ErrNotBuilt is returned by Run and Prepare in a binary built without
// Beam (the default build; see docs/scale-out.md).
var ErrNotBuilt = errors.New("this cleanroom binary was built without Apache Beam: build it with `make build-beam` (go build -tags beam ./cmd/cleanroom) to use the beam engine")

// Options say where a pipeline runs.
type Options struct {
	// Runner is RunnerPrism (the default) or RunnerUniversal.
	Runner string
	// Endpoint is the job server's address (host:port) for
	// RunnerUniversal.
	Endpoint string
	// Shards is the number of parts each dataset version is read in, the
	// parallelism of the first stage. Default 4.
	Shards int
	// Workers is the address (host:port) of a worker pool that runs the
	// pipeline's steps in other processes (ServeWorkers); empty runs them
	// in this process. Workers share JobDir with this process and hold
	// ZoneSecret, under which a job's material is sealed there.
	Workers    string
	JobDir     string
	ZoneSecret []byte
}

// Validate checks the options as check would fill them in, without
// changing them: for a server that checks its settings at start.
func (o Options) Validate() error { return o.check() }

func (o *Options) check() error {
	if o.Runner == "" {
		o.Runner = RunnerPrism
	}
	if o.Shards == 0 {
		o.Shards = 4
	}
	switch {
	case o.Runner != RunnerPrism && o.Runner != RunnerUniversal:
		return fmt.Errorf("scale-out: runner %q, want %s or %s", o.Runner, RunnerPrism, RunnerUniversal)
	case o.Runner == RunnerUniversal && o.Endpoint == "":
		return fmt.Errorf("scale-out: the %s runner needs a job server endpoint (host:port)", RunnerUniversal)
	case o.Runner == RunnerPrism && o.Endpoint != "":
		return fmt.Errorf("scale-out: the %s runner starts its own job server; an endpoint is for the %s runner", RunnerPrism, RunnerUniversal)
	case o.Shards < 1 || o.Shards > 4096:
		return fmt.Errorf("scale-out: %d shards, want 1 to 4096", o.Shards)
	case o.Workers != "" && (o.JobDir == "" || len(o.ZoneSecret) < 32):
		return fmt.Errorf("scale-out: workers in other processes need a shared job directory and the zone secret")
	}
	return nil
}

// Input is one joined dataset's version, as the room holds it.
type Input struct {
	// Dataset is the dataset's name, one of the plan's.
	Dataset string
	// Open opens the version's payload, decrypting it from the vault. A
	// worker calls it once per shard it reads.
	Open func(ctx context.Context) (io.ReadCloser, error)
	// Persons is the room person of each of the payload's rows, in order
	// (match.AssignedDataset.Rows), negative for none.
	Persons []int32
	// Source is where workers in other processes read the version from
	// (Options.Workers); unused by workers in this process.
	Source Source
}

// job is a run's state in this process. Workers find it by its ID, which
// is all the pipeline carries: the plan, the inputs and the keys never
// leave the process.
type job struct {
	id     string
	plan   *engine.Plan
	inputs []Input
	shards int
	keys   *jobKeys
	rankA  int64
	rankB  int64
	opener opener
	// results is, in a worker of another process, the directory its
	// collected groups are written to.
	results string

	mu     sync.Mutex
	groups map[string]*partial
	err    error
}

var jobs sync.Map // id → *job

func newJob(plan *engine.Plan, inputs []Input, shards int, seed uint64) (*job, error) {
	if err := checkPlan(plan); err != nil {
		return nil, err
	}
	ordered := make([]Input, len(plan.Datasets))
	for i, d := range plan.Datasets {
		j := slices.IndexFunc(inputs, func(in Input) bool { return in.Dataset == d.Name })
		if j < 0 {
			return nil, fmt.Errorf("plan %q: no input for dataset %s", plan.Template, d.Name)
		}
		ordered[i] = inputs[j]
	}
	var id [12]byte
	rand.Read(id[:])
	j := &job{id: hex.EncodeToString(id[:]), plan: plan, inputs: ordered, shards: shards, groups: map[string]*partial{}}
	j.keys = newJobKeys(j.id)
	j.opener.keys = j.keys
	j.rankA, j.rankB = engine.RankParams(seed)
	jobs.Store(j.id, j)
	return j, nil
}

// done removes the job and wipes its keys.
func (j *job) done() {
	jobs.Delete(j.id)
	j.keys.wipe()
}

func lookup(id string) (*job, error) {
	if v, ok := jobs.Load(id); ok {
		return v.(*job), nil
	}
	return remoteJob(id)
}

// fail records the first error a worker met, so that Run returns it
// rather than the runner's wrapping of it.
func (j *job) fail(err error) error {
	j.mu.Lock()
	if j.err == nil {
		j.err = err
	}
	j.mu.Unlock()
	return err
}

const (
	kindPerson = "person"
	kindGroup  = "group"
)

// shardIDs are the first stage's elements: shard i of dataset d is
// d·shards + i. They are all the pipeline's data carries in the clear.
func (j *job) shardIDs() []int {
	ids := make([]int, len(j.inputs)*j.shards)
	for i := range ids {
		ids[i] = i
	}
	return ids
}

// readShard reads one shard of a dataset version: the rows of the
// people whose number is the shard's modulo the shard count. It decrypts
// the version, evaluates the plan on each of the shard's rows, and emits
// each person's kept rows as one sealed value under the person's shuffle
// key: the shuffle carries one element per person and dataset, not one
// per row.
func (j *job) readShard(ctx context.Context, shard int, s *sealer, emit func(key, value []byte)) error {
	d, part := shard/j.shards, shard%j.shards
	if d < 0 || d >= len(j.inputs) {
		return j.fail(fmt.Errorf("scale-out: shard %d of %d datasets", shard, len(j.inputs)))
	}
	in := j.inputs[d]
	name := j.plan.Datasets[d].Name
	rc, err := in.Open(ctx)
	if err != nil {
		return j.fail(err)
	}
	defer rc.Close()
	rd, err := upload.NewReader(rc)
	if err != nil {
		return j.fail(fmt.Errorf("load %s: %w", name, err))
	}
	if rd.Header.Rows != len(in.Persons) {
		return j.fail(fmt.Errorf("load %s: the payload has %d rows, the assignment %d", name, rd.Header.Rows, len(in.Persons)))
	}
	ev, err := newRowEval(j.plan, d, &rd.Header)
	if err != nil {
		return j.fail(err)
	}
	// Each person's records, each prefixed by its length.
	people := map[int32][]byte{}
	for i := 0; ; i++ {
		if i >= len(in.Persons) || in.Persons[i] < 0 || int(in.Persons[i])%j.shards != part {
			if err := rd.Skip(); err == io.EOF {
				break
			} else if err != nil {
				return j.fail(fmt.Errorf("load %s: %w", name, err))
			}
			continue
		}
		r, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return j.fail(fmt.Errorf("load %s: %w", name, err))
		}
		if i%(1<<16) == 0 {
			if err := ctx.Err(); err != nil {
				return j.fail(err)
			}
		}
		rec, ok, err := ev.eval(i+1, in.Persons[i], r.Values)
		if err != nil {
			return j.fail(fmt.Errorf("load %s: %w", name, err))
		}
		if !ok {
			continue
		}
		b := rec.encode()
		people[rec.person] = append(binary.AppendUvarint(people[rec.person], uint64(len(b))), b...)
	}
	var pk [4]byte
	for person, recs := range people {
		binary.BigEndian.PutUint32(pk[:], uint32(person))
		key := j.keys.shuffleKey(kindPerson, pk[:])
		emit(key, s.seal(kindPerson, key, recs))
		clear(recs)
		delete(people, person)
	}
	return nil
}

// bound opens the sealed records of one person and adds the person's
// bounded contributions to the bundle's partials.
func (j *job) bound(key []byte, values func(*[]byte) bool, acc map[string]*partial) error {
	var recs []rowRecord
	var v []byte
	for values(&v) {
		plain, err := j.opener.open(kindPerson, key, v)
		if err != nil {
			return j.fail(err)
		}
		for rest := plain; len(rest) > 0; {
			n, k := binary.Uvarint(rest)
			if k <= 0 || n > uint64(len(rest)-k) {
				return j.fail(fmt.Errorf("scale-out: %w", errRecord))
			}
			r, err := decodeRecord(rest[k : k+int(n)])
			if err != nil || r.dataset >= len(j.plan.Datasets) {
				return j.fail(fmt.Errorf("scale-out: %w", errRecord))
			}
			recs = append(recs, r)
			rest = rest[k+int(n):]
		}
		clear(plain)
	}
	if len(recs) > 0 {
		personContributions(j.plan, j.rankA, j.rankB, recs, acc)
	}
	return nil
}

// maxPaddedGroups bounds the domain for which a bundle sends a partial
// for every group, empty or not.
const maxPaddedGroups = 4096

// flush seals a bundle's partials under their groups' shuffle keys. When
// the plan's domain is small it sends one for every group of the domain,
// so that the shuffle does not learn which groups a bundle's people fell
// in.
func (j *job) flush(acc map[string]*partial, s *sealer, emit func(key, value []byte)) {
	if domain := j.domain(); domain != nil {
		for _, k := range domain {
			if acc[string(encodeInts(nil, k))] == nil {
				acc[string(encodeInts(nil, k))] = newPartial(j.plan, k)
			}
		}
	}
	for k, p := range acc {
		key := j.keys.shuffleKey(kindGroup, []byte(k))
		emit(key, s.seal(kindGroup, key, p.encode()))
		delete(acc, k)
	}
}

// domain lists every group key of the plan, or nil if there are more than
// maxPaddedGroups.
func (j *job) domain() [][]int {
	n := 1
	for _, k := range j.plan.Keys {
		if n *= k.Groups(); n > maxPaddedGroups {
			return nil
		}
	}
	out := make([][]int, 0, n)
	key := make([]int, len(j.plan.Keys))
	for {
		out = append(out, slices.Clone(key))
		i := len(key) - 1
		for ; i >= 0; i-- {
			if key[i]++; key[i] < j.plan.Keys[i].Groups() {
				break
			}
			key[i] = 0
		}
		if i < 0 {
			return out
		}
	}
}

// collect opens a group's partials and adds them to the job's result.
func (j *job) collect(key []byte, values func(*[]byte) bool) error {
	var sum *partial
	var v []byte
	for values(&v) {
		plain, err := j.opener.open(kindGroup, key, v)
		if err != nil {
			return j.fail(err)
		}
		p, err := decodePartial(plain)
		if err != nil || len(p.key) != len(j.plan.Keys) || len(p.sums) != len(j.plan.Metrics) {
			return j.fail(fmt.Errorf("scale-out: %w", errRecord))
		}
		if sum == nil {
			sum = p
		} else {
			sum.merge(p)
		}
	}
	if sum != nil {
		j.set(sum)
	}
	return nil
}

// set records a group's total. The second shuffle hands each group to
// one step, once, with all its partials: a group seen again comes from a
// retried bundle and has the same total, so it replaces the first rather
// than adding to it.
func (j *job) set(p *partial) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.groups[string(encodeInts(nil, p.key))] = p
}

// result returns the groups with at least one person, sorted by key, as
// the DuckDB executor does.
func (j *job) result() (*engine.Result, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return nil, j.err
	}
	res := &engine.Result{}
	for _, p := range j.groups {
		if p.people == 0 {
			continue
		}
		g, err := p.group(j.plan)
		if err != nil {
			return nil, err
		}
		res.Groups = append(res.Groups, g)
	}
	slices.SortFunc(res.Groups, func(a, b engine.Group) int { return slices.Compare(a.Key, b.Key) })
	return res, nil
}

// runLocal runs a job's stages in this goroutine with in-memory shuffles:
// the same functions the Beam workers call, for tests of the arithmetic
// that need no runner.
func (j *job) runLocal(ctx context.Context) (*engine.Result, error) {
	s, err := j.keys.newSealer()
	if err != nil {
		return nil, err
	}
	shuffle := func() (map[string][][]byte, func(k, v []byte)) {
		m := map[string][][]byte{}
		return m, func(k, v []byte) { m[string(k)] = append(m[string(k)], v) }
	}
	iter := func(vs [][]byte) func(*[]byte) bool {
		return func(p *[]byte) bool {
			if len(vs) == 0 {
				return false
			}
			*p, vs = vs[0], vs[1:]
			return true
		}
	}
	people, emit := shuffle()
	for _, id := range j.shardIDs() {
		if err := j.readShard(ctx, id, s, emit); err != nil {
			return nil, err
		}
	}
	groups, emit2 := shuffle()
	acc := map[string]*partial{}
	for k, vs := range people {
		if err := j.bound([]byte(k), iter(vs), acc); err != nil {
			return nil, err
		}
	}
	j.flush(acc, s, emit2)
	for k, vs := range groups {
		if err := j.collect([]byte(k), iter(vs)); err != nil {
			return nil, err
		}
	}
	return j.result()
}
