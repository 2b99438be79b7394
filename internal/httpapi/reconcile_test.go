package httpapi

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom/internal/dp"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
)

func TestReconcile(t *testing.T) {
	f := newFixture(t)
	// A leftover directory of a session that is not open, and the chunks
	// of the fixture's open session.
	stale := filepath.Join(f.uploadDir, "gone")
	os.MkdirAll(stale, 0o700)
	f.stageUpload("up1", 3)
	if err := f.srv.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("Reconcile kept the chunks of a session that is not open")
	}
	if _, err := os.Stat(f.srv.uploadDirOf("up1")); err != nil {
		t.Errorf("Reconcile removed a fresh open session's chunks: %v", err)
	}
	// A day later the open session expires, audited.
	f.now = f.now.Add(UploadTTL + time.Hour)
	before := f.counts()
	if err := f.srv.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.srv.uploadDirOf("up1")); !os.IsNotExist(err) {
		t.Error("Reconcile kept an expired session's chunks")
	}
	last := f.lastAudit()
	if f.counts()["audit_log"] != before["audit_log"]+1 || last.Action != ActionUploadExpire || last.Object != "upload:up1" {
		t.Errorf("expiry audited as %+v", last)
	}
	var state string
	f.db.View(t.Context(), func(tx *sqlite.Tx) error {
		u, err := tx.Upload("up1")
		if err == nil {
			state = u.State
		}
		return err
	})
	if state != "aborted" {
		t.Errorf("expired session is %q, want aborted", state)
	}
}

// TestReconcileReleasesUnfinishedQueries: the budget reserved by a query
// run that never finished is given back at start; a match run's stays.
func TestReconcileReleasesUnfinishedQueries(t *testing.T) {
	f := newFixture(t)
	err := f.db.Update(t.Context(), func(tx *sqlite.Tx) error {
		b := &sqlite.Budget{Dataset: budgetID("r1", "bank-customers"), Party: "bank", Size: 500, Cap: defaultCap(500)}
		if err := tx.SetBudget(b); err != nil {
			return err
		}
		for _, id := range []string{"query:crashed", "run1:bank-customers"} {
			if err := tx.ReserveBudget(sqlite.BudgetRequest{ID: id, Receiver: "bank", Loss: dp.Loss{Rho: 0.1},
				Reads: []sqlite.DatasetRead{{Dataset: budgetID("r1", "bank-customers")}}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.srv.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.db.View(t.Context(), func(tx *sqlite.Tx) error {
		q, err := tx.Reservation("query:crashed")
		if err != nil || q.State != sqlite.Released {
			t.Errorf("unfinished query's reservation = %+v, %v; want released", q, err)
		}
		m, err := tx.Reservation("run1:bank-customers")
		if err != nil || m.State != sqlite.Reserved {
			t.Errorf("waiting match run's reservation = %+v, %v; want still reserved", m, err)
		}
		return nil
	})
}

// TestReconcileRemovesOrphanVersions: a vault version written by a commit
// whose transaction never committed is removed at start, so a retried
// commit can write it; recorded versions stay.
func TestReconcileRemovesOrphanVersions(t *testing.T) {
	f := newFixture(t)
	f.putVersion("bank-customers", "bank", []int{1, 2, 3}, func(int) string { return "gold" })
	ctx := t.Context()
	orphan := func(id string, version int) {
		t.Helper()
		f.srv.vault.CreateDataset(ctx, id)
		vw, err := f.srv.vault.NewVersion(ctx, id, version)
		if err != nil {
			t.Fatal(err)
		}
		vw.Write([]byte("never recorded"))
		if err := vw.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	orphan(vaultID("r1", "bank-customers"), 2)
	orphan(resolutionVault("r1"), 1)
	orphan(reblindedVault("r1"), 1)
	orphan(modelsVault("r1"), 1)
	if err := f.srv.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	left, err := f.srv.vault.Versions()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]int{vaultID("r1", "bank-customers"): {1}}
	for id, vs := range left {
		if len(vs) == 0 {
			continue
		}
		if w, ok := want[id]; !ok || len(vs) != len(w) || vs[0] != w[0] {
			t.Errorf("after Reconcile the vault holds %s versions %v, want %v", id, vs, want[id])
		}
	}
	if len(left[vaultID("r1", "bank-customers")]) != 1 {
		t.Errorf("Reconcile removed a recorded version: %v", left)
	}
	// The orphan's number can be written again.
	orphan(vaultID("r1", "bank-customers"), 2)
}
