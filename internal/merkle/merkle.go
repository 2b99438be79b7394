// Package merkle implements the append-only Merkle tree that makes the audit
// log tamper-evident. It follows the construction of RFC 9162 §2.1
// (Certificate Transparency 2.0): SHA-256 with a 0x00 prefix for leaves and a
// 0x01 prefix for interior nodes, a tree over n leaves split at the largest
// power of two smaller than n, inclusion proofs (§2.1.3) and consistency
// proofs (§2.1.4), byte for byte as the RFC defines them.
//
// The server keeps a [Tree] of the audit entries' leaf hashes and publishes
// a [Checkpoint] (size and root) that it signs. A member's agent holds the
// last checkpoint it countersigned; given a newer one it asks for a
// consistency proof and calls [VerifyConsistency] before countersigning, so
// the host cannot rewrite, truncate or fork the log without the agent
// noticing. A receipt for one entry is an inclusion proof checked with
// [VerifyInclusion].
//
// A proof only means something against a size and root that come together
// from one authentic checkpoint: the verifiers check that the proof leads from
// the given hashes to the given root under the shape that the given sizes
// imply, nothing more.
//
//	var t merkle.Tree
//	t.Append(merkle.LeafHash(entry))
//	old := t.Checkpoint()
//	t.Append(merkle.LeafHash(next))
//	proof, _ := t.ConsistencyProof(old.Size, t.Size())
//	err := merkle.VerifyConsistency(old.Size, t.Size(), old.Root, t.Checkpoint().Root, proof)
package merkle

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/bits"
)

// HashSize is the size in bytes of every hash in the tree.
const HashSize = sha256.Size

const (
	leafPrefix = 0x00
	nodePrefix = 0x01
)

var (
	// ErrOutOfRange means an index or size is negative, an index is not
	// below its tree size, an old size exceeds the new one, or a size
	// exceeds the leaves available.
	ErrOutOfRange = errors.New("merkle: index or size out of range")
	// ErrProofLength means a proof has more or fewer hashes than its sizes
	// and index call for.
	ErrProofLength = errors.New("merkle: proof has the wrong number of hashes")
	// ErrRootMismatch means a proof of the right length does not lead to
	// the expected root: the log, the entry or the proof is not what it
	// claims to be.
	ErrRootMismatch = errors.New("merkle: proof does not match the root")
)

// emptyRoot is SHA-256 of the empty string, the hash of the empty tree
// (RFC 9162 §2.1.1).
var emptyRoot = sha256.Sum256(nil)

// EmptyRoot returns the root of the tree with no leaves, SHA-256("").
func EmptyRoot() [32]byte { return emptyRoot }

// LeafHash returns the hash of one log entry, SHA-256(0x00 || data).
func LeafHash(data []byte) [32]byte {
	buf := make([]byte, 1+len(data))
	buf[0] = leafPrefix
	copy(buf[1:], data)
	return sha256.Sum256(buf)
}

// NodeHash returns the hash of an interior node, SHA-256(0x01 || left || right).
func NodeHash(left, right [32]byte) [32]byte {
	var buf [1 + 2*HashSize]byte
	buf[0] = nodePrefix
	copy(buf[1:], left[:])
	copy(buf[1+HashSize:], right[:])
	return sha256.Sum256(buf[:])
}

// Root returns the Merkle tree hash MTH of the entries (RFC 9162 §2.1.1):
// EmptyRoot for none, otherwise the root over their leaf hashes.
func Root(entries [][]byte) [32]byte {
	hashes := make([][32]byte, len(entries))
	for i, e := range entries {
		hashes[i] = LeafHash(e)
	}
	return RootOfLeafHashes(hashes)
}

// RootOfLeafHashes returns the Merkle tree hash over leaf hashes already
// computed with LeafHash, or EmptyRoot if there are none.
func RootOfLeafHashes(leafHashes [][32]byte) [32]byte {
	if len(leafHashes) == 0 {
		return emptyRoot
	}
	return sliceHasher(leafHashes)(0, len(leafHashes))
}

// split returns the largest power of two smaller than n, for n >= 2: the
// number of leaves in the left subtree of a tree of n leaves.
func split(n int) int {
	return 1 << (bits.Len(uint(n-1)) - 1)
}

// rangeHasher returns the Merkle tree hash of the leaves [lo, hi), lo < hi.
// It is only asked for ranges of the RFC decomposition of a tree rooted at
// leaf 0, so a range of 2^k leaves always starts at a multiple of 2^k.
type rangeHasher func(lo, hi int) [32]byte

// sliceHasher hashes ranges by recursion over the leaf hashes: O(hi-lo).
func sliceHasher(leaves [][32]byte) rangeHasher {
	var h rangeHasher
	h = func(lo, hi int) [32]byte {
		if hi-lo == 1 {
			return leaves[lo]
		}
		k := split(hi - lo)
		return NodeHash(h(lo, lo+k), h(lo+k, hi))
	}
	return h
}

// inclusionPath appends PATH(index, D[lo:hi]) of RFC 9162 §2.1.3.1 to proof,
// the hash nearest the leaf first.
func inclusionPath(index, lo, hi int, h rangeHasher, proof [][32]byte) [][32]byte {
	if hi-lo == 1 {
		return proof
	}
	k := split(hi - lo)
	if index < lo+k {
		proof = inclusionPath(index, lo, lo+k, h, proof)
		return append(proof, h(lo+k, hi))
	}
	proof = inclusionPath(index, lo+k, hi, h, proof)
	return append(proof, h(lo, lo+k))
}

// consistencyPath appends SUBPROOF(m, D[lo:hi], whole) of RFC 9162
// §2.1.4.1 to proof; m counts the old leaves within [lo, hi), 0 < m <= hi-lo.
func consistencyPath(m, lo, hi int, whole bool, h rangeHasher, proof [][32]byte) [][32]byte {
	n := hi - lo
	if m == n {
		if whole {
			return proof
		}
		return append(proof, h(lo, hi))
	}
	k := split(n)
	if m <= k {
		proof = consistencyPath(m, lo, lo+k, whole, h, proof)
		return append(proof, h(lo+k, hi))
	}
	proof = consistencyPath(m-k, lo+k, hi, false, h, proof)
	return append(proof, h(lo, lo+k))
}

// InclusionProof returns the audit path of RFC 9162 §2.1.3.1 for the leaf at
// index in the tree made of the first size leaf hashes. It hashes O(size)
// nodes; a Tree answers in O(log² size). The error is ErrOutOfRange unless
// 0 <= index < size <= len(leafHashes).
func InclusionProof(leafHashes [][32]byte, index, size int) ([][32]byte, error) {
	if index < 0 || index >= size || size > len(leafHashes) {
		return nil, fmt.Errorf("inclusion proof for leaf %d in tree of size %d of %d leaves: %w",
			index, size, len(leafHashes), ErrOutOfRange)
	}
	return inclusionPath(index, 0, size, sliceHasher(leafHashes), make([][32]byte, 0, bits.Len(uint(size)))), nil
}

// ConsistencyProof returns the consistency proof of RFC 9162 §2.1.4.1
// between the trees made of the first oldSize and the first newSize leaf
// hashes; it is empty when oldSize is 0 or equals newSize. It hashes
// O(newSize) nodes; a Tree answers in O(log² newSize). The error is
// ErrOutOfRange unless 0 <= oldSize <= newSize <= len(leafHashes).
func ConsistencyProof(leafHashes [][32]byte, oldSize, newSize int) ([][32]byte, error) {
	if oldSize < 0 || oldSize > newSize || newSize > len(leafHashes) {
		return nil, fmt.Errorf("consistency proof from size %d to %d of %d leaves: %w",
			oldSize, newSize, len(leafHashes), ErrOutOfRange)
	}
	return consistency(oldSize, newSize, sliceHasher(leafHashes)), nil
}

func consistency(oldSize, newSize int, h rangeHasher) [][32]byte {
	proof := make([][32]byte, 0, bits.Len(uint(newSize))+1)
	if oldSize == 0 || oldSize == newSize {
		return proof
	}
	return consistencyPath(oldSize, 0, newSize, true, h, proof)
}

// VerifyInclusion checks with the algorithm of RFC 9162 §2.1.3.2 that proof
// shows the leaf with hash leafHash at index in the tree of size with root.
// It returns nil on success; otherwise an error wrapping ErrOutOfRange
// (unless 0 <= index < size), ErrProofLength or ErrRootMismatch.
func VerifyInclusion(leafHash [32]byte, index, size int, proof [][32]byte, root [32]byte) error {
	if index < 0 || index >= size {
		return fmt.Errorf("verify inclusion of leaf %d in tree of size %d: %w", index, size, ErrOutOfRange)
	}
	fn, sn := uint64(index), uint64(size-1)
	r := leafHash
	for _, p := range proof {
		if sn == 0 {
			return fmt.Errorf("verify inclusion of leaf %d in tree of size %d: %d hashes: %w",
				index, size, len(proof), ErrProofLength)
		}
		if fn&1 == 1 || fn == sn {
			r = NodeHash(p, r)
			if fn&1 == 0 {
				for fn&1 == 0 && fn != 0 {
					fn >>= 1
					sn >>= 1
				}
			}
		} else {
			r = NodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return fmt.Errorf("verify inclusion of leaf %d in tree of size %d: %d hashes: %w",
			index, size, len(proof), ErrProofLength)
	}
	if r != root {
		return fmt.Errorf("verify inclusion of leaf %d in tree of size %d: %w", index, size, ErrRootMismatch)
	}
	return nil
}

// VerifyConsistency checks with the algorithm of RFC 9162 §2.1.4.2 that
// proof shows the tree of oldSize with oldRoot to be a prefix of the tree of
// newSize with newRoot. It returns nil on success; otherwise an error
// wrapping ErrOutOfRange (unless 0 <= oldSize <= newSize), ErrProofLength or
// ErrRootMismatch.
//
// The cases the RFC leaves to the caller are decided so: for oldSize 0 the
// proof must be empty and oldRoot must be EmptyRoot (and newRoot too when
// newSize is 0); for equal sizes the proof must be empty and the roots
// equal.
func VerifyConsistency(oldSize, newSize int, oldRoot, newRoot [32]byte, proof [][32]byte) error {
	fail := func(err error) error {
		return fmt.Errorf("verify consistency from size %d to %d: %w", oldSize, newSize, err)
	}
	if oldSize < 0 || oldSize > newSize {
		return fail(ErrOutOfRange)
	}
	if oldSize == 0 || oldSize == newSize {
		if len(proof) != 0 {
			return fail(fmt.Errorf("%d hashes, want none: %w", len(proof), ErrProofLength))
		}
		if oldSize == 0 && oldRoot != emptyRoot {
			return fail(fmt.Errorf("old root of the empty tree: %w", ErrRootMismatch))
		}
		if oldSize == newSize && oldRoot != newRoot {
			return fail(ErrRootMismatch)
		}
		return nil
	}
	if len(proof) == 0 {
		return fail(fmt.Errorf("no hashes: %w", ErrProofLength))
	}
	path := proof
	if oldSize&(oldSize-1) == 0 {
		// The old tree is a perfect subtree of the new one: its root is
		// the first hash of the path, which the RFC leaves out.
		path = make([][32]byte, 0, len(proof)+1)
		path = append(path, oldRoot)
		path = append(path, proof...)
	}
	fn, sn := uint64(oldSize-1), uint64(newSize-1)
	for fn&1 == 1 {
		fn >>= 1
		sn >>= 1
	}
	fr, sr := path[0], path[0]
	for _, c := range path[1:] {
		if sn == 0 {
			return fail(fmt.Errorf("%d hashes: %w", len(proof), ErrProofLength))
		}
		if fn&1 == 1 || fn == sn {
			fr = NodeHash(c, fr)
			sr = NodeHash(c, sr)
			if fn&1 == 0 {
				for fn&1 == 0 && fn != 0 {
					fn >>= 1
					sn >>= 1
				}
			}
		} else {
			sr = NodeHash(sr, c)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return fail(fmt.Errorf("%d hashes: %w", len(proof), ErrProofLength))
	}
	if fr != oldRoot {
		return fail(fmt.Errorf("old root: %w", ErrRootMismatch))
	}
	if sr != newRoot {
		return fail(fmt.Errorf("new root: %w", ErrRootMismatch))
	}
	return nil
}
