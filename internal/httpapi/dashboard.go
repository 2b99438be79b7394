package httpapi

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
)

func (s *Server) dashboard(c *call) (int, any, error) {
	q, err := quarterParam(c)
	if err != nil {
		return 0, nil, err
	}
	d, err := s.dashboardOf(c.tx, c.p, q)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, d, nil
}

// Dashboard computes the business view of quarter q for p: every room for
// the platform admin, the rooms it is a member of for a party's user
// (cleanroom.SeeRoomMetrics). It shows only metadata and aggregates. For a
// quarter in progress it counts up to now.
func (s *Server) Dashboard(ctx context.Context, p *cleanroom.Principal, q cleanroom.Quarter) (*cleanroom.Dashboard, error) {
	var d *cleanroom.Dashboard
	err := s.db.View(ctx, func(tx *sqlite.Tx) (err error) {
		d, err = s.dashboardOf(tx, p, q)
		return err
	})
	return d, err
}

func (s *Server) dashboardOf(tx *sqlite.Tx, p *cleanroom.Principal, q cleanroom.Quarter) (*cleanroom.Dashboard, error) {
	now := tx.Now()
	d := &cleanroom.Dashboard{Quarter: q, Start: q.Start(), End: q.End(), AsOf: now, Scope: "all", Revenue: []cleanroom.Revenue{},
		Rooms: []cleanroom.RoomMetrics{}}
	if p.Kind == cleanroom.User {
		d.Scope = p.Party
	}
	end := upTo(q, now)
	rooms, err := visibleRooms(tx, p)
	if err != nil {
		return nil, err
	}
	b, err := s.billingOf(tx, rooms, q)
	if err != nil {
		return nil, err
	}
	var rates []float64
	revenue := map[string]*cleanroom.Revenue{}
	for _, r := range rooms {
		m := cleanroom.RoomMetrics{Room: r.Name, Parties: r.Parties, Templates: []cleanroom.TemplateUse{}}
		if m.Parties == nil {
			m.Parties = []string{}
		}
		all, err := agreements(tx, r.Name)
		if err != nil {
			return nil, err
		}
		m.Active, m.Agreement = agreementStatus(all, q, end)
		if end.After(q.Start()) {
			a, err := tx.RoomActivity(r.Name, q.Start(), q.End())
			if err != nil {
				return nil, err
			}
			for name, n := range a.Runs {
				m.Queries += n
				m.Templates = append(m.Templates, cleanroom.TemplateUse{Template: name, Runs: n})
			}
			m.Attempts, m.Refused = a.Attempts, a.Refused
			m.Repeats = max(0, a.Attempts-a.Refused-m.Queries)
			m.CellsShown, m.CellsSuppressed = a.Cells, a.Suppressed
			m.Incidents = a.Incidents
		}
		for _, ch := range b.charges[r.Name] {
			i := slices.IndexFunc(m.Templates, func(t cleanroom.TemplateUse) bool { return t.Template == ch.Template })
			if i < 0 {
				// A charge is recorded with its run, at the same time; this
				// is only reached if the server's clock went back.
				m.Templates = append(m.Templates, cleanroom.TemplateUse{Template: ch.Template})
				i = len(m.Templates) - 1
			}
			m.Templates[i].Charged += ch.Amount
		}
		slices.SortFunc(m.Templates, cmpTemplateUse)
		m.RefusalRate = cleanroom.Ratio(m.Refused, m.Attempts)
		m.SuppressionRate = cleanroom.Ratio(m.CellsSuppressed, m.CellsShown+m.CellsSuppressed)
		if rev := b.revenue[r.Name]; rev != nil {
			m.Revenue = rev
			t := revenue[rev.Currency]
			if t == nil {
				t = &cleanroom.Revenue{Currency: rev.Currency}
				revenue[rev.Currency] = t
			}
			t.Subscription += rev.Subscription
			t.Runs += rev.Runs
			t.Total += rev.Total
			t.RunCount += rev.RunCount
		}
		if m.MatchRate, m.MatchRateInterval95, err = matchRate(tx, p, r.Name, end); err != nil {
			return nil, err
		}
		if cleanroom.SeeBudgets(p, r.Name) {
			if m.Budgets, err = budgetUses(tx, r.Name); err != nil {
				return nil, err
			}
		}
		if m.Active {
			d.ActiveRooms++
			if m.MatchRate != nil {
				rates = append(rates, *m.MatchRate)
			}
		}
		d.Queries += m.Queries
		d.Attempts += m.Attempts
		d.Refused += m.Refused
		d.CellsShown += m.CellsShown
		d.CellsSuppressed += m.CellsSuppressed
		d.Incidents.Total += m.Incidents.Total
		d.Incidents.Breach += m.Incidents.Breach
		d.Incidents.FalsePositive += m.Incidents.FalsePositive
		d.Incidents.Untriaged += m.Incidents.Untriaged
		d.Rooms = append(d.Rooms, m)
	}
	if len(rates) > 0 {
		d.AverageMatchRate = new(float64)
		*d.AverageMatchRate = mean(rates)
	}
	d.RefusalRate = cleanroom.Ratio(d.Refused, d.Attempts)
	d.SuppressionRate = cleanroom.Ratio(d.CellsSuppressed, d.CellsShown+d.CellsSuppressed)
	for _, cur := range slices.Sorted(maps.Keys(revenue)) {
		d.Revenue = append(d.Revenue, *revenue[cur])
	}
	return d, nil
}

// cmpTemplateUse orders templates by runs, most first, then by name.
func cmpTemplateUse(a, b cleanroom.TemplateUse) int {
	if c := cmp.Compare(b.Runs, a.Runs); c != 0 {
		return c
	}
	return strings.Compare(a.Template, b.Template)
}

func mean(xs []float64) float64 {
	var sum float64
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

// agreementStatus says whether one of a room's agreements was in force at
// some time of quarter q (up to end), and describes the latest that was.
func agreementStatus(all []*agreement, q cleanroom.Quarter, end time.Time) (bool, *cleanroom.AgreementStatus) {
	per := agreementSpans(all)
	window := span{q.Start(), end}
	for i := len(all) - 1; i >= 0; i-- {
		if _, ok := firstIn(per[i], window); !ok {
			continue
		}
		a := all[i]
		st := &cleanroom.AgreementStatus{Version: a.doc.Version, State: a.state, StartsAt: a.doc.StartsAt, ExpiresAt: a.doc.ExpiresAt}
		// A renewal is due when the agreement's time in force ends at its
		// expiry, within the review's window, and no later agreement
		// carries on after it.
		exp := a.doc.ExpiresAt
		ends := per[i][len(per[i])-1].to.Equal(exp)
		renewed := false
		for _, later := range per[i+1:] {
			for _, sp := range later {
				renewed = renewed || sp.to.After(exp)
			}
		}
		st.ExpiresSoon = ends && !renewed && !exp.Before(q.Start()) && exp.Before(q.End().Add(cleanroom.RenewalWindow))
		return true, st
	}
	return false, nil
}

// matchRate is the mean match rate of the datasets in the part of a room's
// latest match report, finished before end, that p may see
// (cleanroom.SeeMatchPart), with the mean half-width of their 95 %
// intervals; nil when there is none.
func matchRate(tx *sqlite.Tx, p *cleanroom.Principal, room string, end time.Time) (*float64, float64, error) {
	raw, err := tx.LatestMatchReport(room, end)
	if err != nil || raw == nil {
		return nil, 0, err
	}
	var rep MatchReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		return nil, 0, fmt.Errorf("stored match report of room %s: %w", room, err)
	}
	seen := map[string]bool{}
	var rates, intervals []float64
	for _, party := range slices.Sorted(maps.Keys(rep.Parties)) {
		if !cleanroom.SeeMatchPart(p, room, party) {
			continue
		}
		for _, pair := range rep.Parties[party].Pairs {
			for _, ds := range slices.Sorted(maps.Keys(pair.MatchRate)) {
				key := pair.Datasets[0] + "\x00" + pair.Datasets[1] + "\x00" + ds
				if seen[key] {
					continue
				}
				seen[key] = true
				r := pair.MatchRate[ds]
				rates = append(rates, r)
				iv := 0.0
				if pair.Matched > 0 {
					iv = r * pair.Interval95 / float64(pair.Matched)
				}
				intervals = append(intervals, iv)
			}
		}
	}
	if len(rates) == 0 {
		return nil, 0, nil
	}
	m := mean(rates)
	return &m, mean(intervals), nil
}

// budgetUses returns the privacy budgets of a room's datasets that a
// release has opened.
func budgetUses(tx *sqlite.Tx, room string) ([]cleanroom.BudgetUse, error) {
	ds, err := tx.Datasets(room)
	if err != nil {
		return nil, err
	}
	out := []cleanroom.BudgetUse{}
	for _, d := range ds {
		us, err := tx.BudgetUsage(budgetID(room, d.Name))
		if err != nil {
			return nil, err
		}
		for _, u := range us {
			if u.Scope != "dataset" {
				continue
			}
			b := cleanroom.BudgetUse{Dataset: d.Name, Party: d.Party, RhoCap: u.Cap.Rho, RhoUsed: u.Spent.Rho + u.Reserved.Rho,
				EpsilonCap: u.Cap.Epsilon, EpsilonUsed: u.Spent.Epsilon + u.Reserved.Epsilon}
			if b.RhoCap > 0 {
				b.Used = b.RhoUsed / b.RhoCap
			}
			if b.EpsilonCap > 0 {
				b.Used = max(b.Used, b.EpsilonUsed/b.EpsilonCap)
			}
			out = append(out, b)
		}
	}
	return out, nil
}
