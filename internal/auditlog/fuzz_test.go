package auditlog

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/cleanroom-dev/cleanroom"
)

// FuzzVerify reads an export as the member's `cleanroom audit verify`
// does and checks it. The host is the adversary: it holds the server key,
// so after whatever it changed it signs a fresh checkpoint of the entries
// it exports. The member kept a checkpoint of the first held entries of
// the true log, a receipt for the last of them and a party's cosignature
// of them. Verify must not panic on any input, and it must report
// nothing exactly when the export begins with those held entries unchanged
// (in what the tree hashes) and is in sequence order: every edit,
// removal, reordering or insertion among them is found, and nothing else
// is.
func FuzzVerify(f *testing.F) {
	pub, priv, truth, raw := fuzzLog(f)
	f.Add(raw, uint8(0))
	f.Add(raw, uint8(5))
	f.Add(raw, uint8(len(truth)))
	for _, edit := range []func(e *Export){
		func(e *Export) { e.Entries = e.Entries[:3] },
		func(e *Export) { e.Entries[1].Actor = "bank/eve" },
		func(e *Export) { e.Entries[2], e.Entries[3] = e.Entries[3], e.Entries[2] },
		func(e *Export) { e.Entries[4].Detail = nil },
		func(e *Export) { e.Entries[0].Hash = []byte("not hashed") },
		func(e *Export) { e.Entries = append(e.Entries, e.Entries[0]) },
		func(e *Export) { e.Checkpoint.Size = -1; e.Checkpoint.Root = nil },
	} {
		var e Export
		json.Unmarshal(raw, &e)
		edit(&e)
		b, _ := json.Marshal(e)
		f.Add(b, uint8(4))
	}
	f.Add([]byte(`{"entries":[{"seq":1,"time":"0001-01-01T00:00:00Z"}],"checkpoint":{"size":1,"root":""}}`), uint8(1))

	cosigner, cosignerKey := "bank", ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, ed25519.SeedSize))
	f.Fuzz(func(t *testing.T, raw []byte, n uint8) {
		var e Export
		if json.Unmarshal(raw, &e) != nil {
			return
		}
		// What the member kept of the true log.
		k := int(n) % (len(truth) + 1)
		var held []Checkpoint
		var receipts []Receipt
		var cosigned []Cosignature
		if k > 0 {
			tr := Tree(truth[:k])
			cp := fuzzCheckpoint(t, priv, truth[:k])
			held = append(held, cp)
			proof, err := tr.InclusionProof(k-1, k)
			if err != nil {
				t.Fatal(err)
			}
			r := Receipt{Entry: truth[k-1], Index: k - 1, Checkpoint: cp, Proof: ProofBytes(proof)}
			if err := r.Verify(pub); err != nil {
				t.Fatalf("the member's receipt: %v", err)
			}
			receipts = append(receipts, r)
			cs, err := cp.Cosign(cosigner, cosignerKey)
			if err != nil {
				t.Fatal(err)
			}
			cosigned = append(cosigned, cs)
		}

		// As exported, with whatever checkpoint it carries.
		Verify(&e, pub, held, receipts, cosigned)

		// Signed anew by the host, for the log the member asked for.
		e.Server, e.Room = "srv", "r1"
		e.Checkpoint = fuzzCheckpoint(t, priv, e.Entries)
		findings := Verify(&e, pub, held, receipts, cosigned)
		intact := len(e.Entries) >= k
		for i := 0; intact && i < k; i++ {
			intact = bytes.Equal(Leaf(&e.Entries[i]), Leaf(&truth[i]))
		}
		for i := 1; intact && i < len(e.Entries); i++ {
			intact = e.Entries[i].Seq > e.Entries[i-1].Seq
		}
		switch {
		case intact && len(findings) > 0:
			t.Fatalf("export that keeps the %d held entries and their order has findings %q", k, findings)
		case !intact && len(findings) == 0:
			t.Fatalf("export that alters the first %d entries or their order verifies: %d entries", k, len(e.Entries))
		}
	})
}

// fuzzLog is the true log of room r1 on server srv, ten entries, and its
// export signed by a fixed server key.
func fuzzLog(f testing.TB) (ed25519.PublicKey, ed25519.PrivateKey, []cleanroom.AuditEntry, []byte) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	truth := entries(10)
	truth[3].Code, truth[3].Outcome = "forbidden", cleanroom.OutcomeRefused
	truth[6].Detail = map[string]string{"rows": "25", "note": "é <&> \u2028"}
	cp := fuzzCheckpoint(f, priv, truth)
	raw, err := json.Marshal(Export{Server: "srv", Room: "r1", Entries: truth, Checkpoint: cp})
	if err != nil {
		f.Fatal(err)
	}
	// The entries as the member reads them from the export: what it
	// compares with is what survives the JSON round trip.
	var e Export
	if err := json.Unmarshal(raw, &e); err != nil {
		f.Fatal(err)
	}
	if findings := Verify(&e, priv.Public().(ed25519.PublicKey), nil, nil, nil); len(findings) > 0 {
		f.Fatalf("the untouched export: %q", findings)
	}
	return priv.Public().(ed25519.PublicKey), priv, e.Entries, raw
}

func fuzzCheckpoint(t testing.TB, priv ed25519.PrivateKey, es []cleanroom.AuditEntry) Checkpoint {
	tr := Tree(es)
	root, err := tr.Root(tr.Size())
	if err != nil {
		t.Fatal(err)
	}
	c := Checkpoint{Server: "srv", Room: "r1", Size: tr.Size(), Root: root[:]}
	if err := c.Sign(priv); err != nil {
		t.Fatal(fmt.Errorf("sign checkpoint: %w", err))
	}
	return c
}

// TestVerifyBadKey: a key of the wrong length, as a damaged state file or
// a forged bundle holds, is refused, not a panic.
func TestVerifyBadKey(t *testing.T) {
	_, priv, truth, _ := fuzzLog(t)
	cp := fuzzCheckpoint(t, priv, truth)
	cs, err := cp.Cosign("bank", priv)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []ed25519.PublicKey{nil, {}, make([]byte, 31), make([]byte, 33)} {
		if err := cp.Verify(key); !errors.Is(err, ErrBadKey) {
			t.Errorf("Checkpoint.Verify(%d-byte key) = %v, want ErrBadKey", len(key), err)
		}
		if err := cs.Verify("srv", "r1", key); !errors.Is(err, ErrBadKey) {
			t.Errorf("Cosignature.Verify(%d-byte key) = %v, want ErrBadKey", len(key), err)
		}
		e := Export{Server: "srv", Room: "r1", Entries: truth, Checkpoint: cp}
		if findings := Verify(&e, key, []Checkpoint{cp}, nil, []Cosignature{cs}); len(findings) == 0 {
			t.Errorf("Verify with a %d-byte server key found nothing", len(key))
		}
	}
}
