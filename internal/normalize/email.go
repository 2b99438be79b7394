package normalize

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxEmail is the longest normalised address, in bytes (RFC 5321's limit
// on a forward path, less its angle brackets).
const MaxEmail = 254

// EmailRules are the provider rules Email applies on top of trimming and
// lower-casing. The zero value applies none.
type EmailRules struct {
	// Gmail drops the dots and a "+tag" from the local part of gmail.com
	// and googlemail.com addresses and writes the domain as gmail.com, as
	// Gmail delivers all these spellings to one mailbox.
	Gmail bool
}

// Email returns raw trimmed and lower-cased, with rules applied:
// " Ivan.Petrov@Mail.RU " is "ivan.petrov@mail.ru", and with Gmail rules
// "I.Van+news@GoogleMail.com" is "ivan@gmail.com". The rules are in the
// package documentation.
//
// It fails with ErrEmpty for blank input, ErrTooLong when the trimmed
// address or the result is over MaxEmail bytes, and ErrInvalid for anything else that is not an
// address. Email is safe for concurrent use.
func Email(raw string, rules EmailRules) (string, error) {
	const op = "email"
	if !utf8.ValidString(raw) {
		return "", fail(op, ErrInvalid, "not valid UTF-8")
	}
	s := trim(raw)
	if s == "" {
		return "", fail(op, ErrEmpty, "empty")
	}
	if len(s) > MaxEmail {
		return "", fail(op, ErrTooLong, "longer than 254 bytes")
	}
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			return "", fail(op, ErrInvalid, "white space inside")
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r):
			return "", fail(op, ErrInvalid, "control or invisible character")
		}
	}
	s = strings.ToLower(s)
	local, domain, ok := strings.Cut(s, "@")
	if !ok || strings.Contains(domain, "@") {
		return "", fail(op, ErrInvalid, "not exactly one @")
	}
	if local == "" {
		return "", fail(op, ErrInvalid, "empty local part")
	}
	if domain == "" {
		return "", fail(op, ErrInvalid, "empty domain")
	}
	if !strings.Contains(domain, ".") {
		return "", fail(op, ErrInvalid, "domain without a dot")
	}
	if domain[0] == '.' || domain[len(domain)-1] == '.' || strings.Contains(domain, "..") {
		return "", fail(op, ErrInvalid, "empty label in domain")
	}
	for i := 0; i < len(domain); i++ {
		c := domain[i]
		if c < utf8.RuneSelf && !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return "", fail(op, ErrInvalid, "unexpected character in domain")
		}
	}
	if rules.Gmail && (domain == "gmail.com" || domain == "googlemail.com") {
		domain = "gmail.com"
		local, _, _ = strings.Cut(local, "+")
		local = strings.ReplaceAll(local, ".", "")
		if local == "" {
			return "", fail(op, ErrInvalid, "empty local part after gmail rules")
		}
	}
	if len(local)+1+len(domain) > MaxEmail {
		return "", fail(op, ErrTooLong, "longer than 254 bytes")
	}
	return local + "@" + domain, nil
}
