package httpapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/cleanroom-dev/cleanroom"
)

// TestIncidents: refusals in a room are its incidents, counted for every
// member; a reviewer triages each once; triage cannot reach an entry that
// is not a refusal of this room.
func TestIncidents(t *testing.T) {
	f := newFixture(t)
	list := func(who string) IncidentList {
		t.Helper()
		st, body := f.do(who, "GET", "/api/v1/rooms/r1/incidents", nil)
		if st != 200 {
			t.Fatalf("list incidents as %s = %d: %s", who, st, body)
		}
		var l IncidentList
		if err := json.Unmarshal(body, &l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	triage := func(who string, seq int64, verdict string) (int, string) {
		st, body := f.do(who, "POST", fmt.Sprintf("/api/v1/rooms/r1/incidents/%d/triage", seq), TriageRequest{Verdict: verdict})
		return st, string(body)
	}

	// Wrong role and wrong room, one each.
	if st, _ := f.do("payer", "POST", "/api/v1/rooms/r1/queries", RunQueryRequest{Template: "tiers"}); st != 403 {
		t.Fatalf("payer ran a query: %d", st)
	}
	wrongRole := f.lastAudit()
	if st, _ := f.do("outsider", "GET", "/api/v1/rooms/r1/datasets", nil); st != 404 {
		t.Fatalf("outsider listed datasets: %d", st)
	}
	wrongRoom := f.lastAudit()
	// A refusal in r2 is not r1's incident.
	f.do("outsider", "POST", "/api/v1/rooms/r2/queries", RunQueryRequest{Template: "none"})
	inR2 := f.lastAudit()

	l := list("analyst")
	seqs := map[int64]bool{}
	for _, in := range l.Incidents {
		if in.Entry.Room != "r1" || in.Entry.Outcome != cleanroom.OutcomeRefused {
			t.Errorf("incident %+v is not a refusal in r1", in.Entry)
		}
		seqs[in.Entry.Seq] = true
	}
	if !seqs[wrongRole.Seq] || !seqs[wrongRoom.Seq] || seqs[inR2.Seq] {
		t.Fatalf("incidents %v: want %d and %d, not %d", seqs, wrongRole.Seq, wrongRoom.Seq, inR2.Seq)
	}
	if l.Counts.Total != len(l.Incidents) || l.Counts.Untriaged != l.Counts.Total || l.Counts.Breach != 0 {
		t.Fatalf("counts %+v for %d incidents", l.Counts, len(l.Incidents))
	}

	// Only reviewers triage; a verdict is checked; each incident once.
	if st, body := triage("analyst", wrongRole.Seq, "breach"); st != 403 || !strings.Contains(body, "reviewer role") {
		t.Errorf("analyst triage = %d %s", st, body)
	}
	if st, body := triage("reviewer", wrongRole.Seq, "maybe"); st != 400 || !strings.Contains(body, "neither breach nor false_positive") {
		t.Errorf("bad verdict = %d %s", st, body)
	}
	if st, body := triage("reviewer", wrongRole.Seq, "breach"); st != 200 {
		t.Fatalf("triage = %d %s", st, body)
	}
	triaged := f.lastAudit()
	if triaged.Action != cleanroom.ActionIncidentTriage || triaged.Outcome != cleanroom.OutcomeOK || triaged.Detail["verdict"] != "breach" ||
		triaged.Object != fmt.Sprintf("incident:%d", wrongRole.Seq) {
		t.Errorf("triage audited as %+v", triaged)
	}
	if st, body := triage("reviewer", wrongRole.Seq, "false_positive"); st != 409 || !strings.Contains(body, "already triaged as breach") {
		t.Errorf("second triage = %d %s", st, body)
	}
	if st, body := triage("reviewer", wrongRoom.Seq, "false-positive"); st != 200 {
		t.Fatalf("triage = %d %s", st, body)
	}
	// Not incidents of r1: another room's refusal, a success, no entry.
	for _, seq := range []int64{inR2.Seq, triaged.Seq, 1 << 40} {
		if st, body := triage("reviewer", seq, "breach"); st != 404 || !strings.Contains(body, "not found in room") {
			t.Errorf("triage of entry %d = %d %s", seq, st, body)
		}
	}

	l = list("receiver")
	if l.Counts.Breach != 1 || l.Counts.FalsePositive != 1 || l.Counts.Untriaged != l.Counts.Total-2 {
		t.Errorf("counts after triage: %+v", l.Counts)
	}
	for _, in := range l.Incidents {
		if in.Entry.Outcome != cleanroom.OutcomeRefused {
			t.Errorf("entry %+v listed as an incident", in.Entry)
		}
		switch in.Entry.Seq {
		case wrongRole.Seq:
			if in.Verdict != cleanroom.VerdictBreach || in.TriagedBy == "" || in.TriagedAt == nil {
				t.Errorf("triaged incident reads %+v", in)
			}
		case wrongRoom.Seq:
			if in.Verdict != cleanroom.VerdictFalsePositive {
				t.Errorf("triaged incident reads %+v", in)
			}
		}
	}
	// The admin and outsiders see no incidents of r1.
	if st, _ := f.do("admin", "GET", "/api/v1/rooms/r1/incidents", nil); st != 403 {
		t.Errorf("admin listed incidents: %d", st)
	}
	if st, _ := f.do("outsider", "GET", "/api/v1/rooms/r1/incidents", nil); st != 404 {
		t.Errorf("outsider listed incidents: %d", st)
	}
}
