package normalize

import (
	"strings"
	"unicode"

	"github.com/cleanroom-dev/cleanroom"
)

// Func normalises one raw identifier of a fixed class. It returns the
// normalised value, or an *Error naming the reason. A Func is safe for
// concurrent use.
type Func func(raw string) (string, error)

// Options configure the normalisers For returns. Fields a class does not
// use are ignored.
type Options struct {
	// Region is the default country for phone numbers written without a
	// country code: an upper-case ISO 3166-1 alpha-2 code with a numbering
	// plan, such as "RU". Optional; the default "" accepts only numbers
	// written in international format (with a leading '+').
	Region string
	// Gmail applies the gmail.com rules to email addresses (see Email).
	// Optional; default false.
	Gmail bool
}

// For returns the normaliser of class with opts. It fails with an
// *cleanroom.Error for an unknown class and with an *Error of kind
// ErrRegion for a phone class whose opts.Region is not a supported region.
func For(class cleanroom.IdentifierClass, opts Options) (Func, error) {
	if err := class.Validate(); err != nil {
		return nil, err
	}
	switch class {
	case cleanroom.ClassPhone:
		if err := checkRegion(opts.Region); err != nil {
			return nil, err
		}
		region := opts.Region
		return func(raw string) (string, error) { return Phone(raw, region) }, nil
	case cleanroom.ClassEmail:
		rules := EmailRules{Gmail: opts.Gmail}
		return func(raw string) (string, error) { return Email(raw, rules) }, nil
	case cleanroom.ClassDeviceID:
		return DeviceID, nil
	case cleanroom.ClassCustomerID:
		return CustomerID, nil
	}
	// Unreachable while Validate and this switch list the same classes.
	return nil, cleanroom.Errorf(cleanroom.EInternal, "no normaliser for identifier class %q", string(class))
}

// trim removes leading and trailing white space (Unicode White_Space) and
// invisible format characters (Unicode category Cf: byte-order marks,
// zero-width spaces, direction marks), which copying from spreadsheets and
// web pages leaves behind.
func trim(s string) string {
	return strings.TrimFunc(s, isBlank)
}

func isBlank(r rune) bool {
	return unicode.IsSpace(r) || unicode.Is(unicode.Cf, r)
}
