package keyfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := writeFileAtomic(path, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(path, []byte("two"), 0o640); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "two" {
		t.Errorf("ReadFile = %q, %v, want %q", b, err, "two")
	}
	if runtime.GOOS != "windows" {
		fi, _ := os.Stat(path)
		if fi.Mode().Perm() != 0o640 {
			t.Errorf("mode = %v, want 0640", fi.Mode().Perm())
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("dir has %d entries, want 1 (no temporary files left)", len(entries))
	}

	missing := filepath.Join(dir, "no", "such", "dir", "f")
	err = writeFileAtomic(missing, []byte("x"), 0o600)
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), missing+": ") {
		t.Errorf("writeFileAtomic into a missing dir: err = %v, want fs.ErrNotExist naming %s", err, missing)
	}
}

func TestReadPEMNotRegular(t *testing.T) {
	dir := t.TempDir()
	_, err := readPEM(dir, "PRIVATE KEY", true)
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("readPEM(dir) = %v, want a not-a-regular-file error", err)
	}
}

func TestReadPEMTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(path, make([]byte, maxKeyFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := readPEM(path, "PRIVATE KEY", true)
	if err == nil || !strings.Contains(err.Error(), "not a key file") {
		t.Errorf("readPEM(large file) = %v, want a not-a-key-file error", err)
	}
}
