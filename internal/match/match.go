// Package match resolves people across the datasets of a room from blinded
// identifier tokens.
//
// It works on tokens the room can compare: for a pair of providers A and B,
// A's tokens re-blinded by B's agent and B's tokens re-blinded by A's agent
// (H(x)^(a·b) on both sides, equal exactly when the identifiers are). The
// package never sees an identifier.
//
// Resolution has three steps:
//
//  1. Local people. Within one dataset, rows that share any token are one
//     person (the privacy unit), found with union-find. A token that occurs
//     on more than JunkLimit rows ("n/a", a shop's own phone number) is
//     dropped as junk before that, so it neither links rows nor matches.
//  2. Pairwise waterfall. For each pair of datasets, identifier classes are
//     tried in priority order; in each step a person of A matches a person
//     of B when they share a token of that class and neither has another
//     candidate in the step and neither is already matched in the pair.
//     Ambiguous candidates and later disagreements are counted as
//     conflicts, never matched.
//  3. Room people. Pairwise matches are joined into connected components,
//     strongest first, refusing any edge that would put two people of the
//     same dataset into one component (counted as a conflict). Each
//     component gets a room-internal pseudonym.
//
// Everything is deterministic for the same input.
package match

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"

	"github.com/cleanroom-dev/cleanroom"
)

// Token is a 32-byte blinded identifier.
type Token [32]byte

// JunkLimit is the default number of rows above which an identifier is
// dropped as junk.
const JunkLimit = 50

// Column is one identifier column of a dataset: the token of each row
// (nil for a missing or invalid value) under one blinding.
type Column struct {
	Class cleanroom.IdentifierClass
	// Priority orders the waterfall: lower is tried first.
	Priority int
	Tokens   []*Token
}

// Dataset is one provider dataset's identifier columns, all with one token
// per row.
type Dataset struct {
	Name    string
	Rows    int
	Columns []Column
}

// Validate checks that every column has one entry per row and that no
// class appears twice.
func (d *Dataset) Validate() error {
	seen := map[cleanroom.IdentifierClass]bool{}
	for _, c := range d.Columns {
		if len(c.Tokens) != d.Rows {
			return fmt.Errorf("match: dataset %s: column %s has %d tokens for %d rows", d.Name, c.Class, len(c.Tokens), d.Rows)
		}
		if seen[c.Class] {
			return fmt.Errorf("match: dataset %s: class %s appears twice", d.Name, c.Class)
		}
		seen[c.Class] = true
	}
	return nil
}

// Local is a dataset's people: Person[i] is the local person of row i, or
// -1 for a row with no usable token.
type Local struct {
	Person  []int32
	People  int
	Junk    map[cleanroom.IdentifierClass]JunkStats
	columns map[cleanroom.IdentifierClass]map[Token]int32 // token → person
}

// JunkStats counts what the junk rule dropped in one column.
type JunkStats struct {
	Values int `json:"values"` // distinct tokens dropped
	Rows   int `json:"rows"`   // rows that carried them
}

// People clusters a dataset's rows into local people. Tokens on more than
// junkLimit rows are dropped first.
func People(d *Dataset, junkLimit int) (*Local, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if junkLimit <= 0 {
		junkLimit = JunkLimit
	}
	uf := newUnionFind(d.Rows)
	usable := make([]bool, d.Rows)
	l := &Local{Junk: map[cleanroom.IdentifierClass]JunkStats{}, columns: map[cleanroom.IdentifierClass]map[Token]int32{}}
	keep := make([]map[Token]bool, len(d.Columns))
	for ci, c := range d.Columns {
		counts := map[Token]int{}
		for _, t := range c.Tokens {
			if t != nil {
				counts[*t]++
			}
		}
		keep[ci] = map[Token]bool{}
		var js JunkStats
		for t, n := range counts {
			if n > junkLimit {
				js.Values++
				js.Rows += n
				continue
			}
			keep[ci][t] = true
		}
		l.Junk[c.Class] = js
		first := map[Token]int{}
		for row, t := range c.Tokens {
			if t == nil || !keep[ci][*t] {
				continue
			}
			usable[row] = true
			if f, ok := first[*t]; ok {
				uf.union(f, row)
			} else {
				first[*t] = row
			}
		}
	}
	l.Person = make([]int32, d.Rows)
	ids := map[int]int32{}
	for row := range d.Rows {
		if !usable[row] {
			l.Person[row] = -1
			continue
		}
		root := uf.find(row)
		id, ok := ids[root]
		if !ok {
			id = int32(len(ids))
			ids[root] = id
		}
		l.Person[row] = id
	}
	l.People = len(ids)
	for ci, c := range d.Columns {
		m := map[Token]int32{}
		for row, t := range c.Tokens {
			if t != nil && keep[ci][*t] {
				m[*t] = l.Person[row]
			}
		}
		l.columns[c.Class] = m
	}
	return l, nil
}

// Side is one dataset of a pair, with its tokens re-blinded for the pair:
// Tokens maps a class to the pair-comparable token of each of the
// dataset's distinct tokens in that class (its local token → comparable).
type Side struct {
	Local *Local
	// Comparable maps, per class, the dataset's own token to the token
	// blinded under both parties' keys.
	Comparable map[cleanroom.IdentifierClass]map[Token]Token
	// Priority per class; lower is tried first.
	Priority map[cleanroom.IdentifierClass]int
}

// Step is what one class of the waterfall did for a pair.
type Step struct {
	Class cleanroom.IdentifierClass `json:"class"`
	// Shared is the number of distinct comparable tokens both sides hold.
	Shared int `json:"shared"`
	// Added is the number of person pairs this step matched.
	Added int `json:"added"`
	// Conflicts counts people with more than one candidate in this step,
	// and already-matched pairs this class contradicts.
	Conflicts int `json:"conflicts"`
}

// Pair is the pairwise match of two datasets: Matches[i] is the person of
// B matched to person i of A, or -1.
type Pair struct {
	Matches []int32
	// Via[i] is the index in Steps of the step that matched person i of A.
	Via   []int8
	Steps []Step
}

// MatchPair runs the waterfall for two datasets.
func MatchPair(a, b *Side) *Pair {
	classes := sharedClasses(a, b)
	p := &Pair{Matches: filled(a.Local.People, -1), Via: make([]int8, a.Local.People)}
	back := filled(b.Local.People, -1)
	for _, class := range classes {
		st := Step{Class: class}
		// Comparable token → person on each side.
		bBy := map[Token]int32{}
		for own, cmpTok := range b.Comparable[class] {
			if person, ok := b.Local.columns[class][own]; ok {
				bBy[cmpTok] = person
			}
		}
		candA := map[int32][]int32{}
		candB := map[int32][]int32{}
		ownTokens := sortedTokens(a.Comparable[class])
		for _, own := range ownTokens {
			cmpTok := a.Comparable[class][own]
			pa, ok := a.Local.columns[class][own]
			if !ok {
				continue
			}
			pb, ok := bBy[cmpTok]
			if !ok {
				continue
			}
			st.Shared++
			candA[pa] = appendUnique(candA[pa], pb)
			candB[pb] = appendUnique(candB[pb], pa)
		}
		for _, pa := range sortedKeys(candA) {
			bs := candA[pa]
			if len(bs) != 1 || len(candB[bs[0]]) != 1 {
				st.Conflicts++
				continue
			}
			pb := bs[0]
			switch {
			case p.Matches[pa] == pb:
				// Already matched by a stronger class; this one agrees.
			case p.Matches[pa] >= 0 || back[pb] >= 0:
				st.Conflicts++
			default:
				p.Matches[pa], back[pb] = pb, pa
				p.Via[pa] = int8(len(p.Steps))
				st.Added++
			}
		}
		p.Steps = append(p.Steps, st)
	}
	return p
}

func sharedClasses(a, b *Side) []cleanroom.IdentifierClass {
	var out []cleanroom.IdentifierClass
	for c := range a.Comparable {
		if _, ok := b.Comparable[c]; ok {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(x, y cleanroom.IdentifierClass) int {
		px, py := a.Priority[x]+b.Priority[x], a.Priority[y]+b.Priority[y]
		if px != py {
			return cmp.Compare(px, py)
		}
		return cmp.Compare(slices.Index(cleanroom.IdentifierClasses, x), slices.Index(cleanroom.IdentifierClasses, y))
	})
	return out
}

func filled(n int, v int32) []int32 {
	s := make([]int32, n)
	for i := range s {
		s[i] = v
	}
	return s
}

func appendUnique(s []int32, v int32) []int32 {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

func sortedKeys(m map[int32][]int32) []int32 {
	keys := make([]int32, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sortedTokens(m map[Token]Token) []Token {
	keys := make([]Token, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y Token) int { return bytes.Compare(x[:], y[:]) })
	return keys
}
