package keyfile

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/cleanroom-dev/cleanroom/internal/atomicfile"
)

// ErrExist is returned, wrapped in an error naming the file, by CreateParty
// and CreateServer when a key file is already there. Keys are never
// overwritten: losing a party's blinding key or a server's key-encryption
// key loses every room or dataset that depends on it.
var ErrExist = errors.New("key file already exists")

// ErrMode is returned, wrapped in an error naming the file, by LoadParty and
// LoadServer when a private key file's mode gives group or others any
// access. The fix is `chmod 600 FILE`.
var ErrMode = errors.New("insecure file mode")

// maxKeyFile bounds what is read from a key file; real ones are a few
// hundred bytes.
const maxKeyFile = 64 << 10

// keyFile is one file to be written by createFiles.
type keyFile struct {
	name string // base name inside the directory
	data []byte
	perm os.FileMode
}

// createFiles creates dir (mode 0700, if missing) and writes files into it.
// It refuses, before writing anything, if any of the files exists, and
// removes what it wrote if a later file fails, so a failed run can simply
// be repeated.
func createFiles(dir string, files []keyFile) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return pathErr(dir, err)
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s: %w", p, ErrExist)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return pathErr(p, err)
		}
	}
	var written []string
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := writeFileAtomic(p, f.data, f.perm); err != nil {
			for _, w := range written {
				os.Remove(w)
			}
			return err
		}
		written = append(written, p)
	}
	return nil
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	if err := atomicfile.Write(path, data, perm); err != nil {
		return pathErr(path, err)
	}
	return nil
}

// checkPrivateMode returns an error wrapping ErrMode if info, the stat of
// the private key file at path, gives group or others any access. Windows
// has no such mode bits; there the directory's ACL protects the file.
func checkPrivateMode(path string, info fs.FileInfo) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return &modeError{path: path, perm: perm}
	}
	return nil
}

// modeError reports a private key file that others may access. It wraps
// ErrMode without adding the sentinel's text to the message.
type modeError struct {
	path string
	perm fs.FileMode
}

func (e *modeError) Error() string {
	what := "access"
	if e.perm&0o044 != 0 {
		what = "read"
	}
	return fmt.Sprintf("%s: mode %04o allows others to %s it; run `chmod 600 %s`", e.path, e.perm, what, e.path)
}

func (e *modeError) Unwrap() error { return ErrMode }

// readPEM reads the single PEM block of type typ from path. For a private
// key file it first checks that the file's mode keeps it private.
func readPEM(path, typ string, private bool) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, pathErr(path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, pathErr(path, err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if private {
		if err := checkPrivateMode(path, info); err != nil {
			return nil, err
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, pathErr(path, err)
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("%s: larger than %d bytes, not a key file", path, maxKeyFile)
	}
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block found, want %q", path, typ)
	}
	if block.Type != typ {
		return nil, fmt.Errorf("%s: PEM block is %q, want %q", path, block.Type, typ)
	}
	if len(block.Headers) != 0 {
		return nil, fmt.Errorf("%s: PEM block has headers; encrypted key files are not supported", path)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%s: unexpected data after the PEM block", path)
	}
	return block.Bytes, nil
}

// encodePEM armours b as a PEM block of type typ.
func encodePEM(typ string, b []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b})
}

// pathErr reports err, an error from an operation on path (or on a
// temporary file for it), as "path: reason", keeping the reason wrapped so
// that errors.Is(err, fs.ErrNotExist) and the like still work.
func pathErr(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		err = le.Err
	}
	return fmt.Errorf("%s: %w", path, err)
}
