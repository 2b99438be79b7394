package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
)

// TestWritersOutwaitBusyTimeout has more write transactions wait for each
// other, together, than SQLite's busy timeout, as a room server's requests
// do under load: every one must commit. Left to SQLite's busy handler,
// which polls with growing sleeps, the writers that lose the race time out
// with SQLITE_BUSY.
func TestWritersOutwaitBusyTimeout(t *testing.T) {
	old := busyTimeout
	busyTimeout = 100 * time.Millisecond
	t.Cleanup(func() { busyTimeout = old })
	db := openTestDB(t, filepath.Join(t.TempDir(), "cleanroom.db"))

	const writers = 12
	const hold = 40 * time.Millisecond // 12 × 40 ms ≫ 100 ms
	ctx := context.Background()
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			errs[i] = db.Update(ctx, func(tx *Tx) error {
				time.Sleep(hold)
				return tx.AppendAudit(&cleanroom.AuditEntry{Actor: fmt.Sprintf("writer-%d", i), Action: cleanroom.ActionRoomCreate,
					Outcome: cleanroom.OutcomeOK})
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	err := db.View(ctx, func(tx *Tx) error {
		es, err := tx.Audit(AuditFilter{})
		if err != nil {
			return err
		}
		if len(es) != writers {
			t.Errorf("%d audit entries, want %d", len(es), writers)
		}
		if seq, err := tx.VerifyAuditChain(); err != nil || seq != 0 {
			t.Errorf("VerifyAuditChain() = %d, %v; want 0, nil", seq, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestWriterWaitEndsWithContext checks that a write transaction waiting
// for another one gives up when its context ends.
func TestWriterWaitEndsWithContext(t *testing.T) {
	db := openTestDB(t, "")
	held, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- db.Update(context.Background(), func(tx *Tx) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := db.Update(ctx, func(tx *Tx) error { return nil })
	if err == nil || ctx.Err() == nil {
		t.Errorf("Update while another holds the lock, context ended = %v, want the context's error", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := db.Update(context.Background(), func(tx *Tx) error { return nil }); err != nil {
		t.Errorf("Update after the wait was abandoned: %v", err)
	}
}
