// Package report renders the quarterly review: one self-contained HTML
// page across the active rooms a caller may see, with utilisation,
// business value (revenue, match rates, lift and model uplift) and
// regulatory items (incidents, agreements due for renewal, privacy budgets
// near exhaustion).
//
// The page needs nothing but itself: its style is inline CSS, its charts
// inline SVG (internal/svgchart), and it has no script, font, image or
// link to load. It shows the business view's metadata and aggregates
// (cleanroom.Dashboard) and the lift and uplift figures the caller's party
// opened from its own results — never a row, an identifier, a query ID, a
// user or a key.
//
//	q := &report.Quarterly{Dashboard: d, Lifts: lifts}
//	err := report.Render(w, q)
package report

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/release"
	"github.com/cleanroom-dev/cleanroom/internal/svgchart"
)

//go:embed templates/*.html
var templates embed.FS

// Quarterly is what a quarterly review shows.
type Quarterly struct {
	// Dashboard is the business view of the quarter for the caller
	// (required).
	Dashboard *cleanroom.Dashboard
	// Lifts and Uplifts are the lift and model uplift figures of results
	// released to the viewer's party in the quarter, which it opened.
	Lifts   []Lift
	Uplifts []Uplift
	// Unopened counts results with such figures that were released to the
	// viewer's party but that it could not open; the page says so.
	Unopened int
}

// Lift is a campaign's lift from an attribution result: exposed minus
// holdout conversion rate, with the half-width of its 95 % interval.
type Lift struct {
	Room, Template, Campaign string
	ExposedRate, HoldoutRate float64
	Lift, Interval95         float64
	Relative                 float64
	Released                 time.Time
}

// Uplift is what a joint model adds over the model of the label's party
// alone: the AUC of each on the released evaluation histograms.
type Uplift struct {
	Room, Template string
	Joint          float64 // AUC of the joint model
	Baseline       float64 // AUC of the label party's model alone
	Released       time.Time
}

// Gain returns the uplift in AUC.
func (u Uplift) Gain() float64 { return u.Joint - u.Baseline }

// ResultsOf extracts the lift and model uplift figures of a released
// result of template in room: the lift of each campaign of an attribution
// result, and the uplift of a model job's joint model over its label-only
// model. Other results give neither.
func ResultsOf(room, template string, released time.Time, r *release.Release) ([]Lift, *Uplift) {
	if r == nil {
		return nil, nil
	}
	var lifts []Lift
	for _, l := range r.Lift {
		lifts = append(lifts, Lift{Room: room, Template: template, Campaign: l.Campaign, ExposedRate: l.ExposedRate, HoldoutRate: l.HoldoutRate,
			Lift: l.Lift, Interval95: l.Interval95, Relative: l.Relative, Released: released})
	}
	var joint, base *float64
	for _, m := range r.Models {
		if m.Evaluation == nil {
			continue
		}
		auc := m.Evaluation.AUC
		switch m.Name {
		case cleanroom.ModelJoint:
			joint = &auc
		case cleanroom.ModelLabelOnly:
			base = &auc
		}
	}
	if joint == nil || base == nil {
		return lifts, nil
	}
	return lifts, &Uplift{Room: room, Template: template, Joint: *joint, Baseline: *base, Released: released}
}

var page = template.Must(template.New("quarterly.html").Funcs(template.FuncMap{
	"money": func(r *cleanroom.RoomRevenue, v int64) string {
		return cleanroom.FormatAmount(v, r.Currency) + " " + r.Currency
	},
	"amount": func(v int64, currency string) string { return cleanroom.FormatAmount(v, currency) + " " + currency },
	"rate":   rate,
	"pct":    func(v float64) string { return percent(v, 1) },
	"pp": func(v float64) string {
		return strconv.FormatFloat(100*v, 'f', 2, 64) + " pp"
	},
	"signedpp": func(v float64) string {
		s := strconv.FormatFloat(100*v, 'f', 2, 64)
		if v >= 0 {
			s = "+" + s
		}
		return s + " pp"
	},
	"auc":  func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) },
	"gain": func(v float64) string { return fmt.Sprintf("%+.3f", v) },
	"date": func(t time.Time) string { return t.UTC().Format("2 January 2006") },
	"lastday": func(end time.Time) string {
		return end.UTC().Add(-time.Nanosecond).Format("2 January 2006")
	},
	"datetime": func(t time.Time) string {
		return t.UTC().Format("2 January 2006, 15:04 UTC")
	},
	"add":  func(a, b int) int { return a + b },
	"days": func(a, b time.Time) int { return int(math.Round(b.Sub(a).Hours() / 24)) },
}).ParseFS(templates, "templates/quarterly.html"))

func rate(v *float64) string {
	if v == nil {
		return "–"
	}
	return percent(*v, 1)
}

func percent(v float64, decimals int) string {
	return strconv.FormatFloat(100*v, 'f', decimals, 64) + " %"
}

// view is what the template reads: the quarter's figures over its active
// rooms, and the charts, drawn.
type view struct {
	Q        *Quarterly
	D        *cleanroom.Dashboard
	Title    string
	Scope    string
	InForce  string // how far a quarter in progress is counted
	Rooms    []cleanroom.RoomMetrics
	Inactive []string
	// Totals over the active rooms.
	Queries, Attempts, Refused, Shown, Suppressed int
	Incidents                                     cleanroom.IncidentCounts
	Revenue                                       []cleanroom.Revenue
	AverageMatchRate                              *float64
	RefusalRate, SuppressionRate                  *float64
	Expiring                                      []expiring
	Budgets                                       []budget
	Charts                                        charts
}

type expiring struct {
	Room string
	*cleanroom.AgreementStatus
}

type budget struct {
	Room string
	cleanroom.BudgetUse
	Gauge template.HTML
}

type charts struct {
	Queries, MatchRates, Lift, Uplift template.HTML
	Revenue                           []template.HTML
}

// svg marks a chart's markup as safe HTML: svgchart escapes every label.
func svg(s string) template.HTML { return template.HTML(s) }

// Render writes the quarterly review of q as one HTML page.
func Render(w io.Writer, q *Quarterly) error {
	if q == nil || q.Dashboard == nil {
		return fmt.Errorf("render quarterly review: no dashboard")
	}
	d := q.Dashboard
	v := &view{Q: q, D: d, Title: "Quarterly review " + d.Quarter.String(), Scope: Scope(d)}
	if d.AsOf.Before(d.End) {
		v.InForce = " (so far: to " + d.AsOf.UTC().Format("2 January 2006") + ")"
	}
	revenue := map[string]*cleanroom.Revenue{}
	var rates []float64
	for _, m := range d.Rooms {
		if !m.Active {
			v.Inactive = append(v.Inactive, m.Room)
			continue
		}
		v.Rooms = append(v.Rooms, m)
		v.Queries += m.Queries
		v.Attempts += m.Attempts
		v.Refused += m.Refused
		v.Shown += m.CellsShown
		v.Suppressed += m.CellsSuppressed
		v.Incidents.Total += m.Incidents.Total
		v.Incidents.Breach += m.Incidents.Breach
		v.Incidents.FalsePositive += m.Incidents.FalsePositive
		v.Incidents.Untriaged += m.Incidents.Untriaged
		if m.MatchRate != nil {
			rates = append(rates, *m.MatchRate)
		}
		if r := m.Revenue; r != nil {
			t := revenue[r.Currency]
			if t == nil {
				t = &cleanroom.Revenue{Currency: r.Currency}
				revenue[r.Currency] = t
			}
			t.Subscription += r.Subscription
			t.Runs += r.Runs
			t.Total += r.Total
			t.RunCount += r.RunCount
		}
		if a := m.Agreement; a != nil && a.ExpiresSoon {
			v.Expiring = append(v.Expiring, expiring{Room: m.Room, AgreementStatus: a})
		}
		for _, b := range m.Budgets {
			if b.Used >= cleanroom.BudgetAlert {
				g := svgchart.Gauge{Title: "Privacy budget of " + b.Dataset + " in " + m.Room, Label: b.Dataset, Value: b.Used, Alert: cleanroom.BudgetAlert}
				v.Budgets = append(v.Budgets, budget{Room: m.Room, BudgetUse: b, Gauge: svg(g.SVG())})
			}
		}
	}
	if len(rates) > 0 {
		var sum float64
		for _, r := range rates {
			sum += r
		}
		m := sum / float64(len(rates))
		v.AverageMatchRate = &m
	}
	v.RefusalRate = cleanroom.Ratio(v.Refused, v.Attempts)
	v.SuppressionRate = cleanroom.Ratio(v.Suppressed, v.Shown+v.Suppressed)
	for _, c := range slices.Sorted(maps.Keys(revenue)) {
		v.Revenue = append(v.Revenue, *revenue[c])
	}
	v.Charts = drawCharts(v, q)
	return page.Execute(w, v)
}

func drawCharts(v *view, q *Quarterly) charts {
	var c charts
	if len(v.Rooms) == 0 {
		return c
	}
	queries := svgchart.HBarChart{Title: "Query runs per room in " + v.D.Quarter.String()}
	match := svgchart.BarChart{Title: "Match rate per room, with 95 % intervals", Format: func(x float64) string { return percent(x, 0) }}
	for _, m := range v.Rooms {
		queries.Bars = append(queries.Bars, svgchart.Bar{Label: m.Room, Value: float64(m.Queries)})
		if m.MatchRate != nil {
			match.Bars = append(match.Bars, svgchart.Bar{Label: m.Room, Value: *m.MatchRate, Err: m.MatchRateInterval95,
				Text: percent(*m.MatchRate, 1)})
		}
	}
	c.Queries = svg(queries.SVG())
	if len(match.Bars) > 0 {
		c.MatchRates = svg(match.SVG())
	}
	for _, r := range v.Revenue {
		chart := svgchart.HBarChart{Title: "Revenue per room in " + r.Currency}
		for _, m := range v.Rooms {
			if m.Revenue != nil && m.Revenue.Currency == r.Currency {
				chart.Bars = append(chart.Bars, svgchart.Bar{Label: m.Room, Value: float64(m.Revenue.Total),
					Text: cleanroom.FormatAmount(m.Revenue.Total, r.Currency) + " " + r.Currency})
			}
		}
		c.Revenue = append(c.Revenue, svg(chart.SVG()))
	}
	if len(q.Lifts) > 0 {
		lift := svgchart.BarChart{Title: "Lift per campaign (exposed minus holdout conversion rate), with 95 % intervals",
			Format: func(x float64) string { return strconv.FormatFloat(100*x, 'f', 1, 64) + " pp" }}
		for _, l := range q.Lifts {
			lift.Bars = append(lift.Bars, svgchart.Bar{Label: l.Campaign, Value: l.Lift, Err: l.Interval95})
		}
		c.Lift = svg(lift.SVG())
	}
	if len(q.Uplifts) > 0 {
		up := svgchart.HBarChart{Title: "AUC of the joint model and of the label party's model alone", Max: 1}
		for _, u := range q.Uplifts {
			up.Bars = append(up.Bars,
				svgchart.Bar{Label: u.Template + " joint", Value: u.Joint, Text: strconv.FormatFloat(u.Joint, 'f', 3, 64)},
				svgchart.Bar{Label: u.Template + " alone", Value: u.Baseline, Text: strconv.FormatFloat(u.Baseline, 'f', 3, 64)})
		}
		c.Uplift = svg(up.SVG())
	}
	return c
}

// Scope describes whose rooms a dashboard covers, for headings: "the
// platform (the admin's view of all rooms)" or "party bank".
func Scope(d *cleanroom.Dashboard) string {
	if d.Scope == "all" {
		return "the platform (the admin's view of all rooms)"
	}
	return "party " + strings.TrimSpace(d.Scope)
}
