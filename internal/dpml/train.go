package dpml

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"

	"github.com/cleanroom-dev/cleanroom/internal/dp"
)

// Limits of the training data.
const (
	// MinRows is the fewest rows Train accepts: the default minimum group
	// size of the room's aggregates. Fewer rows leave a model that is
	// mostly noise.
	MinRows = 100
	// MaxFeatures is the most features (including the intercept's
	// constant feature) Train accepts; the solver's memory and time grow
	// with its square.
	MaxFeatures = 1000
)

// DefaultTolerance is the default of Config.Tolerance.
const DefaultTolerance = 1e-8

// maxNewtonSteps bounds the solver's iterations. Newton's method with a
// line search on this strongly convex objective needs a few dozen at most.
const maxNewtonSteps = 200

// ErrNoConvergence is returned by Train when the solver did not reach the
// tolerance: with a very small Λ and a very small Tolerance, the required
// gradient norm can lie below what float64 sums resolve. Raise Tolerance
// or Λ. Noise has been drawn by then, so the budget counts as spent.
var ErrNoConvergence = errors.New("solver did not reach the tolerance")

// Config are the parameters of Train. Validate checks them.
type Config struct {
	// Epsilon is ε of the ε-DP guarantee. Required, in
	// (0, dp.MaxEpsilon], rounded to dp.RhoQuantum as package dp rounds
	// it; the noise never uses more than the ε the ledger is charged for.
	Epsilon float64
	// Lambda is Λ, the weight of the regulariser (Λ/2)‖w‖² in the
	// objective (the features' coefficients and the intercept's are
	// regularised alike). Required, positive and finite. Larger Λ means
	// less noise in the coefficients (their error is at most ‖b‖/(nΛ),
	// with ‖b‖ about 2d/ε′) and more shrinkage towards zero. The noise
	// gets ε′ = ε − 2·log(1 + 1/(4nΛ)); as published, Algorithm 2 uses that
	// ε′ however small it is, and only when it is ≤ 0 adds the extra
	// regularisation Δ and gives b ε/2. So choose nΛ well above 1/ε:
	// nΛ ≥ 10/ε keeps ε′ ≥ 0.95·ε.
	Lambda float64
	// InterceptFeature is the value a of a constant feature appended to
	// every row to carry the intercept. It counts inside the norm bound:
	// rows must then have ‖x‖² + a² ≤ 1 (see MaxFeatureNorm). Optional;
	// default 0, no intercept. In [0, 1); 0.5 is a reasonable choice.
	InterceptFeature float64
	// Tolerance is how close the solver gets to the exact minimiser ŵ: it
	// stops at the first w with ‖∇J(w)‖ ≤ (Λ + Δ)·Tolerance, which by the
	// (Λ + Δ)-strong convexity of J gives ‖w − ŵ‖ ≤ Tolerance. Optional;
	// default DefaultTolerance. Positive and finite when set.
	Tolerance float64
	// Noise is the source of the perturbation's randomness. Optional;
	// default dp.Secure. Only tests set it, to dp.ZeroNoise (b = 0: the
	// model is then not private) or a fake.
	Noise dp.Noise
}

// Validate reports whether c's parameters are usable.
func (c Config) Validate() error {
	if _, err := dp.PureLoss(c.Epsilon); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if !(c.Lambda > 0) || math.IsInf(c.Lambda, 0) {
		return fmt.Errorf("config: lambda must be positive and finite, got %v", c.Lambda)
	}
	if !(c.InterceptFeature >= 0 && c.InterceptFeature < 1) {
		return fmt.Errorf("config: intercept feature must be in [0, 1), got %v", c.InterceptFeature)
	}
	if c.Tolerance != 0 && (!(c.Tolerance > 0) || math.IsInf(c.Tolerance, 0)) {
		return fmt.Errorf("config: tolerance must be positive and finite, got %v", c.Tolerance)
	}
	return nil
}

// Loss returns what Train with c spends: ρ = ε²/2 zCDP for the ε-DP
// release (dp.PureLoss). It reads no data, so the ledger can reserve it
// before training starts.
func (c Config) Loss() (dp.Loss, error) {
	if err := c.Validate(); err != nil {
		return dp.Loss{}, err
	}
	return dp.PureLoss(c.Epsilon)
}

// MaxFeatureNorm returns the largest L2 norm Train accepts for a row's
// features: √(1 − a²) for the intercept feature a, lowered if need be so
// that it squared plus a² does not exceed 1 in float64. It is 1 without an
// intercept.
func (c Config) MaxFeatureNorm() float64 {
	a := c.InterceptFeature
	if a == 0 {
		return 1
	}
	m := math.Sqrt(1 - a*a)
	for m > 0 && m*m+a*a > 1 {
		m = math.Nextafter(m, 0)
	}
	return m
}

// epsilon returns the ε the noise uses: c.Epsilon if ε²/2 is at most the
// ρ that loss charges (compared exactly), else just below √(2ρ), so
// rounding ε to its quantum can only make the noise stronger.
func (c Config) epsilon(loss dp.Loss) float64 {
	e := new(big.Rat).SetFloat64(c.Epsilon)
	half := new(big.Rat).Mul(e, e)
	half.Quo(half, big.NewRat(2, 1))
	if half.Cmp(new(big.Rat).SetFloat64(loss.Rho)) <= 0 {
		return c.Epsilon
	}
	// √ is correctly rounded, so one step down is at most the exact √(2ρ).
	return math.Nextafter(math.Sqrt(2*loss.Rho), 0)
}

// Clip returns a copy of x scaled down, if needed, to L2 norm at most
// maxNorm: x itself when ‖x‖ ≤ maxNorm, else x·maxNorm/‖x‖ (nudged so that
// the norm Train computes passes). Use maxNorm = Config.MaxFeatureNorm().
// A non-positive or NaN maxNorm gives the zero vector. Non-finite entries
// are copied as they are, and Train refuses them.
//
// Clipping each row on its own is data-independent: a person's clipped
// row depends on that person's row alone, so it keeps Train's
// sensitivity analysis valid. Rows are clipped the same way at scoring
// time, so the model sees what it was trained on.
func Clip(x []float64, maxNorm float64) []float64 {
	y := make([]float64, len(x))
	if !(maxNorm > 0) {
		return y
	}
	copy(y, x)
	n := norm2(x)
	if !(n > maxNorm) {
		return y // within the ball, or not finite
	}
	for s := maxNorm / n; s > 0; s = math.Nextafter(s, 0) {
		for i, v := range x {
			y[i] = v * s
		}
		if norm2(y) <= maxNorm {
			return y
		}
	}
	return make([]float64, len(x))
}

// Dataset is the training data: one row per person.
type Dataset struct {
	// Rows are the feature vectors, all of one length d ≥ 1, each with L2
	// norm at most Config.MaxFeatureNorm().
	Rows [][]float64
	// Labels are the rows' labels, each 0 or 1 (1 is the positive class:
	// the look-alike target, or default).
	Labels []int
}

// Model is a trained logistic regression: Score(x) = σ(wᵀx + Intercept).
// Its fields are public parameters or DP outputs. It is safe for
// concurrent use once built.
type Model struct {
	// Coefficients are the weights of the features, in the order of the
	// training rows' columns.
	Coefficients []float64 `json:"coefficients"`
	// Intercept is the weight of the intercept feature times its value;
	// zero without an intercept.
	Intercept float64 `json:"intercept"`
	// Epsilon and Lambda are the ε (as quantised for the ledger) and Λ it
	// was trained with; InterceptFeature and MaxFeatureNorm describe the
	// rows it expects (clip scoring rows with Clip(x, MaxFeatureNorm)).
	Epsilon          float64 `json:"epsilon"`
	Lambda           float64 `json:"lambda"`
	InterceptFeature float64 `json:"intercept_feature"`
	MaxFeatureNorm   float64 `json:"max_feature_norm"`
}

// Score returns the model's probability of the positive class for x, in
// [0, 1]. It panics if len(x) is not the number of coefficients.
func (m *Model) Score(x []float64) float64 {
	if len(x) != len(m.Coefficients) {
		panic(fmt.Sprintf("dpml: Score of %d features, model has %d", len(x), len(m.Coefficients)))
	}
	z := m.Intercept
	for j, v := range x {
		z += m.Coefficients[j] * v
	}
	return sigmoid(z)
}

// Train fits an L2-regularised logistic regression by objective
// perturbation (Chaudhuri, Monteleoni and Sarwate, "Differentially
// Private Empirical Risk Minimization", JMLR 2011, Algorithm 2 with the Δ
// adjustment; Theorem 9 and Corollary 11 give its ε-DP). With d the
// number of features (plus one with an intercept), it
//
//  1. computes ε′ = ε − 2·log(1 + c/(nΛ)) with c = 1/4; if ε′ ≤ 0 it sets
//     Δ = c/(n(e^{ε/4} − 1)) − Λ and ε′ = ε/2, else Δ = 0;
//  2. draws b with density ∝ exp(−ε′‖b‖/2): its norm from Gamma(d, 2/ε′)
//     and its direction uniformly, from cfg.Noise (see the package
//     comment and drawPerturbation for how exact integer samples over
//     crypto/rand become these continuous draws);
//  3. minimises (1/n)Σ log(1 + exp(−yᵢwᵀxᵢ)) + (Λ+Δ)/2·‖w‖² + bᵀw/n with
//     yᵢ = 2·label − 1, by Newton's method with a backtracking line
//     search from w = 0, to within cfg.Tolerance of the minimiser.
//
// It returns the model and the Loss spent, ρ = ε²/2 (see Config.Loss).
// The data must satisfy the preconditions of the analysis, which Train
// checks before drawing any noise: n ≥ MinRows rows, of one length, finite,
// each with ‖x‖ ≤ cfg.MaxFeatureNorm(), labels 0 or 1. Errors name the
// row and feature at fault, never a value. On an error the returned Loss
// is what was spent: zero if Train stopped before drawing noise, the full
// Loss after (ErrNoConvergence, a cancelled ctx).
//
// The model is the only output; Train reveals nothing else about the data
// (not even the iterations it took), except through its running time,
// which depends on the data and the noise: run it behind dp.PadTo when its
// latency is observable.
func Train(ctx context.Context, data Dataset, cfg Config) (*Model, dp.Loss, error) {
	loss, err := cfg.Loss()
	if err != nil {
		return nil, dp.Loss{}, fmt.Errorf("train: %w", err)
	}
	p, err := newProblem(ctx, data, cfg)
	if err != nil {
		return nil, dp.Loss{}, fmt.Errorf("train: %w", err)
	}
	eps := cfg.epsilon(loss)
	pert := perturbationFor(eps, p.n, cfg.Lambda)
	noise := cfg.Noise
	if noise == nil {
		noise = dp.Secure
	}
	b, err := drawPerturbation(noise, p.d, 2/pert.epsPrime)
	if err != nil {
		return nil, loss, fmt.Errorf("train: %w", err)
	}
	p.b = b
	p.mu = cfg.Lambda + pert.delta
	tol := cfg.Tolerance
	if tol == 0 {
		tol = DefaultTolerance
	}
	w, err := p.minimize(ctx, p.mu*tol)
	if err != nil {
		return nil, loss, fmt.Errorf("train: %w", err)
	}
	d := len(data.Rows[0])
	m := &Model{
		Coefficients:     w[:d:d],
		Epsilon:          eps,
		Lambda:           cfg.Lambda,
		InterceptFeature: cfg.InterceptFeature,
		MaxFeatureNorm:   cfg.MaxFeatureNorm(),
	}
	if p.d > d {
		m.Intercept = w[d] * cfg.InterceptFeature
	}
	return m, loss, nil
}

// problem is the perturbed objective over the data.
type problem struct {
	n, d int
	// x holds the n rows of d values (features, then the intercept
	// feature if any), row-major.
	x []float64
	// y holds the labels as ±1.
	y []float64
	// b is the perturbation; the objective adds bᵀw/n.
	b []float64
	// mu is Λ + Δ, the weight of ‖w‖²/2 and the strong convexity.
	mu float64
}

// ctxCheckRows is how many rows are checked between looks at ctx.
const ctxCheckRows = 1 << 14

// newProblem checks data against the analysis' preconditions and lays it
// out for the solver.
func newProblem(ctx context.Context, data Dataset, cfg Config) (*problem, error) {
	n := len(data.Rows)
	if len(data.Labels) != n {
		return nil, fmt.Errorf("%d rows but %d labels", n, len(data.Labels))
	}
	if n < MinRows {
		return nil, fmt.Errorf("%d rows, need at least %d", n, MinRows)
	}
	nf := len(data.Rows[0])
	d := nf
	if cfg.InterceptFeature != 0 {
		d++
	}
	if nf < 1 {
		return nil, errors.New("row 0: has no features")
	}
	if d > MaxFeatures {
		return nil, fmt.Errorf("%d features, at most %d allowed", d, MaxFeatures)
	}
	bound := cfg.MaxFeatureNorm()
	p := &problem{n: n, d: d, x: make([]float64, 0, n*d), y: make([]float64, n)}
	for i, row := range data.Rows {
		if i%ctxCheckRows == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if len(row) != nf {
			return nil, fmt.Errorf("row %d: has %d features, want %d as in row 0", i, len(row), nf)
		}
		for j, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("row %d: feature %d is not a finite number", i, j)
			}
		}
		if norm2(row) > bound {
			return nil, fmt.Errorf("row %d: L2 norm exceeds %v (clip rows with dpml.Clip)", i, bound)
		}
		switch data.Labels[i] {
		case 0:
			p.y[i] = -1
		case 1:
			p.y[i] = 1
		default:
			return nil, fmt.Errorf("row %d: label must be 0 or 1", i)
		}
		p.x = append(p.x, row...)
		if d > nf {
			p.x = append(p.x, cfg.InterceptFeature)
		}
	}
	return p, nil
}

// sumBlock is the number of rows summed on their own before being added
// to the total, which keeps the rounding error of the sums near
// (sumBlock + n/sumBlock)·2^−53 rather than n·2^−53.
const sumBlock = 512

// eval returns J(w) and, if grad is not nil, sets grad to ∇J(w) and, if
// hess is not nil, sets hess (d×d, row-major, full) to ∇²J(w).
func (p *problem) eval(w, grad, hess []float64) float64 {
	d := p.d
	var f, fBlock float64
	var gBlock, hBlock []float64
	if grad != nil {
		clear(grad)
		gBlock = make([]float64, d)
	}
	if hess != nil {
		clear(hess)
		hBlock = make([]float64, d*d)
	}
	flush := func() {
		f += fBlock
		fBlock = 0
		for j := range gBlock {
			grad[j] += gBlock[j]
			gBlock[j] = 0
		}
		for j := range hBlock {
			hess[j] += hBlock[j]
			hBlock[j] = 0
		}
	}
	for i := range p.n {
		xi := p.x[i*d : (i+1)*d]
		z := 0.0
		for j, v := range xi {
			z += w[j] * v
		}
		m := p.y[i] * z // margin
		fBlock += softplus(-m)
		if grad != nil {
			// d/dz log(1 + e^{−yz}) = −y·σ(−yz).
			g := -p.y[i] * sigmoid(-m)
			for j, v := range xi {
				gBlock[j] += g * v
			}
		}
		if hess != nil {
			s := sigmoid(m) * sigmoid(-m)
			for j, vj := range xi {
				if vj == 0 {
					continue
				}
				sv := s * vj
				row := hBlock[j*d : j*d+j+1]
				for k := range row {
					row[k] += sv * xi[k]
				}
			}
		}
		if (i+1)%sumBlock == 0 {
			flush()
		}
	}
	flush()
	inv := 1 / float64(p.n)
	f *= inv
	var ww, bw float64
	for j := range w {
		ww += w[j] * w[j]
		bw += p.b[j] * w[j]
	}
	f += p.mu/2*ww + bw*inv
	if grad != nil {
		for j := range grad {
			grad[j] = grad[j]*inv + p.mu*w[j] + p.b[j]*inv
		}
	}
	if hess != nil {
		for j := range d {
			for k := 0; k <= j; k++ {
				h := hess[j*d+k] * inv
				if j == k {
					h += p.mu
				}
				hess[j*d+k], hess[k*d+j] = h, h
			}
		}
	}
	return f
}

// minimize runs Newton's method from w = 0 until ‖∇J(w)‖ ≤ gtol. Each
// step solves ∇²J·s = −∇J by Cholesky factorisation (∇²J ⪰ μI is positive
// definite) and backtracks from the full step until the Armijo condition
// J(w + ts) ≤ J(w) + 10⁻⁴·t·∇Jᵀs holds. Near the minimiser the decrease
// −∇Jᵀs/2 can fall below what float64 resolves of J, and the full step
// is then taken without the test: Newton converges quadratically there.
func (p *problem) minimize(ctx context.Context, gtol float64) ([]float64, error) {
	d := p.d
	w := make([]float64, d)
	wn := make([]float64, d)
	g := make([]float64, d)
	h := make([]float64, d*d)
	s := make([]float64, d)
	for range maxNewtonSteps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f := p.eval(w, g, h)
		if norm2(g) <= gtol {
			return w, nil
		}
		if err := cholesky(h, d); err != nil {
			return nil, err
		}
		for j := range s {
			s[j] = -g[j]
		}
		cholSolve(h, d, s)
		gs := 0.0
		for j := range s {
			gs += g[j] * s[j]
		}
		if !(gs < 0) {
			return nil, ErrNoConvergence
		}
		tiny := -gs < 1e-12*math.Max(1, math.Abs(f))
		accepted := false
		for t := 1.0; t > 1e-12; t /= 2 {
			for j := range wn {
				wn[j] = w[j] + t*s[j]
			}
			if tiny || p.eval(wn, nil, nil) <= f+1e-4*t*gs {
				accepted = true
				break
			}
		}
		if !accepted {
			return nil, ErrNoConvergence
		}
		w, wn = wn, w
	}
	return nil, ErrNoConvergence
}

// cholesky overwrites the lower triangle of the symmetric positive
// definite d×d matrix a with L, where a = L·Lᵀ.
func cholesky(a []float64, d int) error {
	for j := range d {
		s := a[j*d+j]
		for k := range j {
			s -= a[j*d+k] * a[j*d+k]
		}
		if !(s > 0) {
			return errors.New("hessian is not positive definite")
		}
		ljj := math.Sqrt(s)
		a[j*d+j] = ljj
		for i := j + 1; i < d; i++ {
			s := a[i*d+j]
			for k := range j {
				s -= a[i*d+k] * a[j*d+k]
			}
			a[i*d+j] = s / ljj
		}
	}
	return nil
}

// cholSolve overwrites x with the solution of L·Lᵀ·x = x for the factor L
// that cholesky left in the lower triangle of a.
func cholSolve(a []float64, d int, x []float64) {
	for i := range d {
		s := x[i]
		for k := range i {
			s -= a[i*d+k] * x[k]
		}
		x[i] = s / a[i*d+i]
	}
	for i := d - 1; i >= 0; i-- {
		s := x[i]
		for k := i + 1; k < d; k++ {
			s -= a[k*d+i] * x[k]
		}
		x[i] = s / a[i*d+i]
	}
}

// sigmoid returns 1/(1 + e^−z) without overflow.
func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// softplus returns log(1 + e^z) without overflow.
func softplus(z float64) float64 {
	if z > 0 {
		return z + math.Log1p(math.Exp(-z))
	}
	return math.Log1p(math.Exp(z))
}
