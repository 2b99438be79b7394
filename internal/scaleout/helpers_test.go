package scaleout

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/duckdb"
	"github.com/cleanroom-dev/cleanroom/internal/engine"
	"github.com/cleanroom-dev/cleanroom/internal/library"
	"github.com/cleanroom-dev/cleanroom/internal/template"
	"github.com/cleanroom-dev/cleanroom/internal/upload"
)

// demoSchemas are the schemas the shipped templates are written for.
func demoSchemas(t testing.TB) map[string]*cleanroom.Schema {
	t.Helper()
	out := map[string]*cleanroom.Schema{}
	for _, name := range []string{"subscribers", "customers"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "cmd", "cleanroom", "demodata", name+".schema.json"))
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

// paramValues are the values the tests bind to the shipped templates'
// parameters.
var paramValues = map[string]string{"product": "mortgage", "flag": "true", "since": "2020-06-01", "tier": "premium"}

// shippedPlans compiles every shipped template that the query engines run
// (templates of grouped aggregates; attribution, model and look-alike
// templates run in the room's own code, not on an engine).
func shippedPlans(t testing.TB) map[string]*engine.Plan {
	t.Helper()
	schemas := demoSchemas(t)
	all, err := library.All()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*engine.Plan{}
	for _, e := range all {
		tp := e.Template
		if tp.Attribution != nil || tp.Model != nil || tp.Lookalike != nil {
			continue
		}
		params := map[string]string{}
		for _, name := range tp.ParameterNames() {
			v, ok := paramValues[name]
			if !ok {
				t.Fatalf("template %s: add a test value for parameter $%s", e.Name, name)
			}
			params[name] = v
		}
		b, err := template.Bind(tp, params)
		if err != nil {
			t.Fatalf("%s: %v", e.Name, err)
		}
		p, err := engine.Compile(tp, b, schemas)
		if err != nil {
			t.Fatalf("%s: %v", e.Name, err)
		}
		out[e.Name] = p
	}
	if len(out) < 4 {
		t.Fatalf("%d shipped plan templates, want at least 4", len(out))
	}
	return out
}

// version is a synthetic dataset version: its payload and its rows' room
// people.
type version struct {
	dataset string
	payload []byte
	persons []int32
}

func (v *version) input() Input {
	return Input{Dataset: v.dataset, Persons: v.persons, Open: func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(v.payload)), nil
	}}
}

// synthVersion writes n rows of random values for every attribute of
// schema, including missing values and values outside every declared
// domain, over people 0..people-1 (so that people have several rows) and
// about one row in ten without a person.
func synthVersion(t testing.TB, dataset string, schema *cleanroom.Schema, n, people int, rng *rand.Rand) *version {
	t.Helper()
	h := upload.Header{Room: "r", Dataset: dataset, Version: 1, Rows: n,
		Identifiers: []upload.IdentifierField{{Column: "phone", Class: "phone"}}}
	for _, a := range schema.Attributes {
		h.Attributes = append(h.Attributes, upload.AttributeField{Column: a.Column, Type: string(a.Type)})
	}
	var buf bytes.Buffer
	w, err := upload.NewWriter(&buf, h)
	if err != nil {
		t.Fatal(err)
	}
	v := &version{dataset: dataset}
	vals := make([]string, len(schema.Attributes))
	for range n {
		p := int32(rng.IntN(people))
		if rng.IntN(10) == 0 {
			p = -1
		}
		v.persons = append(v.persons, p)
		for i := range schema.Attributes {
			vals[i] = synthValue(&schema.Attributes[i], rng)
		}
		if err := w.Write(upload.Row{Tokens: []*upload.Token{nil}, Values: vals}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	v.payload = buf.Bytes()
	return v
}

func synthValue(a *cleanroom.AttributeColumn, rng *rand.Rand) string {
	if rng.IntN(20) == 0 {
		return ""
	}
	switch a.Type {
	case cleanroom.TypeString:
		if len(a.Categories) > 0 {
			if rng.IntN(20) == 0 {
				return "other"
			}
			return a.Categories[rng.IntN(len(a.Categories))]
		}
		var parts []string
		for _, p := range []string{"mortgage", "card", "loan", "deposit"} {
			if rng.IntN(3) == 0 {
				parts = append(parts, p)
			}
		}
		return strings.Join(parts, ";")
	case cleanroom.TypeDecimal, cleanroom.TypeInt:
		hi := 1000.0
		switch {
		case len(a.Buckets) > 0:
			hi = a.Buckets[len(a.Buckets)-1] / 1000
		case a.Clamp != nil:
			hi = a.Clamp[1]
		}
		x := (rng.Float64()*1.3 - 0.1) * hi
		if a.Type == cleanroom.TypeInt {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'f', a.Scale, 64)
	case cleanroom.TypeDate:
		return time.Date(2018, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(7*365)).Format(time.DateOnly)
	case cleanroom.TypeBool:
		return strconv.FormatBool(rng.IntN(2) == 0)
	}
	return ""
}

// synthRoom makes a version of subscribers and customers over the same
// people.
func synthRoom(t testing.TB, rows, people int, seed uint64) []*version {
	t.Helper()
	schemas := demoSchemas(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	return []*version{
		synthVersion(t, "subscribers", schemas["subscribers"], rows, people, rng),
		synthVersion(t, "customers", schemas["customers"], rows, people, rng),
	}
}

func inputs(vs []*version) []Input {
	var out []Input
	for _, v := range vs {
		out = append(out, v.input())
	}
	return out
}

// runDuckDB runs plan on the DuckDB executor.
func runDuckDB(t testing.TB, plan *engine.Plan, vs []*version, seed uint64) *engine.Result {
	t.Helper()
	ctx := context.Background()
	db, err := duckdb.Open(ctx, duckdb.Limits{MemoryLimit: 1 << 30, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, d := range plan.Datasets {
		for _, v := range vs {
			if v.dataset != d.Name {
				continue
			}
			rd, err := upload.NewReader(bytes.NewReader(v.payload))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.LoadVersion(ctx, plan, d.Name, rd, v.persons); err != nil {
				t.Fatal(err)
			}
		}
	}
	res, err := db.Run(ctx, plan, seed)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// sameResult fails t unless two results are equal, showing the first
// difference.
func sameResult(t testing.TB, label string, got, want *engine.Result) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	if len(got.Groups) != len(want.Groups) {
		t.Fatalf("%s: %d groups, DuckDB %d:\n got %+v\nwant %+v", label, len(got.Groups), len(want.Groups), got.Groups, want.Groups)
	}
	for i := range got.Groups {
		if !reflect.DeepEqual(got.Groups[i], want.Groups[i]) {
			t.Fatalf("%s: group %d is %+v, DuckDB %+v", label, i, got.Groups[i], want.Groups[i])
		}
	}
	t.Fatalf("%s: results differ: %s", label, fmt.Sprint(got, want))
}
