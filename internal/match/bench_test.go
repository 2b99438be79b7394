package match_test

import (
	"crypto/sha256"
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/gtank/ristretto255"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/blind"
	"github.com/cleanroom-dev/cleanroom/internal/match"
)

// digests returns n identifier digests starting at from: two ranges that
// overlap share identifiers.
func digests(from, n int) [][32]byte {
	out := make([][32]byte, n)
	for i := range out {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(from+i))
		out[i] = sha256.Sum256(b[:])
	}
	return out
}

func scalar(seed byte) *ristretto255.Scalar {
	wide := sha256.Sum256([]byte{seed})
	var w [64]byte
	copy(w[:], wide[:])
	s := ristretto255.NewScalar()
	s.FromUniformBytes(w[:])
	return s
}

// BenchmarkMatch100k measures a full two-party match of 100,000 × 100,000
// phone identifiers, half of them shared: both parties blind, each agent
// re-blinds the other's set, the room clusters local people and runs the
// waterfall. BenchmarkBarePSI100k is a bare two-party ECDH-PSI of the same
// sets with the same primitives (blind, re-blind, intersect a hash set),
// the baseline the match is compared with.
func BenchmarkMatch100k(b *testing.B) {
	const n = 100_000
	da, db := digests(0, n), digests(n/2, n)
	ka, kb := scalar(1), scalar(2)
	for b.Loop() {
		ta, err := blind.Blind(ka, "r", cleanroom.ClassPhone, da)
		if err != nil {
			b.Fatal(err)
		}
		tb, _ := blind.Blind(kb, "r", cleanroom.ClassPhone, db)
		ab, _ := blind.ReBlind(kb, ta)
		ba, _ := blind.ReBlind(ka, tb)
		sa := benchSide(b, ta, ab)
		sb := benchSide(b, tb, ba)
		p := match.MatchPair(sa, sb)
		if p.Steps[0].Added != n/2 {
			b.Fatalf("matched %d, want %d", p.Steps[0].Added, n/2)
		}
	}
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "cores")
}

func benchSide(b *testing.B, own, cmp []blind.Token) *match.Side {
	col := match.Column{Class: cleanroom.ClassPhone, Priority: 1, Tokens: make([]*match.Token, len(own))}
	m := make(map[match.Token]match.Token, len(own))
	for i := range own {
		t := match.Token(own[i])
		col.Tokens[i] = &t
		m[t] = match.Token(cmp[i])
	}
	l, err := match.People(&match.Dataset{Name: "d", Rows: len(own), Columns: []match.Column{col}}, match.JunkLimit)
	if err != nil {
		b.Fatal(err)
	}
	return &match.Side{Local: l, Comparable: map[cleanroom.IdentifierClass]map[match.Token]match.Token{cleanroom.ClassPhone: m},
		Priority: map[cleanroom.IdentifierClass]int{cleanroom.ClassPhone: 1}}
}

func BenchmarkBarePSI100k(b *testing.B) {
	const n = 100_000
	da, db := digests(0, n), digests(n/2, n)
	ka, kb := scalar(1), scalar(2)
	for b.Loop() {
		ta, _ := blind.Blind(ka, "r", cleanroom.ClassPhone, da)
		tb, _ := blind.Blind(kb, "r", cleanroom.ClassPhone, db)
		ab, _ := blind.ReBlind(kb, ta)
		ba, _ := blind.ReBlind(ka, tb)
		set := make(map[blind.Token]struct{}, len(ab))
		for _, t := range ab {
			set[t] = struct{}{}
		}
		found := 0
		for _, t := range ba {
			if _, ok := set[t]; ok {
				found++
			}
		}
		if found != n/2 {
			b.Fatalf("intersection %d, want %d", found, n/2)
		}
	}
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "cores")
}
