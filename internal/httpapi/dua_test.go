package httpapi

import (
	"database/sql"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

// rawExec runs SQL on the fixture's database behind the server's back: a
// host editing its own database.
func (f *fixture) rawExec(query string, args ...any) {
	f.t.Helper()
	raw, err := sql.Open("sqlite", f.dbPath)
	if err != nil {
		f.t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(query, args...); err != nil {
		f.t.Fatal(err)
	}
}

// refusedEverywhere checks that an upload, a match run and a query run in
// r1 are refused with a message containing want, and that each refusal is
// an incident.
func refusedEverywhere(t *testing.T, f *fixture, want string) {
	t.Helper()
	for _, r := range []struct{ who, method, path string }{
		{"provider", "POST", "/api/v1/rooms/r1/datasets/bank-customers/uploads"},
		{"provider", "POST", "/api/v1/rooms/r1/matches"},
		{"analyst", "POST", "/api/v1/rooms/r1/queries"},
	} {
		var body any
		if strings.HasSuffix(r.path, "queries") {
			body = RunQueryRequest{Template: "tiers"}
		}
		status, resp := f.do(r.who, r.method, r.path, body)
		var e ErrorBody
		json.Unmarshal(resp, &e)
		if status != 403 || !strings.Contains(e.Message, want) {
			t.Errorf("%s %s = %d %s, want 403 saying %q", r.method, r.path, status, resp, want)
		}
		if last := f.lastAudit(); last.Outcome != cleanroom.OutcomeRefused || last.Room != "r1" {
			t.Errorf("refusal audited as %+v, want a refused entry of r1 (an incident)", last)
		}
	}
}

func runs(t *testing.T, f *fixture) {
	t.Helper()
	status, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/queries", RunQueryRequest{Template: "tiers"})
	if status != 201 && status != 200 {
		t.Fatalf("run under an agreement in force = %d %s", status, resp)
	}
}

func TestDUAMissingOrInvalidSignature(t *testing.T) {
	f := newFixture(t)
	f.queryReady("  receivers: [bank]\n")
	runs(t, f)

	// The operator's signature is missing: the operator must sign.
	f.rawExec(`DELETE FROM dua_signatures WHERE room = 'r1' AND party = 'operator'`)
	refusedEverywhere(t, f, `party "operator" has not signed it`)
	_, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/queries", RunQueryRequest{Template: "tiers"})
	if !strings.Contains(string(resp), "cleanroom dua sign --room r1 --version 1") {
		t.Errorf("refusal does not say how to sign: %s", resp)
	}
	f.addOperatorMember()
	env, _ := statement.Sign(f.keys["operator"], f.testDUA("r1", 1, "bank", "operator"))
	// A signature over another document (here: the fixture's agreement
	// with a later start) does not verify against the stored one.
	if status, resp := f.do("op-member", "POST", "/api/v1/rooms/r1/duas/1/signatures", DUASignRequest{Signature: env.Signature}); status != 400 {
		t.Fatalf("signature over another document = %d %s, want 400", status, resp)
	}
	if status, resp := f.do("op-member", "POST", "/api/v1/rooms/r1/duas/1/signatures", f.signStored("operator", 1)); status != 200 {
		t.Fatalf("operator signs = %d %s", status, resp)
	}
	runs(t, f)

	// The bank's stored signature is altered: it no longer verifies and
	// the bank must sign again.
	f.rawExec(`UPDATE dua_signatures SET signature = zeroblob(64) WHERE room = 'r1' AND party = 'bank'`)
	refusedEverywhere(t, f, `the signature of party "bank" does not verify`)
	var b DUABody
	_, resp = f.do("reviewer", "GET", "/api/v1/rooms/r1/duas/1", nil)
	json.Unmarshal(resp, &b)
	if b.State != cleanroom.DUADraft || len(b.Pending) != 1 || b.Pending[0] != "bank" {
		t.Errorf("agreement with an altered signature: state %s, pending %v; want draft, [bank]", b.State, b.Pending)
	}
	if status, resp := f.do("provider", "POST", "/api/v1/rooms/r1/duas/1/signatures", f.signStored("bank", 1)); status != 200 {
		t.Fatalf("bank signs again = %d %s", status, resp)
	}
	if status, resp := f.do("provider", "POST", "/api/v1/rooms/r1/duas/1/signatures", f.signStored("bank", 1)); status != 409 {
		t.Errorf("second signature = %d %s, want 409", status, resp)
	}
	runs(t, f)
}

// signStored signs the document r1's agreement version holds.
func (f *fixture) signStored(party string, version int) DUASignRequest {
	f.t.Helper()
	var doc []byte
	f.db.View(f.t.Context(), func(tx *sqlite.Tx) error {
		ds, err := tx.DUAs("r1")
		if err == nil {
			doc = ds[version-1].Document
		}
		return err
	})
	env, err := statement.Sign(f.keys[party], json.RawMessage(doc))
	if err != nil {
		f.t.Fatal(err)
	}
	return DUASignRequest{Signature: env.Signature}
}

func TestDUAExpiredAndTerminated(t *testing.T) {
	f := newFixture(t)
	f.queryReady("  receivers: [bank]\n")
	// Version 2, with a smaller budget, expires in ten minutes.
	f.db.Update(t.Context(), func(tx *sqlite.Tx) error {
		d := f.testDUA("r1", 2, "bank", "operator")
		d.Budget.Rho = 0.5
		d.ExpiresAt = f.now.Add(10 * time.Minute)
		f.putDUA(tx, d, "bank", "operator")
		return nil
	})
	var l DUAList
	_, resp := f.do("reviewer", "GET", "/api/v1/rooms/r1/duas", nil)
	json.Unmarshal(resp, &l)
	if l.Active != 2 || l.Agreements[0].State != cleanroom.DUASuperseded {
		t.Fatalf("after version 2 took effect: active %d, version 1 %s; want 2, superseded", l.Active, l.Agreements[0].State)
	}
	runs(t, f)
	// The newer agreement's lower cap applies to the budget.
	f.db.View(t.Context(), func(tx *sqlite.Tx) error {
		b, err := tx.Budget(budgetID("r1", "bank-customers"))
		if err != nil || b.Cap.Rho != 0.5 {
			t.Errorf("budget under version 2: %+v, %v; want ρ cap 0.5", b, err)
		}
		return nil
	})

	f.now = f.now.Add(20 * time.Minute)
	refusedEverywhere(t, f, "data-use agreement version 2 of room \"r1\" expired at")
	if status, resp := f.do("provider", "POST", "/api/v1/rooms/r1/duas/2/termination", f.termination("bank", 2)); status != 409 {
		t.Errorf("terminating an expired agreement = %d %s, want 409", status, resp)
	}

	// A fresh version 3, then its termination by the bank.
	f.db.Update(t.Context(), func(tx *sqlite.Tx) error {
		d := f.testDUA("r1", 3, "bank", "operator")
		f.putDUA(tx, d, "bank", "operator")
		return nil
	})
	runs(t, f)
	term := f.termination("bank", 3)
	// The operator's users cannot carry the bank's termination.
	f.addOperatorMember()
	if status, resp := f.do("op-member", "POST", "/api/v1/rooms/r1/duas/3/termination", term); status != 400 {
		t.Errorf("operator member submits the bank's termination = %d %s, want 400", status, resp)
	}
	if status, resp := f.do("provider", "POST", "/api/v1/rooms/r1/duas/3/termination", term); status != 200 {
		t.Fatalf("terminate = %d %s", status, resp)
	}
	refusedEverywhere(t, f, `data-use agreement version 3 of room "r1" was terminated by party "bank"`)
}

func TestDUATemplateNotPermitted(t *testing.T) {
	f := newFixture(t)
	f.queryReady("  receivers: [bank]\n")
	f.approvedTemplateNamed("tiers-x", "  receivers: [bank]\n")
	status, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/queries", RunQueryRequest{Template: "tiers-x"})
	if status != 403 || !strings.Contains(string(resp), `template \"tiers-x\" version 1 is not permitted by data-use agreement version 1`) {
		t.Fatalf("run of a template outside the agreement = %d %s, want 403", status, resp)
	}
	// A version range: tiers versions 1..1 only.
	f.db.Update(t.Context(), func(tx *sqlite.Tx) error {
		d := f.testDUA("r1", 2, "bank", "operator")
		d.Templates = []cleanroom.DUATemplate{{Name: "tiers", MinVersion: 2, MaxVersion: 3}}
		f.putDUA(tx, d, "bank", "operator")
		return nil
	})
	status, resp = f.do("analyst", "POST", "/api/v1/rooms/r1/queries", RunQueryRequest{Template: "tiers"})
	if status != 403 || !strings.Contains(string(resp), "it permits tiers v2-3") {
		t.Fatalf("run of a version outside the range = %d %s, want 403", status, resp)
	}
}

func TestDUADraftAndSign(t *testing.T) {
	f := newFixture(t)
	f.addOperatorMember()
	d := f.testDUA("r1", 0, "bank", "operator")
	d.Purposes = append(d.Purposes, "attribution")

	bad := *d
	bad.Parties = bad.Parties[:1]
	if status, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/duas", &bad); status != 400 || !strings.Contains(string(resp), "agreement names parties bank, but room") {
		t.Errorf("draft without the operator = %d %s, want 400", status, resp)
	}
	bad = *d
	bad.Parties = []cleanroom.DUAParty{{Name: "bank", Consent: " "}, d.Parties[1]}
	if status, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/duas", &bad); status != 400 || !strings.Contains(string(resp), "parties[0].consent_attestation") {
		t.Errorf("draft without a consent attestation = %d %s, want 400", status, resp)
	}

	status, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/duas", d)
	var b DUABody
	json.Unmarshal(resp, &b)
	if status != 201 || b.Version != 2 || b.State != cleanroom.DUADraft || strings.Join(b.Pending, ",") != "bank,operator" {
		t.Fatalf("draft = %d %s", status, resp)
	}
	// The digest is that of the document's canonical form.
	if _, digest, err := statement.Canonical(json.RawMessage(b.Document)); err != nil || digest != b.Digest {
		t.Errorf("digest %s of the document differs from %s: %v", digest, b.Digest, err)
	}
	if status, resp := f.do("provider", "POST", "/api/v1/rooms/r1/duas/2/signatures", f.signStored("bank", 2)); status != 200 {
		t.Fatalf("bank signs = %d %s", status, resp)
	}
	// Version 1 stays in force while version 2 waits for the operator.
	var l DUAList
	_, resp = f.do("reviewer", "GET", "/api/v1/rooms/r1/duas", nil)
	json.Unmarshal(resp, &l)
	if l.Active != 1 || l.Agreements[1].State != cleanroom.DUADraft {
		t.Fatalf("half-signed version 2: active %d, state %s", l.Active, l.Agreements[1].State)
	}
	status, resp = f.do("op-member", "POST", "/api/v1/rooms/r1/duas/2/signatures", f.signStored("operator", 2))
	json.Unmarshal(resp, &b)
	if status != 200 || b.State != cleanroom.DUAActive || len(b.Pending) != 0 {
		t.Fatalf("operator signs = %d %s", status, resp)
	}
	if e := f.lastAudit(); e.Action != cleanroom.ActionDUASign || e.Detail["state"] != "active" || e.Detail["digest"] != b.Digest {
		t.Errorf("signature audited as %+v", e)
	}
	_, resp = f.do("reviewer", "GET", "/api/v1/rooms/r1/duas", nil)
	json.Unmarshal(resp, &l)
	if l.Active != 2 || l.Agreements[0].State != cleanroom.DUASuperseded {
		t.Errorf("after version 2 is signed: active %d, version 1 %s", l.Active, l.Agreements[0].State)
	}
	if status, resp := f.do("provider", "POST", "/api/v1/rooms/r1/duas/2/signatures", f.signStored("bank", 2)); status != 409 {
		t.Errorf("signing an active agreement = %d %s, want 409", status, resp)
	}
}
