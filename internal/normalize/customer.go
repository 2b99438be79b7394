package normalize

import (
	"unicode"
	"unicode/utf8"
)

// MaxCustomerID is the longest customer ID, in bytes, after trimming.
const MaxCustomerID = 128

// CustomerID returns raw trimmed, and otherwise exactly as written: a
// customer ID is an identifier the parties agreed on by contract, so case
// and punctuation are significant. The rules are in the package
// documentation.
//
// It fails with ErrEmpty for blank input, ErrTooLong over MaxCustomerID
// bytes, and ErrInvalid for invalid UTF-8, white space inside, and control
// or invisible format characters. CustomerID is safe for concurrent use.
func CustomerID(raw string) (string, error) {
	const op = "customer_id"
	if !utf8.ValidString(raw) {
		return "", fail(op, ErrInvalid, "not valid UTF-8")
	}
	s := trim(raw)
	if s == "" {
		return "", fail(op, ErrEmpty, "empty")
	}
	if len(s) > MaxCustomerID {
		return "", fail(op, ErrTooLong, "longer than 128 bytes")
	}
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			return "", fail(op, ErrInvalid, "white space inside")
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r):
			return "", fail(op, ErrInvalid, "control or invisible character")
		}
	}
	return s, nil
}
