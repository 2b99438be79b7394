package auditlog

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
)

func entries(n int) []cleanroom.AuditEntry {
	out := make([]cleanroom.AuditEntry, n)
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range out {
		out[i] = cleanroom.AuditEntry{Seq: int64(i + 1), Time: t0.Add(time.Duration(i) * time.Second), Actor: "bank/ann",
			Action: "query.run", Object: "template:tiers", Room: "r1", Outcome: "ok", Detail: map[string]string{"i": string(rune('a' + i%26))}}
	}
	return out
}

// checkpoint signs the tree of es.
func checkpoint(t *testing.T, priv ed25519.PrivateKey, es []cleanroom.AuditEntry) Checkpoint {
	t.Helper()
	tr := Tree(es)
	root, err := tr.Root(tr.Size())
	if err != nil {
		t.Fatal(err)
	}
	c := Checkpoint{Server: "srv", Room: "r1", Size: tr.Size(), Root: root[:]}
	if err := c.Sign(priv); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestVerifyFindsTampering: a member holds checkpoints of sizes 4 and 8 of
// the true log; the host exports a doctored log signed anew. Each kind of
// tampering is reported; the untouched log verifies.
func TestVerifyFindsTampering(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	log := entries(10)
	held := []Checkpoint{checkpoint(t, priv, log[:4]), checkpoint(t, priv, log[:8])}
	export := func(es []cleanroom.AuditEntry) *Export {
		return &Export{Server: "srv", Room: "r1", Entries: es, Checkpoint: checkpoint(t, priv, es)}
	}
	if f := Verify(export(log), pub, held, nil, nil); len(f) != 0 {
		t.Fatalf("untouched log: %v", f)
	}
	clone := func() []cleanroom.AuditEntry {
		out := make([]cleanroom.AuditEntry, len(log))
		copy(out, log)
		return out
	}
	cases := []struct {
		name string
		es   func() []cleanroom.AuditEntry
		want string
	}{
		{"edited", func() []cleanroom.AuditEntry { es := clone(); es[2].Outcome = "refused"; return es }, "first 4 entries differ"},
		{"removed", func() []cleanroom.AuditEntry { es := clone(); return append(es[:5], es[6:]...) }, "first 8 entries differ"},
		{"reordered", func() []cleanroom.AuditEntry { es := clone(); es[1], es[2] = es[2], es[1]; return es }, "out of order"},
		{"inserted", func() []cleanroom.AuditEntry {
			es := clone()
			extra := es[3]
			extra.Object = "template:other"
			return append(es[:4], append([]cleanroom.AuditEntry{extra}, es[4:]...)...)
		}, "first 8 entries differ"},
		{"truncated", func() []cleanroom.AuditEntry { return clone()[:6] }, "truncated"},
		{"fork", func() []cleanroom.AuditEntry {
			// Another history from entry 7 on: consistent with size 4, not 8.
			es := clone()
			es[6].Actor = "bank/bob"
			return es
		}, "first 8 entries differ"},
	}
	for _, tc := range cases {
		f := Verify(export(tc.es()), pub, held, nil, nil)
		if len(f) == 0 || !strings.Contains(strings.Join(f, "; "), tc.want) {
			t.Errorf("%s: findings %v, want one containing %q", tc.name, f, tc.want)
		}
	}
	// An export whose entries do not match its own checkpoint, and a
	// checkpoint not signed by the server, are reported too.
	e := export(log)
	e.Entries[9].Object = "x"
	if f := Verify(e, pub, nil, nil, nil); len(f) == 0 || !strings.Contains(f[0], "do not hash to the export's checkpoint") {
		t.Errorf("edited tail: %v", f)
	}
	other, _, _ := ed25519.GenerateKey(nil)
	if f := Verify(export(log), other, nil, nil, nil); len(f) == 0 || !strings.Contains(f[0], "not signed") {
		t.Errorf("wrong server key: %v", f)
	}
}

// TestLeafSurvivesTheAPI: an entry as the store holds it and the same
// entry after a JSON round trip (as a member downloads it: empty detail
// omitted, time in another zone) hash to the same leaf.
func TestLeafSurvivesTheAPI(t *testing.T) {
	stored := entries(2)
	stored[0].Detail = map[string]string{}
	stored[1].Time = stored[1].Time.In(time.FixedZone("CET", 3600))
	for i := range stored {
		raw, err := json.Marshal(stored[i])
		if err != nil {
			t.Fatal(err)
		}
		var got cleanroom.AuditEntry
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
		if a, b := Leaf(&stored[i]), Leaf(&got); !bytes.Equal(a, b) {
			t.Errorf("entry %d: leaf %s after the API, %s stored", i, b, a)
		}
	}
}

// receipt builds a receipt for entry i of es under a checkpoint of es.
func receipt(t *testing.T, priv ed25519.PrivateKey, es []cleanroom.AuditEntry, i int) Receipt {
	t.Helper()
	tr := Tree(es)
	proof, err := tr.InclusionProof(i, tr.Size())
	if err != nil {
		t.Fatal(err)
	}
	return Receipt{Entry: es[i], Index: i, Checkpoint: checkpoint(t, priv, es), Proof: ProofBytes(proof)}
}

// TestReceipts: a receipt verifies for its entry and no other; an export
// that edits, drops or moves a receipted entry, even one newer than every
// checkpoint held, is reported.
func TestReceipts(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	log := entries(9)
	r := receipt(t, priv, log, 8) // the newest entry, past no held checkpoint
	if err := r.Verify(pub); err != nil {
		t.Fatalf("receipt: %v", err)
	}
	forged := r
	forged.Entry.Outcome = "refused"
	if err := forged.Verify(pub); err == nil {
		t.Error("a receipt verified for an edited entry")
	}
	moved := r
	moved.Index = 7
	if err := moved.Verify(pub); err == nil {
		t.Error("a receipt verified at another index")
	}
	receipts := []Receipt{r}
	export := func(es []cleanroom.AuditEntry) *Export {
		return &Export{Server: "srv", Room: "r1", Entries: es, Checkpoint: checkpoint(t, priv, es)}
	}
	if f := Verify(export(log), pub, nil, receipts, nil); len(f) != 0 {
		t.Fatalf("untouched log: %v", f)
	}
	edited := append([]cleanroom.AuditEntry(nil), log...)
	edited[8].Detail = map[string]string{"i": "changed"}
	for name, es := range map[string][]cleanroom.AuditEntry{
		"edited":    edited,
		"truncated": log[:8],
		"moved":     append(append([]cleanroom.AuditEntry(nil), log[:7]...), log[8], log[7]),
	} {
		f := Verify(export(es), pub, nil, receipts, nil)
		if len(f) == 0 || !strings.Contains(strings.Join(f, "\n"), "for which you hold a receipt") {
			t.Errorf("%s: findings %v", name, f)
		}
	}
}

// TestCosignatures: a cosignature verifies only for its party, server,
// room and checkpoint; a member holding another party's cosignature of the
// true log catches a forked export even with no checkpoint of its own.
func TestCosignatures(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	bankPub, bankPriv, _ := ed25519.GenerateKey(nil)
	log := entries(6)
	cp := checkpoint(t, priv, log[:5])
	cs, err := cp.Cosign("bank", bankPriv)
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.Verify("srv", "r1", bankPub); err != nil {
		t.Fatalf("cosignature: %v", err)
	}
	for name, bad := range map[string]func() error{
		"other key":   func() error { return cs.Verify("srv", "r1", pub) },
		"other room":  func() error { return cs.Verify("srv", "r2", bankPub) },
		"other party": func() error { c := cs; c.Party = "operator"; return c.Verify("srv", "r1", bankPub) },
		"other size":  func() error { c := cs; c.Size = 4; return c.Verify("srv", "r1", bankPub) },
	} {
		if bad() == nil {
			t.Errorf("%s: cosignature verified", name)
		}
	}
	export := func(es []cleanroom.AuditEntry) *Export {
		return &Export{Server: "srv", Room: "r1", Entries: es, Checkpoint: checkpoint(t, priv, es)}
	}
	if f := Verify(export(log), pub, nil, nil, []Cosignature{cs}); len(f) != 0 {
		t.Fatalf("untouched log: %v", f)
	}
	// The host shows this member a log whose third entry differs.
	forked := append([]cleanroom.AuditEntry(nil), log...)
	forked[2].Actor = "operator/oz"
	if f := Verify(export(forked), pub, nil, nil, []Cosignature{cs}); len(f) == 0 || !strings.Contains(f[0], "party bank cosigned a different history") {
		t.Errorf("forked log: %v", f)
	}
	if f := Verify(export(log[:4]), pub, nil, nil, []Cosignature{cs}); len(f) == 0 || !strings.Contains(f[0], "truncated") {
		t.Errorf("truncated log: %v", f)
	}
}
