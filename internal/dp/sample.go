package dp

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"math/bits"
)

// Noise is the source of the noise that mechanisms add. Secure is the only
// implementation meant for releases; ZeroNoise is a deterministic stand-in
// for tests of code that uses this package.
//
// Implementations return exact integers and are safe for concurrent use.
type Noise interface {
	// DiscreteLaplace returns a sample of the discrete Laplace distribution
	// with the given scale b > 0: P[x] ∝ exp(−|x|/b) for every integer x.
	DiscreteLaplace(scale *big.Rat) (*big.Int, error)
	// DiscreteGaussian returns a sample of the discrete Gaussian
	// distribution with variance parameter σ² > 0:
	// P[x] ∝ exp(−x²/(2σ²)) for every integer x.
	DiscreteGaussian(sigma2 *big.Rat) (*big.Int, error)
}

// Secure draws noise from crypto/rand with the exact samplers of Sampler.
// It is the default Noise of every mechanism.
var Secure Noise = NewSampler(rand.Reader)

// ZeroNoise is a Noise that always returns 0. It is for tests only: a
// mechanism given ZeroNoise releases true values and protects nobody. With
// ZeroNoise, Selection keeps a group exactly when its count is at least
// Selection.Threshold(), so tests can predict every decision.
type ZeroNoise struct{}

// DiscreteLaplace returns 0.
func (ZeroNoise) DiscreteLaplace(scale *big.Rat) (*big.Int, error) {
	if scale == nil || scale.Sign() <= 0 {
		return nil, errors.New("discrete laplace: scale must be positive")
	}
	return new(big.Int), nil
}

// DiscreteGaussian returns 0.
func (ZeroNoise) DiscreteGaussian(sigma2 *big.Rat) (*big.Int, error) {
	if sigma2 == nil || sigma2.Sign() <= 0 {
		return nil, errors.New("discrete gaussian: variance must be positive")
	}
	return new(big.Int), nil
}

// Sampler draws exact samples from the distributions of Canonne, Kamath and
// Steinke, "The Discrete Gaussian for Differential Privacy" (NeurIPS 2020,
// arXiv:2004.00010), Algorithms 1–3. Every step uses integer or rational
// arithmetic on uniformly random bytes, so the output distribution is
// exactly the stated one: there is no floating-point rounding that could
// make the noise leak the value it hides, as Mironov showed for
// floating-point Laplace noise ("On Significance of the Least Significant
// Bits for Differential Privacy", CCS 2012).
//
// A Sampler's running time depends on the values it samples (the
// algorithms loop a random number of times); a release that must not leak
// through timing runs behind PadTo.
//
// A Sampler is safe for concurrent use when its reader is; crypto/rand's
// Reader is.
type Sampler struct {
	r io.Reader
}

// NewSampler returns a Sampler reading uniformly random bytes from r.
// Releases use crypto/rand.Reader (see Secure); any other reader is for
// tests that need reproducible samples.
func NewSampler(r io.Reader) *Sampler { return &Sampler{r: r} }

var bigOne = big.NewInt(1)

// uniform64 returns a uniform integer in [0, n) for 0 < n, by rejection
// sampling on the smallest number of random bits that can hold n−1.
func (s *Sampler) uniform64(n uint64) (uint64, error) {
	switch n {
	case 0:
		return 0, errors.New("uniform sample from an empty range")
	case 1:
		return 0, nil
	}
	mask := ^uint64(0) >> bits.LeadingZeros64(n-1)
	var buf [8]byte
	for {
		if _, err := io.ReadFull(s.r, buf[:]); err != nil {
			return 0, fmt.Errorf("read random bytes: %w", err)
		}
		x := binary.LittleEndian.Uint64(buf[:]) & mask
		if x < n {
			return x, nil
		}
	}
}

// uniform sets z to a uniform integer in [0, n) for n > 0 and returns it.
func (s *Sampler) uniform(z, n *big.Int) (*big.Int, error) {
	if n.Sign() <= 0 {
		return nil, errors.New("uniform sample from an empty range")
	}
	if n.IsUint64() {
		x, err := s.uniform64(n.Uint64())
		if err != nil {
			return nil, err
		}
		return z.SetUint64(x), nil
	}
	nbits := new(big.Int).Sub(n, bigOne).BitLen()
	buf := make([]byte, (nbits+7)/8)
	top := byte(0xff)
	if r := nbits % 8; r != 0 {
		top = byte(1<<r - 1)
	}
	for {
		if _, err := io.ReadFull(s.r, buf); err != nil {
			return nil, fmt.Errorf("read random bytes: %w", err)
		}
		buf[0] &= top
		z.SetBytes(buf)
		if z.Cmp(n) < 0 {
			return z, nil
		}
	}
}

// BernoulliExp returns true with probability exp(−γ) for a rational γ ≥ 0:
// Algorithm 1 of Canonne, Kamath and Steinke (2020). For γ ≤ 1 it counts
// the length K of a run of Bernoulli(γ/k) successes and returns whether K is
// odd, which happens with probability exactly exp(−γ); larger γ is split into
// ⌊γ⌋ draws of Bernoulli(exp(−1)) and one draw for the fractional part.
func (s *Sampler) BernoulliExp(gamma *big.Rat) (bool, error) {
	if gamma == nil || gamma.Sign() < 0 {
		return false, errors.New("bernoulli exp: γ must be non-negative")
	}
	b, err := s.bernoulliExp(gamma.Num(), gamma.Denom())
	if err != nil {
		return false, fmt.Errorf("bernoulli exp: %w", err)
	}
	return b, nil
}

// bernoulliExp returns true with probability exp(−num/den), num ≥ 0, den > 0.
func (s *Sampler) bernoulliExp(num, den *big.Int) (bool, error) {
	whole, frac := new(big.Int).QuoRem(num, den, new(big.Int))
	// Each Bernoulli(exp(−1)) draw fails with probability 1 − 1/e, so the
	// loop ends after 1.6 draws on average however large γ is.
	for i := new(big.Int); i.Cmp(whole) < 0; i.Add(i, bigOne) {
		b, err := s.bernoulliExpUnit(bigOne, bigOne)
		if err != nil || !b {
			return false, err
		}
	}
	return s.bernoulliExpUnit(frac, den)
}

// bernoulliExpUnit returns true with probability exp(−num/den) for
// 0 ≤ num ≤ den, den > 0.
func (s *Sampler) bernoulliExpUnit(num, den *big.Int) (bool, error) {
	if num.Sign() == 0 {
		return true, nil
	}
	// K counts the successes of Bernoulli(γ/k) for k = 1, 2, …; the result
	// is whether the first failure comes at an odd k.
	k := uint64(1)
	if num.IsUint64() && den.IsUint64() {
		n, d := num.Uint64(), den.Uint64()
		for ; ; k++ {
			hi, lo := bits.Mul64(d, k)
			if hi != 0 {
				break // d·k overflows: go on at this k in big arithmetic
			}
			u, err := s.uniform64(lo)
			if err != nil {
				return false, err
			}
			if u >= n {
				return k%2 == 1, nil
			}
		}
	}
	dk := new(big.Int)
	u := new(big.Int)
	for bk := new(big.Int).SetUint64(k); ; bk.Add(bk, bigOne) {
		dk.Mul(den, bk)
		if _, err := s.uniform(u, dk); err != nil {
			return false, err
		}
		if u.Cmp(num) >= 0 {
			return bk.Bit(0) == 1, nil
		}
	}
}

// DiscreteLaplace returns a sample of the discrete Laplace distribution
// with scale b = t/s: P[x] = (e^{1/b} − 1)/(e^{1/b} + 1) · e^{−|x|/b}.
// It is Algorithm 2 of Canonne, Kamath and Steinke (2020): a geometric
// variable with parameter 1 − e^{−1/t} is built from a uniform remainder
// U < t accepted with probability e^{−U/t} and a count of Bernoulli(e^{−1})
// successes, divided by s, given a random sign, and −0 is rejected.
func (s *Sampler) DiscreteLaplace(scale *big.Rat) (*big.Int, error) {
	if scale == nil || scale.Sign() <= 0 {
		return nil, errors.New("discrete laplace: scale must be positive")
	}
	y, err := s.discreteLaplace(scale.Num(), scale.Denom())
	if err != nil {
		return nil, fmt.Errorf("discrete laplace: %w", err)
	}
	return y, nil
}

func (s *Sampler) discreteLaplace(t, sd *big.Int) (*big.Int, error) {
	u := new(big.Int)
	v := new(big.Int)
	x := new(big.Int)
	for {
		if _, err := s.uniform(u, t); err != nil {
			return nil, err
		}
		d, err := s.bernoulliExpUnit(u, t)
		if err != nil {
			return nil, err
		}
		if !d {
			continue
		}
		v.SetInt64(0)
		for {
			a, err := s.bernoulliExpUnit(bigOne, bigOne)
			if err != nil {
				return nil, err
			}
			if !a {
				break
			}
			v.Add(v, bigOne)
		}
		x.Mul(t, v)
		x.Add(x, u)
		y := new(big.Int).Quo(x, sd)
		neg, err := s.uniform64(2)
		if err != nil {
			return nil, err
		}
		if neg == 1 {
			if y.Sign() == 0 {
				continue
			}
			y.Neg(y)
		}
		return y, nil
	}
}

// DiscreteGaussian returns a sample of the discrete Gaussian distribution
// with variance parameter σ² (a rational p/q): P[x] ∝ exp(−x²/(2σ²)). It is
// Algorithm 3 of Canonne, Kamath and Steinke (2020): rejection sampling from
// the discrete Laplace distribution with scale t = ⌊σ⌋ + 1, accepting Y with
// probability exp(−(|Y| − σ²/t)²/(2σ²)). The variance of the output is at
// most σ² and, once σ ≥ 1, within a relative 10⁻⁶ of it.
func (s *Sampler) DiscreteGaussian(sigma2 *big.Rat) (*big.Int, error) {
	if sigma2 == nil || sigma2.Sign() <= 0 {
		return nil, errors.New("discrete gaussian: variance must be positive")
	}
	p, q := sigma2.Num(), sigma2.Denom()
	// t = ⌊σ⌋ + 1 = ⌊√⌊σ²⌋⌋ + 1.
	t := new(big.Int).Quo(p, q)
	t.Sqrt(t)
	t.Add(t, bigOne)
	// γ = (|Y| − σ²/t)² / (2σ²) = (|Y|·q·t − p)² / (2·p·q·t²).
	qt := new(big.Int).Mul(q, t)
	den := new(big.Int).Mul(p, qt)
	den.Mul(den, t)
	den.Lsh(den, 1)
	num := new(big.Int)
	for {
		y, err := s.discreteLaplace(t, bigOne)
		if err != nil {
			return nil, fmt.Errorf("discrete gaussian: %w", err)
		}
		num.Abs(y)
		num.Mul(num, qt)
		num.Sub(num, p)
		num.Mul(num, num)
		c, err := s.bernoulliExp(num, den)
		if err != nil {
			return nil, fmt.Errorf("discrete gaussian: %w", err)
		}
		if c {
			return y, nil
		}
	}
}
