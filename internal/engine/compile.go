package engine

import (
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/template"
)

// maxScaled bounds every scaled value a plan holds: the privacy core's
// clamp bounds are at most ±2^61, and nothing larger is needed elsewhere.
const maxScaled = 1 << 61

// Compile compiles template t with its bound parameters b into a Plan over
// the room's schemas (dataset name → schema). t must be the template b was
// bound from (b.Template may be nil).
//
// The template is expected to have passed cleanroom.CheckTemplate when it
// was proposed; Compile checks again what it relies on to produce a safe
// plan: t validates; every joined dataset has a schema; every column is an
// attribute column of a joined dataset that its policy lets the template
// use that way (filters on filter or dimension columns, group-by on
// dimensions, sums on metrics; never identifiers or hidden columns); every
// parameter is bound to a value of a type the column takes; and every
// value, bucket edge and clamp bound is representable in the column's
// scaled integers. Errors are EInvalid *cleanroom.Error values naming the
// template field, wrapped with "compile template".
func Compile(t *cleanroom.Template, b template.Bound, schemas map[string]*cleanroom.Schema) (*Plan, error) {
	if t == nil {
		return nil, fmt.Errorf("compile template: %w", cleanroom.Errorf(cleanroom.EInvalid, "no template"))
	}
	p, err := compile(t, b, schemas)
	if err != nil {
		return nil, fmt.Errorf("compile template %q: %w", t.Name, err)
	}
	return p, nil
}

func compile(t *cleanroom.Template, b template.Bound, schemas map[string]*cleanroom.Schema) (*Plan, error) {
	if b.Template != nil && b.Template != t {
		return nil, cleanroom.Errorf(cleanroom.EInvalid, "the parameters were bound to template %q, not this one", b.Template.Name)
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	c := &compiler{t: t, schemas: schemas}
	p := &Plan{
		Template:           t.Name,
		Version:            t.Version,
		MaxGroupsPerPerson: t.Controls.MaxGroupsPerPerson,
		Controls:           t.Controls,
		Params:             b.Params,
	}
	for i, d := range t.Join {
		if schemas[d] == nil {
			return nil, cleanroom.Errorf(cleanroom.EInvalid, "join[%d]: dataset %q is not in the room", i, d)
		}
		p.Datasets = append(p.Datasets, Dataset{Name: d})
	}
	for i, f := range t.Where {
		pred, err := c.filter(f, b.Params)
		if err != nil {
			return nil, prefix(err, "where[%d]: ", i)
		}
		j := slices.IndexFunc(p.Datasets, func(d Dataset) bool { return d.Name == pred.Column.Dataset })
		p.Datasets[j].Filters = append(p.Datasets[j].Filters, pred)
	}
	for i, d := range t.GroupBy {
		k, err := c.key(d)
		if err != nil {
			return nil, prefix(err, "group_by[%d]: ", i)
		}
		p.Keys = append(p.Keys, k)
	}
	for i, m := range t.Metrics {
		pm, err := c.metric(m)
		if err != nil {
			return nil, prefix(err, "metrics[%d]: ", i)
		}
		p.Metrics = append(p.Metrics, pm)
	}
	if p.MaxGroupsPerPerson < 1 {
		return nil, cleanroom.Errorf(cleanroom.EInvalid, "controls.max_groups_per_person: %d, want at least 1", p.MaxGroupsPerPerson)
	}
	return p, nil
}

type compiler struct {
	t       *cleanroom.Template
	schemas map[string]*cleanroom.Schema
}

// column resolves a column reference to an attribute column of a joined
// dataset whose policy is one of allowed.
func (c *compiler) column(ref string, allowed ...cleanroom.ColumnPolicy) (Column, *cleanroom.AttributeColumn, error) {
	dataset, name, ok := cleanroom.SplitColumn(ref)
	if !ok {
		return Column{}, nil, cleanroom.Errorf(cleanroom.EInvalid, "%q is not a <dataset>.<column> reference", ref)
	}
	if !slices.Contains(c.t.Join, dataset) {
		return Column{}, nil, cleanroom.Errorf(cleanroom.EInvalid, "column %q: dataset %q is not joined", ref, dataset)
	}
	a := c.schemas[dataset].Attribute(name)
	if a == nil {
		return Column{}, nil, cleanroom.Errorf(cleanroom.EInvalid, "column %q is not an attribute column of %s", ref, dataset)
	}
	if !slices.Contains(allowed, a.Policy) {
		return Column{}, nil, cleanroom.Errorf(cleanroom.EInvalid, "column %q is a %s column; this use needs %v", ref, a.Policy, allowed)
	}
	col := Column{Dataset: dataset, Name: name, Type: a.Type}
	if a.Type == cleanroom.TypeDecimal {
		col.Scale = a.Scale
	}
	return col, a, nil
}

func (c *compiler) filter(f cleanroom.Filter, params map[string]cleanroom.Value) (Predicate, error) {
	col, _, err := c.column(f.Column, cleanroom.PolicyFilter, cleanroom.PolicyDimension)
	if err != nil {
		return Predicate{}, err
	}
	var values []cleanroom.Value
	if f.Param != "" {
		v, ok := params[f.Param]
		if !ok {
			return Predicate{}, cleanroom.Errorf(cleanroom.EInvalid, "parameter $%s is not bound", f.Param)
		}
		values = []cleanroom.Value{v}
	} else {
		for _, lit := range f.Values {
			v, err := cleanroom.ParseValue(col.Type, lit)
			if err != nil {
				return Predicate{}, prefix(err, "column %q: ", f.Column)
			}
			values = append(values, v)
		}
	}
	if len(values) == 0 || (len(values) > 1 && f.Op != cleanroom.OpIn) {
		return Predicate{}, cleanroom.Errorf(cleanroom.EInvalid, "operator %s with %d values", f.Op, len(values))
	}
	pred := Predicate{Column: col, Op: Op(f.Op), Param: f.Param}
	numeric := col.Type == cleanroom.TypeInt || col.Type == cleanroom.TypeDecimal
	if !numeric {
		if f.Op != cleanroom.OpEq && f.Op != cleanroom.OpNe && f.Op != cleanroom.OpIn && f.Op != cleanroom.OpHas && col.Type != cleanroom.TypeDate {
			return Predicate{}, cleanroom.Errorf(cleanroom.EInvalid, "operator %s does not apply to column %q of type %s", f.Op, f.Column, col.Type)
		}
		for _, v := range values {
			x, err := stored(col, v)
			if err != nil {
				return Predicate{}, err
			}
			pred.Values = append(pred.Values, x)
		}
		return pred, nil
	}
	// Numbers: compare the column's integers with the exact scaled value.
	for _, v := range values {
		r, err := scaledRat(col, v)
		if err != nil {
			return Predicate{}, err
		}
		switch f.Op {
		case cleanroom.OpEq, cleanroom.OpIn:
			if r.IsInt() {
				n, err := toInt64(r.Num(), f.Column)
				if err != nil {
					return Predicate{}, err
				}
				pred.Values = append(pred.Values, n)
			}
		case cleanroom.OpNe:
			if r.IsInt() {
				n, err := toInt64(r.Num(), f.Column)
				if err != nil {
					return Predicate{}, err
				}
				pred.Values = append(pred.Values, n)
			} else {
				pred.Op = OpNotNull
			}
		case cleanroom.OpLt, cleanroom.OpGe: // v < r ⇔ v < ⌈r⌉; v ≥ r ⇔ v ≥ ⌈r⌉
			n, err := toInt64(ceil(r), f.Column)
			if err != nil {
				return Predicate{}, err
			}
			pred.Values = append(pred.Values, n)
		case cleanroom.OpLe, cleanroom.OpGt: // v ≤ r ⇔ v ≤ ⌊r⌋; v > r ⇔ v > ⌊r⌋
			n, err := toInt64(floor(r), f.Column)
			if err != nil {
				return Predicate{}, err
			}
			pred.Values = append(pred.Values, n)
		default:
			return Predicate{}, cleanroom.Errorf(cleanroom.EInvalid, "unknown operator %q", string(f.Op))
		}
	}
	if len(pred.Values) == 0 && pred.Op != OpNotNull {
		pred.Op = OpNone // only values finer than the column's scale
	}
	if pred.Op == OpNotNull {
		pred.Values = nil
	}
	return pred, nil
}

// stored converts a non-numeric value to the column's stored
// representation.
func stored(col Column, v cleanroom.Value) (any, error) {
	if v.Type != col.Type {
		return nil, cleanroom.Errorf(cleanroom.EInvalid, "a %s value does not fit column %q of type %s", v.Type, col.Ref(), col.Type)
	}
	switch col.Type {
	case cleanroom.TypeString:
		return v.String, nil
	case cleanroom.TypeDate:
		return v.Date, nil
	case cleanroom.TypeBool:
		return v.Bool, nil
	}
	return nil, cleanroom.Errorf(cleanroom.EInvalid, "column %q has unknown type %q", col.Ref(), col.Type)
}

// scaledRat returns a numeric value times 10^scale of col, exactly.
func scaledRat(col Column, v cleanroom.Value) (*big.Rat, error) {
	var r *big.Rat
	switch {
	case v.Type == cleanroom.TypeInt:
		r = new(big.Rat).SetInt64(v.Int)
	case v.Type == cleanroom.TypeDecimal && v.Decimal != nil:
		r = new(big.Rat).Set(v.Decimal)
	default:
		return nil, cleanroom.Errorf(cleanroom.EInvalid, "a %s value does not fit column %q of type %s", v.Type, col.Ref(), col.Type)
	}
	return r.Mul(r, pow10(col.Scale)), nil
}

func pow10(n int) *big.Rat {
	return new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil))
}

func floor(r *big.Rat) *big.Int {
	q := new(big.Int)
	q.Div(r.Num(), r.Denom()) // Euclidean: rounds towards -∞ for a positive divisor
	return q
}

func ceil(r *big.Rat) *big.Int {
	q := floor(r)
	if !r.IsInt() {
		q.Add(q, big.NewInt(1))
	}
	return q
}

func toInt64(n *big.Int, ref string) (int64, error) {
	if !n.IsInt64() || n.Int64() > maxScaled || n.Int64() < -maxScaled {
		return 0, cleanroom.Errorf(cleanroom.EInvalid, "a value for column %q is out of range", ref)
	}
	return n.Int64(), nil
}

// floatRat returns x·10^scale exactly; x must be finite.
func floatRat(x float64, scale int) (*big.Rat, error) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil, cleanroom.Errorf(cleanroom.EInvalid, "%v is not a finite number", x)
	}
	r := new(big.Rat).SetFloat64(x)
	return r.Mul(r, pow10(scale)), nil
}

func (c *compiler) key(d cleanroom.Dimension) (Key, error) {
	col, a, err := c.column(d.Column, cleanroom.PolicyDimension)
	if err != nil {
		return Key{}, err
	}
	k := Key{Column: col}
	switch col.Type {
	case cleanroom.TypeString:
		k.Categories = slices.Clone(a.Categories)
		if len(d.Categories) > 0 {
			for _, v := range d.Categories {
				if !slices.Contains(a.Categories, v) {
					return Key{}, cleanroom.Errorf(cleanroom.EInvalid, "category %q is not a category of column %q", v, d.Column)
				}
			}
			k.Categories = slices.Clone(d.Categories)
		}
		if len(k.Categories) == 0 {
			return Key{}, cleanroom.Errorf(cleanroom.EInvalid, "column %q declares no categories", d.Column)
		}
		k.Labels = slices.Clone(k.Categories)
	case cleanroom.TypeInt, cleanroom.TypeDecimal:
		edges := a.Buckets
		if len(d.Buckets) > 0 {
			edges = d.Buckets
		}
		if len(edges) < 2 {
			return Key{}, cleanroom.Errorf(cleanroom.EInvalid, "column %q declares no buckets", d.Column)
		}
		for i, e := range edges {
			r, err := floatRat(e, col.Scale)
			if err != nil {
				return Key{}, prefix(err, "bucket edge %d: ", i)
			}
			// Integers v with v ≥ e are those with v ≥ ⌈e⌉; the last edge is
			// inclusive: v ≤ e ⇔ v ≤ ⌊e⌋.
			bound := ceil(r)
			if i == len(edges)-1 {
				bound = floor(r)
			}
			n, err := toInt64(bound, d.Column)
			if err != nil {
				return Key{}, err
			}
			k.Edges = append(k.Edges, n)
			if i > 0 {
				closing := ")"
				if i == len(edges)-1 {
					closing = "]"
				}
				k.Labels = append(k.Labels, "["+formatFloat(edges[i-1])+", "+formatFloat(e)+closing)
			}
		}
	case cleanroom.TypeBool:
		k.Labels = []string{"false", "true"}
	default:
		return Key{}, cleanroom.Errorf(cleanroom.EInvalid, "column %q of type %s cannot be grouped by", d.Column, col.Type)
	}
	return k, nil
}

func (c *compiler) metric(m cleanroom.Metric) (Metric, error) {
	pm := Metric{Name: m.Name, Kind: m.Kind}
	switch m.Kind {
	case cleanroom.MetricCount:
		return pm, nil
	case cleanroom.MetricSum, cleanroom.MetricAvg:
	default:
		return Metric{}, cleanroom.Errorf(cleanroom.EInvalid, "unknown metric kind %q", string(m.Kind))
	}
	col, a, err := c.column(m.Column, cleanroom.PolicyMetric)
	if err != nil {
		return Metric{}, err
	}
	if col.Type != cleanroom.TypeInt && col.Type != cleanroom.TypeDecimal {
		return Metric{}, cleanroom.Errorf(cleanroom.EInvalid, "column %q of type %s cannot be summed", m.Column, col.Type)
	}
	bounds := a.Clamp
	if m.Clamp != nil {
		bounds = m.Clamp
	}
	if bounds == nil {
		return Metric{}, cleanroom.Errorf(cleanroom.EInvalid, "column %q declares no clamp bounds", m.Column)
	}
	if a.Clamp != nil && (bounds[0] < a.Clamp[0] || bounds[1] > a.Clamp[1]) {
		return Metric{}, cleanroom.Errorf(cleanroom.EInvalid, "clamp [%g, %g] is not within the declared clamp [%g, %g] of column %q",
			bounds[0], bounds[1], a.Clamp[0], a.Clamp[1], m.Column)
	}
	lo, err := floatRat(bounds[0], col.Scale)
	if err != nil {
		return Metric{}, prefix(err, "clamp: ")
	}
	hi, err := floatRat(bounds[1], col.Scale)
	if err != nil {
		return Metric{}, prefix(err, "clamp: ")
	}
	// Round inwards, so the bounds stay within the declared ones.
	if pm.Lo, err = toInt64(ceil(lo), m.Column); err != nil {
		return Metric{}, err
	}
	if pm.Hi, err = toInt64(floor(hi), m.Column); err != nil {
		return Metric{}, err
	}
	if pm.Lo >= pm.Hi {
		return Metric{}, cleanroom.Errorf(cleanroom.EInvalid, "clamp [%g, %g] holds no two values at the scale of column %q", bounds[0], bounds[1], m.Column)
	}
	pm.Column = col
	return pm, nil
}

func formatFloat(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

// prefix prefixes the message of a domain error, keeping its code.
func prefix(err error, format string, args ...any) error {
	p := fmt.Sprintf(format, args...)
	if e, ok := err.(*cleanroom.Error); ok {
		c := *e
		c.Message = p + c.Message
		return &c
	}
	return fmt.Errorf("%s%w", p, err)
}
