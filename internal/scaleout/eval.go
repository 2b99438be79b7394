package scaleout

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/engine"
	"github.com/cleanroom-dev/cleanroom/internal/upload"
)

// This file holds the plan's arithmetic, engine-neutral: what a worker
// does to a row (filters, group keys, row clamps) and to a person (the
// per-dataset reduction, the join, the per-person clamp and the L0 bound),
// exactly as internal/engine documents it and internal/duckdb renders it.

// rowEval evaluates the rows of one joined dataset.
type rowEval struct {
	dataset int // the dataset's index in plan.Datasets
	cols    []engine.Column
	from    []int // payload attribute index of each of cols
	filters []predEval
	keys    []keyEval
	metrics []metricEval
}

type predEval struct {
	col  int
	pred engine.Predicate
}

type keyEval struct {
	col int
	key *engine.Key
}

type metricEval struct {
	col    int
	lo, hi int64
}

// newRowEval prepares the evaluation of dataset d of plan over a payload
// with header h.
func newRowEval(plan *engine.Plan, d int, h *upload.Header) (*rowEval, error) {
	name := plan.Datasets[d].Name
	e := &rowEval{dataset: d, cols: plan.Columns(name)}
	at := map[string]int{}
	for i, c := range e.cols {
		at[c.Name] = i
		j := slices.IndexFunc(h.Attributes, func(f upload.AttributeField) bool { return f.Column == c.Name })
		if j < 0 {
			return nil, fmt.Errorf("load %s: the payload has no column %s", name, c.Name)
		}
		if h.Attributes[j].Type != string(c.Type) {
			return nil, fmt.Errorf("load %s: column %s is %s in the payload, %s in the plan", name, c.Name, h.Attributes[j].Type, c.Type)
		}
		e.from = append(e.from, j)
	}
	for _, f := range plan.Datasets[d].Filters {
		e.filters = append(e.filters, predEval{col: at[f.Column.Name], pred: f})
	}
	for i := range plan.Keys {
		if k := &plan.Keys[i]; k.Column.Dataset == name {
			e.keys = append(e.keys, keyEval{col: at[k.Column.Name], key: k})
		}
	}
	for _, m := range plan.Metrics {
		if m.Kind != cleanroom.MetricCount && m.Column.Dataset == name {
			e.metrics = append(e.metrics, metricEval{col: at[m.Column.Name], lo: m.Lo, hi: m.Hi})
		}
	}
	return e, nil
}

// rowRecord is what a row contributes: its person, its key parts (the
// indices of the dataset's own keys, in plan order) and its row-clamped
// metric values (those of the dataset's own metrics, in plan order).
type rowRecord struct {
	dataset int
	person  int32
	keys    []int
	values  []optInt
}

type optInt struct {
	ok bool
	v  int64
}

// eval parses row line (1-based, for errors) of the payload and returns
// its record, or ok false when a filter or a key domain drops it. values
// are the payload's attribute values.
func (e *rowEval) eval(line int, person int32, values []string) (rec rowRecord, ok bool, err error) {
	typed := make([]any, len(e.cols))
	for i, c := range e.cols {
		if typed[i], err = engine.ParseValue(c, values[e.from[i]]); err != nil {
			return rowRecord{}, false, fmt.Errorf("row %d: column %s: %w", line, c.Name, err)
		}
	}
	for _, f := range e.filters {
		if !holds(f.pred, typed[f.col]) {
			return rowRecord{}, false, nil
		}
	}
	rec = rowRecord{dataset: e.dataset, person: person, keys: make([]int, len(e.keys)), values: make([]optInt, len(e.metrics))}
	for i, k := range e.keys {
		idx, in := keyIndex(k.key, typed[k.col])
		if !in {
			return rowRecord{}, false, nil
		}
		rec.keys[i] = idx
	}
	for i, m := range e.metrics {
		if v, isInt := typed[m.col].(int64); isInt {
			rec.values[i] = optInt{ok: true, v: min(max(v, m.lo), m.hi)}
		}
	}
	return rec, true, nil
}

// holds reports whether a stored value satisfies a predicate; a missing
// value satisfies none.
func holds(p engine.Predicate, v any) bool {
	if v == nil {
		return false
	}
	switch p.Op {
	case engine.OpNone:
		return false
	case engine.OpNotNull:
		return true
	case engine.OpIn:
		for _, w := range p.Values {
			if c, ok := compare(v, w); ok && c == 0 {
				return true
			}
		}
		return false
	case engine.OpHas:
		s, _ := v.(string)
		w, _ := p.Values[0].(string)
		return slices.Contains(strings.Split(s, ";"), w)
	}
	if len(p.Values) != 1 {
		return false
	}
	c, ok := compare(v, p.Values[0])
	if !ok {
		return false
	}
	switch p.Op {
	case engine.OpEq:
		return c == 0
	case engine.OpNe:
		return c != 0
	case engine.OpLt:
		return c < 0
	case engine.OpLe:
		return c <= 0
	case engine.OpGt:
		return c > 0
	case engine.OpGe:
		return c >= 0
	}
	return false
}

// compare orders two stored values of the same type.
func compare(a, b any) (int, bool) {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return strings.Compare(x, y), ok
	case int64:
		y, ok := b.(int64)
		return cmpInt(x, y), ok
	case time.Time:
		y, ok := b.(time.Time)
		return x.Compare(y), ok
	case bool:
		y, ok := b.(bool)
		return cmpInt(b2i(x), b2i(y)), ok
	}
	return 0, false
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// keyIndex maps a stored value to its group index, or in false when it is
// outside the key's domain.
func keyIndex(k *engine.Key, v any) (int, bool) {
	switch {
	case v == nil:
		return 0, false
	case k.Categories != nil:
		s, _ := v.(string)
		i := slices.Index(k.Categories, s)
		return i, i >= 0
	case k.Edges != nil:
		x, _ := v.(int64)
		n := len(k.Edges) - 1
		if n < 1 || x < k.Edges[0] || x > k.Edges[n] {
			return 0, false
		}
		for i := 1; i < n; i++ {
			if x < k.Edges[i] {
				return i - 1, true
			}
		}
		return n - 1, true
	}
	b, isBool := v.(bool)
	return int(b2i(b)), isBool
}

// int128 is an exact sum of int64 values.
type int128 struct {
	hi int64
	lo uint64
}

func (a int128) add(v int64) int128 {
	lo, c := bits.Add64(a.lo, uint64(v), 0)
	hi := a.hi + int64(c)
	if v < 0 {
		hi--
	}
	return int128{hi, lo}
}

func (a int128) plus(b int128) int128 {
	lo, c := bits.Add64(a.lo, b.lo, 0)
	return int128{a.hi + b.hi + int64(c), lo}
}

// int64 returns the sum if it fits.
func (a int128) int64() (int64, bool) {
	v := int64(a.lo)
	return v, (a.hi == 0 && v >= 0) || (a.hi == -1 && v < 0)
}

// clamp returns the sum clamped to [lo, hi].
func (a int128) clamp(lo, hi int64) int64 {
	if v, ok := a.int64(); ok {
		return min(max(v, lo), hi)
	}
	if a.hi < 0 {
		return lo
	}
	return hi
}

// partial is the aggregates of one group over some people: a slice of a
// Result's Group before the sums are checked to fit.
type partial struct {
	key    []int
	people int64
	sums   []int128 // one per plan metric; unused for counts
	counts []int64
}

// person reduces the records of one person to its contributions and adds
// them to the partials in acc (group key → partial): the per-dataset
// reduction by key parts, the inner join, the per-person clamp and the L0
// bound of internal/engine, with the order of engine.Rank under (a, b).
func personContributions(plan *engine.Plan, a, b int64, recs []rowRecord, acc map[string]*partial) {
	type entry struct {
		keys []int
		sums []int128
		has  []bool
	}
	per := make([][]*entry, len(plan.Datasets))
	index := make([]map[string]*entry, len(plan.Datasets))
	var person int32
	for _, r := range recs {
		person = r.person
		if index[r.dataset] == nil {
			index[r.dataset] = map[string]*entry{}
		}
		k := encodeInts(nil, r.keys)
		e := index[r.dataset][string(k)]
		if e == nil {
			e = &entry{keys: r.keys, sums: make([]int128, len(r.values)), has: make([]bool, len(r.values))}
			index[r.dataset][string(k)] = e
			per[r.dataset] = append(per[r.dataset], e)
		}
		for i, v := range r.values {
			if v.ok {
				e.sums[i] = e.sums[i].add(v.v)
				e.has[i] = true
			}
		}
	}
	for _, es := range per {
		if len(es) == 0 {
			return // the inner join: a person must be in every dataset
		}
	}
	// Where each key and metric comes from: dataset index and position
	// among that dataset's own keys or metrics.
	keyFrom, metricFrom := sources(plan)
	type combo struct {
		key    []int
		values []optInt
		rank   int64
	}
	var combos []combo
	pick := make([]int, len(plan.Datasets))
	for {
		c := combo{key: make([]int, len(plan.Keys)), values: make([]optInt, len(plan.Metrics))}
		for i, f := range keyFrom {
			c.key[i] = per[f.dataset][pick[f.dataset]].keys[f.pos]
		}
		for i, f := range metricFrom {
			if f.dataset < 0 {
				continue
			}
			e := per[f.dataset][pick[f.dataset]]
			if e.has[f.pos] {
				m := plan.Metrics[i]
				c.values[i] = optInt{ok: true, v: e.sums[f.pos].clamp(m.Lo, m.Hi)}
			}
		}
		combos = append(combos, c)
		// Next combination, the last dataset fastest.
		d := len(pick) - 1
		for ; d >= 0; d-- {
			if pick[d]++; pick[d] < len(per[d]) {
				break
			}
			pick[d] = 0
		}
		if d < 0 {
			break
		}
	}
	if int64(len(combos)) > plan.MaxGroupsPerPerson {
		for i := range combos {
			combos[i].rank = engine.Rank(a, b, int64(person), combos[i].key)
		}
		slices.SortFunc(combos, func(x, y combo) int {
			if c := cmpInt(x.rank, y.rank); c != 0 {
				return c
			}
			return slices.Compare(x.key, y.key)
		})
		combos = combos[:plan.MaxGroupsPerPerson]
	}
	for _, c := range combos {
		k := string(encodeInts(nil, c.key))
		p := acc[k]
		if p == nil {
			p = newPartial(plan, c.key)
			acc[k] = p
		}
		p.people++
		for i, v := range c.values {
			if v.ok {
				p.sums[i] = p.sums[i].add(v.v)
				p.counts[i]++
			}
		}
	}
}

func newPartial(plan *engine.Plan, key []int) *partial {
	return &partial{key: key, sums: make([]int128, len(plan.Metrics)), counts: make([]int64, len(plan.Metrics))}
}

type source struct{ dataset, pos int }

// sources says where each key and each metric of plan comes from: its
// dataset's index and its position among that dataset's keys or metrics
// (dataset -1 for a count).
func sources(plan *engine.Plan) (keys, metrics []source) {
	keyPos := make([]int, len(plan.Datasets))
	metricPos := make([]int, len(plan.Datasets))
	ds := func(name string) int {
		return slices.IndexFunc(plan.Datasets, func(d engine.Dataset) bool { return d.Name == name })
	}
	for _, k := range plan.Keys {
		d := ds(k.Column.Dataset)
		keys = append(keys, source{d, keyPos[d]})
		keyPos[d]++
	}
	for _, m := range plan.Metrics {
		if m.Kind == cleanroom.MetricCount {
			metrics = append(metrics, source{-1, 0})
			continue
		}
		d := ds(m.Column.Dataset)
		metrics = append(metrics, source{d, metricPos[d]})
		metricPos[d]++
	}
	return keys, metrics
}

// checkPlan refuses a plan whose keys or metrics name a dataset it does
// not join, as the DuckDB executor does.
func checkPlan(plan *engine.Plan) error {
	if len(plan.Datasets) == 0 {
		return fmt.Errorf("plan %q: no datasets", plan.Template)
	}
	if len(plan.Datasets) > 255 {
		return fmt.Errorf("plan %q: %d datasets", plan.Template, len(plan.Datasets))
	}
	joined := func(name string) bool {
		return slices.ContainsFunc(plan.Datasets, func(d engine.Dataset) bool { return d.Name == name })
	}
	for _, k := range plan.Keys {
		if !joined(k.Column.Dataset) {
			return fmt.Errorf("plan %q: dataset %q is not joined", plan.Template, k.Column.Dataset)
		}
	}
	for _, m := range plan.Metrics {
		if m.Kind != cleanroom.MetricCount && !joined(m.Column.Dataset) {
			return fmt.Errorf("plan %q: dataset %q is not joined", plan.Template, m.Column.Dataset)
		}
	}
	return nil
}

// merge adds partial q into p.
func (p *partial) merge(q *partial) {
	p.people += q.people
	for i := range p.sums {
		p.sums[i] = p.sums[i].plus(q.sums[i])
		p.counts[i] += q.counts[i]
	}
}

// group returns the partial as a Result group, or an error if a sum does
// not fit in an int64.
func (p *partial) group(plan *engine.Plan) (engine.Group, error) {
	g := engine.Group{Key: p.key, People: p.people, Metrics: make([]engine.Aggregate, len(plan.Metrics))}
	for i, m := range plan.Metrics {
		if m.Kind == cleanroom.MetricCount {
			g.Metrics[i] = engine.Aggregate{Sum: p.people, Count: p.people}
			continue
		}
		s, ok := p.sums[i].int64()
		if !ok {
			return engine.Group{}, fmt.Errorf("metric %s: sum: overflows int64", m.Name)
		}
		g.Metrics[i] = engine.Aggregate{Sum: s, Count: p.counts[i]}
	}
	return g, nil
}

// The binary forms of records and partials, sealed before every shuffle.

func encodeInts(b []byte, xs []int) []byte {
	for _, x := range xs {
		b = binary.AppendUvarint(b, uint64(x))
	}
	return b
}

func (r *rowRecord) encode() []byte {
	b := []byte{byte(r.dataset)}
	b = binary.AppendUvarint(b, uint64(r.person))
	b = binary.AppendUvarint(b, uint64(len(r.keys)))
	b = encodeInts(b, r.keys)
	b = binary.AppendUvarint(b, uint64(len(r.values)))
	for _, v := range r.values {
		if !v.ok {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		b = binary.AppendVarint(b, v.v)
	}
	return b
}

var errRecord = errors.New("malformed record")

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errRecord
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errRecord
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.err = errRecord
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// count reads a length and checks it against what the rest can hold.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err = errRecord
		return 0
	}
	return int(n)
}

func decodeRecord(b []byte) (rowRecord, error) {
	d := &decoder{b: b}
	r := rowRecord{dataset: int(d.byte())}
	r.person = int32(d.uvarint())
	r.keys = make([]int, d.count())
	for i := range r.keys {
		r.keys[i] = int(d.uvarint())
	}
	r.values = make([]optInt, d.count())
	for i := range r.values {
		if d.byte() == 1 {
			r.values[i] = optInt{ok: true, v: d.varint()}
		}
	}
	if d.err != nil || len(d.b) != 0 {
		return rowRecord{}, errRecord
	}
	return r, nil
}

func (p *partial) encode() []byte {
	b := binary.AppendUvarint(nil, uint64(len(p.key)))
	b = encodeInts(b, p.key)
	b = binary.AppendUvarint(b, uint64(p.people))
	b = binary.AppendUvarint(b, uint64(len(p.sums)))
	for i := range p.sums {
		b = binary.AppendVarint(b, p.sums[i].hi)
		b = binary.AppendUvarint(b, p.sums[i].lo)
		b = binary.AppendUvarint(b, uint64(p.counts[i]))
	}
	return b
}

func decodePartial(b []byte) (*partial, error) {
	d := &decoder{b: b}
	p := &partial{key: make([]int, d.count())}
	for i := range p.key {
		p.key[i] = int(d.uvarint())
	}
	p.people = int64(d.uvarint())
	n := d.count()
	p.sums, p.counts = make([]int128, n), make([]int64, n)
	for i := range n {
		p.sums[i] = int128{hi: d.varint(), lo: d.uvarint()}
		p.counts[i] = int64(d.uvarint())
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, errRecord
	}
	return p, nil
}
