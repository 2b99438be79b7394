package httpapi

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/dp"
	"github.com/cleanroom-dev/cleanroom/internal/dpml"
	"github.com/cleanroom-dev/cleanroom/internal/match"
	"github.com/cleanroom-dev/cleanroom/internal/release"
)

// lookalikeMetrics is a look-alike job's release per score bin: its
// people and how many of them are in the seed (so the partner sees how
// well the scores separate its seed, as AUC, without any score).
var lookalikeMetrics = []release.Metric{{Name: "people", Kind: release.Count}, {Name: "seed", Kind: release.Sum, Lo: 0, Hi: 1}}

// describeLookalike is a look-alike run's plan, as explain shows it.
func describeLookalike(t *cleanroom.Template) string {
	l := t.Lookalike
	seed := l.Seed
	var conds []string
	for _, f := range l.SeedWhere {
		conds = append(conds, f.Column+" "+string(f.Op)+" "+strings.Join(f.Values, ","))
	}
	if len(conds) > 0 {
		seed += " where " + strings.Join(conds, " and ")
	}
	s := fmt.Sprintf("look-alike job: the people of %s matched to the seed (%s) label a logistic regression on %s, trained with "+
		"objective perturbation at ε = %g (λ = %g) after a noisy seed count (ρ = %g) shows at least %d; released: people per score bin "+
		"(edges %v) and the reach curve", l.Population, seed, strings.Join(l.Features, ", "), l.Epsilon, l.Lambda, l.SeedRho, l.MinSeed, l.ScoreEdges)
	if l.Segment != nil {
		s += fmt.Sprintf("; to %s only, under declared disclosure %q, the rows of %s scoring at least %g, seed members included",
			l.Segment.To, l.Segment.Disclosure, l.Population, l.Segment.Threshold)
	}
	return s
}

// matchesFilter evaluates a literal filter on one payload value.
func matchesFilter(f cleanroom.Filter, col *cleanroom.AttributeColumn, v string) bool {
	if v == "" {
		return false
	}
	switch f.Op {
	case cleanroom.OpIn:
		return slices.Contains(f.Values, v)
	case cleanroom.OpHas:
		return slices.Contains(strings.Split(v, ";"), f.Values[0])
	}
	lit := f.Values[0]
	var cmp int
	switch col.Type {
	case cleanroom.TypeInt, cleanroom.TypeDecimal:
		a, err1 := strconv.ParseFloat(v, 64)
		b, err2 := strconv.ParseFloat(lit, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		cmp = map[bool]int{true: -1, false: 0}[a < b] + map[bool]int{true: 1, false: 0}[a > b]
	case cleanroom.TypeBool:
		a, b := v == "true" || v == "1", lit == "true" || lit == "1"
		cmp = map[bool]int{true: 0, false: 1}[a == b]
	default:
		cmp = strings.Compare(v, lit)
	}
	switch f.Op {
	case cleanroom.OpEq:
		return cmp == 0
	case cleanroom.OpNe:
		return cmp != 0
	case cleanroom.OpLt:
		return cmp < 0
	case cleanroom.OpLe:
		return cmp <= 0
	case cleanroom.OpGt:
		return cmp > 0
	case cleanroom.OpGe:
		return cmp >= 0
	}
	return false
}

// lookalikeRun is what a look-alike job computed besides its histogram.
type lookalikeRun struct {
	seed      release.NoisyCount
	segment   *release.Segment
	segmentTo string
	model     *trainedModel
	// refused says the seed test refused the run: only its ρ is spent.
	refused bool
}

// lookalike runs a look-alike job: the noisy seed-size test, the DP model,
// the score histogram's exact groups and, when declared, the segment.
func (s *Server) lookalike(ctx context.Context, room string, t *cleanroom.Template, reads map[string]match.AssignedDataset,
	schemas map[string]*cleanroom.Schema) ([]release.Group, *lookalikeRun, error) {
	l := t.Lookalike
	// The seed: people of the seed dataset with a row passing the filters.
	var seedCols []string
	var seedAttrs []*cleanroom.AttributeColumn
	for _, f := range l.SeedWhere {
		d, c, _ := cleanroom.SplitColumn(f.Column)
		seedCols = append(seedCols, c)
		seedAttrs = append(seedAttrs, schemas[d].Attribute(c))
	}
	seed := map[int32]bool{}
	if len(seedCols) == 0 {
		for _, p := range reads[l.Seed].Rows {
			if p >= 0 {
				seed[p] = true
			}
		}
	} else if err := s.scanRows(ctx, room, l.Seed, reads, seedCols, func(p int32, v []string) error {
		for i, f := range l.SeedWhere {
			if !matchesFilter(f, seedAttrs[i], v[i]) {
				return nil
			}
		}
		seed[p] = true
		return nil
	}); err != nil {
		return nil, nil, err
	}

	// The population's people: first row's features, and all their rows.
	var cols []string
	var encoders []encoder
	for _, f := range l.Features {
		d, c, _ := cleanroom.SplitColumn(f)
		cols = append(cols, c)
		encoders = append(encoders, newEncoder(f, schemas[d].Attribute(c)))
	}
	values := map[int32][]string{}
	rowsOf := map[int32][]int{}
	if err := s.scanRows(ctx, room, l.Population, reads, cols, func(p int32, v []string) error {
		if _, ok := values[p]; !ok {
			values[p] = slices.Clone(v)
		}
		return nil
	}); err != nil {
		return nil, nil, err
	}
	for i, p := range reads[l.Population].Rows {
		if p >= 0 {
			rowsOf[p] = append(rowsOf[p], i+1)
		}
	}
	people := make([]int32, 0, len(values))
	matched := int64(0)
	for p := range values {
		people = append(people, p)
		if seed[p] {
			matched++
		}
	}
	slices.Sort(people)

	// The seed must be large enough, on a noisy count charged like any.
	c, err := dp.NewCount(dp.Params{Mechanism: dp.Gaussian, Rho: l.SeedRho, MaxGroups: 1, MaxRowsPerGroup: 1})
	if err != nil {
		return nil, nil, err
	}
	if err := c.Add(matched); err != nil {
		return nil, nil, err
	}
	noisy, err := c.Result()
	if err != nil {
		return nil, nil, err
	}
	run := &lookalikeRun{seed: release.NoisyCount{Count: noisy, Interval95: c.Record().Interval95}}
	if noisy < l.MinSeed {
		run.refused = true
		return nil, run, cleanroom.Errorf(cleanroom.EForbidden, "the matched seed holds about %d people (noisy, ±%.0f), fewer than the template's minimum of %d",
			max(noisy, 0), run.seed.Interval95, l.MinSeed).WithHint("bring a larger seed list; this test was charged to the budget")
	}

	cfg := dpml.Config{Epsilon: l.Epsilon, Lambda: l.Lambda, InterceptFeature: modelIntercept}
	scale := inputScale(cfg, encoders)
	features := func(p int32) []float64 {
		return inputs(cfg, encoders, scale, func(i int) string { return values[p][i] })
	}
	data := dpml.Dataset{}
	for _, p := range people {
		data.Rows = append(data.Rows, features(p))
		data.Labels = append(data.Labels, map[bool]int{true: 1, false: 0}[seed[p]])
	}
	model, _, err := dpml.Train(ctx, data, cfg)
	if err != nil {
		return nil, run, fmt.Errorf("train the look-alike model: %w", err)
	}
	run.model = &trainedModel{name: "lookalike", encoders: encoders, scale: scale, model: model}
	bins := len(l.ScoreEdges) - 1
	counts, seeds := make([]int64, bins), make([]int64, bins)
	var segment []int
	for i, p := range people {
		score := model.Score(data.Rows[i])
		counts[l.BinOf(score)]++
		if seed[p] {
			seeds[l.BinOf(score)]++
		}
		if l.Segment != nil && score >= l.Segment.Threshold {
			segment = append(segment, rowsOf[p]...)
		}
	}
	if l.Segment != nil {
		slices.Sort(segment)
		run.segment = &release.Segment{Disclosure: l.Segment.Disclosure, Dataset: l.Population, Version: reads[l.Population].Version,
			Threshold: l.Segment.Threshold, Rows: segment}
		run.segmentTo = l.Segment.To
	}
	var groups []release.Group
	for j := range bins {
		groups = append(groups, release.Group{Key: []string{fmt.Sprintf("[%g, %g)", l.ScoreEdges[j], l.ScoreEdges[j+1])}, People: counts[j], Sums: []int64{0, seeds[j]}})
	}
	return groups, run, nil
}

// reachCurve is the number of people scoring at or above each edge, from
// the released bins alone (a withheld bin counts as 0).
func reachCurve(l *cleanroom.LookalikeJob, rel *release.Release) []release.ReachPoint {
	bins := len(l.ScoreEdges) - 1
	shown := map[string]float64{}
	for _, c := range rel.Cells {
		shown[c.Key[0]] = max(c.Values[0], 0)
	}
	var sd float64
	if len(rel.Metrics) > 0 {
		sd = rel.Metrics[0].Noise.StdDev
	}
	out := make([]release.ReachPoint, bins)
	total, n := 0.0, 0
	for j := bins - 1; j >= 0; j-- {
		if v, ok := shown[fmt.Sprintf("[%g, %g)", l.ScoreEdges[j], l.ScoreEdges[j+1])]; ok {
			total += v
			n++
		}
		out[j] = release.ReachPoint{Threshold: l.ScoreEdges[j], People: math.Round(total), Interval95: 1.959963984540054 * sd * math.Sqrt(float64(n))}
	}
	return out
}

// lookalikeReport is the look-alike model's evaluation against the seed,
// from the released bins alone, and its card: the population's features'
// importance only, since the receivers include the seed's owner.
func lookalikeReport(t *cleanroom.Template, rel *release.Release, tm *trainedModel, trainedAt time.Time) release.ModelReport {
	l := t.Lookalike
	bins := len(l.ScoreEdges) - 1
	neg, pos := make([]int64, bins), make([]int64, bins)
	for j := range bins {
		key := fmt.Sprintf("[%g, %g)", l.ScoreEdges[j], l.ScoreEdges[j+1])
		for _, c := range rel.Cells {
			if len(c.Key) == 1 && c.Key[0] == key {
				n := int64(math.Round(max(c.Values[0], 0)))
				p := min(int64(math.Round(max(c.Values[1], 0))), n)
				pos[j], neg[j] = p, n-p
			}
		}
	}
	var rec dp.Record
	if len(rel.Metrics) > 1 {
		rec = rel.Metrics[1].Noise
	}
	e := dpml.Summarize(neg, pos, rec)
	for j := range e.Bins {
		e.Bins[j].Lo, e.Bins[j].Hi = l.ScoreEdges[j], l.ScoreEdges[j+1]
	}
	card := release.ModelCard{Intercept: tm.model.Intercept, Epsilon: l.Epsilon, Lambda: l.Lambda, TrainedAt: trainedAt,
		Method:     "L2-regularised logistic regression, ε-DP by objective perturbation (Chaudhuri, Monteleoni and Sarwate 2011)",
		Evaluation: "in-sample: the population's people, positive when matched to the seed"}
	k := 0
	for _, enc := range tm.encoders {
		d, _, _ := cleanroom.SplitColumn(enc.name)
		for _, input := range enc.inputs {
			card.Inputs = append(card.Inputs, release.ModelInput{Name: input, Dataset: d, Importance: math.Abs(tm.model.Coefficients[k] * tm.scale)})
			k++
		}
	}
	return release.ModelReport{Name: "lookalike", Evaluation: e, Card: card}
}
