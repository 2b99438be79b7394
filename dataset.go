package cleanroom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Dataset is a table a party registers in a room: its schema says which
// columns identify people and what the room may do with every other column.
// The rows themselves never reach the room; the party's agent validates them
// against the schema, blinds the identifiers and uploads tokens and sealed
// attributes (DESIGN.md, "The main path", steps 2 and 3).
type Dataset struct {
	Name      string    `json:"name"`
	Party     string    `json:"party"` // the provider that owns the data
	Room      string    `json:"room"`
	Schema    Schema    `json:"schema"`
	CreatedAt time.Time `json:"created_at"`
}

// Validate checks the dataset's invariants: valid dataset, party and room
// names and a valid schema. Schema errors are prefixed with the dataset's
// name.
func (d *Dataset) Validate() error {
	if err := ValidateName("dataset name", d.Name); err != nil {
		return err
	}
	if err := ValidateName("party name", d.Party); err != nil {
		return err
	}
	if err := ValidateName("room name", d.Room); err != nil {
		return err
	}
	if err := d.Schema.Validate(); err != nil {
		return prefixErr(err, "dataset %q: ", d.Name)
	}
	return nil
}

// Schema is the shape of a dataset: the identifier columns the room matches
// people on, and the attribute columns with their owner's column policy.
// Column names are unique across both lists.
//
// A schema is written as JSON, for example:
//
//	{
//	  "identifiers": [
//	    {"column": "phone", "class": "phone", "priority": 1},
//	    {"column": "email_sha256", "class": "email", "priority": 2, "form": "sha256", "normalization": "email-lower"}
//	  ],
//	  "attributes": [
//	    {"column": "tier", "type": "string", "policy": "dimension", "categories": ["basic", "standard", "premium"]},
//	    {"column": "arpu", "type": "decimal", "policy": "metric", "clamp": [0, 5000], "scale": 2},
//	    {"column": "signup_date", "type": "date", "policy": "filter"}
//	  ]
//	}
type Schema struct {
	// OptOut marks a consent opt-out list: identifiers only, of people
	// who objected. It is never matched or queried; from its first version
	// on, the party's rows that carry any of its identifiers are left out
	// of every match and every query in the room.
	OptOut      bool               `json:"opt_out,omitempty"`
	Identifiers []IdentifierColumn `json:"identifiers"`
	Attributes  []AttributeColumn  `json:"attributes"`
}

// IdentifierColumn is a column holding a personal identifier. Its policy is
// always PolicyJoin: the room matches on it and never outputs it.
type IdentifierColumn struct {
	Column string          `json:"column"`
	Class  IdentifierClass `json:"class"`
	// Priority orders identifier columns when matches conflict: 1 is
	// matched first. Priorities are unique within a schema.
	Priority int `json:"priority"`
	// Form says whether the column holds raw values or SHA-256 hashes of
	// normalised values. The zero value means FormRaw.
	Form IdentifierForm `json:"form,omitempty"`
	// Normalization names the rule applied to the values (one of
	// Normalizations[Class]). Required when Form is FormSHA256: the party
	// declares what it applied before hashing. Optional for raw values,
	// where it picks the rule the agent applies; empty means the class's
	// first rule.
	Normalization string `json:"normalization,omitempty"`
}

// IdentifierForm is how identifier values are written in the file.
type IdentifierForm string

// The identifier forms.
const (
	// FormRaw values are normalised by the party's agent.
	FormRaw IdentifierForm = "raw"
	// FormSHA256 values are the lower-case hex SHA-256 of the value after
	// the declared normalization, as in the IAB PAIR protocol. The input to
	// hash-to-group is the same for both forms, so they match each other.
	FormSHA256 IdentifierForm = "sha256"
)

// The normalization rules, by the name a schema declares.
const (
	NormE164       = "e164"        // phone: E.164 with the room's default country
	NormEmailLower = "email-lower" // email: trimmed and lower-cased
	NormEmailGmail = "email-gmail" // email: email-lower, then gmail dots and +tags removed
	NormUUIDLower  = "uuid-lower"  // device_id: a lower-case hyphenated UUID
	NormTrim       = "trim"        // customer_id: surrounding white space removed
)

// Normalizations lists the rules that apply to each identifier class; the
// first is the class's default.
var Normalizations = map[IdentifierClass][]string{
	ClassPhone:      {NormE164},
	ClassEmail:      {NormEmailLower, NormEmailGmail},
	ClassDeviceID:   {NormUUIDLower},
	ClassCustomerID: {NormTrim},
}

// NormalizationRule returns the column's declared normalization, or the
// default rule of its class if none is declared.
func (c *IdentifierColumn) NormalizationRule() string {
	if c.Normalization != "" {
		return c.Normalization
	}
	if rules := Normalizations[c.Class]; len(rules) > 0 {
		return rules[0]
	}
	return ""
}

// AttributeColumn is a column that is not an identifier. Its owner's policy
// says how templates may use it (DESIGN.md, "Approved query templates").
type AttributeColumn struct {
	Column string       `json:"column"`
	Type   ColumnType   `json:"type"`
	Policy ColumnPolicy `json:"policy"`
	// Categories is the public domain of a string dimension (required) or
	// filter (optional): every value must be one of them.
	Categories []string `json:"categories,omitempty"`
	// Buckets are the public bucket edges of an int or decimal dimension,
	// strictly increasing; values must lie between the first and the last.
	Buckets []float64 `json:"buckets,omitempty"`
	// Clamp is [lo, hi], the bounds a metric's values are clamped to before
	// they are summed. Required for metrics, lo < hi.
	Clamp *[2]float64 `json:"clamp,omitempty"`
	// Scale is the number of decimal places kept of a decimal column, 0 to
	// 6: metrics are summed as integers in units of 10^-Scale.
	Scale int `json:"scale,omitempty"`
	// TruncateToDate lets a date column hold RFC 3339 timestamps (an event
	// log's), of which only the UTC date is kept, on the party's side.
	TruncateToDate bool `json:"truncate_to_date,omitempty"`
}

// ColumnType is the type of an attribute column's values.
type ColumnType string

// The column types and how their values are written in a file.
const (
	TypeString  ColumnType = "string"  // any UTF-8 text
	TypeInt     ColumnType = "int"     // a 64-bit integer: 42, -7
	TypeDecimal ColumnType = "decimal" // digits with '.' as separator: 12.50
	TypeDate    ColumnType = "date"    // YYYY-MM-DD
	TypeBool    ColumnType = "bool"    // true, false, 1 or 0
)

// ColumnTypes lists every column type.
var ColumnTypes = []ColumnType{TypeString, TypeInt, TypeDecimal, TypeDate, TypeBool}

// ColumnPolicy is what a column's owner lets approved templates do with it.
type ColumnPolicy string

// The column policies. A template that uses a column against its policy is
// rejected at proposal.
const (
	PolicyJoin      ColumnPolicy = "join"      // identifier columns: matched on, never output
	PolicyFilter    ColumnPolicy = "filter"    // may appear in where clauses
	PolicyDimension ColumnPolicy = "dimension" // may be grouped by, over its declared public domain
	PolicyMetric    ColumnPolicy = "metric"    // only inside an aggregate, clamped to its bounds
	PolicyHidden    ColumnPolicy = "hidden"    // uploaded but not usable by templates
)

// AttributePolicies lists the policies an attribute column may take.
var AttributePolicies = []ColumnPolicy{PolicyFilter, PolicyDimension, PolicyMetric, PolicyHidden}

// Limits on a schema. They keep schemas readable and bound the work of
// validating every row against them.
const (
	MaxSchemaColumns = 1000 // identifier and attribute columns together
	MaxCategories    = 1000 // per column
	MaxCategoryBytes = 200  // per category
	MaxBuckets       = 1000 // bucket edges per column
	MaxScale         = 6    // decimal places of a decimal column
)

var columnNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// ValidateColumnName checks that s is a valid column name: 1 to 63
// characters, lower-case letters, digits and '_', starting with a letter.
func ValidateColumnName(s string) error {
	if s == "" {
		return Errorf(EInvalid, "column name is empty")
	}
	if !columnNameRE.MatchString(s) {
		return Errorf(EInvalid, "column name %q is not valid", s).
			WithHint("use 1-63 lower-case letters, digits and '_', starting with a letter")
	}
	return nil
}

// ParseSchema decodes a schema from JSON and validates it. Unknown fields
// are errors, so a misspelt "catgories" is not silently dropped.
func ParseSchema(data []byte) (*Schema, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Schema
	if err := dec.Decode(&s); err != nil {
		return nil, Errorf(EInvalid, "schema is not valid: %s", strings.TrimPrefix(err.Error(), "json: ")).
			WithHint("a schema is a JSON object with \"identifiers\" and \"attributes\" lists")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, Errorf(EInvalid, "schema is not valid: data after the JSON object")
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Validate checks the schema's invariants and returns the first broken one
// as an EInvalid error naming the column and the rule:
//
//   - at least one identifier column, at most MaxSchemaColumns columns;
//   - valid, unique column names (ValidateColumnName);
//   - identifiers: a known class, a priority of 1 or more unique in the
//     schema, a known form, a normalization of the class (required for
//     sha256);
//   - attributes: a known type and policy (join is for identifiers);
//     a string dimension declares categories, an int or decimal dimension
//     buckets, a date dimension is not supported; a metric is int or
//     decimal with clamp bounds lo < hi; categories only on string filters
//     and dimensions, buckets only on numeric dimensions, clamp only on
//     metrics, scale only on decimals.
func (s *Schema) Validate() error {
	if s.OptOut && len(s.Attributes) > 0 {
		return Errorf(EInvalid, "an opt-out list has identifier columns only, but this schema declares %d attributes", len(s.Attributes)).
			WithHint("remove \"attributes\" from the opt-out list's schema")
	}
	if len(s.Identifiers) == 0 {
		return Errorf(EInvalid, "schema has no identifier column").
			WithHint("declare at least one column under \"identifiers\" with its class (phone, email, device_id or customer_id) and priority")
	}
	if n := len(s.Identifiers) + len(s.Attributes); n > MaxSchemaColumns {
		return Errorf(EInvalid, "schema has %d columns, over the limit of %d", n, MaxSchemaColumns)
	}
	seen := map[string]bool{}
	checkName := func(kind string, i int, name string) error {
		if name == "" {
			return Errorf(EInvalid, "%s %d has no column name", kind, i+1)
		}
		if !columnNameRE.MatchString(name) {
			return Errorf(EInvalid, "column %q: name is not valid", name).
				WithHint("use 1-63 lower-case letters, digits and '_', starting with a letter")
		}
		if seen[name] {
			return Errorf(EInvalid, "column %q is declared twice", name).
				WithHint("each column of the file is declared once, as an identifier or as an attribute")
		}
		seen[name] = true
		return nil
	}
	priorities := map[int]string{}
	for i := range s.Identifiers {
		c := &s.Identifiers[i]
		if err := checkName("identifier", i, c.Column); err != nil {
			return err
		}
		if err := c.validate(); err != nil {
			return err
		}
		if other, ok := priorities[c.Priority]; ok {
			return Errorf(EInvalid, "columns %q and %q have the same priority %d", other, c.Column, c.Priority).
				WithHint("priority decides which identifier wins when matches conflict; give each identifier column its own")
		}
		priorities[c.Priority] = c.Column
	}
	for i := range s.Attributes {
		c := &s.Attributes[i]
		if err := checkName("attribute", i, c.Column); err != nil {
			return err
		}
		if err := c.validate(); err != nil {
			return err
		}
	}
	return nil
}

func (c *IdentifierColumn) validate() error {
	if err := c.Class.Validate(); err != nil {
		return prefixErr(err, "column %q: ", c.Column)
	}
	if c.Priority < 1 {
		return Errorf(EInvalid, "column %q: priority is %d, want 1 or more", c.Column, c.Priority).
			WithHint("1 is matched first")
	}
	switch c.Form {
	case "", FormRaw, FormSHA256:
	default:
		return Errorf(EInvalid, "column %q: unknown form %q", c.Column, string(c.Form)).
			WithHint("form is raw or sha256")
	}
	rules := Normalizations[c.Class]
	if c.Form == FormSHA256 && c.Normalization == "" {
		return Errorf(EInvalid, "column %q: a pre-hashed (sha256) identifier needs its normalization", c.Column).
			WithHint("declare the rule applied before hashing: %s", strings.Join(rules, " or "))
	}
	if c.Normalization != "" && !slices.Contains(rules, c.Normalization) {
		return Errorf(EInvalid, "column %q: normalization %q does not apply to class %s", c.Column, c.Normalization, c.Class).
			WithHint("for %s use %s", c.Class, strings.Join(rules, " or "))
	}
	return nil
}

func (c *AttributeColumn) validate() error {
	fail := func(format string, args ...any) *Error {
		return Errorf(EInvalid, "column %q: "+format, append([]any{c.Column}, args...)...)
	}
	if !slices.Contains(ColumnTypes, c.Type) {
		if c.Type == "" {
			return fail("has no type").WithHint("type is string, int, decimal, date or bool")
		}
		return fail("unknown type %q", string(c.Type)).WithHint("type is string, int, decimal, date or bool")
	}
	switch c.Policy {
	case PolicyFilter, PolicyDimension, PolicyMetric, PolicyHidden:
	case PolicyJoin:
		return fail("join is the policy of identifier columns").
			WithHint("declare the column under \"identifiers\" with its class, or give it the policy filter, dimension, metric or hidden")
	case "":
		return fail("has no policy").WithHint("policy is filter, dimension, metric or hidden")
	default:
		return fail("unknown policy %q", string(c.Policy)).WithHint("policy is filter, dimension, metric or hidden")
	}
	if c.TruncateToDate && c.Type != TypeDate {
		return fail("truncate_to_date applies to date columns only, not %s", c.Type)
	}
	numeric := c.Type == TypeInt || c.Type == TypeDecimal

	// What each policy needs.
	switch c.Policy {
	case PolicyDimension:
		switch {
		case c.Type == TypeString && len(c.Categories) == 0:
			return fail("a dimension of type string needs its categories").
				WithHint("list the public values the column takes under \"categories\"; a dimension groups only over a declared public domain")
		case numeric && len(c.Buckets) == 0:
			return fail("a dimension of type %s needs its bucket edges", c.Type).
				WithHint("list public bucket edges under \"buckets\", e.g. [0, 1000, 5000, 20000]; a dimension groups only over a declared public domain")
		case c.Type == TypeDate:
			return fail("a dimension of type date is not supported").
				WithHint("use the column as a filter, or add a string column with categories such as months")
		}
	case PolicyMetric:
		if !numeric {
			return fail("a metric must be of type int or decimal, not %s", c.Type)
		}
		if c.Clamp == nil {
			return fail("a metric needs clamp bounds").
				WithHint("declare \"clamp\": [lo, hi], the bounds each value is clamped to before it is summed")
		}
	}

	// What each property allows.
	if len(c.Categories) > 0 {
		if c.Type != TypeString || (c.Policy != PolicyDimension && c.Policy != PolicyFilter) {
			return fail("categories apply only to string filters and dimensions")
		}
		if err := c.validateCategories(); err != nil {
			return err
		}
	}
	if len(c.Buckets) > 0 {
		if !numeric || c.Policy != PolicyDimension {
			return fail("buckets apply only to int and decimal dimensions")
		}
		if len(c.Buckets) < 2 {
			return fail("buckets need at least two edges")
		}
		if len(c.Buckets) > MaxBuckets {
			return fail("%d bucket edges, over the limit of %d", len(c.Buckets), MaxBuckets)
		}
		for i, b := range c.Buckets {
			if math.IsNaN(b) || math.IsInf(b, 0) {
				return fail("bucket edges must be finite numbers")
			}
			if i > 0 && b <= c.Buckets[i-1] {
				return fail("bucket edges must be strictly increasing (%g is not above %g)", b, c.Buckets[i-1])
			}
		}
	}
	if c.Scale != 0 {
		if c.Type != TypeDecimal {
			return fail("scale applies only to decimal columns")
		}
		if c.Scale < 0 || c.Scale > MaxScale {
			return fail("scale is %d, want 0 to %d decimal places", c.Scale, MaxScale)
		}
	}
	if c.Clamp != nil {
		if c.Policy != PolicyMetric {
			return fail("clamp bounds apply only to metrics")
		}
		lo, hi := c.Clamp[0], c.Clamp[1]
		if math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
			return fail("clamp bounds must be finite numbers")
		}
		if lo >= hi {
			return fail("clamp [%g, %g] is empty; the lower bound must be below the upper", lo, hi)
		}
		// Metrics are summed as integers in units of 10^-scale; bounds must
		// stay exact in a float64 once scaled.
		limit := math.Pow(2, 53) / math.Pow10(c.Scale)
		if math.Abs(lo) > limit || math.Abs(hi) > limit {
			return fail("clamp [%g, %g] is too wide for scale %d (at most ±%g)", lo, hi, c.Scale, limit)
		}
	}
	return nil
}

func (c *AttributeColumn) validateCategories() error {
	if len(c.Categories) > MaxCategories {
		return Errorf(EInvalid, "column %q: %d categories, over the limit of %d", c.Column, len(c.Categories), MaxCategories)
	}
	seen := make(map[string]bool, len(c.Categories))
	for i, v := range c.Categories {
		switch {
		case v == "":
			return Errorf(EInvalid, "column %q: category %d is empty", c.Column, i+1).
				WithHint("an empty cell is a missing value, not a category")
		case len(v) > MaxCategoryBytes:
			return Errorf(EInvalid, "column %q: category %d is %d bytes, over the limit of %d", c.Column, i+1, len(v), MaxCategoryBytes)
		case !utf8.ValidString(v) || strings.ContainsFunc(v, isCtlRune):
			return Errorf(EInvalid, "column %q: category %d is not printable UTF-8 text", c.Column, i+1)
		case seen[v]:
			return Errorf(EInvalid, "column %q: category %q is listed twice", c.Column, v)
		}
		seen[v] = true
	}
	return nil
}

func isCtlRune(r rune) bool { return r < 0x20 || r == 0x7f }

// Columns returns the names of the schema's columns: identifiers, then
// attributes, each in declared order.
func (s *Schema) Columns() []string {
	names := make([]string, 0, len(s.Identifiers)+len(s.Attributes))
	for _, c := range s.Identifiers {
		names = append(names, c.Column)
	}
	for _, c := range s.Attributes {
		names = append(names, c.Column)
	}
	return names
}

// Policy returns the policy of the named column: PolicyJoin for an
// identifier column, the declared policy for an attribute. ok is false if
// the schema has no such column.
func (s *Schema) Policy(column string) (policy ColumnPolicy, ok bool) {
	for _, c := range s.Identifiers {
		if c.Column == column {
			return PolicyJoin, true
		}
	}
	if a := s.Attribute(column); a != nil {
		return a.Policy, true
	}
	return "", false
}

// Attribute returns the named attribute column, or nil.
func (s *Schema) Attribute(column string) *AttributeColumn {
	for i := range s.Attributes {
		if s.Attributes[i].Column == column {
			return &s.Attributes[i]
		}
	}
	return nil
}

// prefixErr prefixes the message of a domain error, keeping its code and
// hint; other errors are wrapped.
func prefixErr(err error, format string, args ...any) error {
	prefix := fmt.Sprintf(format, args...)
	var e *Error
	if errors.As(err, &e) {
		c := *e
		c.Message = prefix + c.Message
		return &c
	}
	return fmt.Errorf("%s%w", prefix, err)
}
