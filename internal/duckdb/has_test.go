package duckdb

import (
	"context"
	"reflect"
	"testing"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/engine"
)

// TestRunHas filters on an item of a ';'-separated list column: whole
// items only, and a value that looks like SQL or a pattern is a value.
func TestRunHas(t *testing.T) {
	schemas := map[string]*cleanroom.Schema{"customers": {
		Identifiers: []cleanroom.IdentifierColumn{{Column: "phone", Class: cleanroom.ClassPhone, Priority: 1}},
		Attributes:  []cleanroom.AttributeColumn{{Column: "products", Type: cleanroom.TypeString, Policy: cleanroom.PolicyFilter}},
	}}
	tp := &cleanroom.Template{
		Name: "uptake", Version: 1, Question: "How many hold a product?", Join: []string{"customers"},
		Parameters: map[string]cleanroom.Parameter{"product": {Type: cleanroom.ParamEnum, Values: []string{"deposit", "card", "%", "x') OR TRUE --"}}},
		Where:      []cleanroom.Filter{{Column: "customers.products", Op: cleanroom.OpHas, Param: "product"}},
		Metrics:    []cleanroom.Metric{{Name: "people", Kind: cleanroom.MetricCount}},
		Controls:   cleanroom.Controls{MinGroupSize: 100, Rho: 0.1, MaxGroupsPerPerson: 1, Receivers: []string{"bank"}},
	}
	if err := cleanroom.CheckTemplate(tp, schemas, map[string]string{"customers": "bank"}); err != nil {
		t.Fatal(err)
	}
	rows := [][]any{
		{0, "deposit;credit_card"},
		{1, "credit_card"}, // "card" is not an item
		{2, "deposit"},
		{3, ""},
		{4, "mortgage;deposit;card"},
	}
	for product, want := range map[string]int64{"deposit": 3, "card": 1, "%": 0, "x') OR TRUE --": 0} {
		p := compileWith(t, tp, schemas, map[string]string{"product": product})
		db := openTest(t)
		load(t, db, p, "customers", rows)
		res, err := db.Run(context.Background(), p, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got []engine.Group
		if want > 0 {
			got = []engine.Group{{Key: []int{}, People: want, Metrics: []engine.Aggregate{agg(want, want)}}}
		}
		if len(res.Groups) != len(got) || (want > 0 && (res.Groups[0].People != want || !reflect.DeepEqual(res.Groups[0].Metrics, got[0].Metrics))) {
			t.Errorf("products has %q: %+v, want %d people", product, res.Groups, want)
		}
	}

	// has applies to list columns only, not to columns with categories.
	schemas["customers"].Attributes[0].Categories = []string{"deposit", "card"}
	if err := cleanroom.CheckTemplate(tp, schemas, map[string]string{"customers": "bank"}); err == nil {
		t.Error("has accepted on a column with categories")
	}
}
