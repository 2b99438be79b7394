package httpapi

import (
	"encoding/json"
	"math"
	"strconv"
	"testing"

	"github.com/cleanroom-dev/cleanroom/internal/upload"
)

const liftTemplate = `name: lift
question: Did c1 lift mortgages?
join: [exposures, conversions, custs]
attribution:
  campaign: exposures.campaign
  exposed_at: exposures.exposed_at
  holdout: exposures.holdout
  product: conversions.product
  converted_at: conversions.converted_at
  population: custs
  campaigns:
    c1: {product: mortgage, from: 2024-01-08, to: 2024-02-05}
  lookback_days: 7
  max_conversions_per_person: 1
controls:
  min_group_size: 100
  rho: 0.4
  max_groups_per_person: 1
  receivers: [bank]
`

// TestAttribution checks the job's exact aggregates on crafted data: the
// arms, the population, the window and the per-person cap.
func TestAttribution(t *testing.T) {
	f := newFixture(t)
	f.hmacRoom()
	// People 0-599 were exposed to c1, 600-799 held out, 950-999 exposed
	// but are not the bank's customers; customers are 0-899.
	var exposedIDs, custIDs []int
	for i := range 1000 {
		if i < 800 || i >= 950 {
			exposedIDs = append(exposedIDs, i)
		}
		if i < 900 {
			custIDs = append(custIDs, i)
		}
	}
	f.putTable("exposures", "operator",
		`{"identifiers":[{"column":"phone","class":"phone","priority":1}],"attributes":[
		  {"column":"campaign","type":"string","policy":"filter"},
		  {"column":"exposed_at","type":"date","policy":"filter"},
		  {"column":"holdout","type":"bool","policy":"filter"}]}`,
		[]upload.AttributeField{{Column: "campaign", Type: "string"}, {Column: "exposed_at", Type: "date"}, {Column: "holdout", Type: "bool"}},
		exposedIDs, func(i int) []string { return []string{"c1", "2024-01-10", strconv.FormatBool(i >= 600 && i < 800)} })
	// Conversions to mortgage: 0-59 inside the window (0-9 twice, counted
	// once), 60-99 after it, 600-619 inside, 950-999 inside (not customers),
	// 100-139 to another product.
	var convIDs []int
	var convValues [][]string
	add := func(i int, product, day string) {
		convIDs = append(convIDs, i)
		convValues = append(convValues, []string{product, day})
	}
	for i := range 60 {
		add(i, "mortgage", "2024-01-15")
	}
	for i := range 10 {
		add(i, "mortgage", "2024-02-10")
	}
	for i := 60; i < 100; i++ {
		add(i, "mortgage", "2024-02-20")
	}
	for i := 600; i < 620; i++ {
		add(i, "mortgage", "2024-02-12")
	}
	for i := 950; i < 1000; i++ {
		add(i, "mortgage", "2024-01-20")
	}
	for i := 100; i < 140; i++ {
		add(i, "deposit", "2024-01-20")
	}
	row := 0
	f.putTable("conversions", "bank",
		`{"identifiers":[{"column":"phone","class":"phone","priority":1}],"attributes":[
		  {"column":"product","type":"string","policy":"filter"},
		  {"column":"converted_at","type":"date","policy":"filter"}]}`,
		[]upload.AttributeField{{Column: "product", Type: "string"}, {Column: "converted_at", Type: "date"}},
		convIDs, func(int) []string { row++; return convValues[row-1] })
	f.putTable("custs", "bank", `{"identifiers":[{"column":"phone","class":"phone","priority":1}],"attributes":[]}`, nil, custIDs,
		func(int) []string { return nil })
	if status, resp := f.do("provider", "POST", "/api/v1/rooms/r1/matches", nil); status != 201 {
		t.Fatalf("match = %d %s", status, resp)
	}
	f.approvedUnderDUA("lift", liftTemplate)
	// The exact aggregates, before any noise.
	ctx := t.Context()
	q, err := f.srv.planQuery(ctx, "r1", "lift", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := f.srv.attribute(ctx, "r1", &q.template, q.reads)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]int64{"exposed": {600, 60}, "holdout": {200, 20}}
	for _, g := range groups {
		w := want[g.Key[1]]
		if g.Key[0] != "c1" || g.People != w[0] || g.Sums[1] != w[1] {
			t.Errorf("group %v: %d people, %d conversions; want %v", g.Key, g.People, g.Sums[1], w)
		}
	}
	// The run releases them with noise, and the lift.
	if status, resp := f.do("provider", "PUT", "/api/v1/rooms/r1/agent/key", f.agentKey("bank")); status != 200 {
		t.Fatalf("agent key = %d %s", status, resp)
	}
	status, resp := f.do("analyst", "POST", "/api/v1/rooms/r1/queries", RunQueryRequest{Template: "lift"})
	if status != 201 {
		t.Fatalf("run = %d %s", status, resp)
	}
	var qb QueryBody
	json.Unmarshal(resp, &qb)
	rel := f.open("bank", qb.ID)
	if len(rel.Lift) != 1 || math.Abs(rel.Lift[0].Lift-0) > rel.Lift[0].Interval95 {
		t.Errorf("lift %+v: the arms convert at 10 %% each", rel.Lift)
	}
}
