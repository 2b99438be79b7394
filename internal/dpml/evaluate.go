package dpml

import (
	"fmt"
	"math"

	"github.com/cleanroom-dev/cleanroom/internal/dp"
)

// MaxBins is the most score bins Evaluate accepts.
const MaxBins = 1000

// BinOf returns the score bin of score among bins equal-width bins of
// [0, 1]: ⌊score·bins⌋ computed in float64, with a score of 1 in the last
// bin. Bin j thus holds the scores in [j/bins, (j+1)/bins), up to the
// rounding of the product at the edges. The edges depend only on bins,
// never on data. score must be in [0, 1] and bins in [2, MaxBins].
func BinOf(score float64, bins int) (int, error) {
	if bins < 2 || bins > MaxBins {
		return 0, fmt.Errorf("score bin: bins must be in [2, %d], got %d", MaxBins, bins)
	}
	if !(score >= 0 && score <= 1) {
		return 0, fmt.Errorf("score bin: score must be in [0, 1]")
	}
	return min(int(score*float64(bins)), bins-1), nil
}

// Bin is one score bin of an Evaluation: two noisy counts and what follows
// from them.
type Bin struct {
	// Lo and Hi are the bin's edges, j/B and (j+1)/B.
	Lo float64 `json:"lo"`
	Hi float64 `json:"hi"`
	// Positives and Negatives are the noisy counts of people with label
	// true and false whose score is in the bin, clamped at 0.
	Positives int64 `json:"positives"`
	Negatives int64 `json:"negatives"`
	// StdDev is the standard deviation of the noise of each of the two
	// counts (before clamping), for error bars; the same for every cell.
	StdDev float64 `json:"std_dev"`
	// DefaultRate is Positives/(Positives + Negatives), the rate of the
	// positive class in the bin; zero when both counts are zero.
	DefaultRate float64 `json:"default_rate"`
}

// Evaluation is a model evaluation released as a DP histogram of
// (score bin × label). Every field is computed from the noisy cells
// alone.
type Evaluation struct {
	// Bins are the score bins in increasing order of score.
	Bins []Bin `json:"bins"`
	// Positives, Negatives and Total are sums of the released cells; each
	// of Positives and Negatives has noise of standard deviation
	// √B·CellStdDev before clamping (TotalStdDev: √(2B)·CellStdDev).
	Positives   int64   `json:"positives"`
	Negatives   int64   `json:"negatives"`
	Total       int64   `json:"total"`
	TotalStdDev float64 `json:"total_std_dev"`
	// DefaultRate is Positives/Total; zero when Total is zero.
	DefaultRate float64 `json:"default_rate"`
	// AUC is the area under the ROC curve over the bins: the probability
	// that a random positive has a higher bin than a random negative,
	// counting ties within a bin as one half (the trapezoid rule between
	// the bins' ROC points). KS is the Kolmogorov–Smirnov statistic, the
	// largest gap between the positives' and negatives' cumulative
	// distributions over the bins. Both are zero when Positives or
	// Negatives is zero.
	AUC float64 `json:"auc"`
	KS  float64 `json:"ks"`
	// CellStdDev is the standard deviation of each cell's noise.
	CellStdDev float64 `json:"cell_std_dev"`
	// Record describes the noise of one cell; Rho is the whole release's.
	Record dp.Record `json:"record"`
}

// Evaluate releases a ρ-zCDP histogram of how many people of each label
// (true: positive, a default) fall in each of bins equal-width score bins
// of [0, 1] (see BinOf), and computes the evaluation from it. scores[i]
// and labels[i] are one person's; the caller gives each person once, so
// each person is in exactly one of the 2·bins cells (L0 = 1, one row per
// cell) and the release of all cells costs ρ once. Each cell is a
// dp.Count with discrete Gaussian noise of σ² = 1/(2ρ) (Canonne, Kamath
// and Steinke 2020), from noise (dp.Secure when nil; tests pass
// dp.ZeroNoise), clamped at 0. Everything else — totals, rates, AUC, KS —
// is post-processing of the noisy cells, and free.
//
// rho must be in (0, dp.MaxRho]; it is rounded to dp.RhoQuantum. It returns
// the evaluation and the Loss it spent, zero if it failed before drawing
// noise. Its running time depends on the noise: run it behind dp.PadTo
// when its latency is observable.
func Evaluate(scores []float64, labels []bool, bins int, rho float64, noise dp.Noise) (*Evaluation, dp.Loss, error) {
	if len(scores) != len(labels) {
		return nil, dp.Loss{}, fmt.Errorf("evaluate: %d scores but %d labels", len(scores), len(labels))
	}
	if bins < 2 || bins > MaxBins {
		return nil, dp.Loss{}, fmt.Errorf("evaluate: bins must be in [2, %d], got %d", MaxBins, bins)
	}
	params := dp.Params{Mechanism: dp.Gaussian, Rho: rho, MaxGroups: 1, MaxRowsPerGroup: 1, Noise: noise}
	// One count per cell: cells[2j] negatives, cells[2j+1] positives of
	// bin j. Creating them checks ρ before any data is read.
	cells := make([]*dp.Count, 2*bins)
	for k := range cells {
		c, err := dp.NewCount(params)
		if err != nil {
			return nil, dp.Loss{}, fmt.Errorf("evaluate: %w", err)
		}
		cells[k] = c
	}
	counts := make([]int64, 2*bins)
	for i, s := range scores {
		j, err := BinOf(s, bins)
		if err != nil {
			return nil, dp.Loss{}, fmt.Errorf("evaluate: row %d: %w", i, err)
		}
		k := 2 * j
		if labels[i] {
			k++
		}
		counts[k]++
	}
	loss := cells[0].Loss()
	noisy := make([]int64, 2*bins)
	for k, c := range cells {
		if err := c.Add(counts[k]); err != nil {
			return nil, dp.Loss{}, fmt.Errorf("evaluate: %w", err)
		}
		v, err := c.Result()
		if err != nil {
			return nil, loss, fmt.Errorf("evaluate: %w", err)
		}
		noisy[k] = max(v, 0)
	}
	rec := cells[0].Record()
	return summarize(noisy, rec), loss, nil
}

// summarize computes the evaluation from the noisy cells (negatives of bin
// j at 2j, positives at 2j+1). It is pure post-processing.
func summarize(noisy []int64, rec dp.Record) *Evaluation {
	bins := len(noisy) / 2
	e := &Evaluation{Bins: make([]Bin, bins), CellStdDev: rec.StdDev, Record: rec}
	for j := range e.Bins {
		neg, pos := noisy[2*j], noisy[2*j+1]
		b := Bin{
			Lo:        float64(j) / float64(bins),
			Hi:        float64(j+1) / float64(bins),
			Positives: pos,
			Negatives: neg,
			StdDev:    rec.StdDev,
		}
		if pos+neg > 0 {
			b.DefaultRate = float64(pos) / float64(pos+neg)
		}
		e.Bins[j] = b
		e.Positives += pos
		e.Negatives += neg
	}
	e.Total = e.Positives + e.Negatives
	e.TotalStdDev = math.Sqrt(float64(2*bins)) * rec.StdDev
	if e.Total > 0 {
		e.DefaultRate = float64(e.Positives) / float64(e.Total)
	}
	if e.Positives == 0 || e.Negatives == 0 {
		return e
	}
	// AUC = Σⱼ Pⱼ·(N₍<ⱼ₎ + Nⱼ/2) / (P·N) = Σⱼ Pⱼ·(2·N₍<ⱼ₎ + Nⱼ) / (2·P·N).
	// KS = maxⱼ |P₍≤ⱼ₎·N − N₍≤ⱼ₎·P| / (P·N). The numerators are sums of
	// products of counts, exact in float64 below 2^53, so each statistic
	// is one correctly rounded division for histograms of moderate size.
	p, n := float64(e.Positives), float64(e.Negatives)
	var auc, ks, below, cumP, cumN float64
	for _, b := range e.Bins {
		bp, bn := float64(b.Positives), float64(b.Negatives)
		auc += bp * (2*below + bn)
		below += bn
		cumP += bp
		cumN += bn
		ks = math.Max(ks, math.Abs(cumP*n-cumN*p))
	}
	e.AUC = auc / (2 * p * n)
	e.KS = ks / (p * n)
	return e
}

// Summarize computes an evaluation from released noisy counts of each
// bin's negatives and positives (already clamped at 0, for instance cells
// a release withheld counted as 0), whose noise rec describes. It is pure
// post-processing, the same Evaluate does.
func Summarize(negatives, positives []int64, rec dp.Record) *Evaluation {
	noisy := make([]int64, 2*len(negatives))
	for j := range negatives {
		noisy[2*j], noisy[2*j+1] = max(negatives[j], 0), max(positives[j], 0)
	}
	return summarize(noisy, rec)
}
