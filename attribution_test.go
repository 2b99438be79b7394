package cleanroom

import (
	"strings"
	"testing"
)

func liftTemplate() *Template {
	return &Template{Name: "lift", Version: 1, Question: "Did it lift?", Join: []string{"exposures", "conversions", "customers"},
		Attribution: &Attribution{Campaign: "exposures.campaign", ExposedAt: "exposures.at", Holdout: "exposures.holdout",
			Product: "conversions.product", ConvertedAt: "conversions.at", Population: "customers",
			Campaigns:    map[string]AttributionCampaign{"c1": {Product: "mortgage", From: "2024-01-08", To: "2024-02-05"}, "c2": {Product: "deposit"}},
			LookbackDays: 7, MaxConversionsPerPerson: 1},
		Controls: Controls{MinGroupSize: 100, Rho: 0.2, MaxGroupsPerPerson: 2, Receivers: []string{"bank"}}}
}

func TestAttributionValidate(t *testing.T) {
	if err := liftTemplate().Validate(); err != nil {
		t.Fatalf("valid: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(t *Template)
		want string
	}{
		{"metrics", func(t *Template) { t.Metrics = []Metric{{Name: "n", Kind: MetricCount}} }, "no parameters, where, group_by or metrics"},
		{"column form", func(t *Template) { t.Attribution.Campaign = "campaign" }, "campaign: \"campaign\" is not of the form"},
		{"mixed datasets", func(t *Template) { t.Attribution.Holdout = "conversions.holdout" }, "not a column of the exposures dataset"},
		{"join", func(t *Template) { t.Join = []string{"exposures", "conversions", "subscribers"} }, "join must list exactly"},
		{"same datasets", func(t *Template) { t.Attribution.Population = "exposures" }, "three different datasets"},
		{"no campaigns", func(t *Template) { t.Attribution.Campaigns = nil }, "campaigns: declare"},
		{"no product", func(t *Template) { t.Attribution.Campaigns["c2"] = AttributionCampaign{} }, "is not a campaign and a product"},
		{"half flight", func(t *Template) {
			t.Attribution.Campaigns["c2"] = AttributionCampaign{Product: "x", From: "2024-01-01"}
		}, "needs from and to"},
		{"backwards flight", func(t *Template) {
			t.Attribution.Campaigns["c2"] = AttributionCampaign{Product: "x", From: "2024-02-01", To: "2024-01-01"}
		}, "ends (2024-01-01) before it starts"},
		{"lookback", func(t *Template) { t.Attribution.LookbackDays = 0 }, "lookback_days"},
		{"cap", func(t *Template) { t.Attribution.MaxConversionsPerPerson = 0 }, "max_conversions_per_person"},
	} {
		tp := liftTemplate()
		c.edit(tp)
		if err := tp.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate = %v, want %q", c.name, err, c.want)
		}
	}
}

func TestAttributionCheck(t *testing.T) {
	id := []IdentifierColumn{{Column: "phone", Class: ClassPhone, Priority: 1}}
	schemas := map[string]*Schema{
		"exposures": {Identifiers: id, Attributes: []AttributeColumn{{Column: "campaign", Type: TypeString, Policy: PolicyFilter},
			{Column: "at", Type: TypeDate, Policy: PolicyFilter}, {Column: "holdout", Type: TypeBool, Policy: PolicyFilter}}},
		"conversions": {Identifiers: id, Attributes: []AttributeColumn{{Column: "product", Type: TypeString, Policy: PolicyFilter},
			{Column: "at", Type: TypeDate, Policy: PolicyFilter}}},
		"customers": {Identifiers: id},
	}
	owners := map[string]string{"exposures": "operator", "conversions": "bank", "customers": "bank"}
	tp := liftTemplate()
	if err := CheckTemplate(tp, schemas, owners); err != nil {
		t.Fatalf("CheckTemplate: %v", err)
	}
	if r := tp.Readers(owners); strings.Join(r, ",") != "bank,operator" {
		t.Errorf("readers %v, want bank and operator: both approve", r)
	}
	schemas["exposures"].Attributes[1].Type = TypeString
	if err := CheckTemplate(tp, schemas, owners); err == nil || !strings.Contains(err.Error(), "exposed_at: column \"exposures.at\" is of type string, want date") {
		t.Errorf("wrong type: %v", err)
	}
	schemas["exposures"].Attributes[1] = AttributeColumn{Column: "at", Type: TypeDate, Policy: PolicyHidden}
	if err := CheckTemplate(tp, schemas, owners); err == nil || !strings.Contains(err.Error(), "hidden") {
		t.Errorf("hidden column: %v", err)
	}
	schemas["exposures"].Attributes[1].Policy = PolicyFilter
	tp.Controls.MaxGroupsPerPerson = 3
	if err := CheckTemplate(tp, schemas, owners); err == nil || !strings.Contains(err.Error(), "declares only 2 campaigns") {
		t.Errorf("L0 above the campaigns: %v", err)
	}
}
