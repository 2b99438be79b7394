// Package release applies a template's output controls to the exact,
// contribution-bounded aggregates the engine computed, through the privacy
// core (internal/dp), and produces what may leave the room:
//
//  1. Partition selection with pre-thresholding: a group whose true number
//     of distinct people is below the minimum k is never shown; otherwise
//     it is shown only if dp.Selection's test passes (ε and δ of the
//     selection divided by L0).
//  2. Noise: each metric of each shown group gets its own discrete noise
//     (Gaussian with ρ, or Laplace with ε). The template's ρ (or ε) is split
//     equally between its metrics; each metric's noise is calibrated to
//     the L0 groups a person may contribute to, so the whole release costs
//     the template's ρ (or ε) plus the selection's (ε, δ).
//  3. Coarsening: a noisy value is rounded to the template's step after the
//     noise, never instead of it.
//  4. Totals: the sum of the shown noisy cells (post-processing, no extra
//     cost), so a total never reveals a suppressed cell.
//
// Every metric carries its dp.Record: the standard deviation and 95 %
// interval of one cell's noise, the error bars a receiver reads the
// numbers with.
package release

import (
	"errors"
	"fmt"
	"math"

	"github.com/cleanroom-dev/cleanroom/internal/dp"
)

// Metric kinds.
const (
	Count = "count_distinct_person"
	Sum   = "sum"
	Avg   = "avg"
)

// Metric describes one metric of the release. Lo and Hi are the clamp
// bounds of one person's contribution, in units of 10^-Decimals.
type Metric struct {
	Name     string
	Kind     string
	Lo, Hi   int64
	Decimals int
}

// Group is one group's exact aggregates: its key, its number of distinct
// people, and per metric the sum of the people's clamped contributions
// (scaled integers; unused for counts) and how many people have a value
// (nil means all of them).
type Group struct {
	Key    []string
	People int64
	Sums   []int64
	Counts []int64
}

func (g Group) count(i int) int64 {
	if g.Counts == nil {
		return g.People
	}
	return g.Counts[i]
}

// Controls are the output controls of one release. Rho or Epsilon (one of
// them) is the noise budget of the whole release; SelectionEpsilon and
// SelectionDelta that of partition selection. L0 is the most groups one
// person contributes to. Noise is the noise source: nil means dp.Secure;
// only tests set another.
type Controls struct {
	MinGroupSize                     int64
	Rho, Epsilon                     float64
	L0                               int64
	Coarsen                          float64
	SelectionEpsilon, SelectionDelta float64
	Noise                            dp.Noise
}

// Cell is one shown group: its key, each metric's released value, and
// the half-width of each value's 95 % interval (the same for every cell of
// a count or sum; an average's depends on its cell's noisy count).
type Cell struct {
	Key        []string  `json:"key"`
	Values     []float64 `json:"values"`
	Interval95 []float64 `json:"interval_95"`
}

// MetricRelease describes one released metric: its noise and its total
// over the shown cells.
type MetricRelease struct {
	Name  string    `json:"name"`
	Kind  string    `json:"kind"`
	Noise dp.Record `json:"noise"`
	// Total is the sum of the shown cells; absent for averages, whose
	// sum means nothing.
	Total  *float64 `json:"total,omitempty"`
	Coarse float64  `json:"coarsened_to,omitempty"`
}

// Release is what leaves the room.
type Release struct {
	Cells      []Cell          `json:"cells"`
	Metrics    []MetricRelease `json:"metrics"`
	Suppressed int             `json:"suppressed_cells"`
	// MinGroupSize is k: no shown cell has fewer people.
	MinGroupSize int64   `json:"min_group_size"`
	Loss         dp.Loss `json:"loss"`
	// Lift is set for attribution releases (LiftOf).
	Lift []Lift `json:"lift,omitempty"`
	// Models are set for model jobs.
	Models []ModelReport `json:"models,omitempty"`
	// Seed and Reach are set for look-alike jobs; Segment only in the copy
	// of the party a declared disclosure names.
	Seed    *NoisyCount  `json:"seed,omitempty"`
	Reach   []ReachPoint `json:"reach,omitempty"`
	Segment *Segment     `json:"segment,omitempty"`
}

// Plan returns the loss a release with these controls and metrics will
// cost, so it can be reserved in the ledger before anything runs.
func Plan(ctl Controls, metrics []Metric) (dp.Loss, error) {
	sel, mechs, err := build(ctl, metrics)
	if err != nil {
		return dp.Loss{}, err
	}
	loss := sel.Loss()
	for _, m := range mechs {
		if loss, err = loss.Plus(m.loss()); err != nil {
			return dp.Loss{}, err
		}
	}
	return loss, nil
}

// mech makes one metric's aggregate of one group.
type mech struct {
	metric Metric
	params dp.Params
	new    func() (aggregate, error)
	loss   func() dp.Loss
	record func() dp.Record
}

type aggregate interface {
	Add(int64) error
}

func build(ctl Controls, metrics []Metric) (*dp.Selection, []mech, error) {
	if len(metrics) == 0 {
		return nil, nil, errors.New("release: no metric")
	}
	if ctl.L0 < 1 {
		ctl.L0 = 1
	}
	sel, err := dp.NewSelection(dp.SelectionParams{Epsilon: ctl.SelectionEpsilon, Delta: ctl.SelectionDelta,
		MaxGroups: ctl.L0, MinGroupSize: ctl.MinGroupSize, Noise: ctl.Noise})
	if err != nil {
		return nil, nil, fmt.Errorf("release: %w", err)
	}
	p := dp.Params{MaxGroups: ctl.L0, MaxRowsPerGroup: 1, Noise: ctl.Noise}
	share := float64(len(metrics))
	switch {
	case ctl.Rho > 0 && ctl.Epsilon == 0:
		p.Mechanism, p.Rho = dp.Gaussian, ctl.Rho/share
	case ctl.Epsilon > 0 && ctl.Rho == 0:
		p.Mechanism, p.Epsilon = dp.Laplace, ctl.Epsilon/share
	default:
		return nil, nil, errors.New("release: exactly one of rho and epsilon is required")
	}
	var out []mech
	for _, m := range metrics {
		m := m
		var probe interface {
			Loss() dp.Loss
			Record() dp.Record
		}
		var mk func() (aggregate, error)
		switch m.Kind {
		case Count:
			mk = func() (aggregate, error) { return dp.NewCount(p) }
		case Sum:
			sp := dp.SumParams{Params: p, Lo: m.Lo, Hi: m.Hi, Decimals: m.Decimals}
			mk = func() (aggregate, error) { return dp.NewSum(sp) }
		case Avg:
			sp := dp.SumParams{Params: p, Lo: m.Lo, Hi: m.Hi, Decimals: m.Decimals}
			mk = func() (aggregate, error) { return dp.NewMean(sp) }
		default:
			return nil, nil, fmt.Errorf("release: metric %s: unknown kind %q", m.Name, m.Kind)
		}
		a, err := mk()
		if err != nil {
			return nil, nil, fmt.Errorf("release: metric %s: %w", m.Name, err)
		}
		probe = a.(interface {
			Loss() dp.Loss
			Record() dp.Record
		})
		out = append(out, mech{metric: m, params: p, new: mk, loss: probe.Loss, record: probe.Record})
	}
	return sel, out, nil
}

// Apply releases groups under ctl. It draws noise only for the groups
// selection keeps; the caller must reserve Plan's loss first and pad the
// call to a fixed deadline (dp.PadTo), since drawing noise takes a time
// that depends on the noise.
func Apply(ctl Controls, metrics []Metric, groups []Group) (*Release, error) {
	sel, mechs, err := build(ctl, metrics)
	if err != nil {
		return nil, err
	}
	loss, err := Plan(ctl, metrics)
	if err != nil {
		return nil, err
	}
	rel := &Release{MinGroupSize: sel.MinGroupSize(), Loss: loss, Cells: []Cell{}}
	for _, m := range mechs {
		rel.Metrics = append(rel.Metrics, MetricRelease{Name: m.metric.Name, Kind: m.metric.Kind, Noise: m.record(), Coarse: ctl.Coarsen})
	}
	for _, g := range groups {
		if len(g.Sums) != len(metrics) {
			return nil, fmt.Errorf("release: group %v has %d sums for %d metrics", g.Key, len(g.Sums), len(metrics))
		}
		keep, err := sel.Keep(g.People)
		if err != nil {
			return nil, fmt.Errorf("release: %w", err)
		}
		if !keep {
			rel.Suppressed++
			continue
		}
		cell := Cell{Key: g.Key, Values: make([]float64, len(mechs)), Interval95: make([]float64, len(mechs))}
		for i, m := range mechs {
			v, rec, err := noisy(m, g, i)
			if err != nil {
				return nil, err
			}
			cell.Interval95[i] = rec.Interval95
			v = coarsen(v, ctl.Coarsen)
			cell.Values[i] = v
			if rel.Metrics[i].Kind != Avg {
				if rel.Metrics[i].Total == nil {
					rel.Metrics[i].Total = new(float64)
				}
				*rel.Metrics[i].Total += v
			}
		}
		rel.Cells = append(rel.Cells, cell)
	}
	for i := range rel.Metrics {
		if rel.Metrics[i].Kind != Avg && rel.Metrics[i].Total == nil {
			rel.Metrics[i].Total = new(float64) // nothing shown: a total of 0
		}
	}
	return rel, nil
}

// noisy returns one metric's noisy value for a group and the record of its
// noise.
func noisy(m mech, g Group, i int) (float64, dp.Record, error) {
	a, err := m.new()
	if err != nil {
		return 0, dp.Record{}, err
	}
	switch agg := a.(type) {
	case *dp.Count:
		if err := agg.Add(g.People); err != nil {
			return 0, dp.Record{}, err
		}
		n, err := agg.Result()
		return float64(max(n, 0)), agg.Record(), err
	case *dp.Sum:
		// Each person's contribution was clamped by the engine.
		if err := agg.AddBounded(g.Sums[i], g.count(i)); err != nil {
			return 0, dp.Record{}, err
		}
		n, err := agg.Result()
		return dp.FromScaled(n, m.metric.Decimals), agg.Record(), err
	case *dp.Mean:
		if err := agg.AddBounded(g.Sums[i], g.count(i)); err != nil {
			return 0, dp.Record{}, err
		}
		v, err := agg.Result()
		return v / math.Pow10(m.metric.Decimals), agg.Record(), err
	}
	return 0, dp.Record{}, fmt.Errorf("release: metric %s: no mechanism", m.metric.Name)
}

func coarsen(v, step float64) float64 {
	if step <= 0 {
		return v
	}
	return math.Round(v/step) * step
}

// MetricPreview is the noise one metric's cells will carry.
type MetricPreview struct {
	Name  string    `json:"name"`
	Kind  string    `json:"kind"`
	Noise dp.Record `json:"noise"`
}

// Preview is what a release with these controls will look like, before
// anything runs or is spent: each metric's noise per cell, the probability
// that a group of n people is shown, and the loss.
type Preview struct {
	Metrics []MetricPreview `json:"metrics"`
	Keep    []dp.KeepPoint  `json:"keep"`
	Loss    dp.Loss         `json:"loss"`
}

// PreviewOf returns the utility preview of a planned release.
func PreviewOf(ctl Controls, metrics []Metric) (*Preview, error) {
	sel, mechs, err := build(ctl, metrics)
	if err != nil {
		return nil, err
	}
	loss, err := Plan(ctl, metrics)
	if err != nil {
		return nil, err
	}
	p := &Preview{Loss: loss}
	for i, m := range mechs {
		u := dp.Preview(describer{m.record}, sel, nil)
		p.Metrics = append(p.Metrics, MetricPreview{Name: metrics[i].Name, Kind: metrics[i].Kind, Noise: u.Cell})
		if i == 0 {
			p.Keep = u.Keep
		}
	}
	return p, nil
}

type describer struct{ f func() dp.Record }

func (d describer) Record() dp.Record { return d.f() }
