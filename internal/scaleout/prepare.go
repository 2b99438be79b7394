package scaleout

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/cleanroom-dev/cleanroom/internal/atomicfile"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/prepare"
	"github.com/cleanroom-dev/cleanroom/internal/tabular"
	"github.com/cleanroom-dev/cleanroom/internal/upload"
)

// The party's side: a version prepared from many files on the party's
// own cluster. Each worker prepares whole files (read, validate,
// normalise, hash, blind: prepare.PreparePart) and writes each as a
// sealed shard; the submitting process then assembles the shards, in file
// order, into one payload with its manifests, exactly as the in-process
// preparation of the files' rows in that order would.

// PrepareOptions say where a preparation runs and where its shards go.
// With Options.Workers, a party's own worker pool prepares the files: it
// holds the party's keys and shares Options.JobDir, the files and the
// shards with this process, and ZoneSecret is PartyZoneSecret of its keys.
type PrepareOptions struct {
	Options
	// ShardDir receives the sealed shards. Default: a temporary directory
	// (in JobDir with Workers), removed when Prepare returns.
	ShardDir string
}

// PartyZoneSecret is the secret a party's process and its worker pool
// seal preparations' material under, derived from the party's signing
// key.
func PartyZoneSecret(keys *keyfile.PartyKeys) ([]byte, error) {
	return hkdf.Key(sha256.New, keys.Signing.Seed(), nil, "cleanroom scale-out party zone v1", 32)
}

// prepJob is a preparation's state in this process.
type prepJob struct {
	id     string
	files  []string
	format tabular.Format
	cfg    prepare.Config
	keys   *jobKeys
	opener opener
	dir    string

	mu   sync.Mutex
	done int
	err  error
}

var prepJobs sync.Map // id → *prepJob

// Files expands a glob (or names one file) into the sorted files it
// matches.
func Files(pattern string) ([]string, error) {
	files, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("file pattern %q: %w", pattern, err)
	}
	var out []string
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no file matches %q", pattern)
	}
	slices.Sort(out)
	return out, nil
}

func newPrepJob(files []string, format tabular.Format, cfg prepare.Config, dir string) *prepJob {
	var id [12]byte
	rand.Read(id[:])
	j := &prepJob{id: hex.EncodeToString(id[:]), files: files, format: format, cfg: cfg, dir: dir}
	j.keys = newJobKeys(j.id)
	j.opener.keys = j.keys
	prepJobs.Store(j.id, j)
	return j
}

func (j *prepJob) finish() {
	prepJobs.Delete(j.id)
	j.keys.wipe()
}

func lookupPrep(id string) (*prepJob, error) {
	if v, ok := prepJobs.Load(id); ok {
		return v.(*prepJob), nil
	}
	return remotePrep(id)
}

func (j *prepJob) fail(err error) error {
	j.mu.Lock()
	if j.err == nil {
		j.err = err
	}
	j.mu.Unlock()
	return err
}

func (j *prepJob) shardPath(i int) string {
	return filepath.Join(j.dir, fmt.Sprintf("part-%05d-of-%05d.sealed", i, len(j.files)))
}

const kindShard = "shard"

// prepareFile prepares file i and writes its sealed shard: the part's
// report (JSON, length-prefixed) and its rows as a payload, sealed under
// the job's key.
func (j *prepJob) prepareFile(ctx context.Context, i int, s *sealer) error {
	if i < 0 || i >= len(j.files) {
		return j.fail(fmt.Errorf("scale-out: file %d of %d", i, len(j.files)))
	}
	cfg := j.cfg
	cfg.Progress = nil
	part, err := prepare.PreparePart(ctx, j.files[i], j.format, cfg)
	if err != nil {
		return j.fail(err)
	}
	rep, err := json.Marshal(part.Report)
	if err != nil {
		return j.fail(err)
	}
	plain := binary.BigEndian.AppendUint32(nil, uint32(len(rep)))
	plain = append(plain, rep...)
	var buf bytes.Buffer
	w, err := upload.NewWriter(&buf, cfg.PayloadHeader(len(part.Rows)))
	if err != nil {
		return j.fail(err)
	}
	for _, r := range part.Rows {
		if err := w.Write(r); err != nil {
			return j.fail(err)
		}
	}
	if err := w.Close(); err != nil {
		return j.fail(err)
	}
	plain = append(plain, buf.Bytes()...)
	sealed := s.seal(kindShard, []byte(strconv.Itoa(i)), plain)
	clear(plain)
	if err := atomicfile.Write(j.shardPath(i), sealed, 0o600); err != nil {
		return j.fail(err)
	}
	j.mu.Lock()
	j.done++
	done := j.done
	j.mu.Unlock()
	if j.cfg.Progress != nil {
		j.cfg.Progress("files", done, len(j.files))
	}
	return nil
}

// readShard opens shard i back into a part.
func (j *prepJob) readShard(i int) (*prepare.Part, error) {
	sealed, err := os.ReadFile(j.shardPath(i))
	if err != nil {
		return nil, fmt.Errorf("shard of %s: %w", j.files[i], err)
	}
	plain, err := j.opener.open(kindShard, []byte(strconv.Itoa(i)), sealed)
	if err != nil {
		return nil, fmt.Errorf("shard of %s: %w", j.files[i], err)
	}
	if len(plain) < 4 || int(binary.BigEndian.Uint32(plain)) > len(plain)-4 {
		return nil, fmt.Errorf("shard of %s: %w", j.files[i], errRecord)
	}
	n := int(binary.BigEndian.Uint32(plain))
	part := &prepare.Part{}
	if err := json.Unmarshal(plain[4:4+n], &part.Report); err != nil {
		return nil, fmt.Errorf("shard of %s: %w", j.files[i], err)
	}
	rd, err := upload.NewReader(bytes.NewReader(plain[4+n:]))
	if err != nil {
		return nil, fmt.Errorf("shard of %s: %w", j.files[i], err)
	}
	for {
		r, err := rd.Next()
		if err == io.EOF {
			return part, nil
		}
		if err != nil {
			return nil, fmt.Errorf("shard of %s: %w", j.files[i], err)
		}
		part.Rows = append(part.Rows, r)
	}
}

// assemble reads every shard, in file order, into the version's payload
// and manifests.
func (j *prepJob) assemble() (*prepare.Prepared, error) {
	parts := make([]*prepare.Part, len(j.files))
	for i := range j.files {
		p, err := j.readShard(i)
		if err != nil {
			return nil, err
		}
		parts[i] = p
	}
	return prepare.Assemble(j.cfg, parts)
}

// prepareLocal prepares every file in this goroutine, for tests of the
// shards that need no runner.
func (j *prepJob) prepareLocal(ctx context.Context) (*prepare.Prepared, error) {
	s, err := j.keys.newSealer()
	if err != nil {
		return nil, err
	}
	for i := range j.files {
		if err := j.prepareFile(ctx, i, s); err != nil {
			return nil, err
		}
	}
	return j.assemble()
}
