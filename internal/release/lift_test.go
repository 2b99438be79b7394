package release

import (
	"math"
	"testing"

	"github.com/cleanroom-dev/cleanroom/internal/dp"
)

func TestLiftOf(t *testing.T) {
	r := &Release{
		Metrics: []MetricRelease{{Name: "people", Noise: dp.Record{StdDev: 3}}, {Name: "conversions", Noise: dp.Record{StdDev: 4}}},
		Cells: []Cell{
			{Key: []string{"b", "exposed"}, Values: []float64{1000, 50}},
			{Key: []string{"b", "holdout"}, Values: []float64{400, 12}},
			{Key: []string{"a", "exposed"}, Values: []float64{500, 30}},
			// a's holdout arm was not shown: no lift for a.
			{Key: []string{"c", "exposed"}, Values: []float64{200, -3}}, // a noisy negative count reads as 0
			{Key: []string{"c", "holdout"}, Values: []float64{100, 2}},
		},
	}
	got := LiftOf(r)
	if len(got) != 2 || got[0].Campaign != "b" || got[1].Campaign != "c" {
		t.Fatalf("LiftOf = %+v, want campaigns b and c", got)
	}
	b := got[0]
	pe, ph := 0.05, 0.03
	ve := pe*(1-pe)/1000 + (16+pe*pe*9)/1e6
	vh := ph*(1-ph)/400 + (16+ph*ph*9)/(400*400)
	if math.Abs(b.ExposedRate-pe) > 1e-12 || math.Abs(b.HoldoutRate-ph) > 1e-12 || math.Abs(b.Lift-0.02) > 1e-12 ||
		math.Abs(b.Relative-0.02/0.03) > 1e-12 || math.Abs(b.Interval95-1.959963984540054*math.Sqrt(ve+vh)) > 1e-12 {
		t.Errorf("lift of b = %+v", b)
	}
	if c := got[1]; c.ExposedRate != 0 || math.Abs(c.Lift+0.02) > 1e-12 {
		t.Errorf("lift of c = %+v, want a rate of 0 for the negative count", c)
	}
	if LiftOf(&Release{Metrics: []MetricRelease{{}}}) != nil {
		t.Error("LiftOf of a release with one metric")
	}
}
