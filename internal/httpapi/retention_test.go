package httpapi

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/vault"
)

// secrets are the key material of one dataset version, read the way an
// attacker holding the master key would: the wrapped KEK from the kek file,
// the KEK unwrapped, the wrapped data key from the version header, and the
// data key (formats in internal/vault's package documentation).
func (f *fixture) secrets(dataset string, version int) map[string][]byte {
	f.t.Helper()
	id := vaultID("r1", dataset)
	raw, err := os.ReadFile(filepath.Join(f.vaultDir, id, "kek"))
	if err != nil {
		f.t.Fatal(err)
	}
	wrappedKEK := raw[len("CRVKEK01"):]
	kek, err := vault.NewLocalWrapper(f.master).Unwrap(f.t.Context(), wrappedKEK, []byte("cleanroom/vault/v1/dataset-kek/"+id))
	if err != nil {
		f.t.Fatal(err)
	}
	hdr, err := os.ReadFile(filepath.Join(f.vaultDir, id, "v1.enc"))
	if err != nil {
		f.t.Fatal(err)
	}
	wrappedDataKey := hdr[12:72]
	aad := append([]byte("cleanroom/vault/v1/data-key\x00"), hdr[:12]...)
	aad = append(aad, byte(len(id)))
	aad = append(aad, id...)
	aad = binary.BigEndian.AppendUint64(aad, uint64(version))
	b, _ := aes.NewCipher(kek)
	gcm, _ := cipher.NewGCMWithRandomNonce(b)
	dataKey, err := gcm.Open(nil, nil, wrappedDataKey, aad)
	if err != nil {
		f.t.Fatalf("open the data key: %v", err)
	}
	return map[string][]byte{"wrapped KEK": wrappedKEK, "KEK": kek, "wrapped data key": wrappedDataKey, "data key": dataKey}
}

// findSecrets returns where in the fixture's directories (database, its
// WAL, the vault, the upload area) any of the secrets' bytes appear.
func (f *fixture) findSecrets(secrets map[string][]byte) []string {
	f.t.Helper()
	var found []string
	for _, root := range []string{filepath.Dir(f.dbPath), f.vaultDir, f.uploadDir} {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			raw, err := os.ReadFile(p)
			if err != nil {
				f.t.Fatal(err)
			}
			for name, s := range secrets {
				if bytes.Contains(raw, s) {
					found = append(found, name+" in "+p)
				}
			}
			return nil
		})
	}
	return found
}

func TestTerminationDeletesEverything(t *testing.T) {
	f := newFixture(t)
	f.queryReady("  receivers: [bank]\n  review_by: [bank]\n")
	pending := f.runQuery()
	secrets := f.secrets("bank-customers", 1)
	for k, v := range f.secrets("op-subs", 1) {
		secrets["operator's "+k] = v
	}
	// The scan finds the key material where it lives: in the vault only.
	before := f.findSecrets(secrets)
	if len(before) != 4 || !strings.Contains(strings.Join(before, " "), f.vaultDir) {
		t.Fatalf("before deletion the scan finds %v; want the two wrapped KEKs and two wrapped data keys in the vault", before)
	}
	if status, resp := f.do("provider", "POST", "/api/v1/rooms/r1/duas/1/termination", f.termination("bank", 1)); status != 200 {
		t.Fatalf("terminate = %d %s", status, resp)
	}
	// The termination deleted everything before it returned; what it did is
	// in the log.
	if found := f.findSecrets(secrets); len(found) > 0 {
		t.Errorf("after deletion key material is still in the data directory: %v", found)
	}
	// Ciphertext and derived artefacts are gone from the vault.
	filepath.WalkDir(f.vaultDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".enc") {
			t.Errorf("vault still holds %s", p)
		}
		return nil
	})
	f.db.View(t.Context(), func(tx *sqlite.Tx) error {
		for _, table := range []string{"dataset_versions", "manifests", "query_sealed"} {
			if n, _ := tx.Count(table); n != 0 {
				t.Errorf("table %s keeps %d rows", table, n)
			}
		}
		// The log keeps everything, and records the deletions.
		es, _ := tx.Audit(sqlite.AuditFilter{})
		n := 0
		for _, e := range es {
			switch {
			case e.Action == ActionDatasetDelete && e.Object == "room:r1":
				if e.Detail["withdrawn_results"] != pending.ID {
					t.Errorf("room entry %+v, want the pending result %s withdrawn", e, pending.ID)
				}
			case e.Action == ActionDatasetDelete:
				n++
				d := e.Detail
				if d["kek_destroyed"] != "true" || d["versions"] != "1" || d["pseudonym_maps"] != "1" || !strings.Contains(d["reason"], `terminated by party "bank"`) {
					t.Errorf("deletion entry %+v: want version 1, its KEK and the room's pseudonym map gone, for the termination", e)
				}
			}
		}
		if n != 2 {
			t.Errorf("%d deletion entries in the log, want 2", n)
		}
		return nil
	})
	if _, q := f.seeQuery("reviewer", pending.ID); q.State != cleanroom.QueryRejected || q.Sealed != nil {
		t.Errorf("withdrawn result: state %s, sealed %v", q.State, q.Sealed != nil)
	}
	// A second sweep has nothing left to do.
	if report, err := f.srv.SweepRetention(t.Context()); err != nil || len(report.Deletions)+len(report.Ended) != 0 {
		t.Errorf("second sweep: %+v, %v", report, err)
	}
}

func TestExpiryAndRetention(t *testing.T) {
	f := newFixture(t)
	f.queryReady("  receivers: [bank]\n")
	// Nothing is due yet.
	if report, err := f.srv.SweepRetention(t.Context()); err != nil || len(report.Deletions) != 0 {
		t.Fatalf("early sweep: %+v, %v", report, err)
	}
	// Past the agreement's 90 days of retention, under an agreement still
	// in force: every version goes, and with the last one the KEK.
	f.now = f.now.AddDate(0, 0, 91)
	report, err := f.srv.SweepRetention(t.Context())
	if err != nil || len(report.Deletions) != 2 || len(report.Ended) != 0 {
		t.Fatalf("retention sweep: %+v, %v", report, err)
	}
	for _, d := range report.Deletions {
		if !strings.Contains(d.Reason, "retention period of 90 days") || !d.KEKDestroyed {
			t.Errorf("retention deletion %+v", d)
		}
	}
	if f.srv.vault.HasDataset(vaultID("r1", "bank-customers")) {
		t.Error("the dataset's KEK survived retention")
	}

	// An expired agreement deletes too, and leaves no key material behind.
	g := newFixture(t)
	g.queryReady("  receivers: [bank]\n")
	secrets := g.secrets("bank-customers", 1)
	g.now = g.now.AddDate(1, 0, 1)
	report, err = g.srv.SweepRetention(t.Context())
	if err != nil || len(report.Deletions) != 2 || !strings.Contains(report.Deletions[0].Reason, "expired at") {
		t.Fatalf("expiry sweep: %+v, %v", report, err)
	}
	if found := g.findSecrets(secrets); len(found) > 0 {
		t.Errorf("after expiry key material is still in the data directory: %v", found)
	}
	recorded := 0
	for _, e := range g.auditSince(0) {
		if e.Action == ActionDatasetDelete && e.Object == "dataset:bank-customers" && strings.Contains(e.Detail["reason"], "expired at") && e.Detail["kek_destroyed"] == "true" {
			recorded++
		}
	}
	if recorded != 1 {
		t.Errorf("the log records the deletion of bank-customers at expiry %d times, want once", recorded)
	}
}
