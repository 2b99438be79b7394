package merkle

import (
	"fmt"
	"math/bits"
)

// Tree is an append-only Merkle tree that answers for its current size and
// for every past one. The zero value is an empty tree ready to use.
//
// It keeps every perfect subtree hash: the leaf hashes, then the hashes of
// each aligned pair, each aligned four, and so on, about 2n hashes (64 MiB
// for a million leaves). Append hashes amortised O(1) nodes (O(log n) at
// worst); Root hashes O(log n) nodes; InclusionProof and ConsistencyProof
// hash O(log² n) at worst, because every hash they need is a perfect
// subtree or a right edge of at most log n of them.
//
// A Tree is not safe for concurrent use while Append may run; the other
// methods may be called concurrently with each other.
type Tree struct {
	// levels[k][j] is the hash of the 2^k leaves starting at leaf j·2^k;
	// levels[0] holds the leaf hashes.
	levels [][][32]byte
}

// Size returns the number of leaves.
func (t *Tree) Size() int {
	if len(t.levels) == 0 {
		return 0
	}
	return len(t.levels[0])
}

// Append adds a leaf hash, made with LeafHash, and returns its index.
func (t *Tree) Append(leafHash [32]byte) int {
	if len(t.levels) == 0 {
		t.levels = [][][32]byte{nil}
	}
	t.levels[0] = append(t.levels[0], leafHash)
	index := len(t.levels[0]) - 1
	h := leafHash
	// A node with an odd index completes a pair: hash it with its left
	// sibling into the level above, and go on while that completes one too.
	for k, j := 0, index; j&1 == 1; k, j = k+1, j>>1 {
		h = NodeHash(t.levels[k][j-1], h)
		if k+1 == len(t.levels) {
			t.levels = append(t.levels, nil)
		}
		t.levels[k+1] = append(t.levels[k+1], h)
	}
	return index
}

// LeafHash returns the hash of the leaf at index, or an error wrapping
// ErrOutOfRange unless 0 <= index < Size().
func (t *Tree) LeafHash(index int) ([32]byte, error) {
	if index < 0 || index >= t.Size() {
		return [32]byte{}, fmt.Errorf("leaf %d of tree of size %d: %w", index, t.Size(), ErrOutOfRange)
	}
	return t.levels[0][index], nil
}

// subtree is a rangeHasher over the stored perfect subtrees.
func (t *Tree) subtree(lo, hi int) [32]byte {
	n := hi - lo
	if n&(n-1) == 0 {
		k := bits.TrailingZeros(uint(n))
		return t.levels[k][lo>>k]
	}
	m := split(n)
	return NodeHash(t.subtree(lo, lo+m), t.subtree(lo+m, hi))
}

// Root returns the root of the tree of the first size leaves, or an error
// wrapping ErrOutOfRange unless 0 <= size <= Size().
func (t *Tree) Root(size int) ([32]byte, error) {
	if size < 0 || size > t.Size() {
		return [32]byte{}, fmt.Errorf("root of size %d of tree of size %d: %w", size, t.Size(), ErrOutOfRange)
	}
	if size == 0 {
		return emptyRoot, nil
	}
	return t.subtree(0, size), nil
}

// Checkpoint returns the current size and root.
func (t *Tree) Checkpoint() Checkpoint {
	c := Checkpoint{Size: t.Size(), Root: emptyRoot}
	if c.Size > 0 {
		c.Root = t.subtree(0, c.Size)
	}
	return c
}

// InclusionProof returns the audit path of RFC 9162 §2.1.3.1 for the leaf at
// index in the tree of the first size leaves, or an error wrapping
// ErrOutOfRange unless 0 <= index < size <= Size().
func (t *Tree) InclusionProof(index, size int) ([][32]byte, error) {
	if index < 0 || index >= size || size > t.Size() {
		return nil, fmt.Errorf("inclusion proof for leaf %d in size %d of tree of size %d: %w",
			index, size, t.Size(), ErrOutOfRange)
	}
	return inclusionPath(index, 0, size, t.subtree, make([][32]byte, 0, bits.Len(uint(size)))), nil
}

// ConsistencyProof returns the consistency proof of RFC 9162 §2.1.4.1
// between the trees of the first oldSize and the first newSize leaves, empty
// when oldSize is 0 or equals newSize, or an error wrapping ErrOutOfRange
// unless 0 <= oldSize <= newSize <= Size().
func (t *Tree) ConsistencyProof(oldSize, newSize int) ([][32]byte, error) {
	if oldSize < 0 || oldSize > newSize || newSize > t.Size() {
		return nil, fmt.Errorf("consistency proof from size %d to %d of tree of size %d: %w",
			oldSize, newSize, t.Size(), ErrOutOfRange)
	}
	return consistency(oldSize, newSize, t.subtree), nil
}
