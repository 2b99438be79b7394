package vault

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/cleanroom-dev/cleanroom/internal/atomicfile"
	"github.com/cleanroom-dev/cleanroom/internal/crashpoint"
)

// ErrInvalid is returned, wrapped, by every Store method given a dataset
// id that ValidateID rejects or a version number below 1.
var ErrInvalid = errors.New("invalid dataset id or version")

// ErrNotFound is returned, wrapped, by NewVersion, OpenVersion and
// DestroyDataset for a dataset that was never created, and by OpenVersion
// for a version that was never committed.
var ErrNotFound = errors.New("not found")

// ErrExist is returned, wrapped, by CreateDataset for a dataset that
// exists, and by NewVersion and Commit for a version that was already
// committed: versions are immutable.
var ErrExist = errors.New("already exists")

// ErrDestroyed is returned, wrapped, by CreateDataset, NewVersion,
// OpenVersion and VersionWriter.Commit for a dataset that DestroyDataset
// destroyed. Its key is gone: no copy of its versions can be read again,
// and its id is not reused.
var ErrDestroyed = errors.New("dataset destroyed")

// File names inside a dataset's directory.
const (
	kekName       = "kek"
	tombstoneName = "destroyed"
	versionSuffix = ".enc"
	tmpSuffix     = ".tmp"
	kekMagic      = "CRVKEK01"
	maxKEKFile    = 4 << 10
	kekAADPrefix  = "cleanroom/vault/v1/dataset-kek/"
	maxIDLen      = 128
)

var idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,127}$`)

// ValidateID checks that id can name a dataset: 1 to 128 characters,
// lower-case letters, digits, '.', '_' and '-', starting with a letter or
// digit, and without "..". Such an id is a safe file name on every system
// the server runs on. The error wraps ErrInvalid.
func ValidateID(id string) error {
	if !idRE.MatchString(id) || strings.Contains(id, "..") {
		return fmt.Errorf("dataset id %q: %w", id, ErrInvalid)
	}
	return nil
}

func validateVersion(dataset string, version int) error {
	if err := ValidateID(dataset); err != nil {
		return err
	}
	if version < 1 {
		return fmt.Errorf("dataset %q: version %d: %w", dataset, version, ErrInvalid)
	}
	return nil
}

// Store keeps encrypted datasets in a directory:
//
//	<dir>/<dataset>/kek          the dataset KEK wrapped by the KeyWrapper, mode 0600
//	<dir>/<dataset>/v<N>.enc     version N, mode 0600
//	<dir>/<dataset>/destroyed    present once the dataset was destroyed
//	<dir>/<dataset>/*.tmp        written by NewVersion and others; removed by Open
//
// Directories have mode 0700. A Store is safe for concurrent use; it must be
// the only user of its directory.
type Store struct {
	dir string
	w   KeyWrapper
	mu  sync.Mutex // serialises changes to which datasets and versions exist
}

// Open returns the Store in dir, creating dir (mode 0700) if it is missing.
// It removes temporary files left by writers that were never committed
// because the process stopped, and finishes any DestroyDataset a crash
// interrupted. w guards the datasets' keys and is required.
func Open(dir string, w KeyWrapper) (*Store, error) {
	if dir == "" {
		return nil, errors.New("open vault: empty directory")
	}
	if w == nil {
		return nil, errors.New("open vault: no key wrapper")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open vault: %w", err)
	}
	s := &Store{dir: dir, w: w}
	if err := s.recover(); err != nil {
		return nil, fmt.Errorf("open vault %s: %w", dir, err)
	}
	return s, nil
}

// OpenReadOnly returns the Store in dir for reading versions beside the
// process that owns it (a scale-out worker beside the room server): it
// recovers nothing, since the owner's writes may be in progress, and its
// caller only opens versions. dir need not exist yet.
func OpenReadOnly(dir string, w KeyWrapper) (*Store, error) {
	if dir == "" || w == nil {
		return nil, errors.New("open vault: a directory and a key wrapper are required")
	}
	return &Store{dir: dir, w: w}, nil
}

// recover removes temporary files and completes interrupted destructions.
func (s *Store) recover() error {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.IsDir() || ValidateID(e.Name()) != nil {
			continue
		}
		dd := filepath.Join(s.dir, e.Name())
		files, err := os.ReadDir(dd)
		if err != nil {
			return err
		}
		for _, f := range files {
			if f.Type().IsRegular() && strings.HasSuffix(f.Name(), tmpSuffix) {
				if err := os.Remove(filepath.Join(dd, f.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
			}
		}
		if exists(filepath.Join(dd, tombstoneName)) {
			if err := shred(dd); err != nil {
				return fmt.Errorf("finish destroying dataset %q: %w", e.Name(), err)
			}
		}
		atomicfile.SyncDir(dd)
	}
	return nil
}

func (s *Store) datasetDir(id string) string { return filepath.Join(s.dir, id) }

func (s *Store) versionPath(dataset string, version int) string {
	return filepath.Join(s.dir, dataset, fmt.Sprintf("v%d%s", version, versionSuffix))
}

func (s *Store) destroyed(id string) bool {
	return exists(filepath.Join(s.dir, id, tombstoneName))
}

func kekAAD(id string) []byte { return []byte(kekAADPrefix + id) }

// CreateDataset creates dataset id with a new random key-encryption key,
// wrapped by the Store's KeyWrapper and written atomically to its kek file.
// The key is unwrapped once before it is written, so a wrapper that cannot
// unwrap what it wraps (say, a KMS policy that allows encrypting only)
// fails here rather than at the first read. It returns an error wrapping
// ErrExist if the dataset exists and ErrDestroyed if it was destroyed.
func (s *Store) CreateDataset(ctx context.Context, id string) error {
	if err := ValidateID(id); err != nil {
		return fmt.Errorf("create dataset: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("create dataset %q: %w", id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dd := s.datasetDir(id)
	if s.destroyed(id) {
		return fmt.Errorf("create dataset %q: %w", id, ErrDestroyed)
	}
	if exists(filepath.Join(dd, kekName)) {
		return fmt.Errorf("create dataset %q: %w", id, ErrExist)
	}
	kek := make([]byte, 32)
	rand.Read(kek)
	defer clear(kek)
	wrapped, err := s.w.Wrap(ctx, kek, kekAAD(id))
	if err != nil {
		return fmt.Errorf("create dataset %q: wrap key: %w", id, err)
	}
	if len(kekMagic)+len(wrapped) > maxKEKFile {
		return fmt.Errorf("create dataset %q: wrapped key is %d bytes, over the limit of %d", id, len(wrapped), maxKEKFile-len(kekMagic))
	}
	back, err := s.w.Unwrap(ctx, wrapped, kekAAD(id))
	if err != nil {
		return fmt.Errorf("create dataset %q: check wrapped key: %w", id, err)
	}
	same := bytes.Equal(back, kek)
	clear(back)
	if !same {
		return fmt.Errorf("create dataset %q: key wrapper returned another key than it wrapped", id)
	}
	if err := os.MkdirAll(dd, 0o700); err != nil {
		return fmt.Errorf("create dataset %q: %w", id, err)
	}
	atomicfile.SyncDir(s.dir)
	if err := writeFileAtomic(filepath.Join(dd, kekName), append([]byte(kekMagic), wrapped...)); err != nil {
		return fmt.Errorf("create dataset %q: %w", id, err)
	}
	return nil
}

// datasetKEK reads and unwraps the key-encryption key of dataset id.
func (s *Store) datasetKEK(ctx context.Context, id string) ([]byte, error) {
	if s.destroyed(id) {
		return nil, ErrDestroyed
	}
	p := filepath.Join(s.datasetDir(id), kekName)
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		if s.destroyed(id) { // destroyed since the first check
			return nil, ErrDestroyed
		}
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKEKFile+1))
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if len(b) > maxKEKFile || !bytes.HasPrefix(b, []byte(kekMagic)) {
		return nil, fmt.Errorf("%s: not a vault key file: %w", p, ErrCorrupt)
	}
	kek, err := s.w.Unwrap(ctx, b[len(kekMagic):], kekAAD(id))
	if err != nil {
		return nil, fmt.Errorf("dataset key: %w", err)
	}
	if len(kek) != 32 {
		clear(kek)
		return nil, fmt.Errorf("dataset key: unwrapped %d bytes, want 32: %w", len(kek), ErrCorrupt)
	}
	return kek, nil
}

// DestroyDataset deletes dataset id by destroying its key: it marks the
// dataset destroyed, overwrites its kek file with random bytes, syncs and
// removes it, and removes its version files. From then on no version of
// the dataset can be decrypted, even from copies of the version files (see
// the package documentation for what copies of the kek file mean).
// NewVersion and OpenVersion return ErrDestroyed; writers still open fail
// at Commit. Destroying a destroyed dataset does nothing; destroying one
// that never existed returns an error wrapping ErrNotFound.
func (s *Store) DestroyDataset(ctx context.Context, id string) error {
	if err := ValidateID(id); err != nil {
		return fmt.Errorf("destroy dataset: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("destroy dataset %q: %w", id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dd := s.datasetDir(id)
	if !s.destroyed(id) {
		if !exists(filepath.Join(dd, kekName)) {
			return fmt.Errorf("destroy dataset %q: %w", id, ErrNotFound)
		}
		// The mark comes first: if the process stops half-way, the dataset
		// reads as destroyed and Open finishes the job.
		if err := writeFileAtomic(filepath.Join(dd, tombstoneName), []byte("destroyed\n")); err != nil {
			return fmt.Errorf("destroy dataset %q: %w", id, err)
		}
		crashpoint.Hit("vault.tombstoned")
	}
	if err := shred(dd); err != nil {
		return fmt.Errorf("destroy dataset %q: %w", id, err)
	}
	return nil
}

// shred overwrites and removes the kek file in dataset directory dd, then
// removes every file but the tombstone.
func shred(dd string) error {
	kp := filepath.Join(dd, kekName)
	if err := overwrite(kp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Remove(kp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	atomicfile.SyncDir(dd)
	files, err := os.ReadDir(dd)
	if err != nil {
		return err
	}
	for _, f := range files {
		if f.Name() == tombstoneName || f.IsDir() {
			continue
		}
		if err := os.Remove(filepath.Join(dd, f.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	atomicfile.SyncDir(dd)
	return nil
}

// overwrite replaces the content of the file at p with as many random
// bytes and syncs it, in place, so the wrapped key is gone from the file's
// blocks as far as the file system lets us reach them.
func overwrite(p string) error {
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	junk := make([]byte, fi.Size())
	rand.Read(junk)
	if _, err := f.WriteAt(junk, 0); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

func writeFileAtomic(path string, data []byte) error {
	return atomicfile.Write(path, data, 0o600)
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// DeleteVersion deletes one committed version of dataset id: it overwrites
// the version file, whose header holds the version's wrapped data key, with
// random bytes, syncs and removes it. The dataset's other versions and its
// KEK stay. Deleting a version that is not there does nothing.
func (s *Store) DeleteVersion(ctx context.Context, id string, version int) error {
	if err := ValidateID(id); err != nil {
		return fmt.Errorf("delete version: %w", err)
	}
	if err := validateVersion(id, version); err != nil {
		return fmt.Errorf("delete version: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete version %d of dataset %q: %w", version, id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.versionPath(id, version)
	if err := overwrite(p); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("delete version %d of dataset %q: %w", version, id, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete version %d of dataset %q: %w", version, id, err)
	}
	atomicfile.SyncDir(s.datasetDir(id))
	return nil
}

// Destroyed reports whether dataset id was destroyed.
func (s *Store) Destroyed(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.destroyed(id)
}

// HasDataset reports whether dataset id exists and holds its key.
func (s *Store) HasDataset(id string) bool {
	if ValidateID(id) != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.destroyed(id) && exists(filepath.Join(s.datasetDir(id), kekName))
}

// Versions returns the committed version numbers of every dataset that
// exists and was not destroyed, by dataset id, each in no set order. The
// server compares them with its records at start: a version file written
// by a commit whose database transaction never finished is an orphan.
func (s *Store) Versions() (map[string][]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list vault: %w", err)
	}
	out := map[string][]int{}
	for _, e := range ents {
		if !e.IsDir() || ValidateID(e.Name()) != nil || s.destroyed(e.Name()) {
			continue
		}
		files, err := os.ReadDir(s.datasetDir(e.Name()))
		if err != nil {
			return nil, fmt.Errorf("list vault: %w", err)
		}
		for _, f := range files {
			num, ok := strings.CutSuffix(f.Name(), versionSuffix)
			if !ok || !f.Type().IsRegular() || !strings.HasPrefix(num, "v") {
				continue
			}
			if v, err := strconv.Atoi(num[1:]); err == nil && v > 0 && f.Name() == fmt.Sprintf("v%d%s", v, versionSuffix) {
				out[e.Name()] = append(out[e.Name()], v)
			}
		}
	}
	return out, nil
}
