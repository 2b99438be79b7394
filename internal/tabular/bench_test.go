package tabular

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

const benchRows = 1_000_000

// BenchmarkValidate reads and validates a file of a million subscribers,
// about 90 MB as CSV:
//
//	go test -run '^$' -bench Validate -benchtime 3x ./internal/tabular/
func BenchmarkValidate(b *testing.B) {
	dir := b.TempDir()
	records := make([]roundTripRow, 0, benchRows)
	tiers := []string{"basic", "standard", "premium"}
	regions := []string{"moscow", "kazan", "omsk", ""}
	for i := range benchRows {
		r := roundTripRow{Tier: tiers[i%3], Region: regions[i%4], ARPU: int64(i % 500000), Spend: int64(i % 2000000),
			SMS: int64(i % 997), Signup: int32(i % 20000), Defaulted: i%7 == 0}
		if i%5 != 0 {
			r.Phone = "+79" + strconv.Itoa(100000000+i)
		}
		if i%3 != 0 {
			r.Email = "user" + strconv.Itoa(i) + "@example.com"
		}
		if i%10 == 0 {
			r.Notes = "called, \"twice\""
		}
		records = append(records, r)
	}
	csvPath := filepath.Join(dir, "subscribers.csv")
	writeBenchCSV(b, csvPath, records)
	parquetPath := writeParquet(b, "subscribers.parquet", records)
	records = nil

	for _, path := range []string{csvPath, parquetPath} {
		b.Run(filepath.Ext(path)[1:]+"/rows=1M", func(b *testing.B) {
			fi, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(fi.Size())
			schema := testSchema()
			n := 0
			for b.Loop() {
				r, err := Open(path, "", nil)
				if err != nil {
					b.Fatal(err)
				}
				res, err := Validate(schema, r)
				r.Close()
				if err != nil || res.Rows != benchRows {
					b.Fatalf("Validate = %d rows, %v", res.Rows, err)
				}
				n++
			}
			b.ReportMetric(float64(n*benchRows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

func writeBenchCSV(b *testing.B, path string, records []roundTripRow) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString(testHeader + "\n")
	cents := func(buf []byte, c int64) []byte {
		buf = strconv.AppendInt(buf, c/100, 10)
		buf = append(buf, '.', byte('0'+c%100/10), byte('0'+c%10))
		return buf
	}
	var buf []byte
	for _, r := range records {
		buf = append(buf[:0], r.Phone...)
		buf = append(append(buf, ','), r.Email...)
		buf = append(append(buf, ','), r.Tier...)
		buf = append(append(buf, ','), r.Region...)
		buf = cents(append(buf, ','), r.ARPU)
		buf = cents(append(buf, ','), r.Spend)
		buf = strconv.AppendInt(append(buf, ','), r.SMS, 10)
		buf = append(append(buf, ','), dateOf(r.Signup)...)
		buf = strconv.AppendBool(append(buf, ','), r.Defaulted)
		buf = append(buf, ',')
		if r.Notes != "" {
			buf = append(buf, `"called, ""twice"""`...)
		}
		buf = append(buf, '\n')
		w.Write(buf)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}
