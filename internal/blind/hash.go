package blind

import (
	"crypto/sha512"

	"github.com/gtank/ristretto255"

	"github.com/cleanroom-dev/cleanroom"
)

// DSTPrefix begins every domain separation tag: the tag of a room and an
// identifier class is DSTPrefix + room + "|" + class. Room names and
// classes contain no '|', so the tag names both unambiguously.
const DSTPrefix = "cleanroom-v1|"

// DST returns the RFC 9380 domain separation tag of a room and an
// identifier class, "cleanroom-v1|<room>|<class>".
func DST(room string, class cleanroom.IdentifierClass) string {
	return DSTPrefix + room + "|" + string(class)
}

// HashToGroup hashes the SHA-256 digest of a normalised identifier into the
// ristretto255 group with RFC 9380 hash_to_ristretto255 (suite
// ristretto255_XMD:SHA-512_R255MAP_RO_) and the tag DST(room, class). It
// does not check room and class; Blind does. It is deterministic and safe
// for concurrent use.
func HashToGroup(room string, class cleanroom.IdentifierClass, digest [32]byte) *ristretto255.Element {
	h := newHasher([]byte(DST(room, class)))
	return h.element(ristretto255.NewElement(), digest[:])
}

// hasher computes hash_to_ristretto255 under one domain separation tag.
// It is read-only after newHasher, so it is safe for concurrent use, and
// it keeps all per-call state on the caller's stack: workers on different
// cores never write to shared cache lines.
type hasher struct {
	dstPrime []byte // DST || I2OSP(len(DST), 1), after the oversize rule
}

// oversizeDSTPrefix is the prefix RFC 9380, section 5.3.3, hashes a tag of
// more than 255 bytes with.
const oversizeDSTPrefix = "H2C-OVERSIZE-DST-"

func newHasher(dst []byte) *hasher {
	if len(dst) > 255 {
		sum := sha512.Sum512(append([]byte(oversizeDSTPrefix), dst...))
		dst = sum[:]
	}
	dstPrime := append(append(make([]byte, 0, len(dst)+1), dst...), byte(len(dst)))
	return &hasher{dstPrime: dstPrime}
}

// zPad is Z_pad of expand_message_xmd: one SHA-512 input block of zeros.
var zPad [128]byte

// expand fills out with expand_message_xmd(msg, DST, len(out)) using
// SHA-512 (RFC 9380, section 5.3.1). len(out) must be at most 255·64.
func (x *hasher) expand(out, msg []byte) {
	const bLen = sha512.Size
	n := len(out)
	ell := (n + bLen - 1) / bLen
	if ell > 255 {
		panic("blind: expand_message_xmd output too long")
	}
	// Inputs are assembled in one buffer, on the stack when they fit (a
	// 32-byte message and any tag do).
	var stack [512]byte
	buf := stack[:0]
	if need := len(zPad) + len(msg) + 3 + len(x.dstPrime); need > len(stack) {
		buf = make([]byte, 0, need)
	}

	// b_0 = H(Z_pad || msg || I2OSP(len_in_bytes, 2) || I2OSP(0, 1) || DST_prime)
	buf = append(buf, zPad[:]...)
	buf = append(buf, msg...)
	buf = append(buf, byte(n>>8), byte(n), 0)
	buf = append(buf, x.dstPrime...)
	b0 := sha512.Sum512(buf)

	// b_1 = H(b_0 || I2OSP(1, 1) || DST_prime)
	// b_i = H(strxor(b_0, b_(i-1)) || I2OSP(i, 1) || DST_prime)
	bi := b0
	for i := 1; i <= ell; i++ {
		if i > 1 {
			for j := range bi {
				bi[j] ^= b0[j]
			}
		}
		buf = append(append(append(buf[:0], bi[:]...), byte(i)), x.dstPrime...)
		bi = sha512.Sum512(buf)
		copy(out[(i-1)*bLen:], bi[:])
	}
}

// element sets e to hash_to_ristretto255(msg, DST) (RFC 9380, appendix B):
// 64 bytes from expand_message_xmd, mapped by the ristretto255 element
// derivation function (RFC 9496, section 4.3.4). It returns e.
func (x *hasher) element(e *ristretto255.Element, msg []byte) *ristretto255.Element {
	var uniform [64]byte
	x.expand(uniform[:], msg)
	return e.FromUniformBytes(uniform[:])
}
