package dpml

import (
	"math"
	"math/big"
	"strings"
	"sync"
	"testing"

	"github.com/cleanroom-dev/cleanroom/internal/dp"
)

func TestBinOf(t *testing.T) {
	for _, tc := range []struct {
		score float64
		bins  int
		want  int
	}{
		{0, 10, 0},
		{0.05, 10, 0},
		{0.1, 10, 1},
		{0.55, 10, 5},
		{0.99, 10, 9},
		{1, 10, 9},
		{0.5, 2, 1},
		{0.4999, 2, 0},
		{0.999, 1000, 999},
	} {
		got, err := BinOf(tc.score, tc.bins)
		if err != nil || got != tc.want {
			t.Errorf("BinOf(%v, %d) = %d, %v, want %d", tc.score, tc.bins, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		score float64
		bins  int
	}{
		{-0.1, 10}, {1.1, 10}, {math.NaN(), 10}, {math.Inf(1), 10}, {0.5, 1}, {0.5, 0}, {0.5, MaxBins + 1},
	} {
		if got, err := BinOf(tc.score, tc.bins); err == nil {
			t.Errorf("BinOf(%v, %d) = %d, want error", tc.score, tc.bins, got)
		}
	}
}

// handHistogram returns scores and labels with pos[j] positives and neg[j]
// negatives at the middle of bin j of len(pos) bins.
func handHistogram(pos, neg []int) ([]float64, []bool) {
	var scores []float64
	var labels []bool
	bins := float64(len(pos))
	for j := range pos {
		s := (float64(j) + 0.5) / bins
		for range pos[j] {
			scores, labels = append(scores, s), append(labels, true)
		}
		for range neg[j] {
			scores, labels = append(scores, s), append(labels, false)
		}
	}
	return scores, labels
}

// Without noise, the evaluation of a hand-made histogram is exactly what
// the definitions give, worked out by hand below.
func TestEvaluateExact(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pos, neg []int
		auc, ks  float64
		rates    []float64
	}{
		{
			// P = N = 10. AUC = Σ Pⱼ(N₍<ⱼ₎ + Nⱼ/2)/(PN)
			// = (1·2 + 2·5.5 + 3·8 + 4·9.5)/100 = 75/100.
			// Cumulative P: .1 .3 .6 1; N: .4 .7 .9 1; KS = .7 − .3.
			name: "symmetric", pos: []int{1, 2, 3, 4}, neg: []int{4, 3, 2, 1},
			auc: 0.75, ks: 0.4, rates: []float64{0.2, 0.4, 0.6, 0.8},
		},
		{
			// P = 10, N = 13. AUC = (1·(5 + 2) + 3·(12 + 0.5) + 6·13)/130
			// = 122.5/130 = 49/52. Cumulative P: 0 1 1 4 10 (/10), N: 5 9
			// 12 13 13 (/13); gaps ·130: 50 77 107 78 0, KS = 107/130.
			name: "skewed", pos: []int{0, 1, 0, 3, 6}, neg: []int{5, 4, 3, 1, 0},
			auc: 49.0 / 52, ks: 107.0 / 130, rates: []float64{0, 0.2, 0, 0.75, 1},
		},
		{
			// All in one bin: every pair ties. AUC = 1/2, KS = 0.
			name: "ties", pos: []int{0, 3, 0}, neg: []int{0, 5, 0},
			auc: 0.5, ks: 0, rates: []float64{0, 0.375, 0},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scores, labels := handHistogram(tc.pos, tc.neg)
			bins := len(tc.pos)
			e, loss, err := Evaluate(scores, labels, bins, 0.5, dp.ZeroNoise{})
			if err != nil {
				t.Fatal(err)
			}
			if loss != (dp.Loss{Rho: 0.5}) {
				t.Errorf("loss = %+v, want ρ = 0.5 once for the whole histogram", loss)
			}
			var p, n int64
			for j, b := range e.Bins {
				if b.Positives != int64(tc.pos[j]) || b.Negatives != int64(tc.neg[j]) {
					t.Errorf("bin %d = %d positives, %d negatives, want %d, %d", j, b.Positives, b.Negatives, tc.pos[j], tc.neg[j])
				}
				if b.DefaultRate != tc.rates[j] {
					t.Errorf("bin %d default rate = %v, want %v", j, b.DefaultRate, tc.rates[j])
				}
				if b.Lo != float64(j)/float64(bins) || b.Hi != float64(j+1)/float64(bins) {
					t.Errorf("bin %d = [%v, %v), want [%d/%d, %d/%d)", j, b.Lo, b.Hi, j, bins, j+1, bins)
				}
				if b.StdDev != e.CellStdDev || !(b.StdDev > 0) {
					t.Errorf("bin %d std dev = %v, want the cell std dev %v > 0", j, b.StdDev, e.CellStdDev)
				}
				p += int64(tc.pos[j])
				n += int64(tc.neg[j])
			}
			if e.Positives != p || e.Negatives != n || e.Total != p+n {
				t.Errorf("totals = %d/%d/%d, want %d/%d/%d", e.Positives, e.Negatives, e.Total, p, n, p+n)
			}
			if want := float64(p) / float64(p+n); e.DefaultRate != want {
				t.Errorf("default rate = %v, want %v", e.DefaultRate, want)
			}
			if e.AUC != tc.auc {
				t.Errorf("AUC = %v, want %v", e.AUC, tc.auc)
			}
			if e.KS != tc.ks {
				t.Errorf("KS = %v, want %v", e.KS, tc.ks)
			}
			if want := math.Sqrt(float64(2*bins)) * e.CellStdDev; math.Abs(e.TotalStdDev-want) > 1e-12 {
				t.Errorf("total std dev = %v, want √(2B)·σ = %v", e.TotalStdDev, want)
			}
			if e.Record.Rho != 0.5 || e.Record.StdDev != e.CellStdDev {
				t.Errorf("record = %+v, want ρ 0.5 and the cell std dev", e.Record)
			}
		})
	}
}

// With no positives (or negatives) AUC and KS are undefined and zero.
func TestEvaluateOneClass(t *testing.T) {
	scores, labels := handHistogram([]int{0, 0}, []int{3, 4})
	e, _, err := Evaluate(scores, labels, 2, 1, dp.ZeroNoise{})
	if err != nil {
		t.Fatal(err)
	}
	if e.AUC != 0 || e.KS != 0 || e.DefaultRate != 0 || e.Total != 7 {
		t.Errorf("evaluation of negatives only = %+v, want AUC = KS = rate = 0, total 7", e)
	}
	e, _, err = Evaluate(nil, nil, 2, 1, dp.ZeroNoise{})
	if err != nil {
		t.Fatal(err)
	}
	if e.Total != 0 || e.DefaultRate != 0 || e.Bins[0].DefaultRate != 0 {
		t.Errorf("evaluation of nobody = %+v, want zeros", e)
	}
}

// recordingNoise returns zero noise and records the variances it was
// asked for.
type recordingNoise struct {
	mu       sync.Mutex
	gaussian []*big.Rat
	laplace  int
}

func (r *recordingNoise) DiscreteLaplace(*big.Rat) (*big.Int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.laplace++
	return new(big.Int), nil
}

func (r *recordingNoise) DiscreteGaussian(sigma2 *big.Rat) (*big.Int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gaussian = append(r.gaussian, new(big.Rat).Set(sigma2))
	return new(big.Int), nil
}

// Every one of the 2B cells is a count with discrete Gaussian noise of
// σ² = 1/(2ρ): sensitivity 1 with L0 = 1.
func TestEvaluateNoiseScale(t *testing.T) {
	rec := &recordingNoise{}
	scores, labels := handHistogram([]int{1, 2, 3}, []int{3, 2, 1})
	if _, _, err := Evaluate(scores, labels, 3, 0.125, rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.gaussian) != 6 || rec.laplace != 0 {
		t.Fatalf("Evaluate drew %d gaussian and %d laplace samples, want 6 gaussian", len(rec.gaussian), rec.laplace)
	}
	for k, v := range rec.gaussian {
		if v.Cmp(big.NewRat(4, 1)) != 0 {
			t.Errorf("cell %d: σ² = %v, want 1/(2·0.125) = 4", k, v.RatString())
		}
	}
}

// With real noise each released cell is within 6.5σ of its true count.
// The discrete Gaussian is σ-subgaussian (Canonne, Kamath and Steinke 2020),
// so P[|Z| ≥ 6.5σ] ≤ 2·e^{−6.5²/2} < 1.4·10⁻⁹ per cell; 20 cells: the
// test fails by chance with probability below 2.7·10⁻⁸. True counts are
// at least 1000 ≫ 6.5σ = 65, so clamping never applies. That no cell is
// exact (noise was added) fails by chance with probability below
// P[Z = 0]^20 < 0.04^20.
func TestEvaluateNoise(t *testing.T) {
	t.Parallel()
	const bins, rho = 10, 0.005 // σ² = 100
	pos := make([]int, bins)
	neg := make([]int, bins)
	for j := range bins {
		pos[j] = 1000 + 100*j
		neg[j] = 2000 - 100*j
	}
	scores, labels := handHistogram(pos, neg)
	e, loss, err := Evaluate(scores, labels, bins, rho, nil)
	if err != nil {
		t.Fatal(err)
	}
	if loss != (dp.Loss{Rho: rho}) {
		t.Errorf("loss = %+v, want ρ = %v", loss, rho)
	}
	sigma := math.Sqrt(1 / (2 * rho))
	if math.Abs(e.CellStdDev-sigma) > 1e-3*sigma {
		t.Errorf("cell std dev = %v, want ≈ σ = %v", e.CellStdDev, sigma)
	}
	exact := 0
	for j, b := range e.Bins {
		for _, c := range []struct {
			what       string
			got, truth int64
		}{{"positives", b.Positives, int64(pos[j])}, {"negatives", b.Negatives, int64(neg[j])}} {
			if math.Abs(float64(c.got-c.truth)) > 6.5*sigma {
				t.Errorf("bin %d %s = %d, want %d ± %.0f", j, c.what, c.got, c.truth, 6.5*sigma)
			}
			if c.got == c.truth {
				exact++
			}
		}
	}
	if exact == 2*bins {
		t.Error("every cell equals its true count: no noise was added")
	}
}

func TestEvaluateRejects(t *testing.T) {
	scores, labels := handHistogram([]int{1, 1}, []int{1, 1})
	for _, tc := range []struct {
		name   string
		scores []float64
		labels []bool
		bins   int
		rho    float64
		want   string
	}{
		{"length mismatch", scores, labels[:3], 2, 1, "4 scores but 3 labels"},
		{"one bin", scores, labels, 1, 1, "bins must be in [2, 1000]"},
		{"too many bins", scores, labels, MaxBins + 1, 1, "bins must be in [2, 1000]"},
		{"zero rho", scores, labels, 2, 0, "rho must be positive"},
		{"NaN rho", scores, labels, 2, math.NaN(), "rho must be a finite number"},
		{"score above 1", []float64{0.1, 1.5, 0.2, 0.3}, labels, 2, 1, "row 1: score bin: score must be in [0, 1]"},
		{"NaN score", []float64{0.1, 0.2, 0.3, math.NaN()}, labels, 2, 1, "row 3: score bin: score must be in [0, 1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, loss, err := Evaluate(tc.scores, tc.labels, tc.bins, tc.rho, failNoise{t})
			if err == nil {
				t.Fatalf("Evaluate succeeded with %+v, want error %q", e, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "evaluate: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Evaluate error = %q, want it to start with \"evaluate: \" and contain %q", err, tc.want)
			}
			if loss != (dp.Loss{}) {
				t.Errorf("Evaluate refused the input but reported spending %+v", loss)
			}
		})
	}
}
