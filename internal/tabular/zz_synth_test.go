package tabular

import (
	"testing"

	"github.com/cleanroom-dev/cleanroom"
)

func TestZZSynth(t *testing.T) {
	subs := &cleanroom.Schema{
		Identifiers: []cleanroom.IdentifierColumn{
			{Column: "phone", Class: cleanroom.ClassPhone, Priority: 1},
			{Column: "email", Class: cleanroom.ClassEmail, Priority: 2},
			{Column: "device_id", Class: cleanroom.ClassDeviceID, Priority: 3},
		},
		Attributes: []cleanroom.AttributeColumn{
			{Column: "tier", Type: cleanroom.TypeString, Policy: cleanroom.PolicyDimension, Categories: []string{"basic", "standard", "premium"}},
			{Column: "region", Type: cleanroom.TypeString, Policy: cleanroom.PolicyFilter},
			{Column: "arpu", Type: cleanroom.TypeDecimal, Policy: cleanroom.PolicyMetric, Clamp: &[2]float64{0, 5000}, Scale: 2},
			{Column: "data_usage_gb", Type: cleanroom.TypeDecimal, Policy: cleanroom.PolicyDimension, Buckets: []float64{0, 1, 10, 100, 100000}},
			{Column: "signup_date", Type: cleanroom.TypeDate, Policy: cleanroom.PolicyFilter},
		},
	}
	bank := &cleanroom.Schema{
		Identifiers: []cleanroom.IdentifierColumn{
			{Column: "phone", Class: cleanroom.ClassPhone, Priority: 1},
			{Column: "email", Class: cleanroom.ClassEmail, Priority: 2},
		},
		Attributes: []cleanroom.AttributeColumn{
			{Column: "monthly_spend", Type: cleanroom.TypeDecimal, Policy: cleanroom.PolicyMetric, Clamp: &[2]float64{0, 20000}, Scale: 2},
			{Column: "default_flag", Type: cleanroom.TypeBool, Policy: cleanroom.PolicyDimension},
		},
	}
	for _, tc := range []struct {
		s    *cleanroom.Schema
		name string
	}{{subs, "operator_subscribers"}, {bank, "bank_customers"}} {
		var all [2][]Row
		for k, ext := range []string{".csv", ".parquet"} {
			r, err := Open("/tmp/synth/"+tc.name+ext, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			sc := NewScanner(tc.s, r)
			for sc.Scan() {
				row := *sc.Row()
				row.Identifiers = append([]string(nil), row.Identifiers...)
				row.Attributes = append([]Value(nil), row.Attributes...)
				all[k] = append(all[k], row)
			}
			t.Logf("%s%s: %+v err=%v", tc.name, ext, *sc.Result(), sc.Err())
			r.Close()
		}
		if len(all[0]) != len(all[1]) {
			t.Fatalf("len %d vs %d", len(all[0]), len(all[1]))
		}
		for i := range all[0] {
			if !equalRows(all[0][i], all[1][i]) {
				t.Fatalf("row %d: %+v vs %+v", i+1, all[0][i], all[1][i])
			}
		}
	}
}
