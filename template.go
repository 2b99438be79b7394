package cleanroom

import (
	"fmt"
	"math"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Template is an approved query: a question the parties agreed on upfront,
// written as data rather than SQL text (DESIGN.md, "Approved query
// templates"). It names the datasets it joins on the matched person, the
// filters, dimensions and metrics over their columns, the typed parameters
// an analyst binds at run time, and the output controls of every release.
// The engine compiles it; parameters are bound values, never SQL.
//
// Columns are written "<dataset>.<column>", where <dataset> is the name of a
// dataset in the room. Every provider whose data the template reads (see
// Readers) approves it with a signature over its canonical encoding, so a
// Template holds only content: its lifecycle is kept in a TemplateRecord.
// A change is a new Version.
//
// Validate checks what a template can check on its own; CheckTemplate
// checks it against the room's schemas and column policies. The YAML form
// is parsed by internal/template.
type Template struct {
	// Name identifies the template in a room (ValidateName rules).
	Name string `json:"name"`
	// Version is 1 for the first proposal and grows with every change.
	Version int `json:"version"`
	// Question is the question the template answers, in plain words.
	Question string `json:"question"`
	// Join lists the datasets joined on the matched person; a single
	// dataset reads only its own people. At least one, each once.
	Join []string `json:"join"`
	// Parameters are the values an analyst binds at run time, by name.
	// Each is referred to as "$name" in Where and must be used there.
	Parameters map[string]Parameter `json:"parameters,omitempty"`
	// Where lists conditions that all hold for a person to be counted.
	Where []Filter `json:"where,omitempty"`
	// GroupBy lists the dimensions the release is broken down by; none
	// means a single group.
	GroupBy []Dimension `json:"group_by,omitempty"`
	// Metrics are the aggregates released per group; at least one.
	Metrics []Metric `json:"metrics"`
	// Controls are the output controls of every release.
	Controls Controls `json:"controls"`
	// Attribution, when set, makes the template an attribution-and-lift
	// job instead of a query (see Attribution); it then has no parameters,
	// where, group_by or metrics of its own.
	Attribution *Attribution `json:"attribution,omitempty"`
	// Model, when set, makes the template an in-room model job (see
	// ModelJob), with no parameters, where, group_by or metrics either.
	Model *ModelJob `json:"model,omitempty"`
	// Lookalike, when set, makes the template a look-alike audience job
	// (see LookalikeJob).
	Lookalike *LookalikeJob `json:"lookalike,omitempty"`
}

// Parameter is a typed value an analyst supplies when running a template.
// Bounds and enum values are written as text in the format of the
// parameter's type, so they stay exact in the canonical encoding.
type Parameter struct {
	Type ParamType `json:"type"`
	// Values are the allowed values of an enum: required for enums, one or
	// more, each once; not allowed for other types.
	Values []string `json:"values,omitempty"`
	// Min and Max are the inclusive bounds of an int, decimal or date
	// parameter: required for int and decimal, optional for date; not
	// allowed for enum and bool.
	Min string `json:"min,omitempty"`
	Max string `json:"max,omitempty"`
}

// ParamType is the type of a template parameter.
type ParamType string

// The parameter types and the column types each may be compared with.
const (
	ParamEnum    ParamType = "enum"    // one of Values; string columns
	ParamInt     ParamType = "int"     // a 64-bit integer: int and decimal columns
	ParamDecimal ParamType = "decimal" // digits with '.' as separator: decimal columns
	ParamDate    ParamType = "date"    // YYYY-MM-DD: date columns
	ParamBool    ParamType = "bool"    // true or false: bool columns
)

// ParamTypes lists every parameter type.
var ParamTypes = []ParamType{ParamEnum, ParamInt, ParamDecimal, ParamDate, ParamBool}

// Filter is one condition of a template's where clause: a column compared
// with literal values or with a parameter. Never SQL text: the engine turns
// it into a comparison with bound values.
type Filter struct {
	// Column is "<dataset>.<column>".
	Column string `json:"column"`
	Op     Op     `json:"op"`
	// Values are the literals the column is compared with, written as text
	// in the format of the column's type: exactly one for every operator
	// but OpIn, one or more for OpIn. Empty when Param is set.
	Values []string `json:"values,omitempty"`
	// Param names the parameter (without '$') whose bound value the column
	// is compared with, instead of Values. Not allowed with OpIn.
	Param string `json:"param,omitempty"`
}

// Op is the comparison operator of a Filter.
type Op string

// The operators. Ordering operators apply to int, decimal and date columns.
const (
	OpEq = Op("=")
	OpNe = Op("!=")
	OpLt = Op("<")
	OpLe = Op("<=")
	OpGt = Op(">")
	OpGe = Op(">=")
	OpIn = Op("in") // one of a list of literals
	// OpHas holds when a string column holding a ';'-separated list (a
	// customer's products, say) has the value as one of its items.
	OpHas = Op("has")
)

// Ops lists every operator.
var Ops = []Op{OpEq, OpNe, OpLt, OpLe, OpGt, OpGe, OpIn, OpHas}

// Dimension is a column a release is grouped by. It must be a dimension
// column of its owner, grouped over the owner's declared public domain or a
// coarser one the template declares.
type Dimension struct {
	// Column is "<dataset>.<column>".
	Column string `json:"column"`
	// Buckets optionally coarsens an int or decimal dimension: a subset of
	// the column's declared bucket edges that keeps the first and the last.
	Buckets []float64 `json:"buckets,omitempty"`
	// Categories optionally narrows a string dimension to a subset of its
	// declared categories: only those groups are released, and people with
	// another value are in no group.
	Categories []string `json:"categories,omitempty"`
}

// Metric is an aggregate released per group.
type Metric struct {
	// Name names the metric in results (column-name rules), unique in the
	// template.
	Name string     `json:"name"`
	Kind MetricKind `json:"kind"`
	// Column is the "<dataset>.<column>" summed or averaged: required for
	// MetricSum and MetricAvg, a metric column of its owner; not allowed for
	// MetricCount.
	Column string `json:"column,omitempty"`
	// Clamp optionally narrows the column's declared clamp bounds, [lo, hi]
	// within them; values are clamped to it before they are added. Empty
	// means the declared bounds. Not allowed for MetricCount.
	Clamp *[2]float64 `json:"clamp,omitempty"`
}

// MetricKind is the aggregate a Metric computes.
type MetricKind string

// The metric kinds.
const (
	// MetricCount counts the distinct matched people of a group.
	MetricCount MetricKind = "count_distinct_person"
	// MetricSum sums a metric column, clamped, as scaled integers.
	MetricSum MetricKind = "sum"
	// MetricAvg is a noisy clamped sum divided by a noisy count.
	MetricAvg MetricKind = "avg"
)

// MetricKinds lists every metric kind.
var MetricKinds = []MetricKind{MetricCount, MetricSum, MetricAvg}

// Controls are a template's output controls (DESIGN.md, "Output controls
// and privacy"). Exactly one of Rho and Epsilon is set: it is the budget of
// one release of the template, every metric and the partition selection
// together, charged to every dataset the template reads.
type Controls struct {
	// MinGroupSize is the hard minimum k: a group of fewer distinct people
	// is never released. At least MinGroupSizeFloor, at most
	// MaxMinGroupSize; internal/template fills in DefaultMinGroupSize when
	// the YAML leaves it out.
	MinGroupSize int64 `json:"min_group_size"`
	// Rho is the ρ-zCDP budget of a release with Gaussian noise, in
	// (0, MaxReleaseRho].
	Rho float64 `json:"rho,omitempty"`
	// Epsilon is the ε-DP budget of a release with Laplace noise, in
	// (0, MaxReleaseEpsilon].
	Epsilon float64 `json:"epsilon,omitempty"`
	// MaxGroupsPerPerson (L0) is the largest number of groups one person
	// counts in; each person's contribution is bounded to it. At least 1
	// and at most the number of groups; internal/template fills in
	// DefaultMaxGroupsPerPerson when the YAML leaves it out.
	MaxGroupsPerPerson int64 `json:"max_groups_per_person"`
	// Coarsen is the step every released value is rounded to after the
	// noise is added (never instead of it); 0 means no rounding.
	Coarsen float64 `json:"coarsen,omitempty"`
	// ReviewBy lists the parties that must approve each result before it
	// is released; what they see is charged like a release.
	ReviewBy []string `json:"review_by,omitempty"`
	// Receivers lists the parties released results are sealed to; at least
	// one.
	Receivers []string `json:"receivers"`
}

// Defaults and limits of templates. MinGroupSizeFloor, MaxReleaseRho and
// MaxReleaseEpsilon are the privacy core's DefaultMinGroupSize, MaxRho and
// MaxEpsilon (internal/dp; a test keeps them equal), so a template that
// validates is one the privacy core accepts.
const (
	DefaultMinGroupSize       = 100 // the room's minimum group size k
	MinGroupSizeFloor         = 100 // no template may lower k below it
	MaxMinGroupSize           = 1_000_000_000
	DefaultMaxGroupsPerPerson = 1
	MaxReleaseRho             = 1000
	MaxReleaseEpsilon         = 40
	BudgetQuantum             = 1e-12 // the smallest ρ or ε the privacy core accounts

	MaxQuestionBytes = 2000 // of a template's question
	MaxTemplateItems = 100  // parameters, filters, dimensions and metrics, each
)

// TemplateState is where a template version is in its lifecycle. It is kept
// outside the Template, so the digest parties sign never changes with it.
type TemplateState string

// The template states.
const (
	// TemplateProposed templates wait for the approval of every reader.
	TemplateProposed TemplateState = "proposed"
	// TemplateApproved templates have every reader's approval and may run
	// where the active DUA permits them.
	TemplateApproved TemplateState = "approved"
	// TemplateRetired templates never run again; the state is final.
	TemplateRetired TemplateState = "retired"
)

// CanBecome reports whether a template in state s may move to next:
// proposed → approved, proposed → retired and approved → retired.
func (s TemplateState) CanBecome(next TemplateState) bool {
	switch s {
	case TemplateProposed:
		return next == TemplateApproved || next == TemplateRetired
	case TemplateApproved:
		return next == TemplateRetired
	}
	return false
}

// TemplateRecord is a template version as a room keeps it: the content the
// readers sign, its digest, and the lifecycle state beside them.
type TemplateRecord struct {
	Template Template `json:"template"`
	// Digest is the hex SHA-256 of the template's canonical encoding, the
	// value approvals sign.
	Digest     string        `json:"digest"`
	State      TemplateState `json:"state"`
	ProposedBy string        `json:"proposed_by"` // the proposing party
	ProposedAt time.Time     `json:"proposed_at"`
	// ApprovedBy lists the parties whose approval of Digest verified,
	// sorted.
	ApprovedBy []string `json:"approved_by,omitempty"`
}

// Pending returns the readers of the template (see Readers) that have not
// approved it yet, sorted. The template may run only when none is pending.
func (r *TemplateRecord) Pending(owners map[string]string) []string {
	var out []string
	for _, p := range r.Template.Readers(owners) {
		if !slices.Contains(r.ApprovedBy, p) {
			out = append(out, p)
		}
	}
	return out
}

// Readers returns the parties whose data the template reads, sorted: the
// owners of the joined datasets, given owners (dataset → owning party).
// Each of them must approve the template. Datasets without an owner in
// owners are skipped; CheckTemplate rejects them.
func (t *Template) Readers(owners map[string]string) []string {
	var out []string
	for _, d := range t.Join {
		if p, ok := owners[d]; ok && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// CheckParties checks that the template's reviewers and receivers are
// parties invited to room.
func (t *Template) CheckParties(room *Room) error {
	for i, p := range t.Controls.ReviewBy {
		if !room.HasParty(p) {
			return Errorf(EInvalid, "controls.review_by[%d]: party %q is not in room %q", i, p, room.Name).
				WithHint("reviewers are parties of the room: %s", strings.Join(room.Parties, ", "))
		}
	}
	for i, p := range t.Controls.Receivers {
		if !room.HasParty(p) {
			return Errorf(EInvalid, "controls.receivers[%d]: party %q is not in room %q", i, p, room.Name).
				WithHint("receivers are parties of the room: %s", strings.Join(room.Parties, ", "))
		}
	}
	return nil
}

// SplitColumn splits a column reference "<dataset>.<column>" into its
// dataset and column names. ok is false if ref is not of that form.
func SplitColumn(ref string) (dataset, column string, ok bool) {
	dataset, column, ok = strings.Cut(ref, ".")
	if !ok || !nameRE.MatchString(dataset) || !columnNameRE.MatchString(column) {
		return "", "", false
	}
	return dataset, column, true
}

// Validate checks the invariants a template can check on its own and
// returns the first broken one as an EInvalid error whose message starts
// with the template field it names ("where[1]: ...", "controls.rho: ..."):
//
//   - a valid name, a version of 1 or more, a question of printable text
//     up to MaxQuestionBytes;
//   - join lists at least one dataset, each a valid name, once;
//   - parameters: valid names, a known type, enum values for enums, min and
//     max of the type's format (required for int and decimal) with
//     min ≤ max, and every parameter used in where;
//   - where: a "<dataset>.<column>" reference, a known operator, one
//     literal or one declared $parameter (one or more literals for "in");
//   - group_by: column references, each once; buckets strictly increasing
//     and finite, categories non-empty and unique, not both;
//   - metrics: at least one, unique valid names, a known kind, a column for
//     sum and avg and none for counts, clamp finite with lo < hi;
//   - controls: min_group_size in [MinGroupSizeFloor, MaxMinGroupSize];
//     exactly one of rho and epsilon, positive, at least BudgetQuantum and
//     within MaxReleaseRho or MaxReleaseEpsilon; max_groups_per_person at
//     least 1; coarsen finite and not negative; at least one receiver; valid
//     party names, each once.
func (t *Template) Validate() error {
	if err := ValidateName("template name", t.Name); err != nil {
		return prefixErr(err, "name: ")
	}
	if t.Version < 1 {
		return Errorf(EInvalid, "version: %d is not a version; the first version is 1", t.Version).
			WithHint("a change to an approved template is proposed as the next version")
	}
	switch {
	case strings.TrimSpace(t.Question) == "":
		return Errorf(EInvalid, "question: is empty").
			WithHint("say in plain words what the template answers; approvers read it")
	case len(t.Question) > MaxQuestionBytes:
		return Errorf(EInvalid, "question: %d bytes, over the limit of %d", len(t.Question), MaxQuestionBytes)
	case !printable(t.Question, true):
		return Errorf(EInvalid, "question: is not printable UTF-8 text")
	}
	if err := t.validateJoin(); err != nil {
		return err
	}
	if t.Lookalike != nil {
		if err := t.validateLookalike(); err != nil {
			return err
		}
		return t.Controls.validate()
	}
	if t.Model != nil {
		if err := t.validateModel(); err != nil {
			return err
		}
		return t.Controls.validate()
	}
	if t.Attribution != nil {
		if err := t.validateAttribution(); err != nil {
			return err
		}
		return t.Controls.validate()
	}
	if err := t.validateParameters(); err != nil {
		return err
	}
	if err := t.validateWhere(); err != nil {
		return err
	}
	if err := t.validateGroupBy(); err != nil {
		return err
	}
	if err := t.validateMetrics(); err != nil {
		return err
	}
	return t.Controls.validate()
}

func (t *Template) validateJoin() error {
	if len(t.Join) == 0 {
		return Errorf(EInvalid, "join: names no dataset").
			WithHint("list the datasets the template reads, joined on the matched person, e.g. join: [subscribers, customers]")
	}
	if len(t.Join) > MaxTemplateItems {
		return Errorf(EInvalid, "join: %d datasets, over the limit of %d", len(t.Join), MaxTemplateItems)
	}
	for i, d := range t.Join {
		if err := ValidateName("dataset name", d); err != nil {
			return prefixErr(err, "join[%d]: ", i)
		}
		if slices.Index(t.Join, d) < i {
			return Errorf(EInvalid, "join[%d]: dataset %q is listed twice", i, d)
		}
	}
	return nil
}

func (t *Template) validateParameters() error {
	if len(t.Parameters) > MaxTemplateItems {
		return Errorf(EInvalid, "parameters: %d parameters, over the limit of %d", len(t.Parameters), MaxTemplateItems)
	}
	for _, name := range t.ParameterNames() {
		if !columnNameRE.MatchString(name) {
			return Errorf(EInvalid, "parameters: name %q is not valid", name).
				WithHint("use 1-63 lower-case letters, digits and '_', starting with a letter")
		}
		p := t.Parameters[name]
		if err := p.validate(); err != nil {
			return prefixErr(err, "parameters.%s: ", name)
		}
		used := false
		for _, f := range t.Where {
			used = used || f.Param == name
		}
		if !used {
			return Errorf(EInvalid, "parameters.%s: is not used in where", name).
				WithHint("compare a column with $%s in where, or remove the parameter", name)
		}
	}
	return nil
}

// ParameterNames returns the names of the template's parameters, sorted.
func (t *Template) ParameterNames() []string {
	names := make([]string, 0, len(t.Parameters))
	for n := range t.Parameters {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (p *Parameter) validate() error {
	if !slices.Contains(ParamTypes, p.Type) {
		hint := "type is enum, int, decimal, date or bool"
		if p.Type == "" {
			return Errorf(EInvalid, "has no type").WithHint("%s", hint)
		}
		return Errorf(EInvalid, "unknown type %q", string(p.Type)).WithHint("%s", hint)
	}
	if p.Type == ParamEnum {
		if len(p.Values) == 0 {
			return Errorf(EInvalid, "an enum needs its values").
				WithHint("list the values an analyst may choose from, e.g. values: [basic, standard, premium]")
		}
		if len(p.Values) > MaxCategories {
			return Errorf(EInvalid, "%d values, over the limit of %d", len(p.Values), MaxCategories)
		}
		for i, v := range p.Values {
			switch {
			case v == "":
				return Errorf(EInvalid, "value %d is empty", i+1)
			case len(v) > MaxCategoryBytes || !printable(v, false):
				return Errorf(EInvalid, "value %d is not printable UTF-8 text of at most %d bytes", i+1, MaxCategoryBytes)
			case slices.Index(p.Values, v) < i:
				return Errorf(EInvalid, "value %q is listed twice", v)
			}
		}
	} else if len(p.Values) > 0 {
		return Errorf(EInvalid, "values apply only to enum parameters")
	}
	switch p.Type {
	case ParamEnum, ParamBool:
		if p.Min != "" || p.Max != "" {
			return Errorf(EInvalid, "min and max apply only to int, decimal and date parameters")
		}
		return nil
	case ParamInt, ParamDecimal:
		if p.Min == "" || p.Max == "" {
			article := "a"
			if p.Type == ParamInt {
				article = "an"
			}
			return Errorf(EInvalid, "%s %s parameter needs min and max bounds", article, p.Type).
				WithHint("bounded parameters keep runs comparable and reviewable, e.g. {type: %s, min: 0, max: 100}", p.Type)
		}
	}
	var lo, hi *Value
	if p.Min != "" {
		v, err := ParseValue(p.Type.columnType(), p.Min)
		if err != nil {
			return prefixErr(err, "min: ")
		}
		lo = &v
	}
	if p.Max != "" {
		v, err := ParseValue(p.Type.columnType(), p.Max)
		if err != nil {
			return prefixErr(err, "max: ")
		}
		hi = &v
	}
	if lo != nil && hi != nil && lo.Compare(*hi) > 0 {
		return Errorf(EInvalid, "min %s is above max %s", p.Min, p.Max)
	}
	return nil
}

// columnType is the type of the values of a parameter type.
func (pt ParamType) columnType() ColumnType {
	switch pt {
	case ParamEnum:
		return TypeString
	case ParamInt:
		return TypeInt
	case ParamDecimal:
		return TypeDecimal
	case ParamDate:
		return TypeDate
	case ParamBool:
		return TypeBool
	}
	return ""
}

// fits reports whether a parameter of type pt may be compared with a
// column of type ct.
func (pt ParamType) fits(ct ColumnType) bool {
	switch pt {
	case ParamInt:
		return ct == TypeInt || ct == TypeDecimal
	case ParamDecimal:
		return ct == TypeDecimal
	}
	return pt.columnType() == ct
}

// Parse parses s, a value an analyst supplies for the parameter, by the
// parameter's type, and checks it against the enum values or the bounds.
// The error quotes s (shortened) and says what was expected; anything that
// is not a well-formed value of the type, SQL text included, is rejected.
func (p *Parameter) Parse(s string) (Value, error) {
	if p.Type == ParamEnum {
		if !slices.Contains(p.Values, s) {
			return Value{}, Errorf(EInvalid, "%s is not one of the allowed values", quoteValue(s)).
				WithHint("choose one of %s", strings.Join(p.Values, ", "))
		}
		return Value{Type: TypeString, String: s}, nil
	}
	v, err := ParseValue(p.Type.columnType(), s)
	if err != nil {
		return Value{}, err
	}
	if p.Min != "" {
		if lo, err := ParseValue(v.Type, p.Min); err == nil && v.Compare(lo) < 0 {
			return Value{}, Errorf(EInvalid, "%s is below the minimum %s", quoteValue(s), p.Min).
				WithHint("choose a value from %s", p.rangeText())
		}
	}
	if p.Max != "" {
		if hi, err := ParseValue(v.Type, p.Max); err == nil && v.Compare(hi) > 0 {
			return Value{}, Errorf(EInvalid, "%s is above the maximum %s", quoteValue(s), p.Max).
				WithHint("choose a value from %s", p.rangeText())
		}
	}
	return v, nil
}

func (p *Parameter) rangeText() string {
	lo, hi := p.Min, p.Max
	if lo == "" {
		lo = "any"
	}
	if hi == "" {
		hi = "any"
	}
	return lo + " to " + hi
}

func (t *Template) validateWhere() error {
	if len(t.Where) > MaxTemplateItems {
		return Errorf(EInvalid, "where: %d conditions, over the limit of %d", len(t.Where), MaxTemplateItems)
	}
	for i, f := range t.Where {
		fail := func(format string, args ...any) *Error {
			return Errorf(EInvalid, "where[%d]: "+format, append([]any{i}, args...)...)
		}
		if _, _, ok := SplitColumn(f.Column); !ok {
			return fail("column %q is not of the form dataset.column", f.Column).
				WithHint("write columns as <dataset>.<column>, e.g. subscribers.tier")
		}
		if !slices.Contains(Ops, f.Op) {
			return fail("unknown operator %q", string(f.Op)).
				WithHint("operators are =, !=, <, <=, >, >=, in and has")
		}
		switch {
		case f.Param != "" && len(f.Values) > 0:
			return fail("compares with both values and a parameter")
		case f.Param != "" && f.Op == OpIn:
			return fail("\"in\" takes a list of values, not a parameter").
				WithHint("compare with = $%s, or list the values: %s in [a, b]", f.Param, f.Column)
		case f.Param != "":
			if _, ok := t.Parameters[f.Param]; !ok {
				return fail("parameter $%s is not declared", f.Param).
					WithHint("declare it under parameters with its type, e.g. %s: {type: enum, values: [a, b]}", f.Param)
			}
		case len(f.Values) == 0:
			return fail("compares %s with nothing", f.Column).
				WithHint("give a value or a $parameter")
		case f.Op != OpIn && len(f.Values) > 1:
			return fail("operator %s takes one value, got %d", f.Op, len(f.Values)).
				WithHint("use \"in\" to compare with a list")
		case len(f.Values) > MaxCategories:
			return fail("%d values, over the limit of %d", len(f.Values), MaxCategories)
		}
		for j, v := range f.Values {
			if v == "" || len(v) > MaxCategoryBytes || !printable(v, false) {
				return fail("value %d is not printable UTF-8 text of 1 to %d bytes", j+1, MaxCategoryBytes)
			}
		}
	}
	return nil
}

func (t *Template) validateGroupBy() error {
	if len(t.GroupBy) > MaxTemplateItems {
		return Errorf(EInvalid, "group_by: %d dimensions, over the limit of %d", len(t.GroupBy), MaxTemplateItems)
	}
	for i, d := range t.GroupBy {
		fail := func(format string, args ...any) *Error {
			return Errorf(EInvalid, "group_by[%d]: "+format, append([]any{i}, args...)...)
		}
		if _, _, ok := SplitColumn(d.Column); !ok {
			return fail("column %q is not of the form dataset.column", d.Column).
				WithHint("write columns as <dataset>.<column>, e.g. subscribers.tier")
		}
		if slices.IndexFunc(t.GroupBy, func(o Dimension) bool { return o.Column == d.Column }) < i {
			return fail("column %q is grouped by twice", d.Column)
		}
		if len(d.Buckets) > 0 && len(d.Categories) > 0 {
			return fail("has both buckets and categories").
				WithHint("buckets coarsen a numeric dimension, categories narrow a string one")
		}
		if len(d.Buckets) > 0 {
			if len(d.Buckets) < 2 {
				return fail("buckets need at least two edges")
			}
			for j, b := range d.Buckets {
				if math.IsNaN(b) || math.IsInf(b, 0) {
					return fail("bucket edges must be finite numbers")
				}
				if j > 0 && b <= d.Buckets[j-1] {
					return fail("bucket edges must be strictly increasing (%g is not above %g)", b, d.Buckets[j-1])
				}
			}
		}
		for j, c := range d.Categories {
			if c == "" || len(c) > MaxCategoryBytes || !printable(c, false) {
				return fail("category %d is not printable UTF-8 text of 1 to %d bytes", j+1, MaxCategoryBytes)
			}
			if slices.Index(d.Categories, c) < j {
				return fail("category %q is listed twice", c)
			}
		}
	}
	return nil
}

func (t *Template) validateMetrics() error {
	if len(t.Metrics) == 0 {
		return Errorf(EInvalid, "metrics: names no metric").
			WithHint("add at least one, e.g. people: count_distinct_person")
	}
	if len(t.Metrics) > MaxTemplateItems {
		return Errorf(EInvalid, "metrics: %d metrics, over the limit of %d", len(t.Metrics), MaxTemplateItems)
	}
	for i, m := range t.Metrics {
		fail := func(format string, args ...any) *Error {
			return Errorf(EInvalid, "metrics[%d]: "+format, append([]any{i}, args...)...)
		}
		if !columnNameRE.MatchString(m.Name) {
			return fail("name %q is not valid", m.Name).
				WithHint("use 1-63 lower-case letters, digits and '_', starting with a letter")
		}
		if slices.IndexFunc(t.Metrics, func(o Metric) bool { return o.Name == m.Name }) < i {
			return fail("name %q is used twice", m.Name)
		}
		switch m.Kind {
		case MetricCount:
			if m.Column != "" {
				return fail("%s counts people and takes no column", m.Kind).
					WithHint("to add up a column use sum: %s", m.Column)
			}
			if m.Clamp != nil {
				return fail("%s takes no clamp", m.Kind)
			}
			continue
		case MetricSum, MetricAvg:
		case "":
			return fail("has no kind").WithHint("kind is count_distinct_person, sum or avg")
		default:
			return fail("unknown kind %q", string(m.Kind)).WithHint("kind is count_distinct_person, sum or avg")
		}
		if m.Column == "" {
			return fail("%s needs a column", m.Kind).
				WithHint("name the metric column, e.g. %s: {%s: customers.monthly_spend}", m.Name, m.Kind)
		}
		if _, _, ok := SplitColumn(m.Column); !ok {
			return fail("column %q is not of the form dataset.column", m.Column).
				WithHint("write columns as <dataset>.<column>, e.g. customers.monthly_spend")
		}
		if c := m.Clamp; c != nil {
			if math.IsNaN(c[0]) || math.IsNaN(c[1]) || math.IsInf(c[0], 0) || math.IsInf(c[1], 0) {
				return fail("clamp bounds must be finite numbers")
			}
			if c[0] >= c[1] {
				return fail("clamp [%g, %g] is empty; the lower bound must be below the upper", c[0], c[1])
			}
		}
	}
	return nil
}

func (c *Controls) validate() error {
	if c.MinGroupSize < MinGroupSizeFloor {
		return Errorf(EInvalid, "controls.min_group_size: %d is below the room's floor of %d", c.MinGroupSize, MinGroupSizeFloor).
			WithHint("a group of fewer than %d people is never released; leave min_group_size out for %d", MinGroupSizeFloor, DefaultMinGroupSize)
	}
	if c.MinGroupSize > MaxMinGroupSize {
		return Errorf(EInvalid, "controls.min_group_size: %d is above the limit of %d", c.MinGroupSize, MaxMinGroupSize)
	}
	switch {
	case c.Rho == 0 && c.Epsilon == 0:
		return Errorf(EInvalid, "controls.rho: the template sets neither rho nor epsilon").
			WithHint("set the budget of one release: rho (zCDP, Gaussian noise, e.g. rho: 0.05) or epsilon (Laplace noise)")
	case c.Rho != 0 && c.Epsilon != 0:
		return Errorf(EInvalid, "controls.rho: the template sets both rho and epsilon").
			WithHint("set rho for Gaussian noise or epsilon for Laplace noise, not both")
	case c.Rho != 0:
		if err := checkBudget(c.Rho, MaxReleaseRho); err != nil {
			return prefixErr(err, "controls.rho: ")
		}
	default:
		if err := checkBudget(c.Epsilon, MaxReleaseEpsilon); err != nil {
			return prefixErr(err, "controls.epsilon: ")
		}
	}
	if c.MaxGroupsPerPerson < 1 {
		return Errorf(EInvalid, "controls.max_groups_per_person: %d, want at least 1", c.MaxGroupsPerPerson).
			WithHint("leave it out for %d", DefaultMaxGroupsPerPerson)
	}
	if math.IsNaN(c.Coarsen) || math.IsInf(c.Coarsen, 0) || c.Coarsen < 0 {
		return Errorf(EInvalid, "controls.coarsen: %g is not a rounding step", c.Coarsen).
			WithHint("coarsen is a positive step released values are rounded to, e.g. 10; leave it out for none")
	}
	if len(c.Receivers) == 0 {
		return Errorf(EInvalid, "controls.receivers: names no party").
			WithHint("list the parties released results are sealed to, e.g. receivers: [operator]")
	}
	for _, l := range []struct {
		field   string
		parties []string
	}{{"review_by", c.ReviewBy}, {"receivers", c.Receivers}} {
		if len(l.parties) > MaxTemplateItems {
			return Errorf(EInvalid, "controls.%s: %d parties, over the limit of %d", l.field, len(l.parties), MaxTemplateItems)
		}
		for i, p := range l.parties {
			if err := ValidateName("party name", p); err != nil {
				return prefixErr(err, "controls.%s[%d]: ", l.field, i)
			}
			if slices.Index(l.parties, p) < i {
				return Errorf(EInvalid, "controls.%s[%d]: party %q is listed twice", l.field, i, p)
			}
		}
	}
	return nil
}

func checkBudget(x, limit float64) error {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		return Errorf(EInvalid, "%g is not a finite number", x)
	case x < 0:
		return Errorf(EInvalid, "%g is negative", x)
	case x > limit:
		return Errorf(EInvalid, "%g is above the limit of %g", x, limit).
			WithHint("a release with a budget that large protects nobody")
	case x < BudgetQuantum:
		return Errorf(EInvalid, "%g is below the smallest amount %g", x, BudgetQuantum)
	}
	return nil
}

// CheckTemplate checks t against the room: schemas maps each dataset in the
// room to its schema and owners maps it to its owning party. It runs
// Validate, then checks every column use against its owner's column policy
// (DESIGN.md, "Approved query templates") and returns the first violation
// as an EInvalid error naming the template field, the column and the rule:
//
//   - every joined dataset exists in the room and has an owner; every
//     column refers to a joined dataset and a column of its schema;
//   - identifier (join) columns and hidden columns are never used;
//   - where: the column is a filter or a dimension (a metric may only be
//     aggregated); ordering operators only on int, decimal and date
//     columns; a literal parses as the column's type and lies in its
//     declared domain (categories, the range of bucket edges); a parameter's
//     type fits the column's type and an enum's values are categories of
//     the column;
//   - group_by: the column is a dimension, grouped over its declared public
//     domain: buckets only on int and decimal dimensions, a subset of the
//     declared edges keeping the first and the last; categories only on
//     string dimensions, a subset of the declared ones;
//   - metrics: sum and avg read a metric column, and a clamp lies within
//     the declared clamp and has no more decimal places than the column
//     keeps;
//   - controls: max_groups_per_person is at most the number of groups.
//
// CheckTemplate does not check that reviewers and receivers are in the
// room; CheckParties does.
func CheckTemplate(t *Template, schemas map[string]*Schema, owners map[string]string) error {
	if err := t.Validate(); err != nil {
		return err
	}
	for i, d := range t.Join {
		if schemas[d] == nil {
			return Errorf(EInvalid, "join[%d]: dataset %q is not in the room", i, d).
				WithHint("the room's datasets are %s", datasetList(schemas))
		}
		if owners[d] == "" {
			return Errorf(EInvalid, "join[%d]: dataset %q has no owning party", i, d)
		}
		if schemas[d].OptOut {
			return Errorf(EInvalid, "join[%d]: dataset %q is an opt-out list, which no template reads", i, d)
		}
	}
	c := &checker{t: t, schemas: schemas}
	if t.Lookalike != nil {
		return c.checkLookalike(owners)
	}
	if t.Model != nil {
		return c.checkModel(owners)
	}
	if t.Attribution != nil {
		return c.checkAttribution()
	}
	for i, f := range t.Where {
		if err := c.checkFilter(f); err != nil {
			return prefixErr(err, "where[%d]: ", i)
		}
	}
	cells := int64(1)
	for i, d := range t.GroupBy {
		n, err := c.checkDimension(d)
		if err != nil {
			return prefixErr(err, "group_by[%d]: ", i)
		}
		if cells <= MaxMinGroupSize {
			cells *= n
		}
	}
	for i, m := range t.Metrics {
		if err := c.checkMetric(m); err != nil {
			return prefixErr(err, "metrics[%d]: ", i)
		}
	}
	if l0 := t.Controls.MaxGroupsPerPerson; l0 > cells {
		return Errorf(EInvalid, "controls.max_groups_per_person: %d, but the template has only %d %s", l0, cells, plural(cells, "group", "groups")).
			WithHint("a person counts in at most as many groups as there are; a larger bound only adds noise")
	}
	return nil
}

type checker struct {
	t       *Template
	schemas map[string]*Schema
}

// column resolves ref to its attribute column, refusing identifier and
// hidden columns and datasets the template does not join.
func (c *checker) column(ref string) (*AttributeColumn, error) {
	dataset, name, _ := SplitColumn(ref)
	if !slices.Contains(c.t.Join, dataset) {
		return nil, Errorf(EInvalid, "column %q: dataset %q is not joined", ref, dataset).
			WithHint("add %s to join, or use a column of %s", dataset, strings.Join(c.t.Join, ", "))
	}
	s := c.schemas[dataset]
	policy, ok := s.Policy(name)
	switch {
	case !ok:
		return nil, Errorf(EInvalid, "column %q does not exist", ref).
			WithHint("the usable columns of %s are %s", dataset, usableColumns(s))
	case policy == PolicyJoin:
		return nil, Errorf(EInvalid, "column %q is an identifier; identifiers are only matched on, never used in templates", ref)
	case policy == PolicyHidden:
		return nil, Errorf(EInvalid, "column %q is hidden; its owner lets no template use it", ref)
	}
	return s.Attribute(name), nil
}

func (c *checker) checkFilter(f Filter) error {
	col, err := c.column(f.Column)
	if err != nil {
		return err
	}
	if col.Policy == PolicyMetric {
		return Errorf(EInvalid, "column %q is a metric; metrics may only be aggregated", f.Column).
			WithHint("filter on a filter or dimension column; a metric appears only in metrics, as a sum or avg")
	}
	ordered := col.Type == TypeInt || col.Type == TypeDecimal || col.Type == TypeDate
	if f.Op == OpHas {
		if col.Type != TypeString || len(col.Categories) > 0 {
			return Errorf(EInvalid, "operator has does not apply to column %q: it looks for an item in a string column holding a ';'-separated list", f.Column).
				WithHint("compare single values with = or in")
		}
	} else if !ordered && f.Op != OpEq && f.Op != OpNe && f.Op != OpIn {
		return Errorf(EInvalid, "operator %s does not apply to column %q of type %s", f.Op, f.Column, col.Type).
			WithHint("compare %s columns with =, != or in", col.Type)
	}
	if f.Param != "" {
		p := c.t.Parameters[f.Param]
		if !p.Type.fits(col.Type) {
			return Errorf(EInvalid, "parameter $%s of type %s does not fit column %q of type %s", f.Param, p.Type, f.Column, col.Type).
				WithHint("compare a %s column with a %s parameter", col.Type, paramTypeFor(col.Type))
		}
		if p.Type == ParamEnum && len(col.Categories) > 0 {
			for _, v := range p.Values {
				if !slices.Contains(col.Categories, v) {
					return Errorf(EInvalid, "value %q of parameter $%s is not a category of column %q", v, f.Param, f.Column).
						WithHint("the categories of %s are %s", f.Column, strings.Join(col.Categories, ", "))
				}
			}
		}
		return nil
	}
	for _, lit := range f.Values {
		if err := checkLiteral(f.Column, col, lit); err != nil {
			return err
		}
	}
	return nil
}

// checkLiteral checks that lit is a value of the column's type in its
// declared domain.
func checkLiteral(ref string, col *AttributeColumn, lit string) error {
	v, err := ParseValue(col.Type, lit)
	if err != nil {
		return prefixErr(err, "column %q: ", ref)
	}
	if col.Type == TypeString && len(col.Categories) > 0 && !slices.Contains(col.Categories, lit) {
		return Errorf(EInvalid, "value %s is not a category of column %q", quoteValue(lit), ref).
			WithHint("the categories of %s are %s", ref, strings.Join(col.Categories, ", "))
	}
	if b := col.Buckets; len(b) > 0 {
		lo, hi := new(big.Rat).SetFloat64(b[0]), new(big.Rat).SetFloat64(b[len(b)-1])
		if x := v.rat(); x.Cmp(lo) < 0 || x.Cmp(hi) > 0 {
			return Errorf(EInvalid, "value %s is outside the domain [%g, %g] of column %q", lit, b[0], b[len(b)-1], ref)
		}
	}
	return nil
}

// checkDimension checks a dimension and returns its number of groups.
func (c *checker) checkDimension(d Dimension) (int64, error) {
	col, err := c.column(d.Column)
	if err != nil {
		return 0, err
	}
	switch col.Policy {
	case PolicyDimension:
	case PolicyMetric:
		return 0, Errorf(EInvalid, "column %q is a metric; metrics may only be aggregated", d.Column).
			WithHint("group by a dimension column; a metric appears only in metrics, as a sum or avg")
	default:
		return 0, Errorf(EInvalid, "column %q is a %s; only dimensions may be grouped by", d.Column, col.Policy).
			WithHint("its owner may declare it a dimension over a public domain (categories or buckets)")
	}
	numeric := col.Type == TypeInt || col.Type == TypeDecimal
	if len(d.Buckets) > 0 && !numeric {
		return 0, Errorf(EInvalid, "buckets apply to int and decimal dimensions; column %q is %s", d.Column, col.Type).
			WithHint("narrow a string dimension with categories")
	}
	if len(d.Categories) > 0 && col.Type != TypeString {
		return 0, Errorf(EInvalid, "categories apply to string dimensions; column %q is %s", d.Column, col.Type)
	}
	switch {
	case col.Type == TypeBool:
		return 2, nil
	case col.Type == TypeString && len(d.Categories) > 0:
		for _, v := range d.Categories {
			if !slices.Contains(col.Categories, v) {
				return 0, Errorf(EInvalid, "category %q is not a category of column %q", v, d.Column).
					WithHint("the categories of %s are %s", d.Column, strings.Join(col.Categories, ", "))
			}
		}
		return int64(len(d.Categories)), nil
	case col.Type == TypeString:
		return int64(len(col.Categories)), nil
	case numeric && len(d.Buckets) > 0:
		edges := col.Buckets
		if d.Buckets[0] != edges[0] || d.Buckets[len(d.Buckets)-1] != edges[len(edges)-1] {
			return 0, Errorf(EInvalid, "buckets must start at %g and end at %g, the first and last edges of column %q", edges[0], edges[len(edges)-1], d.Column).
				WithHint("buckets coarsen the declared ones (%s) by leaving edges out", formatEdges(edges))
		}
		for _, b := range d.Buckets {
			if !slices.Contains(edges, b) {
				return 0, Errorf(EInvalid, "bucket edge %g is not an edge of column %q", b, d.Column).
					WithHint("buckets coarsen the declared ones (%s) by leaving edges out", formatEdges(edges))
			}
		}
		return int64(len(d.Buckets) - 1), nil
	case numeric:
		return int64(len(col.Buckets) - 1), nil
	}
	// Schema.Validate refuses other dimensions (dates).
	return 0, Errorf(EInvalid, "column %q of type %s cannot be grouped by", d.Column, col.Type)
}

func (c *checker) checkMetric(m Metric) error {
	if m.Kind == MetricCount {
		return nil
	}
	col, err := c.column(m.Column)
	if err != nil {
		return err
	}
	if col.Policy != PolicyMetric {
		return Errorf(EInvalid, "column %q is a %s; only metrics may be aggregated", m.Column, col.Policy).
			WithHint("count people with count_distinct_person, or %s a metric column", m.Kind)
	}
	if m.Clamp == nil {
		return nil
	}
	if col.Clamp == nil { // Schema.Validate refuses it
		return Errorf(EInvalid, "column %q declares no clamp bounds", m.Column)
	}
	lo, hi := m.Clamp[0], m.Clamp[1]
	if lo < col.Clamp[0] || hi > col.Clamp[1] {
		return Errorf(EInvalid, "clamp [%g, %g] is not within the declared clamp [%g, %g] of column %q", lo, hi, col.Clamp[0], col.Clamp[1], m.Column).
			WithHint("the owner bounds every value of the column; a template may only narrow the bounds")
	}
	for _, b := range m.Clamp {
		if !fitsScale(b, col.Scale) {
			return Errorf(EInvalid, "clamp bound %g has more decimal places than column %q keeps (%d)", b, m.Column, col.Scale)
		}
	}
	return nil
}

// fitsScale reports whether x is a whole number of units 10^-scale.
func fitsScale(x float64, scale int) bool {
	s := strconv.FormatFloat(x, 'f', -1, 64)
	_, frac, _ := strings.Cut(s, ".")
	return len(frac) <= scale
}

func formatEdges(edges []float64) string {
	s := make([]string, len(edges))
	for i, e := range edges {
		s[i] = strconv.FormatFloat(e, 'g', -1, 64)
	}
	return strings.Join(s, ", ")
}

func paramTypeFor(ct ColumnType) ParamType {
	switch ct {
	case TypeString:
		return ParamEnum
	case TypeInt:
		return ParamInt
	case TypeDecimal:
		return ParamDecimal
	case TypeDate:
		return ParamDate
	}
	return ParamBool
}

func datasetList(schemas map[string]*Schema) string {
	names := make([]string, 0, len(schemas))
	for n := range schemas {
		names = append(names, n)
	}
	if len(names) == 0 {
		return "none yet"
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func usableColumns(s *Schema) string {
	var names []string
	for _, a := range s.Attributes {
		if a.Policy != PolicyHidden {
			names = append(names, a.Column+" ("+string(a.Policy)+")")
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// printable reports whether s is valid UTF-8 without control characters;
// newlines and tabs are allowed if multiline.
func printable(s string, multiline bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		if multiline && (r == '\n' || r == '\t') {
			return false
		}
		return isCtlRune(r)
	})
}

// Value is a typed value of a template: a literal of a where clause or a
// parameter bound at run time. The engine passes it to the query as a bound
// parameter, never as SQL text.
type Value struct {
	Type    ColumnType
	String  string    // TypeString
	Int     int64     // TypeInt
	Decimal *big.Rat  // TypeDecimal, exact
	Date    time.Time // TypeDate, midnight UTC
	Bool    bool      // TypeBool
}

// MaxDecimalDigits bounds the digits of a decimal value.
const MaxDecimalDigits = 36

var decimalRE = regexp.MustCompile(`^[+-]?[0-9]+(\.[0-9]+)?$`)

// ParseValue parses s as a value of type t: any printable text for a
// string; for int, an integer in 64 bits (42, -7); for decimal, digits with
// an optional sign and '.' as separator (12.50), at most MaxDecimalDigits
// digits; for date, YYYY-MM-DD; for bool, true or false. The error quotes
// s, shortened.
func ParseValue(t ColumnType, s string) (Value, error) {
	v := Value{Type: t}
	switch t {
	case TypeString:
		if s == "" || len(s) > MaxCategoryBytes || !printable(s, false) {
			return Value{}, Errorf(EInvalid, "%s is not printable text of 1 to %d bytes", quoteValue(s), MaxCategoryBytes)
		}
		v.String = s
	case TypeInt:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return Value{}, Errorf(EInvalid, "%s is not an integer", quoteValue(s)).
				WithHint("write integers as digits with an optional sign, e.g. 42 or -7")
		}
		v.Int = n
	case TypeDecimal:
		if !decimalRE.MatchString(s) || len(strings.TrimLeft(s, "+-")) > MaxDecimalDigits+1 {
			return Value{}, Errorf(EInvalid, "%s is not a decimal number", quoteValue(s)).
				WithHint("write decimals as digits with '.' as separator, e.g. 12.50")
		}
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			return Value{}, Errorf(EInvalid, "%s is not a decimal number", quoteValue(s))
		}
		v.Decimal = r
	case TypeDate:
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return Value{}, Errorf(EInvalid, "%s is not a date", quoteValue(s)).
				WithHint("write dates as YYYY-MM-DD, e.g. 2024-03-31")
		}
		v.Date = d
	case TypeBool:
		switch s {
		case "true":
			v.Bool = true
		case "false":
		default:
			return Value{}, Errorf(EInvalid, "%s is not a boolean", quoteValue(s)).
				WithHint("write true or false")
		}
	default:
		return Value{}, Errorf(EInvalid, "unknown type %q", string(t))
	}
	return v, nil
}

// Compare compares v with w: -1, 0 or +1. Numbers compare by value across
// int and decimal, dates by day, bools false before true, strings
// byte-wise. Values of other different types compare by type name.
func (v Value) Compare(w Value) int {
	vn := v.Type == TypeInt || v.Type == TypeDecimal
	wn := w.Type == TypeInt || w.Type == TypeDecimal
	switch {
	case vn && wn:
		return v.rat().Cmp(w.rat())
	case v.Type != w.Type:
		return strings.Compare(string(v.Type), string(w.Type))
	case v.Type == TypeDate:
		return v.Date.Compare(w.Date)
	case v.Type == TypeBool:
		switch {
		case v.Bool == w.Bool:
			return 0
		case w.Bool:
			return -1
		}
		return 1
	}
	return strings.Compare(v.String, w.String)
}

// rat returns a numeric value as a rational.
func (v Value) rat() *big.Rat {
	if v.Type == TypeDecimal && v.Decimal != nil {
		return v.Decimal
	}
	return new(big.Rat).SetInt64(v.Int)
}

// Text returns the value in the format ParseValue reads.
func (v Value) Text() string {
	switch v.Type {
	case TypeInt:
		return strconv.FormatInt(v.Int, 10)
	case TypeDecimal:
		if v.Decimal == nil {
			return "0"
		}
		// A parsed decimal has a denominator of 2^a·5^b, so some number of
		// places up to MaxDecimalDigits is exact.
		for prec := 0; prec < MaxDecimalDigits; prec++ {
			s := v.Decimal.FloatString(prec)
			if r, ok := new(big.Rat).SetString(s); ok && r.Cmp(v.Decimal) == 0 {
				return s
			}
		}
		return v.Decimal.FloatString(MaxDecimalDigits)
	case TypeDate:
		return v.Date.Format(time.DateOnly)
	case TypeBool:
		return strconv.FormatBool(v.Bool)
	}
	return v.String
}

// quoteValue quotes a user-supplied value for an error message, shortened
// to 40 characters.
func quoteValue(s string) string {
	const limit = 40
	if utf8.RuneCountInString(s) > limit {
		r := []rune(s)
		return fmt.Sprintf("%q…", string(r[:limit]))
	}
	return fmt.Sprintf("%q", s)
}
