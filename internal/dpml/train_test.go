package dpml

import (
	"context"
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/cleanroom-dev/cleanroom/internal/dp"
)

// synthetic returns n rows of len(beta) features, each drawn from
// N(0, 0.3²) and the row clipped to cfg.MaxFeatureNorm(), labelled from
// the logistic model with coefficients beta and intercept beta0. Only the
// data comes from rng (seeded, so reproducible); noise comes from
// cfg.Noise.
func synthetic(rng *rand.Rand, n int, beta []float64, beta0 float64, cfg Config) Dataset {
	ds := Dataset{Rows: make([][]float64, n), Labels: make([]int, n)}
	for i := range n {
		x := make([]float64, len(beta))
		for j := range x {
			x[j] = 0.3 * rng.NormFloat64()
		}
		x = Clip(x, cfg.MaxFeatureNorm())
		z := beta0
		for j, v := range x {
			z += beta[j] * v
		}
		if rng.Float64() < sigmoid(z) {
			ds.Labels[i] = 1
		}
		ds.Rows[i] = x
	}
	return ds
}

// nonPrivate returns the exact minimiser (to 10⁻¹² in norm) of the
// unperturbed objective (1/n)Σℓ + (Λ/2)‖w‖², with the intercept feature's
// weight last.
func nonPrivate(t testing.TB, data Dataset, cfg Config) []float64 {
	t.Helper()
	p, err := newProblem(context.Background(), data, cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.b = make([]float64, p.d)
	p.mu = cfg.Lambda
	w, err := p.minimize(context.Background(), p.mu*1e-12)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// weights returns the model's weights in the training objective's
// coordinates: the coefficients, then the intercept feature's weight.
func weights(m *Model) []float64 {
	w := slices.Clone(m.Coefficients)
	if m.InterceptFeature != 0 {
		w = append(w, m.Intercept/m.InterceptFeature)
	}
	return w
}

func dist(a, b []float64) float64 {
	d := make([]float64, len(a))
	for i := range a {
		d[i] = a[i] - b[i]
	}
	return norm2(d)
}

// exactAUC returns the AUC of the model's scores on data, ties counted
// half: the non-private reference for the tests.
func exactAUC(score func([]float64) float64, data Dataset) float64 {
	type point struct {
		s   float64
		pos bool
	}
	pts := make([]point, len(data.Rows))
	for i, x := range data.Rows {
		pts[i] = point{score(x), data.Labels[i] == 1}
	}
	sort.Slice(pts, func(i, j int) bool { return pts[i].s < pts[j].s })
	var below, num, npos, nneg float64
	for i := 0; i < len(pts); {
		var p, n float64
		j := i
		for ; j < len(pts) && pts[j].s == pts[i].s; j++ {
			if pts[j].pos {
				p++
			} else {
				n++
			}
		}
		num += p * (below + n/2)
		below += n
		npos += p
		nneg += n
		i = j
	}
	return num / (npos * nneg)
}

// At n = 20000 and ε = 1 the private model is close to the non-private
// optimum ŵ of the same regularised objective, and as good on held-out
// data.
//
// Tolerance of the coefficients: here nΛ = 200 ≫ c = 1/4, so Δ = 0 and the
// private minimiser w̃ solves ∇J(w̃) = −b/n for the Λ-strongly convex
// unperturbed objective J, hence ‖w̃ − ŵ‖ ≤ ‖b‖/(nΛ) (plus the solver's
// tolerance 10⁻⁸). ‖b‖ ~ Gamma(d, 2/ε′) exceeds its 1 − 10⁻⁹ quantile
// (about 70 for d = 6, ε′ ≈ 1) with probability 10⁻⁹, so the test allows
// about 0.35 against ‖ŵ‖ ≈ 2.6 and fails by chance with probability 10⁻⁹.
// Over 50 trial runs the distance was at most 0.05.
//
// Margin of the AUC: the non-private model's held-out AUC is about 0.83.
// Moving ŵ by 0.35, the largest distance allowed above, in 2000 random
// directions lowered that AUC by at most 0.005; typical runs lose about
// 10⁻⁴. The test allows 0.01.
func TestTrainUtility(t *testing.T) {
	t.Parallel()
	const n = 20000
	beta := []float64{4, -3, 2, 0, -1}
	cfg := Config{Epsilon: 1, Lambda: 0.01, InterceptFeature: 0.5}
	rng := rand.New(rand.NewPCG(2024, 7))
	train := synthetic(rng, n, beta, -1, cfg)
	test := synthetic(rng, n, beta, -1, cfg)

	want := nonPrivate(t, train, cfg)
	for j, b := range beta {
		if b != 0 && math.Signbit(b) != math.Signbit(want[j]) {
			t.Fatalf("non-private optimum %v does not recover the signs of %v", want, beta)
		}
	}
	m, loss, err := Train(context.Background(), train, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if loss != (dp.Loss{Rho: 0.5}) {
		t.Errorf("Train loss = %+v, want ρ = ε²/2 = 0.5", loss)
	}
	pert := perturbationFor(cfg.Epsilon, n, cfg.Lambda)
	if pert.delta != 0 {
		t.Fatalf("Δ = %v, want 0 at nΛ = %v", pert.delta, n*cfg.Lambda)
	}
	d := len(beta) + 1
	bound := gammaQuantile(d, 2/pert.epsPrime, 1e-9)/(n*cfg.Lambda) + 2*DefaultTolerance
	got := weights(m)
	if dd := dist(got, want); dd > bound {
		t.Errorf("‖w̃ − ŵ‖ = %.4f, want ≤ %.4f\nprivate     %v\nnon-private %v", dd, bound, got, want)
	}
	ref := &Model{Coefficients: want[:len(beta)], Intercept: want[len(beta)] * cfg.InterceptFeature}
	aucPriv, aucRef := exactAUC(m.Score, test), exactAUC(ref.Score, test)
	if aucPriv < aucRef-0.01 {
		t.Errorf("held-out AUC of the private model = %.4f, want within 0.01 of the non-private %.4f", aucPriv, aucRef)
	}
}

// Train minimises the perturbed objective of Algorithm 2, with b of norm
// Gamma-distributed at scale 2/ε′ and the extra regularisation Δ when
// ε′ ≤ 0. The noise is scripted so that b is known: every folded
// exponential is 1 and the direction is (1, …, 1)/√d, so
// b = (2/ε′)·d·(1, …, 1)/√d; at Train's w the gradient of the objective
// with that b and Λ + Δ must be within the tolerance.
func TestTrainSolvesPerturbedObjective(t *testing.T) {
	const c = 0.25
	for _, tc := range []struct {
		name          string
		n             int
		eps, lambda   float64
		epsPrime, dlt float64 // by hand, from the paper's formulas
	}{
		{"no delta", 1000, 1, 0.01, 1 - math.Log(1+0.05+0.000625), 0},
		{"delta", 200, 0.5, 1e-4, 0.25, c/(200*(math.Exp(0.125)-1)) - 1e-4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Epsilon: tc.eps, Lambda: tc.lambda, InterceptFeature: 0.5}
			data := synthetic(rand.New(rand.NewPCG(1, 2)), tc.n, []float64{2, -1, 1}, 0.5, cfg)
			const d = 4
			noise := &scriptedNoise{}
			for range d {
				noise.laplace = append(noise.laplace, new(big.Int).Lsh(big.NewInt(1), 53))
				noise.gaussian = append(noise.gaussian, big.NewInt(1))
			}
			cfg.Noise = noise
			m, _, err := Train(context.Background(), data, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if m.Epsilon != tc.eps {
				t.Errorf("model ε = %v, want %v", m.Epsilon, tc.eps)
			}
			p, err := newProblem(context.Background(), data, cfg)
			if err != nil {
				t.Fatal(err)
			}
			p.b = make([]float64, d)
			for j := range p.b {
				p.b[j] = 2 / tc.epsPrime * d / math.Sqrt(d)
			}
			p.mu = tc.lambda + tc.dlt
			g := make([]float64, d)
			p.eval(weights(m), g, nil)
			if gn, tol := norm2(g), 2*p.mu*DefaultTolerance; gn > tol {
				t.Errorf("‖∇J(w)‖ = %.3g at Train's w, want ≤ %.3g", gn, tol)
			}
			// The same w is not a minimiser without the perturbation.
			p.b = make([]float64, d)
			p.eval(weights(m), g, nil)
			if gn := norm2(g); gn < 1e-3 {
				t.Errorf("‖∇J(w)‖ without b = %.3g: the perturbation was not applied", gn)
			}
		})
	}
}

// With dp.ZeroNoise and Δ = 0, Train returns the non-private optimum.
func TestTrainZeroNoise(t *testing.T) {
	cfg := Config{Epsilon: 2, Lambda: 0.05, InterceptFeature: 0.3, Noise: dp.ZeroNoise{}}
	data := synthetic(rand.New(rand.NewPCG(3, 4)), 500, []float64{1, -2}, 0.5, cfg)
	m, _, err := Train(context.Background(), data, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := nonPrivate(t, data, cfg)
	if dd := dist(weights(m), want); dd > 2*DefaultTolerance {
		t.Errorf("Train with dp.ZeroNoise = %v, want the non-private optimum %v (distance %.3g)", weights(m), want, dd)
	}
	if len(m.Coefficients) != 2 || m.InterceptFeature != 0.3 || m.MaxFeatureNorm != cfg.MaxFeatureNorm() || m.Lambda != 0.05 {
		t.Errorf("model = %+v, want 2 coefficients and the config's parameters", m)
	}
}

func TestConfigLoss(t *testing.T) {
	for _, tc := range []struct {
		eps  float64
		want dp.Loss
	}{
		{1, dp.Loss{Rho: 0.5}},
		{0.3, dp.Loss{Rho: 0.045}},
		{2, dp.Loss{Rho: 2}},
	} {
		got, err := Config{Epsilon: tc.eps, Lambda: 1}.Loss()
		if err != nil || got != tc.want {
			t.Errorf("Config{Epsilon: %v}.Loss() = %+v, %v, want %+v", tc.eps, got, err, tc.want)
		}
		if e := (Config{Epsilon: tc.eps}).epsilon(got); e != tc.eps {
			t.Errorf("noise ε for Epsilon %v = %v, want it unchanged", tc.eps, e)
		}
	}
	// An ε that the quantum rounds down is lowered to √(2ρ) for the noise.
	eps := 0.3 + 4e-13
	loss, err := Config{Epsilon: eps, Lambda: 1}.Loss()
	if err != nil {
		t.Fatal(err)
	}
	if e := (Config{Epsilon: eps}).epsilon(loss); !(e < eps && e*e/2 <= loss.Rho) {
		t.Errorf("noise ε for Epsilon %v charged %+v = %v, want below it with ε²/2 ≤ ρ", eps, loss, e)
	}
}

// failNoise fails the test if any noise is drawn.
type failNoise struct{ t *testing.T }

func (f failNoise) DiscreteLaplace(*big.Rat) (*big.Int, error) {
	f.t.Error("noise drawn before the preconditions were checked")
	return new(big.Int), nil
}

func (f failNoise) DiscreteGaussian(*big.Rat) (*big.Int, error) {
	f.t.Error("noise drawn before the preconditions were checked")
	return new(big.Int), nil
}

// Data or parameters outside the analysis are refused before any noise is
// drawn, with an error naming what is wrong and where, and nothing spent.
func TestTrainRejects(t *testing.T) {
	base := func() (Dataset, Config) {
		cfg := Config{Epsilon: 1, Lambda: 0.01, Noise: failNoise{t}}
		ds := synthetic(rand.New(rand.NewPCG(5, 6)), 120, []float64{1, 1, 1}, 0, cfg)
		return ds, cfg
	}
	for _, tc := range []struct {
		name string
		edit func(*Dataset, *Config)
		want string
	}{
		{"row outside the ball", func(d *Dataset, _ *Config) { d.Rows[3] = []float64{0.8, 0.7, 0} }, "row 3: L2 norm exceeds 1"},
		{"row outside the ball with intercept", func(d *Dataset, c *Config) {
			c.InterceptFeature = 0.6 // features must have norm ≤ 0.8
			d.Rows[5] = []float64{0.5, 0.5, 0.5}
		}, "row 5: L2 norm exceeds 0.8"},
		{"NaN feature", func(d *Dataset, _ *Config) { d.Rows[4][1] = math.NaN() }, "row 4: feature 1 is not a finite number"},
		{"Inf feature", func(d *Dataset, _ *Config) { d.Rows[9][2] = math.Inf(-1) }, "row 9: feature 2 is not a finite number"},
		{"short row", func(d *Dataset, _ *Config) { d.Rows[2] = d.Rows[2][:2] }, "row 2: has 2 features, want 3"},
		{"no features", func(d *Dataset, _ *Config) {
			for i := range d.Rows {
				d.Rows[i] = nil
			}
		}, "row 0: has no features"},
		{"label 2", func(d *Dataset, _ *Config) { d.Labels[7] = 2 }, "row 7: label must be 0 or 1"},
		{"label -1", func(d *Dataset, _ *Config) { d.Labels[8] = -1 }, "row 8: label must be 0 or 1"},
		{"labels missing", func(d *Dataset, _ *Config) { d.Labels = d.Labels[:119] }, "120 rows but 119 labels"},
		{"too few rows", func(d *Dataset, _ *Config) { d.Rows, d.Labels = d.Rows[:99], d.Labels[:99] }, "99 rows, need at least 100"},
		{"no rows", func(d *Dataset, _ *Config) { d.Rows, d.Labels = nil, nil }, "0 rows, need at least 100"},
		{"too many features", func(d *Dataset, _ *Config) {
			for i := range d.Rows {
				d.Rows[i] = make([]float64, MaxFeatures+1)
			}
		}, "1001 features, at most 1000"},
		{"zero epsilon", func(_ *Dataset, c *Config) { c.Epsilon = 0 }, "epsilon must be positive"},
		{"negative epsilon", func(_ *Dataset, c *Config) { c.Epsilon = -1 }, "epsilon must be positive"},
		{"NaN epsilon", func(_ *Dataset, c *Config) { c.Epsilon = math.NaN() }, "epsilon must be a finite number"},
		{"Inf epsilon", func(_ *Dataset, c *Config) { c.Epsilon = math.Inf(1) }, "epsilon must be a finite number"},
		{"huge epsilon", func(_ *Dataset, c *Config) { c.Epsilon = 41 }, "epsilon must be at most 40"},
		{"zero lambda", func(_ *Dataset, c *Config) { c.Lambda = 0 }, "lambda must be positive"},
		{"negative lambda", func(_ *Dataset, c *Config) { c.Lambda = -0.1 }, "lambda must be positive"},
		{"NaN lambda", func(_ *Dataset, c *Config) { c.Lambda = math.NaN() }, "lambda must be positive"},
		{"Inf lambda", func(_ *Dataset, c *Config) { c.Lambda = math.Inf(1) }, "lambda must be positive"},
		{"intercept feature 1", func(_ *Dataset, c *Config) { c.InterceptFeature = 1 }, "intercept feature must be in [0, 1)"},
		{"negative intercept feature", func(_ *Dataset, c *Config) { c.InterceptFeature = -0.5 }, "intercept feature must be in [0, 1)"},
		{"negative tolerance", func(_ *Dataset, c *Config) { c.Tolerance = -1 }, "tolerance must be positive"},
		{"NaN tolerance", func(_ *Dataset, c *Config) { c.Tolerance = math.NaN() }, "tolerance must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, cfg := base()
			cfg.Noise = failNoise{t}
			tc.edit(&data, &cfg)
			m, loss, err := Train(context.Background(), data, cfg)
			if err == nil {
				t.Fatalf("Train succeeded with %+v, want error %q", m, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "train: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Train error = %q, want it to start with \"train: \" and contain %q", err, tc.want)
			}
			if loss != (dp.Loss{}) {
				t.Errorf("Train refused the input but reported spending %+v", loss)
			}
		})
	}
}

// A row exactly on the sphere is inside the ball.
func TestTrainAcceptsUnitRows(t *testing.T) {
	cfg := Config{Epsilon: 1, Lambda: 0.01, Noise: dp.ZeroNoise{}}
	data := Dataset{}
	for i := range 100 {
		data.Rows = append(data.Rows, []float64{0.6, -0.8})
		data.Labels = append(data.Labels, i%2)
	}
	if _, _, err := Train(context.Background(), data, cfg); err != nil {
		t.Errorf("Train on rows of norm 1: %v", err)
	}
}

func TestTrainCancelled(t *testing.T) {
	cfg := Config{Epsilon: 1, Lambda: 0.01, Noise: failNoise{t}}
	data := synthetic(rand.New(rand.NewPCG(1, 1)), 200, []float64{1}, 0, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, loss, err := Train(ctx, data, cfg)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Train with a cancelled context: error %v, want context.Canceled", err)
	}
	if loss != (dp.Loss{}) {
		t.Errorf("Train stopped before drawing noise but reported spending %+v", loss)
	}
}

// A tolerance below what float64 resolves is reported, with the budget
// counted as spent since the noise was drawn. The noise is zero so the
// test is deterministic: with random b the rounded gradient can, rarely,
// come out exactly zero.
func TestTrainNoConvergence(t *testing.T) {
	cfg := Config{Epsilon: 1, Lambda: 0.01, Tolerance: 1e-300, Noise: dp.ZeroNoise{}}
	data := synthetic(rand.New(rand.NewPCG(1, 1)), 200, []float64{1, 2}, 0, cfg)
	_, loss, err := Train(context.Background(), data, cfg)
	if !errors.Is(err, ErrNoConvergence) {
		t.Errorf("Train with tolerance 1e-300: error %v, want ErrNoConvergence", err)
	}
	if loss != (dp.Loss{Rho: 0.5}) {
		t.Errorf("Train failed after drawing noise and reported spending %+v, want ρ = 0.5", loss)
	}
}

func TestClip(t *testing.T) {
	for _, tc := range []struct {
		x       []float64
		maxNorm float64
		want    []float64
	}{
		{[]float64{0.3, 0.4}, 1, []float64{0.3, 0.4}},
		{[]float64{3, 4}, 1, []float64{0.6, 0.8}},
		{[]float64{3, -4}, 0.5, []float64{0.3, -0.4}},
		{[]float64{3e300, 4e300}, 1, []float64{0.6, 0.8}},
		{[]float64{3, 4}, 0, []float64{0, 0}},
		{[]float64{3, 4}, math.NaN(), []float64{0, 0}},
		{nil, 1, []float64{}},
	} {
		got := Clip(tc.x, tc.maxNorm)
		if len(got) != len(tc.want) || norm2(got) > tc.maxNorm && tc.maxNorm > 0 {
			t.Errorf("Clip(%v, %v) = %v, want %v", tc.x, tc.maxNorm, got, tc.want)
			continue
		}
		for j := range got {
			if math.Abs(got[j]-tc.want[j]) > 1e-15 {
				t.Errorf("Clip(%v, %v) = %v, want %v", tc.x, tc.maxNorm, got, tc.want)
				break
			}
		}
	}
	x := []float64{3, 4}
	Clip(x, 1)
	if x[0] != 3 || x[1] != 4 {
		t.Errorf("Clip modified its argument: %v", x)
	}
	if got := Clip([]float64{math.NaN(), 1}, 1); !math.IsNaN(got[0]) {
		t.Errorf("Clip of a NaN row = %v, want the NaN kept for Train to refuse", got)
	}
}

// Every clipped row passes Train's bound check, for any bound.
func TestClipPassesTrain(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, a := range []float64{0, 0.1, 0.5, 0.7071067811865476, 0.9, 0.999} {
		cfg := Config{InterceptFeature: a}
		m := cfg.MaxFeatureNorm()
		if m*m+a*a > 1 || m < math.Sqrt(1-a*a)*(1-1e-15) {
			t.Errorf("MaxFeatureNorm(a=%v) = %v, want √(1 − a²) = %v with m² + a² ≤ 1", a, m, math.Sqrt(1-a*a))
		}
		for range 2000 {
			x := make([]float64, 1+rng.IntN(30))
			s := math.Pow(10, 4*rng.Float64()-1)
			for j := range x {
				x[j] = s * rng.NormFloat64()
			}
			if got := Clip(x, m); norm2(got) > m {
				t.Fatalf("‖Clip(%v, %v)‖ = %v, want ≤ %v", x, m, norm2(got), m)
			}
		}
	}
}

func TestScore(t *testing.T) {
	m := &Model{Coefficients: []float64{2, -1}, Intercept: 0.5}
	for _, tc := range []struct {
		x    []float64
		want float64
	}{
		{[]float64{0, 0}, 1 / (1 + math.Exp(-0.5))},
		{[]float64{1, 1}, 1 / (1 + math.Exp(-1.5))},
		{[]float64{-1, 0}, 1 / (1 + math.Exp(1.5))},
		{[]float64{1000, 0}, 1},
		{[]float64{-1000, 0}, 0},
	} {
		if got := m.Score(tc.x); math.Abs(got-tc.want) > 1e-15 {
			t.Errorf("Score(%v) = %v, want %v", tc.x, got, tc.want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Score of a row of the wrong length did not panic")
		}
	}()
	m.Score([]float64{1})
}

func BenchmarkTrain(b *testing.B) {
	const n, d = 100_000, 20
	beta := make([]float64, d)
	for j := range beta {
		beta[j] = float64(j%5) - 2
	}
	cfg := Config{Epsilon: 1, Lambda: 1e-3, InterceptFeature: 0.5}
	data := synthetic(rand.New(rand.NewPCG(11, 12)), n, beta, -1, cfg)
	for b.Loop() {
		if _, _, err := Train(context.Background(), data, cfg); err != nil {
			b.Fatal(err)
		}
	}
}
