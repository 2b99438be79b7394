package httpapi

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/upload"
)

const optOutSchema = `{"opt_out": true, "identifiers":[{"column":"phone","class":"phone","priority":1}], "attributes": []}`

// putOptOut commits version 1 of the bank's opt-out list "bank-optouts"
// with the people ids (tokens as putVersion makes them).
func (f *fixture) putOptOut(ids []int) {
	f.t.Helper()
	h := upload.Header{Room: "r1", Dataset: "bank-optouts", Version: 1, Rows: len(ids),
		Identifiers: []upload.IdentifierField{{Column: "phone", Class: cleanroom.ClassPhone}}}
	var buf bytes.Buffer
	w, _ := upload.NewWriter(&buf, h)
	for _, i := range ids {
		var t upload.Token
		t[0], t[1], t[2], t[3] = 1, byte(i), byte(i>>8), byte(i>>16)
		w.Write(upload.Row{Tokens: []*upload.Token{&t}})
	}
	if err := w.Close(); err != nil {
		f.t.Fatal(err)
	}
	ctx := f.t.Context()
	f.srv.vault.CreateDataset(ctx, vaultID("r1", "bank-optouts"))
	vw, err := f.srv.vault.NewVersion(ctx, vaultID("r1", "bank-optouts"), 1)
	if err != nil {
		f.t.Fatal(err)
	}
	vw.Write(buf.Bytes())
	if err := vw.Commit(); err != nil {
		f.t.Fatal(err)
	}
	if err := f.db.Update(ctx, func(tx *sqlite.Tx) error {
		if err := tx.CreateDataset(sqlite.DatasetRecord{Room: "r1", Name: "bank-optouts", Party: "bank", Schema: []byte(optOutSchema), CreatedAt: f.now}); err != nil {
			return err
		}
		return tx.CommitVersion(sqlite.VersionRecord{Room: "r1", Dataset: "bank-optouts", Version: 1, Rows: len(ids), Stats: []byte("{}"), CommittedAt: f.now}, nil)
	}); err != nil {
		f.t.Fatal(err)
	}
}

// exactPeople runs "tiers" in the engine without noise and returns the
// true number of people per tier that would reach the privacy core.
func (f *fixture) exactPeople() map[string]int64 {
	f.t.Helper()
	ctx := f.t.Context()
	q, err := f.srv.planQuery(ctx, "r1", "tiers", 0, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	reads, _, err := f.srv.withoutOptOuts(ctx, "r1", q.reads, q.datasets)
	if err != nil {
		f.t.Fatal(err)
	}
	res, err := f.srv.execute(ctx, "r1", q.plan, reads, q.datasets, EngineDuckDB)
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]int64{}
	for _, g := range res.Groups {
		out[q.plan.Keys[0].Labels[g.Key[0]]] = g.People
	}
	return out
}

func TestOptOutExcludesPeople(t *testing.T) {
	f := newFixture(t)
	// 450 joined people: the bank's first 440 are premium, 10 basic.
	f.queryReady("  receivers: [bank]\n")
	if got := f.exactPeople(); got["premium"] != 440 || got["basic"] != 10 {
		t.Fatalf("before any opt-out: %v", got)
	}

	// The bank's opt-out list names 100 premium joined people and 5 people
	// who are not its customers.
	var ids []int
	for i := range 100 {
		ids = append(ids, i)
	}
	ids = append(ids, 1<<21, 1<<21+1, 1<<21+2, 1<<21+3, 1<<21+4)
	f.putOptOut(ids)

	// At once, with the match made before the list: they no longer count.
	if got := f.exactPeople(); got["premium"] != 340 || got["basic"] != 10 {
		t.Fatalf("after the opt-out, with the earlier match: %v, want premium 340, basic 10", got)
	}
	// A run says which lists it applied.
	runs(t, f)
	if e := f.lastAudit(); e.Action != cleanroom.ActionQueryRun || e.Detail["opt_outs"] != "bank: bank-optouts v1" {
		t.Errorf("run audited as %+v, want the list applied named", e)
	}

	// A new match leaves them out of the room people itself, and never
	// matches the list.
	status, resp := f.do("provider", "POST", "/api/v1/rooms/r1/matches", nil)
	if status != 201 {
		t.Fatalf("match = %d %s", status, resp)
	}
	var run MatchRunBody
	json.Unmarshal(resp, &run)
	a, err := f.srv.ReadAssignment(t.Context(), "r1")
	if err != nil {
		t.Fatal(err)
	}
	for _, ds := range a.Datasets {
		if ds.Dataset == "bank-optouts" {
			t.Fatal("the opt-out list was matched")
		}
		if ds.Dataset != "bank-customers" {
			continue
		}
		for row := range 100 {
			if ds.Rows[row] >= 0 {
				t.Fatalf("opted-out row %d is room person %d", row, ds.Rows[row])
			}
		}
		if ds.Rows[100] < 0 {
			t.Error("row 100, not on the list, lost its room person")
		}
	}
	if got := f.exactPeople(); got["premium"] != 340 || got["basic"] != 10 {
		t.Fatalf("after a new match: %v, want premium 340, basic 10", got)
	}

	// No template reads an opt-out list.
	yaml := strings.Replace(testTemplate, "join: [bank-customers]", "join: [bank-customers, bank-optouts]", 1)
	yaml = strings.Replace(yaml, "name: tiers", "name: probe", 1)
	if status, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/templates", ProposeTemplateRequest{YAML: yaml}); status != 400 || !strings.Contains(string(resp), "opt-out list") {
		t.Errorf("template joining the opt-out list = %d %s, want 400", status, resp)
	}

	// The list outlives retention while the agreement is in force.
	f.now = f.now.AddDate(0, 0, 91)
	if _, err := f.srv.SweepRetention(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !f.srv.vault.HasDataset(vaultID("r1", "bank-optouts")) {
		t.Error("retention deleted the opt-out list while the agreement is in force")
	}
}
