package httpapi

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/release"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
)

const lookalikeTemplate = `name: lookalike
question: Who looks like the bank's premium customers?
join: [bank-customers, op-subs]
lookalike:
  seed: bank-customers
  seed_where: ["bank-customers.tier = premium"]
  population: op-subs
  features: [op-subs.tier]
  min_seed: MIN
  seed_rho: 0.1
  epsilon: 0.5
  lambda: 0.01
  score_edges: [0, 0.5, 1]
  SEGMENT
controls:
  min_group_size: 100
  rho: 0.2
  max_groups_per_person: 1
  receivers: [bank, operator]
`

// lookalikeReady gives r1 the query fixture's data and an approved
// look-alike template, permitted by a new agreement that declares the
// segment disclosure when declare is set.
func (f *fixture) lookalikeReady(min, segment string, declare bool) {
	f.t.Helper()
	f.queryReady("  receivers: [bank]\n")
	yaml := strings.NewReplacer("MIN", min, "SEGMENT", segment).Replace(lookalikeTemplate)
	if status, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/templates", ProposeTemplateRequest{YAML: yaml}); status != 201 {
		f.t.Fatalf("propose = %d %s", status, resp)
	}
	f.db.Update(f.t.Context(), func(tx *sqlite.Tx) error {
		if err := tx.SetTemplateState("r1", "lookalike", 1, string(cleanroom.TemplateApproved)); err != nil {
			return err
		}
		d := f.testDUA("r1", 2, "bank", "operator")
		d.Templates = append(d.Templates, cleanroom.DUATemplate{Name: "lookalike", MinVersion: 1})
		if declare {
			d.Disclosures = []cleanroom.DUADisclosure{{Name: "lookalike-segment", To: "operator", Purpose: "segment sizing", Description: "the look-alike segment"}}
		}
		f.putDUA(tx, d, "bank", "operator")
		return nil
	})
}

// open opens party's copy of a released result.
func (f *fixture) open(party, id string) *release.Release {
	f.t.Helper()
	var q QueryBody
	err := f.db.View(f.t.Context(), func(tx *sqlite.Tx) error {
		sealed, err := tx.SealedResult("r1", id, party)
		q.Sealed = sealed
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	raw, err := keyfile.OpenWith(f.agentPrivs[party], cleanroom.ReleaseInfo(f.srv.ServerID(), "r1", id, party), q.Sealed)
	if err != nil {
		f.t.Fatalf("open %s's copy: %v", party, err)
	}
	var r release.Release
	if err := json.Unmarshal(raw, &r); err != nil {
		f.t.Fatal(err)
	}
	return &r
}

func TestLookalikeSegmentNeedsDeclaredDisclosure(t *testing.T) {
	segment := "segment: {disclosure: lookalike-segment, to: operator, threshold: 0.01}"
	f := newFixture(t)
	f.lookalikeReady("100", segment, false)
	status, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/queries", RunQueryRequest{Template: "lookalike"})
	if status != 403 || !strings.Contains(string(resp), `declared disclosure \"lookalike-segment\" to party \"operator\"`) {
		t.Fatalf("segment without a declared disclosure = %d %s, want 403", status, resp)
	}

	g := newFixture(t)
	g.lookalikeReady("100", segment, true)
	status, resp = g.do("analyst", "POST", "/api/v1/rooms/r1/queries", RunQueryRequest{Template: "lookalike"})
	if status != 201 {
		t.Fatalf("segment with the disclosure declared = %d %s", status, resp)
	}
	var q QueryBody
	json.Unmarshal(resp, &q)
	op, bank := g.open("operator", q.ID), g.open("bank", q.ID)
	if op.Segment == nil || op.Segment.Dataset != "op-subs" || len(op.Segment.Rows) == 0 {
		t.Fatalf("the operator's copy has segment %+v", op.Segment)
	}
	if bank.Segment != nil {
		t.Error("the bank's copy holds the segment, which is disclosed to the operator only")
	}
	if len(bank.Reach) == 0 || bank.Seed == nil {
		t.Errorf("the bank's copy lacks the reach curve or the seed count: %+v", bank)
	}
	// Every row number is one of the operator's own 500 rows.
	for _, r := range op.Segment.Rows {
		if r < 1 || r > 500 {
			t.Fatalf("segment row %d is not a row of the operator's upload", r)
		}
	}
	if e := g.lastAudit(); e.Detail["disclosure"] != "lookalike-segment to operator" || e.Detail["digest.operator"] == e.Detail["digest.bank"] {
		t.Errorf("the run's entry does not record the disclosure: %v", e.Detail)
	}
}

func TestLookalikeSeedMinimum(t *testing.T) {
	f := newFixture(t)
	// 440 premium customers are matched; a minimum of 5000 refuses, on a
	// noisy count that is charged.
	f.lookalikeReady("5000", "", false)
	before := f.rhoUsed("bank-customers")
	status, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/queries", RunQueryRequest{Template: "lookalike"})
	if status != 403 || !strings.Contains(string(resp), "fewer than the template's minimum of 5000") {
		t.Fatalf("small seed = %d %s, want 403", status, resp)
	}
	// Exactly the seed count's ρ is charged, not the whole reservation.
	if after := f.rhoUsed("bank-customers"); math.Abs(after-before-0.1) > 1e-9 {
		t.Errorf("the refused run spent ρ %g → %g; want exactly the seed test's 0.1", before, after)
	}
}
