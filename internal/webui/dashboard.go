package webui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/release"
	"github.com/cleanroom-dev/cleanroom/internal/report"
	"github.com/cleanroom-dev/cleanroom/internal/svgchart"
)

func init() {
	funcs["rate"] = func(p *float64) string {
		if p == nil {
			return "—"
		}
		return fmt.Sprintf("%.1f %%", 100**p)
	}
	funcs["money"] = func(minor int64) string { return fmt.Sprintf("%d.%02d", minor/100, minor%100) }
	funcs["add"] = func(a, b int) int { return a + b }
}

// dashboardPage is the business view of a quarter.
type dashboardPage struct {
	D                        *cleanroom.Dashboard
	Prev, Next               string
	QueriesChart, MatchChart template.HTML
	Gauges                   []template.HTML
}

// quarterParam reads ?quarter=, defaulting to the current one.
func (u *UI) quarterParam(r *http.Request) (cleanroom.Quarter, error) {
	if v := r.URL.Query().Get("quarter"); v != "" {
		return cleanroom.ParseQuarter(v)
	}
	return cleanroom.QuarterOf(u.cfg.Now()), nil
}

// dashboard shows the measures partnerships are run by, for the rooms the
// user's party is a member of (all rooms for the platform admin's view,
// which the API gives only to the admin).
func (u *UI) dashboard(w http.ResponseWriter, r *http.Request, s *session, c *client.Client) {
	q, err := u.quarterParam(r)
	if err != nil {
		u.fail(w, r, s, http.StatusBadRequest, err)
		return
	}
	d, err := c.Dashboard(r.Context(), q)
	if err != nil {
		u.fail(w, r, s, 0, err)
		return
	}
	p := dashboardPage{D: d, Prev: shiftQuarter(q, -1).String(), Next: shiftQuarter(q, 1).String()}
	var runs, match []svgchart.Bar
	for _, m := range d.Rooms {
		runs = append(runs, svgchart.Bar{Label: m.Room, Value: float64(m.Queries)})
		if m.MatchRate != nil {
			match = append(match, svgchart.Bar{Label: m.Room, Value: 100 * *m.MatchRate, Err: 100 * m.MatchRateInterval95})
		}
		for _, b := range m.Budgets {
			g := svgchart.Gauge{Title: fmt.Sprintf("Privacy budget of %s in %s: %.0f %% used", b.Dataset, m.Room, 100*b.Used),
				Label: m.Room + " · " + b.Dataset, Value: b.Used, Alert: cleanroom.BudgetAlert}
			p.Gauges = append(p.Gauges, template.HTML(g.SVG()))
		}
	}
	if len(runs) > 0 {
		p.QueriesChart = template.HTML((&svgchart.HBarChart{Title: "Query runs per room in " + q.String(), Bars: runs}).SVG())
	}
	if len(match) > 0 {
		p.MatchChart = template.HTML((&svgchart.BarChart{Title: "Match rate per room (%), with 95 % intervals", Bars: match}).SVG())
	}
	u.render(w, s, http.StatusOK, "dashboard", "Dashboard "+q.String(), p)
}

func shiftQuarter(q cleanroom.Quarter, by int) cleanroom.Quarter {
	n := q.Year*4 + q.Q - 1 + by
	return cleanroom.Quarter{Year: n / 4, Q: n%4 + 1}
}

// quarterly shows the quarterly review, the page `cleanroom report
// quarterly` writes, with the lift and model uplift of the results
// released to the user's party in the quarter, opened by its agent.
func (u *UI) quarterly(w http.ResponseWriter, r *http.Request, s *session, c *client.Client) {
	ctx := r.Context()
	q, err := u.quarterParam(r)
	if err != nil {
		u.fail(w, r, s, http.StatusBadRequest, err)
		return
	}
	d, err := c.Dashboard(ctx, q)
	if err != nil {
		u.fail(w, r, s, 0, err)
		return
	}
	rq := &report.Quarterly{Dashboard: d}
	who, err := c.Whoami(ctx)
	if err != nil {
		u.fail(w, r, s, 0, err)
		return
	}
	for _, m := range d.Rooms {
		if !m.Active || !slices.Contains(who.Rooms[m.Room], cleanroom.RoleReceiver) {
			continue
		}
		tl, err := c.ListTemplates(ctx, m.Room)
		if err != nil {
			u.fail(w, r, s, 0, err)
			return
		}
		kinds := map[string]bool{}
		for _, t := range tl.Templates {
			if t.Template.Attribution != nil || t.Template.Model != nil {
				kinds[fmt.Sprintf("%s v%d", t.Template.Name, t.Template.Version)] = true
			}
		}
		ql, err := c.ListQueries(ctx, m.Room)
		if err != nil {
			u.fail(w, r, s, 0, err)
			return
		}
		for _, sum := range ql.Queries {
			if sum.State != cleanroom.QueryReleased || !kinds[fmt.Sprintf("%s v%d", sum.Template, sum.Version)] ||
				!slices.Contains(sum.Receivers, who.Party) || sum.CreatedAt.Before(d.Start) || !sum.CreatedAt.Before(d.End) {
				continue
			}
			raw, err := c.OpenedResult(ctx, m.Room, sum.ID)
			var rel release.Release
			if err != nil || json.Unmarshal(raw, &rel) != nil {
				rq.Unopened++
				continue
			}
			lifts, up := report.ResultsOf(m.Room, sum.Template, sum.CreatedAt, &rel)
			rq.Lifts = append(rq.Lifts, lifts...)
			if up != nil {
				rq.Uplifts = append(rq.Uplifts, *up)
			}
		}
	}
	var b bytes.Buffer
	if err := report.Render(&b, rq); err != nil {
		u.fail(w, r, s, http.StatusInternalServerError, err)
		return
	}
	// The review is one self-contained page with its styles inline.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b.Bytes())
}

// ledgerCSV downloads a quarter's billing ledger over the rooms the user
// may see, as `cleanroom billing export` writes it, for the finance
// system.
func (u *UI) ledgerCSV(w http.ResponseWriter, r *http.Request, s *session, c *client.Client) {
	q, err := u.quarterParam(r)
	if err != nil {
		u.fail(w, r, s, http.StatusBadRequest, err)
		return
	}
	l, err := c.Ledger(r.Context(), q)
	if err != nil {
		u.fail(w, r, s, 0, err)
		return
	}
	all := slices.Concat(l.Subscriptions, l.Entries)
	cleanroom.SortLedger(all)
	var b bytes.Buffer
	if err := cleanroom.WriteLedgerCSV(&b, all); err != nil {
		u.fail(w, r, s, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="ledger-%s.csv"`, q))
	w.Write(b.Bytes())
}
