package dp

import (
	"math"
	"strings"
	"testing"
)

func TestEpsilonFromRho(t *testing.T) {
	for _, tc := range []struct {
		rho, delta, want float64
	}{
		{1, math.Exp(-4), 5},       // 1 + 2·√(1·4)
		{0.25, math.Exp(-9), 3.25}, // 0.25 + 2·√(0.25·9)
		{0, 1e-9, 0},
		{0.5, 1e-6, 0.5 + 2*math.Sqrt(0.5*math.Log(1e6))},
	} {
		got, err := EpsilonFromRho(tc.rho, tc.delta)
		if err != nil || math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("EpsilonFromRho(%v, %v) = %v, %v, want %v", tc.rho, tc.delta, got, err, tc.want)
		}
	}
	for _, tc := range [][2]float64{{-1, 1e-6}, {math.NaN(), 1e-6}, {math.Inf(1), 1e-6}, {1, 0}, {1, 1}, {1, math.NaN()}} {
		if got, err := EpsilonFromRho(tc[0], tc[1]); err == nil {
			t.Errorf("EpsilonFromRho(%v, %v) = %v, want error", tc[0], tc[1], got)
		}
	}
}

func TestPureLoss(t *testing.T) {
	for _, tc := range []struct{ eps, want float64 }{
		{1, 0.5},
		{0.1, 0.005},
		{2, 2},
		{3e-6, 5e-12}, // 4.5·10⁻¹² rounded up to the quantum
	} {
		got, err := PureLoss(tc.eps)
		if err != nil || got != (Loss{Rho: tc.want}) {
			t.Errorf("PureLoss(%v) = %+v, %v, want ρ = %v", tc.eps, got, err, tc.want)
		}
	}
	for _, eps := range []float64{0, -1, math.NaN(), math.Inf(1), 41} {
		if got, err := PureLoss(eps); err == nil {
			t.Errorf("PureLoss(%v) = %+v, want error", eps, got)
		}
	}
}

// Quantised losses add exactly: ten releases of ρ = 0.1 spend exactly 1,
// which float64 addition does not give.
func TestLossComposesExactly(t *testing.T) {
	var total Loss
	var float float64
	for range 10 {
		var err error
		if total, err = total.Plus(Loss{Rho: 0.1, Epsilon: 0.1, Delta: 1e-10}); err != nil {
			t.Fatal(err)
		}
		float += 0.1
	}
	if want := (Loss{Rho: 1, Epsilon: 1, Delta: 1e-9}); total != want {
		t.Errorf("ten times 0.1 = %+v, want %+v", total, want)
	}
	if float == 1 {
		t.Fatal("float64 addition is exact too; the test shows nothing")
	}
	u, err := total.Units()
	if err != nil || u != (LossUnits{Rho: 1e12, Epsilon: 1e12, Delta: 1e9}) {
		t.Errorf("Units() = %+v, %v", u, err)
	}
	if _, err := (Loss{Rho: 800}).Plus(Loss{Rho: 300}); err == nil {
		t.Error("composing past MaxRho succeeded, want error")
	}
}

func TestLossRejected(t *testing.T) {
	for _, tc := range []struct {
		l    Loss
		want string
	}{
		{Loss{Rho: -1}, "rho must be positive"},
		{Loss{Rho: math.NaN()}, "rho must be a finite"},
		{Loss{Epsilon: math.Inf(1)}, "epsilon must be a finite"},
		{Loss{Delta: 1e-19}, "delta = 1e-19 is below the smallest amount"},
		{Loss{Rho: 1e-13}, "below the smallest amount"},
		{Loss{Delta: 0.01}, "delta must be at most"},
		{Loss{Epsilon: 50}, "epsilon must be at most"},
	} {
		if err := tc.l.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Loss%+v.Validate() = %v, want %q", tc.l, err, tc.want)
		}
	}
	if err := (Loss{}).Validate(); err != nil {
		t.Errorf("zero Loss: %v", err)
	}
}

func TestEpsilonAt(t *testing.T) {
	l := Loss{Rho: 1, Epsilon: 0.5, Delta: 1e-6}
	got, err := l.EpsilonAt(1e-6 + math.Exp(-4))
	if err != nil || math.Abs(got-5.5) > 1e-9 {
		t.Errorf("EpsilonAt = %v, %v, want 5.5", got, err)
	}
	if _, err := l.EpsilonAt(1e-6); err == nil {
		t.Error("EpsilonAt with no δ left for ρ succeeded, want error")
	}
	if got, err := (Loss{Epsilon: 0.3, Delta: 1e-9}).EpsilonAt(1e-9); got != 0.3 || err != nil {
		t.Errorf("EpsilonAt without ρ = %v, %v, want 0.3", got, err)
	}
}

// δ_total ≤ 1/(10·N) is enforced: a cap whose selection δ leaves nothing
// for the conversion of ρ is refused.
func TestGuarantee(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want float64
	}{{1, 0.1}, {1000, 1e-4}, {5_000_000, 2e-8}} {
		if got, err := DeltaLimit(tc.n); got != tc.want || err != nil {
			t.Errorf("DeltaLimit(%d) = %v, %v, want %v", tc.n, got, err, tc.want)
		}
	}
	if _, err := DeltaLimit(0); err == nil {
		t.Error("DeltaLimit(0) succeeded, want error")
	}
	eps, delta, err := Guarantee(Loss{Rho: 1, Epsilon: 1, Delta: 1e-9}, 1_000_000)
	wantEps := 1 + 2*math.Sqrt(math.Log(1/(1e-7-1e-9))) + 1
	if err != nil || delta != 1e-7 || math.Abs(eps-wantEps) > 1e-9 {
		t.Errorf("Guarantee = %v, %v, %v, want %v, 1e-7", eps, delta, err, wantEps)
	}
	for _, tc := range []struct {
		cap  Loss
		n    int64
		want string
	}{
		{Loss{Rho: 1, Delta: 1e-7}, 1_000_000, "must be below 1/(10·1000000)"},
		{Loss{Rho: 1, Delta: 2e-7}, 1_000_000, "must be below"},
		{Loss{Rho: -1}, 10, "rho must be positive"},
		{Loss{Rho: 1}, 0, "dataset size"},
	} {
		if _, _, err := Guarantee(tc.cap, tc.n); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Guarantee(%+v, %d) error = %v, want %q", tc.cap, tc.n, err, tc.want)
		}
	}
}
