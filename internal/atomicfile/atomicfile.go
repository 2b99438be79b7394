// Package atomicfile writes files so that a crash leaves either the old
// content or the new, never a part: the data goes to a temporary file in
// the same directory, given its final mode before anything is written,
// synced, renamed over the target, and the directory is synced.
//
// Temporary files are named "<name>.<random>.tmp"; a program that owns a
// directory may remove "*.tmp" files it finds there at start.
package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
)

// TmpSuffix ends the name of every temporary file Write creates.
const TmpSuffix = ".tmp"

// Write writes data to path with mode perm. Errors are *fs.PathError
// naming path.
func Write(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	wrap := func(op string, err error) error {
		if pe, ok := err.(*fs.PathError); ok {
			err = pe.Err
		}
		if le, ok := err.(*os.LinkError); ok {
			err = le.Err
		}
		return &fs.PathError{Op: op, Path: path, Err: err}
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".*"+TmpSuffix)
	if err != nil {
		return wrap("create", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return wrap("chmod", err)
	}
	if _, err := f.Write(data); err != nil {
		return wrap("write", err)
	}
	if err := f.Sync(); err != nil {
		return wrap("sync", err)
	}
	if err := f.Close(); err != nil {
		return wrap("close", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return wrap("rename", err)
	}
	SyncDir(dir)
	return nil
}

// SyncDir makes renames and removals in dir durable. It is best effort:
// some systems cannot sync a directory, and the files themselves are
// synced.
func SyncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}
