package httpapi

import (
	"context"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/dp"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

// testDUA is the agreement the fixture's rooms are under: a year from an
// hour before the fixture's start, the test templates, ρ = 1 and ε = 20 per
// dataset, 90 days' retention.
func (f *fixture) testDUA(room string, version int, parties ...string) *cleanroom.DUA {
	d := &cleanroom.DUA{Type: cleanroom.DUAType, Server: f.srv.ServerID(), Room: room, Version: version, Host: "neutral",
		Purposes: []string{"segment sizing"}, DataCategories: []string{"contact identifiers", "product holdings"},
		LegalBasis: "GDPR Art. 6(1)(f), legitimate interest",
		Templates:  []cleanroom.DUATemplate{{Name: "tiers", MinVersion: 1}, {Name: "tiers-b", MinVersion: 1}},
		Budget:     cleanroom.DUABudget{Rho: 1, Epsilon: 20, Renewal: "never"}, RetentionDays: 90,
		StartsAt: f.now.Add(-time.Hour), ExpiresAt: f.now.AddDate(1, 0, 0)}
	for _, p := range parties {
		d.Parties = append(d.Parties, cleanroom.DUAParty{Name: p, Consent: p + " customers were told under its privacy notice; opt-outs are honoured"})
	}
	return d
}

// putDUA stores d with the signatures of the named parties.
func (f *fixture) putDUA(tx *sqlite.Tx, d *cleanroom.DUA, signers ...string) {
	f.t.Helper()
	canon, digest, err := statement.Canonical(d)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := tx.PutDUA(&sqlite.DUARecord{Room: d.Room, Version: d.Version, Document: canon, Digest: digest, DraftedBy: "test"}); err != nil {
		f.t.Fatal(err)
	}
	for _, p := range signers {
		env, err := statement.Sign(f.keys[p], d)
		if err != nil {
			f.t.Fatal(err)
		}
		if err := tx.PutDUASignature(d.Room, d.Version, sqlite.DUASignature{Party: p, Signature: env.Signature, SignedBy: p + "/test"}); err != nil {
			f.t.Fatal(err)
		}
	}
}

// defaultCap is the fixture agreement's cap of a dataset of size people.
func defaultCap(size int64) dp.Loss {
	limit, _ := dp.DeltaLimit(size)
	return dp.Loss{Rho: 1, Epsilon: 20, Delta: min(limit/2, dp.MaxDelta)}
}

// draftSignedBy stores version 2 of r1's agreement signed by signed and
// returns the signature of party by.
func (f *fixture) draftSignedBy(signed, by string) DUASignRequest {
	f.t.Helper()
	d := f.testDUA("r1", 2, "bank", "operator")
	d.Purposes = append(d.Purposes, "attribution")
	if err := f.db.Update(context.Background(), func(tx *sqlite.Tx) error {
		f.putDUA(tx, d, signed)
		return nil
	}); err != nil {
		f.t.Fatal(err)
	}
	env, err := statement.Sign(f.keys[by], d)
	if err != nil {
		f.t.Fatal(err)
	}
	return DUASignRequest{Signature: env.Signature}
}

// termination returns party's signed termination of r1's agreement
// version.
func (f *fixture) termination(party string, version int) statement.Envelope {
	f.t.Helper()
	var digest string
	f.db.View(context.Background(), func(tx *sqlite.Tx) error {
		ds, err := tx.DUAs("r1")
		if err == nil && version <= len(ds) {
			digest = ds[version-1].Digest
		}
		return err
	})
	env, err := statement.Sign(f.keys[party], cleanroom.DUATermination{Type: cleanroom.DUATerminationType, Server: f.srv.ServerID(),
		Room: "r1", Version: version, Digest: digest, Party: party, Reason: "the partnership ends", IssuedAt: f.now})
	if err != nil {
		f.t.Fatal(err)
	}
	return env
}
