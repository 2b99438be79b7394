package dp

import (
	"math"
	"sort"
)

// Record describes how a release was protected; every release carries one,
// so its receiver sees the error bars. Amounts of value are in the units of
// the released values.
type Record struct {
	// Mechanism is "gaussian" or "laplace".
	Mechanism string `json:"mechanism"`
	// Rho is the zCDP charged for the noisy values (ε²/2 for Laplace).
	Rho float64 `json:"rho"`
	// Epsilon is the ε of a Laplace release; zero for Gaussian.
	Epsilon float64 `json:"epsilon,omitempty"`
	// SelectionEpsilon and Delta are the (ε, δ) of partition selection;
	// zero without selection.
	SelectionEpsilon float64 `json:"selection_epsilon,omitempty"`
	Delta            float64 `json:"delta"`
	// MinGroupSize is the hard minimum k; zero without selection.
	MinGroupSize int64 `json:"min_group_size,omitempty"`
	// NoiseScale is σ of the discrete Gaussian or b of the discrete
	// Laplace.
	NoiseScale float64 `json:"noise_scale"`
	// StdDev is the standard deviation of one cell's noise.
	StdDev float64 `json:"std_dev"`
	// Interval95 is the half-width h of the 95 % interval: a cell's noisy
	// value is within ±h of its true value with probability at least 95 %.
	Interval95 float64 `json:"interval_95"`
	// SuppressedCells counts the groups that partition selection withheld.
	SuppressedCells int `json:"suppressed_cells"`
	// Parts are the records of a composite aggregate's parts (a mean's sum
	// and count).
	Parts []Record `json:"parts,omitempty"`
}

// WithSelection returns r completed with the selection's parameters and
// the number of cells it suppressed.
func (r Record) WithSelection(s *Selection, suppressed int) Record {
	l := s.Loss()
	r.SelectionEpsilon, r.Delta = l.Epsilon, l.Delta
	r.MinGroupSize = s.MinGroupSize()
	r.SuppressedCells = suppressed
	return r
}

// Utility is what a planned release is expected to deliver, shown before
// it runs: the noise of each cell and, with partition selection, the
// probability that a cell of n people is released.
type Utility struct {
	Cell Record      `json:"cell"`
	Keep []KeepPoint `json:"keep,omitempty"`
}

// Describer is an aggregate that can describe its noise: *Count, *Sum or
// *Mean. Creating one spends nothing; only Result does.
type Describer interface {
	Record() Record
}

// Preview returns the utility of a planned release whose cells are like
// agg, selected by sel (nil for none), at each group size in ns. With ns
// nil it picks about a dozen sizes from k to where release is near certain
// (probability 0.999).
func Preview(agg Describer, sel *Selection, ns []int64) Utility {
	u := Utility{Cell: agg.Record()}
	if sel == nil {
		return u
	}
	u.Cell = u.Cell.WithSelection(sel, 0)
	if ns == nil {
		ns = sel.defaultSizes()
	}
	u.Keep = sel.Curve(ns)
	return u
}

// defaultSizes returns group sizes from k − 1 to the first size released
// with probability at least 0.999.
func (s *Selection) defaultSizes() []int64 {
	last := int64(sort.Search(int(2*s.K+2), func(m int) bool {
		return s.KeepProbability(s.k-1+int64(m)) >= 0.999
	}))
	ns := []int64{s.k - 1}
	const points = 12
	for i := int64(0); i <= points; i++ {
		n := s.k + last*i/points
		if n != ns[len(ns)-1] {
			ns = append(ns, n)
		}
	}
	return ns
}

// gaussianStats returns the standard deviation of the discrete Gaussian
// with variance parameter σ², and the smallest integer h with
// P[|Z| ≤ h] ≥ 0.95.
func gaussianStats(sigma2 float64) (sd, h float64) {
	sigma := math.Sqrt(sigma2)
	if sigma >= 50 {
		// The pmf is the normal density at integers to within
		// e^{−2π²σ²}; the sum over |x| ≤ h is the normal mass of
		// [−h − ½, h + ½] up to O(σ⁻²).
		return sigma, math.Max(0, math.Ceil(1.959963984540054*sigma-0.5))
	}
	limit := math.Ceil(40*sigma) + 10
	var z, m2 float64
	for x := -limit; x <= limit; x++ {
		w := math.Exp(-x * x / (2 * sigma2))
		z += w
		m2 += x * x * w
	}
	mass := 1 / z // P[Z = 0]
	for h = 0; mass < 0.95; h++ {
		mass += 2 * math.Exp(-(h+1)*(h+1)/(2*sigma2)) / z
	}
	return math.Sqrt(m2 / z), h
}

// laplaceStats returns the standard deviation of the discrete Laplace
// distribution with scale b, √(2a)/(1 − a) with a = e^{−1/b}, and the
// smallest integer h with P[|Z| > h] = 2a^{h+1}/(1 + a) ≤ 0.05.
func laplaceStats(b float64) (sd, h float64) {
	a := math.Exp(-1 / b)
	oneMinusA := -math.Expm1(-1 / b)
	sd = math.Sqrt(2*a) / oneMinusA
	h = math.Max(0, math.Ceil(math.Log(0.025*(1+a))/math.Log(a))-1)
	// Guard the boundary against rounding in the logarithms.
	for h > 0 && 2*math.Pow(a, h)/(1+a) <= 0.05 {
		h--
	}
	for 2*math.Pow(a, h+1)/(1+a) > 0.05 {
		h++
	}
	return sd, h
}
