package match

import (
	"crypto/sha256"
	"testing"

	"github.com/cleanroom-dev/cleanroom"
)

const (
	phone = cleanroom.ClassPhone
	email = cleanroom.ClassEmail
)

// tok stands in for a blinding: a token of id under key.
func tok(key, id string) *Token {
	if id == "" {
		return nil
	}
	t := Token(sha256.Sum256([]byte(key + "|" + id)))
	return &t
}

// dataset builds a dataset whose rows carry the given phone and email
// identifiers ("" for missing), blinded under the dataset's own key.
func dataset(name string, rows [][2]string) *Dataset {
	d := &Dataset{Name: name, Rows: len(rows)}
	ph := Column{Class: phone, Priority: 1}
	em := Column{Class: email, Priority: 2}
	for _, r := range rows {
		ph.Tokens = append(ph.Tokens, tok(name, "p:"+r[0]))
		em.Tokens = append(em.Tokens, tok(name, "e:"+r[1]))
		if r[0] == "" {
			ph.Tokens[len(ph.Tokens)-1] = nil
		}
		if r[1] == "" {
			em.Tokens[len(em.Tokens)-1] = nil
		}
	}
	d.Columns = []Column{ph, em}
	return d
}

// side re-blinds a dataset's tokens for the pair (a, b): the comparable
// token of an identifier is the same on both sides.
func side(t *testing.T, name, pair string, rows [][2]string) *Side {
	t.Helper()
	d := dataset(name, rows)
	l, err := People(d, 3)
	if err != nil {
		t.Fatal(err)
	}
	s := &Side{Local: l, Comparable: map[cleanroom.IdentifierClass]map[Token]Token{}, Priority: map[cleanroom.IdentifierClass]int{phone: 1, email: 2}}
	for _, class := range []cleanroom.IdentifierClass{phone, email} {
		s.Comparable[class] = map[Token]Token{}
	}
	for _, r := range rows {
		if r[0] != "" {
			s.Comparable[phone][*tok(name, "p:"+r[0])] = *tok(pair, "p:"+r[0])
		}
		if r[1] != "" {
			s.Comparable[email][*tok(name, "e:"+r[1])] = *tok(pair, "e:"+r[1])
		}
	}
	return s
}

func TestPeople(t *testing.T) {
	d := dataset("a", [][2]string{
		{"1", "x"},   // person 0
		{"1", "y"},   // same phone: person 0
		{"2", "y"},   // same email as row 1: person 0
		{"3", ""},    // person 1
		{"", ""},     // no identifier
		{"junk", ""}, // junk phone: on 4 rows > limit 3
		{"junk", "z"},
		{"junk", ""},
		{"junk", ""},
	})
	l, err := People(d, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []int32{0, 0, 0, 1, -1, -1, 2, -1, -1}
	for i, p := range l.Person {
		if p != want[i] {
			t.Errorf("People: row %d is person %d, want %d", i, p, want[i])
		}
	}
	if l.People != 3 {
		t.Errorf("People = %d people, want 3", l.People)
	}
	if js := l.Junk[phone]; js.Values != 1 || js.Rows != 4 {
		t.Errorf("junk phones = %+v, want 1 value on 4 rows", js)
	}
}

func TestMatchPairWaterfall(t *testing.T) {
	a := side(t, "a", "ab", [][2]string{
		{"1", "x"}, // 0: matches b0 by phone, email agrees
		{"2", "y"}, // 1: phone unknown to b, matches b1 by email
		{"3", "q"}, // 2: phone matches b2, email matches b3: conflict in step 2
		{"4", ""},  // 3: no match
	})
	b := side(t, "b", "ab", [][2]string{
		{"1", "x"},
		{"9", "y"},
		{"3", "w"},
		{"8", "q"},
	})
	p := MatchPair(a, b)
	want := []int32{0, 1, 2, -1}
	for i, m := range p.Matches {
		if m != want[i] {
			t.Errorf("MatchPair: a%d matched b%d, want b%d", i, m, want[i])
		}
	}
	if len(p.Steps) != 2 || p.Steps[0].Class != phone || p.Steps[1].Class != email {
		t.Fatalf("steps = %+v, want phone then email", p.Steps)
	}
	if s := p.Steps[0]; s.Shared != 2 || s.Added != 2 || s.Conflicts != 0 {
		t.Errorf("phone step = %+v, want shared 2, added 2", s)
	}
	if s := p.Steps[1]; s.Shared != 3 || s.Added != 1 || s.Conflicts != 1 {
		t.Errorf("email step = %+v, want shared 3, added 1, conflicts 1", s)
	}
}

func TestMatchPairAmbiguous(t *testing.T) {
	// One person of A (two rows sharing a phone) with two emails, each
	// matching a different person of B: ambiguous, never matched.
	a := side(t, "a", "ab", [][2]string{{"1", "x"}, {"1", "y"}})
	b := side(t, "b", "ab", [][2]string{{"8", "x"}, {"9", "y"}})
	p := MatchPair(a, b)
	if p.Matches[0] != -1 || p.Steps[1].Conflicts != 1 {
		t.Errorf("ambiguous match: matches %v, steps %+v; want no match and one conflict", p.Matches, p.Steps)
	}
}

func TestResolveThreeParties(t *testing.T) {
	rowsA := [][2]string{{"1", "x"}, {"2", "y"}, {"3", "z"}}
	rowsB := [][2]string{{"1", "x"}, {"2", ""}, {"7", "k"}}
	rowsC := [][2]string{{"", "x"}, {"7", "k"}, {"3", ""}}
	ab := MatchPair(side(t, "a", "ab", rowsA), side(t, "b", "ab", rowsB))
	ac := MatchPair(side(t, "a", "ac", rowsA), side(t, "c", "ac", rowsC))
	bc := MatchPair(side(t, "b", "bc", rowsB), side(t, "c", "bc", rowsC))
	res, err := Resolve([]int{3, 3, 3}, map[PairKey]*Pair{{0, 1}: ab, {0, 2}: ac, {1, 2}: bc})
	if err != nil {
		t.Fatal(err)
	}
	same := func(d1 int, p1 int32, d2 int, p2 int32) bool { return res.Person[d1][p1] == res.Person[d2][p2] }
	if !same(0, 0, 1, 0) || !same(0, 0, 2, 0) {
		t.Error("a0, b0 and c0 (phone 1 / email x) are not one room person")
	}
	if !same(0, 1, 1, 1) || !same(0, 2, 2, 2) || !same(1, 2, 2, 1) {
		t.Error("pairwise matches a1-b1, a2-c2, b2-c1 are not joined")
	}
	if same(0, 1, 0, 2) {
		t.Error("two people of dataset a were joined")
	}
	if res.People != 4 || res.Conflicts != 0 {
		t.Errorf("Resolve: %d people, %d conflicts; want 4 and 0", res.People, res.Conflicts)
	}
}

func TestResolveRefusesTwoPeopleOfOneDataset(t *testing.T) {
	// a0-b0 and b0-c0 and c0-a1: joining all would put a0 and a1 together.
	ab := &Pair{Matches: []int32{0, -1}, Via: []int8{0, 0}}
	bc := &Pair{Matches: []int32{0}, Via: []int8{0}}
	ac := &Pair{Matches: []int32{-1, 0}, Via: []int8{0, 1}}
	res, err := Resolve([]int{2, 1, 1}, map[PairKey]*Pair{{0, 1}: ab, {1, 2}: bc, {0, 2}: ac})
	if err != nil {
		t.Fatal(err)
	}
	if res.Conflicts != 1 || res.Person[0][0] == res.Person[0][1] {
		t.Errorf("Resolve: conflicts %d, a0 and a1 joined %v; want 1 conflict, not joined", res.Conflicts, res.Person[0][0] == res.Person[0][1])
	}
	if res.Person[0][0] != res.Person[1][0] || res.Person[1][0] != res.Person[2][0] {
		t.Error("the stronger matches a0-b0-c0 were not kept")
	}
}
