package cleanroom

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

// templateSchemas are the demo's datasets with a few more columns, so that
// every policy rule has a column to break it with.
func templateSchemas(t *testing.T) (map[string]*Schema, map[string]string) {
	t.Helper()
	parse := func(js string) *Schema {
		s, err := ParseSchema([]byte(js))
		if err != nil {
			t.Fatalf("ParseSchema: %v", err)
		}
		return s
	}
	schemas := map[string]*Schema{
		"subscribers": parse(`{
  "identifiers": [{"column": "phone", "class": "phone", "priority": 1}],
  "attributes": [
    {"column": "tier", "type": "string", "policy": "dimension", "categories": ["basic", "standard", "premium"]},
    {"column": "payment_behaviour", "type": "string", "policy": "dimension", "categories": ["on_time", "late", "prepaid"]},
    {"column": "age", "type": "int", "policy": "dimension", "buckets": [18, 25, 35, 50, 65, 100]},
    {"column": "arpu", "type": "decimal", "policy": "metric", "clamp": [0, 10000], "scale": 2},
    {"column": "data_usage_gb", "type": "decimal", "policy": "metric", "clamp": [0, 500], "scale": 2},
    {"column": "signup_date", "type": "date", "policy": "filter"},
    {"column": "handset", "type": "string", "policy": "filter"},
    {"column": "region", "type": "string", "policy": "hidden"}
  ]}`),
		"customers": parse(`{
  "identifiers": [{"column": "phone", "class": "phone", "priority": 1}],
  "attributes": [
    {"column": "products", "type": "string", "policy": "hidden"},
    {"column": "balance", "type": "decimal", "policy": "metric", "clamp": [0, 1000000], "scale": 2},
    {"column": "monthly_spend", "type": "decimal", "policy": "metric", "clamp": [0, 200000], "scale": 2},
    {"column": "visits", "type": "int", "policy": "metric", "clamp": [0, 100]},
    {"column": "credit_limit", "type": "int", "policy": "filter"},
    {"column": "income", "type": "decimal", "policy": "filter", "scale": 2},
    {"column": "default_flag", "type": "bool", "policy": "filter"},
    {"column": "has_mortgage", "type": "bool", "policy": "dimension"}
  ]}`),
		"orphan": parse(`{
  "identifiers": [{"column": "email", "class": "email", "priority": 1}]}`),
		"loyalty": parse(`{
  "identifiers": [{"column": "email", "class": "email", "priority": 1}],
  "attributes": [{"column": "points", "type": "int", "policy": "filter"}]}`),
	}
	owners := map[string]string{"subscribers": "operator", "customers": "bank", "loyalty": "retailer"}
	return schemas, owners
}

// baseTemplate is valid against templateSchemas.
func baseTemplate() *Template {
	return &Template{
		Name:       "tier-by-default-flag",
		Version:    1,
		Question:   "How many subscribers, by tier, have a given bank default flag?",
		Join:       []string{"subscribers", "customers"},
		Parameters: map[string]Parameter{"flag": {Type: ParamBool}},
		Where:      []Filter{{Column: "customers.default_flag", Op: OpEq, Param: "flag"}},
		GroupBy:    []Dimension{{Column: "subscribers.tier"}},
		Metrics:    []Metric{{Name: "people", Kind: MetricCount}},
		Controls: Controls{MinGroupSize: 100, Rho: 0.05, MaxGroupsPerPerson: 1,
			ReviewBy: []string{"bank"}, Receivers: []string{"operator"}},
	}
}

func clamp(lo, hi float64) *[2]float64 { return &[2]float64{lo, hi} }

func TestCheckTemplate(t *testing.T) {
	schemas, owners := templateSchemas(t)
	where := func(fs ...Filter) func(*Template) {
		return func(tp *Template) { tp.Where = fs; tp.Parameters = nil }
	}
	param := func(name string, p Parameter, f Filter) func(*Template) {
		return func(tp *Template) {
			tp.Parameters = map[string]Parameter{name: p}
			tp.Where = []Filter{f}
		}
	}
	groupBy := func(ds ...Dimension) func(*Template) { return func(tp *Template) { tp.GroupBy = ds } }
	metrics := func(ms ...Metric) func(*Template) { return func(tp *Template) { tp.Metrics = ms } }
	controls := func(edit func(c *Controls)) func(*Template) { return func(tp *Template) { edit(&tp.Controls) } }
	people := Metric{Name: "people", Kind: MetricCount}

	cases := []struct {
		name string
		edit func(*Template)
		want string // the exact message; "" for a valid template
	}{
		// Valid templates, one per kind of use the rules allow.
		{"base", func(*Template) {}, ""},
		{"single dataset", func(tp *Template) {
			tp.Join = []string{"subscribers"}
			tp.Parameters = nil
			tp.Where = nil
		}, ""},
		{"every operator and type", where(
			Filter{Column: "subscribers.tier", Op: OpIn, Values: []string{"standard", "premium"}},
			Filter{Column: "subscribers.payment_behaviour", Op: OpNe, Values: []string{"prepaid"}},
			Filter{Column: "subscribers.age", Op: OpGe, Values: []string{"25"}},
			Filter{Column: "subscribers.signup_date", Op: OpLt, Values: []string{"2024-01-01"}},
			Filter{Column: "subscribers.handset", Op: OpEq, Values: []string{"any text"}},
			Filter{Column: "customers.credit_limit", Op: OpLe, Values: []string{"-5"}},
			Filter{Column: "customers.income", Op: OpGt, Values: []string{"1000.125"}},
			Filter{Column: "customers.default_flag", Op: OpEq, Values: []string{"false"}},
			Filter{Column: "customers.has_mortgage", Op: OpEq, Values: []string{"true"}},
		), ""},
		{"int parameter on a decimal column", param("n", Parameter{Type: ParamInt, Min: "0", Max: "10"},
			Filter{Column: "customers.income", Op: OpGe, Param: "n"}), ""},
		{"enum parameter on a string filter without categories", param("h", Parameter{Type: ParamEnum, Values: []string{"a", "b"}},
			Filter{Column: "subscribers.handset", Op: OpEq, Param: "h"}), ""},
		{"date parameter without bounds", param("d", Parameter{Type: ParamDate},
			Filter{Column: "subscribers.signup_date", Op: OpGe, Param: "d"}), ""},
		{"coarser buckets, categories, bool dimension", groupBy(
			Dimension{Column: "subscribers.age", Buckets: []float64{18, 35, 100}},
			Dimension{Column: "subscribers.tier", Categories: []string{"premium"}},
			Dimension{Column: "customers.has_mortgage"},
		), ""},
		{"sum, avg and a narrower clamp", metrics(people,
			Metric{Name: "spend", Kind: MetricSum, Column: "customers.monthly_spend", Clamp: clamp(0, 20000.5)},
			Metric{Name: "avg_arpu", Kind: MetricAvg, Column: "subscribers.arpu"},
			Metric{Name: "visits", Kind: MetricSum, Column: "customers.visits", Clamp: clamp(1, 10)},
		), ""},
		{"epsilon and L0 up to the number of groups", func(tp *Template) {
			tp.Controls.Rho, tp.Controls.Epsilon, tp.Controls.MaxGroupsPerPerson = 0, 1, 3
		}, ""},

		// Self-contained rules (Validate).
		{"name", func(tp *Template) { tp.Name = "Tier" }, `name: template name "Tier" is not valid`},
		{"version", func(tp *Template) { tp.Version = 0 }, `version: 0 is not a version; the first version is 1`},
		{"question", func(tp *Template) { tp.Question = " " }, `question: is empty`},
		{"question control character", func(tp *Template) { tp.Question = "a\x00b" }, `question: is not printable UTF-8 text`},
		{"join empty", func(tp *Template) { tp.Join = nil }, `join: names no dataset`},
		{"join twice", func(tp *Template) { tp.Join = []string{"customers", "customers"} }, `join[1]: dataset "customers" is listed twice`},
		{"join name", func(tp *Template) { tp.Join = []string{"Subs"} }, `join[0]: dataset name "Subs" is not valid`},
		{"parameter name", param("Flag", Parameter{Type: ParamBool}, Filter{Column: "customers.default_flag", Op: OpEq, Param: "Flag"}),
			`parameters: name "Flag" is not valid`},
		{"parameter type", param("flag", Parameter{Type: "boolean"}, Filter{Column: "customers.default_flag", Op: OpEq, Param: "flag"}),
			`parameters.flag: unknown type "boolean"`},
		{"parameter without type", param("flag", Parameter{}, Filter{Column: "customers.default_flag", Op: OpEq, Param: "flag"}),
			`parameters.flag: has no type`},
		{"enum without values", param("t", Parameter{Type: ParamEnum}, Filter{Column: "subscribers.tier", Op: OpEq, Param: "t"}),
			`parameters.t: an enum needs its values`},
		{"enum value twice", param("t", Parameter{Type: ParamEnum, Values: []string{"basic", "basic"}}, Filter{Column: "subscribers.tier", Op: OpEq, Param: "t"}),
			`parameters.t: value "basic" is listed twice`},
		{"enum empty value", param("t", Parameter{Type: ParamEnum, Values: []string{""}}, Filter{Column: "subscribers.tier", Op: OpEq, Param: "t"}),
			`parameters.t: value 1 is empty`},
		{"enum with bounds", param("t", Parameter{Type: ParamEnum, Values: []string{"basic"}, Min: "a"}, Filter{Column: "subscribers.tier", Op: OpEq, Param: "t"}),
			`parameters.t: min and max apply only to int, decimal and date parameters`},
		{"values on an int", param("n", Parameter{Type: ParamInt, Values: []string{"1"}, Min: "0", Max: "9"}, Filter{Column: "customers.credit_limit", Op: OpEq, Param: "n"}),
			`parameters.n: values apply only to enum parameters`},
		{"int without bounds", param("n", Parameter{Type: ParamInt, Min: "0"}, Filter{Column: "customers.credit_limit", Op: OpEq, Param: "n"}),
			`parameters.n: an int parameter needs min and max bounds`},
		{"decimal without bounds", param("n", Parameter{Type: ParamDecimal}, Filter{Column: "customers.income", Op: OpEq, Param: "n"}),
			`parameters.n: a decimal parameter needs min and max bounds`},
		{"int bound not an int", param("n", Parameter{Type: ParamInt, Min: "0.5", Max: "9"}, Filter{Column: "customers.credit_limit", Op: OpEq, Param: "n"}),
			`parameters.n: min: "0.5" is not an integer`},
		{"date bound not a date", param("d", Parameter{Type: ParamDate, Max: "2024-02-30"}, Filter{Column: "subscribers.signup_date", Op: OpEq, Param: "d"}),
			`parameters.d: max: "2024-02-30" is not a date`},
		{"min above max", param("n", Parameter{Type: ParamDecimal, Min: "10", Max: "9.99"}, Filter{Column: "customers.income", Op: OpEq, Param: "n"}),
			`parameters.n: min 10 is above max 9.99`},
		{"unused parameter", func(tp *Template) { tp.Parameters["unused"] = Parameter{Type: ParamBool} },
			`parameters.unused: is not used in where`},
		{"where column form", where(Filter{Column: "tier", Op: OpEq, Values: []string{"basic"}}),
			`where[0]: column "tier" is not of the form dataset.column`},
		{"where operator", where(Filter{Column: "subscribers.tier", Op: "==", Values: []string{"basic"}}),
			`where[0]: unknown operator "=="`},
		{"where undeclared parameter", where(Filter{Column: "subscribers.tier", Op: OpEq, Param: "tier"}),
			`where[0]: parameter $tier is not declared`},
		{"where in with a parameter", param("t", Parameter{Type: ParamEnum, Values: []string{"basic"}}, Filter{Column: "subscribers.tier", Op: OpIn, Param: "t"}),
			`where[0]: "in" takes a list of values, not a parameter`},
		{"where values and parameter", func(tp *Template) { tp.Where[0].Values = []string{"true"} },
			`where[0]: compares with both values and a parameter`},
		{"where no value", where(Filter{Column: "subscribers.tier", Op: OpEq}),
			`where[0]: compares subscribers.tier with nothing`},
		{"where two values", where(Filter{Column: "subscribers.tier", Op: OpEq, Values: []string{"basic", "premium"}}),
			`where[0]: operator = takes one value, got 2`},
		{"where empty value", where(Filter{Column: "subscribers.tier", Op: OpIn, Values: []string{"basic", ""}}),
			`where[0]: value 2 is not printable UTF-8 text of 1 to 200 bytes`},
		{"group_by column form", groupBy(Dimension{Column: "subscribers"}),
			`group_by[0]: column "subscribers" is not of the form dataset.column`},
		{"group_by twice", groupBy(Dimension{Column: "subscribers.tier"}, Dimension{Column: "subscribers.tier"}),
			`group_by[1]: column "subscribers.tier" is grouped by twice`},
		{"group_by buckets and categories", groupBy(Dimension{Column: "subscribers.tier", Buckets: []float64{0, 1}, Categories: []string{"basic"}}),
			`group_by[0]: has both buckets and categories`},
		{"group_by one edge", groupBy(Dimension{Column: "subscribers.age", Buckets: []float64{18}}),
			`group_by[0]: buckets need at least two edges`},
		{"group_by edges decreasing", groupBy(Dimension{Column: "subscribers.age", Buckets: []float64{18, 50, 35, 100}}),
			`group_by[0]: bucket edges must be strictly increasing (35 is not above 50)`},
		{"group_by edge NaN", groupBy(Dimension{Column: "subscribers.age", Buckets: []float64{18, math.NaN()}}),
			`group_by[0]: bucket edges must be finite numbers`},
		{"group_by category twice", groupBy(Dimension{Column: "subscribers.tier", Categories: []string{"basic", "basic"}}),
			`group_by[0]: category "basic" is listed twice`},
		{"group_by empty category", groupBy(Dimension{Column: "subscribers.tier", Categories: []string{""}}),
			`group_by[0]: category 1 is not printable UTF-8 text of 1 to 200 bytes`},
		{"no metrics", metrics(), `metrics: names no metric`},
		{"metric name", metrics(Metric{Name: "People", Kind: MetricCount}), `metrics[0]: name "People" is not valid`},
		{"metric name twice", metrics(people, people), `metrics[1]: name "people" is used twice`},
		{"metric kind", metrics(Metric{Name: "n", Kind: "count"}), `metrics[0]: unknown kind "count"`},
		{"metric without kind", metrics(Metric{Name: "n"}), `metrics[0]: has no kind`},
		{"count with a column", metrics(Metric{Name: "n", Kind: MetricCount, Column: "subscribers.arpu"}),
			`metrics[0]: count_distinct_person counts people and takes no column`},
		{"count with a clamp", metrics(Metric{Name: "n", Kind: MetricCount, Clamp: clamp(0, 1)}),
			`metrics[0]: count_distinct_person takes no clamp`},
		{"sum without a column", metrics(Metric{Name: "s", Kind: MetricSum}), `metrics[0]: sum needs a column`},
		{"avg column form", metrics(Metric{Name: "s", Kind: MetricAvg, Column: "arpu"}),
			`metrics[0]: column "arpu" is not of the form dataset.column`},
		{"empty clamp", metrics(Metric{Name: "s", Kind: MetricSum, Column: "subscribers.arpu", Clamp: clamp(5, 5)}),
			`metrics[0]: clamp [5, 5] is empty; the lower bound must be below the upper`},
		{"infinite clamp", metrics(Metric{Name: "s", Kind: MetricSum, Column: "subscribers.arpu", Clamp: clamp(0, math.Inf(1))}),
			`metrics[0]: clamp bounds must be finite numbers`},
		{"min group size below the floor", controls(func(c *Controls) { c.MinGroupSize = 99 }),
			`controls.min_group_size: 99 is below the room's floor of 100`},
		{"min group size unset", controls(func(c *Controls) { c.MinGroupSize = 0 }),
			`controls.min_group_size: 0 is below the room's floor of 100`},
		{"min group size too large", controls(func(c *Controls) { c.MinGroupSize = 1 << 40 }),
			`controls.min_group_size: 1099511627776 is above the limit of 1000000000`},
		{"no budget", controls(func(c *Controls) { c.Rho = 0 }),
			`controls.rho: the template sets neither rho nor epsilon`},
		{"two budgets", controls(func(c *Controls) { c.Epsilon = 1 }),
			`controls.rho: the template sets both rho and epsilon`},
		{"rho negative", controls(func(c *Controls) { c.Rho = -0.1 }), `controls.rho: -0.1 is negative`},
		{"rho NaN", controls(func(c *Controls) { c.Rho = math.NaN() }), `controls.rho: NaN is not a finite number`},
		{"rho above the limit", controls(func(c *Controls) { c.Rho = 1001 }), `controls.rho: 1001 is above the limit of 1000`},
		{"rho below the quantum", controls(func(c *Controls) { c.Rho = 1e-13 }), `controls.rho: 1e-13 is below the smallest amount 1e-12`},
		{"epsilon above the limit", controls(func(c *Controls) { c.Rho, c.Epsilon = 0, 41 }), `controls.epsilon: 41 is above the limit of 40`},
		{"L0 zero", controls(func(c *Controls) { c.MaxGroupsPerPerson = 0 }), `controls.max_groups_per_person: 0, want at least 1`},
		{"coarsen negative", controls(func(c *Controls) { c.Coarsen = -10 }), `controls.coarsen: -10 is not a rounding step`},
		{"no receivers", controls(func(c *Controls) { c.Receivers = nil }), `controls.receivers: names no party`},
		{"receiver twice", controls(func(c *Controls) { c.Receivers = []string{"bank", "bank"} }),
			`controls.receivers[1]: party "bank" is listed twice`},
		{"reviewer name", controls(func(c *Controls) { c.ReviewBy = []string{"Bank"} }),
			`controls.review_by[0]: party name "Bank" is not valid`},

		// Rules against the room's schemas and policies (CheckTemplate).
		{"unknown dataset", func(tp *Template) { tp.Join = append(tp.Join, "ads") },
			`join[2]: dataset "ads" is not in the room`},
		{"dataset without owner", func(tp *Template) { tp.Join = append(tp.Join, "orphan") },
			`join[2]: dataset "orphan" has no owning party`},
		{"dataset not joined", where(Filter{Column: "loyalty.points", Op: OpGt, Values: []string{"10"}}),
			`where[0]: column "loyalty.points": dataset "loyalty" is not joined`},
		{"unknown column", where(Filter{Column: "customers.nope", Op: OpEq, Values: []string{"1"}}),
			`where[0]: column "customers.nope" does not exist`},
		{"identifier in where", where(Filter{Column: "customers.phone", Op: OpEq, Values: []string{"+79123456789"}}),
			`where[0]: column "customers.phone" is an identifier; identifiers are only matched on, never used in templates`},
		{"identifier in group_by", groupBy(Dimension{Column: "subscribers.phone"}),
			`group_by[0]: column "subscribers.phone" is an identifier; identifiers are only matched on, never used in templates`},
		{"identifier in metrics", metrics(Metric{Name: "n", Kind: MetricSum, Column: "subscribers.phone"}),
			`metrics[0]: column "subscribers.phone" is an identifier; identifiers are only matched on, never used in templates`},
		{"hidden in where", where(Filter{Column: "subscribers.region", Op: OpEq, Values: []string{"north"}}),
			`where[0]: column "subscribers.region" is hidden; its owner lets no template use it`},
		{"hidden in group_by", groupBy(Dimension{Column: "customers.products"}),
			`group_by[0]: column "customers.products" is hidden; its owner lets no template use it`},
		{"hidden in metrics", metrics(Metric{Name: "n", Kind: MetricAvg, Column: "customers.products"}),
			`metrics[0]: column "customers.products" is hidden; its owner lets no template use it`},
		{"metric in where", where(Filter{Column: "customers.default_flag", Op: OpEq, Values: []string{"true"}},
			Filter{Column: "customers.balance", Op: OpGt, Values: []string{"1000"}}),
			`where[1]: column "customers.balance" is a metric; metrics may only be aggregated`},
		{"metric in group_by", groupBy(Dimension{Column: "subscribers.arpu"}),
			`group_by[0]: column "subscribers.arpu" is a metric; metrics may only be aggregated`},
		{"filter in group_by", groupBy(Dimension{Column: "customers.default_flag"}),
			`group_by[0]: column "customers.default_flag" is a filter; only dimensions may be grouped by`},
		{"dimension summed", metrics(people, Metric{Name: "t", Kind: MetricSum, Column: "subscribers.age"}),
			`metrics[1]: column "subscribers.age" is a dimension; only metrics may be aggregated`},
		{"filter averaged", metrics(people, Metric{Name: "c", Kind: MetricAvg, Column: "customers.credit_limit"}),
			`metrics[1]: column "customers.credit_limit" is a filter; only metrics may be aggregated`},
		{"ordering a string", where(Filter{Column: "subscribers.tier", Op: OpLt, Values: []string{"premium"}}),
			`where[0]: operator < does not apply to column "subscribers.tier" of type string`},
		{"ordering a bool", where(Filter{Column: "customers.default_flag", Op: OpGe, Values: []string{"true"}}),
			`where[0]: operator >= does not apply to column "customers.default_flag" of type bool`},
		{"literal not a category", where(Filter{Column: "subscribers.tier", Op: OpIn, Values: []string{"premium", "gold"}}),
			`where[0]: value "gold" is not a category of column "subscribers.tier"`},
		{"literal not a bool", where(Filter{Column: "customers.default_flag", Op: OpEq, Values: []string{"yes"}}),
			`where[0]: column "customers.default_flag": "yes" is not a boolean`},
		{"literal not an int", where(Filter{Column: "customers.credit_limit", Op: OpEq, Values: []string{"1 OR 1=1"}}),
			`where[0]: column "customers.credit_limit": "1 OR 1=1" is not an integer`},
		{"literal not a decimal", where(Filter{Column: "customers.income", Op: OpEq, Values: []string{"1e3"}}),
			`where[0]: column "customers.income": "1e3" is not a decimal number`},
		{"literal not a date", where(Filter{Column: "subscribers.signup_date", Op: OpEq, Values: []string{"01/02/2024"}}),
			`where[0]: column "subscribers.signup_date": "01/02/2024" is not a date`},
		{"literal outside the buckets", where(Filter{Column: "subscribers.age", Op: OpLt, Values: []string{"120"}}),
			`where[0]: value 120 is outside the domain [18, 100] of column "subscribers.age"`},
		{"enum parameter on a bool", param("flag", Parameter{Type: ParamEnum, Values: []string{"true"}}, Filter{Column: "customers.default_flag", Op: OpEq, Param: "flag"}),
			`where[0]: parameter $flag of type enum does not fit column "customers.default_flag" of type bool`},
		{"decimal parameter on an int", param("n", Parameter{Type: ParamDecimal, Min: "0", Max: "1"}, Filter{Column: "customers.credit_limit", Op: OpEq, Param: "n"}),
			`where[0]: parameter $n of type decimal does not fit column "customers.credit_limit" of type int`},
		{"date parameter on a string", param("d", Parameter{Type: ParamDate}, Filter{Column: "subscribers.tier", Op: OpEq, Param: "d"}),
			`where[0]: parameter $d of type date does not fit column "subscribers.tier" of type string`},
		{"enum value not a category", param("t", Parameter{Type: ParamEnum, Values: []string{"premium", "gold"}}, Filter{Column: "subscribers.tier", Op: OpEq, Param: "t"}),
			`where[0]: value "gold" of parameter $t is not a category of column "subscribers.tier"`},
		{"buckets on a string", groupBy(Dimension{Column: "subscribers.tier", Buckets: []float64{0, 1}}),
			`group_by[0]: buckets apply to int and decimal dimensions; column "subscribers.tier" is string`},
		{"categories on an int", groupBy(Dimension{Column: "subscribers.age", Categories: []string{"18"}}),
			`group_by[0]: categories apply to string dimensions; column "subscribers.age" is int`},
		{"categories on a bool", groupBy(Dimension{Column: "customers.has_mortgage", Categories: []string{"true"}}),
			`group_by[0]: categories apply to string dimensions; column "customers.has_mortgage" is bool`},
		{"buckets not covering the domain", groupBy(Dimension{Column: "subscribers.age", Buckets: []float64{25, 100}}),
			`group_by[0]: buckets must start at 18 and end at 100, the first and last edges of column "subscribers.age"`},
		{"bucket edge not declared", groupBy(Dimension{Column: "subscribers.age", Buckets: []float64{18, 30, 100}}),
			`group_by[0]: bucket edge 30 is not an edge of column "subscribers.age"`},
		{"category not declared", groupBy(Dimension{Column: "subscribers.tier", Categories: []string{"gold"}}),
			`group_by[0]: category "gold" is not a category of column "subscribers.tier"`},
		{"clamp beyond the declared one", metrics(people, Metric{Name: "s", Kind: MetricSum, Column: "customers.monthly_spend", Clamp: clamp(0, 300000)}),
			`metrics[1]: clamp [0, 300000] is not within the declared clamp [0, 200000] of column "customers.monthly_spend"`},
		{"clamp below the declared one", metrics(Metric{Name: "s", Kind: MetricAvg, Column: "subscribers.arpu", Clamp: clamp(-1, 10)}),
			`metrics[0]: clamp [-1, 10] is not within the declared clamp [0, 10000] of column "subscribers.arpu"`},
		{"clamp finer than the scale", metrics(Metric{Name: "s", Kind: MetricSum, Column: "subscribers.arpu", Clamp: clamp(0, 10.005)}),
			`metrics[0]: clamp bound 10.005 has more decimal places than column "subscribers.arpu" keeps (2)`},
		{"L0 above the number of groups", controls(func(c *Controls) { c.MaxGroupsPerPerson = 4 }),
			`controls.max_groups_per_person: 4, but the template has only 3 groups`},
		{"L0 without group_by", func(tp *Template) { tp.GroupBy = nil; tp.Controls.MaxGroupsPerPerson = 2 },
			`controls.max_groups_per_person: 2, but the template has only 1 group`},
	}
	for _, tc := range cases {
		tp := baseTemplate()
		tc.edit(tp)
		err := CheckTemplate(tp, schemas, owners)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: CheckTemplate = %v, want nil", tc.name, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != EInvalid || e.Message != tc.want {
			t.Errorf("%s: CheckTemplate = %v, want %s error %q", tc.name, err, EInvalid, tc.want)
		}
	}
}

func TestTemplateReaders(t *testing.T) {
	_, owners := templateSchemas(t)
	owners["accounts"] = "bank"
	tp := baseTemplate()
	tp.Join = []string{"subscribers", "customers", "accounts"}
	if got := tp.Readers(owners); !slices.Equal(got, []string{"bank", "operator"}) {
		t.Errorf("Readers = %v, want [bank operator]", got)
	}
	r := &TemplateRecord{Template: *tp, State: TemplateProposed, ApprovedBy: []string{"operator"}}
	if got := r.Pending(owners); !slices.Equal(got, []string{"bank"}) {
		t.Errorf("Pending = %v, want [bank]", got)
	}
	r.ApprovedBy = append(r.ApprovedBy, "bank")
	if got := r.Pending(owners); len(got) != 0 {
		t.Errorf("Pending = %v, want none", got)
	}
}

func TestTemplateStateCanBecome(t *testing.T) {
	states := []TemplateState{TemplateProposed, TemplateApproved, TemplateRetired}
	allowed := map[[2]TemplateState]bool{
		{TemplateProposed, TemplateApproved}: true,
		{TemplateProposed, TemplateRetired}:  true,
		{TemplateApproved, TemplateRetired}:  true,
	}
	for _, from := range states {
		for _, to := range states {
			if got := from.CanBecome(to); got != allowed[[2]TemplateState{from, to}] {
				t.Errorf("%s.CanBecome(%s) = %v", from, to, got)
			}
		}
	}
}

func TestTemplateCheckParties(t *testing.T) {
	room := &Room{Name: "r1", Host: "neutral", Parties: []string{"bank", "operator"}}
	tp := baseTemplate()
	if err := tp.CheckParties(room); err != nil {
		t.Errorf("CheckParties = %v", err)
	}
	tp.Controls.Receivers = []string{"operator", "insurer"}
	if err := tp.CheckParties(room); err == nil || !strings.HasPrefix(err.Error(), `controls.receivers[1]: party "insurer" is not in room "r1"`) {
		t.Errorf("CheckParties = %v", err)
	}
	tp.Controls.ReviewBy = []string{"neutral"}
	if err := tp.CheckParties(room); err == nil || !strings.HasPrefix(err.Error(), `controls.review_by[0]: party "neutral" is not in room "r1"`) {
		t.Errorf("CheckParties = %v", err)
	}
}

func TestParameterParse(t *testing.T) {
	enum := Parameter{Type: ParamEnum, Values: []string{"basic", "premium"}}
	num := Parameter{Type: ParamInt, Min: "-10", Max: "100"}
	dec := Parameter{Type: ParamDecimal, Min: "0", Max: "99.5"}
	date := Parameter{Type: ParamDate, Min: "2020-01-01"}
	flag := Parameter{Type: ParamBool}
	for _, tc := range []struct {
		p        Parameter
		in, want string // want is the value's Text, or the error message
		ok       bool
	}{
		{enum, "premium", "premium", true},
		{enum, "Premium", `"Premium" is not one of the allowed values`, false},
		{enum, "premium'; DROP TABLE subscribers; --", `"premium'; DROP TABLE subscribers; --" is not one of the allowed values`, false},
		{num, "42", "42", true},
		{num, "-10", "-10", true},
		{num, "+7", "7", true},
		{num, "101", `"101" is above the maximum 100`, false},
		{num, "-11", `"-11" is below the minimum -10`, false},
		{num, "1 OR 1=1", `"1 OR 1=1" is not an integer`, false},
		{num, "1;", `"1;" is not an integer`, false},
		{num, "0x10", `"0x10" is not an integer`, false},
		{num, "", `"" is not an integer`, false},
		{dec, "12.50", "12.5", true},
		{dec, "99.5", "99.5", true},
		{dec, "99.51", `"99.51" is above the maximum 99.5`, false},
		{dec, "1e2", `"1e2" is not a decimal number`, false},
		{dec, "NaN", `"NaN" is not a decimal number`, false},
		{dec, ".5", `".5" is not a decimal number`, false},
		{dec, strings.Repeat("1", 50), `"1111111111111111111111111111111111111111"… is not a decimal number`, false},
		{date, "2024-03-31", "2024-03-31", true},
		{date, "2019-12-31", `"2019-12-31" is below the minimum 2020-01-01`, false},
		{date, "2024-03-31' OR '1'='1", `"2024-03-31' OR '1'='1" is not a date`, false},
		{flag, "true", "true", true},
		{flag, "false", "false", true},
		{flag, "1", `"1" is not a boolean`, false},
		{flag, "'; DROP TABLE x; --", `"'; DROP TABLE x; --" is not a boolean`, false},
	} {
		v, err := tc.p.Parse(tc.in)
		if tc.ok {
			if err != nil || v.Text() != tc.want {
				t.Errorf("%s Parse(%q) = %q, %v, want %q", tc.p.Type, tc.in, v.Text(), err, tc.want)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != EInvalid || e.Message != tc.want {
			t.Errorf("%s Parse(%q) error = %v, want %q", tc.p.Type, tc.in, err, tc.want)
		}
	}
}

func TestValueCompare(t *testing.T) {
	parse := func(typ ColumnType, s string) Value {
		v, err := ParseValue(typ, s)
		if err != nil {
			t.Fatalf("ParseValue(%s, %q): %v", typ, s, err)
		}
		return v
	}
	for _, tc := range []struct {
		a, b Value
		want int
	}{
		{parse(TypeInt, "3"), parse(TypeDecimal, "2.99"), 1},
		{parse(TypeDecimal, "3.00"), parse(TypeInt, "3"), 0},
		{parse(TypeDecimal, "0.1"), parse(TypeDecimal, "0.10000000000000000001"), -1},
		{parse(TypeDate, "2024-01-01"), parse(TypeDate, "2023-12-31"), 1},
		{parse(TypeBool, "false"), parse(TypeBool, "true"), -1},
		{parse(TypeString, "a"), parse(TypeString, "b"), -1},
	} {
		if got := tc.a.Compare(tc.b); got != tc.want {
			t.Errorf("%s.Compare(%s) = %d, want %d", tc.a.Text(), tc.b.Text(), got, tc.want)
		}
	}
}

func TestSplitColumn(t *testing.T) {
	for _, tc := range []struct {
		in, dataset, column string
		ok                  bool
	}{
		{"subscribers.tier", "subscribers", "tier", true},
		{"bank-2.monthly_spend", "bank-2", "monthly_spend", true},
		{"tier", "", "", false},
		{"a.b.c", "", "", false},
		{"Subscribers.tier", "", "", false},
		{"subscribers.tier;--", "", "", false},
		{".tier", "", "", false},
	} {
		d, c, ok := SplitColumn(tc.in)
		if d != tc.dataset || c != tc.column || ok != tc.ok {
			t.Errorf("SplitColumn(%q) = %q, %q, %v, want %q, %q, %v", tc.in, d, c, ok, tc.dataset, tc.column, tc.ok)
		}
	}
}
