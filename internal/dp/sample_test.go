package dp

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"testing"
)

// False-failure rates of the statistical tests. Every check below fails
// by chance with probability at most checkAlpha = 2·10⁻⁹:
//
//   - frequency checks (pmf values, tail masses, Bernoulli rates) use
//     Bernstein's inequality, which holds for any sample size:
//     P[|p̂ − p| ≥ t] ≤ 2·exp(−N·t²/(2p(1−p) + 2t/3));
//   - mean and variance checks use 6 standard errors, whose two-sided
//     normal tail is 1.97·10⁻⁹ (the samples have finite fourth moments
//     and N ≥ 10⁵, so the central limit approximation is accurate).
//
// Each test states how many checks it makes and so its false-failure rate.
// The package makes 237 such checks in all (counted when these tests were
// written), so a run fails by chance with probability below 5·10⁻⁷.
const (
	checkAlpha = 2e-9
	checkZ     = 6.0
)

// bernsteinTol returns t such that a frequency of n Bernoulli(p) trials is
// farther than t from p with probability at most alpha.
func bernsteinTol(n int, p, alpha float64) float64 {
	l := math.Log(2 / alpha)
	v := p * (1 - p)
	fn := float64(n)
	return (2*l/3 + math.Sqrt(4*l*l/9+8*fn*l*v)) / (2 * fn)
}

// checkFreq checks an observed count of hits in n trials against p.
func checkFreq(t *testing.T, name string, hits, n int, p float64) {
	t.Helper()
	got := float64(hits) / float64(n)
	if tol := bernsteinTol(n, p, checkAlpha); math.Abs(got-p) > tol {
		t.Errorf("%s: frequency %.6g over %d samples, want %.6g ± %.3g", name, got, n, p, tol)
	}
}

// pmf is a distribution over the integers, given by its values on
// [-limit, limit] (the rest has negligible mass).
type pmf struct {
	limit int
	p     []float64 // p[x+limit]
}

func (d pmf) at(x int) float64 {
	if x < -d.limit || x > d.limit {
		return 0
	}
	return d.p[x+d.limit]
}

func (d pmf) moment(k int) float64 {
	var s float64
	for x := -d.limit; x <= d.limit; x++ {
		s += math.Pow(float64(x), float64(k)) * d.at(x)
	}
	return s
}

// tail returns P[|X| ≥ m].
func (d pmf) tail(m int) float64 {
	var s float64
	for x := m; x <= d.limit; x++ {
		s += d.at(x) + d.at(-x)
	}
	return s
}

func laplacePMF(b float64) pmf {
	a := math.Exp(-1 / b)
	limit := int(60*b) + 10
	d := pmf{limit: limit, p: make([]float64, 2*limit+1)}
	for x := -limit; x <= limit; x++ {
		d.p[x+limit] = (1 - a) / (1 + a) * math.Pow(a, math.Abs(float64(x)))
	}
	return d
}

func gaussianPMF(sigma2 float64) pmf {
	limit := int(40*math.Sqrt(sigma2)) + 10
	d := pmf{limit: limit, p: make([]float64, 2*limit+1)}
	var z float64
	for x := -limit; x <= limit; x++ {
		w := math.Exp(-float64(x) * float64(x) / (2 * sigma2))
		d.p[x+limit] = w
		z += w
	}
	for i := range d.p {
		d.p[i] /= z
	}
	return d
}

// checkDistribution draws n samples and compares their mean, variance,
// two tail masses and every pmf value of at least 10⁻³ with want. It makes
// at most 4 + 2·(number of x with pmf ≥ 10⁻³) checks, fewer than 200 for
// the distributions tested here.
func checkDistribution(t *testing.T, want pmf, n int, draw func() (*big.Int, error)) {
	t.Helper()
	counts := map[int64]int{}
	var sum, sumSq float64
	for range n {
		z, err := draw()
		if err != nil {
			t.Fatal(err)
		}
		x := z.Int64()
		counts[x]++
		sum += float64(x)
		sumSq += float64(x) * float64(x)
	}
	mean := sum / float64(n)
	variance := sumSq/float64(n) - mean*mean
	wantVar := want.moment(2)
	if se := math.Sqrt(wantVar / float64(n)); math.Abs(mean) > checkZ*se {
		t.Errorf("mean = %.5g, want 0 ± %.3g", mean, checkZ*se)
	}
	if se := math.Sqrt((want.moment(4) - wantVar*wantVar) / float64(n)); math.Abs(variance-wantVar) > checkZ*se {
		t.Errorf("variance = %.6g, want %.6g ± %.3g", variance, wantVar, checkZ*se)
	}
	// Tail masses beyond about the 90th and 99th percentiles of |X|.
	for _, q := range []float64{0.1, 0.01} {
		m := 1
		for want.tail(m) > q {
			m++
		}
		hits := 0
		for x, c := range counts {
			if x >= int64(m) || x <= -int64(m) {
				hits += c
			}
		}
		checkFreq(t, fmt.Sprintf("P[|X| ≥ %d]", m), hits, n, want.tail(m))
	}
	checks := 4
	for x := -want.limit; x <= want.limit; x++ {
		if p := want.at(x); p >= 1e-3 {
			checkFreq(t, fmt.Sprintf("P[X = %d]", x), counts[int64(x)], n, p)
			checks++
		}
	}
	if checks > 200 {
		t.Fatalf("made %d checks, more than the stated false-failure rate allows", checks)
	}
}

// floatRat returns the exact rational value of f, as the mechanisms derive
// scales from float parameters.
func floatRat(f float64) *big.Rat { return new(big.Rat).SetFloat64(f) }

// The discrete Laplace sampler matches its pmf. Scales cover t/s with
// s = 1, a non-integer scale, a scale below 1, and the rational of a
// float64 (t = 2^55), as a mechanism derives it from ε = 0.1. 140 checks
// in all: false-failure rate below 3·10⁻⁷ (see checkAlpha).
func TestDiscreteLaplaceDistribution(t *testing.T) {
	t.Parallel()
	s := NewSampler(rand.Reader)
	for _, b := range []*big.Rat{big.NewRat(1, 1), big.NewRat(5, 2), big.NewRat(1, 3), new(big.Rat).Inv(floatRat(0.1))} {
		t.Run(b.String(), func(t *testing.T) {
			t.Parallel()
			bf, _ := b.Float64()
			checkDistribution(t, laplacePMF(bf), 500_000, func() (*big.Int, error) { return s.DiscreteLaplace(b) })
		})
	}
}

// The discrete Gaussian sampler matches its pmf, for σ < 1, a non-integer
// σ², and σ² = 4/(2·0.05) as derived exactly from a float ρ. Fewer than
// 70 checks in all: false-failure rate below 1.4·10⁻⁷ (see checkAlpha).
func TestDiscreteGaussianDistribution(t *testing.T) {
	t.Parallel()
	s := NewSampler(rand.Reader)
	for _, v := range []*big.Rat{big.NewRat(1, 4), big.NewRat(10, 3), new(big.Rat).Quo(big.NewRat(4, 1), floatRat(2*0.05))} {
		t.Run(v.FloatString(3), func(t *testing.T) {
			t.Parallel()
			vf, _ := v.Float64()
			checkDistribution(t, gaussianPMF(vf), 500_000, func() (*big.Int, error) { return s.DiscreteGaussian(v) })
		})
	}
}

// BernoulliExp returns true with probability exp(−γ), including for γ
// whose numerator and denominator exceed 64 bits. Seven checks at
// checkAlpha: false-failure rate below 1.4·10⁻⁸.
func TestBernoulliExp(t *testing.T) {
	t.Parallel()
	s := NewSampler(rand.Reader)
	huge := new(big.Int).Lsh(big.NewInt(1), 100)
	for _, g := range []*big.Rat{
		big.NewRat(0, 1), big.NewRat(1, 3), big.NewRat(1, 1), big.NewRat(5, 2), big.NewRat(7, 2),
		new(big.Rat).SetFrac(new(big.Int).Add(huge, huge), new(big.Int).Sub(huge, bigOne)), // just above 2
		// 2^63/(2^64 − 1): the denominator fits in 64 bits but twice it does
		// not, so the run continues in big arithmetic from k = 2.
		new(big.Rat).SetFrac(new(big.Int).Lsh(bigOne, 63), new(big.Int).SetUint64(math.MaxUint64)),
	} {
		const n = 200_000
		hits := 0
		for range n {
			b, err := s.BernoulliExp(g)
			if err != nil {
				t.Fatal(err)
			}
			if b {
				hits++
			}
		}
		gf, _ := g.Float64()
		checkFreq(t, "BernoulliExp("+g.String()+")", hits, n, math.Exp(-gf))
	}
}

func TestSamplerRejectsBadParameters(t *testing.T) {
	s := NewSampler(rand.Reader)
	for _, r := range []*big.Rat{nil, big.NewRat(0, 1), big.NewRat(-1, 2)} {
		if _, err := s.DiscreteLaplace(r); err == nil {
			t.Errorf("DiscreteLaplace(%v) succeeded, want error", r)
		}
		if _, err := s.DiscreteGaussian(r); err == nil {
			t.Errorf("DiscreteGaussian(%v) succeeded, want error", r)
		}
		if _, err := (ZeroNoise{}).DiscreteLaplace(r); err == nil {
			t.Errorf("ZeroNoise.DiscreteLaplace(%v) succeeded, want error", r)
		}
	}
	if _, err := s.BernoulliExp(big.NewRat(-1, 1)); err == nil {
		t.Error("BernoulliExp(-1) succeeded, want error")
	}
}

// A failing random source is an error, never a silent fallback.
func TestSamplerReadError(t *testing.T) {
	s := NewSampler(bytes.NewReader(make([]byte, 5)))
	_, err := s.DiscreteGaussian(big.NewRat(9, 1))
	if err == nil {
		t.Fatal("DiscreteGaussian with an exhausted reader succeeded")
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("error = %v, want it to wrap io.ErrUnexpectedEOF", err)
	}
}

func TestZeroNoise(t *testing.T) {
	var z ZeroNoise
	if v, err := z.DiscreteGaussian(big.NewRat(3, 1)); err != nil || v.Sign() != 0 {
		t.Errorf("ZeroNoise.DiscreteGaussian = %v, %v, want 0", v, err)
	}
	if v, err := z.DiscreteLaplace(big.NewRat(3, 1)); err != nil || v.Sign() != 0 {
		t.Errorf("ZeroNoise.DiscreteLaplace = %v, %v, want 0", v, err)
	}
}

func BenchmarkDiscreteLaplace(b *testing.B) {
	s := NewSampler(rand.Reader)
	for _, scale := range []*big.Rat{big.NewRat(1, 1), new(big.Rat).Inv(floatRat(0.1)), big.NewRat(1_000_000, 1)} {
		b.Run("b="+scale.FloatString(2), func(b *testing.B) {
			for b.Loop() {
				if _, err := s.DiscreteLaplace(scale); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDiscreteGaussian(b *testing.B) {
	s := NewSampler(rand.Reader)
	for _, v := range []*big.Rat{big.NewRat(1, 4), new(big.Rat).Quo(big.NewRat(4, 1), floatRat(2*0.05)), big.NewRat(1_000_000_000_000, 1)} {
		b.Run("sigma2="+v.FloatString(2), func(b *testing.B) {
			for b.Loop() {
				if _, err := s.DiscreteGaussian(v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkBernoulliExp(b *testing.B) {
	s := NewSampler(rand.Reader)
	g := big.NewRat(5, 2)
	for b.Loop() {
		if _, err := s.BernoulliExp(g); err != nil {
			b.Fatal(err)
		}
	}
}
