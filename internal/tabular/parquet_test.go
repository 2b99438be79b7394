package tabular

import (
	"encoding/csv"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/parquet-go/parquet-go"
)

func writeParquet[T any](t testing.TB, name string, rows []T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[T](f, parquet.MaxRowsPerRowGroup(100))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// subscriberRow holds testSchema's columns in another order than the CSV
// files, plus a list column the schema does not declare.
type subscriberRow struct {
	Notes     string  `parquet:"notes,optional"`
	Defaulted bool    `parquet:"defaulted"`
	Signup    int32   `parquet:"signup,date"`
	SMS       int64   `parquet:"sms"`
	Spend     float64 `parquet:"spend"`
	ARPU      float64 `parquet:"arpu"`
	Region    string  `parquet:"region,optional"`
	Tier      string  `parquet:"tier,dict"`
	Email     string  `parquet:"email,optional"`
	Phone     string  `parquet:"phone,optional"`
	Apps      []int64 `parquet:"apps,list"`
}

// goodParquet is goodRows as Parquet.
var goodParquet = []subscriberRow{
	{"", true, 19727, 3, 999.99, 12.50, "moscow", "premium", "ann@example.com", "+79123456789", []int64{1, 2}},
	{"multi\nline, with \"quotes\"", false, 19722, 0, 0, 0, "", "basic", "", "89123456780", nil},
	{"x", false, 0, 1000, 20000, 4999.999, "kazan", "standard", "bob@example.com", "", []int64{3}},
	{"é ü", true, 11016, -7, 12.5, -0.005, "omsk", "basic", "c@example.com", "9123456789", nil},
}

func TestParquetMatchesCSV(t *testing.T) {
	csvRows, _, errs := readAll(t, writeFile(t, "sub.csv", csvFile(goodRows...)), "", nil)
	if len(errs) > 0 {
		t.Fatalf("sub.csv: errors %s", errorsText(errs))
	}
	pqRows, res, errs := readAll(t, writeParquet(t, "sub.parquet", goodParquet), "", nil)
	if len(errs) > 0 {
		t.Fatalf("sub.parquet: errors %s", errorsText(errs))
	}
	if !slices.EqualFunc(pqRows, csvRows, equalRows) {
		t.Errorf("sub.parquet rows\n%+v\nsub.csv rows\n%+v", pqRows, csvRows)
	}
	if !slices.EqualFunc(pqRows, goodWant, equalRows) {
		t.Errorf("sub.parquet rows\n%+v\nwant\n%+v", pqRows, goodWant)
	}
	if !slices.Equal(res.Ignored, []string{"apps"}) {
		t.Errorf("Ignored = %q, want [apps]", res.Ignored)
	}
}

// typedRow stores testSchema's columns with Parquet types other than the
// schema's own, which are converted.
type typedRow struct {
	Phone     int64    `parquet:"phone"`
	Email     []byte   `parquet:"email,optional"`
	Tier      string   `parquet:"tier,enum"`
	Region    string   `parquet:"region"`
	ARPU      int64    `parquet:"arpu,decimal(2:18)"`
	Spend     *int32   `parquet:"spend,decimal(1:9),optional"`
	SMS       float64  `parquet:"sms"`
	Signup    int64    `parquet:"signup,timestamp(millisecond)"`
	Defaulted int32    `parquet:"defaulted"`
	Notes     [16]byte `parquet:"notes,uuid"`
}

func TestParquetConversions(t *testing.T) {
	spend := int32(5)
	rows := []typedRow{
		{79123456789, []byte("ann@example.com"), "premium", "moscow", 1250, &spend, 3, 1704412800000, 1,
			[16]byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8}},
		{89123456780, nil, "basic", "", -1, nil, 3.5, 1704412800000 + 36000000, 2, [16]byte{}},
	}
	got, res, errs := readAll(t, writeParquet(t, "typed.parquet", rows), "", nil)
	want := []Row{{1, []string{"79123456789", "ann@example.com"}, []Value{str("premium"), str("moscow"), dec(1250, 12.5), dec(1, 0.5),
		num(3), day(19727), boolean(true), str("12345678-9abc-def0-0102-030405060708")}}}
	if !slices.EqualFunc(got, want, equalRows) {
		t.Errorf("typed.parquet rows\n%+v\nwant\n%+v", got, want)
	}
	wantErrs := []RowError{
		{File: "typed.parquet", Row: 2, Column: "sms", Reason: `value "3.5" is not an integer`},
		{File: "typed.parquet", Row: 2, Column: "signup", Reason: `value "2024-01-05T10:00:00Z" is not a date`},
		{File: "typed.parquet", Row: 2, Column: "defaulted", Reason: `value "2" is not a boolean`},
	}
	if !sameErrors(errs, wantErrs) {
		t.Errorf("typed.parquet errors %s\nwant %s", errorsText(errs), errorsText(wantErrs))
	}
	if res.Missing["email"] != 1 || res.Missing["spend"] != 1 || res.Missing["region"] != 1 {
		t.Errorf("Missing = %v, want one missing email, spend and region", res.Missing)
	}
}

func TestParquetBadFiles(t *testing.T) {
	type nested struct {
		Phone string `parquet:"phone"`
		Email struct {
			Local, Domain string
		} `parquet:"email"`
	}
	type repeated struct {
		Phone string   `parquet:"phone"`
		Email []string `parquet:"email"`
	}
	type listed struct {
		Phone string   `parquet:"phone"`
		Email []string `parquet:"email,list"`
	}
	type long struct {
		Phone string `parquet:"phone"`
		Email string `parquet:"email"`
		Tier  string `parquet:"tier"`
		Notes string `parquet:"notes"`
	}
	for _, tc := range []struct {
		name   string
		path   string
		schema *cleanroom.Schema
		want   []RowError
	}{
		{"nested", writeParquet(t, "nested.parquet", []nested{{Phone: "1"}}), schemaWith(),
			[]RowError{{File: "nested.parquet", Row: HeaderRow, Column: "email", Reason: "is a nested group in the Parquet file; only flat columns are supported"}}},
		{"repeated", writeParquet(t, "repeated.parquet", []repeated{{Phone: "1"}}), schemaWith(),
			[]RowError{{File: "repeated.parquet", Row: HeaderRow, Column: "email", Reason: "is a repeated (list) column in the Parquet file; only flat columns are supported"}}},
		{"list", writeParquet(t, "list.parquet", []listed{{Phone: "1"}}), schemaWith(),
			[]RowError{{File: "list.parquet", Row: HeaderRow, Column: "email", Reason: "is a nested group in the Parquet file; only flat columns are supported"}}},
		{"long field, invalid UTF-8, outside the domain", writeParquet(t, "long.parquet", []long{
			{"1", "a@b.c", "basic", strings.Repeat("x", 2<<20)},
			{"2", "d@e.f\xff", "premium", ""},
			{"3", "g@h.i", "gold", ""},
			{"4", "", "basic", ""},
		}), schemaWith("tier", "notes"), []RowError{
			{File: "long.parquet", Row: 1, Column: "notes", Reason: "field is 2097152 bytes, over the 1048576-byte limit"},
			{File: "long.parquet", Row: 2, Column: "email", Reason: "value is not valid UTF-8"},
			{File: "long.parquet", Row: 3, Column: "tier", Reason: `value "gold" is not a declared category`},
		}},
	} {
		r, err := Open(tc.path, "", nil)
		if err != nil {
			t.Fatalf("%s: Open: %v", tc.name, err)
		}
		res, err := Validate(tc.schema, r)
		r.Close()
		var fe *FileError
		if !errors.As(err, &fe) {
			t.Fatalf("%s: Validate = %v, want a *FileError", tc.name, err)
		}
		if !sameErrors(res.Errors, tc.want) {
			t.Errorf("%s: Validate errors %s\nwant %s", tc.name, errorsText(res.Errors), errorsText(tc.want))
		}
	}
}

// schemaWith returns testSchema with only the named attributes.
func schemaWith(attributes ...string) *cleanroom.Schema {
	s := testSchema()
	s.Attributes = slices.DeleteFunc(s.Attributes, func(c cleanroom.AttributeColumn) bool {
		return !slices.Contains(attributes, c.Column)
	})
	return s
}

// randomRows makes n random rows of testSchema as CSV records, as Parquet
// rows and as the Rows they must read as.
func randomRows(n int, seed uint64) (records [][]string, pq []roundTripRow, want []Row) {
	rng := rand.New(rand.NewPCG(seed, 1))
	tiers := []string{"basic", "standard", "premium"}
	text := []string{"", "plain", "with, comma", `with "quotes"`, "line\nbreak", " spaces ", "юникод ✓", "\t", `"`}
	for i := range n {
		var r roundTripRow
		if rng.IntN(5) > 0 {
			r.Phone = "+7" + strconv.Itoa(9000000000+rng.IntN(999999999))
		}
		if rng.IntN(3) > 0 {
			r.Email = fmt.Sprintf("user%d@example.com", rng.IntN(1e6))
		}
		r.Tier = tiers[rng.IntN(len(tiers))]
		r.Region = text[rng.IntN(len(text))]
		r.ARPU = rng.Int64N(500001)           // cents
		r.Spend = rng.Int64N(2000001)         // cents, bucketed at scale 0
		r.SMS = rng.Int64N(2000001) - 1000000 // any int; clamping comes later
		r.Signup = int32(rng.IntN(40000))
		r.Defaulted = rng.IntN(2) == 1
		r.Notes = text[rng.IntN(len(text))]
		pq = append(pq, r)

		cents := func(c int64) string { return fmt.Sprintf("%d.%02d", c/100, c%100) }
		records = append(records, []string{r.Phone, r.Email, r.Tier, r.Region, cents(r.ARPU), cents(r.Spend),
			strconv.FormatInt(r.SMS, 10), dateOf(r.Signup), strconv.FormatBool(r.Defaulted), r.Notes})

		opt := func(s string) Value {
			if s == "" {
				return null()
			}
			return str(s)
		}
		arpu, _ := strconv.ParseFloat(cents(r.ARPU), 64)
		spend, _ := strconv.ParseFloat(cents(r.Spend), 64)
		want = append(want, Row{i + 1, []string{r.Phone, r.Email}, []Value{
			str(r.Tier), opt(r.Region), dec(r.ARPU, arpu), dec((r.Spend+50)/100, spend),
			num(r.SMS), day(int64(r.Signup)), boolean(r.Defaulted), opt(r.Notes)}})
	}
	return records, pq, want
}

type roundTripRow struct {
	Phone     string `parquet:"phone,optional"`
	Email     string `parquet:"email,optional"`
	Tier      string `parquet:"tier,dict"`
	Region    string `parquet:"region,optional"`
	ARPU      int64  `parquet:"arpu,decimal(2:18)"`
	Spend     int64  `parquet:"spend,decimal(2:18)"`
	SMS       int64  `parquet:"sms"`
	Signup    int32  `parquet:"signup,date"`
	Defaulted bool   `parquet:"defaulted"`
	Notes     string `parquet:"notes,optional"`
}

func dateOf(days int32) string {
	return time.Unix(int64(days)*86400, 0).UTC().Format(time.DateOnly)
}

// TestRoundTrip writes random rows as CSV and as Parquet, reads both back
// and compares them with what was written.
func TestRoundTrip(t *testing.T) {
	records, pq, want := randomRows(1000, 7)
	path := filepath.Join(t.TempDir(), "rt.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(f)
	w.Write(strings.Split(testHeader, ","))
	w.WriteAll(records)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, writeParquet(t, "rt.parquet", pq)} {
		rows, _, errs := readAll(t, p, "", nil)
		if len(errs) > 0 {
			t.Fatalf("%s: errors %s", filepath.Base(p), errorsText(errs))
		}
		if len(rows) != len(want) {
			t.Fatalf("%s: read %d rows, want %d", filepath.Base(p), len(rows), len(want))
		}
		for i := range rows {
			if !equalRows(rows[i], want[i]) {
				t.Fatalf("%s: row %d = %+v, want %+v", filepath.Base(p), i+1, rows[i], want[i])
			}
		}
	}
}
