package tabular

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/cleanroom-dev/cleanroom"
)

func testSchema() *cleanroom.Schema {
	return &cleanroom.Schema{
		Identifiers: []cleanroom.IdentifierColumn{
			{Column: "phone", Class: cleanroom.ClassPhone, Priority: 1},
			{Column: "email", Class: cleanroom.ClassEmail, Priority: 2},
		},
		Attributes: []cleanroom.AttributeColumn{
			{Column: "tier", Type: cleanroom.TypeString, Policy: cleanroom.PolicyDimension, Categories: []string{"basic", "standard", "premium"}},
			{Column: "region", Type: cleanroom.TypeString, Policy: cleanroom.PolicyFilter},
			{Column: "arpu", Type: cleanroom.TypeDecimal, Policy: cleanroom.PolicyMetric, Clamp: &[2]float64{0, 5000}, Scale: 2},
			{Column: "spend", Type: cleanroom.TypeDecimal, Policy: cleanroom.PolicyDimension, Buckets: []float64{0, 1000, 5000, 20000}},
			{Column: "sms", Type: cleanroom.TypeInt, Policy: cleanroom.PolicyMetric, Clamp: &[2]float64{0, 1000}},
			{Column: "signup", Type: cleanroom.TypeDate, Policy: cleanroom.PolicyFilter},
			{Column: "defaulted", Type: cleanroom.TypeBool, Policy: cleanroom.PolicyDimension},
			{Column: "notes", Type: cleanroom.TypeString, Policy: cleanroom.PolicyHidden},
		},
	}
}

const testHeader = "phone,email,tier,region,arpu,spend,sms,signup,defaulted,notes"

// goodRows are valid rows of testSchema: quoting, an embedded line break,
// CRLF, missing values, rounding and every boolean spelling.
var goodRows = []string{
	"+79123456789,ann@example.com,premium,moscow,12.50,999.99,3,2024-01-05,true,",
	"89123456780,,basic,,0,0,0,2023-12-31,0,\"multi\nline, with \"\"quotes\"\"\"",
	",bob@example.com,standard,\"kazan\",4999.999,20000,1000,1970-01-01,FALSE,x",
	"9123456789,c@example.com,basic,omsk,-0.005,12.5,-7,2000-02-29,1,é ü",
}

// goodWant is what goodRows read as.
var goodWant = []Row{
	{1, []string{"+79123456789", "ann@example.com"}, []Value{str("premium"), str("moscow"), dec(1250, 12.5), dec(1000, 999.99), num(3), day(19727), boolean(true), null()}},
	{2, []string{"89123456780", ""}, []Value{str("basic"), null(), dec(0, 0), dec(0, 0), num(0), day(19722), boolean(false), str("multi\nline, with \"quotes\"")}},
	{3, []string{"", "bob@example.com"}, []Value{str("standard"), str("kazan"), dec(500000, 4999.999), dec(20000, 20000), num(1000), day(0), boolean(false), str("x")}},
	{4, []string{"9123456789", "c@example.com"}, []Value{str("basic"), str("omsk"), dec(-1, -0.005), dec(13, 12.5), num(-7), day(11016), boolean(true), str("é ü")}},
}

func str(s string) Value               { return Value{String: s} }
func dec(units int64, f float64) Value { return Value{Int: units, Float: f} }
func num(n int64) Value                { return Value{Int: n, Float: float64(n)} }
func day(d int64) Value                { return Value{Int: d} }
func null() Value                      { return Value{Null: true} }
func boolean(b bool) Value {
	if b {
		return Value{Int: 1}
	}
	return Value{}
}

func csvFile(rows ...string) []byte {
	return []byte(testHeader + "\n" + strings.Join(rows, "\n") + "\n")
}

// withRow returns goodRows with row i (1-based) replaced.
func withRow(i int, row string) []byte {
	rows := slices.Clone(goodRows)
	rows[i-1] = row
	return csvFile(rows...)
}

func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// readAll opens and scans a file, returning the valid rows and the errors,
// whichever step reported them.
func readAll(t testing.TB, path string, format Format, opts *Options) ([]Row, *Result, []RowError) {
	t.Helper()
	r, err := Open(path, format, opts)
	if err != nil {
		var re *RowError
		if !errors.As(err, &re) {
			t.Fatalf("Open(%s) = %v, want a *RowError", filepath.Base(path), err)
		}
		return nil, nil, []RowError{*re}
	}
	defer r.Close()
	s := NewScanner(testSchema(), r)
	var rows []Row
	for s.Scan() {
		row := *s.Row()
		row.Identifiers = slices.Clone(row.Identifiers)
		row.Attributes = slices.Clone(row.Attributes)
		rows = append(rows, row)
	}
	err = s.Err()
	var fe *FileError
	if err != nil && !errors.As(err, &fe) {
		t.Fatalf("Scan(%s): %v, want a *FileError", filepath.Base(path), err)
	}
	return rows, s.Result(), s.Result().Errors
}

func errorsText(errs []RowError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "\n\t{File: %q, Row: %d, Column: %q, Reason: %q}", e.File, e.Row, e.Column, e.Reason)
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

func sameErrors(got, want []RowError) bool {
	return slices.EqualFunc(got, want, func(a, b RowError) bool {
		return a.File == b.File && a.Row == b.Row && a.Column == b.Column && a.Reason == b.Reason
	})
}

func TestGoodCSV(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"plain", csvFile(goodRows...)},
		{"with BOM", append([]byte("\xef\xbb\xbf"), csvFile(goodRows...)...)},
		{"CRLF", bytes.ReplaceAll(csvFile(goodRows...), []byte("\n"), []byte("\r\n"))},
		{"blank lines", []byte(testHeader + "\n\n" + strings.Join(goodRows, "\n\n") + "\n\n")},
		{"no final newline", bytes.TrimSuffix(csvFile(goodRows...), []byte("\n"))},
		{"columns reordered, one extra", []byte("notes,extra,defaulted,signup,sms,spend,arpu,region,tier,email,phone\n" +
			",1,true,2024-01-05,3,999.99,12.50,moscow,premium,ann@example.com,+79123456789\n" +
			"\"multi\nline, with \"\"quotes\"\"\",2,0,2023-12-31,0,0,0,,basic,,89123456780\n" +
			"x,3,FALSE,1970-01-01,1000,20000,4999.999,kazan,standard,bob@example.com,\n" +
			"é ü,4,1,2000-02-29,-7,12.5,-0.005,omsk,basic,c@example.com,9123456789\n")},
	} {
		rows, res, errs := readAll(t, writeFile(t, "good.csv", tc.data), "", nil)
		if len(errs) > 0 {
			t.Errorf("%s: errors %s, want none", tc.name, errorsText(errs))
			continue
		}
		if !slices.EqualFunc(rows, goodWant, equalRows) {
			t.Errorf("%s: rows\n%+v\nwant\n%+v", tc.name, rows, goodWant)
		}
		if res.Rows != 4 || res.Missing["phone"] != 1 || res.Missing["email"] != 1 || res.Missing["region"] != 1 || res.Missing["notes"] != 1 || res.Missing["tier"] != 0 {
			t.Errorf("%s: Result = %+v, want 4 rows, one missing phone, email, region and notes", tc.name, res)
		}
	}
}

func equalRows(a, b Row) bool {
	return a.Number == b.Number && slices.Equal(a.Identifiers, b.Identifiers) && slices.Equal(a.Attributes, b.Attributes)
}

func TestBadFiles(t *testing.T) {
	long := strings.Repeat("x", 10<<20)
	// A quoted 1.5 MiB field with doubled quotes and line breaks: its size is
	// counted as encoding/csv decodes it.
	quotedLong := `"` + strings.Repeat("a\"\"\n", 1<<19) + `"`
	manyFields := strings.Repeat(",", 5000)
	cases := []struct {
		name   string
		file   string
		data   []byte
		format Format
		opts   *Options
		want   []RowError
		count  int // total errors, if more than kept
	}{
		{name: "empty file", file: "empty.csv", data: nil,
			want: []RowError{{File: "empty.csv", Row: FileRow, Reason: "file is empty"}}},
		{name: "only a BOM", file: "bom.csv", data: []byte("\xef\xbb\xbf"),
			want: []RowError{{File: "bom.csv", Row: FileRow, Reason: "file is empty"}}},
		{name: "only blank lines", file: "blank.csv", data: []byte("\n\r\n\n"),
			want: []RowError{{File: "blank.csv", Row: FileRow, Reason: "file is empty"}}},
		{name: "header only", file: "h.csv", data: []byte(testHeader + "\n"),
			want: []RowError{{File: "h.csv", Row: FileRow, Reason: "file has a header but no data rows"}}},
		{name: "no header", file: "nohdr.csv", data: []byte(strings.Join(goodRows, "\n")),
			want: []RowError{{File: "nohdr.csv", Row: HeaderRow, Reason: "the file has no header: the first row holds values, not column names"}}},
		{name: "no header, repeated values", file: "nohdr2.csv", data: []byte("1,1,premium\n2,2,basic\n"),
			want: []RowError{{File: "nohdr2.csv", Row: HeaderRow, Reason: "the file has no header: the first row holds values, not column names"}}},
		{name: "header of other names", file: "other.csv", data: []byte("a,b\n1,2\n"),
			want: []RowError{{File: "other.csv", Row: HeaderRow, Reason: "the header names none of the schema's columns"}}},
		{name: "semicolons", file: "semi.csv", data: []byte(strings.ReplaceAll(testHeader, ",", ";") + "\n+7912;a@b.c;basic;;1;1;1;2024-01-01;1;\n"),
			want: []RowError{{File: "semi.csv", Row: HeaderRow, Reason: "the header is one field containing ';': the file looks ';'-delimited; use commas"}}},
		{name: "tabs", file: "tabs.csv", data: []byte(strings.ReplaceAll(testHeader, ",", "\t") + "\n"),
			want: []RowError{{File: "tabs.csv", Row: HeaderRow, Reason: "the header is one field containing a tab: the file looks tab-delimited; use commas"}}},
		{name: "invalid UTF-8 in an attribute", file: "utf8.csv", data: withRow(2, "89123456780,,basic,Москв\xe0,0,0,0,2023-12-31,0,"),
			want: []RowError{{File: "utf8.csv", Row: 2, Column: "region", Reason: "value is not valid UTF-8"}}},
		{name: "invalid UTF-8 in an identifier", file: "utf8id.csv", data: withRow(3, "\xff79123456789,bob@example.com,standard,kazan,1,1,1,1970-01-01,0,"),
			want: []RowError{{File: "utf8id.csv", Row: 3, Column: "phone", Reason: "value is not valid UTF-8"}}},
		{name: "invalid UTF-8 in the header", file: "utf8h.csv", data: []byte("phone,em\xe9il\n1,2\n"),
			want: []RowError{{File: "utf8h.csv", Row: HeaderRow, Reason: "column 2: name is not valid UTF-8"}}},
		{name: "Latin-1 file", file: "latin1.csv", data: withRow(4, "9123456789,c@example.com,basic,omsk,1,1,1,2000-02-29,1,\xe9"),
			want: []RowError{{File: "latin1.csv", Row: 4, Column: "notes", Reason: "value is not valid UTF-8"}}},
		{name: "NUL in an attribute", file: "nul.csv", data: withRow(1, "+79123456789,ann@example.com,premium,mos\x00cow,12.50,999.99,3,2024-01-05,true,"),
			want: []RowError{{File: "nul.csv", Row: 1, Column: "region", Reason: "value contains a NUL byte"}}},
		{name: "NUL in an identifier", file: "nulid.csv", data: withRow(1, "+79123456789,ann@exa\x00mple.com,premium,moscow,12.50,999.99,3,2024-01-05,true,"),
			want: []RowError{{File: "nulid.csv", Row: 1, Column: "email", Reason: "value contains a NUL byte"}}},
		{name: "NUL in a number", file: "nulnum.csv", data: withRow(1, "+79123456789,ann@example.com,premium,moscow,12.5\x00,999.99,3,2024-01-05,true,"),
			want: []RowError{{File: "nulnum.csv", Row: 1, Column: "arpu", Reason: "value contains a NUL byte"}}},
		{name: "UTF-16", file: "utf16.csv", data: []byte("\xff\xfep\x00h\x00"),
			want: []RowError{{File: "utf16.csv", Row: FileRow, Reason: "file is UTF-16 encoded (it starts with a UTF-16 byte-order mark)"}}},
		{name: "UTF-16 without BOM", file: "utf16n.csv", data: []byte("p\x00h\x00o\x00n\x00e\x00\n\x00"),
			want: []RowError{{File: "utf16n.csv", Row: HeaderRow, Reason: "column 1: name contains a NUL byte"}}},
		{name: "10 MiB field", file: "long.csv", data: withRow(2, "89123456780,,basic,,0,0,0,2023-12-31,0,"+long),
			want: []RowError{{File: "long.csv", Row: 2, Column: "notes", Reason: "field is 10485760 bytes, over the 1048576-byte limit"}}},
		{name: "long field, then more errors", file: "long2.csv", data: csvFile(
			"+79123456789,ann@example.com,premium,moscow,12.50,999.99,3,2024-01-05,true,",
			"89123456780,,basic,"+long+",0,0,0,2023-12-31,0,",
			"89123456781,,gold,,0,0,0,2023-12-31,0,"),
			want: []RowError{
				{File: "long2.csv", Row: 2, Column: "region", Reason: "field is 10485760 bytes, over the 1048576-byte limit"},
				{File: "long2.csv", Row: 3, Column: "tier", Reason: `value "gold" is not a declared category`}}},
		{name: "long quoted field", file: "longq.csv", data: withRow(1, "+79123456789,ann@example.com,premium,moscow,12.50,999.99,3,2024-01-05,true,"+quotedLong),
			want: []RowError{{File: "longq.csv", Row: 1, Column: "notes", Reason: "field is 1572864 bytes, over the 1048576-byte limit"}}},
		{name: "field over a small limit", file: "small.csv", data: csvFile(goodRows...), opts: &Options{MaxFieldBytes: 14},
			want: []RowError{
				{File: "small.csv", Row: 1, Column: "email", Reason: "field is 15 bytes, over the 14-byte limit"},
				{File: "small.csv", Row: 2, Column: "notes", Reason: "field is 25 bytes, over the 14-byte limit"},
				{File: "small.csv", Row: 3, Column: "email", Reason: "field is 15 bytes, over the 14-byte limit"}}},
		{name: "long header", file: "longh.csv", data: []byte("phone," + long + "\n1,2\n"),
			want: []RowError{{File: "longh.csv", Row: HeaderRow, Reason: "column 2: field is 10485760 bytes, over the 1048576-byte limit"}}},
		{name: "too many fields", file: "wide.csv", data: withRow(2, "89123456780,,basic,,0,0,0,2023-12-31,0,"+manyFields),
			want: []RowError{{File: "wide.csv", Row: 2, Reason: "row has more than 4096 fields"}}},
		{name: "missing identifier column", file: "noemail.csv", data: []byte("phone,tier,region,arpu,spend,sms,signup,defaulted,notes\n1,basic,,,,,,,\n"),
			want: []RowError{{File: "noemail.csv", Row: HeaderRow, Column: "email", Reason: "identifier column is missing"}}},
		{name: "missing columns", file: "nocols.csv", data: []byte("Phone,email,tier,region,spend,sms,signup,defaulted,notes\n1,,basic,,,,,,\n"),
			want: []RowError{
				{File: "nocols.csv", Row: HeaderRow, Column: "phone", Reason: "identifier column is missing"},
				{File: "nocols.csv", Row: HeaderRow, Column: "arpu", Reason: "column is missing"}}},
		{name: "duplicated column", file: "dup.csv", data: []byte(testHeader + ",phone\n"),
			want: []RowError{{File: "dup.csv", Row: HeaderRow, Reason: `column "phone" appears twice (columns 1 and 11)`}}},
		{name: "unnamed column", file: "index.csv", data: []byte("," + testHeader + "\n0," + goodRows[0] + "\n"),
			want: []RowError{{File: "index.csv", Row: HeaderRow, Reason: "column 1 has no name"}}},
		{name: "category outside the domain", file: "cat.csv", data: withRow(1, "+79123456789,ann@example.com,gold,moscow,12.50,999.99,3,2024-01-05,true,"),
			want: []RowError{{File: "cat.csv", Row: 1, Column: "tier", Reason: `value "gold" is not a declared category`}}},
		{name: "long category outside the domain", file: "cat2.csv", data: withRow(1, "+79123456789,ann@example.com,"+strings.Repeat("é", 30)+",moscow,12.50,999.99,3,2024-01-05,true,"),
			want: []RowError{{File: "cat2.csv", Row: 1, Column: "tier", Reason: `value "` + strings.Repeat("é", 20) + `"… is not a declared category`}}},
		{name: "bucket outside the domain", file: "bucket.csv", data: withRow(1, "+79123456789,ann@example.com,premium,moscow,12.50,20000.01,3,2024-01-05,true,"),
			want: []RowError{{File: "bucket.csv", Row: 1, Column: "spend", Reason: `value "20000.01" is outside the declared buckets [0, 20000]`}}},
		{name: "below the buckets", file: "bucket2.csv", data: withRow(1, "+79123456789,ann@example.com,premium,moscow,12.50,-1,3,2024-01-05,true,"),
			want: []RowError{{File: "bucket2.csv", Row: 1, Column: "spend", Reason: `value "-1" is outside the declared buckets [0, 20000]`}}},
		{name: "ragged row, short", file: "short.csv", data: withRow(3, ",bob@example.com,standard,kazan"),
			want: []RowError{{File: "short.csv", Row: 3, Reason: "row has 4 fields, the header has 10"}}},
		{name: "ragged row, long", file: "longrow.csv", data: withRow(1, goodRows[0]+",extra"),
			want: []RowError{{File: "longrow.csv", Row: 1, Reason: "row has 11 fields, the header has 10"}}},
		{name: "bad int", file: "int.csv", data: withRow(1, "+79123456789,ann@example.com,premium,moscow,12.50,999.99,3.0,2024-01-05,true,"),
			want: []RowError{{File: "int.csv", Row: 1, Column: "sms", Reason: `value "3.0" is not an integer`}}},
		{name: "huge int", file: "int2.csv", data: withRow(1, "+79123456789,ann@example.com,premium,moscow,12.50,999.99,99999999999999999999,2024-01-05,true,"),
			want: []RowError{{File: "int2.csv", Row: 1, Column: "sms", Reason: `value "99999999999999999999" is out of range for a 64-bit integer`}}},
		{name: "decimal comma", file: "dec.csv", data: withRow(1, "+79123456789,ann@example.com,premium,moscow,\"12,50\",999.99,3,2024-01-05,true,"),
			want: []RowError{{File: "dec.csv", Row: 1, Column: "arpu", Reason: `value "12,50" is not a decimal number`}}},
		{name: "decimal exponent", file: "dec2.csv", data: withRow(1, "+79123456789,ann@example.com,premium,moscow,1.2e1,999.99,3,2024-01-05,true,"),
			want: []RowError{{File: "dec2.csv", Row: 1, Column: "arpu", Reason: `value "1.2e1" is not a decimal number`}}},
		{name: "decimal without digits", file: "dec3.csv", data: withRow(1, "+79123456789,ann@example.com,premium,moscow,.5,999.99,3,2024-01-05,true,"),
			want: []RowError{{File: "dec3.csv", Row: 1, Column: "arpu", Reason: `value ".5" is not a decimal number`}}},
		{name: "decimal too large", file: "dec4.csv", data: withRow(1, "+79123456789,ann@example.com,premium,moscow,1234567890123456789,999.99,3,2024-01-05,true,"),
			want: []RowError{{File: "dec4.csv", Row: 1, Column: "arpu", Reason: `value "1234567890123456789" is out of range: at most 16 digits before the decimal point`}}},
		{name: "bad date", file: "date.csv", data: withRow(1, "+79123456789,ann@example.com,premium,moscow,12.50,999.99,3,05/01/2024,true,"),
			want: []RowError{{File: "date.csv", Row: 1, Column: "signup", Reason: `value "05/01/2024" is not a date`}}},
		{name: "impossible date", file: "date2.csv", data: withRow(1, "+79123456789,ann@example.com,premium,moscow,12.50,999.99,3,2023-02-29,true,"),
			want: []RowError{{File: "date2.csv", Row: 1, Column: "signup", Reason: `value "2023-02-29" is not a valid date`}}},
		{name: "bad bool", file: "bool.csv", data: withRow(1, "+79123456789,ann@example.com,premium,moscow,12.50,999.99,3,2024-01-05,yes,"),
			want: []RowError{{File: "bool.csv", Row: 1, Column: "defaulted", Reason: `value "yes" is not a boolean`}}},
		{name: "several errors in a row", file: "multi.csv", data: withRow(2, "89123456780,,gold,,x,0,y,2023-12-31,0,"),
			want: []RowError{
				{File: "multi.csv", Row: 2, Column: "tier", Reason: `value "gold" is not a declared category`},
				{File: "multi.csv", Row: 2, Column: "arpu", Reason: `value "x" is not a decimal number`},
				{File: "multi.csv", Row: 2, Column: "sms", Reason: `value "y" is not an integer`}}},
		{name: "bare quote", file: "quote.csv", data: withRow(1, "+79123456789,ann@example.com,premium,mos\"cow,12.50,999.99,3,2024-01-05,true,"),
			want: []RowError{{File: "quote.csv", Row: 1, Column: "region", Reason: `'"' in an unquoted field`}}},
		{name: "unclosed quote", file: "quote2.csv", data: withRow(4, "9123456789,c@example.com,basic,\"omsk,1,1,1,2000-02-29,1,"),
			want: []RowError{{File: "quote2.csv", Row: 4, Column: "region", Reason: "quoted field is not closed properly"}}},
		{name: "text after a closing quote", file: "quote3.csv", data: withRow(1, "+79123456789,ann@example.com,\"premium\"x,moscow,12.50,999.99,3,2024-01-05,true,"),
			want: []RowError{{File: "quote3.csv", Row: 1, Column: "tier", Reason: "quoted field is not closed properly"}}},
		{name: "many bad rows", file: "many.csv", opts: &Options{MaxErrors: 2}, data: csvFile(slices.Repeat([]string{"1,,gold,,0,0,0,2024-01-01,0,"}, 10)...),
			want: []RowError{
				{File: "many.csv", Row: 1, Column: "tier", Reason: `value "gold" is not a declared category`},
				{File: "many.csv", Row: 2, Column: "tier", Reason: `value "gold" is not a declared category`}},
			count: 10},
		{name: "unknown extension", file: "data.xlsx", data: []byte("x"),
			want: []RowError{{File: "data.xlsx", Row: FileRow, Reason: `unknown format ".xlsx"`}}},
		{name: "no extension", file: "data", data: []byte("x"),
			want: []RowError{{File: "data", Row: FileRow, Reason: "unknown format: the file name has no extension"}}},
		{name: "unknown format", file: "data.csv", format: "json", data: []byte("x"),
			want: []RowError{{File: "data.csv", Row: FileRow, Reason: `unknown format "json"`}}},
		{name: "gzip", file: "data.csv", data: []byte("\x1f\x8b\x08\x00"),
			want: []RowError{{File: "data.csv", Row: FileRow, Reason: "file is gzip-compressed"}}},
		{name: "Excel workbook", file: "data.csv", data: []byte("PK\x03\x04rest"),
			want: []RowError{{File: "data.csv", Row: FileRow, Reason: "file is a ZIP archive (an Excel workbook?)"}}},
		{name: "Parquet named .csv", file: "data.csv", data: []byte("PAR1xxxxxxxxPAR1"),
			want: []RowError{{File: "data.csv", Row: FileRow, Reason: "file is Parquet, not CSV"}}},
		{name: "CSV named .parquet", file: "data.parquet", data: csvFile(goodRows...),
			want: []RowError{{File: "data.parquet", Row: FileRow, Reason: "not a Parquet file: it does not start with PAR1"}}},
		{name: "truncated Parquet", file: "cut.parquet", data: []byte("PAR1\x00\x00"),
			want: []RowError{{File: "cut.parquet", Row: FileRow, Reason: "damaged Parquet file: it is only 6 bytes"}}},
		{name: "Parquet without a footer", file: "cut2.parquet", data: []byte("PAR1\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
			want: []RowError{{File: "cut2.parquet", Row: FileRow, Reason: "damaged Parquet file: it does not end with PAR1; it may have been cut short"}}},
		{name: "Parquet with a long footer", file: "cut3.parquet", data: []byte("PAR1\x00\x00\x00\x00\xff\xff\xff\xffPAR1"),
			want: []RowError{{File: "cut3.parquet", Row: FileRow, Reason: "damaged Parquet file: its footer is 4294967295 bytes, longer than the file"}}},
		{name: "Parquet with a long list", file: "cut4.parquet", data: []byte("PAR1\x19\xfc\xff\xff\xff\x0f\x00\x07\x00\x00\x00PAR1"),
			want: []RowError{{File: "cut4.parquet", Row: FileRow, Reason: "damaged Parquet file: unreadable footer: declares more than it holds"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.file, tc.data)
			_, res, errs := readAll(t, path, tc.format, tc.opts)
			if !sameErrors(errs, tc.want) {
				t.Errorf("Validate(%s) errors = %s\nwant %s", tc.file, errorsText(errs), errorsText(tc.want))
			}
			if tc.count > 0 && res.ErrorCount != tc.count {
				t.Errorf("Validate(%s) ErrorCount = %d, want %d", tc.file, res.ErrorCount, tc.count)
			}
			for _, e := range errs {
				if e.Reason == "" || strings.Contains(e.Error(), "\n") {
					t.Errorf("Validate(%s): unreadable error %q", tc.file, e.Error())
				}
			}
		})
	}
}

// TestLongFieldNotBuffered checks that a 10 MiB field is skipped as it is
// read rather than held in memory.
func TestLongFieldNotBuffered(t *testing.T) {
	path := writeFile(t, "long.csv", withRow(2, "89123456780,,basic,,0,0,0,2023-12-31,0,"+strings.Repeat("x", 10<<20)))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rows, _, errs := readAll(t, path, "", nil)
	runtime.ReadMemStats(&after)
	if len(rows) != 3 || len(errs) != 1 {
		t.Fatalf("read %d rows and %d errors, want 3 and 1: %s", len(rows), len(errs), errorsText(errs))
	}
	// encoding/csv holds up to MaxFieldBytes of the field in a few buffers;
	// holding all of it would take several times 10 MiB.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 10<<20 {
		t.Errorf("reading a file with a 10 MiB field allocated %d bytes, want under 10 MiB", alloc)
	}
}

// TestIdentifiersNeverQuoted checks that no error message quotes an
// identifier, whatever is wrong with it.
func TestIdentifiersNeverQuoted(t *testing.T) {
	secret := "secret-person@example.com"
	for _, cell := range []string{secret + "\xff", secret + "\x00", strings.Repeat(secret, 50000)} {
		path := writeFile(t, "ids.csv", withRow(1, "+79123456789,\""+cell+"\",premium,moscow,12.50,999.99,3,2024-01-05,true,"))
		_, _, errs := readAll(t, path, "", nil)
		if len(errs) != 1 {
			t.Fatalf("got errors %s, want one", errorsText(errs))
		}
		r, _ := Open(path, "", nil)
		_, err := Validate(testSchema(), r)
		r.Close()
		var ce *cleanroom.Error
		if !errors.As(err, &ce) {
			t.Fatalf("Validate error %v is not a *cleanroom.Error", err)
		}
		msg, hint := cleanroom.ErrorMessage(err)
		for _, text := range []string{errs[0].Error(), errs[0].Hint, err.Error(), msg, hint} {
			if strings.Contains(text, "secret") {
				t.Errorf("error %q quotes an identifier", text)
			}
		}
	}
}

func TestValidateResult(t *testing.T) {
	path := writeFile(t, "sub.csv", csvFile(append(slices.Clone(goodRows), "1,,gold,,0,0,0,2024-01-01,0,", "2,,basic,,0,0,0,2024-13-01,0,")...))
	r, err := Open(path, FormatCSV, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res, err := Validate(testSchema(), r)
	want := `sub.csv: row 5: column "tier": value "gold" is not a declared category (and 1 more error)`
	if err == nil || err.Error() != want {
		t.Errorf("Validate(sub.csv) = %v, want %s", err, want)
	}
	var re *RowError
	if !errors.As(err, &re) || re.Row != 5 || re.Hint != `the declared categories are "basic", "standard", "premium"` {
		t.Errorf("errors.As(RowError) = %+v, want row 5 with the categories as hint", re)
	}
	if cleanroom.ErrorCode(err) != cleanroom.EInvalid {
		t.Errorf("ErrorCode = %q, want %q", cleanroom.ErrorCode(err), cleanroom.EInvalid)
	}
	if res.Rows != 6 || res.InvalidRows != 2 || res.ErrorCount != 2 || res.File != "sub.csv" {
		t.Errorf("Result = %+v, want 6 rows, 2 invalid", res)
	}

	// Ignored columns, and a hint for a near-miss name.
	path = writeFile(t, "ign.csv", []byte("phone,email,tier,region,arpu,spend,sms,signup,defaulted,Notes ,extra,+79001234567\n"))
	_, _, errs := readAll(t, path, "", nil)
	if len(errs) != 1 || errs[0].Column != "notes" || errs[0].Hint != `the header has "Notes "; column names must match the schema exactly` {
		t.Errorf("near-miss header: errors %s, hint %q", errorsText(errs), errs[0].Hint)
	}
	path = writeFile(t, "ign.csv", []byte(testHeader+",extra,+79001234567\n"+goodRows[0]+",1,2\n"))
	_, res, errs = readAll(t, path, "", nil)
	if len(errs) != 0 || !slices.Equal(res.Ignored, []string{"extra", "column 12"}) {
		t.Errorf("Ignored = %q, errors %s; want [extra, column 12] and none", res.Ignored, errorsText(errs))
	}
}

func TestDecimal(t *testing.T) {
	for _, tc := range []struct {
		in    string
		scale int
		units int64
		ok    bool
	}{
		{"12.345", 2, 1235, true}, {"12.344", 2, 1234, true}, {"-12.345", 2, -1235, true}, {"0.005", 2, 1, true},
		{"12", 2, 1200, true}, {"+7", 0, 7, true}, {"7.5", 0, 8, true}, {"-7.5", 0, -8, true}, {"000012.5", 1, 125, true},
		{"999999999999.999999", 6, 999999999999999999, true}, {"1000000000000", 6, 0, false},
		{"", 0, 0, false}, {"-", 0, 0, false}, {"1.", 0, 0, false}, {".1", 0, 0, false}, {"1..2", 0, 0, false},
		{"1 ", 0, 0, false}, {"NaN", 0, 0, false}, {"Inf", 0, 0, false}, {"0x10", 0, 0, false}, {"1_000", 0, 0, false},
	} {
		units, _, reason, _ := parseDecimal(tc.in, tc.scale)
		if (reason == "") != tc.ok || units != tc.units {
			t.Errorf("parseDecimal(%q, %d) = %d, %q; want %d, ok=%v", tc.in, tc.scale, units, reason, tc.units, tc.ok)
		}
	}
}

func TestOptions(t *testing.T) {
	path := writeFile(t, "x.csv", csvFile(goodRows...))
	if _, err := Open(path, "", &Options{MaxFieldBytes: -1}); err == nil {
		t.Error("Open with a negative MaxFieldBytes succeeded")
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.csv"), "", nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open(missing.csv) = %v, want os.ErrNotExist", err)
	}
	r, err := Open(path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.File() != "x.csv" || r.Format() != FormatCSV || strings.Join(r.Header(), ",") != testHeader {
		t.Errorf("File, Format, Header = %q, %q, %q", r.File(), r.Format(), r.Header())
	}
	for i := 1; ; i++ {
		_, err := r.Next()
		if err != nil {
			if i != 5 || err.Error() != "EOF" {
				t.Errorf("Next after %d rows = %v, want EOF after 4", i-1, err)
			}
			break
		}
		if r.Row() != i {
			t.Errorf("Row() = %d, want %d", r.Row(), i)
		}
	}
}
