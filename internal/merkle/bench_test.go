package merkle_test

import (
	"encoding/binary"
	"testing"

	"github.com/cleanroom-dev/cleanroom/internal/merkle"
)

const million = 1_000_000

func millionTree() *merkle.Tree {
	var tr merkle.Tree
	var entry [8]byte
	for i := range million {
		binary.BigEndian.PutUint64(entry[:], uint64(i))
		tr.Append(merkle.LeafHash(entry[:]))
	}
	return &tr
}

// BenchmarkMillion appends 1,000,000 leaves and proves the result
// consistent with a checkpoint two thirds of the way.
func BenchmarkMillion(b *testing.B) {
	for b.Loop() {
		tr := millionTree()
		proof, err := tr.ConsistencyProof(2*million/3, million)
		if err != nil || len(proof) == 0 {
			b.Fatalf("ConsistencyProof: %d hashes, %v", len(proof), err)
		}
	}
}

// BenchmarkConsistencyProof proves and verifies consistency between two
// sizes of a tree of 1,000,000 leaves.
func BenchmarkConsistencyProof(b *testing.B) {
	tr := millionTree()
	const oldSize = 654_321
	oldRoot, _ := tr.Root(oldSize)
	newRoot, _ := tr.Root(million)
	for b.Loop() {
		proof, err := tr.ConsistencyProof(oldSize, million)
		if err != nil {
			b.Fatal(err)
		}
		if err := merkle.VerifyConsistency(oldSize, million, oldRoot, newRoot, proof); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInclusionProof proves the inclusion of one leaf in a tree of
// 1,000,000 leaves.
func BenchmarkInclusionProof(b *testing.B) {
	tr := millionTree()
	for b.Loop() {
		if _, err := tr.InclusionProof(777_777, million-1); err != nil {
			b.Fatal(err)
		}
	}
}
