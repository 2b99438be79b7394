package release

import (
	"fmt"

	"github.com/cleanroom-dev/cleanroom/internal/engine"
)

// PlanMetrics are the metrics of a compiled plan, as a release describes
// them.
func PlanMetrics(plan *engine.Plan) []Metric {
	var out []Metric
	for _, m := range plan.Metrics {
		out = append(out, Metric{Name: m.Name, Kind: string(m.Kind), Lo: m.Lo, Hi: m.Hi, Decimals: m.Column.Scale})
	}
	return out
}

// PlanGroups lists every group of the plan's declared domains, with the
// engine's aggregates where it found people and zero elsewhere: a group
// with no one is suppressed like any small one.
func PlanGroups(plan *engine.Plan, res *engine.Result) []Group {
	found := map[string]engine.Group{}
	for _, g := range res.Groups {
		found[fmt.Sprint(g.Key)] = g
	}
	var out []Group
	var walk func(i int, key []int)
	walk = func(i int, key []int) {
		if i == len(plan.Keys) {
			labels := make([]string, len(key))
			for j, k := range key {
				labels[j] = plan.Keys[j].Labels[k]
			}
			g := Group{Key: labels, Sums: make([]int64, len(plan.Metrics)), Counts: make([]int64, len(plan.Metrics))}
			if e, ok := found[fmt.Sprint(key)]; ok {
				g.People = e.People
				for m, a := range e.Metrics {
					g.Sums[m], g.Counts[m] = a.Sum, a.Count
				}
			}
			out = append(out, g)
			return
		}
		for k := range plan.Keys[i].Groups() {
			walk(i+1, append(append([]int(nil), key...), k))
		}
	}
	walk(0, nil)
	return out
}
