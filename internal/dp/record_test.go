package dp

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"
)

// interval95 returns the smallest h with P[|X| ≤ h] ≥ 0.95 under d.
func interval95(d pmf) float64 {
	mass := d.at(0)
	h := 0
	for mass < 0.95 {
		h++
		mass += d.at(h) + d.at(-h)
	}
	return float64(h)
}

// A record states the noise each cell got, in value units: checked against
// the exact pmf of the noise.
func TestRecord(t *testing.T) {
	for _, tc := range []struct {
		name  string
		agg   Describer
		noise pmf
		scale float64 // σ or b in value units
		unit  float64
		mech  string
		rho   float64
		eps   float64
	}{
		{"gaussian count", must(NewCount(Params{Rho: 0.05, MaxGroups: 4, MaxRowsPerGroup: 1})), gaussianPMF(40), math.Sqrt(40), 1, "gaussian", 0.05, 0},
		{"small gaussian", must(NewCount(Params{Rho: 2, MaxGroups: 1, MaxRowsPerGroup: 1})), gaussianPMF(0.25), 0.5, 1, "gaussian", 2, 0},
		{"laplace count", must(NewCount(Params{Mechanism: Laplace, Epsilon: 0.5, MaxGroups: 2, MaxRowsPerGroup: 1})), laplacePMF(4), 4, 1, "laplace", 0.125, 0.5},
		{"laplace sum in cents", must(NewSum(SumParams{Params: Params{Mechanism: Laplace, Epsilon: 1, MaxGroups: 3, MaxRowsPerGroup: 2}, Lo: 0, Hi: 50, Decimals: 2})), laplacePMF(300), 3, 0.01, "laplace", 0.5, 1},
	} {
		r := tc.agg.Record()
		wantSD := math.Sqrt(tc.noise.moment(2)) * tc.unit
		wantH := interval95(tc.noise) * tc.unit
		if r.Mechanism != tc.mech || r.Rho != tc.rho || r.Epsilon != tc.eps {
			t.Errorf("%s: Record() = %+v, want mechanism %s, ρ %v, ε %v", tc.name, r, tc.mech, tc.rho, tc.eps)
		}
		if math.Abs(r.NoiseScale-tc.scale) > 1e-12*tc.scale {
			t.Errorf("%s: NoiseScale = %v, want %v", tc.name, r.NoiseScale, tc.scale)
		}
		if math.Abs(r.StdDev-wantSD) > 1e-6*wantSD {
			t.Errorf("%s: StdDev = %v, want %v", tc.name, r.StdDev, wantSD)
		}
		if math.Abs(r.Interval95-wantH) > 1e-9 {
			t.Errorf("%s: Interval95 = %v, want %v", tc.name, r.Interval95, wantH)
		}
	}
	// Large σ uses the normal approximation of the interval.
	sd, h := gaussianStats(1e6)
	if sd != 1000 || h != math.Ceil(1.959963984540054*1000-0.5) {
		t.Errorf("gaussianStats(1e6) = %v, %v", sd, h)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestRecordJSON(t *testing.T) {
	c := must(NewCount(Params{Rho: 0.05, MaxGroups: 4, MaxRowsPerGroup: 1}))
	s := must(NewSelection(SelectionParams{Epsilon: 0.5, Delta: 1e-9, MaxGroups: 4}))
	b, err := json.Marshal(c.Record().WithSelection(s, 7))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]any{
		"mechanism": "gaussian", "rho": 0.05, "selection_epsilon": 0.5, "delta": 1e-9,
		"min_group_size": 100.0, "suppressed_cells": 7.0,
	} {
		if got[key] != want {
			t.Errorf("JSON %s = %v, want %v (in %s)", key, got[key], want, b)
		}
	}
	for _, key := range []string{"noise_scale", "std_dev", "interval_95"} {
		if v, ok := got[key].(float64); !ok || v <= 0 {
			t.Errorf("JSON %s = %v, want a positive number (in %s)", key, got[key], b)
		}
	}
}

func TestMeanRecord(t *testing.T) {
	m := must(NewMean(SumParams{Params: Params{Rho: 1, MaxGroups: 1, MaxRowsPerGroup: 1, Noise: ZeroNoise{}}, Lo: 0, Hi: 10}))
	if r := m.Record(); len(r.Parts) != 2 || r.StdDev != 0 {
		t.Errorf("Record() before Result = %+v, want two parts and no std dev yet", r)
	}
	for range 100 {
		m.Add(9)
	}
	if _, err := m.Result(); err != nil {
		t.Fatal(err)
	}
	r := m.Record()
	// σ² of the doubled centred sum is 100, of the count 1 (ρ/2 each):
	// sd = √(100/4 + (9 − 5)²·1)/100.
	if want := math.Sqrt(25+16) / 100; math.Abs(r.StdDev-want) > 1e-6*want {
		t.Errorf("mean StdDev = %v, want %v", r.StdDev, want)
	}
}

// Preview shows, before anything runs, the noise per cell and p(n) from
// just below k to where release is near certain.
func TestPreview(t *testing.T) {
	c := must(NewCount(Params{Rho: 0.05, MaxGroups: 4, MaxRowsPerGroup: 1}))
	s := must(NewSelection(SelectionParams{Epsilon: 0.5, Delta: 1e-9, MaxGroups: 4}))
	u := Preview(c, s, nil)
	if u.Cell.StdDev != c.Record().StdDev || u.Cell.MinGroupSize != 100 {
		t.Errorf("Preview cell = %+v", u.Cell)
	}
	if len(u.Keep) < 5 || u.Keep[0] != (KeepPoint{N: 99, P: 0}) {
		t.Fatalf("Preview keep = %v, want it to start at {99 0}", u.Keep)
	}
	last := u.Keep[len(u.Keep)-1]
	if last.P < 0.999 {
		t.Errorf("Preview keep ends at %+v, want p ≥ 0.999", last)
	}
	for i := 1; i < len(u.Keep); i++ {
		if u.Keep[i].N <= u.Keep[i-1].N || u.Keep[i].P < u.Keep[i-1].P {
			t.Errorf("Preview keep not increasing at %d: %v", i, u.Keep)
		}
	}
	u = Preview(c, s, []int64{150, 1000})
	if len(u.Keep) != 2 || u.Keep[1].P != s.KeepProbability(1000) {
		t.Errorf("Preview with sizes = %v", u.Keep)
	}
	if u := Preview(c, nil, nil); u.Keep != nil || u.Cell.MinGroupSize != 0 {
		t.Errorf("Preview without selection = %+v", u)
	}
}

// PadTo returns no earlier than its deadline whatever fn does, and passes
// fn's error through. Only a lower bound on elapsed time is checked.
func TestPadToHoldsDeadline(t *testing.T) {
	errFn := errors.New("boom")
	for _, fnErr := range []error{nil, errFn} {
		start := time.Now()
		deadline := start.Add(30 * time.Millisecond)
		err := PadTo(context.Background(), deadline, func() error { return fnErr })
		if !errors.Is(err, fnErr) || (fnErr == nil) != (err == nil) {
			t.Errorf("PadTo error = %v, want %v", err, fnErr)
		}
		if now := time.Now(); now.Before(deadline) {
			t.Errorf("PadTo returned %v before its deadline", deadline.Sub(now))
		}
	}
}

func TestPadToOverrun(t *testing.T) {
	err := PadTo(context.Background(), time.Now().Add(-time.Millisecond), func() error { return nil })
	if !errors.Is(err, ErrOverrun) {
		t.Errorf("PadTo past its deadline = %v, want ErrOverrun", err)
	}
}

func TestPadToCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := PadTo(ctx, time.Now().Add(time.Hour), func() error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("PadTo with a cancelled context = %v, want context.Canceled", err)
	}
}
