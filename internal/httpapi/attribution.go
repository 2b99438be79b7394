package httpapi

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/match"
	"github.com/cleanroom-dev/cleanroom/internal/release"
	"github.com/cleanroom-dev/cleanroom/internal/upload"
)

// attributionMetrics are the metrics of an attribution release: people per
// (campaign, arm), and their conversions, capped per person.
func attributionMetrics(a *cleanroom.Attribution) []release.Metric {
	return []release.Metric{
		{Name: cleanroom.AttributionMetrics[0], Kind: release.Count},
		{Name: cleanroom.AttributionMetrics[1], Kind: release.Sum, Lo: 0, Hi: int64(a.MaxConversionsPerPerson)},
	}
}

// describeAttribution is an attribution run's plan, as explain shows it.
func describeAttribution(t *cleanroom.Template) string {
	a := t.Attribution
	var cs []string
	for _, c := range a.CampaignNames() {
		d := c + " → " + a.Campaigns[c].Product
		if a.Campaigns[c].HasFlight() {
			d += " (flight " + a.Campaigns[c].From + " to " + a.Campaigns[c].To + ")"
		}
		cs = append(cs, d)
	}
	return fmt.Sprintf("attribution over the people of %s: exposures %s (first exposure %s, holdout %s), conversions %s at %s "+
		"within the flight and %d days after it (or of the first exposure), at most %d per person, at most %d campaigns per person; campaigns %s; "+
		"released per campaign and arm (exposed, holdout): people, conversions",
		a.Population, a.Campaign, a.ExposedAt, a.Holdout, a.Product, a.ConvertedAt, a.LookbackDays, a.MaxConversionsPerPerson,
		t.Controls.MaxGroupsPerPerson, strings.Join(cs, ", "))
}

// attribute computes an attribution's exact, contribution-bounded
// aggregates per (campaign, arm) from the room people of the newest match.
func (s *Server) attribute(ctx context.Context, room string, t *cleanroom.Template, reads map[string]match.AssignedDataset) ([]release.Group, error) {
	a := t.Attribution
	type exposure struct {
		day     int64
		holdout bool
	}
	exposed := map[int32]map[string]exposure{} // person → campaign → first exposure
	_, campaignCol, _ := cleanroom.SplitColumn(a.Campaign)
	_, exposedCol, _ := cleanroom.SplitColumn(a.ExposedAt)
	_, holdoutCol, _ := cleanroom.SplitColumn(a.Holdout)
	err := s.scanRows(ctx, room, a.ExposuresDataset(), reads, []string{campaignCol, exposedCol, holdoutCol}, func(p int32, v []string) error {
		if _, ok := a.Campaigns[v[0]]; !ok || v[1] == "" || v[2] == "" {
			return nil
		}
		day, err := dayOf(v[1])
		if err != nil {
			return err
		}
		e := exposure{day: day, holdout: v[2] == "true" || v[2] == "1"}
		if exposed[p] == nil {
			exposed[p] = map[string]exposure{}
		}
		if old, ok := exposed[p][v[0]]; !ok || e.day < old.day || (e.day == old.day && e.holdout && !old.holdout) {
			// The first exposure decides the arm; on a tie, a held-out
			// (ghost) one, so no person counts as exposed on a doubt.
			exposed[p][v[0]] = e
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	type conversion struct {
		product string
		day     int64
	}
	converted := map[int32][]conversion{}
	_, productCol, _ := cleanroom.SplitColumn(a.Product)
	_, convertedCol, _ := cleanroom.SplitColumn(a.ConvertedAt)
	err = s.scanRows(ctx, room, a.ConversionsDataset(), reads, []string{productCol, convertedCol}, func(p int32, v []string) error {
		if _, ok := exposed[p]; !ok || v[1] == "" {
			return nil
		}
		day, err := dayOf(v[1])
		if err != nil {
			return err
		}
		converted[p] = append(converted[p], conversion{v[0], day})
		return nil
	})
	if err != nil {
		return nil, err
	}
	population := map[int32]bool{}
	for _, p := range reads[a.Population].Rows {
		if p >= 0 {
			population[p] = true
		}
	}

	type key struct{ campaign, arm string }
	people, conversions := map[key]int64{}, map[key]int64{}
	l0 := int(max(t.Controls.MaxGroupsPerPerson, 1))
	for p, cs := range exposed {
		if !population[p] {
			continue
		}
		names := make([]string, 0, len(cs))
		for c := range cs {
			names = append(names, c)
		}
		// Contribution bound: the person's earliest l0 campaigns only.
		slices.SortFunc(names, func(x, y string) int {
			if d := cs[x].day - cs[y].day; d != 0 {
				return int(d)
			}
			return strings.Compare(x, y)
		})
		for _, c := range names[:min(len(names), l0)] {
			e := cs[c]
			k := key{c, cleanroom.ArmExposed}
			if e.holdout {
				k.arm = cleanroom.ArmHoldout
			}
			camp := a.Campaigns[c]
			from, to := e.day, e.day
			if camp.HasFlight() {
				from, to, _ = camp.Flight() // validated with the template
			}
			n := int64(0)
			for _, cv := range converted[p] {
				if cv.product == camp.Product && cv.day >= from && cv.day <= to+int64(a.LookbackDays) {
					n++
				}
			}
			people[k]++
			conversions[k] += min(n, int64(a.MaxConversionsPerPerson))
		}
	}
	var out []release.Group
	for _, c := range a.CampaignNames() {
		for _, arm := range []string{cleanroom.ArmExposed, cleanroom.ArmHoldout} {
			k := key{c, arm}
			out = append(out, release.Group{Key: []string{c, arm}, People: people[k], Sums: []int64{0, conversions[k]}})
		}
	}
	return out, nil
}

// scanRows calls fn with each row of a dataset's version that belongs to a
// room person, and the named attributes' values.
func (s *Server) scanRows(ctx context.Context, room, dataset string, reads map[string]match.AssignedDataset, columns []string, fn func(int32, []string) error) error {
	ad, ok := reads[dataset]
	if !ok {
		return fmt.Errorf("dataset %s was not in the newest match run", dataset)
	}
	rc, err := s.vault.OpenVersion(ctx, vaultID(room, dataset), ad.Version)
	if err != nil {
		return err
	}
	defer rc.Close()
	rd, err := upload.NewReader(rc)
	if err != nil {
		return err
	}
	idx := make([]int, len(columns))
	for i, c := range columns {
		idx[i] = slices.IndexFunc(rd.Header.Attributes, func(f upload.AttributeField) bool { return f.Column == c })
		if idx[i] < 0 {
			return fmt.Errorf("dataset %s version %d has no column %s", dataset, ad.Version, c)
		}
	}
	values := make([]string, len(columns))
	for row := 0; ; row++ {
		if row%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		r, err := rd.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if row >= len(ad.Rows) || ad.Rows[row] < 0 {
			continue
		}
		for i, j := range idx {
			values[i] = r.Values[j]
		}
		if err := fn(ad.Rows[row], values); err != nil {
			return fmt.Errorf("dataset %s row %d: %w", dataset, row+1, err)
		}
	}
}

// dayOf parses a payload date, YYYY-MM-DD, to days since 1970-01-01.
func dayOf(s string) (int64, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0, fmt.Errorf("value %q is not a date", s)
	}
	return t.Unix() / 86400, nil
}
