package tabular

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzCSV reads arbitrary bytes as a CSV file. It checks that nothing
// panics, that errors are well-formed single lines, that the guard in front
// of encoding/csv passes small files through unchanged and that, below the
// limits, the Reader returns exactly what encoding/csv does.
func FuzzCSV(f *testing.F) {
	for _, seed := range []string{
		string(csvFile(goodRows...)),
		testHeader + "\n",
		"\xef\xbb\xbf" + testHeader + "\r\n" + goodRows[0] + "\r\n",
		testHeader + "\n" + `1,"a""b",basic,"x` + "\n",
		testHeader + "\n" + `1,a"b,basic` + "\n",
		"phone;email\n1;2\n",
		"phone,phone\n",
		",phone\n",
		"phone,email\n\x00,\xff\n",
		testHeader + "\n" + strings.Repeat("x", 300) + ",,basic,,1,1,1,2024-01-01,1,\n",
		testHeader + "\n\"" + strings.Repeat("ab\"\"\r\n", 50) + "\",,basic,,1,1,1,2024-01-01,1,\n",
		"",
	} {
		f.Add([]byte(seed), uint8(16))
	}
	f.Fuzz(func(t *testing.T, data []byte, limit uint8) {
		// The guard is transparent below its limits.
		g := &csvGuard{r: bytes.NewReader(data), max: int64(len(data)) + 1, maxFields: len(data) + 2}
		if out, err := io.ReadAll(g); err != nil || !bytes.Equal(out, data) {
			t.Fatalf("guard changed the input: %q, %v", out, err)
		}
		if bytes.Count(data, []byte(",")) < MaxColumns {
			compareWithEncodingCSV(t, data)
		}

		// With a small limit, every error is well-formed.
		max := int(limit) + 1
		r, err := newCSVReader("fuzz.csv", bytes.NewReader(data), &Options{MaxFieldBytes: max, MaxErrors: 5})
		if err != nil {
			var re *RowError
			if !errors.As(err, &re) {
				t.Fatalf("newCSVReader = %v, want a *RowError", err)
			}
			checkError(t, *re)
			return
		}
		s := NewScanner(testSchema(), r)
		for s.Scan() {
			row := s.Row()
			for _, v := range row.Identifiers {
				if len(v) > max {
					t.Fatalf("row %d: identifier of %d bytes passed a %d-byte limit", row.Number, len(v), max)
				}
			}
			for _, v := range row.Attributes {
				if len(v.String) > max {
					t.Fatalf("row %d: value of %d bytes passed a %d-byte limit", row.Number, len(v.String), max)
				}
			}
		}
		res := s.Result()
		if len(res.Errors) > 5 || len(res.Errors) > res.ErrorCount || (res.ErrorCount > 0) != (s.Err() != nil) {
			t.Fatalf("Result has %d errors of %d, Err = %v", len(res.Errors), res.ErrorCount, s.Err())
		}
		for _, e := range res.Errors {
			checkError(t, e)
		}
	})
}

func checkError(t *testing.T, e RowError) {
	t.Helper()
	if e.File != "fuzz.csv" || e.Row < FileRow || e.Reason == "" || strings.ContainsAny(e.Error(), "\n\r\x00") {
		t.Fatalf("malformed error %+v: %q", e, e.Error())
	}
}

// compareWithEncodingCSV checks that the Reader yields the records and
// errors encoding/csv does, when no field is over the limit.
func compareWithEncodingCSV(t *testing.T, data []byte) {
	t.Helper()
	plain := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, utf8BOM)))
	header, herr := plain.Read()
	r, err := newCSVReader("fuzz.csv", bytes.NewReader(data), nil)
	if err != nil {
		if reason, _ := checkHeader(header); herr == nil && reason == "" && wrongDelimiter(header) == nil {
			t.Fatalf("Reader rejects header %q that encoding/csv reads: %v", header, err)
		}
		return
	}
	if herr != nil || !slices.Equal(r.Header(), header) {
		t.Fatalf("Reader header %q, encoding/csv %q, %v", r.Header(), header, herr)
	}
	for {
		want, werr := plain.Read()
		got, err := r.Next()
		var re *RowError
		switch {
		case werr == io.EOF:
			if err != io.EOF {
				t.Fatalf("row %d: Reader returned %q, %v; encoding/csv is at EOF", r.Row(), got, err)
			}
			return
		case werr == nil:
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("row %d: Reader returned %q, %v; encoding/csv %q", r.Row(), got, err, want)
			}
		case errors.As(err, &re):
		default:
			t.Fatalf("row %d: Reader returned %q, %v; encoding/csv %v", r.Row(), got, err, werr)
		}
	}
}

// FuzzParquet reads damaged Parquet files: nothing panics, and every file
// is read or rejected with an error.
func FuzzParquet(f *testing.F) {
	valid, err := os.ReadFile(writeParquet(f, "seed.parquet", goodParquet))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add(append(valid[:4:4], valid[len(valid)/2:]...))
	for _, at := range []int{len(valid) / 3, len(valid) / 2, len(valid) - 20} {
		damaged := slices.Clone(valid)
		damaged[at] ^= 0xff
		f.Add(damaged)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "fuzz.parquet")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := Open(path, "", nil)
		if err != nil {
			return
		}
		defer r.Close()
		Validate(testSchema(), r)
	})
}
