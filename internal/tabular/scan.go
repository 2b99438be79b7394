package tabular

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cleanroom-dev/cleanroom"
)

// Row is a data row that passed every check, typed by the schema.
type Row struct {
	// Number is the 1-based number of the data row in the file.
	Number int
	// Identifiers holds the cells of the schema's identifier columns, in
	// the schema's order, exactly as read: normalising them is the
	// caller's job. "" is a missing identifier.
	Identifiers []string
	// Attributes holds the values of the schema's attribute columns, in the
	// schema's order.
	Attributes []Value
}

// Value is an attribute cell parsed by its column's type. Values are
// comparable with ==.
type Value struct {
	// Null reports an empty cell; the other fields are then zero.
	Null bool
	// String is the cell of a string column.
	String string
	// Int is the value of an int column; of a decimal column, the value in
	// units of 10^-scale rounded half away from zero (12.345 at scale 2 is
	// 1235); of a date column, days since 1970-01-01; of a bool column, 1
	// for true and 0 for false.
	Int int64
	// Float is the value of an int or decimal column as a float64, for
	// comparing with bucket edges; sums use Int.
	Float float64
}

// Result summarises the validation of one file.
type Result struct {
	// File is the base name of the file.
	File string
	// Rows is the number of data rows read, valid or not.
	Rows int
	// InvalidRows is the number of rows with at least one error.
	InvalidRows int
	// Errors holds the first errors found, in file order, at most
	// Options.MaxErrors of them.
	Errors []RowError
	// ErrorCount is the number of errors found, kept or not.
	ErrorCount int
	// Missing counts the empty cells of every declared column.
	Missing map[string]int
	// Ignored lists the file's columns the schema does not declare; they
	// are not read. A name that does not look like a column name is
	// written as "column N".
	Ignored []string
}

// FileError is the error of a rejected file: its first errors and how many
// there were. errors.As finds the first *RowError in it.
type FileError struct {
	File   string
	Errors []RowError
	Count  int
}

// Error returns the first error and the number of the others, for example
// `subscribers.csv: row 3: column "arpu": value "1,5" is not a decimal number (and 41 more errors)`.
func (e *FileError) Error() string {
	if len(e.Errors) == 0 {
		return fmt.Sprintf("%s: %d errors", e.File, e.Count)
	}
	msg := e.Errors[0].Error()
	switch more := e.Count - 1; {
	case more == 1:
		msg += " (and 1 more error)"
	case more > 1:
		msg += fmt.Sprintf(" (and %d more errors)", more)
	}
	return msg
}

// Unwrap returns the kept errors, each a *RowError.
func (e *FileError) Unwrap() []error {
	errs := make([]error, len(e.Errors))
	for i := range e.Errors {
		errs[i] = &e.Errors[i]
	}
	return errs
}

// As lets errors.As see a FileError as a *cleanroom.Error with code
// EInvalid.
func (e *FileError) As(target any) bool {
	if t, ok := target.(**cleanroom.Error); ok {
		*t = &cleanroom.Error{Code: cleanroom.EInvalid, Message: e.Error()}
		if len(e.Errors) > 0 {
			(*t).Hint = e.Errors[0].Hint
		}
		return true
	}
	return false
}

// Validate reads every row of r and checks it against schema. It returns
// the Result, and an error if the file is rejected: a *FileError listing
// the first errors, or an I/O error. The Reader is read to its end but not
// closed.
func Validate(schema *cleanroom.Schema, r *Reader) (*Result, error) {
	s := NewScanner(schema, r)
	for s.Scan() {
	}
	return s.Result(), s.Err()
}

// Scanner reads the rows of a file that pass every check against a schema,
// typed, while it records the errors of the others; so a file can be
// validated and processed in one pass, and discarded at the end if Err is
// not nil. It is not safe for concurrent use.
//
//	s := tabular.NewScanner(schema, r)
//	for s.Scan() {
//		use(s.Row())
//	}
//	if err := s.Err(); err != nil {
//		// the file is rejected: discard what was done with its rows
//	}
type Scanner struct {
	schema *cleanroom.Schema
	r      *Reader
	max    int

	started, done bool
	idPos         []int
	attrs         []attrCheck
	row           Row
	res           Result
	err           error
}

type attrCheck struct {
	col        *cleanroom.AttributeColumn
	pos        int
	categories map[string]bool
}

// NewScanner returns a Scanner of r's rows against schema. The schema must
// stay unchanged while the Scanner is used.
func NewScanner(schema *cleanroom.Schema, r *Reader) *Scanner {
	s := &Scanner{schema: schema, r: r, max: r.opts.MaxErrors}
	s.res.File = r.File()
	s.res.Missing = map[string]int{}
	return s
}

// Scan advances to the next row that passes every check and reports
// whether there is one. Rows that fail are recorded in the Result and
// skipped. When Scan returns false, Result and Err are final.
func (s *Scanner) Scan() bool {
	if s.done {
		return false
	}
	if !s.started {
		s.started = true
		if !s.start() {
			s.done = true
			return false
		}
	}
	for {
		cells, err := s.r.Next()
		if err == io.EOF {
			s.done = true
			if s.res.Rows == 0 && s.res.ErrorCount == 0 {
				s.add(RowError{File: s.r.File(), Row: FileRow, Reason: "file has a header but no data rows"})
			}
			return false
		}
		if err != nil {
			var re *RowError
			if errors.As(err, &re) {
				s.res.Rows++
				s.res.InvalidRows++
				s.add(*re)
				continue
			}
			s.err, s.done = err, true
			return false
		}
		s.res.Rows++
		if s.check(cells) {
			return true
		}
		s.res.InvalidRows++
	}
}

// Row returns the row Scan found. It is valid until the next call to Scan.
func (s *Scanner) Row() *Row { return &s.row }

// Result returns the summary of the rows read so far.
func (s *Scanner) Result() *Result { return &s.res }

// Err returns nil if every row read so far is valid, a *FileError if some
// are not, or the error that stopped reading.
func (s *Scanner) Err() error {
	if s.err != nil {
		return s.err
	}
	if s.res.ErrorCount > 0 {
		return &FileError{File: s.res.File, Errors: s.res.Errors, Count: s.res.ErrorCount}
	}
	return nil
}

func (s *Scanner) add(e RowError) {
	s.res.ErrorCount++
	if len(s.res.Errors) < s.max {
		s.res.Errors = append(s.res.Errors, e)
	}
}

func (s *Scanner) headerError(column, reason, hint string) {
	s.add(RowError{File: s.r.File(), Row: HeaderRow, Column: column, Reason: reason, Hint: hint})
}

// start matches the header with the schema.
func (s *Scanner) start() bool {
	if err := s.schema.Validate(); err != nil {
		s.err = fmt.Errorf("validate %s: %w", s.r.File(), err)
		return false
	}
	header := s.r.Header()
	pos := make(map[string]int, len(header))
	for i, name := range header {
		pos[name] = i
	}
	declared := s.schema.Columns()
	found := 0
	for _, name := range declared {
		if _, ok := pos[name]; ok {
			found++
		}
		s.res.Missing[name] = 0
	}
	if found == 0 {
		if looksLikeData(header) {
			reason, hint := noHeader()
			s.headerError("", reason, hint)
		} else {
			s.headerError("", "the header names none of the schema's columns",
				"the schema's columns are "+listNames(declared)+"; name the file's columns the same way")
		}
		return false
	}
	for i, name := range header {
		if s.schema.Attribute(name) == nil && !s.isIdentifier(name) {
			if safeName(name) {
				s.res.Ignored = append(s.res.Ignored, name)
			} else {
				s.res.Ignored = append(s.res.Ignored, fmt.Sprintf("column %d", i+1))
			}
		}
	}
	locate := func(name, what string) int {
		p, ok := pos[name]
		if !ok {
			s.headerError(name, what+" is missing", missingHint(name, header))
			return -1
		}
		if why := s.r.src.unsupported(name); why != "" {
			s.headerError(name, why, "")
			return -1
		}
		return p
	}
	s.idPos = make([]int, len(s.schema.Identifiers))
	for i, c := range s.schema.Identifiers {
		s.idPos[i] = locate(c.Column, "identifier column")
	}
	s.attrs = make([]attrCheck, len(s.schema.Attributes))
	for i := range s.schema.Attributes {
		c := &s.schema.Attributes[i]
		s.attrs[i] = attrCheck{col: c, pos: locate(c.Column, "column")}
		if len(c.Categories) > 0 {
			s.attrs[i].categories = make(map[string]bool, len(c.Categories))
			for _, v := range c.Categories {
				s.attrs[i].categories[v] = true
			}
		}
	}
	if s.res.ErrorCount > 0 {
		return false
	}
	s.row.Identifiers = make([]string, len(s.schema.Identifiers))
	s.row.Attributes = make([]Value, len(s.schema.Attributes))
	return true
}

func (s *Scanner) isIdentifier(name string) bool {
	for _, c := range s.schema.Identifiers {
		if c.Column == name {
			return true
		}
	}
	return false
}

// missingHint points out a header cell that differs from the declared
// name only in case or surrounding spaces. Quoting it is safe: it equals a
// column name up to those.
func missingHint(name string, header []string) string {
	for _, h := range header {
		if strings.EqualFold(strings.TrimSpace(h), name) {
			return fmt.Sprintf("the header has %q; column names must match the schema exactly", h)
		}
	}
	return "add the column to the file, or remove it from the schema"
}

func listNames(names []string) string {
	const show = 8
	if len(names) <= show {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:show], ", "), len(names)-show)
}

// check checks one row's cells and fills s.row if they pass.
func (s *Scanner) check(cells []string) bool {
	ok := true
	n := s.r.Row()
	fail := func(column, reason, hint string) {
		s.add(RowError{File: s.r.File(), Row: n, Column: column, Reason: reason, Hint: hint})
		ok = false
	}
	for i, c := range s.schema.Identifiers {
		v := cells[s.idPos[i]]
		s.row.Identifiers[i] = v
		if v == "" {
			s.res.Missing[c.Column]++
			continue
		}
		// Never quote an identifier.
		if reason := textProblem(v); reason != "" {
			fail(c.Column, reason, "")
		}
	}
	for i := range s.attrs {
		a := &s.attrs[i]
		v := cells[a.pos]
		if v == "" {
			s.res.Missing[a.col.Column]++
			s.row.Attributes[i] = Value{Null: true}
			continue
		}
		if reason := textProblem(v); reason != "" {
			fail(a.col.Column, reason, "")
			continue
		}
		val, reason, hint := a.parse(v)
		if reason != "" {
			fail(a.col.Column, reason, hint)
			continue
		}
		s.row.Attributes[i] = val
	}
	if ok {
		s.row.Number = n
	}
	return ok
}

func textProblem(v string) string {
	if strings.IndexByte(v, 0) >= 0 {
		return "value contains a NUL byte"
	}
	if !utf8.ValidString(v) {
		return "value is not valid UTF-8"
	}
	return ""
}

// parse parses a non-empty cell by the column's type and checks it against
// the column's declared domain.
func (a *attrCheck) parse(v string) (val Value, reason, hint string) {
	c := a.col
	switch c.Type {
	case cleanroom.TypeString:
		if a.categories != nil && !a.categories[v] {
			return val, fmt.Sprintf("value %s is not a declared category", quoteValue(v)), categoryHint(c, v)
		}
		val.String = v
		return val, "", ""
	case cleanroom.TypeInt:
		n, err := strconv.ParseInt(v, 10, 64)
		if errors.Is(err, strconv.ErrRange) {
			return val, fmt.Sprintf("value %s is out of range for a 64-bit integer", quoteValue(v)), ""
		}
		if err != nil {
			return val, fmt.Sprintf("value %s is not an integer", quoteValue(v)), "write integers as digits with an optional sign, e.g. 42 or -7"
		}
		val.Int, val.Float = n, float64(n)
	case cleanroom.TypeDecimal:
		n, f, reason, hint := parseDecimal(v, c.Scale)
		if reason != "" {
			return val, reason, hint
		}
		val.Int, val.Float = n, f
	case cleanroom.TypeDate:
		t, err := time.Parse(time.DateOnly, v)
		if err != nil && c.TruncateToDate && len(v) > 10 && v[10] == 'T' {
			// An RFC 3339 timestamp (an event log's), in a column whose
			// owner declared it: its UTC date.
			if ts, terr := time.Parse(time.RFC3339, v); terr == nil {
				y, m, d := ts.UTC().Date()
				t, err = time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
			}
		}
		if err != nil {
			if len(v) == 10 && v[4] == '-' && v[7] == '-' && isDigits(v[:4]+v[5:7]+v[8:]) {
				return val, fmt.Sprintf("value %s is not a valid date", quoteValue(v)), ""
			}
			return val, fmt.Sprintf("value %s is not a date", quoteValue(v)), "write dates as YYYY-MM-DD, e.g. 2024-03-31 (a column declared with truncate_to_date also takes RFC 3339 timestamps)"
		}
		val.Int = t.Unix() / 86400
		return val, "", ""
	case cleanroom.TypeBool:
		switch {
		case v == "1" || strings.EqualFold(v, "true"):
			val.Int = 1
		case v == "0" || strings.EqualFold(v, "false"):
		default:
			return val, fmt.Sprintf("value %s is not a boolean", quoteValue(v)), "write booleans as true, false, 1 or 0"
		}
		return val, "", ""
	}
	if b := c.Buckets; len(b) > 0 && (val.Float < b[0] || val.Float > b[len(b)-1]) {
		return Value{}, fmt.Sprintf("value %s is outside the declared buckets [%g, %g]", quoteValue(v), b[0], b[len(b)-1]),
			"widen the first or last bucket edge in the schema to cover every value"
	}
	return val, "", ""
}

func categoryHint(c *cleanroom.AttributeColumn, v string) string {
	for _, cat := range c.Categories {
		if strings.EqualFold(strings.TrimSpace(v), cat) {
			return fmt.Sprintf("categories are matched exactly: did you mean %q?", cat)
		}
	}
	return "the declared categories are " + listQuoted(c.Categories)
}

func listQuoted(vs []string) string {
	const show = 8
	q := make([]string, 0, show)
	for i, v := range vs {
		if i == show {
			return fmt.Sprintf("%s and %d more", strings.Join(q, ", "), len(vs)-show)
		}
		q = append(q, quoteValue(v))
	}
	return strings.Join(q, ", ")
}

// maxDecimalDigits bounds the digits of a decimal at its scale so that it
// fits an int64.
const maxDecimalDigits = 18

// parseDecimal parses [+-]digits[.digits] into units of 10^-scale, rounded
// half away from zero, and a float64.
func parseDecimal(v string, scale int) (units int64, f float64, reason, hint string) {
	bad := func() (int64, float64, string, string) {
		reason := fmt.Sprintf("value %s is not a decimal number", quoteValue(v))
		switch {
		case strings.Contains(v, ","):
			return 0, 0, reason, "use '.' as the decimal separator, without thousands separators"
		case strings.ContainsAny(v, "eE") && !strings.ContainsFunc(v, func(r rune) bool { return r >= 'a' && r <= 'z' && r != 'e' }):
			return 0, 0, reason, "write the number without an exponent, e.g. 1500 rather than 1.5e3"
		}
		return 0, 0, reason, "write decimals as digits with '.' as the separator, e.g. 12.50 or -3"
	}
	i := 0
	neg := false
	if i < len(v) && (v[i] == '+' || v[i] == '-') {
		neg = v[i] == '-'
		i++
	}
	start := i
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	whole := v[start:i]
	var frac string
	if i < len(v) && v[i] == '.' {
		i++
		fs := i
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
		frac = v[fs:i]
		if frac == "" {
			return bad()
		}
	}
	if whole == "" || i != len(v) {
		return bad()
	}
	whole = strings.TrimLeft(whole, "0")
	if len(whole)+scale > maxDecimalDigits {
		return 0, 0, fmt.Sprintf("value %s is out of range: at most %d digits before the decimal point", quoteValue(v), maxDecimalDigits-scale), ""
	}
	for k := 0; k < len(whole); k++ {
		units = units*10 + int64(whole[k]-'0')
	}
	for k := 0; k < scale; k++ {
		units *= 10
		if k < len(frac) {
			units += int64(frac[k] - '0')
		}
	}
	if len(frac) > scale && frac[scale] >= '5' {
		units++
	}
	if neg {
		units = -units
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil { // cannot happen for this syntax and length
		return bad()
	}
	return units, f, "", ""
}

// ValueChecker parses single values of one attribute column by the same
// rules a Scanner applies, for values that arrive without a file (the room
// checks an upload's payload with it). It is safe for concurrent use.
type ValueChecker struct{ a attrCheck }

// NewValueChecker returns the checker of column c, which must not change
// while the checker is used.
func NewValueChecker(c *cleanroom.AttributeColumn) *ValueChecker {
	a := attrCheck{col: c}
	if len(c.Categories) > 0 {
		a.categories = make(map[string]bool, len(c.Categories))
		for _, v := range c.Categories {
			a.categories[v] = true
		}
	}
	return &ValueChecker{a: a}
}

// Parse parses v, "" being a missing value, and returns an error saying
// why a value is not valid for the column.
func (vc *ValueChecker) Parse(v string) (Value, error) {
	if v == "" {
		return Value{Null: true}, nil
	}
	if p := textProblem(v); p != "" {
		return Value{}, errors.New(p)
	}
	val, reason, _ := vc.a.parse(v)
	if reason != "" {
		return Value{}, errors.New(reason)
	}
	return val, nil
}
