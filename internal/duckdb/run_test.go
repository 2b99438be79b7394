package duckdb

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/engine"
	"github.com/cleanroom-dev/cleanroom/internal/template"
)

func openTest(t testing.TB) *DB {
	t.Helper()
	db, err := Open(context.Background(), Limits{MemoryLimit: 256 << 20, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func load(t testing.TB, db *DB, p *engine.Plan, dataset string, rows [][]any) {
	t.Helper()
	if _, err := db.Load(context.Background(), dataset, p.Columns(dataset), rowsOf(rows)); err != nil {
		t.Fatal(err)
	}
}

// TestQueryGolden renders the plans of internal/engine's golden templates.
func TestQueryGolden(t *testing.T) {
	schemas := testSchemas(t)
	for _, c := range []struct {
		name   string
		params map[string]string
	}{
		{"segment-sizing", map[string]string{"since": "2020-01-01"}},
		{"spend-by-tier", map[string]string{"min_balance": "12.345", "behaviour": "late"}},
		{"roaming", map[string]string{"lines": "1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := compilePlan(t, filepath.Join("..", "engine", "testdata", c.name+".yaml"), schemas, c.params, nil)
			query, args, err := Query(p, 42)
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(query, "?"); n != len(args) {
				t.Errorf("%d placeholders, %d arguments", n, len(args))
			}
			var b strings.Builder
			b.WriteString(query + "\n\n-- arguments\n")
			for i, a := range args {
				fmt.Fprintf(&b, "-- %d: %T %v\n", i+1, a, a)
			}
			golden(t, filepath.Join("testdata", c.name+".sql"), b.String())
		})
	}
}

// Crafted data for crafted-spend.yaml: columns payment_behaviour, tier
// (subscribers) and monthly_spend (customers), as the plan loads them.
var (
	craftedSubscribers = [][]any{
		{0, "on_time", "basic"},
		{1, "late", "basic"},
		{2, "prepaid", "basic"}, // filtered out
		{3, "on_time", "standard"},
		{3, "on_time", "premium"},  // person 3 is in two groups
		{4, "on_time", "standard"}, // no bank row
		{6, "late", "premium"},
		{6, "late", "premium"}, // a duplicate row
		{7, "on_time", "gold"}, // not a category: in no group
		{8, "on_time", "standard"},
		{9, "on_time", "premium"},
		{-1, "on_time", "basic"}, // no room person
	}
	craftedCustomers = [][]any{
		{0, "30.00"}, {0, "50.00"}, // 8000 cents
		{1, "80.00"}, {1, "80.00"}, // 16000, clamped per person to 10000
		{2, "10.00"},
		{3, "500.00"},             // clamped per row to 10000
		{5, "20.00"},              // no subscriber row
		{6, "-5.00"}, {6, "7.00"}, // -500 clamped to 0, + 700
		{7, "1.00"},
		{8, ""},                   // in the join, without a spend
		{9, "99.99"}, {9, "0.02"}, // 10001, clamped per person to 10000
		{-1, "99.00"},
	}
)

func TestRunCrafted(t *testing.T) {
	schemas := testSchemas(t)
	p := compilePlan(t, filepath.Join("testdata", "crafted-spend.yaml"), schemas, nil, nil)
	db := openTest(t)
	load(t, db, p, "subscribers", craftedSubscribers)
	load(t, db, p, "customers", craftedCustomers)
	res, err := db.Run(context.Background(), p, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []engine.Group{
		{Key: []int{0}, People: 2, Metrics: []engine.Aggregate{agg(2, 2), agg(18000, 2)}}, // 0, 1
		{Key: []int{1}, People: 2, Metrics: []engine.Aggregate{agg(2, 2), agg(10000, 1)}}, // 3, 8
		{Key: []int{2}, People: 3, Metrics: []engine.Aggregate{agg(3, 3), agg(20700, 3)}}, // 3, 6, 9
	}
	if !reflect.DeepEqual(res.Groups, want) {
		t.Errorf("Run = %+v\nwant  %+v", res.Groups, want)
	}
}

// TestRunMaxGroupsPerPerson checks L0 = 1: person 3, in standard and
// premium, counts in one of them, chosen by the seed.
func TestRunMaxGroupsPerPerson(t *testing.T) {
	schemas := testSchemas(t)
	p := compilePlan(t, filepath.Join("testdata", "crafted-spend.yaml"), schemas, nil,
		func(t *cleanroom.Template) { t.Controls.MaxGroupsPerPerson = 1 })
	db := openTest(t)
	load(t, db, p, "subscribers", craftedSubscribers)
	load(t, db, p, "customers", craftedCustomers)
	basic := engine.Group{Key: []int{0}, People: 2, Metrics: []engine.Aggregate{agg(2, 2), agg(18000, 2)}}
	inStandard := []engine.Group{basic,
		{Key: []int{1}, People: 2, Metrics: []engine.Aggregate{agg(2, 2), agg(10000, 1)}},
		{Key: []int{2}, People: 2, Metrics: []engine.Aggregate{agg(2, 2), agg(10700, 2)}}}
	inPremium := []engine.Group{basic,
		{Key: []int{1}, People: 1, Metrics: []engine.Aggregate{agg(1, 1), agg(0, 0)}},
		{Key: []int{2}, People: 3, Metrics: []engine.Aggregate{agg(3, 3), agg(20700, 3)}}}
	seen := map[string]bool{}
	for seed := range uint64(32) {
		res, err := db.Run(context.Background(), p, seed)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case reflect.DeepEqual(res.Groups, inStandard):
			seen["standard"] = true
		case reflect.DeepEqual(res.Groups, inPremium):
			seen["premium"] = true
		default:
			t.Fatalf("seed %d: Run = %+v, want person 3 in exactly one of standard and premium", seed, res.Groups)
		}
		again, err := db.Run(context.Background(), p, seed)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(again, res) {
			t.Errorf("seed %d: a second run differs: %+v, then %+v", seed, res.Groups, again.Groups)
		}
	}
	// Each outcome has probability 1/2 per seed: both miss in 32 seeds with
	// probability 2^-31.
	if !seen["standard"] || !seen["premium"] {
		t.Errorf("over 32 seeds person 3 was kept only in %v", seen)
	}
}

// TestRunBucketsAndBools checks bucket boundaries, bool keys, date and
// bool filters, and a per-person clamp on an int metric.
func TestRunBucketsAndBools(t *testing.T) {
	schemas := testSchemas(t)
	p := compilePlan(t, filepath.Join("testdata", "crafted-bands.yaml"), schemas, map[string]string{"since": "2020-01-01"}, nil)
	if got := p.Columns("customers"); len(got) != 3 || got[0].Name != "default_flag" || got[1].Name != "balance" || got[2].Name != "products" {
		t.Fatalf("Columns(customers) = %+v", got)
	}
	db := openTest(t)
	// subscribers: signup_date, roaming
	load(t, db, p, "subscribers", [][]any{
		{0, "2020-01-01", "true"},
		{1, "2019-12-31", "true"}, // too early
		{2, "2021-06-01", "false"},
		{3, "2022-01-01", "0"},
		{4, "2022-01-01", ""}, // roaming missing: no group
		{5, "", "true"},       // date missing: filtered out
		{6, "2023-01-01", "1"},
		{7, "2023-01-01", "false"},
		{8, "2023-01-01", "true"},
	})
	// customers: default_flag, balance, products
	load(t, db, p, "customers", [][]any{
		{0, "false", "4999.99", "3"}, // [0, 5000)
		{0, "false", "5000.00", "4"}, // [5000, 1000000]: person 0 in two groups
		{1, "false", "10.00", "1"},
		{2, "false", "0.00", "9"},       // lowest edge; 9 clamped to 5
		{3, "false", "1000000.00", "2"}, // highest edge is inclusive
		{4, "false", "10.00", "1"},
		{5, "false", "10.00", "1"},
		{6, "false", "1000000.01", "1"}, // beyond the last edge
		{6, "true", "10.00", "1"},       // in default
		{7, "false", "-0.01", "1"},      // below the first edge
		{8, "false", "100.00", "3"},
		{8, "false", "200.00", "4"}, // same bucket: 7, clamped to 5
	})
	res, err := db.Run(context.Background(), p, 7)
	if err != nil {
		t.Fatal(err)
	}
	want := []engine.Group{
		{Key: []int{0, 0}, People: 1, Metrics: []engine.Aggregate{agg(1, 1), agg(5, 1)}}, // 2
		{Key: []int{0, 1}, People: 2, Metrics: []engine.Aggregate{agg(2, 2), agg(8, 2)}}, // 0 (3), 8 (5)
		{Key: []int{1, 0}, People: 1, Metrics: []engine.Aggregate{agg(1, 1), agg(2, 1)}}, // 3
		{Key: []int{1, 1}, People: 1, Metrics: []engine.Aggregate{agg(1, 1), agg(4, 1)}}, // 0
	}
	if !reflect.DeepEqual(res.Groups, want) {
		t.Errorf("Run = %+v\nwant  %+v", res.Groups, want)
	}
}

// TestRunSingleDataset runs the roaming template of internal/engine: one
// dataset, an int parameter, != and a bool key.
func TestRunSingleDataset(t *testing.T) {
	schemas := testSchemas(t)
	p := compilePlan(t, filepath.Join("..", "engine", "testdata", "roaming.yaml"), schemas, map[string]string{"lines": "1"}, nil)
	db := openTest(t)
	// lines, roaming, arpu
	load(t, db, p, "subscribers", [][]any{
		{0, "2", "true", "100.00"},
		{1, "7", "true", "50.00"},  // lines != 7
		{2, "1", "false", "10.00"}, // lines > 1
		{3, "", "false", "10.00"},  // missing lines
		{4, "3", "false", "20000.00"},
		{4, "3", "false", "1.00"},
		{5, "3", "", "5.00"},
		{6, "4", "true", ""},
	})
	res, err := db.Run(context.Background(), p, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []engine.Group{
		{Key: []int{0}, People: 1, Metrics: []engine.Aggregate{agg(1, 1), agg(1_000_000, 1)}},
		{Key: []int{1}, People: 2, Metrics: []engine.Aggregate{agg(2, 2), agg(10_000, 1)}},
	}
	if !reflect.DeepEqual(res.Groups, want) {
		t.Errorf("Run = %+v\nwant  %+v", res.Groups, want)
	}
}

// TestSQLTextIsInert loads values that look like SQL, and filters and
// groups by them: they are matched as values, exactly, and nothing else
// happens.
func TestSQLTextIsInert(t *testing.T) {
	evil := []string{
		`basic'); DROP TABLE "customers"; --`,
		`" OR 1=1 --`,
		`'; SELECT * FROM duckdb_settings(); --`,
	}
	schemas := testSchemas(t)
	subs := *schemas["subscribers"]
	subs.Attributes = append([]cleanroom.AttributeColumn{}, subs.Attributes...)
	for i := range subs.Attributes {
		if subs.Attributes[i].Column == "tier" {
			subs.Attributes[i].Categories = append([]string{"basic"}, evil...)
		}
	}
	schemas["subscribers"] = &subs
	tp := &cleanroom.Template{
		Name: "evil", Version: 1, Question: "Is SQL text inert?", Join: []string{"subscribers", "customers"},
		Parameters: map[string]cleanroom.Parameter{"tier": {Type: cleanroom.ParamEnum, Values: evil}},
		Where:      []cleanroom.Filter{{Column: "subscribers.tier", Op: cleanroom.OpEq, Param: "tier"}},
		GroupBy:    []cleanroom.Dimension{{Column: "subscribers.tier"}},
		Metrics:    []cleanroom.Metric{{Name: "people", Kind: cleanroom.MetricCount}},
		Controls:   cleanroom.Controls{MinGroupSize: 100, Rho: 0.1, MaxGroupsPerPerson: 1, Receivers: []string{"operator"}},
	}
	if err := cleanroom.CheckTemplate(tp, schemas, map[string]string{"subscribers": "operator", "customers": "bank"}); err != nil {
		t.Fatal(err)
	}
	db := openTest(t)
	for _, e := range evil {
		p := compileWith(t, tp, schemas, map[string]string{"tier": e})
		query, _, err := Query(p, 0)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(query, "DROP") || strings.Contains(query, "1=1") || strings.Contains(query, "duckdb_settings") {
			t.Fatalf("the query holds a value's text:\n%s", query)
		}
		if !tableExists(t, db, "subscribers") {
			load(t, db, p, "subscribers", [][]any{{0, "basic"}, {1, evil[0]}, {2, evil[1]}, {3, evil[2]}, {4, evil[2]}})
			if _, err := db.Load(context.Background(), "customers", nil, rowsOf([][]any{{0}, {1}, {2}, {3}, {4}})); err != nil {
				t.Fatal(err)
			}
		}
		res, err := db.Run(context.Background(), p, 0)
		if err != nil {
			t.Fatalf("tier = %q: %v", e, err)
		}
		i := 1
		for i < len(evil)+1 && evil[i-1] != e {
			i++
		}
		want := []engine.Group{{Key: []int{i}, People: 1, Metrics: []engine.Aggregate{agg(1, 1)}}}
		if e == evil[2] {
			want[0].People, want[0].Metrics[0] = 2, engine.Aggregate{Sum: 2, Count: 2}
		}
		if !reflect.DeepEqual(res.Groups, want) {
			t.Errorf("tier = %q: Run = %+v, want %+v", e, res.Groups, want)
		}
		if !tableExists(t, db, "customers") {
			t.Fatalf("tier = %q: table customers is gone", e)
		}
	}
}

func compileWith(t testing.TB, tp *cleanroom.Template, schemas map[string]*cleanroom.Schema, params map[string]string) *engine.Plan {
	t.Helper()
	b, err := template.Bind(tp, params)
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.Compile(tp, b, schemas)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func tableExists(t testing.TB, db *DB, name string) bool {
	t.Helper()
	var n int
	if err := db.db.QueryRow("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

func TestOpenRefuses(t *testing.T) {
	for _, l := range []Limits{{}, {MemoryLimit: MinMemoryLimit - 1}, {MemoryLimit: 1 << 30, Threads: -1}} {
		if db, err := Open(context.Background(), l); err == nil {
			db.Close()
			t.Errorf("Open(%+v) succeeded", l)
		}
	}
}

// TestNoExternalAccess checks that the configuration is locked and SQL
// cannot reach files.
func TestNoExternalAccess(t *testing.T) {
	db := openTest(t)
	dir := t.TempDir()
	for _, stmt := range []string{
		"SET temp_directory = '" + dir + "'",
		"SET enable_external_access = true",
		"COPY (SELECT 1) TO '" + filepath.Join(dir, "x.csv") + "'",
	} {
		if _, err := db.db.Exec(stmt); err == nil {
			t.Errorf("%s: succeeded", stmt)
		}
	}
	var tmp, mem string
	if err := db.db.QueryRow("SELECT current_setting('temp_directory'), current_setting('memory_limit')").Scan(&tmp, &mem); err != nil {
		t.Fatal(err)
	}
	if tmp != "" || mem != "256.0 MiB" {
		t.Errorf("temp_directory = %q, memory_limit = %q; want '' and 256.0 MiB", tmp, mem)
	}
}

func TestLoadRejectsBadValues(t *testing.T) {
	db := openTest(t)
	cols := []engine.Column{{Name: "d", Type: cleanroom.TypeDecimal, Scale: 2}}
	for i, v := range []string{"1.234", "1e5", "abc", "1.", ".5", "--1"} {
		_, err := db.Load(context.Background(), fmt.Sprintf("t%d", i), cols, rowsOf([][]any{{0, v}}))
		if err == nil {
			t.Errorf("Load(decimal %q) succeeded", v)
		} else if strings.Contains(err.Error(), v) {
			t.Errorf("Load(decimal %q) error %q holds the value", v, err)
		}
	}
	for _, tt := range []struct {
		s     string
		scale int
		want  int64
	}{{"12.5", 2, 1250}, {"-0.01", 2, -1}, {"+7", 0, 7}, {"0.000001", 6, 1}} {
		got, err := engine.ParseValue(engine.Column{Type: cleanroom.TypeDecimal, Scale: tt.scale}, tt.s)
		if err != nil || got != tt.want {
			t.Errorf("ParseValue(%q, scale %d) = %v, %v; want %d", tt.s, tt.scale, got, err, tt.want)
		}
	}
}

func agg(sum, count int64) engine.Aggregate { return engine.Aggregate{Sum: sum, Count: count} }

// TestRankMatchesEngine checks that the SQL rendering of the L0 order
// computes engine.Rank exactly, for seeds and people across their ranges:
// the Beam engine computes it in Go, and both must keep the same groups.
func TestRankMatchesEngine(t *testing.T) {
	db := openTest(t)
	for i, c := range []struct {
		seed   uint64
		person int64
		key    []int
	}{
		{0, 0, []int{0}}, {1, 1, []int{1}}, {42, 3, []int{2, 7}}, {^uint64(0), 1<<31 - 1, []int{1<<31 - 1, 0, 5}},
		{0x8000000000000000, 123456789, []int{3}}, {0x1234567890abcdef, 99, []int{0, 0}},
	} {
		a, b := engine.RankParams(c.seed)
		expr := "CAST(? AS BIGINT)"
		args := []any{b}
		for _, x := range append([]int64{c.person}, toInt64s(c.key)...) {
			expr = "(" + expr + " * ? + ?) % 2147483647"
			args = append(args, a, x)
		}
		expr = "CAST((" + expr + " * ?) % 2147483647 AS BIGINT)"
		args = append(args, a)
		var got int64
		if err := db.db.QueryRowContext(context.Background(), "SELECT "+expr, args...).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if want := engine.Rank(a, b, c.person, c.key); got != want {
			t.Errorf("case %d: DuckDB computes %d, engine.Rank %d", i, got, want)
		}
	}
}

func toInt64s(xs []int) []int64 {
	out := make([]int64, len(xs))
	for i, x := range xs {
		out[i] = int64(x)
	}
	return out
}
