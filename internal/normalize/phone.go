package normalize

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// MaxPhoneInput is the longest raw phone value, in bytes, Phone reads.
const MaxPhoneInput = 64

// maxExtension is the most digits an extension may have.
const maxExtension = 10

// extensionMarkers are the words that may introduce an extension, lower
// case. Longer markers come first so that "extn" is not read as "ext".
var extensionMarkers = []string{
	"extension", "extn.", "extn", "ext.", "ext", "x.", "x", "#",
	"добавочный", "доб.", "доб",
}

// Phone returns raw as an E.164 number ("+79123456789"), reading numbers
// written without a country code as numbers of defaultRegion (an upper-case
// ISO 3166-1 alpha-2 code such as "RU", or "" to require a country code).
// With "RU", "8 (912) 345-67-89", "+7 912 345 6789", "9123456789",
// "+7(912)345-67-89" and "7 912 3456789" are all "+79123456789". An
// extension ("ext. 12", "x12", "доб. 12") is accepted and dropped, since
// E.164 has none. The rules are in the package documentation.
//
// It fails with ErrTooLong over MaxPhoneInput bytes, ErrEmpty for blank
// input, ErrInvalid for anything that is not a valid number according to
// libphonenumber's metadata, and ErrRegion for an unknown defaultRegion.
// Phone is safe for concurrent use.
func Phone(raw, defaultRegion string) (string, error) {
	const op = "phone"
	if err := checkRegion(defaultRegion); err != nil {
		return "", err
	}
	if len(raw) > MaxPhoneInput {
		return "", fail(op, ErrTooLong, "longer than 64 bytes")
	}
	if !utf8.ValidString(raw) {
		return "", fail(op, ErrInvalid, "not valid UTF-8")
	}
	s := trim(raw)
	if s == "" {
		return "", fail(op, ErrEmpty, "empty")
	}
	number, ext := splitExtension(s)
	if ext != "" {
		marked, ok := isExtension(ext)
		switch {
		case !marked:
			return "", fail(op, ErrInvalid, "letters other than an extension marker")
		case !ok:
			return "", fail(op, ErrInvalid, "extension marker without 1 to 10 digits after it")
		}
	}

	// Keep the digits and a leading plus; libphonenumber then sees no
	// letters (which it would read as a vanity number) and no punctuation
	// it might interpret.
	var buf [MaxPhoneInput]byte
	digits := buf[:0]
	plus := false
	for _, r := range number {
		switch {
		case '0' <= r && r <= '9':
			digits = append(digits, byte(r))
		case '０' <= r && r <= '９':
			digits = append(digits, byte('0'+r-'０'))
		case r == '+' || r == '＋':
			if plus || len(digits) > 0 {
				return "", fail(op, ErrInvalid, "plus sign not at the start")
			}
			plus = true
		case isPhoneSeparator(r):
		default:
			return "", fail(op, ErrInvalid, "unexpected character")
		}
	}
	switch len(digits) {
	case 0:
		return "", fail(op, ErrInvalid, "no digits")
	case 1:
		return "", fail(op, ErrInvalid, "too few digits")
	}
	text := string(digits)
	if plus {
		text = "+" + text
	}
	n, err := phonenumbers.Parse(text, defaultRegion)
	if err != nil {
		switch {
		case errors.Is(err, phonenumbers.ErrInvalidCountryCode) && defaultRegion == "" && !plus:
			return "", fail(op, ErrInvalid, "no country code and no default region")
		case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
			return "", fail(op, ErrInvalid, "unknown country code")
		case errors.Is(err, phonenumbers.ErrTooShortNSN), errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
			return "", fail(op, ErrInvalid, "too few digits")
		case errors.Is(err, phonenumbers.ErrNumTooLong):
			return "", fail(op, ErrInvalid, "too many digits")
		}
		return "", fail(op, ErrInvalid, "not a phone number")
	}
	if !phonenumbers.IsValidNumber(n) {
		e := fail(op, ErrInvalid, "not a valid number")
		if !plus {
			e.Region = defaultRegion
		}
		return "", e
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

// checkRegion accepts "" and the regions libphonenumber has a plan for.
func checkRegion(region string) error {
	if region == "" || phonenumbers.GetSupportedRegions()[region] {
		return nil
	}
	return fail("phone", ErrRegion, "unknown default region (use an upper-case ISO 3166 code such as RU)")
}

// splitExtension splits s at its first letter or '#': the number before,
// and the would-be extension from there on (or "").
func splitExtension(s string) (number, ext string) {
	i := strings.IndexFunc(s, func(r rune) bool { return r == '#' || unicode.IsLetter(r) })
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}

// isExtension reports whether s starts with an extension marker and has
// no other letters, and whether the marker is followed by optional separators and 1 to
// maxExtension ASCII digits, and nothing else.
func isExtension(s string) (marked, ok bool) {
	s = strings.ToLower(s)
	for _, m := range extensionMarkers {
		if rest, found := strings.CutPrefix(s, m); found {
			s, marked = rest, true
			break
		}
	}
	if !marked || strings.IndexFunc(s, unicode.IsLetter) >= 0 {
		return false, false
	}
	s = strings.TrimLeftFunc(s, func(r rune) bool { return isBlank(r) || r == ':' || r == '.' })
	if len(s) == 0 || len(s) > maxExtension {
		return true, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return true, false
		}
	}
	return true, true
}

// isPhoneSeparator reports whether r is punctuation people put between the
// digits of a phone number.
func isPhoneSeparator(r rune) bool {
	switch r {
	case '-', '.', '(', ')', '/',
		'‐', '‑', '‒', '–', '—', '―', '−', // U+2010–U+2015, U+2212
		'（', '）', '－', '．', '／': // full-width forms
		return true
	}
	return isBlank(r)
}
