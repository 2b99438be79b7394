package cleanroom

import "regexp"

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// ValidateName checks that s is a valid name for a party, user or room:
// 1 to 63 characters, lower-case letters, digits and '-', starting with a
// letter. Names appear in URLs, statements and audit entries, so the set is
// deliberately small. kind names the thing in the error ("party name").
func ValidateName(kind, s string) error {
	if s == "" {
		return Errorf(EInvalid, "%s is empty", kind)
	}
	if !nameRE.MatchString(s) {
		return Errorf(EInvalid, "%s %q is not valid", kind, s).
			WithHint("use 1-63 lower-case letters, digits and '-', starting with a letter")
	}
	return nil
}
