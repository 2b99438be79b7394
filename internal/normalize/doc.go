// Package normalize turns identifiers as systems write them into the one
// canonical form per identifier class that matching compares, and hashes
// that form into the input of hash-to-group.
//
// Two parties match on an identifier exactly when their normalised values
// are equal byte for byte, so both must apply the same rules. A party that
// can only supply pre-hashed values (as in the IAB PAIR protocol) applies
// the rules below itself, hashes the result with SHA-256 (Digest) and
// supplies the digest as 64 lower-case hex digits; ParseDigest reads it.
// Pick a normaliser by class with For; each is also a function of its own.
//
// # Rules shared by all classes
//
// Trimming removes leading and trailing blanks: characters that are Unicode
// White_Space (space, tab, CR, LF, no-break space, ideographic space…) or
// of category Cf (byte-order mark U+FEFF, zero-width space U+200B,
// direction marks U+200E/U+200F…). Input must be valid UTF-8. A value that
// is empty after trimming is rejected with ErrEmpty; it is a missing
// value, not an identifier. No normalised value contains white space.
//
// # phone (Phone)
//
// The result is E.164: '+', the country calling code and the national
// significant number, digits only ("+79123456789").
//
//  1. Input over 64 bytes is rejected (ErrTooLong).
//  2. Trim.
//  3. An extension is cut off and dropped: from the first letter or '#',
//     the rest must be a marker — "ext", "ext.", "extn", "extn.",
//     "extension", "x", "x.", "#", "доб", "доб.", "добавочный", in any
//     case — then optional blanks, ':' or '.', then 1 to 10 ASCII digits.
//     Any other letter rejects the value: vanity numbers (1-800-FLOWERS),
//     "n/a", Excel's 7.9123456789E+10.
//  4. What remains may hold ASCII or full-width digits, one leading '+'
//     (or '＋') before any digit, and the separators - . ( ) / with their
//     Unicode dash and full-width forms, blanks and Cf characters, which
//     are ignored. Any other character (',', ';', '*', an apostrophe, a
//     second number) rejects the value.
//  5. The digits, after the '+' if there was one, are parsed with
//     libphonenumber (github.com/nyaruka/phonenumbers) and the room's
//     default region: a number without '+' may carry the region's trunk
//     prefix (8 in RU, 0 in GB and DE), its country code (7 in RU), or an
//     international call prefix (810 in RU, 00 in GB and DE, 011 in US);
//     otherwise it is a national number of the default region. With no
//     default region, only numbers with '+' are accepted.
//  6. The number must be valid by libphonenumber's metadata
//     (IsValidNumber: a possible length and an assigned range of its
//     country); it is then formatted as E.164.
//
// With region RU, "8 (912) 345-67-89", "+7 912 345 6789", "9123456789",
// "+7(912)345-67-89", "7 912 3456789" and "89123456789 доб. 12" are all
// "+79123456789". A pre-hashing party only needs to produce the same E.164
// number, by any library.
//
// # email (Email)
//
//  1. Trim. The trimmed address must be at most 254 bytes (ErrTooLong).
//  2. Reject any white space, control character (Cc) or Cf character left
//     inside.
//  3. Lower-case every letter by its Unicode simple lower-case mapping
//     (UnicodeData.txt; Go's strings.ToLower). For ASCII this is A–Z to
//     a–z. Note that some languages' default lower() uses full or
//     contextual mappings that differ for a few letters (U+0130 'İ', final
//     'Σ'); addresses holding them may not match a pre-hashed value.
//  4. There must be exactly one '@', with a non-empty local part before it
//     and a domain after it that contains a dot, has no empty label (no
//     leading, trailing or double dot) and has no ASCII character other
//     than a–z, 0–9, '-' and '.' (non-ASCII letters of internationalised
//     domains are kept as written; no IDNA conversion is done).
//  5. Gmail rules, if the room enables them (EmailRules.Gmail,
//     Options.Gmail): when the domain is gmail.com or googlemail.com, the
//     local part is cut at its first '+', its dots are removed, and the
//     domain becomes gmail.com; an empty local part is then rejected.
//  6. The result must be at most 254 bytes (ErrTooLong).
//
// No other provider rules are applied, and the local part is otherwise
// kept as written (quotes, '+' outside Gmail, dots).
//
// # device_id (DeviceID)
//
//  1. Trim; remove one pair of surrounding braces "{…}".
//  2. The rest must be 32 hex digits in either case, either as they are or
//     grouped 8-4-4-4-12 with dashes ("urn:uuid:" and other forms are
//     rejected).
//  3. The all-zero UUID (what iOS and Android report when the user limits
//     ad tracking) and the all-f UUID are rejected with ErrPlaceholder.
//  4. The result is lower case, grouped 8-4-4-4-12:
//     "6ba7b810-9dad-41d1-80b4-00c04fd430c8". Version and variant bits are
//     not checked.
//
// # customer_id (CustomerID)
//
//  1. Trim. The result must be at most 128 bytes (ErrTooLong).
//  2. Reject white space, control (Cc) and Cf characters inside.
//  3. Otherwise the value is kept exactly: case, leading zeros and
//     punctuation are significant, as the parties' contract defines the
//     identifier.
//
// # Pre-hashed values (Digest, ParseDigest)
//
// The digest is SHA-256 over the UTF-8 bytes of the normalised value, with
// nothing added: no salt, no class prefix, no newline (domain separation
// by room and class happens later, in hash-to-group). It is exchanged as 64
// hex digits; ParseDigest accepts either case and trims like the
// normalisers, and rejects the digest of the empty string and the all-zero
// digest with ErrPlaceholder, as they stand for a missing value.
//
// # Errors
//
// Every rejection is an *Error: errors.Is tells its kind (ErrEmpty,
// ErrInvalid, ErrTooLong, ErrPlaceholder; ErrRegion for a bad default
// region), Reason a short fixed phrase, so reports can count rejections
// per class, kind and reason. Messages never contain any part of the
// value.
//
// Everything in this package is safe for concurrent use.
package normalize
