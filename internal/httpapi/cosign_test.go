package httpapi

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/auditlog"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
)

// cosignature is party's cosignature of r1's whole log, which it first
// gives an entry.
func (f *fixture) cosignature(party string) auditlog.Cosignature {
	f.t.Helper()
	f.do("outsider", "GET", "/api/v1/rooms/r1/datasets", nil) // an entry in r1
	var es []cleanroom.AuditEntry
	if err := f.db.View(context.Background(), func(tx *sqlite.Tx) (err error) {
		es, err = tx.Audit(sqlite.AuditFilter{Room: "r1", Limit: 1000})
		return err
	}); err != nil {
		f.t.Fatal(err)
	}
	t := auditlog.Tree(es)
	root, _ := t.Root(t.Size())
	cp := auditlog.Checkpoint{Server: f.srv.ServerID(), Room: "r1", Size: t.Size(), Root: root[:]}
	cs, err := cp.Cosign(party, f.keys[party])
	if err != nil {
		f.t.Fatal(err)
	}
	return cs
}

// TestCosign: a party's cosignature is kept and shown with checkpoints;
// the log is final up to the size both parties cosigned; a root from
// another history, another party's key or a size past the log is refused.
func TestCosign(t *testing.T) {
	f := newFixture(t)
	checkpoint := func() CheckpointBody {
		t.Helper()
		st, body := f.do("analyst", "GET", "/api/v1/rooms/r1/audit/checkpoint", nil)
		if st != 200 {
			t.Fatalf("checkpoint = %d %s", st, body)
		}
		var b CheckpointBody
		json.Unmarshal(body, &b)
		return b
	}
	bank := f.cosignature("bank")
	if st, body := f.do("reviewer", "POST", "/api/v1/rooms/r1/audit/cosignatures", bank); st != 201 {
		t.Fatalf("cosign = %d %s", st, body)
	}
	b := checkpoint()
	if len(b.Cosignatures) != 1 || b.Cosignatures[0].Party != "bank" || b.Cosignatures[0].Size != bank.Size || b.FinalSize != 0 {
		t.Fatalf("after the bank cosigned: %+v", b)
	}
	if b.Changed {
		t.Errorf("the log grew only by the bank's cosignature, but a bank member is told it changed")
	}
	if err := b.Cosignatures[0].Verify(f.srv.ServerID(), "r1", f.keys["bank"].Public().(ed25519.PublicKey)); err != nil {
		t.Errorf("served cosignature: %v", err)
	}

	// Refusals: a forked root, a signature by another party's key, a size
	// the log does not have.
	forked := f.cosignature("bank")
	forked.Root[0] ^= 1
	if st, body := f.do("reviewer", "POST", "/api/v1/rooms/r1/audit/cosignatures", forked); st != 409 || !strings.Contains(string(body), "not this room's log at size") {
		t.Errorf("forked root = %d %s", st, body)
	}
	wrongKey := f.cosignature("operator") // signed by operator, posted by a bank user
	if st, body := f.do("reviewer", "POST", "/api/v1/rooms/r1/audit/cosignatures", wrongKey); st != 400 || !strings.Contains(string(body), "does not verify") {
		t.Errorf("other party's key = %d %s", st, body)
	}
	tooBig := f.cosignature("bank")
	tooBig.Size += 100
	if st, body := f.do("reviewer", "POST", "/api/v1/rooms/r1/audit/cosignatures", tooBig); st != 400 || !strings.Contains(string(body), "must be a log size") {
		t.Errorf("size past the log = %d %s", st, body)
	}

	if b := checkpoint(); !b.Changed {
		t.Errorf("refusals since the bank's cosignature, but the log is said unchanged")
	}

	// Once the operator cosigns too, the log is final up to the smaller size.
	f.addOperatorMember()
	op := f.cosignature("operator")
	if st, body := f.do("op-member", "POST", "/api/v1/rooms/r1/audit/cosignatures", op); st != 201 {
		t.Fatalf("operator cosign = %d %s", st, body)
	}
	b = checkpoint()
	if len(b.Cosignatures) != 2 || b.FinalSize != bank.Size {
		t.Errorf("after both cosigned: final %d, want %d; %+v", b.FinalSize, bank.Size, b.Cosignatures)
	}
}

// addOperatorMember gives the operator a member of r1, "op-member".
func (f *fixture) addOperatorMember() {
	f.t.Helper()
	if err := f.db.Update(context.Background(), func(tx *sqlite.Tx) error {
		f.addToken(tx, "op-member", cleanroom.User, "operator", "oona", time.Hour)
		f.putGrant(tx, "operator", "oona", "r1", cleanroom.RoleProvider)
		return nil
	}); err != nil {
		f.t.Fatal(err)
	}
}
