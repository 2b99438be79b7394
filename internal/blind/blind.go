package blind

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gtank/ristretto255"

	"github.com/cleanroom-dev/cleanroom"
)

// Token is a blinded identifier: the canonical 32-byte encoding of a
// ristretto255 element (RFC 9496, section 4.3.2). Tokens are comparable and
// serve as map keys; internal/match's Token is the same type of array.
type Token [32]byte

// Blind blinds the digests with key for one room and identifier class:
// token i is the encoding of key·HashToGroup(room, class, digests[i]). It
// runs on runtime.GOMAXPROCS(0) goroutines; see Blinder for progress and
// cancellation. It returns an error only for a zero key, an invalid room
// name or an unknown class.
func Blind(key *ristretto255.Scalar, room string, class cleanroom.IdentifierClass, digests [][32]byte) ([]Token, error) {
	return Blinder{}.Blind(context.Background(), key, room, class, digests)
}

// ReBlind blinds already blinded tokens once more with key, the second
// blinding of the protocol: token i of the result is key·tokens[i]. It
// refuses the whole set, returning a *TokenError and no tokens, if any
// token is not a canonical encoding, is the identity element, or repeats
// an earlier token. An agent re-blinds a peer's set only through
// Guard.ReBlind, which adds the manifest checks; ReBlind itself is the
// arithmetic.
func ReBlind(key *ristretto255.Scalar, tokens []Token) ([]Token, error) {
	return Blinder{}.ReBlind(context.Background(), key, tokens)
}

// Errors a TokenError wraps, naming why a token was refused.
var (
	ErrNonCanonical = errors.New("not a canonical ristretto255 encoding")
	ErrIdentity     = errors.New("the identity element")
	ErrDuplicate    = errors.New("duplicate")
)

// ErrZeroKey is returned by Blind and ReBlind for a nil or zero key, which
// would map every identifier to the identity element.
var ErrZeroKey = errors.New("blinding key is zero")

// TokenError says which token of a set was refused and why. Err is
// ErrNonCanonical, ErrIdentity or ErrDuplicate. It never shows the token.
type TokenError struct {
	Index int // position of the refused token in the set
	// First is, for ErrDuplicate, the position of the earlier equal token.
	First int
	Err   error
}

func (e *TokenError) Error() string {
	if errors.Is(e.Err, ErrDuplicate) {
		return fmt.Sprintf("token %d: duplicate of token %d", e.Index, e.First)
	}
	return fmt.Sprintf("token %d: %v", e.Index, e.Err)
}

func (e *TokenError) Unwrap() error { return e.Err }

// Blinder runs Blind and ReBlind on several goroutines with cancellation
// and progress reports. The zero Blinder uses every core and reports
// nothing. A Blinder is a value; its methods are safe for concurrent use if
// Progress is.
type Blinder struct {
	// Workers is the number of goroutines. Optional: zero means
	// runtime.GOMAXPROCS(0); negative values are treated as zero.
	Workers int
	// Progress, if not nil, is called each time a chunk of tokens is done,
	// with the number done so far and the total. Calls come from the
	// worker goroutines but never overlap, done grows with each call, and
	// the last call of a successful run has done == total. Workers finishing
	// a chunk wait for it, so it should return quickly. Optional.
	Progress func(done, total int)
}

// chunkSize is the most tokens a worker takes at once. A chunk is a few
// tens of milliseconds of work: cancellation and progress are that
// responsive, and the shared counter is touched rarely.
const chunkSize = 256

// Blind is the package function Blind with ctx and b's options. If ctx is
// cancelled it stops within one chunk per worker and returns ctx.Err() and
// no tokens.
func (b Blinder) Blind(ctx context.Context, key *ristretto255.Scalar, room string, class cleanroom.IdentifierClass, digests [][32]byte) ([]Token, error) {
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("blind: %w", err)
	}
	if err := cleanroom.ValidateName("room name", room); err != nil {
		return nil, fmt.Errorf("blind: %w", err)
	}
	if err := class.Validate(); err != nil {
		return nil, fmt.Errorf("blind: %w", err)
	}
	h := newHasher([]byte(DST(room, class)))
	out := make([]Token, len(digests))
	err := b.run(ctx, len(digests), func(lo, hi int) error {
		var e ristretto255.Element // on this worker's stack
		for i := lo; i < hi; i++ {
			h.element(&e, digests[i][:])
			e.ScalarMult(key, &e)
			e.Encode(out[i][:0])
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("blind: %w", err)
	}
	return out, nil
}

// ReBlind is the package function ReBlind with ctx and b's options.
func (b Blinder) ReBlind(ctx context.Context, key *ristretto255.Scalar, tokens []Token) ([]Token, error) {
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("re-blind: %w", err)
	}
	if err := checkDuplicates(tokens); err != nil {
		return nil, fmt.Errorf("re-blind: %w", err)
	}
	out := make([]Token, len(tokens))
	identity := ristretto255.NewElement()
	err := b.run(ctx, len(tokens), func(lo, hi int) error {
		var e ristretto255.Element // on this worker's stack
		for i := lo; i < hi; i++ {
			if tokens[i] == (Token{}) {
				return &TokenError{Index: i, Err: ErrIdentity}
			}
			if err := e.Decode(tokens[i][:]); err != nil {
				return &TokenError{Index: i, Err: ErrNonCanonical}
			}
			// The identity's only canonical encoding is all zeros, tested
			// above; this keeps the rule independent of that fact.
			if e.Equal(identity) == 1 {
				return &TokenError{Index: i, Err: ErrIdentity}
			}
			e.ScalarMult(key, &e)
			e.Encode(out[i][:0])
		}
		return nil
	})
	if err != nil {
		clear(out)
		return nil, fmt.Errorf("re-blind: %w", err)
	}
	return out, nil
}

func checkKey(key *ristretto255.Scalar) error {
	if key == nil || key.Equal(ristretto255.NewScalar()) == 1 {
		return ErrZeroKey
	}
	return nil
}

// checkDuplicates returns a *TokenError for the first token (in set order)
// that equals an earlier one.
func checkDuplicates(tokens []Token) error {
	idx := make([]int32, len(tokens))
	for i := range idx {
		idx[i] = int32(i)
	}
	// Stable, so equal tokens stay in set order.
	slices.SortStableFunc(idx, func(a, b int32) int { return bytes.Compare(tokens[a][:], tokens[b][:]) })
	var found *TokenError
	for k := 1; k < len(idx); k++ {
		// The second token of a run of equal ones has the lowest position
		// of the run's duplicates; runs are compared by that position.
		t := tokens[idx[k]]
		if t == tokens[idx[k-1]] && (k == 1 || tokens[idx[k-2]] != t) {
			dup := int(idx[k])
			if found == nil || dup < found.Index {
				found = &TokenError{Index: dup, First: int(idx[k-1]), Err: ErrDuplicate}
			}
		}
	}
	if found != nil {
		return found
	}
	return nil
}

// run splits n items into chunks and has up to b.Workers goroutines call
// process on them, in increasing chunk order. process keeps its scratch
// state on its own stack: with per-worker heap objects, allocated one
// after the other and most likely sharing cache lines, two workers ran a
// third slower per core than the bare primitives (BENCHMARKS.md). The
// first error stops the workers from taking new
// chunks; run returns the error of the lowest chunk that failed, which,
// since every chunk below it was taken earlier and runs to its end, is the
// first failing item of the whole range (unless ctx is cancelled
// meanwhile). Without a failing item it returns ctx.Err() if ctx was
// cancelled before every chunk was done. All goroutines have ended when
// run returns.
func (b Blinder) run(ctx context.Context, n int, process func(lo, hi int) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if n == 0 {
		if b.Progress != nil {
			b.Progress(0, 0)
		}
		return nil
	}
	workers := b.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	size := min(chunkSize, (n+workers-1)/workers)
	chunks := (n + size - 1) / size
	workers = min(workers, chunks)

	var (
		next     atomic.Int64 // next chunk to take
		stop     atomic.Bool
		mu       sync.Mutex // guards done, failed, errChunk and Progress calls
		done     int
		failed   error
		errChunk = chunks
	)
	work := func() {
		for !stop.Load() {
			c := int(next.Add(1) - 1)
			if c >= chunks {
				return
			}
			if ctx.Err() != nil {
				stop.Store(true)
				return
			}
			lo, hi := c*size, min((c+1)*size, n)
			err := process(lo, hi)
			mu.Lock()
			if err != nil {
				stop.Store(true)
				if c < errChunk {
					failed, errChunk = err, c
				}
			} else if failed == nil {
				done += hi - lo
				if b.Progress != nil {
					b.Progress(done, n)
				}
			}
			mu.Unlock()
		}
	}
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
	if failed != nil {
		return failed
	}
	if done < n {
		return ctx.Err()
	}
	return nil
}
