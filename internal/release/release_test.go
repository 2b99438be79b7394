package release

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/cleanroom-dev/cleanroom/internal/dp"
)

var metrics = []Metric{
	{Name: "people", Kind: Count},
	{Name: "spend", Kind: Sum, Lo: 0, Hi: 100_00, Decimals: 2},
	{Name: "avg_spend", Kind: Avg, Lo: 0, Hi: 100_00, Decimals: 2},
}

func controls(noise dp.Noise) Controls {
	return Controls{MinGroupSize: 100, Rho: 0.3, L0: 1, SelectionEpsilon: 1, SelectionDelta: 1e-9, Noise: noise}
}

// TestNeverBelowMinimum: a group of k−1 people is never shown, with real
// noise, over many releases; a total never includes it.
func TestNeverBelowMinimum(t *testing.T) {
	groups := []Group{
		{Key: []string{"small"}, People: 99, Sums: []int64{0, 99 * 50_00, 99 * 50_00}},
		{Key: []string{"large"}, People: 5000, Sums: []int64{0, 5000 * 50_00, 5000 * 50_00}},
	}
	for range 300 {
		r, err := Apply(controls(nil), metrics, groups)
		if err != nil {
			t.Fatal(err)
		}
		var total0, total1 float64
		for _, c := range r.Cells {
			if c.Key[0] == "small" {
				t.Fatal("a group of 99 people was released with a minimum of 100")
			}
			total0 += c.Values[0]
			total1 += c.Values[1]
		}
		if r.Suppressed != 1 {
			t.Fatalf("suppressed %d cells, want 1", r.Suppressed)
		}
		if *r.Metrics[0].Total != total0 || *r.Metrics[1].Total != total1 || r.Metrics[2].Total != nil {
			t.Fatalf("totals %v, %v, %v are not the sums of the shown cells %v, %v (and none for the average)",
				*r.Metrics[0].Total, *r.Metrics[1].Total, r.Metrics[2].Total, total0, total1)
		}
		// Every release encodes as JSON, averages included.
		if _, err := json.Marshal(r); err != nil {
			t.Fatalf("release does not encode: %v", err)
		}
	}
}

func TestZeroNoiseIsExact(t *testing.T) {
	groups := []Group{{Key: []string{"a"}, People: 1000, Sums: []int64{0, 1000 * 12_34, 1000 * 12_34}}}
	r, err := Apply(controls(dp.ZeroNoise{}), metrics, groups)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Cells) != 1 {
		t.Fatalf("cells %+v", r.Cells)
	}
	got := r.Cells[0].Values
	if got[0] != 1000 || math.Abs(got[1]-12340) > 1e-9 || math.Abs(got[2]-12.34) > 1e-9 {
		t.Errorf("values = %v, want [1000 12340 12.34]", got)
	}
	if r.Metrics[1].Noise.StdDev <= 0 {
		t.Errorf("no error bar: %+v", r.Metrics[1].Noise)
	}
	for i, e := range r.Cells[0].Interval95 {
		if e <= 0 {
			t.Errorf("metric %s of the cell has no error bar", metrics[i].Name)
		}
	}
	// Coarsening rounds the noisy value.
	c := controls(dp.ZeroNoise{})
	c.Coarsen = 100
	r, _ = Apply(c, metrics, []Group{{Key: []string{"a"}, People: 1049, Sums: []int64{0, 0, 0}}})
	if r.Cells[0].Values[0] != 1000 {
		t.Errorf("coarsened count = %v, want 1000", r.Cells[0].Values[0])
	}
}

func TestPlanLoss(t *testing.T) {
	loss, err := Plan(controls(nil), metrics)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(loss.Rho-0.3) > 1e-9 || loss.Epsilon != 1 || loss.Delta != 1e-9 {
		t.Errorf("Plan = %+v, want rho 0.3 plus the selection's (1, 1e-9)", loss)
	}
}

func TestUnclampedSumRefused(t *testing.T) {
	groups := []Group{{Key: []string{"a"}, People: 1000, Sums: []int64{0, 1000*100_00 + 1, 0}}}
	if _, err := Apply(controls(dp.ZeroNoise{}), metrics, groups); err == nil {
		t.Fatal("a sum above people·hi was released")
	}
}

// TestDifferencing: two releases whose groups differ by one person with a
// spend of x. The attacker estimates x as the difference of the two noisy
// sums; over many trials the estimate's mean squared error is the noise's
// 2σ², as the mechanism predicts — the difference tells no more than that.
// With 4000 trials the sample MSE is within ±15 % of 2σ² except with
// probability below 10⁻⁹ (chi-square with 4000 degrees of freedom).
func TestDifferencing(t *testing.T) {
	const x = 73_00 // the person's spend, scaled
	one := []Metric{{Name: "spend", Kind: Sum, Lo: 0, Hi: 100_00, Decimals: 2}}
	with := []Group{{Key: []string{"a"}, People: 2001, Sums: []int64{2000*40_00 + x}}}
	without := []Group{{Key: []string{"a"}, People: 2000, Sums: []int64{2000 * 40_00}}}
	ctl := controls(nil)
	var sse, sigma float64
	const trials = 4000
	for range trials {
		r1, err := Apply(ctl, one, with)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := Apply(ctl, one, without)
		if err != nil {
			t.Fatal(err)
		}
		if len(r1.Cells) != 1 || len(r2.Cells) != 1 {
			t.Fatal("a group of 2000 people was suppressed")
		}
		est := r1.Cells[0].Values[0] - r2.Cells[0].Values[0]
		sse += (est - x/100.0) * (est - x/100.0)
		sigma = r1.Metrics[0].Noise.StdDev
	}
	mse, want := sse/trials, 2*sigma*sigma
	if mse < 0.85*want || mse > 1.15*want {
		t.Errorf("the attacker's mean squared error is %.0f, the noise predicts %.0f", mse, want)
	}
	t.Logf("differencing: MSE %.0f vs 2σ² %.0f (σ = %.1f per release); the person's value was %d", mse, want, sigma, x/100)
}

func TestPreview(t *testing.T) {
	p, err := PreviewOf(controls(nil), metrics)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Metrics) != 3 || p.Metrics[0].Noise.StdDev <= 0 || len(p.Keep) < 3 {
		t.Fatalf("preview = %+v", p)
	}
	if p.Keep[0].N != 99 || p.Keep[0].P != 0 {
		t.Errorf("keep curve starts at %+v, want n = 99 with p = 0", p.Keep[0])
	}
	if last := p.Keep[len(p.Keep)-1]; last.P < 0.99 {
		t.Errorf("keep curve ends at %+v, want near-certain release", last)
	}
}
