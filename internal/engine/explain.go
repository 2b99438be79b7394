package engine

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cleanroom-dev/cleanroom"
)

// String renders the plan as text for `cleanroom query explain`: the
// joined datasets and their filters with the bound values, the groups, the
// metrics with their clamp bounds, the contribution bounds and the output
// controls. It shows no data.
func (p *Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "template %s, version %d\n", p.Template, p.Version)

	b.WriteString("\ndatasets, inner-joined on the room person:\n")
	for _, d := range p.Datasets {
		fmt.Fprintf(&b, "  %s\n", d.Name)
		for _, f := range d.Filters {
			fmt.Fprintf(&b, "    where %s", f.String())
			if v, ok := p.Params[f.Param]; ok {
				fmt.Fprintf(&b, " ($%s = %s)", f.Param, v.Text())
			}
			b.WriteString("\n")
		}
	}

	groups := 1
	for i := range p.Keys {
		groups *= p.Keys[i].Groups()
	}
	fmt.Fprintf(&b, "\ngroups: %d\n", groups)
	for i := range p.Keys {
		k := &p.Keys[i]
		fmt.Fprintf(&b, "  %s: %s\n", k.Column.Ref(), strings.Join(k.Labels, " | "))
		if k.Edges != nil {
			fmt.Fprintf(&b, "    scaled edges: %s\n", joinInts(k.Edges))
		}
	}

	b.WriteString("\nmetrics:\n")
	for _, m := range p.Metrics {
		if m.Kind == cleanroom.MetricCount {
			fmt.Fprintf(&b, "  %s: count of distinct people\n", m.Name)
			continue
		}
		fmt.Fprintf(&b, "  %s: %s of %s, each row and each person's total clamped to [%s, %s] (scale %d: [%d, %d])\n",
			m.Name, m.Kind, m.Column.Ref(), formatScaled(m.Lo, m.Column.Scale), formatScaled(m.Hi, m.Column.Scale),
			m.Column.Scale, m.Lo, m.Hi)
	}

	b.WriteString("\ncontribution bounding:\n")
	unit := "groups"
	if p.MaxGroupsPerPerson == 1 {
		unit = "group"
	}
	fmt.Fprintf(&b, "  a person counts once per group, in at most %d %s (L0), chosen by a seeded hash of person and group\n",
		p.MaxGroupsPerPerson, unit)

	c := p.Controls
	b.WriteString("\noutput controls:\n")
	fmt.Fprintf(&b, "  min group size: %d\n", c.MinGroupSize)
	if c.Rho > 0 {
		fmt.Fprintf(&b, "  rho: %s (discrete Gaussian)\n", formatFloat(c.Rho))
	}
	if c.Epsilon > 0 {
		fmt.Fprintf(&b, "  epsilon: %s (discrete Laplace)\n", formatFloat(c.Epsilon))
	}
	if c.Coarsen > 0 {
		fmt.Fprintf(&b, "  coarsen: %s\n", formatFloat(c.Coarsen))
	}
	if len(c.ReviewBy) > 0 {
		fmt.Fprintf(&b, "  review by: %s\n", strings.Join(c.ReviewBy, ", "))
	}
	fmt.Fprintf(&b, "  receivers: %s\n", strings.Join(c.Receivers, ", "))
	return b.String()
}

// String renders the predicate with its stored values, as explain shows
// it.
func (f Predicate) String() string {
	var s string
	switch f.Op {
	case OpNone:
		s = f.Column.Name + " matches nothing"
	case OpNotNull:
		s = f.Column.Name + " is not missing"
	case OpIn:
		vals := make([]string, len(f.Values))
		for i, v := range f.Values {
			vals[i] = formatValue(f.Column, v)
		}
		s = f.Column.Name + " in (" + strings.Join(vals, ", ") + ")"
	default:
		s = f.Column.Name + " " + string(f.Op) + " " + formatValue(f.Column, f.Values[0])
	}
	return s
}

func joinInts(xs []int64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.FormatInt(x, 10)
	}
	return strings.Join(s, ", ")
}
