// Package blind turns normalised identifiers into blinded tokens that two
// parties can compare without either of them, or the room host, learning
// the identifiers: the ECDH-PSI construction (Meadows 1986; Huberman,
// Franklin and Hogg 1999), double blinding H(x)^(a·b).
//
// Party A hashes each identifier into the ristretto255 group and blinds it
// with its room key a (Blind); the room relays A's set to party B's agent,
// which blinds it again with b (Guard.ReBlind). B's own set goes the other
// way. Because scalar multiplication commutes, H(x)·a·b = H(x)·b·a, so the
// double-blinded tokens of A and B meet exactly when the identifiers are
// equal, and nothing else about them can be learnt without a or b.
//
// The specifications followed are
//
//   - RFC 9380, hash_to_ristretto255 (appendix B) with expand_message_xmd
//     and SHA-512 (section 5.3.1), suite
//     ristretto255_XMD:SHA-512_R255MAP_RO_. The message is the 32-byte
//     SHA-256 digest of the normalised identifier, so parties that can only
//     supply pre-hashed values still match; the domain separation tag is
//     "cleanroom-v1|<room>|<class>", so tokens of different rooms and
//     identifier classes never meet.
//   - RFC 9496, ristretto255: the element derivation from 64 uniform bytes
//     (section 4.3.4) and the canonical 32-byte encoding, which is what a
//     Token is. Decoding rejects every non-canonical encoding.
//
// Group arithmetic is github.com/gtank/ristretto255, the library the
// party's keys (internal/keyfile) are kept in.
//
// The second blinding is the protocol's only oracle: whoever can have a
// set re-blinded under b can test guesses against B's tokens. Guard is the
// rule that closes it: an agent re-blinds a set only if a manifest signed by
// the peer party that produced it names this room and this server and
// matches the set exactly, and only once per manifest, remembered across
// restarts. It also refuses the identity element, non-canonical encodings
// and duplicates, and sets of its own party.
package blind
