package cleanroom

import (
	"errors"
	"fmt"
)

// Error codes. The HTTP API maps each to one status in one place; the code
// string itself is part of the API contract.
const (
	EInvalid         = "invalid"         // the request is malformed or breaks a rule
	EUnauthenticated = "unauthenticated" // no valid token
	EForbidden       = "forbidden"       // authenticated, but not allowed
	ENotFound        = "not_found"       // absent, or invisible to the caller
	EConflict        = "conflict"        // clashes with existing state
	ETooLarge        = "too_large"       // request body over the limit
	ELimit           = "limit_exceeded"  // a rate or quota limit is reached; try later
	EUnavailable     = "unavailable"     // a party's agent did not answer in time; try again
	EInternal        = "internal"        // a bug or an outage; details only in the server log
)

// Error is a domain error meant for the caller: its Message and Hint are
// shown to users as they are, so they never contain internal details,
// secrets or row-level data.
type Error struct {
	Code    string
	Message string
	Hint    string
}

func (e *Error) Error() string {
	if e.Hint == "" {
		return e.Message
	}
	return e.Message + " (hint: " + e.Hint + ")"
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithHint returns a copy of e with its hint set.
func (e *Error) WithHint(format string, args ...any) *Error {
	c := *e
	c.Hint = fmt.Sprintf(format, args...)
	return &c
}

// ErrorCode returns the code of the first *Error in err's chain, EInternal
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the user-facing message and hint of err. Errors that
// are not *Error yield a generic message: their text may hold internal
// details and is only logged.
func ErrorMessage(err error) (message, hint string) {
	var e *Error
	if errors.As(err, &e) {
		return e.Message, e.Hint
	}
	return "internal error", "the server log has the details; try again or contact the room host"
}
