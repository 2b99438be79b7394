package httpapi

import (
	"encoding/json"
	"testing"
)

// TestOverrunIsCharged: a release or a match report whose noise was drawn
// but overran its padded deadline is not shown, and its budget is spent
// all the same, so a failure cannot be retried for free.
func TestOverrunIsCharged(t *testing.T) {
	f := newFixture(t)
	f.queryReady("  receivers: [bank]\n")
	before := f.rhoUsed("bank-customers")
	saved := releasePadding
	releasePadding = 0 // every release overruns
	status, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/queries", RunQueryRequest{Template: "tiers"})
	releasePadding = saved
	if status < 500 {
		t.Fatalf("a run whose release overran = %d %s, want a server error", status, resp)
	}
	if spent := f.rhoUsed("bank-customers") - before; spent < 0.1-1e-9 {
		t.Errorf("a release that overran spent ρ %v, want the template's 0.1", spent)
	}

	before = f.rhoUsed("bank-customers")
	savedNoise := noisePadding
	noisePadding = 0
	status, resp = f.do("provider", "POST", "/api/v1/rooms/r1/matches", nil)
	noisePadding = savedNoise
	if status != 201 {
		t.Fatalf("match = %d %s", status, resp)
	}
	var run MatchRunBody
	json.Unmarshal(resp, &run)
	_, resp = f.do("analyst", "GET", "/api/v1/rooms/r1/matches/"+run.ID, nil)
	json.Unmarshal(resp, &run)
	if run.State != "failed" || run.Report != nil {
		t.Fatalf("a match run whose report overran = %s", resp)
	}
	if spent := f.rhoUsed("bank-customers") - before; spent < matchPairRho-1e-9 {
		t.Errorf("a match report that overran spent ρ %v, want %v", spent, matchPairRho)
	}
}
