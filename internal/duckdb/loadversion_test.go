package duckdb

import (
	"bytes"
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/cleanroom-dev/cleanroom/internal/engine"
	"github.com/cleanroom-dev/cleanroom/internal/upload"
)

// payload writes a dataset version with every attribute of fields; values
// of the columns in cols come from rows (person first), the others are
// filled with fill. It returns a reader and the rows' persons.
func payload(t *testing.T, dataset string, fields []upload.AttributeField, cols []string, fill map[string]string, rows [][]any) (*upload.Reader, []int32) {
	t.Helper()
	var buf bytes.Buffer
	w, err := upload.NewWriter(&buf, upload.Header{Room: "r", Dataset: dataset, Version: 1, Rows: len(rows),
		Identifiers: []upload.IdentifierField{{Column: "phone", Class: "phone"}}, Attributes: fields})
	if err != nil {
		t.Fatal(err)
	}
	var persons []int32
	for _, r := range rows {
		persons = append(persons, int32(r[0].(int)))
		var vals []string
		for _, f := range fields {
			v := fill[f.Column]
			for i, c := range cols {
				if c == f.Column {
					v = r[i+1].(string)
				}
			}
			vals = append(vals, v)
		}
		if err := w.Write(upload.Row{Tokens: []*upload.Token{nil}, Values: vals}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rd, err := upload.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return rd, persons
}

// TestLoadVersion loads the crafted data from payloads that hold more
// columns than the plan reads, in another order, and gets TestRunCrafted's
// result.
func TestLoadVersion(t *testing.T) {
	ctx := context.Background()
	p := compilePlan(t, filepath.Join("testdata", "crafted-spend.yaml"), testSchemas(t), nil, nil)
	db := openTest(t)
	subs, subPersons := payload(t, "subscribers", []upload.AttributeField{
		{Column: "tier", Type: "string"}, {Column: "region", Type: "string"}, {Column: "payment_behaviour", Type: "string"},
	}, []string{"payment_behaviour", "tier"}, map[string]string{"region": "north"}, craftedSubscribers)
	if n, err := db.LoadVersion(ctx, p, "subscribers", subs, subPersons); err != nil || n != len(craftedSubscribers)-1 {
		t.Fatalf("LoadVersion(subscribers) = %d, %v; want %d rows", n, err, len(craftedSubscribers)-1)
	}
	cust, custPersons := payload(t, "customers", []upload.AttributeField{
		{Column: "balance", Type: "decimal"}, {Column: "monthly_spend", Type: "decimal"},
	}, []string{"monthly_spend"}, map[string]string{"balance": "1.00"}, craftedCustomers)
	if _, err := db.LoadVersion(ctx, p, "customers", cust, custPersons[1:]); err == nil {
		t.Error("LoadVersion with one person too few succeeded")
	}
	cust, custPersons = payload(t, "customers", []upload.AttributeField{
		{Column: "balance", Type: "decimal"}, {Column: "monthly_spend", Type: "decimal"},
	}, []string{"monthly_spend"}, map[string]string{"balance": "1.00"}, craftedCustomers)
	if _, err := db.LoadVersion(ctx, p, "customers", cust, custPersons); err != nil {
		t.Fatal(err)
	}
	res, err := db.Run(ctx, p, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []engine.Group{
		{Key: []int{0}, People: 2, Metrics: []engine.Aggregate{agg(2, 2), agg(18000, 2)}},
		{Key: []int{1}, People: 2, Metrics: []engine.Aggregate{agg(2, 2), agg(10000, 1)}},
		{Key: []int{2}, People: 3, Metrics: []engine.Aggregate{agg(3, 3), agg(20700, 3)}},
	}
	if !reflect.DeepEqual(res.Groups, want) {
		t.Errorf("Run = %+v\nwant  %+v", res.Groups, want)
	}
	// A payload without a column the plan reads.
	other, persons := payload(t, "customers", []upload.AttributeField{{Column: "balance", Type: "decimal"}}, nil, nil, [][]any{{0}})
	if _, err := db.LoadVersion(ctx, p, "customers", other, persons); err == nil {
		t.Error("LoadVersion of a payload without monthly_spend succeeded")
	}
}
