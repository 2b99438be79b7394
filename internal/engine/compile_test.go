package engine

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/template"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Schemas returns the test room's schemas.
func testSchemas(t testing.TB) map[string]*cleanroom.Schema {
	t.Helper()
	out := map[string]*cleanroom.Schema{}
	for _, name := range []string{"subscribers", "customers"} {
		data, err := os.ReadFile(filepath.Join("testdata", name+".schema.json"))
		if err != nil {
			t.Fatal(err)
		}
		s, err := cleanroom.ParseSchema(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = s
	}
	return out
}

var owners = map[string]string{"subscribers": "operator", "customers": "bank"}

// compileFile parses, checks, binds and compiles a template of testdata.
func compileFile(t testing.TB, name string, params map[string]string) *Plan {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tp, err := template.Parse(data)
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	schemas := testSchemas(t)
	if err := cleanroom.CheckTemplate(tp, schemas, owners); err != nil {
		t.Fatalf("CheckTemplate(%s): %v", name, err)
	}
	b, err := template.Bind(tp, params)
	if err != nil {
		t.Fatalf("Bind(%s): %v", name, err)
	}
	p, err := Compile(tp, b, schemas)
	if err != nil {
		t.Fatalf("Compile(%s): %v", name, err)
	}
	return p
}

// GoldenCases are the templates of testdata with their parameters.
var goldenCases = []struct {
	name   string
	params map[string]string
}{
	{"segment-sizing", map[string]string{"since": "2020-01-01"}},
	{"spend-by-tier", map[string]string{"min_balance": "12.345", "behaviour": "late"}},
	{"roaming", map[string]string{"lines": "1"}},
}

func TestPlanGolden(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			got := compileFile(t, c.name, c.params).String()
			golden(t, filepath.Join("testdata", c.name+".plan"), got)
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run go test -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestCompileValues(t *testing.T) {
	p := compileFile(t, "spend-by-tier", map[string]string{"min_balance": "12.345", "behaviour": "late"})
	subs, cust := p.Datasets[0], p.Datasets[1]
	if got, want := subs.Filters[0].Values, []any{"late"}; !reflect.DeepEqual(got, want) {
		t.Errorf("payment_behaviour values = %v, want %v", got, want)
	}
	// balance ≥ 12.345 at scale 2 is balance ≥ 1235 in cents.
	if f := cust.Filters[0]; f.Op != OpGe || !reflect.DeepEqual(f.Values, []any{int64(1235)}) {
		t.Errorf("balance filter = %s %v, want >= [1235]", f.Op, f.Values)
	}
	if f := cust.Filters[1]; f.Op != OpNe || !reflect.DeepEqual(f.Values, []any{"private"}) {
		t.Errorf("segment filter = %s %v, want != [private]", f.Op, f.Values)
	}
	if k := p.Keys[0]; !reflect.DeepEqual(k.Categories, []string{"standard", "premium"}) {
		t.Errorf("tier categories = %v", k.Categories)
	}
	want := []Metric{
		{Name: "people", Kind: cleanroom.MetricCount},
		{Name: "spend", Kind: cleanroom.MetricSum, Column: Column{"customers", "monthly_spend", cleanroom.TypeDecimal, 2}, Lo: 0, Hi: 2_000_000},
		{Name: "avg_spend", Kind: cleanroom.MetricAvg, Column: Column{"customers", "monthly_spend", cleanroom.TypeDecimal, 2}, Lo: 0, Hi: 2_000_000},
		{Name: "products", Kind: cleanroom.MetricSum, Column: Column{"customers", "products", cleanroom.TypeInt, 0}, Lo: 0, Hi: 10},
	}
	if !reflect.DeepEqual(p.Metrics, want) {
		t.Errorf("Metrics = %+v, want %+v", p.Metrics, want)
	}

	seg := compileFile(t, "segment-sizing", map[string]string{"since": "2020-01-01"})
	if f := seg.Datasets[0].Filters[0]; !reflect.DeepEqual(f.Values, []any{time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}) {
		t.Errorf("signup_date values = %v", f.Values)
	}
	if k := seg.Keys[1]; !reflect.DeepEqual(k.Edges, []int64{0, 500_000, 100_000_000}) || k.Groups() != 2 {
		t.Errorf("balance edges = %v, groups %d", k.Edges, k.Groups())
	}
	if seg.MaxGroupsPerPerson != 2 {
		t.Errorf("MaxGroupsPerPerson = %d, want 2", seg.MaxGroupsPerPerson)
	}
}

// TestNumericFilters checks that comparisons with values finer than a
// column's scale become the equivalent integer comparisons.
func TestNumericFilters(t *testing.T) {
	col := Column{Dataset: "customers", Name: "balance", Type: cleanroom.TypeDecimal, Scale: 2}
	tests := []struct {
		op     cleanroom.Op
		value  string
		wantOp Op
		want   []any
	}{
		{cleanroom.OpEq, "12.34", OpEq, []any{int64(1234)}},
		{cleanroom.OpEq, "12.345", OpNone, nil},
		{cleanroom.OpNe, "12.345", OpNotNull, nil},
		{cleanroom.OpNe, "12.3", OpNe, []any{int64(1230)}},
		{cleanroom.OpLt, "12.345", OpLt, []any{int64(1235)}},
		{cleanroom.OpLe, "12.345", OpLe, []any{int64(1234)}},
		{cleanroom.OpGt, "12.345", OpGt, []any{int64(1234)}},
		{cleanroom.OpGe, "12.345", OpGe, []any{int64(1235)}},
		{cleanroom.OpLt, "-12.345", OpLt, []any{int64(-1234)}},
		{cleanroom.OpLe, "-12.345", OpLe, []any{int64(-1235)}},
		{cleanroom.OpGe, "-0.001", OpGe, []any{int64(0)}},
	}
	c := &compiler{t: &cleanroom.Template{Join: []string{"customers"}}, schemas: testSchemas(t)}
	for _, tt := range tests {
		v, err := cleanroom.ParseValue(cleanroom.TypeDecimal, tt.value)
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.filter(cleanroom.Filter{Column: col.Ref(), Op: tt.op, Param: "x"}, map[string]cleanroom.Value{"x": v})
		if err != nil {
			t.Errorf("filter(balance %s %s): %v", tt.op, tt.value, err)
			continue
		}
		if p.Op != tt.wantOp || !reflect.DeepEqual(p.Values, tt.want) {
			t.Errorf("filter(balance %s %s) = %s %v, want %s %v", tt.op, tt.value, p.Op, p.Values, tt.wantOp, tt.want)
		}
	}
	p, err := c.filter(cleanroom.Filter{Column: col.Ref(), Op: cleanroom.OpIn, Values: []string{"1.001", "2.5", "3.999"}}, nil)
	if err != nil || p.Op != OpIn || !reflect.DeepEqual(p.Values, []any{int64(250)}) {
		t.Errorf("filter(balance in [1.001, 2.5, 3.999]) = %s %v, %v; want in [250]", p.Op, p.Values, err)
	}
}

func TestCompileRejects(t *testing.T) {
	schemas := testSchemas(t)
	base := func() *cleanroom.Template {
		return &cleanroom.Template{
			Name: "t", Version: 1, Question: "q?", Join: []string{"subscribers"},
			Metrics:  []cleanroom.Metric{{Name: "people", Kind: cleanroom.MetricCount}},
			Controls: cleanroom.Controls{MinGroupSize: 100, Rho: 0.1, MaxGroupsPerPerson: 1, Receivers: []string{"operator"}},
		}
	}
	tests := []struct {
		name   string
		edit   func(*cleanroom.Template)
		params map[string]cleanroom.Value
		want   string
	}{
		{"hidden column", func(t *cleanroom.Template) {
			t.Where = []cleanroom.Filter{{Column: "subscribers.region", Op: cleanroom.OpEq, Values: []string{"north"}}}
		}, nil, `where[0]: column "subscribers.region" is a hidden column`},
		{"identifier", func(t *cleanroom.Template) {
			t.Where = []cleanroom.Filter{{Column: "subscribers.phone", Op: cleanroom.OpEq, Values: []string{"1"}}}
		}, nil, `where[0]: column "subscribers.phone" is not an attribute column`},
		{"metric as filter", func(t *cleanroom.Template) {
			t.Where = []cleanroom.Filter{{Column: "subscribers.arpu", Op: cleanroom.OpGt, Values: []string{"1"}}}
		}, nil, `where[0]: column "subscribers.arpu" is a metric column`},
		{"unjoined dataset", func(t *cleanroom.Template) {
			t.GroupBy = []cleanroom.Dimension{{Column: "customers.balance"}}
		}, nil, `group_by[0]: column "customers.balance": dataset "customers" is not joined`},
		{"unknown dataset", func(t *cleanroom.Template) { t.Join = []string{"nobody"} }, nil, `join[0]: dataset "nobody" is not in the room`},
		{"unbound parameter", func(t *cleanroom.Template) {
			t.Parameters = map[string]cleanroom.Parameter{"tier": {Type: cleanroom.ParamEnum, Values: []string{"basic"}}}
			t.Where = []cleanroom.Filter{{Column: "subscribers.tier", Op: cleanroom.OpEq, Param: "tier"}}
		}, nil, `where[0]: parameter $tier is not bound`},
		{"ill-typed parameter", func(t *cleanroom.Template) {
			t.Parameters = map[string]cleanroom.Parameter{"tier": {Type: cleanroom.ParamEnum, Values: []string{"basic"}}}
			t.Where = []cleanroom.Filter{{Column: "subscribers.tier", Op: cleanroom.OpEq, Param: "tier"}}
		}, map[string]cleanroom.Value{"tier": {Type: cleanroom.TypeInt, Int: 1}}, `where[0]: a int value does not fit column "subscribers.tier"`},
		{"sum of a dimension", func(t *cleanroom.Template) {
			t.Metrics = append(t.Metrics, cleanroom.Metric{Name: "x", Kind: cleanroom.MetricSum, Column: "subscribers.lines"})
		}, nil, `metrics[1]: column "subscribers.lines" is a filter column`},
		{"clamp beyond the declared one", func(t *cleanroom.Template) {
			t.Metrics = append(t.Metrics, cleanroom.Metric{Name: "x", Kind: cleanroom.MetricSum, Column: "subscribers.arpu", Clamp: &[2]float64{0, 20000}})
		}, nil, `metrics[1]: clamp [0, 20000] is not within the declared clamp [0, 10000]`},
		{"invalid template", func(t *cleanroom.Template) { t.Metrics = nil }, nil, "metrics"},
	}
	for _, tt := range tests {
		tp := base()
		tt.edit(tp)
		_, err := Compile(tp, template.Bound{Template: tp, Params: tt.params}, schemas)
		if err == nil {
			t.Errorf("%s: Compile succeeded, want an error containing %q", tt.name, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Compile error = %q, want it to contain %q", tt.name, err, tt.want)
		}
		if !strings.HasPrefix(err.Error(), `compile template "t": `) {
			t.Errorf("%s: Compile error = %q, want the prefix compile template", tt.name, err)
		}
		var e *cleanroom.Error
		if !errors.As(err, &e) || e.Code != cleanroom.EInvalid {
			t.Errorf("%s: Compile error %v is not an EInvalid *cleanroom.Error", tt.name, err)
		}
	}

	// Parameters bound to another template.
	a, b := base(), base()
	if _, err := Compile(a, template.Bound{Template: b}, schemas); err == nil {
		t.Error("Compile with parameters bound to another template succeeded")
	}
}

// TestSQLTextParameterRejected checks that SQL text never reaches a plan:
// Bind refuses it as a value of a typed parameter, and an enum only takes
// its declared values.
func TestSQLTextParameterRejected(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "spend-by-tier.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tp, err := template.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, params := range []map[string]string{
		{"min_balance": "0; DROP TABLE customers", "behaviour": "late"},
		{"min_balance": "0", "behaviour": "late' OR '1'='1"},
	} {
		if _, err := template.Bind(tp, params); err == nil {
			t.Errorf("Bind(%v) succeeded", params)
		}
	}
}
