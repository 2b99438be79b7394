package dp

import (
	"fmt"
	"math"
	"math/big"
)

// DefaultMinGroupSize is the default hard minimum group size k: a group of
// fewer people is never released.
const DefaultMinGroupSize = 100

// maxThreshold bounds K so that 2K + 1 and the loops over K stay far from
// overflow; parameters that need more are refused.
const maxThreshold = 1 << 50

// SelectionParams are the parameters of a Selection.
type SelectionParams struct {
	// Epsilon is the ε of the selection of all groups of the release,
	// rounded to RhoQuantum. Required, in (0, MaxEpsilon].
	Epsilon float64
	// Delta is the δ of the selection of all groups of the release,
	// rounded to DeltaQuantum. Required, in (0, MaxDelta].
	Delta float64
	// MaxGroups (L0) is the largest number of groups one person is
	// counted in; each group's test gets ε/L0 and δ/L0. Required, at
	// least 1.
	MaxGroups int64
	// MinGroupSize is the hard minimum k. Optional; default
	// DefaultMinGroupSize; at least 1.
	MinGroupSize int64
	// Noise is the noise source of the keep decisions. Optional; default
	// Secure. Only tests set it.
	Noise Noise
}

// Selection decides which groups of a release are shown: partition
// selection with pre-thresholding. A group whose true count of distinct
// people n is below k is never released. Otherwise the test runs on
// m = n − (k − 1) ≥ 1: two-sided geometric (discrete Laplace) noise Z with
// scale L0/ε, conditioned on |Z| ≤ K, is added, and the group is kept when
// m + Z > K. K is the smallest integer for which the probability of
// keeping a group with m = 1, δ* = P[Z = K], is at most δ/L0.
//
// The decision comes from the exact discrete Laplace sampler of Noise,
// truncated by rejection, and integer comparison; no floating-point number
// touches the data. K depends on ε, δ and L0 alone; it is found in floating
// point with a relative margin of 10⁻⁹ on δ, far above the rounding error,
// so that the exact δ* never exceeds δ/L0.
//
// Guarantee: adding or removing one person changes m by one in at most L0
// groups, and for every m the keep probability p satisfies
// p(m+1) ≤ e^{ε/L0}·p(m) + δ* and 1 − p(m) ≤ e^{ε/L0}·(1 − p(m+1)) + δ*,
// with p(m) = 0 for m ≤ 0; by basic composition over L0 groups the
// selection is (ε, δ)-DP. KeepProbability is that p in closed form: for
// m ≤ K + 1 it is δ*·(e^{mε'} − 1)/(e^{ε'} − 1) with ε' = ε/L0, and
// 1 − p mirrors it above, which is the optimal keep probability of
// Desfontaines, Voss, Gipson and Mandayam, "Differentially private
// partition selection" (PoPETs 2022), for ε' and δ*: the recurrences
// p(m+1) = e^{ε'}p(m) + δ* below K + 1 and
// 1 − p(m+1) = e^{−ε'}(1 − p(m) − δ*) above hold with equality. The same
// pre-thresholding on n − (k − 1) is done by Google's differential-privacy
// library.
//
// A Selection is safe for concurrent use if its Noise is. Each group is
// decided once per release.
type Selection struct {
	k, K  int64
	eps   float64 // ε' = ε/L0
	a     float64 // e^{−ε'}
	den   float64 // 1 + a − 2a^{K+1}
	dstar float64 // δ* = P[Z = K]
	scale *big.Rat
	noise Noise
	loss  Loss
}

// NewSelection returns a Selection.
func NewSelection(p SelectionParams) (*Selection, error) {
	eps, epsUnits, err := quantize("epsilon", p.Epsilon, rhoDecimals, MaxEpsilon)
	if err != nil {
		return nil, fmt.Errorf("new selection: %w", err)
	}
	delta, deltaUnits, err := quantize("delta", p.Delta, deltaDecimals, MaxDelta)
	if err != nil {
		return nil, fmt.Errorf("new selection: %w", err)
	}
	if p.MaxGroups < 1 {
		return nil, fmt.Errorf("new selection: max groups must be at least 1, got %d", p.MaxGroups)
	}
	s := &Selection{k: p.MinGroupSize, noise: p.Noise}
	if s.k == 0 {
		s.k = DefaultMinGroupSize
	}
	if s.k < 1 {
		return nil, fmt.Errorf("new selection: min group size must be at least 1, got %d", p.MinGroupSize)
	}
	if s.noise == nil {
		s.noise = Secure
	}
	l0 := big.NewRat(p.MaxGroups, 1)
	s.scale = new(big.Rat).Quo(l0, eps)
	epsG := new(big.Rat).Quo(eps, l0)
	s.eps, _ = epsG.Float64()
	s.a = math.Exp(-s.eps)
	deltaG, _ := new(big.Rat).Quo(delta, l0).Float64()
	// The float evaluation of P[Z = K] is accurate to ~10⁻¹⁵ relative, so
	// this margin makes sure the exact δ* of the sampler is at most δ/L0.
	target := deltaG * (1 - 1e-9)
	oneMinusA := -math.Expm1(-s.eps)
	k0 := (math.Log(oneMinusA/(1+s.a)) - math.Log(target)) / s.eps
	if !(k0 < maxThreshold) {
		return nil, fmt.Errorf("new selection: epsilon %v and delta %v per group need a threshold beyond 2^50", s.eps, deltaG)
	}
	K := max(int64(k0)-1, 0)
	for s.pointMass(K) > target {
		K++
	}
	for K > 0 && s.pointMass(K-1) <= target {
		K--
	}
	s.K = K
	s.den = s.denominator(K)
	s.dstar = s.pointMass(K)
	s.loss = Loss{Epsilon: fromUnits(epsUnits, rhoDecimals), Delta: fromUnits(deltaUnits, deltaDecimals)}
	return s, nil
}

// denominator returns 1 + a − 2a^{K+1} = (1 − a) + 2a(1 − a^K), computed
// without cancellation; the truncated distribution's normalising constant
// is this over 1 − a.
func (s *Selection) denominator(K int64) float64 {
	return -math.Expm1(-s.eps) + 2*s.a*(-math.Expm1(-float64(K)*s.eps))
}

// pointMass returns P[Z = K] for two-sided geometric Z truncated to
// [−K, K]: a^K(1 − a)/(1 + a − 2a^{K+1}).
func (s *Selection) pointMass(K int64) float64 {
	return math.Exp(-float64(K)*s.eps) * -math.Expm1(-s.eps) / s.denominator(K)
}

// KeepProbability returns the probability p(n) that Keep keeps a group of n
// people: 0 for n < k, and otherwise, with m = n − (k − 1),
//
//	p = a^{K+1−m}(1 − a^m)/D          for 1 ≤ m ≤ K + 1,
//	p = 1 − a^{m−K}(1 − a^{2K+1−m})/D  for K + 1 < m < 2K + 1,
//	p = 1                              for m ≥ 2K + 1,
//
// where a = e^{−ε/L0} and D = 1 + a − 2a^{K+1}. It is computed in floating
// point for display; the decision itself is sampled exactly.
func (s *Selection) KeepProbability(n int64) float64 {
	if n < s.k {
		return 0
	}
	m, K := n-s.k+1, s.K
	if m <= K+1 {
		return math.Exp(-float64(K+1-m)*s.eps) * -math.Expm1(-float64(m)*s.eps) / s.den
	}
	return 1 - s.dropProbability(n)
}

// dropProbability returns 1 − KeepProbability(n) for n ≥ k + K,
// computed directly so that it keeps its precision where it is far below
// the resolution of float64 near 1.
func (s *Selection) dropProbability(n int64) float64 {
	m, K := n-s.k+1, s.K
	if m >= 2*K+1 {
		return 0
	}
	j := m - K
	return math.Exp(-float64(j)*s.eps) * -math.Expm1(-float64(K+1-j)*s.eps) / s.den
}

// Keep decides whether a group whose true count of distinct people is n is
// released, keeping it with probability KeepProbability(n).
func (s *Selection) Keep(n int64) (bool, error) {
	if n < s.k {
		return false, nil
	}
	m := n - s.k + 1
	bound := big.NewInt(s.K)
	for {
		z, err := s.noise.DiscreteLaplace(s.scale)
		if err != nil {
			return false, fmt.Errorf("select group: %w", err)
		}
		if z.CmpAbs(bound) <= 0 {
			// Keep when m + Z > K, i.e. m > K − Z, with K − Z in [0, 2K].
			return m > s.K-z.Int64(), nil
		}
	}
}

// Threshold returns k + K: the smallest count whose keep probability is
// above one half, and the count from which ZeroNoise keeps every group.
func (s *Selection) Threshold() int64 { return s.k + s.K }

// MinGroupSize returns k.
func (s *Selection) MinGroupSize() int64 { return s.k }

// GroupDelta returns δ*, the probability of keeping a group of exactly k
// people: the δ each group's test actually spends, at most δ/L0.
func (s *Selection) GroupDelta() float64 { return s.dstar }

// GroupEpsilon returns ε/L0, the ε of each group's test.
func (s *Selection) GroupEpsilon() float64 { return s.eps }

// Loss returns what the selection of all groups of a release spends: its
// ε and δ as given (rounded to their quanta).
func (s *Selection) Loss() Loss { return s.loss }

// KeepPoint is one point of a keep-probability curve.
type KeepPoint struct {
	N int64   `json:"n"`
	P float64 `json:"p"`
}

// Curve returns KeepProbability at each of ns.
func (s *Selection) Curve(ns []int64) []KeepPoint {
	out := make([]KeepPoint, len(ns))
	for i, n := range ns {
		out[i] = KeepPoint{N: n, P: s.KeepProbability(n)}
	}
	return out
}
