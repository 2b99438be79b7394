package normalize

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// checkOutput fails t unless err is an *Error of a known kind with no
// output, or out is valid UTF-8 without white space.
func checkOutput(t *testing.T, call string, out string, err error) {
	t.Helper()
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || !knownKind(e.Kind) {
			t.Fatalf("%s: error %v is not an *Error of a known kind", call, err)
		}
		if out != "" {
			t.Fatalf("%s = %q, %v; want no value with an error", call, out, err)
		}
		return
	}
	if !utf8.ValidString(out) {
		t.Fatalf("%s = %q: not valid UTF-8", call, out)
	}
	if strings.IndexFunc(out, unicode.IsSpace) >= 0 {
		t.Fatalf("%s = %q: holds white space", call, out)
	}
	if out == "" {
		t.Fatalf("%s = \"\" with no error", call)
	}
}

var fuzzRegions = []string{"RU", "GB", "US", "DE", ""}

func FuzzPhone(f *testing.F) {
	for _, tt := range phoneTests {
		for i, r := range fuzzRegions {
			if r == tt.region {
				f.Add(tt.raw, uint8(i))
			}
		}
	}
	f.Fuzz(func(t *testing.T, raw string, r uint8) {
		region := fuzzRegions[int(r)%len(fuzzRegions)]
		out, err := Phone(raw, region)
		checkOutput(t, "Phone", out, err)
		if err != nil {
			return
		}
		if out[0] != '+' || strings.IndexFunc(out[1:], func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
			t.Fatalf("Phone(%q, %q) = %q: not E.164", raw, region, out)
		}
		for _, r2 := range fuzzRegions {
			if again, err := Phone(out, r2); again != out || err != nil {
				t.Fatalf("Phone(%q, %q) = %q, but Phone(%q, %q) = %q, %v", raw, region, out, out, r2, again, err)
			}
		}
	})
}

func FuzzEmail(f *testing.F) {
	for _, tt := range emailTests {
		f.Add(tt.raw, tt.gmail)
	}
	f.Fuzz(func(t *testing.T, raw string, gmail bool) {
		rules := EmailRules{Gmail: gmail}
		out, err := Email(raw, rules)
		checkOutput(t, "Email", out, err)
		if err != nil {
			return
		}
		if strings.Count(out, "@") != 1 || out != strings.ToLower(out) {
			t.Fatalf("Email(%q, %+v) = %q: not one lower-case address", raw, rules, out)
		}
		if again, err := Email(out, rules); again != out || err != nil {
			t.Fatalf("Email(%q, %+v) = %q, but Email(%q) = %q, %v", raw, rules, out, out, again, err)
		}
		// The gmail rules are a refinement: applied after the others,
		// they give the same as applied at once.
		if !gmail {
			direct, err1 := Email(raw, EmailRules{Gmail: true})
			later, err2 := Email(out, EmailRules{Gmail: true})
			if direct != later || (err1 == nil) != (err2 == nil) {
				t.Fatalf("Email(%q, gmail) = %q, %v, but Email(%q, gmail) = %q, %v", raw, direct, err1, out, later, err2)
			}
		}
	})
}

func FuzzDeviceID(f *testing.F) {
	for _, tt := range deviceTests {
		f.Add(tt.raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out, err := DeviceID(raw)
		checkOutput(t, "DeviceID", out, err)
		if err != nil {
			return
		}
		if len(out) != 36 || out != strings.ToLower(out) {
			t.Fatalf("DeviceID(%q) = %q: not a lower-case UUID", raw, out)
		}
		if again, err := DeviceID(out); again != out || err != nil {
			t.Fatalf("DeviceID(%q) = %q, but DeviceID(%q) = %q, %v", raw, out, out, again, err)
		}
		// Case, braces and dashes do not matter.
		for _, v := range []string{strings.ToUpper(out), "{" + out + "}", strings.ReplaceAll(out, "-", "")} {
			if again, err := DeviceID(v); again != out || err != nil {
				t.Fatalf("DeviceID(%q) = %q, but DeviceID(%q) = %q, %v", raw, out, v, again, err)
			}
		}
	})
}

func FuzzCustomerID(f *testing.F) {
	for _, tt := range customerTests {
		f.Add(tt.raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out, err := CustomerID(raw)
		checkOutput(t, "CustomerID", out, err)
		if err != nil {
			return
		}
		if !strings.Contains(raw, out) || len(out) > MaxCustomerID {
			t.Fatalf("CustomerID(%q) = %q: not the trimmed value", raw, out)
		}
		if again, err := CustomerID(out); again != out || err != nil {
			t.Fatalf("CustomerID(%q) = %q, but CustomerID(%q) = %q, %v", raw, out, out, again, err)
		}
	})
}

func FuzzParseDigest(f *testing.F) {
	for _, tt := range digestTests {
		f.Add(tt.raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		d, err := ParseDigest(raw)
		if err != nil {
			checkOutput(t, "ParseDigest", "", err)
			if d != ([DigestSize]byte{}) {
				t.Fatalf("ParseDigest(%q) = %x, %v; want no digest with an error", raw, d, err)
			}
			return
		}
		s := FormatDigest(d)
		if s != strings.ToLower(trim(raw)) {
			t.Fatalf("ParseDigest(%q) = %s: not the value read", raw, s)
		}
		if again, err := ParseDigest(s); again != d || err != nil {
			t.Fatalf("ParseDigest(%q) = %s, but ParseDigest(%q) = %x, %v", raw, s, s, again, err)
		}
	})
}
