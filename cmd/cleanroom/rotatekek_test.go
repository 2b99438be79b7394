package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/vault"
)

// TestRotateKEK rotates a server's key-encryption key: refused while the
// server runs; afterwards the datasets open with the new key only; an
// unfinished rotation keeps the server from starting until it is run
// again; the rotation is audited.
func TestRotateKEK(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := initDataDir(ctx, dir, nil); err != nil {
		t.Fatal(err)
	}
	dbPath, keyDir, _, _ := dataPaths(dir)
	old, err := keyfile.LoadServer(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	rotate := func() (int, string) {
		var out, errs bytes.Buffer
		code := run(ctx, []string{"rotate-kek", "--data", dir}, strings.NewReader(""), &out, &errs)
		return code, out.String() + errs.String()
	}
	serve := func(ctx context.Context) (*Main, chan error) {
		m := NewMain(ServeConfig{DataDir: dir, Addr: "127.0.0.1:0"}, slog.New(slog.DiscardHandler))
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()
		return m, done
	}

	// While the server runs: refused.
	sctx, stop := context.WithCancel(ctx)
	m, done := serve(sctx)
	select {
	case <-m.Ready():
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("server did not start")
	}
	if code, out := rotate(); code == 0 || !strings.Contains(out, "in use by a running server") {
		t.Fatalf("rotate-kek beside a running server = %d %s", code, out)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Two datasets, written while the server is stopped (a server at start
	// removes versions its database does not record).
	store, err := vault.Open(filepath.Join(dir, "datasets"), vault.NewLocalWrapper(old.KEK))
	if err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("a version's rows "), 5000)
	for _, id := range []string{"r.customers", "r.subscribers"} {
		if err := store.CreateDataset(ctx, id); err != nil {
			t.Fatal(err)
		}
		w, err := store.NewVersion(ctx, id, 1)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(content)
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
	}

	// Stopped: rotated.
	if code, out := rotate(); code != 0 || !strings.Contains(out, "2 dataset keys rewrapped") {
		t.Fatalf("rotate-kek = %d %s", code, out)
	}
	now, err := keyfile.LoadServer(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	if now.KEK == old.KEK {
		t.Fatal("the key-encryption key did not change")
	}
	read := func(kek [32]byte) error {
		s, err := vault.Open(filepath.Join(dir, "datasets"), vault.NewLocalWrapper(kek))
		if err != nil {
			return err
		}
		for _, id := range []string{"r.customers", "r.subscribers"} {
			rc, err := s.OpenVersion(ctx, id, 1)
			if err != nil {
				return err
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				return err
			}
			if !bytes.Equal(got, content) {
				t.Errorf("dataset %s reads %d bytes, not what was written", id, len(got))
			}
		}
		return nil
	}
	if err := read(now.KEK); err != nil {
		t.Fatalf("reading with the new key: %v", err)
	}
	if err := read(old.KEK); err == nil {
		t.Fatal("the datasets still open with the old key")
	}

	// An unfinished rotation: the server refuses to start; running the
	// command again finishes it.
	if _, err := keyfile.BeginKEKRotation(keyDir); err != nil {
		t.Fatal(err)
	}
	_, done = serve(ctx)
	if err := <-done; err == nil || !strings.Contains(err.Error(), "did not finish") {
		t.Fatalf("serve during a rotation = %v", err)
	}
	if code, out := rotate(); code != 0 || !strings.Contains(out, "2 dataset keys rewrapped") {
		t.Fatalf("finishing rotate-kek = %d %s", code, out)
	}
	last, err := keyfile.LoadServer(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := read(last.KEK); err != nil {
		t.Fatalf("reading after the finished rotation: %v", err)
	}

	db, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rotations := 0
	db.View(ctx, func(tx *sqlite.Tx) error {
		es, err := tx.Audit(sqlite.AuditFilter{PlatformOnly: true})
		for _, e := range es {
			if e.Action == actionKEKRotate {
				rotations++
			}
		}
		return err
	})
	if rotations != 2 {
		t.Errorf("%d rotations audited, want 2", rotations)
	}
}
