package dp

import (
	"errors"
	"fmt"
	"math"
	"math/big"
)

// ErrTaken is returned by Result, and by Add after Result, once a result has
// been taken: each aggregate releases one noisy value, so its budget is
// never spent twice.
var ErrTaken = errors.New("result already taken")

// Mechanism is the noise distribution of an aggregate.
type Mechanism int

const (
	// Gaussian adds discrete Gaussian noise with σ² = Δ₂²/(2ρ), which is
	// ρ-zCDP for L2 sensitivity Δ₂ (Canonne, Kamath and Steinke 2020).
	// It is the default.
	Gaussian Mechanism = iota
	// Laplace adds discrete Laplace noise with scale b = Δ₁/ε, which is
	// ε-DP for L1 sensitivity Δ₁ (the geometric mechanism of Ghosh,
	// Roughgarden and Sundararajan, STOC 2009). It is charged ρ = ε²/2.
	Laplace
)

// String returns "gaussian" or "laplace".
func (m Mechanism) String() string {
	switch m {
	case Gaussian:
		return "gaussian"
	case Laplace:
		return "laplace"
	}
	return fmt.Sprintf("Mechanism(%d)", int(m))
}

// Params are the parameters every noisy aggregate takes. A release of many
// groups creates one aggregate per group from the same Params; together
// they spend Loss() once, because the sensitivity already accounts for a
// person being in MaxGroups groups. The caller enforces the contribution
// bounds (MaxGroups, MaxRowsPerGroup, and the clamp bounds of sums) on the
// data before adding it: the noise is only as strong as those bounds are
// true.
type Params struct {
	// Mechanism is the noise distribution. Optional; default Gaussian.
	Mechanism Mechanism
	// Rho is the zCDP budget of a Gaussian release, rounded to RhoQuantum.
	// Required for Gaussian, in (0, MaxRho]; must be zero for Laplace.
	Rho float64
	// Epsilon is the budget of a Laplace release, rounded to RhoQuantum.
	// Required for Laplace, in (0, MaxEpsilon]; must be zero for Gaussian.
	Epsilon float64
	// MaxGroups (L0) is the largest number of groups of the release one
	// person contributes to. Required, at least 1.
	MaxGroups int64
	// MaxRowsPerGroup is the largest number of rows one person contributes
	// to one group; 1 for a count of distinct people. Required, at least 1.
	MaxRowsPerGroup int64
	// Noise is the noise source. Optional; default Secure. Only tests set
	// it, to ZeroNoise or a recording fake.
	Noise Noise
}

// noiser adds the noise of one aggregate.
type noiser struct {
	mech  Mechanism
	noise Noise
	// scale is σ² (Gaussian) or b (Laplace), in the aggregate's integer
	// units.
	scale *big.Rat
	loss  Loss
	// budget is the quantised ρ or ε the noise is derived from.
	budget float64
}

// newNoiser checks p and derives the noise for an aggregate in which one
// person changes one group's value by at most linf (in integer units), and
// which spends the fraction share of p's budget.
func newNoiser(p Params, linf *big.Int, share *big.Rat) (*noiser, error) {
	if p.MaxGroups < 1 {
		return nil, fmt.Errorf("max groups must be at least 1, got %d", p.MaxGroups)
	}
	if p.MaxRowsPerGroup < 1 {
		return nil, fmt.Errorf("max rows per group must be at least 1, got %d", p.MaxRowsPerGroup)
	}
	if linf.Sign() <= 0 {
		return nil, errors.New("sensitivity must be positive")
	}
	n := &noiser{mech: p.Mechanism, noise: p.Noise}
	if n.noise == nil {
		n.noise = Secure
	}
	l0 := big.NewInt(p.MaxGroups)
	switch p.Mechanism {
	case Gaussian:
		if p.Epsilon != 0 {
			return nil, fmt.Errorf("epsilon must be zero for the gaussian mechanism, got %v", p.Epsilon)
		}
		rho, units, err := quantize("rho", p.Rho, rhoDecimals, MaxRho)
		if err != nil {
			return nil, err
		}
		n.loss = Loss{Rho: fromUnits(units, rhoDecimals)}
		n.budget = n.loss.Rho
		rho.Mul(rho, share)
		// σ² = Δ₂²/(2ρ) with Δ₂² = L0·linf²: one person moves up to L0
		// groups by up to linf each.
		d2 := new(big.Int).Mul(linf, linf)
		d2.Mul(d2, l0)
		n.scale = new(big.Rat).SetInt(d2)
		n.scale.Quo(n.scale, rho.Mul(rho, big.NewRat(2, 1)))
	case Laplace:
		if p.Rho != 0 {
			return nil, fmt.Errorf("rho must be zero for the laplace mechanism, got %v", p.Rho)
		}
		eps, units, err := quantize("epsilon", p.Epsilon, rhoDecimals, MaxEpsilon)
		if err != nil {
			return nil, err
		}
		n.loss = Loss{Rho: fromUnits(pureRhoUnits(eps), rhoDecimals)}
		n.budget = fromUnits(units, rhoDecimals)
		eps.Mul(eps, share)
		// b = Δ₁/ε with Δ₁ = L0·linf.
		d1 := new(big.Int).Mul(linf, l0)
		n.scale = new(big.Rat).SetInt(d1)
		n.scale.Quo(n.scale, eps)
	default:
		return nil, fmt.Errorf("unknown mechanism %v", p.Mechanism)
	}
	return n, nil
}

// add returns x plus fresh noise, or an error if the result overflows int64.
func (n *noiser) add(x int64) (int64, error) {
	var z *big.Int
	var err error
	if n.mech == Laplace {
		z, err = n.noise.DiscreteLaplace(n.scale)
	} else {
		z, err = n.noise.DiscreteGaussian(n.scale)
	}
	if err != nil {
		return 0, err
	}
	z.Add(z, big.NewInt(x))
	if !z.IsInt64() {
		return 0, errors.New("noisy value overflows int64")
	}
	return z.Int64(), nil
}

// record describes the noise in units of 10^−decimals.
func (n *noiser) record(decimals int) Record {
	r := Record{Mechanism: n.mech.String(), Rho: n.loss.Rho}
	unit := math.Pow10(-decimals)
	scale, _ := n.scale.Float64()
	var sd, h float64
	if n.mech == Laplace {
		r.Epsilon = n.budget
		r.NoiseScale = scale * unit
		sd, h = laplaceStats(scale)
	} else {
		r.NoiseScale = math.Sqrt(scale) * unit
		sd, h = gaussianStats(scale)
	}
	r.StdDev, r.Interval95 = sd*unit, h*unit
	return r
}

// Count is a noisy count of people or rows in one group. It is not safe
// for concurrent use.
type Count struct {
	n     *noiser
	count int64
	taken bool
}

// NewCount returns a Count. One person changes the count of each of at
// most MaxGroups groups by at most MaxRowsPerGroup.
func NewCount(p Params) (*Count, error) {
	n, err := newNoiser(p, big.NewInt(p.MaxRowsPerGroup), big.NewRat(1, 1))
	if err != nil {
		return nil, fmt.Errorf("new count: %w", err)
	}
	return &Count{n: n}, nil
}

// Add adds n ≥ 0 to the true count.
func (c *Count) Add(n int64) error {
	if c.taken {
		return fmt.Errorf("add to count: %w", ErrTaken)
	}
	if n < 0 {
		return fmt.Errorf("add to count: %d is negative", n)
	}
	s, ok := addInt64(c.count, n)
	if !ok {
		return errors.New("add to count: overflows int64")
	}
	c.count = s
	return nil
}

// Result returns the noisy count. It may be negative: clamping or
// rounding it is post-processing left to the caller. A second call returns
// ErrTaken.
func (c *Count) Result() (int64, error) {
	if c.taken {
		return 0, fmt.Errorf("count result: %w", ErrTaken)
	}
	c.taken = true
	v, err := c.n.add(c.count)
	if err != nil {
		return 0, fmt.Errorf("count result: %w", err)
	}
	return v, nil
}

// Loss returns what the release of all groups' counts spends.
func (c *Count) Loss() Loss { return c.n.loss }

// Record describes the count's noise.
func (c *Count) Record() Record { return c.n.record(0) }

// SumParams are the parameters of Sum and Mean.
type SumParams struct {
	Params
	// Lo and Hi are the clamp bounds of every value, in units of
	// 10^−Decimals. Required, Lo ≤ Hi (Lo < Hi for Mean), not both zero,
	// each of magnitude at most 2^61.
	Lo, Hi int64
	// Decimals is the fixed-point scale of the values: a value v is added
	// as the integer round(v·10^Decimals) (see ToScaled). It only affects
	// the units of Record. Optional; default 0; at most 18.
	Decimals int
}

const maxBound = 1 << 61

func (p SumParams) check(strict bool) error {
	switch {
	case p.Lo > p.Hi || strict && p.Lo == p.Hi:
		return fmt.Errorf("clamp bounds [%d, %d] are empty", p.Lo, p.Hi)
	case p.Lo == 0 && p.Hi == 0:
		return errors.New("clamp bounds [0, 0] leave nothing to sum")
	case p.Lo < -maxBound || p.Hi > maxBound:
		return fmt.Errorf("clamp bounds [%d, %d] exceed ±2^61", p.Lo, p.Hi)
	case p.Decimals < 0 || p.Decimals > 18:
		return fmt.Errorf("decimals must be in [0, 18], got %d", p.Decimals)
	}
	return nil
}

// Sum is a noisy sum of scaled integers in one group: every value is
// clamped to [Lo, Hi] before it is added and the sum is exact, as
// Casacuberta et al. recommend ("Widespread Underestimation of Sensitivity
// in Differentially Private Libraries and How to Fix It", CCS 2022):
// floating-point sums can change by more than the assumed sensitivity. It
// is not safe for concurrent use.
type Sum struct {
	n      *noiser
	lo, hi int64
	dec    int
	sum    int64
	taken  bool
}

// NewSum returns a Sum. One person changes each of at most MaxGroups
// groups' sums by at most MaxRowsPerGroup·max(|Lo|, |Hi|).
func NewSum(p SumParams) (*Sum, error) {
	if err := p.check(false); err != nil {
		return nil, fmt.Errorf("new sum: %w", err)
	}
	m := max(abs64(p.Lo), abs64(p.Hi))
	linf := new(big.Int).Mul(big.NewInt(p.MaxRowsPerGroup), big.NewInt(m))
	n, err := newNoiser(p.Params, linf, big.NewRat(1, 1))
	if err != nil {
		return nil, fmt.Errorf("new sum: %w", err)
	}
	return &Sum{n: n, lo: p.Lo, hi: p.Hi, dec: p.Decimals}, nil
}

// Add clamps x to [Lo, Hi] and adds it to the exact sum. It fails, leaving
// the sum unchanged, if the sum would overflow int64.
func (s *Sum) Add(x int64) error {
	if s.taken {
		return fmt.Errorf("add to sum: %w", ErrTaken)
	}
	t, ok := addInt64(s.sum, Clamp(x, s.lo, s.hi))
	if !ok {
		return errors.New("add to sum: overflows int64")
	}
	s.sum = t
	return nil
}

// AddBounded adds the exact sum of n values that the caller has already
// clamped to [Lo, Hi] one by one — the query engine does it in SQL, per
// person. A sum outside [n·Lo, n·Hi], which no such values give, is
// refused, so a caller that forgot to clamp fails instead of leaking.
func (s *Sum) AddBounded(sum, n int64) error {
	if s.taken {
		return fmt.Errorf("add to sum: %w", ErrTaken)
	}
	if err := checkBounded(sum, n, s.lo, s.hi); err != nil {
		return fmt.Errorf("add to sum: %w", err)
	}
	t, ok := addInt64(s.sum, sum)
	if !ok {
		return errors.New("add to sum: overflows int64")
	}
	s.sum = t
	return nil
}

// checkBounded reports whether sum can be the sum of n values in [lo, hi].
func checkBounded(sum, n, lo, hi int64) error {
	if n < 0 {
		return fmt.Errorf("%d values is negative", n)
	}
	nlo, ok1 := mulInt64(n, lo)
	nhi, ok2 := mulInt64(n, hi)
	if !ok1 || !ok2 {
		return fmt.Errorf("bounds of %d values overflow int64", n)
	}
	if sum < nlo || sum > nhi {
		return fmt.Errorf("sum %d of %d values is outside [%d, %d]: the values were not clamped", sum, n, nlo, nhi)
	}
	return nil
}

func mulInt64(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	c := a * b
	return c, c/b == a && !(a == -1 && b == math.MinInt64) && !(b == -1 && a == math.MinInt64)
}

// Result returns the noisy sum in units of 10^−Decimals. A second call
// returns ErrTaken.
func (s *Sum) Result() (int64, error) {
	if s.taken {
		return 0, fmt.Errorf("sum result: %w", ErrTaken)
	}
	s.taken = true
	v, err := s.n.add(s.sum)
	if err != nil {
		return 0, fmt.Errorf("sum result: %w", err)
	}
	return v, nil
}

// Loss returns what the release of all groups' sums spends.
func (s *Sum) Loss() Loss { return s.n.loss }

// Record describes the sum's noise in value units.
func (s *Sum) Record() Record { return s.n.record(s.dec) }

// Mean is a noisy mean of scaled integers in one group, computed as a noisy
// sum over a noisy count. It spends half its budget on each (ρ/2 and ρ/2,
// or ε/2 and ε/2; zCDP and pure DP both compose by adding). The sum is of
// values centred on the middle of [Lo, Hi], which halves its sensitivity
// (as in Google's differential-privacy library): with every value clamped
// to [Lo, Hi], it adds 2x − Lo − Hi, one person changes it by at most
// MaxRowsPerGroup·(Hi − Lo), and the mean is
// (Lo + Hi)/2 + S/(2·max(C, 1)) clamped to [Lo, Hi]. It is not safe for
// concurrent use.
type Mean struct {
	sum, count *noiser
	lo, hi     int64
	dec        int
	s, c       int64
	taken      bool
	// noisyCount is the released count, used by Record once taken.
	noisyCount, mean float64
	loss             Loss
}

// NewMean returns a Mean.
func NewMean(p SumParams) (*Mean, error) {
	if err := p.check(true); err != nil {
		return nil, fmt.Errorf("new mean: %w", err)
	}
	half := big.NewRat(1, 2)
	linf := new(big.Int).Mul(big.NewInt(p.MaxRowsPerGroup), new(big.Int).Sub(big.NewInt(p.Hi), big.NewInt(p.Lo)))
	sum, err := newNoiser(p.Params, linf, half)
	if err != nil {
		return nil, fmt.Errorf("new mean: %w", err)
	}
	count, err := newNoiser(p.Params, big.NewInt(p.MaxRowsPerGroup), half)
	if err != nil {
		return nil, fmt.Errorf("new mean: %w", err)
	}
	return &Mean{sum: sum, count: count, lo: p.Lo, hi: p.Hi, dec: p.Decimals, loss: sum.loss}, nil
}

// Add clamps x to [Lo, Hi] and adds it. It fails, leaving the mean
// unchanged, if the exact sum would overflow int64.
func (m *Mean) Add(x int64) error {
	if m.taken {
		return fmt.Errorf("add to mean: %w", ErrTaken)
	}
	// |2x − Lo − Hi| ≤ Hi − Lo ≤ 2^62: no overflow here.
	d := 2*Clamp(x, m.lo, m.hi) - m.lo - m.hi
	s, ok := addInt64(m.s, d)
	if !ok {
		return errors.New("add to mean: overflows int64")
	}
	c, ok := addInt64(m.c, 1)
	if !ok {
		return errors.New("add to mean: overflows int64")
	}
	m.s, m.c = s, c
	return nil
}

// AddBounded adds n values the caller has already clamped to [Lo, Hi],
// given by their exact sum, as n calls of Add would. A sum outside
// [n·Lo, n·Hi] is refused.
func (m *Mean) AddBounded(sum, n int64) error {
	if m.taken {
		return fmt.Errorf("add to mean: %w", ErrTaken)
	}
	if err := checkBounded(sum, n, m.lo, m.hi); err != nil {
		return fmt.Errorf("add to mean: %w", err)
	}
	// Σ(2x − Lo − Hi) = 2·sum − n·(Lo + Hi).
	twice, ok1 := addInt64(sum, sum)
	mid, ok2 := mulInt64(n, m.lo+m.hi)
	d, ok3 := addInt64(twice, -mid)
	s, ok4 := addInt64(m.s, d)
	c, ok5 := addInt64(m.c, n)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
		return errors.New("add to mean: overflows int64")
	}
	m.s, m.c = s, c
	return nil
}

// Result returns the noisy mean in units of 10^−Decimals, within [Lo, Hi].
// A second call returns ErrTaken.
func (m *Mean) Result() (float64, error) {
	if m.taken {
		return 0, fmt.Errorf("mean result: %w", ErrTaken)
	}
	m.taken = true
	s, err := m.sum.add(m.s)
	if err != nil {
		return 0, fmt.Errorf("mean result: %w", err)
	}
	c, err := m.count.add(m.c)
	if err != nil {
		return 0, fmt.Errorf("mean result: %w", err)
	}
	den := float64(max(c, 1))
	mid := (float64(m.lo) + float64(m.hi)) / 2
	v := mid + float64(s)/(2*den)
	m.noisyCount, m.mean = den, math.Min(math.Max(v, float64(m.lo)), float64(m.hi))
	return m.mean, nil
}

// Loss returns what the release of all groups' means spends.
func (m *Mean) Loss() Loss { return m.loss }

// Record describes the mean's noise in value units. Parts holds the
// records of the doubled centred sum S = Σ(2x − Lo − Hi) and of the count.
// Before Result, StdDev and Interval95 are zero; after it, they are the
// delta-method approximation sd ≈ √(Var(S)/4 + (mean − mid)²·Var(C))/C at
// the released count and mean, with Interval95 = 1.96·sd: they are computed
// from released values only.
func (m *Mean) Record() Record {
	r := Record{Mechanism: m.sum.mech.String(), Rho: m.loss.Rho}
	if m.sum.mech == Laplace {
		r.Epsilon = m.sum.budget
	}
	s, c := m.sum.record(m.dec), m.count.record(0)
	r.Parts = []Record{s, c}
	if m.taken {
		unit := math.Pow10(-m.dec)
		dev := (m.mean - (float64(m.lo)+float64(m.hi))/2) * unit
		sd := math.Sqrt(s.StdDev*s.StdDev/4+dev*dev*c.StdDev*c.StdDev) / m.noisyCount
		r.StdDev, r.Interval95 = sd, 1.959963984540054*sd
	}
	return r
}

// Clamp returns x limited to [lo, hi].
func Clamp(x, lo, hi int64) int64 { return min(max(x, lo), hi) }

// ClampedSum returns the exact sum of values each clamped to [lo, hi], or
// an error if it overflows int64.
func ClampedSum(values []int64, lo, hi int64) (int64, error) {
	var s int64
	for i, v := range values {
		var ok bool
		if s, ok = addInt64(s, Clamp(v, lo, hi)); !ok {
			return 0, fmt.Errorf("clamped sum: overflows int64 at value %d", i)
		}
	}
	return s, nil
}

// ToScaled returns v at a fixed decimal scale: round(v·10^decimals), rounding
// half away from zero. It rejects NaN, ±Inf and results beyond ±2^62.
// Values are converted once, on input; noise and sums only ever see the
// integers.
func ToScaled(v float64, decimals int) (int64, error) {
	if decimals < 0 || decimals > 18 {
		return 0, fmt.Errorf("scale value: decimals must be in [0, 18], got %d", decimals)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("scale value: %v is not a finite number", v)
	}
	x := math.Round(v * math.Pow10(decimals))
	if math.Abs(x) > 1<<62 {
		return 0, fmt.Errorf("scale value: %v at %d decimals exceeds ±2^62", v, decimals)
	}
	return int64(x), nil
}

// FromScaled returns the value a scaled integer stands for: x·10^−decimals.
func FromScaled(x int64, decimals int) float64 { return float64(x) / math.Pow10(decimals) }

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
