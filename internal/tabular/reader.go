package tabular

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cleanroom-dev/cleanroom"
)

// Format is a file format Open reads.
type Format string

// The formats. The zero value asks Open to go by the file's extension.
const (
	FormatCSV     Format = "csv"
	FormatParquet Format = "parquet"
)

// Defaults and fixed limits.
const (
	// DefaultMaxFieldBytes is the default limit on one cell.
	DefaultMaxFieldBytes = 1 << 20
	// DefaultMaxErrors is the default number of errors a Scanner keeps.
	DefaultMaxErrors = 20
	// MaxColumns is the most columns a file may have.
	MaxColumns = 4096
)

// Options configure reading and validating one file. A nil *Options means
// every default.
type Options struct {
	// MaxFieldBytes is the largest cell accepted, in bytes. Optional; zero
	// means DefaultMaxFieldBytes. A CSV field over the limit is skipped
	// without being held in memory.
	MaxFieldBytes int
	// MaxErrors is how many errors a Scanner keeps in Result.Errors; it
	// counts all of them. Optional; zero means DefaultMaxErrors.
	MaxErrors int
}

func (o *Options) withDefaults() (Options, error) {
	var c Options
	if o != nil {
		c = *o
	}
	if c.MaxFieldBytes < 0 || c.MaxErrors < 0 {
		return c, fmt.Errorf("tabular: negative option in %+v", c)
	}
	if c.MaxFieldBytes == 0 {
		c.MaxFieldBytes = DefaultMaxFieldBytes
	}
	if c.MaxErrors == 0 {
		c.MaxErrors = DefaultMaxErrors
	}
	return c, nil
}

// Row numbers of a RowError that are not data rows.
const (
	// FileRow marks an error about the file as a whole.
	FileRow = -1
	// HeaderRow marks an error in the header.
	HeaderRow = 0
)

// RowError is one reason a file is rejected. It never holds the value of an
// identifier cell; other values are quoted, cut to 40 bytes.
type RowError struct {
	// File is the base name of the file.
	File string
	// Row is the 1-based number of the data row (the row after the header
	// is 1), or HeaderRow or FileRow.
	Row int
	// Column is the name of the column, if the error is about one.
	Column string
	// Reason says what is wrong, in words for the person who made the file.
	Reason string
	// Hint, if set, says what to do about it.
	Hint string
}

// Error returns the file, row, column and reason, for example
// `subscribers.csv: row 12: column "tier": value "gold" is not a declared category`.
func (e *RowError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	switch {
	case e.Row == HeaderRow:
		b.WriteString(": header")
	case e.Row > 0:
		b.WriteString(": row ")
		b.WriteString(strconv.Itoa(e.Row))
	}
	if e.Column != "" {
		b.WriteString(": column ")
		b.WriteString(strconv.Quote(e.Column))
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// As lets errors.As see a RowError as a *cleanroom.Error with code
// EInvalid, so the command line and the API show it as it is.
func (e *RowError) As(target any) bool {
	if t, ok := target.(**cleanroom.Error); ok {
		*t = &cleanroom.Error{Code: cleanroom.EInvalid, Message: e.Error(), Hint: e.Hint}
		return true
	}
	return false
}

// source is one file format's row reader.
type source interface {
	// header returns the column names. It is called once, first.
	header() ([]string, error)
	// next returns the next row's cells, io.EOF, a *cellError for a bad
	// row after which reading goes on, or another error that ends reading.
	next() ([]string, error)
	// unsupported says why a column cannot be read, or "".
	unsupported(column string) string
	close() error
}

// cellError is a bad row as a source reports it: the field index (or -1)
// and the reason.
type cellError struct {
	field  int
	reason string
	hint   string
}

func (e *cellError) Error() string { return e.reason }

// Reader reads the rows of one CSV or Parquet file, one at a time, so a file
// of any length is read in constant memory. It is not safe for concurrent
// use.
type Reader struct {
	file    string
	format  Format
	opts    Options
	src     source
	columns []string
	row     int
	err     error // sticky fatal error
}

// Open opens a CSV or Parquet file and reads its header. format "" picks the
// format by extension (.csv; .parquet, .parq or .pq); opts nil means the
// defaults. A file Open rejects gives a *RowError saying why (unknown
// format, empty file, no usable header); an I/O error is returned wrapped.
// The caller closes the Reader.
func Open(path string, format Format, opts *Options) (*Reader, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	name := filepath.Base(path)
	reject := func(reason, hint string) error {
		return &RowError{File: name, Row: FileRow, Reason: reason, Hint: hint}
	}
	if format == "" {
		if format = formatOf(path); format == "" {
			ext := filepath.Ext(path)
			if ext == "" {
				return nil, reject("unknown format: the file name has no extension", "name the file .csv or .parquet, or pass the format")
			}
			return nil, reject(fmt.Sprintf("unknown format %q", ext), "use CSV (.csv) or Parquet (.parquet) files, or pass the format")
		}
	}
	if format != FormatCSV && format != FormatParquet {
		return nil, reject("unknown format "+quoteValue(string(format)), "the format is csv or parquet")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open dataset file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open dataset file: %w", err)
	}
	if fi.IsDir() {
		f.Close()
		return nil, reject("is a directory, not a file", "")
	}
	if fi.Size() == 0 {
		f.Close()
		return nil, reject("file is empty", "export the data again with a header row and at least one data row")
	}
	var magic [4]byte
	n, _ := io.ReadFull(f, magic[:])
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("open dataset file: %w", err)
	}
	if reason, hint := sniff(magic[:n], format); reason != "" {
		f.Close()
		return nil, reject(reason, hint)
	}
	r := &Reader{file: name, format: format, opts: o}
	switch format {
	case FormatCSV:
		r.src = newCSVSource(f, o)
	case FormatParquet:
		ps, err := newParquetSource(f, fi.Size(), o)
		if err != nil {
			f.Close()
			var ce *cellError
			if errors.As(err, &ce) {
				return nil, reject(ce.reason, ce.hint)
			}
			return nil, fmt.Errorf("open dataset file %s: %w", name, err)
		}
		r.src = ps
	}
	if err := r.readHeader(); err != nil {
		r.src.close()
		return nil, err
	}
	return r, nil
}

// newCSVReader reads CSV from an io.Reader; for tests and fuzzing.
func newCSVReader(name string, in io.Reader, opts *Options) (*Reader, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &Reader{file: name, format: FormatCSV, opts: o, src: newCSVSource(io.NopCloser(in), o)}
	if err := r.readHeader(); err != nil {
		return nil, err
	}
	return r, nil
}

func formatOf(path string) Format {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return FormatCSV
	case ".parquet", ".parq", ".pq":
		return FormatParquet
	}
	return ""
}

// sniff recognises files that are plainly not of the expected format by
// their first bytes.
func sniff(magic []byte, format Format) (reason, hint string) {
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		return "file is gzip-compressed", "decompress it first"
	case bytes.HasPrefix(magic, []byte("PK\x03\x04")):
		return "file is a ZIP archive (an Excel workbook?)", "export the sheet as CSV (UTF-8, comma-delimited)"
	case bytes.HasPrefix(magic, []byte{0xff, 0xfe}), bytes.HasPrefix(magic, []byte{0xfe, 0xff}):
		return "file is UTF-16 encoded (it starts with a UTF-16 byte-order mark)", "save it as UTF-8"
	case format == FormatCSV && bytes.Equal(magic, []byte("PAR1")):
		return "file is Parquet, not CSV", "name it .parquet or pass the parquet format"
	case format == FormatParquet && !bytes.Equal(magic, []byte("PAR1")):
		if bytes.Equal(magic, []byte("PARE")) {
			return "encrypted Parquet files are not supported", "write the file without Parquet encryption; the agent encrypts what it uploads"
		}
		return "not a Parquet file: it does not start with PAR1", "if it is CSV, name it .csv or pass the csv format"
	}
	return "", ""
}

func (r *Reader) readHeader() error {
	h, err := r.src.header()
	if err != nil {
		var ce *cellError
		if errors.As(err, &ce) {
			reason := ce.reason
			if ce.field >= 0 {
				reason = fmt.Sprintf("column %d: %s", ce.field+1, reason)
			}
			return &RowError{File: r.file, Row: HeaderRow, Reason: reason, Hint: ce.hint}
		}
		if errors.Is(err, io.EOF) {
			return &RowError{File: r.file, Row: FileRow, Reason: "file is empty", Hint: "export the data again with a header row and at least one data row"}
		}
		return fmt.Errorf("read %s: %w", r.file, err)
	}
	if reason, hint := checkHeader(h); reason != "" {
		return &RowError{File: r.file, Row: HeaderRow, Reason: reason, Hint: hint}
	}
	r.columns = append([]string(nil), h...)
	return nil
}

// checkHeader rejects column names no schema can refer to unambiguously.
// It quotes a name only if it looks like one: when the file has no header,
// the "names" are a row of data.
func checkHeader(h []string) (reason, hint string) {
	if len(h) > MaxColumns {
		return fmt.Sprintf("the header has %d columns, over the limit of %d", len(h), MaxColumns), ""
	}
	for i, name := range h {
		switch {
		case strings.IndexByte(name, 0) >= 0:
			return fmt.Sprintf("column %d: name contains a NUL byte", i+1), "is the file UTF-16? save it as UTF-8"
		case !utf8.ValidString(name):
			return fmt.Sprintf("column %d: name is not valid UTF-8", i+1), "save the file as UTF-8"
		}
	}
	seen := make(map[string]int, len(h))
	for i, name := range h {
		if strings.TrimSpace(name) == "" {
			if looksLikeData(h) {
				return noHeader()
			}
			return fmt.Sprintf("column %d has no name", i+1),
				"name every column; an unnamed first column is often an index written by pandas (write the file with index=False)"
		}
		if j, ok := seen[name]; ok {
			if looksLikeData(h) {
				return noHeader()
			}
			if safeName(name) {
				return fmt.Sprintf("column %q appears twice (columns %d and %d)", name, j+1, i+1), "give every column its own name"
			}
			return fmt.Sprintf("columns %d and %d have the same name", j+1, i+1), "give every column its own name"
		}
		seen[name] = i
	}
	return "", ""
}

func noHeader() (reason, hint string) {
	return "the file has no header: the first row holds values, not column names",
		"add a first row naming the columns as the schema does"
}

// looksLikeData reports whether a header row holds values rather than
// names: a number, a date or an e-mail address.
func looksLikeData(h []string) bool {
	for _, s := range h {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if strings.Contains(s, "@") {
			return true
		}
		if _, err := strconv.ParseFloat(strings.TrimPrefix(s, "+"), 64); err == nil {
			return true
		}
		if len(s) == 10 && s[4] == '-' && s[7] == '-' && isDigits(s[:4]) {
			return true
		}
	}
	return false
}

// safeName reports whether a header cell may be quoted in an error: it
// looks like a column name, not like a value.
func safeName(s string) bool {
	if s == "" || len(s) > 64 || looksLikeData([]string{s}) {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == ' ' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// File returns the base name of the file, as errors name it.
func (r *Reader) File() string { return r.file }

// Format returns the file's format.
func (r *Reader) Format() Format { return r.format }

// Header returns the column names in file order. The caller must not modify
// the slice.
func (r *Reader) Header() []string { return r.columns }

// Row returns the number of the data row Next returned last (1-based), or 0
// before the first call.
func (r *Reader) Row() int { return r.row }

// Next returns the cells of the next data row, one per header column, with
// Parquet values written as text (see the package documentation). The
// slice is reused by the next call; the strings are not.
//
// Next returns io.EOF after the last row. A malformed row gives a *RowError
// and reading may go on with the next call. Any other error is final: it
// is returned by every later call.
func (r *Reader) Next() ([]string, error) {
	if r.err != nil {
		return nil, r.err
	}
	cells, err := r.src.next()
	if err == io.EOF {
		r.err = io.EOF
		return nil, err
	}
	r.row++
	if err != nil {
		var ce *cellError
		if errors.As(err, &ce) {
			col, reason := r.columnName(ce.field), ce.reason
			if col == "" && ce.field >= 0 {
				reason = fmt.Sprintf("field %d: %s", ce.field+1, reason)
			}
			return nil, &RowError{File: r.file, Row: r.row, Column: col, Reason: reason, Hint: ce.hint}
		}
		r.err = fmt.Errorf("read %s: row %d: %w", r.file, r.row, err)
		return nil, r.err
	}
	return cells, nil
}

// columnName returns the name of column i for an error, or "" if it has
// none fit to print.
func (r *Reader) columnName(i int) string {
	if i < 0 || i >= len(r.columns) || !safeName(r.columns[i]) {
		return ""
	}
	return r.columns[i]
}

// Close closes the file.
func (r *Reader) Close() error { return r.src.close() }

// quoteValue quotes a cell for an error message, cut to 40 bytes at a rune
// boundary. Never call it with an identifier.
func quoteValue(s string) string {
	const max = 40
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…"
}
