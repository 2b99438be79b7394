package dpml

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"sync"
	"testing"

	"github.com/cleanroom-dev/cleanroom/internal/dp"
)

// False-failure rates. The statistical checks of this package use dp.Secure
// (crypto/rand) and bounds that hold for every sample size:
//
//   - the distribution of ‖b‖ is checked with the Kolmogorov–Smirnov
//     distance and the Dvoretzky–Kiefer–Wolfowitz inequality with Massart's
//     constant, P[sup|F̂ − F| > t] ≤ 2·exp(−2Nt²), at ksAlpha per check;
//   - means of bounded variables are checked with Bernstein's inequality,
//     P[|X̄ − μ| ≥ t] ≤ 2·exp(−Nt²/(2v + 2Mt/3)) for |X − μ| ≤ M and
//     variance at most v, at bernsteinAlpha per check;
//   - noisy counts and ‖b‖ are bounded by tail bounds stated where used.
//
// Each test states its number of checks; the package's statistical tests
// fail by chance with probability below 10⁻⁶ in all (summed below each
// test's comment: 3·10⁻⁷ + 2.4·10⁻⁷ + 10⁻⁹ + 2.7·10⁻⁸).
const (
	ksAlpha        = 1e-7
	bernsteinAlpha = 1e-8
)

// bernsteinTol returns t such that the mean of n independent variables
// with |X − μ| ≤ m and variance at most v is farther than t from μ with
// probability at most alpha.
func bernsteinTol(n int, v, m, alpha float64) float64 {
	l := math.Log(2 / alpha)
	fn := float64(n)
	// Solve n·t² = l·(2v + 2mt/3) for t > 0.
	return (2*m*l/3 + math.Sqrt(4*m*m*l*l/9+8*fn*l*v)) / (2 * fn)
}

// gammaSurvival returns P[X > x] for X ~ Gamma(d, theta) with integer
// shape d: e^{−x/θ}·Σ_{k<d} (x/θ)^k/k!.
func gammaSurvival(d int, theta, x float64) float64 {
	if x <= 0 {
		return 1
	}
	u := x / theta
	term, sum := 1.0, 1.0
	for k := 1; k < d; k++ {
		term *= u / float64(k)
		sum += term
	}
	return math.Exp(-u) * sum
}

// gammaQuantile returns x with P[X > x] = p for X ~ Gamma(d, theta), by
// bisection.
func gammaQuantile(d int, theta, p float64) float64 {
	lo, hi := 0.0, theta*(float64(d)+10)
	for gammaSurvival(d, theta, hi) > p {
		hi *= 2
	}
	for range 200 {
		mid := (lo + hi) / 2
		if gammaSurvival(d, theta, mid) > p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// perturbationFor follows Algorithm 2 of Chaudhuri et al.: the values are
// recomputed here from the paper's unsimplified formula
// ε′ = ε − log(1 + 2c/(nΛ) + c²/(n²Λ²)).
func TestPerturbationFor(t *testing.T) {
	const c = 0.25
	for _, tc := range []struct {
		eps    float64
		n      int
		lambda float64
		want   perturbation
	}{
		// c/(nΛ) = 0.00125: ε′ > 0, no extra regularisation.
		{1, 20000, 0.01, perturbation{epsPrime: 1 - math.Log(1+2*0.00125+0.00125*0.00125)}},
		// c/(nΛ) = 0.025.
		{1, 1000, 0.01, perturbation{epsPrime: 1 - math.Log(1+0.05+0.000625)}},
		// c/(nΛ) = 12.5: log(1 + 25 + 156.25) > 0.5, so Δ > 0 and ε′ = ε/2.
		{0.5, 200, 1e-4, perturbation{epsPrime: 0.25, delta: c/(200*(math.Exp(0.125)-1)) - 1e-4}},
		// c/(nΛ) = 2.5.
		{0.1, 100, 1e-3, perturbation{epsPrime: 0.05, delta: c/(100*(math.Exp(0.025)-1)) - 1e-3}},
	} {
		got := perturbationFor(tc.eps, tc.n, tc.lambda)
		if math.Abs(got.epsPrime-tc.want.epsPrime) > 1e-14 || math.Abs(got.delta-tc.want.delta) > 1e-14*math.Max(1, tc.want.delta) {
			t.Errorf("perturbationFor(%v, %d, %v) = %+v, want %+v", tc.eps, tc.n, tc.lambda, got, tc.want)
		}
		if got.delta > 0 {
			// With Λ + Δ, the Jacobian term is exactly ε/2 (Theorem 9).
			x := c / (float64(tc.n) * (tc.lambda + got.delta))
			if term := math.Log(1 + 2*x + x*x); math.Abs(term-tc.eps/2) > 1e-12 {
				t.Errorf("perturbationFor(%v, %d, %v): log term with Λ+Δ = %v, want ε/2 = %v", tc.eps, tc.n, tc.lambda, term, tc.eps/2)
			}
		}
	}
}

// The norm of b has the Gamma(d, scale) distribution. One KS check per
// dimension, three in all at ksAlpha: false-failure rate below 3·10⁻⁷.
func TestPerturbationNormIsGamma(t *testing.T) {
	t.Parallel()
	const scale = 2 / 0.8 // ε′ = 0.8
	for _, d := range []int{1, 4, 21} {
		t.Run(fmt.Sprintf("d=%d", d), func(t *testing.T) {
			t.Parallel()
			const n = 20000
			norms := make([]float64, n)
			for i := range norms {
				b, err := drawPerturbation(dp.Secure, d, scale)
				if err != nil {
					t.Fatal(err)
				}
				if len(b) != d {
					t.Fatalf("drawPerturbation(d=%d) has length %d", d, len(b))
				}
				norms[i] = norm2(b)
			}
			slices.Sort(norms)
			var ks float64
			for i, x := range norms {
				f := 1 - gammaSurvival(d, scale, x)
				ks = math.Max(ks, math.Max(float64(i+1)/n-f, f-float64(i)/n))
			}
			if tol := math.Sqrt(math.Log(2/ksAlpha) / (2 * n)); ks > tol {
				t.Errorf("d=%d: KS distance of ‖b‖ from Gamma(%d, %v) = %.4f over %d draws, want ≤ %.4f", d, d, scale, ks, n, tol)
			}
		})
	}
}

// The direction b/‖b‖ is uniform on the sphere: each coordinate has mean
// 0 and second moment 1/d, and two coordinates are uncorrelated. For d = 3
// and d = 8, 2d + 1 Bernstein checks each, 24 in all at bernsteinAlpha:
// false-failure rate below 2.4·10⁻⁷.
func TestPerturbationDirectionIsUniform(t *testing.T) {
	t.Parallel()
	for _, d := range []int{3, 8} {
		t.Run(fmt.Sprintf("d=%d", d), func(t *testing.T) {
			t.Parallel()
			const n = 20000
			mean := make([]float64, d)
			sq := make([]float64, d)
			var cross float64
			for range n {
				b, err := drawPerturbation(dp.Secure, d, 1)
				if err != nil {
					t.Fatal(err)
				}
				r := norm2(b)
				for j := range b {
					u := b[j] / r
					mean[j] += u / n
					sq[j] += u * u / n
				}
				cross += b[0] / r * b[1] / r / n
			}
			fd := float64(d)
			// For u uniform on the sphere in ℝ^d: E[uⱼ²] = 1/d,
			// E[uⱼ⁴] = 3/(d(d+2)), E[u₁²u₂²] = 1/(d(d+2)).
			tolMean := bernsteinTol(n, 1/fd, 1, bernsteinAlpha)
			tolSq := bernsteinTol(n, 3/(fd*(fd+2))-1/(fd*fd), 1, bernsteinAlpha)
			tolCross := bernsteinTol(n, 1/(fd*(fd+2)), 0.5, bernsteinAlpha)
			for j := range d {
				if math.Abs(mean[j]) > tolMean {
					t.Errorf("d=%d: mean of coordinate %d = %.5f, want 0 ± %.5f", d, j, mean[j], tolMean)
				}
				if math.Abs(sq[j]-1/fd) > tolSq {
					t.Errorf("d=%d: mean square of coordinate %d = %.5f, want %.5f ± %.5f", d, j, sq[j], 1/fd, tolSq)
				}
			}
			if math.Abs(cross) > tolCross {
				t.Errorf("d=%d: mean of u₀·u₁ = %.5f, want 0 ± %.5f", d, cross, tolCross)
			}
		})
	}
}

// scriptedNoise returns the given samples in order and fails when they
// run out.
type scriptedNoise struct {
	mu                sync.Mutex
	laplace, gaussian []*big.Int
}

func (s *scriptedNoise) DiscreteLaplace(*big.Rat) (*big.Int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.laplace) == 0 {
		return nil, errors.New("scripted noise: no laplace sample left")
	}
	y := new(big.Int).Set(s.laplace[0])
	s.laplace = s.laplace[1:]
	return y, nil
}

func (s *scriptedNoise) DiscreteGaussian(*big.Rat) (*big.Int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.gaussian) == 0 {
		return nil, errors.New("scripted noise: no gaussian sample left")
	}
	y := new(big.Int).Set(s.gaussian[0])
	s.gaussian = s.gaussian[1:]
	return y, nil
}

func ints(xs ...int64) []*big.Int {
	out := make([]*big.Int, len(xs))
	for i, x := range xs {
		out[i] = big.NewInt(x)
	}
	return out
}

// The integer samples become b as documented: a negative discrete Laplace
// sample y folds to −y − 1, the folded sum is the norm in units of
// scale·2^−53, and an all-zero direction is drawn again.
func TestPerturbationFromSamples(t *testing.T) {
	const grid = 1 << 53
	noise := &scriptedNoise{
		// Folded: 2^53 and 2^53 − 1 + 1 = 2^53, so ‖b‖ = scale·2.
		laplace:  ints(grid, -grid-1),
		gaussian: ints(0, 0, 3, -4),
	}
	b, err := drawPerturbation(noise, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{6 * 0.6, 6 * -0.8}
	for j := range want {
		if math.Abs(b[j]-want[j]) > 1e-15*6 {
			t.Errorf("b = %v, want %v", b, want)
			break
		}
	}
	if len(noise.laplace)+len(noise.gaussian) != 0 {
		t.Errorf("drawPerturbation left samples unused: %v %v", noise.laplace, noise.gaussian)
	}
}

func TestPerturbationZeroNoise(t *testing.T) {
	b, err := drawPerturbation(dp.ZeroNoise{}, 5, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b, make([]float64, 5)) {
		t.Errorf("drawPerturbation(dp.ZeroNoise{}) = %v, want zeros", b)
	}
}

// A failing noise source is an error, never a weaker perturbation.
func TestPerturbationNoiseError(t *testing.T) {
	for _, noise := range []*scriptedNoise{
		{},                                    // no norm
		{laplace: ints(5)},                    // no direction
		{laplace: ints(5), gaussian: ints(0)}, // zero direction, then nothing
	} {
		if b, err := drawPerturbation(noise, 1, 1); err == nil {
			t.Errorf("drawPerturbation with a failing source = %v, want error", b)
		}
	}
	for _, scale := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		if _, err := drawPerturbation(dp.Secure, 2, scale); err == nil {
			t.Errorf("drawPerturbation(scale=%v) succeeded, want error", scale)
		}
	}
}

func TestNorm2(t *testing.T) {
	for _, tc := range []struct {
		x    []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3, 4}, 5},
		{[]float64{0, -2, 0}, 2},
		{[]float64{3e300, 4e300}, 5e300},
		{[]float64{3e-300, 4e-300}, 5e-300},
	} {
		if got := norm2(tc.x); math.Abs(got-tc.want) > 1e-15*tc.want {
			t.Errorf("norm2(%v) = %v, want %v", tc.x, got, tc.want)
		}
	}
}
