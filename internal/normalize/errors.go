package normalize

import "errors"

// The kinds of rejection. Every error a normaliser or ParseDigest returns
// is an *Error whose Kind is one of these, so callers count rejections with
// errors.Is and report them per kind (and per Reason) without ever seeing
// the value.
var (
	// ErrEmpty: nothing is left after trimming.
	ErrEmpty = errors.New("empty")
	// ErrInvalid: the value is not an identifier of its class.
	ErrInvalid = errors.New("invalid")
	// ErrTooLong: the value is over its class's length limit.
	ErrTooLong = errors.New("too long")
	// ErrPlaceholder: the value is well formed but is a known stand-in
	// for "no value" (the all-zero device ID, the digest of nothing).
	ErrPlaceholder = errors.New("placeholder")
	// ErrRegion: Phone or For was given a default region that is not an
	// ISO 3166-1 alpha-2 code with a numbering plan. It is a configuration
	// error, not a property of the value.
	ErrRegion = errors.New("unknown default region")
)

// Error is a rejected value. Its message is "<op>: <reason>", such as
// "phone: not a valid number for region RU", and never contains any part
// of the value: rejections go into reports that other parties and the host
// may read. Reasons are short fixed phrases, suitable as keys for counting.
type Error struct {
	Op     string // "phone", "email", "device_id", "customer_id" or "digest"
	Kind   error  // ErrEmpty, ErrInvalid, ErrTooLong, ErrPlaceholder or ErrRegion
	Reason string // a fixed phrase such as "not a valid number"
	Region string // the default region a phone was read with, or ""
}

func (e *Error) Error() string {
	if e.Region != "" {
		return e.Op + ": " + e.Reason + " for region " + e.Region
	}
	return e.Op + ": " + e.Reason
}

// Unwrap returns e.Kind, so errors.Is(err, ErrInvalid) works.
func (e *Error) Unwrap() error { return e.Kind }

// reason is a fixed phrase. Being its own type, it takes untyped constants
// but no string variable, so no code path can put a value into a message
// by accident.
type reason string

func fail(op string, kind error, why reason) *Error {
	return &Error{Op: op, Kind: kind, Reason: string(why)}
}
