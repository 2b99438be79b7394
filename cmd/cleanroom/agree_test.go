package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

// signer is a party's member and keys, to sign a room's agreement with.
type signer struct {
	c    *client.Client
	keys *keyfile.PartyKeys
}

// agree drafts an agreement for room naming the parties in signers, with
// the demo's templates, and has every party sign it.
func agree(t *testing.T, ctx context.Context, server, room, host string, signers map[string]signer) {
	t.Helper()
	now := time.Now().UTC()
	d := &cleanroom.DUA{Type: cleanroom.DUAType, Server: server, Room: room, Host: host,
		Purposes: []string{"segment sizing"}, DataCategories: []string{"contact identifiers"}, LegalBasis: "GDPR Art. 6(1)(f)",
		Templates: []cleanroom.DUATemplate{{Name: "spend-by-tier", MinVersion: 1}, {Name: "tier-by-default-flag", MinVersion: 1}},
		Budget:    cleanroom.DUABudget{Rho: 1, Epsilon: 20, Renewal: "never"}, RetentionDays: 30,
		StartsAt: now.Add(-time.Minute), ExpiresAt: now.AddDate(0, 0, 30)}
	names := slices.Sorted(func(yield func(string) bool) {
		for p := range signers {
			if !yield(p) {
				return
			}
		}
	})
	for _, p := range names {
		d.Parties = append(d.Parties, cleanroom.DUAParty{Name: p, Consent: "customers were told; opt-outs are honoured"})
	}
	b, err := signers[names[0]].c.DraftDUA(ctx, room, d)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range names {
		env, err := statement.Sign(signers[p].keys.Signing, b.Document)
		if err != nil {
			t.Fatal(err)
		}
		if b, err = signers[p].c.SignDUA(ctx, room, b.Version, env.Signature); err != nil {
			t.Fatal(err)
		}
	}
	if b.State != cleanroom.DUAActive {
		t.Fatalf("agreement after every signature: %s", b.State)
	}
}
