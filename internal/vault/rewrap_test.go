package vault

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// TestRewrap moves every dataset's key to a new master key: the versions
// open with the new key only, a destroyed dataset stays destroyed, and a
// rewrap that stopped halfway finishes when run again.
func TestRewrap(t *testing.T) {
	s, dir := newStore(t)
	data := map[string][]byte{"a": randomBytes(200_000, 1), "b": randomBytes(10, 2), "c": randomBytes(70_000, 3)}
	for id, d := range data {
		createDataset(t, s, id)
		writeVersion(t, s, id, 1, d)
	}
	createDataset(t, s, "gone")
	if err := s.DestroyDataset(t.Context(), "gone"); err != nil {
		t.Fatal(err)
	}
	var master [32]byte
	master[0] = 42
	next := NewLocalWrapper(master)

	// Stopped after the first dataset.
	ctx, cancel := context.WithCancel(t.Context())
	n, err := s.Rewrap(ctx, next, func(done, total int) {
		if total != 3 {
			t.Errorf("rewrap counts %d datasets, want 3 (a destroyed one is not rewrapped)", total)
		}
		cancel()
	})
	if !errors.Is(err, context.Canceled) || n != 1 {
		t.Fatalf("cancelled rewrap = %d, %v; want 1 and the cancellation", n, err)
	}
	// Run again: the rest is rewrapped, the first is left as it is.
	n, err = s.Rewrap(t.Context(), next, nil)
	if err != nil || n != 2 {
		t.Fatalf("second rewrap = %d, %v; want the 2 datasets left", n, err)
	}
	if n, err := s.Rewrap(t.Context(), next, nil); err != nil || n != 0 {
		t.Fatalf("third rewrap = %d, %v; want nothing left to do", n, err)
	}

	moved, err := Open(dir, next)
	if err != nil {
		t.Fatal(err)
	}
	for id, d := range data {
		got, err := readVersion(moved, id, 1)
		if err != nil || !bytes.Equal(got, d) {
			t.Errorf("dataset %s with the new key: %d bytes, %v", id, len(got), err)
		}
		if _, err := readVersion(s, id, 1); err == nil {
			t.Errorf("dataset %s still opens with the old key", id)
		}
	}
	if !moved.Destroyed("gone") {
		t.Error("the destroyed dataset came back")
	}
}
