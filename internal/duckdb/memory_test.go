package duckdb

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

// TestMemoryLimit runs a plan that does not fit in a small memory limit: it
// fails with ErrMemoryLimit, and no file appears in the working directory
// or in TMPDIR (DuckDB's default spill directory for an in-memory database
// is ".tmp" in the working directory).
func TestMemoryLimit(t *testing.T) {
	p := segmentSizing(t)
	wd, tmp := t.TempDir(), t.TempDir()
	t.Chdir(wd)
	t.Setenv("TMPDIR", tmp)
	ctx := context.Background()
	db, err := Open(ctx, Limits{MemoryLimit: 24 << 20, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const n = 400_000
	if _, err := db.Load(ctx, "subscribers", p.Columns("subscribers"), syntheticSubscribers(p, n)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Load(ctx, "customers", p.Columns("customers"), syntheticCustomers(p, n)); err != nil {
		t.Fatal(err)
	}
	_, err = db.Run(ctx, p, 1)
	if !errors.Is(err, ErrMemoryLimit) {
		t.Fatalf("Run = %v, want ErrMemoryLimit", err)
	}
	if !strings.HasPrefix(err.Error(), `run plan "segment-sizing": the run does not fit in its memory limit (24 MiB)`) {
		t.Errorf("Run error = %q", err)
	}
	t.Logf("Run error: %v", err)
	for _, dir := range []string{wd, tmp} {
		files, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			t.Errorf("%s holds %s after the run", dir, f.Name())
		}
	}
	// A load that does not fit fails the same way.
	_, err = db.Load(ctx, "more", p.Columns("subscribers"), syntheticSubscribers(p, 4*n))
	if !errors.Is(err, ErrMemoryLimit) {
		t.Errorf("Load = %v, want ErrMemoryLimit", err)
	}
}
