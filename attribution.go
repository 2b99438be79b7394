package cleanroom

import (
	"fmt"
	"slices"
	"sort"
)

// Attribution makes a template an attribution-and-lift job (DESIGN.md,
// "Approved query templates"): ad exposures from one dataset and
// conversions from another, joined on the matched person, among the people
// of a population dataset (those who can convert, such as the bank's
// customers). For every campaign of the declared domain, each person of
// the population the campaign reached is in its exposed arm or, if the
// first exposure was held out (a ghost ad), in its holdout arm; the person
// converted if a conversion to the campaign's product falls within
// LookbackDays of the first exposure, counted up to
// MaxConversionsPerPerson. The release is two metrics per (campaign, arm):
// people and conversions, under the template's output controls; a person
// counts in at most Controls.MaxGroupsPerPerson campaigns (the earliest
// exposed). Lift is computed from the released numbers only.
//
// Columns are "<dataset>.<column>"; campaign, exposed_at and holdout are
// columns of one dataset, product and converted_at of another, and the
// template's join lists exactly those two and the population.
type Attribution struct {
	Campaign    string `json:"campaign"`
	ExposedAt   string `json:"exposed_at"`
	Holdout     string `json:"holdout"`
	Product     string `json:"product"`
	ConvertedAt string `json:"converted_at"`
	Population  string `json:"population"`
	// Campaigns are the declared domain, by name. Exposures to other
	// campaigns are ignored.
	Campaigns               map[string]AttributionCampaign `json:"campaigns"`
	LookbackDays            int                            `json:"lookback_days"`
	MaxConversionsPerPerson int                            `json:"max_conversions_per_person"`
}

// AttributionCampaign is one campaign: the product it promotes and,
// optionally, its flight (From and To, YYYY-MM-DD). With a flight, a
// conversion counts from From to LookbackDays after To, for both arms
// alike: an intention-to-treat window that does not depend on which of a
// person's exposures the room could link. Without, it counts from the
// person's first linked exposure to LookbackDays after it.
type AttributionCampaign struct {
	Product string `json:"product"`
	From    string `json:"from,omitempty"`
	To      string `json:"to,omitempty"`
}

// Attribution arms: the key's second part of every released cell.
const (
	ArmExposed = "exposed"
	ArmHoldout = "holdout"
)

// AttributionMetrics are the metrics of an attribution release, in order.
var AttributionMetrics = []string{"people", "conversions"}

// ExposuresDataset and ConversionsDataset name the datasets the columns
// belong to.
func (a *Attribution) ExposuresDataset() string {
	d, _, _ := SplitColumn(a.Campaign)
	return d
}

func (a *Attribution) ConversionsDataset() string {
	d, _, _ := SplitColumn(a.Product)
	return d
}

// CampaignNames returns the declared campaigns, sorted.
func (a *Attribution) CampaignNames() []string {
	out := make([]string, 0, len(a.Campaigns))
	for c := range a.Campaigns {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

func (t *Template) validateAttribution() error {
	a := t.Attribution
	fail := func(format string, args ...any) *Error {
		return Errorf(EInvalid, "attribution: "+format, args...)
	}
	if len(t.Parameters) > 0 || len(t.Where) > 0 || len(t.GroupBy) > 0 || len(t.Metrics) > 0 {
		return fail("an attribution template has no parameters, where, group_by or metrics of its own").
			WithHint("it releases people and conversions per campaign and arm")
	}
	cols := []struct{ field, ref string }{{"campaign", a.Campaign}, {"exposed_at", a.ExposedAt}, {"holdout", a.Holdout},
		{"product", a.Product}, {"converted_at", a.ConvertedAt}}
	for _, c := range cols {
		if _, _, ok := SplitColumn(c.ref); !ok {
			return fail("%s: %q is not of the form dataset.column", c.field, c.ref)
		}
	}
	exp, conv := a.ExposuresDataset(), a.ConversionsDataset()
	for _, c := range cols[:3] {
		if d, _, _ := SplitColumn(c.ref); d != exp {
			return fail("%s: %q is not a column of the exposures dataset %q", c.field, c.ref, exp)
		}
	}
	for _, c := range cols[3:] {
		if d, _, _ := SplitColumn(c.ref); d != conv {
			return fail("%s: %q is not a column of the conversions dataset %q", c.field, c.ref, conv)
		}
	}
	if err := ValidateName("dataset name", a.Population); err != nil {
		return prefixErr(err, "attribution: population: ")
	}
	want := []string{exp, conv, a.Population}
	if exp == conv || slices.Contains(want[:2], a.Population) {
		return fail("exposures (%s), conversions (%s) and population (%s) are three different datasets", exp, conv, a.Population)
	}
	got := slices.Clone(t.Join)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		return fail("join must list exactly %s", fmt.Sprint(want)).
			WithHint("join: [%s, %s, %s]", exp, conv, a.Population)
	}
	if len(a.Campaigns) == 0 || len(a.Campaigns) > MaxCategories {
		return fail("campaigns: declare 1 to %d campaigns with the product each promotes", MaxCategories)
	}
	for _, c := range a.CampaignNames() {
		p := a.Campaigns[c].Product
		if c == "" || len(c) > MaxCategoryBytes || !printable(c, false) || p == "" || len(p) > MaxCategoryBytes || !printable(p, false) {
			return fail("campaigns: %q: %q is not a campaign and a product of printable text of 1 to %d bytes", c, p, MaxCategoryBytes)
		}
		if _, _, err := a.Campaigns[c].Flight(); err != nil {
			return fail("campaigns: %q: %v", c, err)
		}
	}
	if a.LookbackDays < 1 || a.LookbackDays > 366 {
		return fail("lookback_days: %d, want 1 to 366", a.LookbackDays)
	}
	if a.MaxConversionsPerPerson < 1 || a.MaxConversionsPerPerson > 100 {
		return fail("max_conversions_per_person: %d, want 1 to 100", a.MaxConversionsPerPerson)
	}
	return nil
}

// checkAttribution checks an attribution template's columns against the
// room's schemas: each usable by policy and of the type the job needs.
func (c *checker) checkAttribution() error {
	a := c.t.Attribution
	for _, want := range []struct {
		field, ref string
		typ        ColumnType
	}{
		{"campaign", a.Campaign, TypeString}, {"exposed_at", a.ExposedAt, TypeDate}, {"holdout", a.Holdout, TypeBool},
		{"product", a.Product, TypeString}, {"converted_at", a.ConvertedAt, TypeDate},
	} {
		col, err := c.column(want.ref)
		if err != nil {
			return prefixErr(err, "attribution: %s: ", want.field)
		}
		if col.Policy == PolicyMetric {
			return Errorf(EInvalid, "attribution: %s: column %q is a metric; metrics may only be aggregated", want.field, want.ref)
		}
		if col.Type != want.typ {
			return Errorf(EInvalid, "attribution: %s: column %q is of type %s, want %s", want.field, want.ref, col.Type, want.typ)
		}
	}
	if n := int64(len(a.Campaigns)); c.t.Controls.MaxGroupsPerPerson > n {
		return Errorf(EInvalid, "controls.max_groups_per_person: %d, but the template declares only %d %s", c.t.Controls.MaxGroupsPerPerson, n, plural(n, "campaign", "campaigns")).
			WithHint("a person counts in at most one arm of each campaign")
	}
	return nil
}

// Flight returns the campaign's flight as days since 1970-01-01, or ok
// false when it declares none.
func (c AttributionCampaign) Flight() (from, to int64, err error) {
	if c.From == "" && c.To == "" {
		return 0, 0, nil
	}
	f, err1 := ParseValue(TypeDate, c.From)
	t, err2 := ParseValue(TypeDate, c.To)
	if err1 != nil || err2 != nil || c.From == "" || c.To == "" {
		return 0, 0, fmt.Errorf("a flight needs from and to, both YYYY-MM-DD")
	}
	from, to = f.Date.Unix()/86400, t.Date.Unix()/86400
	if to < from {
		return 0, 0, fmt.Errorf("the flight ends (%s) before it starts (%s)", c.To, c.From)
	}
	return from, to, nil
}

// HasFlight reports whether the campaign declares its flight.
func (c AttributionCampaign) HasFlight() bool { return c.From != "" || c.To != "" }
