package cleanroom

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// fuzzDocuments are the signed documents parties send the room (the
// agreement, its termination, grants, approvals, hmac statements) and the
// terms an admin sets, each made fresh for decoding.
var fuzzDocuments = []struct {
	name string
	new  func() interface{ Validate() error }
}{
	{"dua", func() interface{ Validate() error } { return new(DUA) }},
	{"termination", func() interface{ Validate() error } { return new(DUATermination) }},
	{"grant", func() interface{ Validate() error } { return new(GrantStatement) }},
	{"approval", func() interface{ Validate() error } { return new(TemplateApproval) }},
	{"agentkey", func() interface{ Validate() error } { return new(AgentKey) }},
	{"commitment", func() interface{ Validate() error } { return new(SecretCommitment) }},
	{"terms", func() interface{ Validate() error } { return new(Terms) }},
}

// FuzzDocument decodes each kind of document the way the room reads a
// signed statement (JSON, unknown fields refused) and validates it.
// Validate never panics, and refuses with an EInvalid error, which the API
// answers with 400, never with an unclassified one, which it would answer
// with 500. A document that validates encodes to JSON that decodes to a
// document that validates and encodes the same: what a party signs is what
// the room reads back. The agreement's and the grant's decisions (its
// state, what it permits, whether the room accepts the grant) do not panic
// on any valid document.
func FuzzDocument(f *testing.F) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	seeds := []any{
		&DUA{Type: DUAType, Server: "s1", Room: "r1", Version: 1, Host: "neutral",
			Parties:  []DUAParty{{Name: "bank", Consent: "customers were told"}, {Name: "operator", Consent: "notice, opt-out honoured"}},
			Purposes: []string{"segment sizing", "attribution"}, DataCategories: []string{"contact identifiers"}, LegalBasis: "GDPR Art. 6(1)(f)",
			Templates:   []DUATemplate{{Name: "tiers", MinVersion: 1}, {Name: "lift", MinVersion: 2, MaxVersion: 3}},
			Disclosures: []DUADisclosure{{Name: "report", To: "bank", Purpose: "attribution", Description: "the lift report"}},
			Budget:      DUABudget{Rho: 1, Epsilon: 20, Renewal: "never"}, RetentionDays: 90, StartsAt: now, ExpiresAt: now.AddDate(1, 0, 0)},
		&DUATermination{Type: DUATerminationType, Server: "s1", Room: "r1", Version: 1, Digest: string(bytes.Repeat([]byte("a"), 64)),
			Party: "bank", Reason: "the partnership ends", IssuedAt: now},
		&GrantStatement{Type: GrantType, Server: "s1", Party: "bank", User: "ann", Room: "r1", Roles: []Role{RoleAnalyst, RoleProvider},
			IssuedAt: now, ExpiresAt: now.Add(time.Hour)},
		&TemplateApproval{Type: ApprovalType, Server: "s1", Room: "r1", Name: "tiers", Version: 1, Digest: string(bytes.Repeat([]byte("b"), 64)), IssuedAt: now},
		&AgentKey{Type: AgentKeyType, Server: "s1", Room: "r1", Party: "bank", HPKEKey: bytes.Repeat([]byte{9}, 32), IssuedAt: now},
		&SecretCommitment{Type: SecretCommitmentType, Server: "s1", Room: "r1", Creator: "bank", Commitment: string(bytes.Repeat([]byte("c"), 64)), IssuedAt: now},
		&Terms{Room: "r1", Version: 1, Currency: "EUR", Subscription: 500000, RunPrice: 2500, TemplatePrices: map[string]int64{"tiers": 100},
			Payer: "bank", Seller: "operator", EffectiveFrom: now, SetBy: "admin"},
	}
	for i, s := range seeds {
		raw, err := json.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), raw)
		if err := fuzzDecode(raw, fuzzDocuments[i].new()); err != nil {
			f.Fatalf("seed %s: %v", fuzzDocuments[i].name, err)
		}
	}
	f.Add(uint8(0), []byte(`{"type":"cleanroom.dua.v1","budget":{"rho":1e308,"epsilon":-0},"retention_days":-1}`))
	f.Add(uint8(2), []byte(`{"type":"cleanroom.grant.v1","roles":["analyst","analyst"],"issued_at":"9999-12-31T23:59:59+14:00"}`))
	f.Add(uint8(6), []byte(`{"currency":"EUR","template_prices":{"":-1},"subscription":9223372036854775807}`))

	room := &Room{Name: "r1", Host: "neutral", Parties: []string{"bank", "operator"}, CreatedAt: now}
	f.Fuzz(func(t *testing.T, kind uint8, raw []byte) {
		k := fuzzDocuments[int(kind)%len(fuzzDocuments)]
		v := k.new()
		if fuzzDecode(raw, v) != nil {
			return
		}
		if err := v.Validate(); err != nil {
			if ErrorCode(err) != EInvalid {
				t.Fatalf("%s: Validate = %v (code %q), want an %s error", k.name, err, ErrorCode(err), EInvalid)
			}
			return
		}
		enc, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: a valid document does not encode: %v", k.name, err)
		}
		v2 := k.new()
		if err := fuzzDecode(enc, v2); err != nil {
			t.Fatalf("%s: encoded %s does not decode: %v", k.name, enc, err)
		}
		if err := v2.Validate(); err != nil {
			t.Fatalf("%s: encoded %s no longer validates: %v", k.name, enc, err)
		}
		if enc2, _ := json.Marshal(v2); !bytes.Equal(enc, enc2) {
			t.Fatalf("%s: encodes as %s, then as %s", k.name, enc, enc2)
		}
		switch d := v.(type) {
		case *DUA:
			d.PartyNames()
			d.Permits("tiers", 1)
			d.PermittedTemplates()
			d.CheckRoom(room)
			for _, signed := range []bool{false, true} {
				DUAStateAt(d, signed, false, false, now)
				DUAStateAt(d, signed, true, false, now)
			}
		case *GrantStatement:
			for _, prev := range []*GrantStatement{nil, d} {
				if err := CheckGrant(d, "s1", room, prev, now); err != nil && ErrorCode(err) == EInternal {
					t.Fatalf("CheckGrant = %v, an unclassified error", err)
				}
			}
			d.ActiveIn(room, now)
		}
	})
}

func fuzzDecode(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
