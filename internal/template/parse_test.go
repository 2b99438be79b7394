package template

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cleanroom-dev/cleanroom"
)

// demoRoom returns the demo's datasets and their owners.
func demoRoom(t testing.TB) (map[string]*cleanroom.Schema, map[string]string) {
	t.Helper()
	schemas := map[string]*cleanroom.Schema{}
	for _, name := range []string{"subscribers", "customers"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "cmd", "cleanroom", "demodata", name+".schema.json"))
		if err != nil {
			t.Fatal(err)
		}
		s, err := cleanroom.ParseSchema(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		schemas[name] = s
	}
	return schemas, map[string]string{"subscribers": "operator", "customers": "bank"}
}

func testdataFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no templates in testdata: %v", err)
	}
	return files
}

// docExample returns the example template of the package documentation.
func docExample(t testing.TB) []byte {
	t.Helper()
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(src), "# The YAML format")
	if !ok {
		t.Fatal("doc.go has no YAML format section")
	}
	var b strings.Builder
	started := false
	for _, line := range strings.Split(rest, "\n") {
		code, ok := strings.CutPrefix(line, "//\t")
		if !ok {
			if started {
				break
			}
			continue
		}
		started = true
		b.WriteString(code + "\n")
	}
	return []byte(b.String())
}

// TestTemplatesFitTheDemo checks that the shipped examples and the
// documented one parse and pass the policy checks against the demo's
// schemas.
func TestTemplatesFitTheDemo(t *testing.T) {
	schemas, owners := demoRoom(t)
	inputs := map[string][]byte{"doc.go": docExample(t)}
	for _, f := range testdataFiles(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs[f] = data
	}
	for name, data := range inputs {
		tp, err := Parse(data)
		if err != nil {
			t.Errorf("%s: Parse: %v", name, err)
			continue
		}
		if err := cleanroom.CheckTemplate(tp, schemas, owners); err != nil {
			t.Errorf("%s: CheckTemplate: %v", name, err)
		}
		if got := tp.Readers(owners); !reflect.DeepEqual(got, []string{"bank", "operator"}) {
			t.Errorf("%s: Readers = %v", name, got)
		}
	}
}

func TestParse(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "spend-by-tier.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	want := &cleanroom.Template{
		Name:     "spend-by-tier",
		Version:  1,
		Question: "What do our post-paid subscribers spend per month at the bank, on average, by tier?",
		Join:     []string{"subscribers", "customers"},
		Where:    []cleanroom.Filter{{Column: "subscribers.payment_behaviour", Op: cleanroom.OpIn, Values: []string{"on_time", "late"}}},
		GroupBy:  []cleanroom.Dimension{{Column: "subscribers.tier"}},
		Metrics: []cleanroom.Metric{
			{Name: "people", Kind: cleanroom.MetricCount},
			{Name: "spend", Kind: cleanroom.MetricSum, Column: "customers.monthly_spend", Clamp: &[2]float64{0, 100000}},
			{Name: "avg_spend", Kind: cleanroom.MetricAvg, Column: "customers.monthly_spend", Clamp: &[2]float64{0, 100000}},
		},
		Controls: cleanroom.Controls{MinGroupSize: 100, Rho: 0.1, MaxGroupsPerPerson: 1, Coarsen: 10,
			Receivers: []string{"operator", "bank"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse = %+v\nwant %+v", got, want)
	}
}

func TestParseFilters(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want cleanroom.Filter
	}{
		{"subscribers.tier = premium", cleanroom.Filter{Column: "subscribers.tier", Op: "=", Values: []string{"premium"}}},
		{"subscribers.tier=premium", cleanroom.Filter{Column: "subscribers.tier", Op: "=", Values: []string{"premium"}}},
		{"subscribers.tier != $tier", cleanroom.Filter{Column: "subscribers.tier", Op: "!=", Param: "tier"}},
		{"subscribers.signup_date >= 2024-01-01", cleanroom.Filter{Column: "subscribers.signup_date", Op: ">=", Values: []string{"2024-01-01"}}},
		{"a.b <= 5", cleanroom.Filter{Column: "a.b", Op: "<=", Values: []string{"5"}}},
		{"a.b < -5", cleanroom.Filter{Column: "a.b", Op: "<", Values: []string{"-5"}}},
		{"a.b > 5.5", cleanroom.Filter{Column: "a.b", Op: ">", Values: []string{"5.5"}}},
		{"a.b = on time", cleanroom.Filter{Column: "a.b", Op: "=", Values: []string{"on time"}}},
		{`a.b = "$5 "`, cleanroom.Filter{Column: "a.b", Op: "=", Values: []string{"$5 "}}},
		{`a.b in [x, 'y z', "$w"]`, cleanroom.Filter{Column: "a.b", Op: "in", Values: []string{"x", "y z", "$w"}}},
		{"a.b = in", cleanroom.Filter{Column: "a.b", Op: "=", Values: []string{"in"}}},
		{"a.b = '; DROP TABLE x; --", cleanroom.Filter{Column: "a.b", Op: "=", Values: []string{"'; DROP TABLE x; --"}}},
	} {
		got, err := parseFilter(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseFilter(%q) = %+v, %v, want %+v", tc.in, got, err, tc.want)
		}
	}
}

// base is a valid template; the error cases replace one of its lines.
const base = `name: tier-by-default-flag
question: How many subscribers, by tier, have a given default flag?
join: [subscribers, customers]
parameters:
  flag: {type: bool}
where:
  - customers.default_flag = $flag
group_by:
  - subscribers.tier
metrics:
  - people: count_distinct_person
controls:
  rho: 0.05
  receivers: [operator]
`

func TestParseErrors(t *testing.T) {
	replace := func(old, new string) string {
		if !strings.Contains(base, old) {
			t.Fatalf("base has no %q", old)
		}
		return strings.Replace(base, old, new, 1)
	}
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", "template is empty"},
		{"comment only", "# nothing\n", "template is empty"},
		{"not YAML", "name: [a\n", "template is not valid YAML: line 1: did not find expected ',' or ']'"},
		{"not a mapping", "- a\n- b\n", `line 1: want a mapping with name, version, question, join, parameters, where, group_by, metrics, controls, attribution, model, lookalike, got a list`},
		{"two documents", base + "---\nname: x\n", "template holds more than one YAML document"},
		{"unknown field", replace("where:", "wher:"), `line 6: unknown field "wher"`},
		{"field twice", base + "name: again\n", `line 15: field "name" is given twice`},
		{"unknown control", replace("  rho: 0.05", "  rhoo: 0.05"), `line 13: controls: unknown field "rhoo"`},
		{"unknown parameter field", replace("{type: bool}", "{type: bool, default: true}"), `line 5: parameters.flag: unknown field "default"`},
		{"version not a number", "version: one\n" + base, `line 1: version: want an integer, got "one"`},
		{"version zero", "version: 0\n" + base, `line 1: version: 0 is not a version; the first version is 1`},
		{"rho quoted", replace("rho: 0.05", `rho: "0.05"`), `line 13: controls.rho: want a number, got "0.05"`},
		{"rho a list", replace("rho: 0.05", `rho: [0.05]`), `line 13: controls.rho: want a number, got a list`},
		{"min group size a float", replace("  rho: 0.05", "  rho: 0.05\n  min_group_size: 99.5"), `line 14: controls.min_group_size: want an integer, got "99.5"`},
		{"join not a list", replace("join: [subscribers, customers]", "join: subscribers"), `line 3: join: want a list, got "subscribers"`},
		{"join item a mapping", replace("join: [subscribers, customers]", "join: [{a: b}]"), `line 3: join[0]: want text, got a mapping`},
		{"parameters a list", replace("  flag: {type: bool}", "  - flag"), `line 5: parameters: want a mapping of parameter names to {type: ...}, got a list`},
		{"where a mapping", replace("  - customers.default_flag = $flag", "  - customers.default_flag: $flag"),
			`line 7: where[0]: want a condition such as "subscribers.tier = premium", got a mapping`},
		{"where no operator", replace("customers.default_flag = $flag", "customers.default_flag $flag"),
			`line 7: where[0]: "customers.default_flag $flag" is not a condition`},
		{"where unknown operator", replace("customers.default_flag = $flag", "customers.default_flag == $flag"),
			`line 7: where[0]: "customers.default_flag == $flag" has an unknown operator`},
		{"where no value", replace("customers.default_flag = $flag", "customers.default_flag ="),
			`line 7: where[0]: "customers.default_flag =" compares with nothing`},
		{"where dollar only", replace("customers.default_flag = $flag", "customers.default_flag = $"),
			`line 7: where[0]: "customers.default_flag = $" names no parameter after '$'`},
		{"where in without brackets", replace("customers.default_flag = $flag", "subscribers.tier in basic"),
			`line 7: where[0]: "in" takes a list of values in brackets, e.g. [basic, premium]`},
		{"where in with a parameter", replace("customers.default_flag = $flag", "subscribers.tier in [$flag]"),
			`line 7: where[0]: "in" takes values, not the parameter $flag`},
		{"where in with an empty value", replace("customers.default_flag = $flag", "subscribers.tier in [basic,,premium]"),
			`line 7: where[0]: the list [basic,,premium] has an empty value`},
		{"where undeclared parameter", replace("$flag", "$flags"), `line 5: parameters.flag: is not used in where`},
		{"group_by two columns", replace("  - subscribers.tier", "  - {subscribers.tier: {}, customers.x: {}}"),
			`line 9: group_by[0]: want one column, got 2`},
		{"group_by unknown option", replace("  - subscribers.tier", "  - subscribers.tier: {bins: [1, 2]}"),
			`line 9: group_by[0]: unknown field "bins"`},
		{"group_by buckets not numbers", replace("  - subscribers.tier", "  - subscribers.age: {buckets: [0, ten]}"),
			`line 9: group_by[0].buckets[1]: want a number, got "ten"`},
		{"metric two entries", replace("  - people: count_distinct_person", "  - {people: count_distinct_person, n: count_distinct_person}"),
			`line 11: metrics[0]: want one "name: kind" entry, got 2`},
		{"metric sum without column", replace("people: count_distinct_person", "spend: sum"),
			`line 11: metrics[0]: sum needs a column`},
		{"metric unknown kind", replace("people: count_distinct_person", "people: count"),
			`line 11: metrics[0]: unknown kind "count"`},
		{"metric sum and avg", replace("people: count_distinct_person", "s: {sum: a.b, avg: a.b}"),
			`line 11: metrics[0]: a metric is a sum or an avg, not both`},
		{"metric without column", replace("people: count_distinct_person", "s: {clamp: [0, 1]}"),
			`line 11: metrics[0]: names no column to sum or avg`},
		{"metric unknown option", replace("people: count_distinct_person", "s: {sum: a.b, bounds: [0, 1]}"),
			`line 11: metrics[0]: unknown field "bounds"`},
		{"metric clamp of three", replace("people: count_distinct_person", "s: {sum: a.b, clamp: [0, 1, 2]}"),
			`line 11: metrics[0].clamp: want [lo, hi], got 3 numbers`},
		{"alias", replace("join: [subscribers, customers]", "join: &j [subscribers, customers]\nx: *j"),
			`line 3: join: anchors and aliases are not supported`},
		{"merge key", replace("  rho: 0.05", "  <<: {rho: 0.05}"), `line 13: controls: unknown field "<<"`},
		// Validate's errors get the line of the field they name.
		{"rho above the limit", replace("rho: 0.05", "rho: 2000"), `line 13: controls.rho: 2000 is above the limit of 1000`},
		{"min group size below the floor", replace("  rho: 0.05", "  rho: 0.05\n  min_group_size: 10"),
			`line 14: controls.min_group_size: 10 is below the room's floor of 100`},
		{"no budget", replace("  rho: 0.05\n", ""), `line 12: controls.rho: the template sets neither rho nor epsilon`},
		{"no controls", strings.Replace(replace("  rho: 0.05\n", ""), "controls:\n  receivers: [operator]\n", "", 1),
			`controls.rho: the template sets neither rho nor epsilon`},
		{"bad receiver", replace("[operator]", "[operator, Bank]"), `line 14: controls.receivers[1]: party name "Bank" is not valid`},
		{"bad name", replace("name: tier-by-default-flag", "name: Tier By Flag"), `line 1: name: template name "Tier By Flag" is not valid`},
		{"bad join", replace("join: [subscribers, customers]", "join: [subscribers, subscribers]"), `line 3: join[1]: dataset "subscribers" is listed twice`},
		{"no question", replace("question: How many subscribers, by tier, have a given default flag?", "question:"), `line 2: question: is empty`},
		{"enum without values", replace("{type: bool}", "{type: enum}"), `line 5: parameters.flag: an enum needs its values`},
		{"no metrics", replace("  - people: count_distinct_person", ""), `line 10: metrics: names no metric`},
		{"too large", base + "# " + strings.Repeat("x", MaxBytes) + "\n", fmt.Sprintf("template is %d bytes, over the limit of 65536", len(base)+MaxBytes+3)},
	} {
		_, err := Parse([]byte(tc.in))
		var e *cleanroom.Error
		if !errors.As(err, &e) || e.Code != cleanroom.EInvalid || e.Message != tc.want {
			t.Errorf("%s: Parse error = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestParseDefaults(t *testing.T) {
	tp, err := Parse([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if tp.Version != 1 || tp.Controls.MinGroupSize != 100 || tp.Controls.MaxGroupsPerPerson != 1 {
		t.Errorf("Parse defaults: version %d, min_group_size %d, max_groups_per_person %d, want 1, 100, 1",
			tp.Version, tp.Controls.MinGroupSize, tp.Controls.MaxGroupsPerPerson)
	}
}
