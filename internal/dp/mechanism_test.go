package dp

import (
	"errors"
	"math"
	"math/big"
	"strings"
	"sync"
	"testing"
)

// recordingNoise returns zero noise and records the scales it was asked
// for.
type recordingNoise struct {
	mu       sync.Mutex
	laplace  []*big.Rat
	gaussian []*big.Rat
}

func (r *recordingNoise) DiscreteLaplace(scale *big.Rat) (*big.Int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.laplace = append(r.laplace, new(big.Rat).Set(scale))
	return new(big.Int), nil
}

func (r *recordingNoise) DiscreteGaussian(sigma2 *big.Rat) (*big.Int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gaussian = append(r.gaussian, new(big.Rat).Set(sigma2))
	return new(big.Int), nil
}

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	return r
}

// The noise scale is derived exactly from the sensitivity (L0, rows per
// group, clamp bounds) and ρ or ε: σ² = L0·Δ∞²/(2ρ), b = L0·Δ∞/ε.
func TestNoiseScaleFollowsSensitivity(t *testing.T) {
	for _, tc := range []struct {
		name   string
		kind   string // count, sum or mean
		p      SumParams
		want   []string // scales asked for, in order (a mean asks for sum, then count)
		wantLp bool     // laplace
	}{
		{"count rho=0.5", "count", SumParams{Params: Params{Rho: 0.5, MaxGroups: 1, MaxRowsPerGroup: 1}}, []string{"1"}, false},
		{"count rho=0.05 L0=4", "count", SumParams{Params: Params{Rho: 0.05, MaxGroups: 4, MaxRowsPerGroup: 1}}, []string{"40"}, false},
		{"count rows=2 L0=3", "count", SumParams{Params: Params{Rho: 0.1, MaxGroups: 3, MaxRowsPerGroup: 2}}, []string{"60"}, false},
		{"count laplace", "count", SumParams{Params: Params{Mechanism: Laplace, Epsilon: 0.5, MaxGroups: 2, MaxRowsPerGroup: 1}}, []string{"4"}, true},
		{"sum gaussian", "sum", SumParams{Params: Params{Rho: 0.5, MaxGroups: 2, MaxRowsPerGroup: 1}, Lo: -300, Hi: 100}, []string{"180000"}, false},
		{"sum laplace", "sum", SumParams{Params: Params{Mechanism: Laplace, Epsilon: 1, MaxGroups: 3, MaxRowsPerGroup: 2}, Lo: 0, Hi: 50}, []string{"300"}, true},
		{"sum rho=0.3", "sum", SumParams{Params: Params{Rho: 0.3, MaxGroups: 1, MaxRowsPerGroup: 1}, Lo: 0, Hi: 3}, []string{"15"}, false},
		{"mean gaussian", "mean", SumParams{Params: Params{Rho: 1, MaxGroups: 1, MaxRowsPerGroup: 1}, Lo: 0, Hi: 10}, []string{"100", "1"}, false},
		{"mean laplace", "mean", SumParams{Params: Params{Mechanism: Laplace, Epsilon: 2, MaxGroups: 2, MaxRowsPerGroup: 1}, Lo: -5, Hi: 5}, []string{"20", "2"}, true},
	} {
		rec := &recordingNoise{}
		tc.p.Noise = rec
		var err error
		switch tc.kind {
		case "count":
			var c *Count
			if c, err = NewCount(tc.p.Params); err == nil {
				_, err = c.Result()
			}
		case "sum":
			var s *Sum
			if s, err = NewSum(tc.p); err == nil {
				_, err = s.Result()
			}
		case "mean":
			var m *Mean
			if m, err = NewMean(tc.p); err == nil {
				_, err = m.Result()
			}
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		got := rec.gaussian
		if tc.wantLp {
			got = rec.laplace
		}
		if len(got) != len(tc.want) || len(rec.gaussian)+len(rec.laplace) != len(tc.want) {
			t.Errorf("%s: asked for gaussian %v laplace %v, want %v", tc.name, rec.gaussian, rec.laplace, tc.want)
			continue
		}
		for i, w := range tc.want {
			if got[i].Cmp(rat(w)) != 0 {
				t.Errorf("%s: noise scale %d = %v, want %v", tc.name, i, got[i].RatString(), w)
			}
		}
	}
}

func TestLoss(t *testing.T) {
	for _, tc := range []struct {
		p    Params
		want Loss
	}{
		{Params{Rho: 0.05, MaxGroups: 3, MaxRowsPerGroup: 1}, Loss{Rho: 0.05}},
		{Params{Rho: 0.1 + 0.2, MaxGroups: 1, MaxRowsPerGroup: 1}, Loss{Rho: 0.3}}, // rounded to the quantum
		{Params{Mechanism: Laplace, Epsilon: 0.5, MaxGroups: 1, MaxRowsPerGroup: 1}, Loss{Rho: 0.125}},
		{Params{Mechanism: Laplace, Epsilon: 1e-6 + 1e-12, MaxGroups: 1, MaxRowsPerGroup: 1}, Loss{Rho: 1e-12}}, // ε²/2 rounded up
	} {
		c, err := NewCount(tc.p)
		if err != nil {
			t.Errorf("NewCount(%+v): %v", tc.p, err)
			continue
		}
		if got := c.Loss(); got != tc.want {
			t.Errorf("NewCount(%+v).Loss() = %+v, want %+v", tc.p, got, tc.want)
		}
	}
	m, err := NewMean(SumParams{Params: Params{Rho: 0.2, MaxGroups: 1, MaxRowsPerGroup: 1}, Lo: 0, Hi: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Loss(); got != (Loss{Rho: 0.2}) {
		t.Errorf("mean Loss() = %+v, want the whole ρ 0.2 (split between sum and count)", got)
	}
}

func TestParamsRejected(t *testing.T) {
	ok := Params{Rho: 0.1, MaxGroups: 1, MaxRowsPerGroup: 1}
	for _, tc := range []struct {
		name string
		edit func(p *SumParams)
		want string
	}{
		{"zero rho", func(p *SumParams) { p.Rho = 0 }, "rho must be positive"},
		{"negative rho", func(p *SumParams) { p.Rho = -1 }, "rho must be positive"},
		{"NaN rho", func(p *SumParams) { p.Rho = math.NaN() }, "finite"},
		{"+Inf rho", func(p *SumParams) { p.Rho = math.Inf(1) }, "finite"},
		{"-Inf rho", func(p *SumParams) { p.Rho = math.Inf(-1) }, "finite"},
		{"rho below quantum", func(p *SumParams) { p.Rho = 1e-13 }, "below the smallest amount"},
		{"rho too large", func(p *SumParams) { p.Rho = 2000 }, "at most"},
		{"epsilon with gaussian", func(p *SumParams) { p.Epsilon = 1 }, "epsilon must be zero"},
		{"zero epsilon", func(p *SumParams) { p.Mechanism, p.Rho = Laplace, 0 }, "epsilon must be positive"},
		{"NaN epsilon", func(p *SumParams) { p.Mechanism, p.Rho, p.Epsilon = Laplace, 0, math.NaN() }, "finite"},
		{"Inf epsilon", func(p *SumParams) { p.Mechanism, p.Rho, p.Epsilon = Laplace, 0, math.Inf(1) }, "finite"},
		{"rho with laplace", func(p *SumParams) { p.Mechanism, p.Epsilon = Laplace, 1 }, "rho must be zero"},
		{"unknown mechanism", func(p *SumParams) { p.Mechanism = 7 }, "unknown mechanism"},
		{"zero groups", func(p *SumParams) { p.MaxGroups = 0 }, "max groups"},
		{"negative groups", func(p *SumParams) { p.MaxGroups = -2 }, "max groups"},
		{"zero rows", func(p *SumParams) { p.MaxRowsPerGroup = 0 }, "max rows"},
		{"empty bounds", func(p *SumParams) { p.Lo, p.Hi = 5, 4 }, "empty"},
		{"zero bounds", func(p *SumParams) { p.Lo, p.Hi = 0, 0 }, "clamp bounds [0, 0]"},
		{"huge bounds", func(p *SumParams) { p.Lo = math.MinInt64 }, "2^61"},
		{"decimals", func(p *SumParams) { p.Decimals = 19 }, "decimals"},
	} {
		p := SumParams{Params: ok, Lo: 0, Hi: 10}
		tc.edit(&p)
		_, errS := NewSum(p)
		_, errM := NewMean(p)
		for _, err := range []error{errS, errM} {
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: error = %v, want %q", tc.name, err, tc.want)
			}
		}
		if tc.name == "empty bounds" || tc.name == "zero bounds" || tc.name == "huge bounds" || tc.name == "decimals" {
			continue
		}
		if _, err := NewCount(p.Params); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: NewCount error = %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := NewMean(SumParams{Params: ok, Lo: 3, Hi: 3}); err == nil {
		t.Error("NewMean with Lo == Hi succeeded, want error")
	}
}

// Each aggregate releases one value: a second Result, or an Add after
// Result, returns ErrTaken, so its budget cannot be spent twice.
func TestResultTakenOnce(t *testing.T) {
	p := Params{Rho: 0.1, MaxGroups: 1, MaxRowsPerGroup: 1, Noise: ZeroNoise{}}
	c, _ := NewCount(p)
	s, _ := NewSum(SumParams{Params: p, Lo: 0, Hi: 10})
	m, _ := NewMean(SumParams{Params: p, Lo: 0, Hi: 10})
	for _, a := range []struct {
		name   string
		add    func() error
		result func() error
	}{
		{"count", func() error { return c.Add(1) }, func() error { _, err := c.Result(); return err }},
		{"sum", func() error { return s.Add(1) }, func() error { _, err := s.Result(); return err }},
		{"mean", func() error { return m.Add(1) }, func() error { _, err := m.Result(); return err }},
	} {
		if err := a.add(); err != nil {
			t.Fatalf("%s: Add: %v", a.name, err)
		}
		if err := a.result(); err != nil {
			t.Fatalf("%s: first Result: %v", a.name, err)
		}
		if err := a.result(); !errors.Is(err, ErrTaken) {
			t.Errorf("%s: second Result error = %v, want ErrTaken", a.name, err)
		}
		if err := a.add(); !errors.Is(err, ErrTaken) {
			t.Errorf("%s: Add after Result error = %v, want ErrTaken", a.name, err)
		}
	}
}

// Values are clamped one by one before they are summed: clamping the total
// instead would give 10 here, not 23.
func TestSumClampsBeforeSumming(t *testing.T) {
	s, err := NewSum(SumParams{Params: Params{Rho: 1, MaxGroups: 1, MaxRowsPerGroup: 1, Noise: ZeroNoise{}}, Lo: 0, Hi: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []int64{-100, 8, 1000, 5} {
		if err := s.Add(v); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.Result(); got != 23 || err != nil {
		t.Errorf("Result() = %d, %v, want 23 (0 + 8 + 10 + 5)", got, err)
	}
	for _, tc := range []struct {
		values []int64
		lo, hi int64
		want   int64
	}{
		{[]int64{-100, 8, 1000, 5}, 0, 10, 23},
		{[]int64{-7, 7}, -5, 5, 0},
		{[]int64{-100, -1, 3}, -2, 2, -1},
		{nil, 0, 1, 0},
	} {
		if got, err := ClampedSum(tc.values, tc.lo, tc.hi); got != tc.want || err != nil {
			t.Errorf("ClampedSum(%v, %d, %d) = %d, %v, want %d", tc.values, tc.lo, tc.hi, got, err, tc.want)
		}
	}
}

// Sums are exact integers: 3·(2^53 + 1) is not representable as a float64
// sum of float64 values, and overflow is an error that leaves the sum as
// it was.
func TestSumIsExact(t *testing.T) {
	p := Params{Rho: 1, MaxGroups: 1, MaxRowsPerGroup: 1, Noise: ZeroNoise{}}
	s, err := NewSum(SumParams{Params: p, Lo: 0, Hi: 1 << 61})
	if err != nil {
		t.Fatal(err)
	}
	x := int64(1<<53 + 1)
	for range 3 {
		if err := s.Add(x); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := s.Result(); got != 3*x {
		t.Errorf("Result() = %d, want %d", got, 3*x)
	}
	if f := float64(x) + float64(x) + float64(x); int64(f) == 3*x {
		t.Fatalf("float64 sum is exact too; the test does not show exactness")
	}

	s, _ = NewSum(SumParams{Params: p, Lo: 0, Hi: 1 << 61})
	for i := range 3 {
		if err := s.Add(1 << 61); err != nil {
			t.Fatalf("Add %d: %v", i, err)
		}
	}
	if err := s.Add(1 << 61); err == nil || !strings.Contains(err.Error(), "overflow") {
		t.Errorf("fourth Add(2^61) error = %v, want overflow", err)
	}
	if got, _ := s.Result(); got != 3<<61 {
		t.Errorf("Result() after overflow = %d, want %d", got, int64(3<<61))
	}
	if _, err := ClampedSum([]int64{math.MaxInt64, 1}, 0, math.MaxInt64); err == nil {
		t.Error("ClampedSum overflow succeeded, want error")
	}
}

func TestMeanZeroNoise(t *testing.T) {
	p := Params{Rho: 1, MaxGroups: 1, MaxRowsPerGroup: 1, Noise: ZeroNoise{}}
	for _, tc := range []struct {
		values []int64
		lo, hi int64
		want   float64
	}{
		{[]int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0, 20, 5.5},
		{[]int64{-5, 30}, 0, 10, 5},
		{[]int64{3}, -10, 10, 3},
		{nil, 0, 10, 5}, // empty: the count is taken as 1, the centred sum is 0
	} {
		m, err := NewMean(SumParams{Params: p, Lo: tc.lo, Hi: tc.hi})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range tc.values {
			if err := m.Add(v); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := m.Result(); got != tc.want || err != nil {
			t.Errorf("mean of %v in [%d, %d] = %v, %v, want %v", tc.values, tc.lo, tc.hi, got, err, tc.want)
		}
	}
}

// A count with real noise has the variance of its noise: Secure is wired
// in by default. One check at 6 standard errors: false-failure rate
// 2·10⁻⁹.
func TestCountNoiseVariance(t *testing.T) {
	t.Parallel()
	const n = 20_000
	var sum, sumSq float64
	for range n {
		c, err := NewCount(Params{Rho: 0.5, MaxGroups: 2, MaxRowsPerGroup: 1}) // σ² = 2
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Add(1000); err != nil {
			t.Fatal(err)
		}
		v, err := c.Result()
		if err != nil {
			t.Fatal(err)
		}
		d := float64(v - 1000)
		sum += d
		sumSq += d * d
	}
	want := gaussianPMF(2)
	variance := sumSq/n - (sum/n)*(sum/n)
	wantVar := want.moment(2)
	if se := math.Sqrt((want.moment(4) - wantVar*wantVar) / n); math.Abs(variance-wantVar) > checkZ*se {
		t.Errorf("noisy count variance = %.4g, want %.4g ± %.3g", variance, wantVar, checkZ*se)
	}
}

func TestToScaled(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		dec  int
		want int64
	}{
		{12.34, 2, 1234},
		{-0.5, 0, -1},
		{0.5, 0, 1},
		{19999.99, 2, 1999999},
		{7, 0, 7},
		{1e-9, 3, 0},
	} {
		if got, err := ToScaled(tc.v, tc.dec); got != tc.want || err != nil {
			t.Errorf("ToScaled(%v, %d) = %d, %v, want %d", tc.v, tc.dec, got, err, tc.want)
		}
		if got := FromScaled(tc.want, tc.dec); tc.want != 0 && math.Abs(got-tc.v) > 1e-9*math.Abs(tc.v)+math.Pow10(-tc.dec) {
			t.Errorf("FromScaled(%d, %d) = %v, want about %v", tc.want, tc.dec, got, tc.v)
		}
	}
	for _, tc := range []struct {
		v   float64
		dec int
	}{{math.NaN(), 0}, {math.Inf(1), 2}, {1e20, 2}, {1, -1}, {1, 19}} {
		if got, err := ToScaled(tc.v, tc.dec); err == nil {
			t.Errorf("ToScaled(%v, %d) = %d, want error", tc.v, tc.dec, got)
		}
	}
}

// TestAddBoundedMatchesAdd: adding pre-clamped values by their sum gives
// what adding them one by one gives, and an unclamped sum is refused.
func TestAddBoundedMatchesAdd(t *testing.T) {
	values := []int64{-5, 0, 7, 10, 3}
	p := SumParams{Params: Params{Rho: 1, MaxGroups: 1, MaxRowsPerGroup: 1, Noise: ZeroNoise{}}, Lo: -5, Hi: 10}
	a, _ := NewSum(p)
	b, _ := NewSum(p)
	var total int64
	for _, v := range values {
		a.Add(v)
		total += v
	}
	if err := b.AddBounded(total, int64(len(values))); err != nil {
		t.Fatal(err)
	}
	ra, _ := a.Result()
	rb, _ := b.Result()
	if ra != rb {
		t.Errorf("Sum: Add gives %d, AddBounded %d", ra, rb)
	}
	ma, _ := NewMean(p)
	mb, _ := NewMean(p)
	for _, v := range values {
		ma.Add(v)
	}
	if err := mb.AddBounded(total, int64(len(values))); err != nil {
		t.Fatal(err)
	}
	xa, _ := ma.Result()
	xb, _ := mb.Result()
	if xa != xb {
		t.Errorf("Mean: Add gives %v, AddBounded %v", xa, xb)
	}
	c, _ := NewSum(p)
	if err := c.AddBounded(51, 5); err == nil {
		t.Error("AddBounded accepted a sum of 5 values above 5·Hi")
	}
	if err := c.AddBounded(-26, 5); err == nil {
		t.Error("AddBounded accepted a sum of 5 values below 5·Lo")
	}
}
