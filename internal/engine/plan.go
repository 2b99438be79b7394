package engine

import (
	"strconv"
	"time"

	"github.com/cleanroom-dev/cleanroom"
)

// Plan is a compiled template: which datasets are joined on the room
// person, which rows count, how they are grouped, what is aggregated, and
// how each person's contribution is bounded (see the package
// documentation). It holds bound values, never SQL text. A Plan is not
// modified after Compile returns it and is safe for concurrent use.
type Plan struct {
	// Template and Version name the compiled template.
	Template string
	Version  int
	// Datasets are the joined datasets in the template's join order, each
	// with the filters on its columns. Their names are the names of the
	// tables an executor loads.
	Datasets []Dataset
	// Keys are the dimensions, in the template's group_by order. A group
	// is one index per key; no keys means a single group with an empty
	// key.
	Keys []Key
	// Metrics are the aggregates, in the template's order.
	Metrics []Metric
	// MaxGroupsPerPerson is L0: a person counts in at most this many
	// groups. At least 1.
	MaxGroupsPerPerson int64
	// Controls are the template's output controls, for the privacy core
	// and for explain; the engine itself uses only MaxGroupsPerPerson.
	Controls cleanroom.Controls
	// Params are the bound parameter values, for explain.
	Params map[string]cleanroom.Value
}

// Dataset is a joined dataset and the filters on its rows.
type Dataset struct {
	// Name is the dataset's name in the room, and the executor's table.
	Name string
	// Filters must all hold for a row to count.
	Filters []Predicate
}

// Column is an attribute column the plan reads.
type Column struct {
	Dataset string
	Name    string
	Type    cleanroom.ColumnType
	// Scale is the number of decimal places of a decimal column: its values
	// are integers in units of 10^-Scale. 0 for other types.
	Scale int
}

// Ref returns the column as a template writes it, "<dataset>.<column>".
func (c Column) Ref() string { return c.Dataset + "." + c.Name }

// Op is the comparison of a Predicate.
type Op string

// The predicate operators. OpNone and OpNotNull are what comparisons with
// values finer than a column's scale become.
const (
	OpEq      Op = "="
	OpNe      Op = "!="
	OpLt      Op = "<"
	OpLe      Op = "<="
	OpGt      Op = ">"
	OpGe      Op = ">="
	OpIn      Op = "in"          // one of Values
	OpHas     Op = "has"         // the ';'-separated list holds Values[0]
	OpNone    Op = "none"        // no row satisfies it
	OpNotNull Op = "is not null" // every row with a value satisfies it
)

// Predicate is one filter: Column Op Values. Values are in the column's
// stored representation, ready to be bound as query parameters: string for
// string columns, int64 for int and decimal columns (decimals scaled to the
// column's Scale), time.Time (midnight UTC) for dates, bool for bools. A
// missing value never satisfies a predicate.
type Predicate struct {
	Column Column
	Op     Op
	// Values holds one value, several for OpIn, none for OpNone and
	// OpNotNull.
	Values []any
	// Param names the template parameter the value came from, or is empty
	// for a literal. For explain only.
	Param string
}

// Key is a dimension: it maps a row's value to a group index, or to no
// group.
//
//   - A string column has Categories: index i is Categories[i]; any other
//     value is in no group.
//   - An int or decimal column has Edges, scaled like the column's values,
//     n+1 edges for n buckets: bucket i holds Edges[i] ≤ v < Edges[i+1],
//     and the last bucket also holds v = Edges[n]; values below Edges[0] or
//     above Edges[n] are in no group.
//   - A bool column has index 0 for false and 1 for true.
type Key struct {
	Column     Column
	Categories []string
	Edges      []int64
	// Labels names each group index for display: the category, the bucket
	// as the template wrote its edges ("[1000, 5000)"), or false and true.
	Labels []string
}

// Groups returns the number of groups of the key.
func (k *Key) Groups() int { return len(k.Labels) }

// Metric is an aggregate of a group.
type Metric struct {
	Name string
	Kind cleanroom.MetricKind
	// Column is the summed column; zero for MetricCount.
	Column Column
	// Lo and Hi are the clamp bounds in units of 10^-Column.Scale, applied
	// to every row's value and again to each person's total in a group.
	// Zero for MetricCount.
	Lo, Hi int64
}

// Result holds the TRUE, contribution-bounded aggregates of a run. It must
// never leave the room except through the privacy core (internal/dp),
// which selects, noises and coarsens it; see the package documentation.
type Result struct {
	// Groups are the groups with at least one person, sorted by Key.
	Groups []Group
}

// Group is the aggregates of one group.
type Group struct {
	// Key holds one group index per Plan.Keys (see Key).
	Key []int
	// People is the number of distinct room people in the group after
	// bounding: the true count the privacy core's selection tests.
	People int64
	// Metrics holds one Aggregate per Plan.Metrics.
	Metrics []Aggregate
}

// Aggregate is one metric of one group. For a sum or avg metric, Sum is the
// exact sum of the people's bounded totals in units of 10^-Scale, and
// Count the number of people with a value (the denominator of an average).
// For MetricCount both are the group's People.
type Aggregate struct {
	Sum   int64
	Count int64
}

// formatValue writes a stored value for explain.
func formatValue(c Column, v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case int64:
		if c.Type == cleanroom.TypeDecimal {
			return formatScaled(x, c.Scale)
		}
		return strconv.FormatInt(x, 10)
	case time.Time:
		return x.Format(time.DateOnly)
	case bool:
		return strconv.FormatBool(x)
	}
	return "?"
}

// formatScaled writes n·10^-scale with exactly scale decimal places.
func formatScaled(n int64, scale int) string {
	if scale == 0 {
		return strconv.FormatInt(n, 10)
	}
	neg := n < 0
	u := uint64(n)
	if neg {
		u = -u
	}
	s := strconv.FormatUint(u, 10)
	for len(s) <= scale {
		s = "0" + s
	}
	s = s[:len(s)-scale] + "." + s[len(s)-scale:]
	if neg {
		s = "-" + s
	}
	return s
}

// Columns returns the columns of the named dataset that the plan reads
// (filters, keys and metrics), each once, in that order of first use. An
// executor loads only these: no other plaintext column is held in memory.
func (p *Plan) Columns(dataset string) []Column {
	var out []Column
	add := func(c Column) {
		if c.Dataset != dataset {
			return
		}
		for _, o := range out {
			if o.Name == c.Name {
				return
			}
		}
		out = append(out, c)
	}
	for _, d := range p.Datasets {
		for _, f := range d.Filters {
			add(f.Column)
		}
	}
	for _, k := range p.Keys {
		add(k.Column)
	}
	for _, m := range p.Metrics {
		if m.Kind != cleanroom.MetricCount {
			add(m.Column)
		}
	}
	return out
}
