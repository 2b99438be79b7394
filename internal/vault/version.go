package vault

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cleanroom-dev/cleanroom/internal/atomicfile"
)

// ErrNotCommitted is returned by VersionWriter.Close when the version was
// neither committed nor aborted: Close discarded it.
var ErrNotCommitted = errors.New("version closed without Commit; discarded")

// Version file header; see the package documentation.
const (
	versionMagic   = "CRVDATA1"
	headerPrefix   = 12 // magic and chunk size
	wrappedKeySize = nonceSize + 32 + tagSize
	headerSize     = headerPrefix + wrappedKeySize
	dataKeyLabel   = "cleanroom/vault/v1/data-key\x00"
	chunkLabel     = "cleanroom/vault/v1/chunk\x00"
)

// identity encodes a dataset id and version for associated data: the id's
// length in one byte, the id, and the version as a big-endian uint64.
func identity(dataset string, version int) []byte {
	b := make([]byte, 0, 1+len(dataset)+8)
	b = append(b, byte(len(dataset)))
	b = append(b, dataset...)
	return binary.BigEndian.AppendUint64(b, uint64(version))
}

func dataKeyAAD(prefix []byte, dataset string, version int) []byte {
	b := append([]byte(dataKeyLabel), prefix...)
	return append(b, identity(dataset, version)...)
}

func chunkAAD(dataset string, version int) []byte {
	return append([]byte(chunkLabel), identity(dataset, version)...)
}

// VersionWriter encrypts one version of a dataset as it is written. The
// version becomes visible only when Commit succeeds. It is not safe for
// concurrent use.
type VersionWriter struct {
	s       *Store
	dataset string
	version int
	name    string // the final path
	f       *os.File
	enc     *encryptor
	done    bool // committed or aborted
}

// NewVersion starts writing version (1 or more) of dataset under a new
// random data key. Write the plaintext, then call Commit; Abort or Close
// discard it. Plaintext is only ever held in memory, a chunk at a time. It
// returns an error wrapping ErrNotFound or ErrDestroyed for a dataset that
// is missing or destroyed, ErrExist for a committed version, and
// ErrWrongKey or ErrCorrupt when the dataset key does not unwrap.
func (s *Store) NewVersion(ctx context.Context, dataset string, version int) (*VersionWriter, error) {
	if err := validateVersion(dataset, version); err != nil {
		return nil, fmt.Errorf("new version: %w", err)
	}
	op := fmt.Sprintf("new version %d of dataset %q", version, dataset)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	kek, err := s.datasetKEK(ctx, dataset)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer clear(kek)
	name := s.versionPath(dataset, version)
	if exists(name) {
		return nil, fmt.Errorf("%s: %w", op, ErrExist)
	}

	dataKey := make([]byte, 32)
	rand.Read(dataKey)
	defer clear(dataKey)
	hdr := make([]byte, headerPrefix, headerSize)
	copy(hdr, versionMagic)
	binary.BigEndian.PutUint32(hdr[len(versionMagic):], ChunkSize)
	hdr = newRandomNonceGCM(kek).Seal(hdr, nil, dataKey, dataKeyAAD(hdr[:headerPrefix], dataset, version))

	f, err := os.CreateTemp(filepath.Dir(name), filepath.Base(name)+".*"+tmpSuffix) // mode 0600
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if _, err := f.Write(hdr); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return &VersionWriter{
		s:       s,
		dataset: dataset,
		version: version,
		name:    name,
		f:       f,
		enc:     newEncryptor(f, newGCM(dataKey), chunkAAD(dataset, version)),
	}, nil
}

func (w *VersionWriter) op() string {
	return fmt.Sprintf("write version %d of dataset %q", w.version, w.dataset)
}

// Write encrypts p. Full chunks are written to the temporary file as they
// fill; the rest waits in memory for more data or Commit.
func (w *VersionWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("%s: %w", w.op(), fs.ErrClosed)
	}
	n, err := w.enc.Write(p)
	if err != nil {
		return n, fmt.Errorf("%s: %w", w.op(), err)
	}
	return n, nil
}

// Commit seals the last chunk, syncs the file and renames it into place,
// so the version appears whole or not at all. If Commit fails, the version
// is discarded. It returns an error wrapping ErrExist if the version was
// committed meanwhile and ErrDestroyed if the dataset was destroyed.
func (w *VersionWriter) Commit() error {
	if w.done {
		return fmt.Errorf("%s: commit: %w", w.op(), fs.ErrClosed)
	}
	w.done = true
	err := w.commit()
	if err != nil {
		w.f.Close()
		os.Remove(w.f.Name())
		return fmt.Errorf("%s: commit: %w", w.op(), err)
	}
	return nil
}

func (w *VersionWriter) commit() error {
	if err := w.enc.close(); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return err
	}
	if err := w.f.Close(); err != nil {
		return err
	}
	s := w.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed(w.dataset) || !exists(filepath.Join(s.datasetDir(w.dataset), kekName)) {
		return ErrDestroyed
	}
	if exists(w.name) {
		return ErrExist
	}
	if err := os.Rename(w.f.Name(), w.name); err != nil {
		return err
	}
	atomicfile.SyncDir(filepath.Dir(w.name))
	return nil
}

// Abort discards the version and removes its temporary file. It does
// nothing after Commit or Abort.
func (w *VersionWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.enc.wipe()
	w.f.Close()
	if err := os.Remove(w.f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: abort: %w", w.op(), err)
	}
	return nil
}

// Close makes VersionWriter an io.WriteCloser that is safe to defer: after
// Commit or Abort it does nothing and returns nil; otherwise it discards
// the version like Abort and returns ErrNotCommitted, so code that expects
// Close to finish a write learns that nothing was kept.
func (w *VersionWriter) Close() error {
	if w.done {
		return nil
	}
	if err := w.Abort(); err != nil {
		return err
	}
	return fmt.Errorf("%s: %w", w.op(), ErrNotCommitted)
}

// OpenVersion returns a reader of the plaintext of a committed version,
// decrypted and authenticated a chunk at a time as it is read. The reader
// returns io.EOF only after the last chunk was verified; on truncation,
// reordering, tampering or a file written for another dataset or version
// it returns an error wrapping ErrCorrupt and never the plaintext of a
// chunk that failed. OpenVersion itself returns an error wrapping
// ErrNotFound for a missing dataset or version, ErrDestroyed for a
// destroyed dataset, ErrWrongKey when the Store's master key is not the
// one the dataset was created under, and ErrCorrupt when the header does
// not authenticate. The reader is not safe for concurrent use; open one
// per goroutine.
func (s *Store) OpenVersion(ctx context.Context, dataset string, version int) (io.ReadCloser, error) {
	if err := validateVersion(dataset, version); err != nil {
		return nil, fmt.Errorf("open version: %w", err)
	}
	op := fmt.Sprintf("open version %d of dataset %q", version, dataset)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	kek, err := s.datasetKEK(ctx, dataset)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer clear(kek)
	f, err := os.Open(s.versionPath(dataset, version))
	if errors.Is(err, fs.ErrNotExist) {
		if s.destroyed(dataset) {
			return nil, fmt.Errorf("%s: %w", op, ErrDestroyed)
		}
		return nil, fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	dataKey, err := readHeader(f, kek, dataset, version)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer clear(dataKey)
	return &versionReader{
		f:   f,
		dec: newDecryptor(f, newGCM(dataKey), chunkAAD(dataset, version)),
		op:  fmt.Sprintf("read version %d of dataset %q", version, dataset),
	}, nil
}

// readHeader reads a version file's header from r and returns its data
// key, unwrapped with kek and authenticated as dataset and version.
func readHeader(r io.Reader, kek []byte, dataset string, version int) ([]byte, error) {
	hdr := make([]byte, headerSize)
	if _, err := io.ReadFull(r, hdr); errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("header: truncated: %w", ErrCorrupt)
	} else if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if string(hdr[:len(versionMagic)]) != versionMagic {
		return nil, fmt.Errorf("header: not a vault version file: %w", ErrCorrupt)
	}
	if cs := binary.BigEndian.Uint32(hdr[len(versionMagic):]); cs != ChunkSize {
		return nil, fmt.Errorf("header: chunk size %d, want %d: %w", cs, ChunkSize, ErrCorrupt)
	}
	dataKey, err := newRandomNonceGCM(kek).Open(nil, nil, hdr[headerPrefix:], dataKeyAAD(hdr[:headerPrefix], dataset, version))
	if err != nil {
		return nil, fmt.Errorf("header: data key does not authenticate (file written for another dataset or version, or modified): %w", ErrCorrupt)
	}
	return dataKey, nil
}

// versionReader is what OpenVersion returns.
type versionReader struct {
	f      *os.File
	dec    *decryptor
	op     string
	closed bool
}

func (r *versionReader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, fmt.Errorf("%s: %w", r.op, fs.ErrClosed)
	}
	n, err := r.dec.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%s: %w", r.op, err)
	}
	return n, err
}

// Close closes the file and clears the buffered plaintext.
func (r *versionReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.dec.wipe()
	return r.f.Close()
}
