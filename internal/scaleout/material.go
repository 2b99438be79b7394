package scaleout

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/atomicfile"
	"github.com/cleanroom-dev/cleanroom/internal/engine"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/prepare"
	"github.com/cleanroom-dev/cleanroom/internal/tabular"
)

// Workers in other processes. A worker pool (ServeWorkers) runs Beam's
// SDK harness in a process of its own, on a machine of the room's
// isolated zone that shares the room server's data directory. The
// pipeline still carries only a job's ID: the room server writes the job's
// material (plan, inputs' sources and persons, keys) to the shared job
// directory, sealed under a key derived from the zone secret, which only
// the room server and its workers hold; a worker that meets a job it does
// not know loads it from there. The last stage writes each group's sealed
// totals back to the job directory, where the room server reads them.

// Source says where a worker in another process reads an input: a version
// in the room's vault, or a payload file.
type Source struct {
	Vault   string
	Version int
	Path    string
}

// material is what a worker in another process needs of a job.
type material struct {
	ID           string
	Plan         *engine.Plan
	Shards       int
	RankA, RankB int64
	Seal, MAC    [32]byte
	Datasets     []string
	Sources      []Source
	Persons      [][]int32
}

func init() {
	gob.Register(time.Time{})
}

// materialKey derives the key a job's material is sealed under.
func materialKey(zone []byte, id string) (cipher.AEAD, error) {
	if len(zone) < 32 {
		return nil, errors.New("scale-out: the zone secret is shorter than 32 bytes")
	}
	k, err := hkdf.Key(sha256.New, zone, []byte(id), "cleanroom scale-out job material v1", 32)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	b, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func materialPath(dir, id string) string { return filepath.Join(dir, id+".job") }
func resultDir(dir, id string) string    { return filepath.Join(dir, id+".out") }

// writeMaterial seals a job's material into the job directory, for the
// workers of other processes. Every input needs a Source.
func (j *job) writeMaterial(dir string, zone []byte) error {
	m := material{ID: j.id, Plan: j.plan, Shards: j.shards, RankA: j.rankA, RankB: j.rankB, Seal: j.keys.seal, MAC: j.keys.mac}
	for _, in := range j.inputs {
		if in.Source == (Source{}) {
			return fmt.Errorf("scale-out: input %s has no source a worker in another process can read", in.Dataset)
		}
		m.Datasets = append(m.Datasets, in.Dataset)
		m.Sources = append(m.Sources, in.Source)
		m.Persons = append(m.Persons, in.Persons)
	}
	if err := os.MkdirAll(resultDir(dir, j.id), 0o700); err != nil {
		return err
	}
	return sealMaterial(materialPath(dir, j.id), zone, j.id, &m)
}

// readMaterial opens a job's material and makes the job, its inputs
// opened through open.
func readMaterial(dir string, zone []byte, id string, open func(context.Context, Source) (io.ReadCloser, error)) (*job, error) {
	var m material
	if err := openMaterial(materialPath(dir, id), zone, id, &m); err != nil {
		return nil, err
	}
	if m.ID != id || m.Plan == nil || len(m.Sources) != len(m.Plan.Datasets) || len(m.Persons) != len(m.Sources) || m.Shards < 1 {
		return nil, fmt.Errorf("scale-out job %s: malformed material", id)
	}
	j := &job{id: id, plan: m.Plan, shards: m.Shards, rankA: m.RankA, rankB: m.RankB, groups: map[string]*partial{},
		keys: &jobKeys{id: id, seal: m.Seal, mac: m.MAC}, results: resultDir(dir, id)}
	clear(m.Seal[:])
	clear(m.MAC[:])
	j.opener.keys = j.keys
	for i := range m.Sources {
		src := m.Sources[i]
		j.inputs = append(j.inputs, Input{Dataset: m.Datasets[i], Persons: m.Persons[i], Source: src,
			Open: func(ctx context.Context) (io.ReadCloser, error) { return open(ctx, src) }})
	}
	return j, nil
}

// WorkerConfig configures a worker pool.
type WorkerConfig struct {
	// JobDir is the job directory the room server writes jobs' material
	// to (Options.JobDir), shared with it.
	JobDir string
	// ZoneSecret is the secret the material is sealed under
	// (Options.ZoneSecret).
	ZoneSecret []byte
	// Open opens an input's version, for a pool of the room's zone.
	Open func(context.Context, Source) (io.ReadCloser, error)
	// Party is the party's keys, for a pool of a party's own machines
	// that prepares uploads.
	Party *keyfile.PartyKeys
}

// worker is this process's worker pool configuration, set by
// ServeWorkers.
var worker struct {
	sync.Mutex
	jobDir string
	zone   []byte
	open   func(context.Context, Source) (io.ReadCloser, error)
	jobs   map[string]*job
	party  *keyfile.PartyKeys
	preps  map[string]*prepJob
}

// remoteJob returns the job of a worker pool in this process, loading its
// material on first use.
func remoteJob(id string) (*job, error) {
	worker.Lock()
	defer worker.Unlock()
	if worker.open == nil {
		return nil, fmt.Errorf("scale-out job %s is not running in this process", id)
	}
	if j := worker.jobs[id]; j != nil {
		return j, nil
	}
	j, err := readMaterial(worker.jobDir, worker.zone, id, worker.open)
	if err != nil {
		return nil, err
	}
	if worker.jobs == nil {
		worker.jobs = map[string]*job{}
	}
	worker.jobs[id] = j
	return j, nil
}

// forgetRemoteJobs drops the jobs whose material is gone: the room server
// removes it when a run ends.
func forgetRemoteJobs() {
	worker.Lock()
	defer worker.Unlock()
	for id, j := range worker.jobs {
		if _, err := os.Stat(materialPath(worker.jobDir, id)); err != nil {
			j.keys.wipe()
			delete(worker.jobs, id)
		}
	}
	for id, j := range worker.preps {
		if _, err := os.Stat(prepMaterialPath(worker.jobDir, id)); err != nil {
			j.keys.wipe()
			delete(worker.preps, id)
		}
	}
}

// writeResults seals the groups a worker collected into a file of the
// job's result directory, and forgets them.
func (j *job) writeResults() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.groups) == 0 {
		return nil
	}
	s, err := j.keys.newSealer()
	if err != nil {
		return err
	}
	var out []byte
	for k, p := range j.groups {
		v := s.seal(kindGroup, []byte("result"), p.encode())
		out = appendChunk(out, v)
		delete(j.groups, k)
	}
	var name [12]byte
	rand.Read(name[:])
	return atomicfile.Write(filepath.Join(j.results, fmt.Sprintf("%x.sealed", name)), out, 0o600)
}

func appendChunk(b, chunk []byte) []byte {
	n := len(chunk)
	return append(append(b, byte(n>>24), byte(n>>16), byte(n>>8), byte(n)), chunk...)
}

// readResults reads the groups the workers of other processes wrote; a
// group written twice (by a retried bundle) has the same total both
// times.
func (j *job) readResults(dir string) error {
	files, err := filepath.Glob(filepath.Join(resultDir(dir, j.id), "*.sealed"))
	if err != nil {
		return err
	}
	slices.Sort(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		for len(b) > 0 {
			if len(b) < 4 {
				return fmt.Errorf("scale-out results %s: %w", f, errRecord)
			}
			n := int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3])
			if n > len(b)-4 {
				return fmt.Errorf("scale-out results %s: %w", f, errRecord)
			}
			plain, err := j.opener.open(kindGroup, []byte("result"), b[4:4+n])
			if err != nil {
				return fmt.Errorf("scale-out results %s: %w", f, err)
			}
			p, err := decodePartial(plain)
			if err != nil || len(p.key) != len(j.plan.Keys) || len(p.sums) != len(j.plan.Metrics) {
				return fmt.Errorf("scale-out results %s: %w", f, errRecord)
			}
			j.set(p)
			b = b[4+n:]
		}
	}
	return nil
}

// removeMaterial deletes a job's material and results from the job
// directory.
func removeMaterial(dir, id string) {
	os.Remove(materialPath(dir, id))
	os.RemoveAll(resultDir(dir, id))
}

// prepMaterial is what a worker of a party's pool needs of a
// preparation. The party's keys are not in it: the pool holds them.
type prepMaterial struct {
	ID                           string
	Files                        []string
	Format                       string
	Server, Room, Party, Dataset string
	Version                      int
	Schema                       *cleanroom.Schema
	Region                       string
	Gmail                        bool
	HMACSecret                   []byte
	ShardDir                     string
	Seal, MAC                    [32]byte
	SigningKey                   []byte // the party's public key, which the pool's keys must match
}

func prepMaterialPath(dir, id string) string { return filepath.Join(dir, id+".prep") }

// writeMaterial seals a preparation's material into the job directory.
func (j *prepJob) writeMaterial(dir string, zone []byte) error {
	c := j.cfg
	m := prepMaterial{ID: j.id, Files: j.files, Format: string(j.format), Server: c.Server, Room: c.Room, Party: c.Party,
		Dataset: c.Dataset, Version: c.Version, Schema: c.Schema, Region: c.Region, Gmail: c.Gmail, HMACSecret: c.HMACSecret,
		ShardDir: j.dir, Seal: j.keys.seal, MAC: j.keys.mac, SigningKey: c.Keys.Signing.Public().(ed25519.PublicKey)}
	return sealMaterial(prepMaterialPath(dir, j.id), zone, j.id, &m)
}

func sealMaterial(path string, zone []byte, id string, m any) error {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(m); err != nil {
		return fmt.Errorf("scale-out: encode job: %w", err)
	}
	defer clear(buf.Bytes())
	a, err := materialKey(zone, id)
	if err != nil {
		return err
	}
	nonce := make([]byte, a.NonceSize())
	rand.Read(nonce)
	return atomicfile.Write(path, a.Seal(nonce, nonce, buf.Bytes(), []byte(id)), 0o600)
}

func openMaterial(path string, zone []byte, id string, m any) error {
	sealed, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("scale-out job %s: %w", id, err)
	}
	a, err := materialKey(zone, id)
	if err != nil {
		return err
	}
	if len(sealed) < a.NonceSize() {
		return fmt.Errorf("scale-out job %s: %w", id, errSealed)
	}
	plain, err := a.Open(nil, sealed[:a.NonceSize()], sealed[a.NonceSize():], []byte(id))
	if err != nil {
		return fmt.Errorf("scale-out job %s: the material does not open under this worker's zone secret", id)
	}
	defer clear(plain)
	if err := gob.NewDecoder(bytes.NewReader(plain)).Decode(m); err != nil {
		return fmt.Errorf("scale-out job %s: %w", id, err)
	}
	return nil
}

// remotePrep returns the preparation of a party's worker pool in this
// process, loading its material on first use.
func remotePrep(id string) (*prepJob, error) {
	worker.Lock()
	defer worker.Unlock()
	if worker.party == nil {
		return nil, fmt.Errorf("scale-out preparation %s is not running in this process", id)
	}
	if j := worker.preps[id]; j != nil {
		return j, nil
	}
	var m prepMaterial
	if err := openMaterial(prepMaterialPath(worker.jobDir, id), worker.zone, id, &m); err != nil {
		return nil, err
	}
	if m.ID != id || m.Schema == nil || len(m.Files) == 0 {
		return nil, fmt.Errorf("scale-out preparation %s: malformed material", id)
	}
	if !bytes.Equal(m.SigningKey, worker.party.Signing.Public().(ed25519.PublicKey)) {
		return nil, fmt.Errorf("scale-out preparation %s is party %s's; this pool holds another party's keys", id, m.Party)
	}
	cfg := prepare.Config{Server: m.Server, Room: m.Room, Party: m.Party, Dataset: m.Dataset, Version: m.Version,
		Schema: m.Schema, Keys: worker.party, Region: m.Region, Gmail: m.Gmail, HMACSecret: m.HMACSecret}
	j := &prepJob{id: id, files: m.Files, format: tabular.Format(m.Format), cfg: cfg, dir: m.ShardDir,
		keys: &jobKeys{id: id, seal: m.Seal, mac: m.MAC}}
	clear(m.Seal[:])
	clear(m.MAC[:])
	j.opener.keys = j.keys
	if worker.preps == nil {
		worker.preps = map[string]*prepJob{}
	}
	worker.preps[id] = j
	return j, nil
}
