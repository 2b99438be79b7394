package dpml

import (
	"errors"
	"fmt"
	"math"
	"math/big"

	"github.com/cleanroom-dev/cleanroom/internal/dp"
)

// logisticCurvature is c of Chaudhuri, Monteleoni and Sarwate (2011): a
// bound on the second derivative σ(z)(1 − σ(z)) ≤ 1/4 of the logistic
// loss ℓ(z) = log(1 + e^−z). Its first derivative, −σ(−z), is bounded by
// 1 in absolute value, which the theorem also needs.
const logisticCurvature = 0.25

// perturbation is what Algorithm 2 of Chaudhuri, Monteleoni and Sarwate
// derives from ε, n and Λ before it draws any noise.
type perturbation struct {
	// epsPrime is ε′: b has density ∝ exp(−ε′‖b‖/2).
	epsPrime float64
	// delta is Δ ≥ 0, the extra regularisation (Δ/2)‖w‖².
	delta float64
}

// perturbationFor returns ε′ and Δ of Algorithm 2 (the step "if ε′_p > 0
// then Δ = 0, else Δ = c/(n(e^{ε_p/4} − 1)) − Λ and ε′_p = ε_p/2"), with
//
//	ε′ = ε − log(1 + 2c/(nΛ) + c²/(n²Λ²)) = ε − 2·log(1 + c/(nΛ)).
//
// The log term bounds the ratio of the Jacobians of the map from b to the
// minimiser on neighbouring datasets (their Theorem 9); when it eats the
// whole ε, the extra Δ makes it exactly ε/2 and b gets the other half.
// Δ is then positive: ε′ ≤ 0 means c/(nΛ) ≥ e^{ε/2} − 1 > e^{ε/4} − 1.
func perturbationFor(eps float64, n int, lambda float64) perturbation {
	x := logisticCurvature / (float64(n) * lambda)
	if ep := eps - 2*math.Log1p(x); ep > 0 {
		return perturbation{epsPrime: ep}
	}
	return perturbation{
		epsPrime: eps / 2,
		delta:    logisticCurvature/(float64(n)*math.Expm1(eps/4)) - lambda,
	}
}

// Resolution of the continuous draws made from dp's exact integer
// samplers (see drawPerturbation).
const (
	// expBits: each exponential variable is drawn exactly on the grid
	// 2^−expBits, the resolution of a float64 in [1, 2).
	expBits = 53
	// dirBits: each coordinate of the direction is a discrete Gaussian
	// with σ = 2^dirBits.
	dirBits = 40
	// maxDirectionDraws bounds the redraws of an all-zero direction, which
	// with dp.Secure has probability below 2^−dirBits per draw.
	maxDirectionDraws = 64
)

var (
	// expGrid is the scale 2^expBits of the discrete Laplace draws that
	// give the exponentials.
	expGrid = new(big.Rat).SetInt(new(big.Int).Lsh(big.NewInt(1), expBits))
	// dirVariance is σ² = 2^(2·dirBits) of the direction's coordinates.
	dirVariance = new(big.Rat).SetInt(new(big.Int).Lsh(big.NewInt(1), 2*dirBits))
)

// drawPerturbation returns a vector b ∈ ℝ^d with density proportional to
// exp(−‖b‖/scale), up to the resolutions below. Train calls it with
// scale = 2/ε′, which is the density ν(b) ∝ exp(−ε′‖b‖/2) of Algorithm 2.
// In polar coordinates that density factors into a norm r with density
// ∝ r^{d−1}·e^{−r/scale}, that is Gamma(d, scale), and a direction uniform
// on the sphere, drawn independently (Chaudhuri et al. 2011, Section 4).
//
// All randomness comes from noise (dp.Secure in releases: the exact
// samplers of Canonne, Kamath and Steinke over crypto/rand), turned into
// continuous draws as follows.
//
//   - Norm. Gamma(d, scale) with integer d is scale·(E₁ + … + E_d) for
//     independent Exp(1) variables Eᵢ. If Y is discrete Laplace with scale
//     t (P[Y = y] ∝ e^{−|y|/t}), folding it onto the non-negative integers
//     (G = Y for Y ≥ 0, G = −Y − 1 otherwise) gives exactly
//     P[G = g] = (1 − e^{−1/t})·e^{−g/t}, the law of ⌊t·E⌋. With
//     t = 2^53, S = Σ Gᵢ is computed exactly as an integer and
//     r = scale·(S/2^53), where S/2^53 is rounded once to float64 and the
//     product once more. So r is a Gamma variable rounded down to the grid
//     scale·2^−53 in each term (an error below d·scale·2^−53 in total),
//     then to float64 — with no truncation of the tail.
//   - Direction. A vector z of d independent discrete Gaussians with
//     σ = 2^40 has P[z] ∝ exp(−‖z‖²/(2σ²)), a function of ‖z‖ alone, so
//     all lattice points of one norm are equally likely and z/‖z‖ is
//     uniform up to the lattice's granularity, about 2^−40 in angle. Its
//     coordinates are exact in float64; z/‖z‖ is rounded to float64.
//
// So the draw is exact up to the stated grids and the final float64
// roundings of r and of each coordinate (relative error a few 2^−53); the
// floating-point caveat of the package comment applies to what follows.
// With dp.ZeroNoise, S = 0 and b is the zero vector.
func drawPerturbation(noise dp.Noise, d int, scale float64) ([]float64, error) {
	if d < 1 {
		return nil, fmt.Errorf("draw perturbation: dimension must be at least 1, got %d", d)
	}
	if !(scale > 0) || math.IsInf(scale, 0) {
		return nil, fmt.Errorf("draw perturbation: scale must be positive and finite, got %v", scale)
	}
	s := new(big.Int)
	for range d {
		y, err := noise.DiscreteLaplace(expGrid)
		if err != nil {
			return nil, fmt.Errorf("draw perturbation norm: %w", err)
		}
		if y.Sign() < 0 {
			y.Neg(y)
			y.Sub(y, big.NewInt(1))
		}
		s.Add(s, y)
	}
	e, _ := new(big.Rat).SetFrac(s, expGrid.Num()).Float64()
	r := scale * e
	b := make([]float64, d)
	if r == 0 {
		return b, nil
	}
	if math.IsInf(r, 0) {
		return nil, errors.New("draw perturbation: norm overflows float64")
	}
	z := make([]float64, d)
	for range maxDirectionDraws {
		for i := range z {
			g, err := noise.DiscreteGaussian(dirVariance)
			if err != nil {
				return nil, fmt.Errorf("draw perturbation direction: %w", err)
			}
			if !g.IsInt64() || math.Abs(float64(g.Int64())) > 1<<53 {
				return nil, errors.New("draw perturbation direction: coordinate out of range")
			}
			z[i] = float64(g.Int64())
		}
		if nz := norm2(z); nz > 0 {
			for i := range b {
				b[i] = r * (z[i] / nz)
			}
			return b, nil
		}
	}
	return nil, errors.New("draw perturbation direction: the noise source gave only zero vectors")
}

// norm2 returns the Euclidean norm of x without overflow or underflow in
// the intermediate sum of squares (the scaled sum of LAPACK's dnrm2). It
// is the one norm that Clip and Train's bound check both use.
func norm2(x []float64) float64 {
	scale, ssq := 0.0, 1.0
	for _, v := range x {
		if v == 0 {
			continue
		}
		a := math.Abs(v)
		if scale < a {
			r := scale / a
			ssq = 1 + ssq*r*r
			scale = a
		} else {
			r := a / scale
			ssq += r * r
		}
	}
	return scale * math.Sqrt(ssq)
}
