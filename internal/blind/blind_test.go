package blind

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/gtank/ristretto255"

	"github.com/cleanroom-dev/cleanroom"
)

// testKey returns a deterministic non-zero key for seed.
func testKey(t testing.TB, seed int) *ristretto255.Scalar {
	t.Helper()
	h := sha512.Sum512(fmt.Appendf(nil, "blind test key %d", seed))
	return ristretto255.NewScalar().FromUniformBytes(h[:])
}

// digests returns SHA-256 of the identifiers, as the input to Blind is.
func digests(ids ...string) [][32]byte {
	out := make([][32]byte, len(ids))
	for i, id := range ids {
		out[i] = sha256.Sum256([]byte(id))
	}
	return out
}

// phones returns n distinct identifiers.
func phones(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("+7912%s%06d", prefix, i)
	}
	return out
}

func mustBlind(t testing.TB, key *ristretto255.Scalar, room string, class cleanroom.IdentifierClass, d [][32]byte) []Token {
	t.Helper()
	out, err := Blind(key, room, class, d)
	if err != nil {
		t.Fatalf("Blind: %v", err)
	}
	return out
}

func mustReBlind(t testing.TB, key *ristretto255.Scalar, tokens []Token) []Token {
	t.Helper()
	out, err := ReBlind(key, tokens)
	if err != nil {
		t.Fatalf("ReBlind: %v", err)
	}
	return out
}

// Blind is hash, multiply and encode for each digest, in order, whatever
// the number of workers and chunks.
func TestBlindIsPrimitives(t *testing.T) {
	key := testKey(t, 1)
	d := digests(phones("0", 700)...)
	want := make([]Token, len(d))
	for i := range d {
		e := HashToGroup("r1", cleanroom.ClassPhone, d[i])
		e.ScalarMult(key, e)
		e.Encode(want[i][:0])
	}
	for _, workers := range []int{0, 1, 3, 64} {
		got, err := Blinder{Workers: workers}.Blind(context.Background(), key, "r1", cleanroom.ClassPhone, d)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("Blinder{Workers: %d}.Blind differs from the primitives applied in order", workers)
		}
	}
	if got := mustBlind(t, key, "r1", cleanroom.ClassPhone, nil); len(got) != 0 {
		t.Errorf("Blind(nil) = %d tokens, want 0", len(got))
	}
}

func TestCommutes(t *testing.T) {
	a, b := testKey(t, 1), testKey(t, 2)
	d := digests(phones("1", 40)...)
	ab := mustReBlind(t, b, mustBlind(t, a, "r1", cleanroom.ClassEmail, d))
	ba := mustReBlind(t, a, mustBlind(t, b, "r1", cleanroom.ClassEmail, d))
	if !slices.Equal(ab, ba) {
		t.Error("ReBlind_b(Blind_a(x)) != ReBlind_a(Blind_b(x))")
	}
}

func TestDomainSeparation(t *testing.T) {
	a := testKey(t, 1)
	d := digests(phones("2", 20)...)
	base := mustBlind(t, a, "r1", cleanroom.ClassPhone, d)
	others := map[string][]Token{
		"another room":  mustBlind(t, a, "r2", cleanroom.ClassPhone, d),
		"another class": mustBlind(t, a, "r1", cleanroom.ClassEmail, d),
		"another key":   mustBlind(t, testKey(t, 2), "r1", cleanroom.ClassPhone, d),
	}
	for name, other := range others {
		for i := range base {
			if slices.Contains(other, base[i]) {
				t.Errorf("%s: token %d also occurs under %s", name, i, name)
			}
		}
	}
	// The tag really is the room's and class's.
	if got, want := DST("r1", cleanroom.ClassDeviceID), "cleanroom-v1|r1|device_id"; got != want {
		t.Errorf("DST = %q, want %q", got, want)
	}
}

// Equal identifiers meet after double blinding, different ones do not.
func TestMatch(t *testing.T) {
	a, b := testKey(t, 1), testKey(t, 2)
	shared := phones("s", 30)
	onlyA, onlyB := phones("a", 25), phones("b", 35)
	idsA := append(slices.Clone(shared), onlyA...)
	idsB := append(slices.Clone(onlyB), shared...)

	// A blinds its set, B re-blinds it; and the other way round.
	aa := mustReBlind(t, b, mustBlind(t, a, "r1", cleanroom.ClassPhone, digests(idsA...)))
	bb := mustReBlind(t, a, mustBlind(t, b, "r1", cleanroom.ClassPhone, digests(idsB...)))

	index := map[Token]string{}
	for i, tok := range bb {
		index[tok] = idsB[i]
	}
	matched := 0
	for i, tok := range aa {
		got, ok := index[tok]
		switch {
		case ok && got != idsA[i]:
			t.Errorf("%s matched %s", idsA[i], got)
		case ok:
			matched++
		case i < len(shared):
			t.Errorf("%s is in both sets but did not match", idsA[i])
		}
	}
	if matched != len(shared) {
		t.Errorf("%d matches, want %d", matched, len(shared))
	}
}

func TestBlindRefuses(t *testing.T) {
	d := digests("x")
	tests := []struct {
		name  string
		key   *ristretto255.Scalar
		room  string
		class cleanroom.IdentifierClass
	}{
		{"nil key", nil, "r1", cleanroom.ClassPhone},
		{"zero key", ristretto255.NewScalar(), "r1", cleanroom.ClassPhone},
		{"bad room", testKey(t, 1), "R|1", cleanroom.ClassPhone},
		{"bad class", testKey(t, 1), "r1", "phone|x"},
	}
	for _, tt := range tests {
		if out, err := Blind(tt.key, tt.room, tt.class, d); err == nil || out != nil {
			t.Errorf("%s: Blind = %d tokens, %v; want an error", tt.name, len(out), err)
		}
	}
	if _, err := ReBlind(ristretto255.NewScalar(), nil); !errors.Is(err, ErrZeroKey) {
		t.Errorf("ReBlind(zero key) = %v, want ErrZeroKey", err)
	}
}

func TestReBlindRefuses(t *testing.T) {
	key := testKey(t, 1)
	good := mustBlind(t, key, "r1", cleanroom.ClassPhone, digests(phones("3", 600)...))
	with := func(edit func([]Token)) []Token {
		s := slices.Clone(good)
		edit(s)
		return s
	}
	nonCanonical := mustToken(t, badEncodings[0])
	tests := []struct {
		name   string
		tokens []Token
		index  int
		first  int
		want   error
	}{
		{"identity", with(func(s []Token) { s[5] = Token{} }), 5, 0, ErrIdentity},
		{"non-canonical", with(func(s []Token) { s[9] = nonCanonical }), 9, 0, ErrNonCanonical},
		{"duplicate", with(func(s []Token) { s[400] = s[17] }), 400, 17, ErrDuplicate},
		{"lowest duplicate of several", with(func(s []Token) { s[500] = s[3]; s[300] = s[250]; s[599] = s[3] }), 300, 250, ErrDuplicate},
		{"first of several bad tokens", with(func(s []Token) { s[550] = Token{}; s[520] = nonCanonical; s[290] = mustToken(t, badEncodings[7]) }), 290, 0, ErrNonCanonical},
	}
	for _, tt := range tests {
		for _, workers := range []int{1, 4} {
			out, err := Blinder{Workers: workers}.ReBlind(context.Background(), key, tt.tokens)
			var te *TokenError
			if out != nil || !errors.As(err, &te) || !errors.Is(err, tt.want) || te.Index != tt.index ||
				(tt.want == ErrDuplicate && te.First != tt.first) {
				t.Errorf("%s, %d workers: ReBlind = %d tokens, %v; want token %d: %v", tt.name, workers, len(out), err, tt.index, tt.want)
			}
		}
	}
	_, err := ReBlind(key, with(func(s []Token) { s[400] = s[17] }))
	if want := "re-blind: token 400: duplicate of token 17"; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

func TestBlinderProgress(t *testing.T) {
	var (
		mu    sync.Mutex
		calls []int
	)
	b := Blinder{Workers: 3, Progress: func(done, total int) {
		mu.Lock()
		defer mu.Unlock()
		if total != 1000 {
			t.Errorf("progress total = %d, want 1000", total)
		}
		calls = append(calls, done)
	}}
	if _, err := b.Blind(context.Background(), testKey(t, 1), "r1", cleanroom.ClassPhone, make([][32]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if len(calls) < 4 || !slices.IsSorted(calls) || calls[len(calls)-1] != 1000 {
		t.Errorf("progress calls = %v, want at least 4, increasing, ending at 1000", calls)
	}
}

func TestBlinderCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out, err := Blinder{}.Blind(ctx, testKey(t, 1), "r1", cleanroom.ClassPhone, make([][32]byte, 10))
	if !errors.Is(err, context.Canceled) || out != nil {
		t.Errorf("Blind(cancelled) = %d tokens, %v; want context.Canceled", len(out), err)
	}

	// Cancelled while running: stops after the chunk in progress.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	b := Blinder{Workers: 1, Progress: func(done, total int) { cancel() }}
	out, err = b.Blind(ctx, testKey(t, 1), "r1", cleanroom.ClassPhone, make([][32]byte, 3*chunkSize))
	if !errors.Is(err, context.Canceled) || out != nil {
		t.Errorf("Blind(cancelled after a chunk) = %d tokens, %v; want context.Canceled", len(out), err)
	}
}

// FuzzReBlind: any set of byte strings is either refused with a
// TokenError or re-blinded into as many canonical tokens, never a panic.
func FuzzReBlind(f *testing.F) {
	f.Add(make([]byte, 32))
	for _, s := range append(slices.Clone(smallMultiples[1:4]), badEncodings[:3]...) {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	key := testKey(f, 1)
	f.Fuzz(func(t *testing.T, b []byte) {
		tokens := make([]Token, len(b)/32)
		for i := range tokens {
			copy(tokens[i][:], b[32*i:])
		}
		out, err := ReBlind(key, tokens)
		var te *TokenError
		if err != nil {
			if !errors.As(err, &te) || out != nil {
				t.Fatalf("ReBlind = %d tokens, %v; want a *TokenError and none", len(out), err)
			}
			return
		}
		if len(out) != len(tokens) {
			t.Fatalf("ReBlind = %d tokens for %d", len(out), len(tokens))
		}
		var e ristretto255.Element
		for i := range out {
			if err := e.Decode(out[i][:]); err != nil {
				t.Fatalf("output token %d does not decode: %v", i, err)
			}
		}
	})
}
