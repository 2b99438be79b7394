package tabular

import (
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// parquetSource reads the top-level columns of a Parquet file, a batch of
// rows at a time, and writes each value as the text a CSV file would hold,
// so both formats go through the same checks.
type parquetSource struct {
	f       *os.File
	rows    *parquet.Reader
	names   []string
	leafPos []int                        // leaf column index → header position, -1 if not read
	conv    []func(parquet.Value) string // by leaf column index
	why     map[string]string            // columns that cannot be read, and why
	max     int

	buf   []parquet.Row
	n, i  int
	done  bool
	cells []string
}

func newParquetSource(f *os.File, size int64, o Options) (src *parquetSource, err error) {
	defer func() {
		if r := recover(); r != nil {
			src, err = nil, &cellError{field: -1, reason: fmt.Sprintf("damaged Parquet file: %v", r)}
		}
	}()
	const minSize = 12 // magic, footer length, magic
	if size < minSize {
		return nil, &cellError{field: -1, reason: fmt.Sprintf("damaged Parquet file: it is only %d bytes", size),
			hint: "write the file again; it may have been cut short"}
	}
	if err := checkFooter(f, size); err != nil {
		return nil, &cellError{field: -1, reason: "damaged Parquet file: " + err.Error(),
			hint: "write the file again; it may have been cut short or damaged"}
	}
	pf, err := parquet.OpenFile(f, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		// The decoder's errors may hold the file's path; errors name the
		// file by its base name only.
		reason := strings.ReplaceAll(err.Error(), f.Name(), filepath.Base(f.Name()))
		return nil, &cellError{field: -1, reason: "damaged Parquet file: " + reason,
			hint: "write the file again; it may have been cut short"}
	}
	if err := checkPages(f, size, pf.Metadata()); err != nil {
		return nil, &cellError{field: -1, reason: "damaged Parquet file: " + err.Error(),
			hint: "write the file again; it may have been cut short or damaged"}
	}
	s := &parquetSource{f: f, why: map[string]string{}, max: o.MaxFieldBytes}
	leaf := 0
	for _, fld := range pf.Schema().Fields() {
		pos := len(s.names)
		s.names = append(s.names, fld.Name())
		n := countLeaves(fld)
		for range n {
			s.leafPos = append(s.leafPos, -1)
			s.conv = append(s.conv, nil)
		}
		switch {
		case !fld.Leaf():
			s.why[fld.Name()] = "is a nested group in the Parquet file; only flat columns are supported"
		case fld.Repeated():
			s.why[fld.Name()] = "is a repeated (list) column in the Parquet file; only flat columns are supported"
		default:
			s.leafPos[leaf] = pos
			s.conv[leaf] = converter(fld.Type())
		}
		leaf += n
	}
	s.rows = parquet.NewReader(pf)
	s.buf = make([]parquet.Row, 256)
	s.cells = make([]string, len(s.names))
	return s, nil
}

func countLeaves(n parquet.Node) int {
	if n.Leaf() {
		return 1
	}
	c := 0
	for _, f := range n.Fields() {
		c += countLeaves(f)
	}
	return c
}

// recoverDamaged turns a panic of the Parquet decoder, which trusts the
// file's metadata in places, into an error.
func recoverDamaged(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("damaged Parquet file: %v", r)
	}
}

func (s *parquetSource) header() ([]string, error) { return s.names, nil }

func (s *parquetSource) next() (cells []string, err error) {
	if s.i == s.n {
		if s.done {
			return nil, io.EOF
		}
		if err := s.fill(); err != nil {
			return nil, err
		}
	}
	row := s.buf[s.i]
	s.i++
	clear(s.cells)
	for _, v := range row {
		c := v.Column()
		if c < 0 || c >= len(s.leafPos) || s.leafPos[c] < 0 || v.IsNull() {
			continue
		}
		p := s.leafPos[c]
		s.cells[p] = s.conv[c](v)
		if len(s.cells[p]) > s.max {
			return nil, &cellError{field: p, reason: fmt.Sprintf("field is %d bytes, over the %d-byte limit", len(s.cells[p]), s.max)}
		}
	}
	return s.cells, nil
}

func (s *parquetSource) fill() (err error) {
	defer func() {
		if err != nil {
			s.done = true
		}
	}()
	defer recoverDamaged(&err) // runs first
	for s.n, s.i = 0, 0; s.n == 0; {
		n, err := s.rows.ReadRows(s.buf)
		s.n = n
		if err == io.EOF {
			s.done = true
			if n == 0 {
				return io.EOF
			}
		} else if err != nil {
			return err
		}
	}
	return nil
}

func (s *parquetSource) unsupported(column string) string { return s.why[column] }

func (s *parquetSource) close() error {
	err := s.rows.Close()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// converter returns the function writing a value of type t as text:
// integers and floats in decimal ('.' separator, no exponent), booleans as
// true or false, DATE as YYYY-MM-DD, TIMESTAMP as YYYY-MM-DD at midnight
// UTC and RFC 3339 otherwise, DECIMAL with its scale, UUID in its
// hyphenated lower-case form, strings and other byte arrays as they are.
func converter(t parquet.Type) func(parquet.Value) string {
	var logical format.LogicalTypeValue
	if lt := t.LogicalType(); lt != nil {
		logical = lt.Value
	}
	dec, isDecimal := logical.(*format.DecimalType)
	intType, _ := logical.(*format.IntType)
	unsigned := intType != nil && !intType.IsSigned
	switch t.Kind() {
	case parquet.Boolean:
		return func(v parquet.Value) string { return strconv.FormatBool(v.Boolean()) }
	case parquet.Int32:
		switch {
		case isDecimal:
			return func(v parquet.Value) string { return formatDecimal(big.NewInt(int64(v.Int32())), dec.Scale) }
		case unsigned:
			return func(v parquet.Value) string { return strconv.FormatUint(uint64(uint32(v.Int32())), 10) }
		}
		if _, ok := logical.(*format.DateType); ok {
			return func(v parquet.Value) string { return formatTime(time.Unix(int64(v.Int32())*86400, 0)) }
		}
		return func(v parquet.Value) string { return strconv.FormatInt(int64(v.Int32()), 10) }
	case parquet.Int64:
		switch {
		case isDecimal:
			return func(v parquet.Value) string { return formatDecimal(big.NewInt(v.Int64()), dec.Scale) }
		case unsigned:
			return func(v parquet.Value) string { return strconv.FormatUint(uint64(v.Int64()), 10) }
		}
		if ts, ok := logical.(*format.TimestampType); ok && ts.Unit.Value != nil {
			unit := ts.Unit.Value.Duration()
			return func(v parquet.Value) string {
				n := v.Int64()
				switch unit {
				case time.Millisecond:
					return formatTime(time.UnixMilli(n))
				case time.Microsecond:
					return formatTime(time.UnixMicro(n))
				}
				return formatTime(time.Unix(0, n))
			}
		}
		return func(v parquet.Value) string { return strconv.FormatInt(v.Int64(), 10) }
	case parquet.Int96: // legacy Impala timestamps: nanoseconds of the day, Julian day
		return func(v parquet.Value) string {
			i := v.Int96()
			nanos := int64(uint64(i[1])<<32 | uint64(i[0]))
			return formatTime(time.Unix((int64(i[2])-2440588)*86400, nanos))
		}
	case parquet.Float:
		return func(v parquet.Value) string { return strconv.FormatFloat(float64(v.Float()), 'f', -1, 32) }
	case parquet.Double:
		return func(v parquet.Value) string { return strconv.FormatFloat(v.Double(), 'f', -1, 64) }
	case parquet.ByteArray, parquet.FixedLenByteArray:
		if isDecimal {
			return func(v parquet.Value) string { return formatDecimal(twosComplement(v.ByteArray()), dec.Scale) }
		}
		if _, ok := logical.(*format.UUIDType); ok {
			return func(v parquet.Value) string { return formatUUID(v.ByteArray()) }
		}
	}
	return func(v parquet.Value) string { return string(v.ByteArray()) }
}

func formatTime(t time.Time) string {
	t = t.UTC()
	if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0 {
		return t.Format(time.DateOnly)
	}
	return t.Format(time.RFC3339Nano)
}

// formatDecimal writes unscaled × 10^-scale in decimal.
func formatDecimal(unscaled *big.Int, scale int32) string {
	digits := new(big.Int).Abs(unscaled).String()
	if scale > 0 {
		sc := int(scale)
		if len(digits) <= sc {
			digits = strings.Repeat("0", sc-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-sc] + "." + digits[len(digits)-sc:]
	}
	if unscaled.Sign() < 0 {
		return "-" + digits
	}
	return digits
}

// twosComplement decodes a big-endian two's complement integer.
func twosComplement(b []byte) *big.Int {
	n := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return n
}

func formatUUID(b []byte) string {
	if len(b) != 16 {
		return hex.EncodeToString(b)
	}
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
