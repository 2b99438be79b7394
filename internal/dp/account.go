package dp

import (
	"errors"
	"fmt"
	"math"
	"math/big"
)

// Fixed-point quanta of privacy amounts. Every ρ and ε a mechanism uses is
// rounded to the nearest multiple of RhoQuantum, and every δ to the nearest
// multiple of DeltaQuantum, before any noise is derived from it; the ledger
// stores the same whole numbers of quanta. So the amount a mechanism spends
// and the amount charged are the same exact number, and losses add without
// rounding.
const (
	RhoQuantum   = 1e-12 // quantum of ρ and ε
	DeltaQuantum = 1e-18 // quantum of δ
)

// Largest amounts a mechanism or a budget accepts. Beyond them a release
// protects nobody; the limits also keep every amount exactly representable
// both as a float64 and as a count of quanta.
const (
	MaxRho     = 1000 // largest ρ
	MaxEpsilon = 40   // largest ε (a pure-ε release then counts as ρ = 800)
	MaxDelta   = 1e-3 // largest δ
)

const (
	rhoDecimals   = 12
	deltaDecimals = 18
)

// Loss is the privacy loss of a release, or of several releases composed.
//
// Rho is the loss of the noisy values in ρ-zero-concentrated DP (Bun and
// Steinke, "Concentrated Differential Privacy: Simplifications, Extensions,
// and Lower Bounds", TCC 2016): zCDP losses add under composition, a
// discrete Gaussian release with sensitivity Δ₂ and variance σ² costs
// ρ = Δ₂²/(2σ²), and a pure ε-DP release costs ρ = ε²/2 (their
// Proposition 1.4).
//
// Epsilon and Delta are the (ε, δ)-DP terms of partition selection, which
// is not zCDP; they add by basic composition.
//
// A Loss is converted to (ε, δ)-DP with EpsilonAt. All fields are zero or
// positive, finite, and at most MaxRho, MaxEpsilon and MaxDelta.
type Loss struct {
	Rho     float64 `json:"rho"`
	Epsilon float64 `json:"epsilon"`
	Delta   float64 `json:"delta"`
}

// LossUnits is a Loss in whole quanta: Rho and Epsilon in RhoQuantum, Delta
// in DeltaQuantum. Ledgers add and compare LossUnits, never floats.
type LossUnits struct {
	Rho, Epsilon, Delta int64
}

// Validate reports whether every field of l is finite, non-negative and
// within its maximum.
func (l Loss) Validate() error {
	_, err := l.Units()
	return err
}

// Units returns l in whole quanta, each field rounded to the nearest
// quantum. A positive amount that rounds to zero quanta is an error, so
// nothing is ever spent for free.
func (l Loss) Units() (LossUnits, error) {
	var u LossUnits
	var err error
	if u.Rho, err = amountUnits("rho", l.Rho, rhoDecimals, MaxRho, true); err != nil {
		return LossUnits{}, err
	}
	if u.Epsilon, err = amountUnits("epsilon", l.Epsilon, rhoDecimals, MaxEpsilon, true); err != nil {
		return LossUnits{}, err
	}
	if u.Delta, err = amountUnits("delta", l.Delta, deltaDecimals, MaxDelta, true); err != nil {
		return LossUnits{}, err
	}
	return u, nil
}

// Loss returns u as a Loss.
func (u LossUnits) Loss() Loss {
	return Loss{Rho: fromUnits(u.Rho, rhoDecimals), Epsilon: fromUnits(u.Epsilon, rhoDecimals), Delta: fromUnits(u.Delta, deltaDecimals)}
}

// Add returns u + v, or an error if a field overflows.
func (u LossUnits) Add(v LossUnits) (LossUnits, error) {
	var w LossUnits
	var ok1, ok2, ok3 bool
	w.Rho, ok1 = addInt64(u.Rho, v.Rho)
	w.Epsilon, ok2 = addInt64(u.Epsilon, v.Epsilon)
	w.Delta, ok3 = addInt64(u.Delta, v.Delta)
	if !ok1 || !ok2 || !ok3 {
		return LossUnits{}, errors.New("add losses: overflow")
	}
	return w, nil
}

// Plus returns the composition of l and m: ρ, ε and δ each add. It fails
// if either is invalid or the sum exceeds a maximum.
func (l Loss) Plus(m Loss) (Loss, error) {
	a, err := l.Units()
	if err != nil {
		return Loss{}, fmt.Errorf("compose losses: %w", err)
	}
	b, err := m.Units()
	if err != nil {
		return Loss{}, fmt.Errorf("compose losses: %w", err)
	}
	s, err := a.Add(b)
	if err != nil {
		return Loss{}, fmt.Errorf("compose losses: %w", err)
	}
	sum := s.Loss()
	if err := sum.Validate(); err != nil {
		return Loss{}, fmt.Errorf("compose losses: %w", err)
	}
	return sum, nil
}

// PureLoss returns the zCDP loss of an ε-DP release: ρ = ε²/2 (Bun and
// Steinke 2016, Proposition 1.4), with ε first rounded to its quantum as the
// mechanisms round it and ρ then rounded up to the next quantum.
func PureLoss(epsilon float64) (Loss, error) {
	eps, _, err := quantize("epsilon", epsilon, rhoDecimals, MaxEpsilon)
	if err != nil {
		return Loss{}, err
	}
	return Loss{Rho: fromUnits(pureRhoUnits(eps), rhoDecimals)}, nil
}

// pureRhoUnits returns ⌈ε²/2⌉ in quanta of ρ.
func pureRhoUnits(eps *big.Rat) int64 {
	r := new(big.Rat).Mul(eps, eps)
	r.Quo(r, big.NewRat(2, 1))
	r.Mul(r, new(big.Rat).SetInt(pow10(rhoDecimals)))
	q, m := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if m.Sign() > 0 {
		q.Add(q, bigOne)
	}
	return q.Int64()
}

// EpsilonFromRho returns the ε of the (ε, δ)-DP guarantee implied by
// ρ-zCDP: ε = ρ + 2√(ρ·ln(1/δ)) (Bun and Steinke 2016, Proposition 1.3).
func EpsilonFromRho(rho, delta float64) (float64, error) {
	if !(rho >= 0) || math.IsInf(rho, 0) {
		return 0, fmt.Errorf("convert zcdp: rho must be finite and non-negative, got %v", rho)
	}
	if !(delta > 0 && delta < 1) {
		return 0, fmt.Errorf("convert zcdp: delta must be in (0, 1), got %v", delta)
	}
	return rho + 2*math.Sqrt(rho*math.Log(1/delta)), nil
}

// EpsilonAt returns the ε of the (ε, δ)-DP guarantee that l gives with a
// total δ of delta: the zCDP part is converted at δ_ρ = delta − l.Delta
// (which must be positive) and the selection ε added:
// ε = ρ + 2√(ρ·ln(1/δ_ρ)) + l.Epsilon.
func (l Loss) EpsilonAt(delta float64) (float64, error) {
	if err := l.Validate(); err != nil {
		return 0, fmt.Errorf("convert loss: %w", err)
	}
	if l.Rho == 0 {
		if !(delta >= l.Delta) {
			return 0, fmt.Errorf("convert loss: total delta %v is below the selection delta %v", delta, l.Delta)
		}
		return l.Epsilon, nil
	}
	rest := delta - l.Delta
	if !(rest > 0) {
		return 0, fmt.Errorf("convert loss: total delta %v leaves nothing for rho after the selection delta %v", delta, l.Delta)
	}
	eps, err := EpsilonFromRho(l.Rho, rest)
	if err != nil {
		return 0, fmt.Errorf("convert loss: %w", err)
	}
	return eps + l.Epsilon, nil
}

// DeltaLimit returns the largest total δ allowed for a dataset of n
// people: 1/(10·n), the rule that keeps the chance of any one person's
// data being exposed well below 1/n.
func DeltaLimit(n int64) (float64, error) {
	if n < 1 {
		return 0, fmt.Errorf("delta limit: dataset size must be at least 1, got %d", n)
	}
	return 1 / (10 * float64(n)), nil
}

// Guarantee returns the (ε, δ)-DP guarantee of a cap for a dataset of n
// people: δ is DeltaLimit(n), of which cap.Delta may go to partition
// selection and the rest converts cap.Rho to ε (see EpsilonAt). It fails
// if the cap is invalid or cap.Delta leaves no δ for the conversion, so a
// ledger that enforces such a cap keeps δ_total ≤ 1/(10·n).
func Guarantee(cap Loss, n int64) (epsilon, delta float64, err error) {
	delta, err = DeltaLimit(n)
	if err != nil {
		return 0, 0, fmt.Errorf("budget guarantee: %w", err)
	}
	if err := cap.Validate(); err != nil {
		return 0, 0, fmt.Errorf("budget guarantee: %w", err)
	}
	if cap.Delta >= delta {
		return 0, 0, fmt.Errorf("budget guarantee: selection delta %v must be below 1/(10·%d) = %v", cap.Delta, n, delta)
	}
	epsilon, err = cap.EpsilonAt(delta)
	if err != nil {
		return 0, 0, fmt.Errorf("budget guarantee: %w", err)
	}
	return epsilon, delta, nil
}

// quantize checks that x is a positive finite number at most max, rounds
// it to the nearest multiple of 10^−decimals and returns that multiple as
// an exact rational and as a whole number of quanta.
func quantize(name string, x float64, decimals int, max float64) (*big.Rat, int64, error) {
	u, err := amountUnits(name, x, decimals, max, false)
	if err != nil {
		return nil, 0, err
	}
	return new(big.Rat).SetFrac(big.NewInt(u), pow10(decimals)), u, nil
}

// amountUnits rounds x to the nearest whole number of 10^−decimals quanta.
// Zero is allowed only if zeroOK.
func amountUnits(name string, x float64, decimals int, max float64, zeroOK bool) (int64, error) {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		return 0, fmt.Errorf("%s must be a finite number, got %v", name, x)
	case x < 0 || x == 0 && !zeroOK:
		return 0, fmt.Errorf("%s must be positive, got %v", name, x)
	case x > max:
		return 0, fmt.Errorf("%s must be at most %v, got %v", name, max, x)
	case x == 0:
		return 0, nil
	}
	r := new(big.Rat).SetFloat64(x)
	r.Mul(r, new(big.Rat).SetInt(pow10(decimals)))
	// Round half up: ⌊r + 1/2⌋.
	r.Add(r, big.NewRat(1, 2))
	u := new(big.Int).Quo(r.Num(), r.Denom())
	if u.Sign() == 0 {
		return 0, fmt.Errorf("%s = %v is below the smallest amount %v", name, x, fromUnits(1, decimals))
	}
	return u.Int64(), nil
}

func fromUnits(u int64, decimals int) float64 {
	f, _ := new(big.Rat).SetFrac(big.NewInt(u), pow10(decimals)).Float64()
	return f
}

func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }

func addInt64(a, b int64) (int64, bool) {
	s := a + b
	return s, (s > a) == (b > 0)
}
