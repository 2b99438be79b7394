package duckdb

import (
	"flag"
	"iter"
	"os"
	"path/filepath"
	"testing"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/engine"
	"github.com/cleanroom-dev/cleanroom/internal/template"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testSchemas returns the schemas of internal/engine's test room.
func testSchemas(t testing.TB) map[string]*cleanroom.Schema {
	t.Helper()
	out := map[string]*cleanroom.Schema{}
	for _, name := range []string{"subscribers", "customers"} {
		data, err := os.ReadFile(filepath.Join("..", "engine", "testdata", name+".schema.json"))
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

// compilePlan parses the template at path, lets edit change it, checks it
// against schemas, binds params and compiles it.
func compilePlan(t testing.TB, path string, schemas map[string]*cleanroom.Schema, params map[string]string, edit func(*cleanroom.Template)) *engine.Plan {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := template.Parse(data)
	if err != nil {
		t.Fatalf("Parse(%s): %v", path, err)
	}
	if edit != nil {
		edit(tp)
	}
	if err := cleanroom.CheckTemplate(tp, schemas, map[string]string{"subscribers": "operator", "customers": "bank"}); err != nil {
		t.Fatalf("CheckTemplate(%s): %v", path, err)
	}
	b, err := template.Bind(tp, params)
	if err != nil {
		t.Fatalf("Bind(%s): %v", path, err)
	}
	p, err := engine.Compile(tp, b, schemas)
	if err != nil {
		t.Fatalf("Compile(%s): %v", path, err)
	}
	return p
}

// rowsOf yields rows given as a person followed by the values.
func rowsOf(rows [][]any) iter.Seq2[Row, error] {
	return func(yield func(Row, error) bool) {
		for _, r := range rows {
			row := Row{Person: int32(r[0].(int))}
			for _, v := range r[1:] {
				row.Values = append(row.Values, v.(string))
			}
			if !yield(row, nil) {
				return
			}
		}
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
