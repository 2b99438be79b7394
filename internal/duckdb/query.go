package duckdb

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/engine"
)

// Query renders plan as one SQL statement and its bound arguments (see the
// package documentation for its shape). The text depends only on the
// plan's structure and names; every value is an argument. seed picks the
// groups kept of a person in more than L0 (see internal/engine).
//
// The statement returns one row per group with at least one person, sorted
// by key: the key indices "_k<i>" (one per plan key, the index of the key
// in plan.Keys), the distinct-person count "_people", and for each sum or
// avg metric j its sum "_s<j>" and count "_c<j>".
func Query(plan *engine.Plan, seed uint64) (string, []any, error) {
	if len(plan.Datasets) == 0 {
		return "", nil, fmt.Errorf("render plan %q: no datasets", plan.Template)
	}
	q := &renderer{}
	// Where each key and metric is computed: the index of its dataset.
	keyDS := make([]int, len(plan.Keys))
	metricDS := make([]int, len(plan.Metrics))
	dsIndex := func(name string) (int, error) {
		for i, d := range plan.Datasets {
			if d.Name == name {
				return i, nil
			}
		}
		return 0, fmt.Errorf("render plan %q: dataset %q is not joined", plan.Template, name)
	}
	for i, k := range plan.Keys {
		j, err := dsIndex(k.Column.Dataset)
		if err != nil {
			return "", nil, err
		}
		keyDS[i] = j
	}
	for i, m := range plan.Metrics {
		if m.Kind == cleanroom.MetricCount {
			metricDS[i] = -1
			continue
		}
		j, err := dsIndex(m.Column.Dataset)
		if err != nil {
			return "", nil, err
		}
		metricDS[i] = j
	}

	q.sql.WriteString("WITH ")
	for d, ds := range plan.Datasets {
		if d > 0 {
			q.sql.WriteString(",\n")
		}
		fmt.Fprintf(&q.sql, "%s AS (\n  SELECT %s", quote(dsName(d)), quote(personColumn))
		group := []string{quote(personColumn)}
		for i, k := range plan.Keys {
			if keyDS[i] != d {
				continue
			}
			expr, err := q.key(&k)
			if err != nil {
				return "", nil, fmt.Errorf("render plan %q: %w", plan.Template, err)
			}
			fmt.Fprintf(&q.sql, ", %s AS %s", expr, quote(keyName(i)))
			group = append(group, quote(keyName(i)))
		}
		for i, m := range plan.Metrics {
			if metricDS[i] != d {
				continue
			}
			fmt.Fprintf(&q.sql, ", sum(%s) AS %s", q.clamp(quote(m.Column.Name), m.Lo, m.Hi), quote(metricName(i)))
		}
		fmt.Fprintf(&q.sql, "\n  FROM %s", quote(ds.Name))
		// Placeholders are positional: conditions are rendered in the order
		// they are written, filters first, then the key domains.
		var where []string
		for _, f := range ds.Filters {
			s, err := q.filter(f)
			if err != nil {
				return "", nil, fmt.Errorf("render plan %q: %w", plan.Template, err)
			}
			where = append(where, s)
		}
		for i, k := range plan.Keys {
			if keyDS[i] == d {
				where = append(where, q.domain(&k))
			}
		}
		if len(where) > 0 {
			fmt.Fprintf(&q.sql, "\n  WHERE %s", strings.Join(where, "\n    AND "))
		}
		fmt.Fprintf(&q.sql, "\n  GROUP BY %s\n)", strings.Join(group, ", "))
	}

	// Per person and group: join, clamp the person's totals, bound L0.
	var keys, vals []string
	for i := range plan.Keys {
		keys = append(keys, quote(keyName(i)))
	}
	fmt.Fprintf(&q.sql, ",\n%s AS (\n  SELECT %s", quote("_pg"), quote(personColumn))
	for _, k := range keys {
		q.sql.WriteString(", " + k)
	}
	for i, m := range plan.Metrics {
		if m.Kind == cleanroom.MetricCount {
			continue
		}
		fmt.Fprintf(&q.sql, ", CAST(%s AS BIGINT) AS %s", q.clamp(quote(metricName(i)), m.Lo, m.Hi), quote(valueName(i)))
		vals = append(vals, quote(valueName(i)))
	}
	fmt.Fprintf(&q.sql, "\n  FROM %s", quote(dsName(0)))
	for d := 1; d < len(plan.Datasets); d++ {
		fmt.Fprintf(&q.sql, " JOIN %s USING (%s)", quote(dsName(d)), quote(personColumn))
	}
	groups := int64(1)
	for i := range plan.Keys {
		if groups <= plan.MaxGroupsPerPerson {
			groups *= int64(plan.Keys[i].Groups())
		}
	}
	if groups > plan.MaxGroupsPerPerson {
		// engine.Rank: every product stays below 2^62.
		a, b := engine.RankParams(seed)
		rank := "CAST(" + q.arg(b) + " AS BIGINT)"
		for _, x := range append([]string{quote(personColumn)}, keys...) {
			rank = "(" + rank + " * " + q.arg(a) + " + " + x + ") % " + strconv.FormatInt(engine.RankModulus, 10)
		}
		rank = "(" + rank + " * " + q.arg(a) + ") % " + strconv.FormatInt(engine.RankModulus, 10)
		order := append([]string{rank}, keys...)
		fmt.Fprintf(&q.sql, "\n  QUALIFY row_number() OVER (PARTITION BY %s ORDER BY %s) <= %s",
			quote(personColumn), strings.Join(order, ", "), q.arg(plan.MaxGroupsPerPerson))
	}
	q.sql.WriteString("\n)\nSELECT ")
	out := append([]string{}, keys...)
	out = append(out, "count(*) AS "+quote("_people"))
	for i, m := range plan.Metrics {
		if m.Kind == cleanroom.MetricCount {
			continue
		}
		out = append(out, fmt.Sprintf("sum(%s) AS %s", quote(valueName(i)), quote("_s"+strconv.Itoa(i))),
			fmt.Sprintf("count(%s) AS %s", quote(valueName(i)), quote("_c"+strconv.Itoa(i))))
	}
	fmt.Fprintf(&q.sql, "%s\nFROM %s", strings.Join(out, ", "), quote("_pg"))
	if len(keys) > 0 {
		fmt.Fprintf(&q.sql, "\nGROUP BY %s\nORDER BY %s", strings.Join(keys, ", "), strings.Join(keys, ", "))
	}
	return q.sql.String(), q.args, nil
}

func dsName(d int) string     { return "_d" + strconv.Itoa(d) }
func keyName(i int) string    { return "_k" + strconv.Itoa(i) }
func metricName(i int) string { return "_m" + strconv.Itoa(i) }
func valueName(i int) string  { return "_v" + strconv.Itoa(i) }

// renderer accumulates SQL text and its arguments. Text that holds "?" is
// written to sql in the order its arguments were added.
type renderer struct {
	sql  strings.Builder
	args []any
}

// arg adds a bound argument and returns its placeholder.
func (q *renderer) arg(v any) string {
	q.args = append(q.args, v)
	return "?"
}

// clamp returns expr clamped to [lo, hi], NULL if expr is. (DuckDB's
// least and greatest skip NULLs: greatest(NULL, 0) is 0, which would turn
// a missing value into a value.)
func (q *renderer) clamp(expr string, lo, hi int64) string {
	return fmt.Sprintf("CASE WHEN %s < %s THEN %s WHEN %s > %s THEN %s ELSE %s END",
		expr, q.arg(lo), q.arg(lo), expr, q.arg(hi), q.arg(hi), expr)
}

// key returns the expression that maps a row in the key's domain to its
// key index.
func (q *renderer) key(k *engine.Key) (string, error) {
	c := quote(k.Column.Name)
	var b strings.Builder
	switch {
	case k.Categories != nil:
		b.WriteString("CASE " + c)
		for i, v := range k.Categories {
			fmt.Fprintf(&b, " WHEN %s THEN %d", q.arg(v), i)
		}
		b.WriteString(" END")
		return b.String(), nil
	case k.Edges != nil:
		n := len(k.Edges) - 1
		if n < 1 {
			return "", fmt.Errorf("key %s has no buckets", k.Column.Ref())
		}
		b.WriteString("CASE")
		for i := 1; i < n; i++ {
			fmt.Fprintf(&b, " WHEN %s < %s THEN %d", c, q.arg(k.Edges[i]), i-1)
		}
		fmt.Fprintf(&b, " ELSE %d END", n-1)
		return b.String(), nil
	case k.Column.Type == cleanroom.TypeBool:
		return "CAST(" + c + " AS INTEGER)", nil
	}
	return "", fmt.Errorf("key %s has no domain", k.Column.Ref())
}

// domain returns the condition that a row's value is in the key's domain,
// so that it falls in a group.
func (q *renderer) domain(k *engine.Key) string {
	c := quote(k.Column.Name)
	switch {
	case k.Categories != nil:
		ps := make([]string, len(k.Categories))
		for i, v := range k.Categories {
			ps[i] = q.arg(v)
		}
		return c + " IN (" + strings.Join(ps, ", ") + ")"
	case k.Edges != nil:
		return c + " BETWEEN " + q.arg(k.Edges[0]) + " AND " + q.arg(k.Edges[len(k.Edges)-1])
	}
	return c + " IS NOT NULL"
}

// filter renders a predicate.
func (q *renderer) filter(f engine.Predicate) (string, error) {
	c := quote(f.Column.Name)
	ph := func(v any) string {
		if f.Column.Type == cleanroom.TypeDate {
			return "CAST(" + q.arg(v) + " AS DATE)"
		}
		return q.arg(v)
	}
	switch f.Op {
	case engine.OpNone:
		return "FALSE", nil
	case engine.OpNotNull:
		return c + " IS NOT NULL", nil
	case engine.OpIn:
		if len(f.Values) == 0 {
			return "FALSE", nil
		}
		ps := make([]string, len(f.Values))
		for i, v := range f.Values {
			ps[i] = ph(v)
		}
		return c + " IN (" + strings.Join(ps, ", ") + ")", nil
	case engine.OpHas:
		if len(f.Values) != 1 {
			return "", fmt.Errorf("filter on %s: has with %d values", f.Column.Ref(), len(f.Values))
		}
		return "list_contains(string_split(" + c + ", ';'), " + ph(f.Values[0]) + ")", nil
	}
	if len(f.Values) != 1 {
		return "", fmt.Errorf("filter on %s: %s with %d values", f.Column.Ref(), f.Op, len(f.Values))
	}
	op := map[engine.Op]string{engine.OpEq: "=", engine.OpNe: "<>", engine.OpLt: "<", engine.OpLe: "<=", engine.OpGt: ">", engine.OpGe: ">="}[f.Op]
	if op == "" {
		return "", fmt.Errorf("filter on %s: unknown operator %q", f.Column.Ref(), f.Op)
	}
	return c + " " + op + " " + ph(f.Values[0]), nil
}
