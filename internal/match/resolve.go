package match

import (
	"cmp"
	"fmt"
	"slices"
)

// MaxDatasets is the number of datasets Resolve can join.
const MaxDatasets = 64

// PairKey names a pair of datasets by their indexes, A < B.
type PairKey struct{ A, B int }

// Resolution assigns every local person of every dataset a room person.
type Resolution struct {
	// Person[d][p] is the room person of local person p of dataset d.
	Person [][]int32
	// People is the number of room people.
	People int
	// Conflicts counts pairwise matches refused because they would put two
	// people of one dataset into one room person.
	Conflicts int
}

// Resolve joins pairwise matches into room people: connected components,
// built from the strongest matches first (earlier waterfall steps), where
// no component holds two people of the same dataset. people[d] is the
// number of local people of dataset d.
func Resolve(people []int, pairs map[PairKey]*Pair) (*Resolution, error) {
	if len(people) > MaxDatasets {
		return nil, fmt.Errorf("match: %d datasets, at most %d can be joined", len(people), MaxDatasets)
	}
	offset := make([]int, len(people)+1)
	for d, n := range people {
		offset[d+1] = offset[d] + n
	}
	uf := newUnionFind(offset[len(people)])
	mask := make([]uint64, offset[len(people)])
	for d := range people {
		for p := offset[d]; p < offset[d+1]; p++ {
			mask[p] = 1 << d
		}
	}

	type edge struct {
		via    int8
		key    PairKey
		pa, pb int32
	}
	var edges []edge
	for key, pr := range pairs {
		if key.A >= key.B || key.B >= len(people) || len(pr.Matches) != people[key.A] {
			return nil, fmt.Errorf("match: pair %v does not fit %d datasets", key, len(people))
		}
		for pa, pb := range pr.Matches {
			if pb >= 0 {
				edges = append(edges, edge{pr.Via[pa], key, int32(pa), pb})
			}
		}
	}
	slices.SortFunc(edges, func(x, y edge) int {
		return cmp.Or(cmp.Compare(x.via, y.via), cmp.Compare(x.key.A, y.key.A), cmp.Compare(x.key.B, y.key.B),
			cmp.Compare(x.pa, y.pa))
	})
	res := &Resolution{}
	for _, e := range edges {
		u, v := uf.find(offset[e.key.A]+int(e.pa)), uf.find(offset[e.key.B]+int(e.pb))
		if u == v {
			continue
		}
		if mask[u]&mask[v] != 0 {
			res.Conflicts++
			continue
		}
		r := uf.union(u, v)
		mask[r] = mask[u] | mask[v]
	}
	ids := map[int]int32{}
	res.Person = make([][]int32, len(people))
	for d, n := range people {
		res.Person[d] = make([]int32, n)
		for p := range n {
			root := uf.find(offset[d] + p)
			id, ok := ids[root]
			if !ok {
				id = int32(len(ids))
				ids[root] = id
			}
			res.Person[d][p] = id
		}
	}
	res.People = len(ids)
	return res, nil
}

// unionFind is a disjoint-set forest with path halving and union by size.
type unionFind struct {
	parent []int
	size   []int
}

func newUnionFind(n int) *unionFind {
	u := &unionFind{parent: make([]int, n), size: make([]int, n)}
	for i := range u.parent {
		u.parent[i], u.size[i] = i, 1
	}
	return u
}

func (u *unionFind) find(x int) int {
	for u.parent[x] != x {
		u.parent[x] = u.parent[u.parent[x]]
		x = u.parent[x]
	}
	return x
}

// union joins the sets of x and y and returns the new root.
func (u *unionFind) union(x, y int) int {
	x, y = u.find(x), u.find(y)
	if x == y {
		return x
	}
	if u.size[x] < u.size[y] {
		x, y = y, x
	}
	u.parent[y] = x
	u.size[x] += u.size[y]
	return x
}

// Assignment is a run's room people as the room keeps them: for each
// dataset version, the room person (a room-internal pseudonym) of every
// row, -1 for a row with no usable identifier. It is stored encrypted and
// never released.
type Assignment struct {
	Run      string            `json:"run"`
	People   int               `json:"people"`
	Datasets []AssignedDataset `json:"datasets"`
}

// AssignedDataset is one dataset version's rows in an Assignment.
type AssignedDataset struct {
	Dataset string  `json:"dataset"`
	Version int     `json:"version"`
	Rows    []int32 `json:"rows"`
}

// Assign maps every row of each dataset to its room person.
func Assign(res *Resolution, locals []*Local) [][]int32 {
	out := make([][]int32, len(locals))
	for d, l := range locals {
		out[d] = make([]int32, len(l.Person))
		for row, p := range l.Person {
			if p < 0 {
				out[d][row] = -1
			} else {
				out[d][row] = res.Person[d][p]
			}
		}
	}
	return out
}
