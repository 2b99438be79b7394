package release

import (
	"math"
	"slices"
)

// Lift is one campaign's lift, computed from a released attribution (cells
// keyed [campaign, arm] with the metrics people and conversions) by
// post-processing alone: it costs nothing more and sees nothing more.
type Lift struct {
	Campaign    string  `json:"campaign"`
	ExposedRate float64 `json:"exposed_rate"`
	HoldoutRate float64 `json:"holdout_rate"`
	// Lift is ExposedRate − HoldoutRate, the absolute lift in conversion
	// rate; Relative is Lift / HoldoutRate (0 when HoldoutRate is 0).
	Lift     float64 `json:"lift"`
	Relative float64 `json:"relative"`
	// Interval95 is the half-width of the 95 % confidence interval of
	// Lift. Each rate's variance is the binomial sampling variance plus
	// the DP noise's, by the delta method for (c + η_c)/(n + η_n):
	// p(1−p)/n + (σ_c² + p²·σ_n²)/n².
	Interval95 float64 `json:"interval_95"`
}

// Arm names as the cells carry them.
const (
	armExposed = "exposed"
	armHoldout = "holdout"
)

// LiftOf computes the lift of every campaign whose two arms were both
// shown with a positive number of people.
func LiftOf(r *Release) []Lift {
	if r == nil || len(r.Metrics) != 2 {
		return nil
	}
	sn, sc := r.Metrics[0].Noise.StdDev, r.Metrics[1].Noise.StdDev
	type arm struct{ n, c float64 }
	arms := map[string]map[string]arm{}
	var campaigns []string
	for _, cell := range r.Cells {
		if len(cell.Key) != 2 || len(cell.Values) != 2 {
			return nil
		}
		c := cell.Key[0]
		if arms[c] == nil {
			arms[c] = map[string]arm{}
			campaigns = append(campaigns, c)
		}
		arms[c][cell.Key[1]] = arm{n: cell.Values[0], c: cell.Values[1]}
	}
	slices.Sort(campaigns)
	var out []Lift
	for _, c := range campaigns {
		e, okE := arms[c][armExposed]
		h, okH := arms[c][armHoldout]
		if !okE || !okH || e.n <= 0 || h.n <= 0 {
			continue
		}
		rate := func(a arm) (p, variance float64) {
			p = math.Min(1, math.Max(0, a.c/a.n))
			return p, p*(1-p)/a.n + (sc*sc+p*p*sn*sn)/(a.n*a.n)
		}
		pe, ve := rate(e)
		ph, vh := rate(h)
		l := Lift{Campaign: c, ExposedRate: pe, HoldoutRate: ph, Lift: pe - ph, Interval95: 1.959963984540054 * math.Sqrt(ve+vh)}
		if ph > 0 {
			l.Relative = l.Lift / ph
		}
		out = append(out, l)
	}
	return out
}
