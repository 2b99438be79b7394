package normalize

import (
	"crypto/sha256"
	"encoding/hex"
)

// DigestSize is the length of a Digest in bytes.
const DigestSize = sha256.Size

// Digest returns the SHA-256 of a normalised value's UTF-8 bytes: the input
// to hash-to-group for every identifier class. A party that can supply only
// pre-hashed values supplies exactly this digest, written as 64 lower-case
// hex digits (FormatDigest), after applying this package's rules for the
// class itself; ParseDigest reads it back. Digest is safe for concurrent
// use.
func Digest(normalized string) [DigestSize]byte {
	return sha256.Sum256([]byte(normalized))
}

// FormatDigest returns d as 64 lower-case hex digits, the form in which
// pre-hashed values are exchanged.
func FormatDigest(d [DigestSize]byte) string {
	return hex.EncodeToString(d[:])
}

// emptyDigest is the SHA-256 of the empty string, which pre-hashed files
// carry where the value was missing.
var emptyDigest = sha256.Sum256(nil)

// ParseDigest reads a pre-hashed value: 64 hex digits in either case,
// with surrounding white space trimmed.
//
// It fails with ErrEmpty for blank input, ErrInvalid for anything but 64
// hex digits, and ErrPlaceholder for the digest of the empty string and
// the all-zero digest, which stand for a missing value. ParseDigest is
// safe for concurrent use.
func ParseDigest(s string) ([DigestSize]byte, error) {
	const op = "digest"
	var d [DigestSize]byte
	s = trim(s)
	if s == "" {
		return d, fail(op, ErrEmpty, "empty")
	}
	if len(s) != 2*DigestSize {
		return d, fail(op, ErrInvalid, "not 64 hex digits")
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return [DigestSize]byte{}, fail(op, ErrInvalid, "not 64 hex digits")
	}
	if d == emptyDigest || d == ([DigestSize]byte{}) {
		return [DigestSize]byte{}, fail(op, ErrPlaceholder, "digest of a missing value")
	}
	return d, nil
}
