package merkle_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/cleanroom-dev/cleanroom/internal/merkle"
)

// hashes cuts b into 32-byte hashes, dropping a short tail.
func hashes(b []byte) [][32]byte {
	var out [][32]byte
	for len(b) >= 32 {
		out = append(out, [32]byte(b[:32]))
		b = b[32:]
	}
	return out
}

func isSentinel(err error) bool {
	return errors.Is(err, merkle.ErrOutOfRange) || errors.Is(err, merkle.ErrProofLength) ||
		errors.Is(err, merkle.ErrRootMismatch)
}

func concat(hs [][32]byte) []byte {
	var b []byte
	for _, h := range hs {
		b = append(b, h[:]...)
	}
	return b
}

// FuzzVerifyInclusion checks that VerifyInclusion never panics, fails only
// with its sentinels, and, over the test log, accepts exactly the proof
// InclusionProof makes.
func FuzzVerifyInclusion(f *testing.F) {
	l := newTestLog()
	for _, p := range [][2]int{{0, 1}, {3, 7}, {5, 8}, {63, 64}, {0, 0}, {-1, 5}, {1 << 62, -1}} {
		proof, _ := l.tree.InclusionProof(p[0], p[1])
		f.Add(p[0], p[1], concat(proof), true)
		f.Add(p[0], p[1], concat(proof), false)
	}
	f.Fuzz(func(t *testing.T, index, size int, proofBytes []byte, useLog bool) {
		proof := hashes(proofBytes)
		var leaf, root [32]byte
		if len(proofBytes) > 0 {
			leaf[0], root[1] = proofBytes[0], proofBytes[len(proofBytes)-1]
		}
		if useLog && index >= 0 && index < size && size <= exhaustiveMax {
			leaf, root = l.leaves[index], l.roots[size]
		}
		err := merkle.VerifyInclusion(leaf, index, size, proof, root)
		if err != nil && !isSentinel(err) {
			t.Fatalf("VerifyInclusion(%d, %d) = %v, not a sentinel", index, size, err)
		}
		if useLog && index >= 0 && index < size && size <= exhaustiveMax {
			want, _ := l.tree.InclusionProof(index, size)
			if ok := slices.Equal(proof, want); ok != (err == nil) {
				t.Fatalf("VerifyInclusion(%d, %d, %x) = %v; genuine proof %x", index, size, proof, err, want)
			}
		}
	})
}

// FuzzVerifyConsistency checks that VerifyConsistency never panics, fails
// only with its sentinels, and, over the test log, accepts exactly the
// proof ConsistencyProof makes.
func FuzzVerifyConsistency(f *testing.F) {
	l := newTestLog()
	for _, p := range [][2]int{{0, 0}, {1, 8}, {6, 7}, {4, 13}, {32, 64}, {63, 64}, {5, 3}, {-1, 2}, {1 << 62, 1<<63 - 1}} {
		proof, _ := l.tree.ConsistencyProof(p[0], p[1])
		f.Add(p[0], p[1], concat(proof), true)
		f.Add(p[0], p[1], concat(proof), false)
	}
	f.Fuzz(func(t *testing.T, oldSize, newSize int, proofBytes []byte, useLog bool) {
		proof := hashes(proofBytes)
		var oldRoot, newRoot [32]byte
		if len(proofBytes) > 0 {
			oldRoot[0], newRoot[1] = proofBytes[0], proofBytes[len(proofBytes)-1]
		}
		inLog := useLog && oldSize >= 0 && oldSize <= newSize && newSize <= exhaustiveMax
		if inLog {
			oldRoot, newRoot = l.roots[oldSize], l.roots[newSize]
		}
		err := merkle.VerifyConsistency(oldSize, newSize, oldRoot, newRoot, proof)
		if err != nil && !isSentinel(err) {
			t.Fatalf("VerifyConsistency(%d, %d) = %v, not a sentinel", oldSize, newSize, err)
		}
		if inLog {
			want, _ := l.tree.ConsistencyProof(oldSize, newSize)
			if ok := slices.Equal(proof, want); ok != (err == nil) {
				t.Fatalf("VerifyConsistency(%d, %d, %x) = %v; genuine proof %x", oldSize, newSize, proof, err, want)
			}
		}
	})
}
