package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
)

var testMaster = [32]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
	17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}

func newStore(t testing.TB) (*Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "datasets")
	s, err := Open(dir, NewLocalWrapper(testMaster))
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

// randomBytes returns n deterministic pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	r.Read(b)
	return b
}

func createDataset(t testing.TB, s *Store, id string) {
	t.Helper()
	if err := s.CreateDataset(context.Background(), id); err != nil {
		t.Fatal(err)
	}
}

func writeVersion(t testing.TB, s *Store, dataset string, version int, data []byte) {
	t.Helper()
	w, err := s.NewVersion(context.Background(), dataset, version)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// Odd-sized writes, so chunk boundaries fall inside writes.
	if _, err := io.CopyBuffer(w, bytes.NewReader(data), make([]byte, 7777)); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

func readVersion(s *Store, dataset string, version int) ([]byte, error) {
	r, err := s.OpenVersion(context.Background(), dataset, version)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// numChunks is the number of chunks a plaintext of n bytes is sealed in.
func numChunks(n int) int {
	if n == 0 {
		return 1
	}
	return (n + ChunkSize - 1) / ChunkSize
}

func TestRoundTrip(t *testing.T) {
	s, dir := newStore(t)
	createDataset(t, s, "bank.products")
	sizes := []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 2 * ChunkSize, 3*ChunkSize + 7, 5<<20 + 3}
	for i, n := range sizes {
		v := i + 1
		data := randomBytes(n, uint64(n))
		writeVersion(t, s, "bank.products", v, data)
		got, err := readVersion(s, "bank.products", v)
		if err != nil {
			t.Fatalf("size %d: %v", n, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("size %d: read %d bytes that differ from the %d written", n, len(got), len(data))
		}
		fi, err := os.Stat(filepath.Join(dir, "bank.products", fmt.Sprintf("v%d.enc", v)))
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(headerSize + n + numChunks(n)*tagSize); fi.Size() != want {
			t.Errorf("size %d: file is %d bytes, want %d", n, fi.Size(), want)
		}
	}
}

// TestReaderBehaviour checks the reader against io.Reader's contract, with
// a source that returns one byte at a time.
func TestReaderBehaviour(t *testing.T) {
	s, _ := newStore(t)
	createDataset(t, s, "a")
	data := randomBytes(2*ChunkSize+5, 1)
	writeVersion(t, s, "a", 1, data)
	r, err := s.OpenVersion(context.Background(), "a", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := iotest.TestReader(r, data); err != nil {
		t.Error(err)
	}

	ct := sealAll(t, []byte("key-0123456789abcdef0123456789ab"), []byte("aad"), data)
	d := newDecryptor(iotest.OneByteReader(bytes.NewReader(ct)), newGCM([]byte("key-0123456789abcdef0123456789ab")), []byte("aad"))
	got, err := io.ReadAll(d)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("decrypt from one-byte reader: %d bytes, %v; want %d bytes", len(got), err, len(data))
	}
}

func sealAll(t testing.TB, key, aad, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	e := newEncryptor(&buf, newGCM(key), aad)
	if _, err := e.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := e.close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestStreamLayout checks the chunk format against AES-GCM computed here
// from the specification in the package documentation.
func TestStreamLayout(t *testing.T) {
	key := randomBytes(32, 7)
	aad := []byte("associated")
	data := randomBytes(2*ChunkSize+10, 8)
	got := sealAll(t, key, aad, data)

	g := newGCM(key)
	var want []byte
	nonces := [][]byte{
		{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0},
		{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1}, // last
	}
	for i, n := range nonces {
		end := min((i+1)*ChunkSize, len(data))
		want = g.Seal(want, n, data[i*ChunkSize:end], aad)
	}
	if !bytes.Equal(got, want) {
		t.Error("encryptor output differs from AES-GCM with STREAM nonces")
	}

	empty := sealAll(t, key, aad, nil)
	lastNonce := []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
	if want := g.Seal(nil, lastNonce, nil, aad); !bytes.Equal(empty, want) {
		t.Error("empty plaintext is not one empty last chunk")
	}

	// A chunk sealed for one dataset and version does not open as another.
	ct := sealAll(t, key, chunkAAD("a", 1), data)
	for _, aad := range [][]byte{chunkAAD("a", 2), chunkAAD("b", 1), chunkAAD("a.", 1)} {
		_, err := io.ReadAll(newDecryptor(bytes.NewReader(ct), newGCM(key), aad))
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("decrypt with associated data %q: %v, want ErrCorrupt", aad, err)
		}
	}
}

func TestIdentityUnambiguous(t *testing.T) {
	pairs := [][2]struct {
		d string
		v int
	}{
		{{"a", 1}, {"a", 2}},
		{{"ab", 1}, {"a", 1}},
		{{"a", 256}, {"a", 1}},
	}
	for _, p := range pairs {
		if bytes.Equal(identity(p[0].d, p[0].v), identity(p[1].d, p[1].v)) {
			t.Errorf("identity(%q, %d) = identity(%q, %d)", p[0].d, p[0].v, p[1].d, p[1].v)
		}
	}
}

// TestTamper checks that every modification of a version file is detected
// and that what is read before the error is a prefix of the plaintext.
func TestTamper(t *testing.T) {
	s, dir := newStore(t)
	createDataset(t, s, "a")
	createDataset(t, s, "b")
	const n = 3*ChunkSize + 1000 // chunks 0–2 full, chunk 3 short
	data := randomBytes(n, 1)
	writeVersion(t, s, "a", 1, data)
	writeVersion(t, s, "a", 2, randomBytes(n, 2))
	writeVersion(t, s, "b", 1, data)
	path := func(ds string, v int) string { return filepath.Join(dir, ds, fmt.Sprintf("v%d.enc", v)) }
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	orig, otherVersion, otherDataset := read(path("a", 1)), read(path("a", 2)), read(path("b", 1))
	if len(orig) != headerSize+n+4*tagSize {
		t.Fatalf("file is %d bytes", len(orig))
	}
	chunk := func(b []byte, i int) []byte {
		start := headerSize + i*encChunkSize
		return b[start:min(start+encChunkSize, len(b))]
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	flip := func(off int) []byte {
		b := bytes.Clone(orig)
		b[off] ^= 0x01
		return b
	}
	allChunks := func(b []byte, order ...int) []byte {
		out := bytes.Clone(b[:headerSize])
		for _, i := range order {
			out = append(out, chunk(b, i)...)
		}
		return out
	}

	type tc struct {
		name string
		file []byte
	}
	cases := []tc{
		{"empty file", nil},
		{"header only", orig[:headerSize]},
		{"half header", orig[:headerSize/2]},
		{"header minus one byte", orig[:headerSize-1]},
		{"last byte missing", orig[:len(orig)-1]},
		{"tag of last chunk only", orig[:headerSize+3*encChunkSize+tagSize]},
		{"one byte appended", append(bytes.Clone(orig), 0)},
		{"last chunk appended again", cat(orig, chunk(orig, 3))},
		{"flip magic", flip(0)},
		{"flip chunk size", flip(10)},
		{"flip data key nonce", flip(headerPrefix)},
		{"flip wrapped data key", flip(headerPrefix + nonceSize + 3)},
		{"flip data key tag", flip(headerSize - 1)},
		{"swap chunks 0 and 1", allChunks(orig, 1, 0, 2, 3)},
		{"swap chunks 1 and 2", allChunks(orig, 0, 2, 1, 3)},
		{"drop chunk 1", allChunks(orig, 0, 2, 3)},
		{"duplicate chunk 0", allChunks(orig, 0, 0, 1, 2, 3)},
		{"drop last chunk", allChunks(orig, 0, 1, 2)},
		{"chunk 1 spliced from version 2", cat(orig[:headerSize], chunk(orig, 0), chunk(otherVersion, 1), chunk(orig, 2), chunk(orig, 3))},
		{"last chunk spliced from version 2", cat(orig[:headerSize], chunk(orig, 0), chunk(orig, 1), chunk(orig, 2), chunk(otherVersion, 3))},
		{"header of version 2", cat(otherVersion[:headerSize], orig[headerSize:])},
		{"version 2 as version 1", otherVersion},
		{"dataset b's version 1 as dataset a's", otherDataset},
		{"header of dataset b", cat(otherDataset[:headerSize], orig[headerSize:])},
	}
	// Truncation at every chunk boundary and in the middle of every chunk.
	for i := 0; i <= 3; i++ {
		at := headerSize + i*encChunkSize
		cases = append(cases, tc{fmt.Sprintf("truncated before chunk %d", i), orig[:at]})
		if i < 3 {
			cases = append(cases, tc{fmt.Sprintf("truncated in chunk %d", i), orig[:at+encChunkSize/2]})
		} else {
			cases = append(cases, tc{"truncated in last chunk", orig[:at+500]})
		}
	}
	// A flipped byte at the start, middle and end of every chunk.
	for i := 0; i <= 3; i++ {
		c := headerSize + i*encChunkSize
		size := len(chunk(orig, i))
		for _, off := range []int{0, size / 2, size - tagSize - 1, size - 1} {
			cases = append(cases, tc{fmt.Sprintf("flip chunk %d byte %d", i, off), flip(c + off)})
		}
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(path("a", 1), c.file, 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := readVersion(s, "a", 1)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("read = %d bytes, %v; want ErrCorrupt", len(got), err)
			}
			if !bytes.HasPrefix(data, got) || len(got) >= len(data) {
				t.Errorf("read %d bytes before the error that are not a proper prefix of the plaintext", len(got))
			}
		})
	}
	if err := os.WriteFile(path("a", 1), orig, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := readVersion(s, "a", 1); err != nil || !bytes.Equal(got, data) {
		t.Errorf("restored original: %d bytes, %v", len(got), err)
	}
}

func TestNoPlaintextOnDisk(t *testing.T) {
	s, dir := newStore(t)
	createDataset(t, s, "operator.subscribers")
	marker := []byte("+79123456789,ivan.petrov@example.com;")
	data := bytes.Repeat(marker, 3*ChunkSize/len(marker))
	w, err := s.NewVersion(context.Background(), "operator.subscribers", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	scan := func(when string) {
		t.Helper()
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, _ := os.ReadFile(p)
			if bytes.Contains(b, marker[:12]) {
				t.Errorf("%s: %s contains plaintext", when, p)
			}
			return nil
		})
	}
	scan("while writing")
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	scan("after commit")
}

func TestFileModes(t *testing.T) {
	s, dir := newStore(t)
	createDataset(t, s, "a")
	w, err := s.NewVersion(context.Background(), "a", 1)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("x"))
	tmps, _ := filepath.Glob(filepath.Join(dir, "a", "*.tmp"))
	if len(tmps) != 1 {
		t.Fatalf("temporary files while writing: %q, want one", tmps)
	}
	check := func(p string, want fs.FileMode) {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", p, got, want)
		}
	}
	check(tmps[0], 0o600)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	check(dir, 0o700)
	check(filepath.Join(dir, "a"), 0o700)
	check(filepath.Join(dir, "a", "kek"), 0o600)
	check(filepath.Join(dir, "a", "v1.enc"), 0o600)
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	createDataset(t, s, "a")
	writeVersion(t, s, "a", 1, []byte("hello"))
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	openErr := func(ds string, v int) error { _, err := s.OpenVersion(ctx, ds, v); return err }
	newErr := func(ds string, v int) error { _, err := s.NewVersion(ctx, ds, v); return err }
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"create existing", s.CreateDataset(ctx, "a"), ErrExist},
		{"create invalid", s.CreateDataset(ctx, "A"), ErrInvalid},
		{"create traversal", s.CreateDataset(ctx, ".."), ErrInvalid},
		{"create cancelled", s.CreateDataset(cancelled, "c"), context.Canceled},
		{"new version of missing dataset", newErr("missing", 1), ErrNotFound},
		{"new version 0", newErr("a", 0), ErrInvalid},
		{"new version -1", newErr("a", -1), ErrInvalid},
		{"new committed version", newErr("a", 1), ErrExist},
		{"new version invalid id", newErr("a/b", 1), ErrInvalid},
		{"open missing version", openErr("a", 2), ErrNotFound},
		{"open missing dataset", openErr("missing", 1), ErrNotFound},
		{"open invalid id", openErr("../a", 1), ErrInvalid},
		{"open version 0", openErr("a", 0), ErrInvalid},
		{"destroy missing", s.DestroyDataset(ctx, "missing"), ErrNotFound},
		{"destroy invalid", s.DestroyDataset(ctx, ""), ErrInvalid},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, tt.err, tt.want)
		}
	}
	if _, err := os.Stat(filepath.Join(s.dir, "c")); err == nil {
		t.Error("cancelled CreateDataset created a directory")
	}
}

func TestValidateID(t *testing.T) {
	long := strings.Repeat("a", 128)
	for _, id := range []string{"a", "0", "bank.products", "operator_subscribers-2024", "a.b.c", long} {
		if err := ValidateID(id); err != nil {
			t.Errorf("ValidateID(%q) = %v, want nil", id, err)
		}
	}
	for _, id := range []string{"", ".", "..", "a..b", "a/b", "a\\b", "../a", ".hidden", "-a", "_a", "A", "bank Products",
		"a\x00", "é", long + "a", "a/../b"} {
		if err := ValidateID(id); !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateID(%q) = %v, want ErrInvalid", id, err)
		}
	}
}

func TestWrongMasterKey(t *testing.T) {
	s, dir := newStore(t)
	createDataset(t, s, "a")
	createDataset(t, s, "b")
	writeVersion(t, s, "a", 1, []byte("hello"))

	other := testMaster
	other[0] ^= 1
	s2, err := Open(dir, NewLocalWrapper(other))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.OpenVersion(context.Background(), "a", 1); !errors.Is(err, ErrWrongKey) {
		t.Errorf("OpenVersion with another master key: %v, want ErrWrongKey", err)
	}
	if _, err := s2.NewVersion(context.Background(), "a", 2); !errors.Is(err, ErrWrongKey) {
		t.Errorf("NewVersion with another master key: %v, want ErrWrongKey", err)
	}

	// A kek file moved to another dataset does not unwrap there.
	kek, err := os.ReadFile(filepath.Join(dir, "a", "kek"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b", "kek"), kek, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NewVersion(context.Background(), "b", 1); !errors.Is(err, ErrCorrupt) {
		t.Errorf("NewVersion with dataset a's key in dataset b: %v, want ErrCorrupt", err)
	}
	for name, content := range map[string][]byte{
		"garbage":   []byte("not a key"),
		"truncated": kek[:len(kek)-1],
		"empty":     nil,
	} {
		if err := os.WriteFile(filepath.Join(dir, "a", "kek"), content, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := s.OpenVersion(context.Background(), "a", 1); !errors.Is(err, ErrCorrupt) {
			t.Errorf("OpenVersion with %s kek file: %v, want ErrCorrupt", name, err)
		}
	}
}

func TestLocalWrapper(t *testing.T) {
	ctx := context.Background()
	w := NewLocalWrapper(testMaster)
	key := randomBytes(32, 3)
	aad := []byte("cleanroom/vault/v1/dataset-kek/a")
	c1, _ := w.Wrap(ctx, key, aad)
	c2, _ := w.Wrap(ctx, key, aad)
	if bytes.Equal(c1, c2) {
		t.Error("two wraps of one key are equal; the nonce must be random")
	}
	if got, err := w.Unwrap(ctx, c1, aad); err != nil || !bytes.Equal(got, key) {
		t.Errorf("Unwrap = %x, %v; want %x", got, err, key)
	}
	other := testMaster
	other[31] ^= 0x80
	flipped := bytes.Clone(c1)
	flipped[len(flipped)-1] ^= 1
	for _, tt := range []struct {
		name    string
		w       *LocalWrapper
		wrapped []byte
		aad     []byte
		want    error
	}{
		{"other aad", w, c1, []byte("cleanroom/vault/v1/dataset-kek/b"), ErrCorrupt},
		{"no aad", w, c1, nil, ErrCorrupt},
		{"flipped tag", w, flipped, aad, ErrCorrupt},
		{"truncated", w, c1[:20], aad, ErrCorrupt},
		{"unknown format", w, append([]byte{2}, c1[1:]...), aad, ErrCorrupt},
		{"other master key", NewLocalWrapper(other), c1, aad, ErrWrongKey},
	} {
		if _, err := tt.w.Unwrap(ctx, tt.wrapped, tt.aad); !errors.Is(err, tt.want) {
			t.Errorf("Unwrap with %s: %v, want %v", tt.name, err, tt.want)
		}
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%x", "%s"} {
		if got := fmt.Sprintf(verb, w); got != w.String() {
			t.Errorf("Sprintf(%q, w) = %q, want %q", verb, got, w.String())
		}
	}
}

// forgetfulWrapper wraps but cannot unwrap, like a KMS key whose policy
// allows only encryption.
type forgetfulWrapper struct{ KeyWrapper }

func (forgetfulWrapper) Unwrap(context.Context, []byte, []byte) ([]byte, error) {
	return nil, errors.New("access denied")
}

func TestCreateChecksUnwrap(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, forgetfulWrapper{NewLocalWrapper(testMaster)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateDataset(context.Background(), "a"); err == nil || !strings.Contains(err.Error(), "access denied") {
		t.Errorf("CreateDataset with a wrapper that cannot unwrap: %v, want access denied", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a", "kek")); err == nil {
		t.Error("kek file written although it cannot be unwrapped")
	}
}

func TestWriterLifecycle(t *testing.T) {
	ctx := context.Background()
	s, dir := newStore(t)
	createDataset(t, s, "a")
	tmps := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, "a", "*.tmp"))
		return m
	}

	w, _ := s.NewVersion(ctx, "a", 1)
	w.Write(randomBytes(ChunkSize+1, 1))
	if err := w.Close(); !errors.Is(err, ErrNotCommitted) {
		t.Errorf("Close without Commit = %v, want ErrNotCommitted", err)
	}
	if m := tmps(); len(m) != 0 {
		t.Errorf("temporary files after Close: %q", m)
	}
	if _, err := s.OpenVersion(ctx, "a", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("OpenVersion after Close without Commit = %v, want ErrNotFound", err)
	}

	w, _ = s.NewVersion(ctx, "a", 1)
	w.Write([]byte("x"))
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if m := tmps(); len(m) != 0 {
		t.Errorf("temporary files after Abort: %q", m)
	}
	if err := w.Commit(); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Commit after Abort = %v, want fs.ErrClosed", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("Close after Abort = %v", err)
	}

	w, _ = s.NewVersion(ctx, "a", 1)
	w.Write([]byte("x"))
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("y")); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Write after Commit = %v, want fs.ErrClosed", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("Close after Commit = %v", err)
	}
	if err := w.Abort(); err != nil {
		t.Errorf("Abort after Commit = %v", err)
	}
	if got, err := readVersion(s, "a", 1); err != nil || string(got) != "x" {
		t.Errorf("read = %q, %v; want \"x\"", got, err)
	}

	// Two writers of one version: the first Commit wins.
	w1, _ := s.NewVersion(ctx, "a", 2)
	w2, _ := s.NewVersion(ctx, "a", 2)
	w1.Write([]byte("one"))
	w2.Write([]byte("two"))
	if err := w1.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := w2.Commit(); !errors.Is(err, ErrExist) {
		t.Errorf("second Commit of a version = %v, want ErrExist", err)
	}
	if got, err := readVersion(s, "a", 2); err != nil || string(got) != "one" {
		t.Errorf("read = %q, %v; want \"one\"", got, err)
	}
	if m := tmps(); len(m) != 0 {
		t.Errorf("temporary files left: %q", m)
	}
}

// TestCrash simulates a process that stops while writing: the file is
// closed but neither committed nor removed.
func TestCrash(t *testing.T) {
	ctx := context.Background()
	s, dir := newStore(t)
	createDataset(t, s, "a")
	w, err := s.NewVersion(ctx, "a", 1)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(randomBytes(3*ChunkSize, 1))
	w.f.Close() // the crash
	// Leftovers of an interrupted key-file write, too.
	os.WriteFile(filepath.Join(dir, "a", "kek.123.tmp"), []byte("junk"), 0o600)

	if _, err := s.OpenVersion(ctx, "a", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("OpenVersion of an uncommitted version = %v, want ErrNotFound", err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "a", "*.tmp")); len(m) != 2 {
		t.Fatalf("temporary files before Open: %q, want 2", m)
	}
	s, err = Open(dir, NewLocalWrapper(testMaster))
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "a", "*.tmp")); len(m) != 0 {
		t.Errorf("temporary files after Open: %q", m)
	}
	writeVersion(t, s, "a", 1, []byte("again"))
	if got, err := readVersion(s, "a", 1); err != nil || string(got) != "again" {
		t.Errorf("read = %q, %v", got, err)
	}
}

// TestCrashDuringDestroy: a process that stopped after marking a dataset
// destroyed leaves the key file; Open finishes the job.
func TestCrashDuringDestroy(t *testing.T) {
	s, dir := newStore(t)
	createDataset(t, s, "a")
	writeVersion(t, s, "a", 1, []byte("hello"))
	if err := os.WriteFile(filepath.Join(dir, "a", tombstoneName), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, NewLocalWrapper(testMaster)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"kek", "v1.enc"} {
		if _, err := os.Stat(filepath.Join(dir, "a", name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s after Open: %v, want it removed", name, err)
		}
	}
	if _, err := readVersion(s, "a", 1); !errors.Is(err, ErrDestroyed) {
		t.Errorf("read = %v, want ErrDestroyed", err)
	}
}

func TestDestroy(t *testing.T) {
	ctx := context.Background()
	s, dir := newStore(t)
	createDataset(t, s, "a")
	createDataset(t, s, "keep")
	v1, v2 := randomBytes(ChunkSize+10, 1), randomBytes(100, 2)
	writeVersion(t, s, "a", 1, v1)
	writeVersion(t, s, "a", 2, v2)
	writeVersion(t, s, "keep", 1, v1)

	// Keep copies of the ciphertext, as a backup or an attacker might.
	saved := map[string][]byte{}
	for _, name := range []string{"v1.enc", "v2.enc"} {
		b, err := os.ReadFile(filepath.Join(dir, "a", name))
		if err != nil {
			t.Fatal(err)
		}
		saved[name] = b
	}
	// A hard link shows whether the key file's content was overwritten
	// before it was removed.
	kekPath := filepath.Join(dir, "a", "kek")
	kekBefore, _ := os.ReadFile(kekPath)
	link := filepath.Join(t.TempDir(), "kek-link")
	linked := os.Link(kekPath, link) == nil

	w, err := s.NewVersion(ctx, "a", 3)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("in flight"))

	if err := s.DestroyDataset(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); !errors.Is(err, ErrDestroyed) {
		t.Errorf("Commit of a writer opened before DestroyDataset = %v, want ErrDestroyed", err)
	}
	left, _ := os.ReadDir(filepath.Join(dir, "a"))
	for _, e := range left {
		if e.Name() != tombstoneName {
			t.Errorf("%s left after DestroyDataset", e.Name())
		}
	}
	if linked {
		after, _ := os.ReadFile(link)
		if len(after) != len(kekBefore) || bytes.Equal(after, kekBefore) {
			t.Error("kek file was removed without being overwritten")
		}
	}

	for name, b := range saved {
		if err := os.WriteFile(filepath.Join(dir, "a", name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	check := func(s *Store) {
		t.Helper()
		for v := 1; v <= 3; v++ {
			if got, err := readVersion(s, "a", v); !errors.Is(err, ErrDestroyed) {
				t.Errorf("read restored version %d = %d bytes, %v; want ErrDestroyed", v, len(got), err)
			}
		}
		if _, err := s.NewVersion(ctx, "a", 4); !errors.Is(err, ErrDestroyed) {
			t.Errorf("NewVersion = %v, want ErrDestroyed", err)
		}
		if err := s.CreateDataset(ctx, "a"); !errors.Is(err, ErrDestroyed) {
			t.Errorf("CreateDataset = %v, want ErrDestroyed", err)
		}
		if got, err := readVersion(s, "keep", 1); err != nil || !bytes.Equal(got, v1) {
			t.Errorf("another dataset after DestroyDataset: %d bytes, %v", len(got), err)
		}
	}
	check(s)
	if err := s.DestroyDataset(ctx, "a"); err != nil {
		t.Errorf("second DestroyDataset = %v, want nil", err)
	}
	for name, b := range saved { // Open after a restore removes the copies again.
		os.WriteFile(filepath.Join(dir, "a", name), b, 0o600)
	}
	s2, err := Open(dir, NewLocalWrapper(testMaster))
	if err != nil {
		t.Fatal(err)
	}
	check(s2)

	// The refusal is not just the mark: with the mark removed and the id
	// created again, the old ciphertext still cannot be decrypted, because
	// its key is gone.
	if err := os.Remove(filepath.Join(dir, "a", tombstoneName)); err != nil {
		t.Fatal(err)
	}
	createDataset(t, s2, "a")
	for name, b := range saved {
		os.WriteFile(filepath.Join(dir, "a", name), b, 0o600)
	}
	for v := 1; v <= 2; v++ {
		if got, err := readVersion(s2, "a", v); !errors.Is(err, ErrCorrupt) || len(got) != 0 {
			t.Errorf("read restored version %d under a new key = %d bytes, %v; want ErrCorrupt", v, len(got), err)
		}
	}
}

func TestConcurrent(t *testing.T) {
	s, _ := newStore(t)
	createDataset(t, s, "a")
	const versions = 4
	want := make([][]byte, versions+1)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for v := 1; v <= versions; v++ {
		want[v] = randomBytes(3*ChunkSize+v, uint64(v))
		wg.Go(func() {
			w, err := s.NewVersion(context.Background(), "a", v)
			if err != nil {
				errs <- err
				return
			}
			defer w.Close()
			if _, err := w.Write(want[v]); err != nil {
				errs <- err
				return
			}
			if err := w.Commit(); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	for i := range 16 {
		wg.Go(func() {
			for j := range 3 {
				v := (i+j)%versions + 1
				got, err := readVersion(s, "a", v)
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, want[v]) {
					errs <- fmt.Errorf("reader %d: version %d differs", i, v)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func FuzzOpenVersion(f *testing.F) {
	s, dir := newStore(f)
	createDataset(f, s, "a")
	data := randomBytes(ChunkSize+100, 1)
	writeVersion(f, s, "a", 1, data)
	p := filepath.Join(dir, "a", "v1.enc")
	orig, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(orig)
	f.Add(orig[:headerSize])
	f.Add(orig[:headerSize+encChunkSize])
	f.Add([]byte(versionMagic))
	f.Fuzz(func(t *testing.T, file []byte) {
		if err := os.WriteFile(p, file, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := readVersion(s, "a", 1)
		if err == nil && !bytes.Equal(got, data) {
			t.Fatalf("read %d bytes without error that are not the plaintext", len(got))
		}
		if err != nil && !bytes.HasPrefix(data, got) {
			t.Fatalf("read %d bytes before the error that are not a prefix of the plaintext", len(got))
		}
		if err == nil && !bytes.Equal(file, orig) {
			t.Fatal("a modified file decrypted")
		}
	})
}
