package tabular

import (
	"testing"

	"github.com/cleanroom-dev/cleanroom"
)

// TestTruncateToDate: a date column declared truncate_to_date takes RFC 3339
// timestamps and keeps their UTC date; without the declaration they are
// refused, as before.
func TestTruncateToDate(t *testing.T) {
	path := writeFile(t, "events.csv", []byte("phone,at\n+79123456789,2024-01-12T23:36:12-03:00\n+79123456780,2024-01-12\n+79123456781,2024-13-01T00:00:00Z\n"))
	for _, truncate := range []bool{true, false} {
		schema := &cleanroom.Schema{
			Identifiers: []cleanroom.IdentifierColumn{{Column: "phone", Class: cleanroom.ClassPhone, Priority: 1}},
			Attributes:  []cleanroom.AttributeColumn{{Column: "at", Type: cleanroom.TypeDate, Policy: cleanroom.PolicyFilter, TruncateToDate: truncate}},
		}
		if err := schema.Validate(); err != nil {
			t.Fatal(err)
		}
		r, err := Open(path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		s := NewScanner(schema, r)
		var days []int64
		for s.Scan() {
			days = append(days, s.Row().Attributes[0].Int)
		}
		r.Close()
		errs := s.Result().Errors
		if truncate {
			// 23:36 at UTC-3 is 02:36 on the 13th in UTC.
			if len(days) != 2 || days[0] != 19735 || days[1] != 19734 || len(errs) != 1 || errs[0].Row != 3 {
				t.Errorf("truncate_to_date: days %v, errors %s", days, errorsText(errs))
			}
		} else if len(days) != 1 || len(errs) != 2 {
			t.Errorf("without truncate_to_date: days %v, errors %s", days, errorsText(errs))
		}
	}
	bad := cleanroom.AttributeColumn{Column: "n", Type: cleanroom.TypeInt, Policy: cleanroom.PolicyFilter, TruncateToDate: true}
	if err := (&cleanroom.Schema{Identifiers: []cleanroom.IdentifierColumn{{Column: "phone", Class: cleanroom.ClassPhone, Priority: 1}},
		Attributes: []cleanroom.AttributeColumn{bad}}).Validate(); err == nil {
		t.Error("truncate_to_date accepted on an int column")
	}
}
