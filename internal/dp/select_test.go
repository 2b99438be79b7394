package dp

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"testing"
)

var selectionCases = []SelectionParams{
	{Epsilon: 1, Delta: 1e-5, MaxGroups: 1},
	{Epsilon: 0.5, Delta: 1e-8, MaxGroups: 5},
	{Epsilon: 4, Delta: 1e-6, MaxGroups: 2, MinGroupSize: 10},
	{Epsilon: 0.01, Delta: 1e-9, MaxGroups: 1},
	{Epsilon: 3, Delta: 1e-3, MaxGroups: 3, MinGroupSize: 1},
	{Epsilon: 40, Delta: 1e-10, MaxGroups: 1},
}

func TestKeepProbabilityZeroBelowMinimum(t *testing.T) {
	for _, p := range selectionCases {
		s, err := NewSelection(p)
		if err != nil {
			t.Fatal(err)
		}
		k := s.MinGroupSize()
		for _, n := range []int64{math.MinInt64, -1, 0, 1, k / 2, k - 2, k - 1} {
			if n >= k {
				continue
			}
			if got := s.KeepProbability(n); got != 0 {
				t.Errorf("%+v: KeepProbability(%d) = %v, want %v", p, n, got, 0)
			}
			if keep, err := s.Keep(n); keep || err != nil {
				t.Errorf("%+v: Keep(%d) = %v, %v, want false", p, n, keep, err)
			}
		}
		if k != max(p.MinGroupSize, DefaultMinGroupSize*int64(b2i(p.MinGroupSize == 0))) {
			t.Errorf("%+v: MinGroupSize() = %d", p, k)
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// drop returns 1 − p(n), from the direct closed form where p(n) is near 1:
// with ε/L0 = 40, 1 − p(n) is about 10⁻¹⁸, below float64's resolution at 1.
func (s *Selection) drop(n int64) float64 {
	if n >= s.Threshold() {
		return s.dropProbability(n)
	}
	return 1 - s.KeepProbability(n)
}

// p(n) satisfies both differential-privacy inequalities with the per-group
// ε/L0 and δ/L0, for every n from well below k to well past certainty, and
// is 0 below k, non-decreasing, and 1 eventually. The float evaluation of
// the closed form is accurate to ~10⁻¹⁵, hence the small tolerance; every
// case has δ/L0 ≥ 10⁻¹⁰, far above it.
func TestKeepProbabilityIsDP(t *testing.T) {
	for _, p := range selectionCases {
		s, err := NewSelection(p)
		if err != nil {
			t.Fatal(err)
		}
		l0 := float64(p.MaxGroups)
		e, d := math.Exp(p.Epsilon/l0), p.Delta/l0
		tol := func(rhs float64) float64 { return rhs*(1+1e-12) + 1e-15 }
		k, K := s.MinGroupSize(), s.Threshold()-s.MinGroupSize()
		prev := 0.0
		for n := k - 3; n <= k+2*K+5; n++ {
			pn, pn1 := s.KeepProbability(n), s.KeepProbability(n+1)
			if !(pn >= 0 && pn <= 1) {
				t.Fatalf("%+v: KeepProbability(%d) = %v, want a probability", p, n, pn)
			}
			if pn < prev {
				t.Errorf("%+v: KeepProbability(%d) = %v, want ≥ KeepProbability(%d) = %v", p, n, pn, n-1, prev)
			}
			prev = pn
			if pn1 > tol(e*pn+d) {
				t.Errorf("%+v: KeepProbability(%d) = %v, want ≤ e^ε·p(%d) + δ = %v", p, n+1, pn1, n, e*pn+d)
			}
			qn, qn1 := s.drop(n), s.drop(n+1)
			if math.Abs(qn-(1-pn)) > 1e-15 {
				t.Errorf("%+v: 1 − KeepProbability(%d) = %v, want %v", p, n, 1-pn, qn)
			}
			if qn > tol(e*qn1+d) {
				t.Errorf("%+v: 1 − KeepProbability(%d) = %v, want ≤ e^ε·(1 − p(%d)) + δ = %v", p, n, qn, n+1, e*qn1+d)
			}
		}
		if got := s.KeepProbability(k); got > d || got != s.GroupDelta() {
			t.Errorf("%+v: KeepProbability(%d) = %v, want δ* = %v ≤ δ/L0 = %v", p, k, got, s.GroupDelta(), d)
		}
		for _, n := range []int64{k + 2*K, k + 2*K + 1, math.MaxInt64} {
			if got := s.KeepProbability(n); got != 1 {
				t.Errorf("%+v: KeepProbability(%d) = %v, want %v", p, n, got, 1)
			}
		}
	}
}

// K is the smallest truncation with δ* ≤ δ/L0, and p follows the optimal
// recurrences of Desfontaines et al. with equality for δ*:
// p(m+1) = e^ε·p(m) + δ* up to m = K + 1 and
// 1 − p(m+1) = e^{−ε}(1 − p(m) − δ*) from there on.
func TestKeepProbabilityIsOptimalForGroupDelta(t *testing.T) {
	for _, p := range selectionCases {
		s, err := NewSelection(p)
		if err != nil {
			t.Fatal(err)
		}
		l0 := float64(p.MaxGroups)
		eps, d, ds := p.Epsilon/l0, p.Delta/l0, s.GroupDelta()
		k, K := s.MinGroupSize(), s.Threshold()-s.MinGroupSize()
		if K > 0 && s.pointMass(K-1) <= d {
			t.Errorf("%+v: K = %d is not minimal: P[Z = K−1] = %v ≤ δ/L0 = %v", p, K, s.pointMass(K-1), d)
		}
		if math.Abs(eps-s.GroupEpsilon()) > 1e-15*eps {
			t.Errorf("%+v: GroupEpsilon() = %v, want %v", p, s.GroupEpsilon(), eps)
		}
		for m := int64(1); m < 2*K+1; m++ {
			n := k - 1 + m
			var got, want float64
			if m < K+1 {
				got, want = s.KeepProbability(n+1), math.Exp(eps)*s.KeepProbability(n)+ds
			} else {
				got, want = s.drop(n+1), math.Exp(-eps)*(s.drop(n)-ds)
			}
			if math.Abs(got-want) > 1e-9*want+1e-15 {
				t.Errorf("%+v: m = %d: recurrence gives %v, KeepProbability gives %v", p, m, want, got)
			}
		}
		// The closed form below K + 1, written as in the paper.
		for m := int64(1); m <= K+1; m += max(1, K/50) {
			want := ds * math.Expm1(float64(m)*eps) / math.Expm1(eps)
			if got := s.KeepProbability(k - 1 + m); math.Abs(got-want) > 1e-9*want {
				t.Errorf("%+v: KeepProbability(%d) = %v, want %v", p, k-1+m, got, want)
			}
		}
	}
}

// Keep's sampled decisions match KeepProbability at every n where
// p(n) ≥ 10⁻³, for two parameter sets (26 sizes in all). Each size is one
// Bernstein check at checkAlpha, so the false-failure rate is below
// 6·10⁻⁸.
func TestKeepMatchesKeepProbability(t *testing.T) {
	t.Parallel()
	for _, p := range []SelectionParams{
		{Epsilon: 1, Delta: 1e-5, MaxGroups: 1},
		{Epsilon: 6, Delta: 3e-6, MaxGroups: 2, MinGroupSize: 20},
	} {
		t.Run(fmt.Sprintf("eps=%v,L0=%d", p.Epsilon, p.MaxGroups), func(t *testing.T) {
			t.Parallel()
			s, err := NewSelection(p)
			if err != nil {
				t.Fatal(err)
			}
			checks := 0
			for n := s.MinGroupSize(); ; n++ {
				want := s.KeepProbability(n)
				if want < 1e-3 {
					continue
				}
				const trials = 30_000
				hits := 0
				for range trials {
					keep, err := s.Keep(n)
					if err != nil {
						t.Fatal(err)
					}
					if keep {
						hits++
					}
				}
				checkFreq(t, fmt.Sprintf("Keep(%d)", n), hits, trials, want)
				checks++
				if want == 1 {
					break
				}
			}
			if checks < 5 || checks > 40 {
				t.Errorf("made %d checks, want 5 to 40", checks)
			}
		})
	}
}

// With ZeroNoise the decision is deterministic: keep from Threshold() on.
func TestSelectionZeroNoise(t *testing.T) {
	s, err := NewSelection(SelectionParams{Epsilon: 1, Delta: 1e-5, MaxGroups: 1, Noise: ZeroNoise{}})
	if err != nil {
		t.Fatal(err)
	}
	th := s.Threshold()
	if th <= 100 {
		t.Fatalf("Threshold() = %d, want above k = 100", th)
	}
	if p := s.KeepProbability(th); p <= 0.5 {
		t.Errorf("KeepProbability(Threshold()) = %v, want > 0.5", p)
	}
	if p := s.KeepProbability(th - 1); p >= 0.5 {
		t.Errorf("KeepProbability(Threshold() − 1) = %v, want < 0.5", p)
	}
	for _, n := range []int64{99, 100, th - 1, th, th + 1, 1 << 40} {
		want := n >= th
		if got, err := s.Keep(n); got != want || err != nil {
			t.Errorf("Keep(%d) = %v, %v, want %v", n, got, err, want)
		}
	}
}

func TestSelectionRejected(t *testing.T) {
	for _, tc := range []struct {
		p    SelectionParams
		want string
	}{
		{SelectionParams{Epsilon: 0, Delta: 1e-6, MaxGroups: 1}, "epsilon must be positive"},
		{SelectionParams{Epsilon: -1, Delta: 1e-6, MaxGroups: 1}, "epsilon must be positive"},
		{SelectionParams{Epsilon: math.NaN(), Delta: 1e-6, MaxGroups: 1}, "epsilon must be a finite"},
		{SelectionParams{Epsilon: math.Inf(1), Delta: 1e-6, MaxGroups: 1}, "epsilon must be a finite"},
		{SelectionParams{Epsilon: 1, Delta: 0, MaxGroups: 1}, "delta must be positive"},
		{SelectionParams{Epsilon: 1, Delta: math.NaN(), MaxGroups: 1}, "delta must be a finite"},
		{SelectionParams{Epsilon: 1, Delta: math.Inf(-1), MaxGroups: 1}, "delta must be a finite"},
		{SelectionParams{Epsilon: 1, Delta: 0.5, MaxGroups: 1}, "delta must be at most"},
		{SelectionParams{Epsilon: 1, Delta: 1e-20, MaxGroups: 1}, "below the smallest amount"},
		{SelectionParams{Epsilon: 1, Delta: 1e-6, MaxGroups: 0}, "max groups"},
		{SelectionParams{Epsilon: 1, Delta: 1e-6, MaxGroups: 1, MinGroupSize: -5}, "min group size"},
		{SelectionParams{Epsilon: 1e-12, Delta: 1e-18, MaxGroups: 1000}, "threshold beyond"},
	} {
		if _, err := NewSelection(tc.p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewSelection(%+v) error = %v, want %q", tc.p, err, tc.want)
		}
	}
}

func TestSelectionLoss(t *testing.T) {
	s, err := NewSelection(SelectionParams{Epsilon: 0.7, Delta: 2e-9, MaxGroups: 4})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Loss(), (Loss{Epsilon: 0.7, Delta: 2e-9}); got != want {
		t.Errorf("Loss() = %+v, want %+v", got, want)
	}
}

func BenchmarkKeep(b *testing.B) {
	s, err := NewSelection(SelectionParams{Epsilon: 1, Delta: 1e-9, MaxGroups: 4})
	if err != nil {
		b.Fatal(err)
	}
	n := s.Threshold()
	for b.Loop() {
		if _, err := s.Keep(n); err != nil {
			b.Fatal(err)
		}
	}
}

// scriptedNoise returns the given Laplace samples in order.
type scriptedNoise struct{ z []int64 }

func (s *scriptedNoise) DiscreteLaplace(*big.Rat) (*big.Int, error) {
	if len(s.z) == 0 {
		return nil, errors.New("script exhausted")
	}
	z := s.z[0]
	s.z = s.z[1:]
	return big.NewInt(z), nil
}

func (s *scriptedNoise) DiscreteGaussian(*big.Rat) (*big.Int, error) {
	return nil, errors.New("not scripted")
}

// Keep conditions its noise on |Z| ≤ K, so a group of exactly k people is
// kept only with probability δ*, however large the noise: a draw beyond K
// is rejected, not used. Groups below k draw no noise at all.
func TestKeepTruncatesNoise(t *testing.T) {
	s, err := NewSelection(SelectionParams{Epsilon: 1, Delta: 1e-5, MaxGroups: 1})
	if err != nil {
		t.Fatal(err)
	}
	K := s.Threshold() - s.MinGroupSize()
	for _, tc := range []struct {
		n      int64
		script []int64
		want   bool
	}{
		{100, []int64{K + 1, 0}, false},     // K + 1 rejected; 1 + 0 ≤ K
		{100, []int64{-K - 50, K}, true},    // 1 + K > K
		{100, []int64{K - 1}, false},        // 1 + K − 1 ≤ K
		{99, []int64{1 << 40}, false},       // below k: no draw, never kept
		{100 + 2*K, []int64{-K}, true},      // m = 2K + 1 is always kept
		{100 + 2*K - 1, []int64{-K}, false}, // m = 2K with the lowest noise
	} {
		s.noise = &scriptedNoise{z: tc.script}
		if got, err := s.Keep(tc.n); got != tc.want || err != nil {
			t.Errorf("Keep(%d) with noise %v = %v, %v, want %v", tc.n, tc.script, got, err, tc.want)
		}
	}
}
