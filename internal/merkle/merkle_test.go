package merkle_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/cleanroom-dev/cleanroom/internal/merkle"
)

// The hashes below are computed in the test with crypto/sha256 alone, so
// that the known-answer tests do not lean on the code they check.
func refLeaf(data []byte) [32]byte {
	return sha256.Sum256(append([]byte{0x00}, data...))
}

func refNode(l, r [32]byte) [32]byte {
	b := append([]byte{0x01}, l[:]...)
	return sha256.Sum256(append(b, r[:]...))
}

func unhex(t testing.TB, s string) [32]byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		t.Fatalf("bad test hash %q", s)
	}
	return [32]byte(b)
}

// vectorLeaves are the eight entries of the RFC 6962 test tree used by
// Certificate Transparency implementations (transparency-dev/merkle
// testonly.LeafInputs); the hashes below are theirs.
var vectorLeaves = [][]byte{
	{},
	{0x00},
	{0x10},
	{0x20, 0x21},
	{0x30, 0x31},
	{0x40, 0x41, 0x42, 0x43},
	{0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57},
	{0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f},
}

// vectorRoots[n] is the root of the first n vectorLeaves.
var vectorRoots = []string{
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}

func TestHashes(t *testing.T) {
	for _, d := range vectorLeaves {
		if got, want := merkle.LeafHash(d), refLeaf(d); got != want {
			t.Errorf("LeafHash(%x) = %x, want %x", d, got, want)
		}
	}
	a, b := refLeaf([]byte("a")), refLeaf([]byte("b"))
	if got, want := merkle.NodeHash(a, b), refNode(a, b); got != want {
		t.Errorf("NodeHash = %x, want %x", got, want)
	}
	if got, want := merkle.EmptyRoot(), sha256.Sum256(nil); got != want {
		t.Errorf("EmptyRoot() = %x, want %x", got, want)
	}
	// Domain separation: a leaf holding two hashes is not the node over them.
	if merkle.LeafHash(append(a[:], b[:]...)) == merkle.NodeHash(a, b) {
		t.Error("LeafHash(a||b) == NodeHash(a, b)")
	}
}

// TestRootByHand checks trees of 0 to 8 leaves against their shapes written
// out as RFC 9162 §2.1.1 defines them.
func TestRootByHand(t *testing.T) {
	var l [8][32]byte
	for i, d := range vectorLeaves {
		l[i] = refLeaf(d)
	}
	n := refNode
	n01, n23, n45 := n(l[0], l[1]), n(l[2], l[3]), n(l[4], l[5])
	n03 := n(n01, n23)
	want := [][32]byte{
		sha256.Sum256(nil),
		l[0],
		n01,
		n(n01, l[2]),
		n03,
		n(n03, l[4]),
		n(n03, n45),
		n(n03, n(n45, l[6])),
		n(n03, n(n45, n(l[6], l[7]))),
	}
	for size, w := range want {
		leaves := vectorLeaves[:size]
		if got := merkle.Root(leaves); got != w {
			t.Errorf("Root(%d leaves) = %x, want %x", size, got, w)
		}
		if got, vec := w, unhex(t, vectorRoots[size]); got != vec {
			t.Errorf("hand-built root of %d leaves = %x, want test vector %x", size, got, vec)
		}
		hashes := make([][32]byte, size)
		for i := range hashes {
			hashes[i] = l[i]
		}
		if got := merkle.RootOfLeafHashes(hashes); got != w {
			t.Errorf("RootOfLeafHashes(%d leaves) = %x, want %x", size, got, w)
		}
		var tr merkle.Tree
		for _, h := range hashes {
			tr.Append(h)
		}
		if got := tr.Checkpoint(); got != (merkle.Checkpoint{Size: size, Root: w}) {
			t.Errorf("Tree of %d leaves: Checkpoint() = %+v, want root %x", size, got, w)
		}
	}
}

// TestVectorProofs checks the RFC 6962 proof vectors of
// transparency-dev/merkle (proof/verify_test.go) over vectorLeaves.
func TestVectorProofs(t *testing.T) {
	var tr merkle.Tree
	for _, d := range vectorLeaves {
		tr.Append(merkle.LeafHash(d))
	}
	root := func(n int) [32]byte { return unhex(t, vectorRoots[n]) }
	inclusion := []struct {
		index, size int
		proof       []string
	}{
		{0, 1, nil},
		{0, 8, []string{
			"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
			"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
		}},
		{5, 8, []string{
			"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
			"ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
			"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		}},
		{2, 3, []string{
			"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		}},
		{1, 5, []string{
			"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
			"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
		}},
	}
	for _, tc := range inclusion {
		want := make([][32]byte, len(tc.proof))
		for i, s := range tc.proof {
			want[i] = unhex(t, s)
		}
		got, err := tr.InclusionProof(tc.index, tc.size)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("InclusionProof(%d, %d) = %x, %v, want %x", tc.index, tc.size, got, err, want)
		}
		leaf := merkle.LeafHash(vectorLeaves[tc.index])
		if err := merkle.VerifyInclusion(leaf, tc.index, tc.size, want, root(tc.size)); err != nil {
			t.Errorf("VerifyInclusion(vector %d, %d) = %v", tc.index, tc.size, err)
		}
	}
	consistency := []struct {
		oldSize, newSize int
		proof            []string
	}{
		{1, 1, nil},
		{1, 8, []string{
			"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
			"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
		}},
		{6, 8, []string{
			"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
			"ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
			"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		}},
		{2, 5, []string{
			"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
		}},
		{6, 7, []string{
			"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
			"b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
			"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		}},
	}
	for _, tc := range consistency {
		want := make([][32]byte, len(tc.proof))
		for i, s := range tc.proof {
			want[i] = unhex(t, s)
		}
		got, err := tr.ConsistencyProof(tc.oldSize, tc.newSize)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ConsistencyProof(%d, %d) = %x, %v, want %x", tc.oldSize, tc.newSize, got, err, want)
		}
		if err := merkle.VerifyConsistency(tc.oldSize, tc.newSize, root(tc.oldSize), root(tc.newSize), want); err != nil {
			t.Errorf("VerifyConsistency(vector %d, %d) = %v", tc.oldSize, tc.newSize, err)
		}
	}
}

// exhaustiveMax is the largest tree of the exhaustive tests.
const exhaustiveMax = 64

// testLog is a tree of exhaustiveMax distinct leaves with its roots for
// every size, computed by recursion in the test.
type testLog struct {
	leaves [][32]byte
	roots  [][32]byte
	tree   merkle.Tree
}

func refMTH(leaves [][32]byte) [32]byte {
	switch n := len(leaves); n {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return leaves[0]
	default:
		k := 1
		for k*2 < n {
			k *= 2
		}
		return refNode(refMTH(leaves[:k]), refMTH(leaves[k:]))
	}
}

func newTestLog() *testLog {
	l := &testLog{}
	for i := range exhaustiveMax {
		h := refLeaf(fmt.Appendf(nil, "entry %d", i))
		l.leaves = append(l.leaves, h)
		l.tree.Append(h)
	}
	for n := 0; n <= exhaustiveMax; n++ {
		l.roots = append(l.roots, refMTH(l.leaves[:n]))
	}
	return l
}

// tamperedProofs returns a copy of proof for each element with one bit changed, the
// proof cut short, and the proof with a hash added at the end and at the
// start.
func tamperedProofs(proof [][32]byte, extra [32]byte) map[string][][32]byte {
	out := map[string][][32]byte{
		"appended":      append(slices.Clone(proof), extra),
		"prepended":     append([][32]byte{extra}, proof...),
		"appended zero": append(slices.Clone(proof), [32]byte{}),
	}
	if len(proof) > 0 {
		out["truncated"] = proof[:len(proof)-1]
		out["first dropped"] = proof[1:]
		out["duplicated first"] = append([][32]byte{proof[0]}, proof...)
	}
	for i := range proof {
		p := slices.Clone(proof)
		p[i][i%32] ^= 1 << (i % 8)
		out[fmt.Sprintf("bit flipped in hash %d", i)] = p
	}
	if len(proof) > 1 {
		p := slices.Clone(proof)
		p[0], p[1] = p[1], p[0]
		out["first two swapped"] = p
	}
	return out
}

func flip(h [32]byte) [32]byte {
	h[31] ^= 0x80
	return h
}

func TestInclusionExhaustive(t *testing.T) {
	l := newTestLog()
	for size := 1; size <= exhaustiveMax; size++ {
		root := l.roots[size]
		for index := range size {
			proof, err := l.tree.InclusionProof(index, size)
			if err != nil {
				t.Fatalf("Tree.InclusionProof(%d, %d): %v", index, size, err)
			}
			plain, err := merkle.InclusionProof(l.leaves, index, size)
			if err != nil || !slices.Equal(plain, proof) {
				t.Fatalf("InclusionProof(%d, %d) = %x, %v; Tree gives %x", index, size, plain, err, proof)
			}
			leaf := l.leaves[index]
			if err := merkle.VerifyInclusion(leaf, index, size, proof, root); err != nil {
				t.Fatalf("VerifyInclusion(%d, %d) = %v", index, size, err)
			}
			mustFail := func(what string, leaf [32]byte, index, size int, proof [][32]byte, root [32]byte) {
				t.Helper()
				if err := merkle.VerifyInclusion(leaf, index, size, proof, root); err == nil {
					t.Errorf("VerifyInclusion of leaf %d of %d with %s: verified", index, size, what)
				}
			}
			for what, p := range tamperedProofs(proof, root) {
				mustFail(what, leaf, index, size, p, root)
			}
			mustFail("wrong leaf", flip(leaf), index, size, proof, root)
			mustFail("wrong root", leaf, index, size, proof, flip(root))
			for other := -1; other <= size; other++ {
				if other != index {
					mustFail(fmt.Sprintf("index %d", other), leaf, other, size, proof, root)
				}
			}
			// A size comes with its own root, from the same checkpoint.
			for other := 0; other <= exhaustiveMax; other++ {
				if other != size {
					mustFail(fmt.Sprintf("size %d", other), leaf, index, other, proof, l.roots[other])
				}
			}
		}
	}
}

func TestConsistencyExhaustive(t *testing.T) {
	l := newTestLog()
	// proofs[m][n] is the proof from size m to n.
	proofs := make([][][][32]byte, exhaustiveMax+1)
	for m := range proofs {
		proofs[m] = make([][][32]byte, exhaustiveMax+1)
		for n := m; n <= exhaustiveMax; n++ {
			p, err := l.tree.ConsistencyProof(m, n)
			if err != nil {
				t.Fatalf("Tree.ConsistencyProof(%d, %d): %v", m, n, err)
			}
			plain, err := merkle.ConsistencyProof(l.leaves, m, n)
			if err != nil || !slices.Equal(plain, p) {
				t.Fatalf("ConsistencyProof(%d, %d) = %x, %v; Tree gives %x", m, n, plain, err, p)
			}
			proofs[m][n] = p
		}
	}
	for n := 0; n <= exhaustiveMax; n++ {
		for m := 0; m <= n; m++ {
			proof := proofs[m][n]
			oldRoot, newRoot := l.roots[m], l.roots[n]
			if err := merkle.VerifyConsistency(m, n, oldRoot, newRoot, proof); err != nil {
				t.Fatalf("VerifyConsistency(%d, %d) = %v", m, n, err)
			}
			mustFail := func(what string, m, n int, oldRoot, newRoot [32]byte, proof [][32]byte) {
				t.Helper()
				if err := merkle.VerifyConsistency(m, n, oldRoot, newRoot, proof); err == nil {
					t.Errorf("VerifyConsistency from %d to %d with %s: verified", m, n, what)
				}
			}
			for what, p := range tamperedProofs(proof, newRoot) {
				mustFail(what, m, n, oldRoot, newRoot, p)
			}
			mustFail("wrong old root", m, n, flip(oldRoot), newRoot, proof)
			if m > 0 {
				// An empty old tree is a prefix of any tree: there is
				// nothing to check about the new root.
				mustFail("wrong new root", m, n, oldRoot, flip(newRoot), proof)
			}
			if oldRoot != newRoot {
				mustFail("swapped roots", m, n, newRoot, oldRoot, proof)
			}
			// Sizes come with their own roots, from the same checkpoints;
			// the claim is then true, so only the proof made for it, or
			// one equal to it, may pass.
			for _, m2 := range []int{-1, 0, m - 1, m + 1, m / 2, 2 * m, n} {
				for _, n2 := range []int{-1, m, n - 1, n, n + 1, n / 2, 2 * n} {
					if m2 == m && n2 == n || n2 > exhaustiveMax {
						continue
					}
					if m2 >= 0 && m2 <= n2 && slices.Equal(proofs[m2][n2], proof) {
						continue
					}
					r1, r2 := oldRoot, newRoot
					if m2 >= 0 && m2 <= exhaustiveMax {
						r1 = l.roots[m2]
					}
					if n2 >= 0 {
						r2 = l.roots[n2]
					}
					mustFail(fmt.Sprintf("sizes %d to %d", m2, n2), m2, n2, r1, r2, proof)
				}
			}
		}
	}
}

func TestEdgeCases(t *testing.T) {
	empty := merkle.EmptyRoot()
	some := merkle.LeafHash([]byte("some"))
	tests := []struct {
		name             string
		oldSize, newSize int
		oldRoot, newRoot [32]byte
		proof            [][32]byte
		want             error
	}{
		{"empty to empty", 0, 0, empty, empty, nil, nil},
		{"empty to one", 0, 1, empty, some, nil, nil},
		{"empty with a wrong old root", 0, 1, some, some, nil, merkle.ErrRootMismatch},
		{"empty to empty with a wrong new root", 0, 0, empty, some, nil, merkle.ErrRootMismatch},
		{"empty with a proof", 0, 1, empty, some, [][32]byte{some}, merkle.ErrProofLength},
		{"equal sizes", 1, 1, some, some, nil, nil},
		{"equal sizes, other roots", 1, 1, some, empty, nil, merkle.ErrRootMismatch},
		{"equal sizes with a proof", 1, 1, some, some, [][32]byte{some}, merkle.ErrProofLength},
		{"shrinking", 2, 1, some, some, nil, merkle.ErrOutOfRange},
		{"negative", -1, 1, some, some, nil, merkle.ErrOutOfRange},
		{"no proof", 1, 2, some, some, nil, merkle.ErrProofLength},
	}
	for _, tc := range tests {
		err := merkle.VerifyConsistency(tc.oldSize, tc.newSize, tc.oldRoot, tc.newRoot, tc.proof)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: VerifyConsistency(%d, %d) = %v, want %v", tc.name, tc.oldSize, tc.newSize, err, tc.want)
		}
	}

	for _, p := range []struct{ index, size int }{{0, 0}, {-1, 1}, {1, 1}, {0, -1}} {
		if err := merkle.VerifyInclusion(some, p.index, p.size, nil, some); !errors.Is(err, merkle.ErrOutOfRange) {
			t.Errorf("VerifyInclusion(%d, %d) = %v, want ErrOutOfRange", p.index, p.size, err)
		}
	}
	if err := merkle.VerifyInclusion(some, 0, 1, nil, some); err != nil {
		t.Errorf("VerifyInclusion(0, 1) of the root itself = %v", err)
	}
	if err := merkle.VerifyInclusion(some, 0, 1, [][32]byte{some}, some); !errors.Is(err, merkle.ErrProofLength) {
		t.Errorf("VerifyInclusion(0, 1) with one hash = %v, want ErrProofLength", err)
	}
	if err := merkle.VerifyInclusion(some, 0, 2, nil, some); !errors.Is(err, merkle.ErrProofLength) {
		t.Errorf("VerifyInclusion(0, 2) without hashes = %v, want ErrProofLength", err)
	}

	leaves := [][32]byte{some, some}
	var tr merkle.Tree
	tr.Append(some)
	tr.Append(some)
	for _, p := range []struct{ a, b int }{{-1, 1}, {2, 2}, {0, 3}, {1, 0}} {
		if _, err := merkle.InclusionProof(leaves, p.a, p.b); !errors.Is(err, merkle.ErrOutOfRange) {
			t.Errorf("InclusionProof(%d, %d) = %v, want ErrOutOfRange", p.a, p.b, err)
		}
		if _, err := tr.InclusionProof(p.a, p.b); !errors.Is(err, merkle.ErrOutOfRange) {
			t.Errorf("Tree.InclusionProof(%d, %d) = %v, want ErrOutOfRange", p.a, p.b, err)
		}
	}
	for _, p := range []struct{ a, b int }{{-1, 1}, {2, 1}, {0, 3}} {
		if _, err := merkle.ConsistencyProof(leaves, p.a, p.b); !errors.Is(err, merkle.ErrOutOfRange) {
			t.Errorf("ConsistencyProof(%d, %d) = %v, want ErrOutOfRange", p.a, p.b, err)
		}
		if _, err := tr.ConsistencyProof(p.a, p.b); !errors.Is(err, merkle.ErrOutOfRange) {
			t.Errorf("Tree.ConsistencyProof(%d, %d) = %v, want ErrOutOfRange", p.a, p.b, err)
		}
	}
	for _, size := range []int{-1, 3} {
		if _, err := tr.Root(size); !errors.Is(err, merkle.ErrOutOfRange) {
			t.Errorf("Tree.Root(%d) = %v, want ErrOutOfRange", size, err)
		}
	}
	for _, index := range []int{-1, 2} {
		if _, err := tr.LeafHash(index); !errors.Is(err, merkle.ErrOutOfRange) {
			t.Errorf("Tree.LeafHash(%d) = %v, want ErrOutOfRange", index, err)
		}
	}
	if h, err := tr.LeafHash(1); err != nil || h != some {
		t.Errorf("Tree.LeafHash(1) = %x, %v, want %x", h, err, some)
	}
	var zero merkle.Tree
	if r, err := zero.Root(0); err != nil || r != empty || zero.Size() != 0 {
		t.Errorf("zero Tree: Root(0) = %x, %v, Size() = %d", r, err, zero.Size())
	}
}

// TestTreeLarge compares Tree against the slice functions on a tree whose
// sizes are not small, at a spread of sizes.
func TestTreeLarge(t *testing.T) {
	const n = 5000
	leaves := make([][32]byte, n)
	var tr merkle.Tree
	for i := range leaves {
		leaves[i] = merkle.LeafHash(fmt.Appendf(nil, "%d", i))
		if got := tr.Append(leaves[i]); got != i {
			t.Fatalf("Append #%d returned index %d", i, got)
		}
	}
	sizes := []int{1, 2, 3, 1023, 1024, 1025, 2047, 2048, 2049, 3000, 4095, 4096, 4097, n - 1, n}
	roots := map[int][32]byte{}
	for _, s := range sizes {
		want := merkle.RootOfLeafHashes(leaves[:s])
		got, err := tr.Root(s)
		if err != nil || got != want {
			t.Fatalf("Tree.Root(%d) = %x, %v, want %x", s, got, err, want)
		}
		roots[s] = got
	}
	for _, m := range sizes {
		for _, s := range sizes {
			if m > s {
				continue
			}
			got, err := tr.ConsistencyProof(m, s)
			want, _ := merkle.ConsistencyProof(leaves, m, s)
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("Tree.ConsistencyProof(%d, %d) differs from ConsistencyProof", m, s)
			}
			if err := merkle.VerifyConsistency(m, s, roots[m], roots[s], got); err != nil {
				t.Fatalf("VerifyConsistency(%d, %d) = %v", m, s, err)
			}
			if m < s {
				got, _ := tr.InclusionProof(m, s)
				want, _ := merkle.InclusionProof(leaves, m, s)
				if !slices.Equal(got, want) {
					t.Fatalf("Tree.InclusionProof(%d, %d) differs from InclusionProof", m, s)
				}
				if err := merkle.VerifyInclusion(leaves[m], m, s, got, roots[s]); err != nil {
					t.Fatalf("VerifyInclusion(%d, %d) = %v", m, s, err)
				}
			}
		}
	}
}
