package tabular

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

var utf8BOM = []byte{0xef, 0xbb, 0xbf}

// csvSource reads CSV with encoding/csv in its strict mode: RFC 4180
// quoting, no lazy quotes, every record as long as the header.
type csvSource struct {
	f      io.Closer
	guard  *csvGuard
	r      *csv.Reader
	fields int // in the header
}

func newCSVSource(f io.ReadCloser, o Options) *csvSource {
	in := bufio.NewReaderSize(f, 64<<10)
	if b, err := in.Peek(len(utf8BOM)); err == nil && bytes.Equal(b, utf8BOM) {
		in.Discard(len(utf8BOM))
	}
	g := &csvGuard{r: in, max: int64(o.MaxFieldBytes), maxFields: MaxColumns}
	r := csv.NewReader(bufio.NewReaderSize(g, 64<<10))
	r.ReuseRecord = true
	return &csvSource{f: f, guard: g, r: r}
}

func (s *csvSource) header() ([]string, error) {
	rec, err := s.r.Read()
	if err != nil {
		return nil, s.convert(rec, err)
	}
	if err := wrongDelimiter(rec); err != nil {
		return nil, err
	}
	s.fields = len(rec)
	return rec, nil
}

// wrongDelimiter recognises a file with another delimiter by its header:
// a single field containing that delimiter.
func wrongDelimiter(header []string) *cellError {
	if len(header) != 1 {
		return nil
	}
	for _, d := range []struct{ sep, what, name string }{{"\t", "a tab", "tab"}, {";", "';'", "';'"}, {"|", "'|'", "'|'"}} {
		if strings.Contains(header[0], d.sep) {
			return &cellError{field: -1,
				reason: fmt.Sprintf("the header is one field containing %s: the file looks %s-delimited; use commas", d.what, d.name),
				hint:   "save the file as CSV with ',' as the delimiter"}
		}
	}
	return nil
}

func (s *csvSource) next() ([]string, error) {
	rec, err := s.r.Read()
	if err != nil {
		return nil, s.convert(rec, err)
	}
	return rec, nil
}

func (s *csvSource) convert(rec []string, err error) error {
	var oe *overflowError
	if errors.As(err, &oe) {
		if oe.field < 0 {
			return &cellError{field: -1, reason: fmt.Sprintf("row has more than %d fields", s.guard.maxFields)}
		}
		return &cellError{field: oe.field, reason: fmt.Sprintf("field is %d bytes, over the %d-byte limit", oe.size, s.guard.max),
			hint: "a cell this long is not a column value; check the quoting of the row before it"}
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		switch {
		case errors.Is(pe.Err, csv.ErrFieldCount):
			return &cellError{field: -1, reason: fmt.Sprintf("row has %d fields, the header has %d", len(rec), s.fields),
				hint: "every row has as many fields as the header; quote fields that contain commas"}
		case errors.Is(pe.Err, csv.ErrBareQuote):
			return &cellError{field: len(rec), reason: `'"' in an unquoted field`,
				hint: `quote the field and double the quotes inside it: "a ""b"" c"`}
		case errors.Is(pe.Err, csv.ErrQuote):
			return &cellError{field: len(rec), reason: `quoted field is not closed properly`,
				hint: `a '"' inside a quoted field is doubled, and the closing '"' ends the field`}
		}
		return &cellError{field: len(rec), reason: pe.Err.Error()}
	}
	return err
}

func (s *csvSource) unsupported(string) string { return "" }

func (s *csvSource) close() error { return s.f.Close() }

// overflowError reports a field over the size limit (field is its index in
// the record) or a record with too many fields (field is -1).
type overflowError struct {
	field int
	size  int64
}

func (e *overflowError) Error() string { return "csv field over the limit" }

// csvGuard sits between the file and encoding/csv, which holds a record in
// memory before it returns it. The guard follows the CSV syntax byte by
// byte and, when a field grows over the limit, stops: it returns the bytes
// before that point with an *overflowError, counts the rest of the field
// and skips the rest of the record without keeping them, then goes on with
// the next record. encoding/csv returns the error for the record it was
// reading, so the row is reported and the following rows are still read.
type csvGuard struct {
	r         io.Reader
	max       int64
	maxFields int
	pending   []byte // read past a skipped record; served first
	scratch   []byte
	eof       error

	st    csvState
	cr    bool  // a '\r' is held back: CRLF counts as one line end
	size  int64 // bytes of the current field, as encoding/csv decodes it
	last  int64 // bytes of the field that ended last
	field int   // index of the current field in its record
}

type csvState uint8

const (
	stStart  csvState = iota // at the start of a field
	stBare                   // in an unquoted field
	stQuoted                 // in a quoted field
	stQuote                  // after a '"' in a quoted field: an escaped quote or the end
)

type csvEvent uint8

const (
	evNone   csvEvent = iota
	evField           // a field ended and another starts
	evRecord          // a record ended
)

func (g *csvGuard) Read(p []byte) (int, error) {
	n, err := g.fill(p)
	for i := 0; i < n; i++ {
		c := p[i]
		// Fast path: plain bytes inside a field.
		if !g.cr && c != ',' && c != '\n' && c != '\r' && c != '"' && (g.st == stBare || g.st == stQuoted) {
			g.size++
			if g.size > g.max {
				return g.overflow(p, i, n, false)
			}
			continue
		}
		ev := g.step(c)
		switch {
		case g.size > g.max:
			return g.overflow(p, i, n, false)
		case ev == evField && g.field >= g.maxFields:
			return g.overflow(p, i, n, true)
		}
	}
	return n, err
}

func (g *csvGuard) fill(p []byte) (int, error) {
	if len(g.pending) > 0 {
		n := copy(p, g.pending)
		g.pending = g.pending[n:]
		return n, nil
	}
	if g.eof != nil {
		return 0, g.eof
	}
	n, err := g.r.Read(p)
	if err != nil {
		g.eof = err
	}
	return n, err
}

// overflow hands p[:i] to encoding/csv and skips the rest of the record,
// counting the size of the long field.
func (g *csvGuard) overflow(p []byte, i, n int, tooMany bool) (int, error) {
	oe := &overflowError{field: -1}
	if !tooMany {
		oe.field = g.field
	}
	counting := !tooMany
	buf := p[i+1 : n]
	for {
		for j, c := range buf {
			ev := g.step(c)
			if ev == evNone {
				continue
			}
			if counting {
				oe.size, counting = g.last, false
			}
			if ev == evRecord {
				g.pending = append(slices.Clone(buf[j+1:]), g.pending...)
				return i, oe
			}
		}
		if g.scratch == nil {
			g.scratch = make([]byte, 64<<10)
		}
		m, err := g.fill(g.scratch)
		buf = g.scratch[:m]
		if m == 0 && err != nil {
			if err != io.EOF {
				return i, err
			}
			if counting {
				oe.size = g.size
			}
			g.st, g.size, g.field, g.cr = stStart, 0, 0, false
			return i, oe
		}
	}
}

// step advances the CSV state by one byte, as encoding/csv reads it.
func (g *csvGuard) step(c byte) csvEvent {
	if g.cr {
		g.cr = false
		if c != '\n' {
			g.consume('\r')
		}
	}
	if c == '\r' {
		g.cr = true
		return evNone
	}
	return g.consume(c)
}

func (g *csvGuard) consume(c byte) csvEvent {
	switch g.st {
	case stStart:
		switch c {
		case '"':
			g.st = stQuoted
			return evNone
		case ',':
			return g.endField()
		case '\n':
			return g.endRecord()
		}
		g.st, g.size = stBare, 1
	case stBare:
		switch c {
		case ',':
			return g.endField()
		case '\n':
			return g.endRecord()
		}
		g.size++
	case stQuoted:
		if c == '"' {
			g.st = stQuote
		} else {
			g.size++
		}
	case stQuote:
		switch c {
		case '"':
			g.st = stQuoted
			g.size++
		case ',':
			return g.endField()
		case '\n':
			return g.endRecord()
		default: // encoding/csv reports ErrQuote
			g.st = stBare
			g.size++
		}
	}
	return evNone
}

func (g *csvGuard) endField() csvEvent {
	g.st, g.last, g.size = stStart, g.size, 0
	g.field++
	return evField
}

func (g *csvGuard) endRecord() csvEvent {
	g.st, g.last, g.size = stStart, g.size, 0
	g.field = 0
	return evRecord
}
