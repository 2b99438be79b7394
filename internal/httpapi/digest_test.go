package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
)

func TestResultDigestOnlyReceiversCheck(t *testing.T) {
	f := newFixture(t)
	f.queryReady("  receivers: [bank]\n  review_by: [bank]\n")
	q := f.runQuery()
	e := f.lastAudit()
	if e.Action != cleanroom.ActionQueryRun || e.Object != "query:"+q.ID {
		t.Fatalf("last entry %+v", e)
	}
	// Held for review: no cell counts in the log, only the digest.
	if _, ok := e.Detail["cells"]; ok {
		t.Errorf("entry of a result held for review shows cell counts: %v", e.Detail)
	}
	logged := e.Detail["digest.bank"]
	if len(logged) != 64 {
		t.Fatalf("entry has no digest for the bank: %v", e.Detail)
	}
	_, sealed := f.seeQuery("reviewer", q.ID)
	pt, key, err := keyfile.OpenWithExporting(f.agentPrivs["bank"], cleanroom.ReleaseInfo(f.srv.ServerID(), "r1", q.ID, "bank"), sealed.Sealed,
		[]byte(cleanroom.ResultDigestContext), 32)
	if err != nil {
		t.Fatal(err)
	}
	if got := cleanroom.ResultDigest(key, pt); got != logged {
		t.Errorf("the bank computes digest %s, the log shows %s", got, logged)
	}
	// Without the key the digest tells nothing: it is not a plain hash of
	// the result, and another key gives another digest.
	sum := sha256.Sum256(pt)
	if logged == hex.EncodeToString(sum[:]) || cleanroom.ResultDigest(make([]byte, 32), pt) == logged {
		t.Error("the digest can be computed without the bank's key")
	}
	// A different result does not match.
	if cleanroom.ResultDigest(key, append(pt, ' ')) == logged {
		t.Error("an altered result matches the logged digest")
	}
}
