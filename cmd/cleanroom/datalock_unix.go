//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockFile is the file in a data directory that the server, and commands
// that must not run beside it, hold an exclusive lock on.
const lockFile = "lock"

// lockDataDir takes the data directory's lock, or fails at once if a
// server or another command holds it. The lock ends with the process, so
// a killed server leaves nothing to clean up.
func lockDataDir(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, withHint(fmt.Errorf("data directory %s is in use by a running server or command", dir),
				"stop the server that uses it first")
		}
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	return func() { f.Close() }, nil
}
