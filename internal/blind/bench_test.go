package blind

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"

	"github.com/gtank/ristretto255"

	"github.com/cleanroom-dev/cleanroom"
)

// benchBatch is the number of digests a Blind benchmark operation blinds.
const benchBatch = 4096

func benchDigests() [][32]byte {
	d := make([][32]byte, benchBatch)
	var b [8]byte
	for i := range d {
		binary.BigEndian.PutUint64(b[:], uint64(i))
		d[i] = sha256.Sum256(b[:])
	}
	return d
}

// BenchmarkPrimitives is the rate Blind is measured against: hash-to-group,
// scalar multiplication and encoding of one token after another on one
// goroutine, with the tag prepared once, as a Blind worker has it.
func BenchmarkPrimitives(b *testing.B) {
	key := testKey(b, 1)
	d := benchDigests()
	h := newHasher([]byte(DST("r1", cleanroom.ClassPhone)))
	var (
		e   ristretto255.Element
		tok Token
	)
	n := 0
	for b.Loop() {
		h.element(&e, d[n%len(d)][:])
		e.ScalarMult(key, &e)
		e.Encode(tok[:0])
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkBlind runs Blind on GOMAXPROCS = workers = cores, benchBatch
// tokens per operation, and reports tokens/s in total and per core.
func BenchmarkBlind(b *testing.B) {
	key := testKey(b, 1)
	d := benchDigests()
	for _, cores := range []int{1, 2} {
		b.Run(fmt.Sprintf("cores=%d", cores), func(b *testing.B) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(cores))
			bl := Blinder{Workers: cores}
			n := 0
			for b.Loop() {
				if _, err := bl.Blind(context.Background(), key, "r1", cleanroom.ClassPhone, d); err != nil {
					b.Fatal(err)
				}
				n += len(d)
			}
			rate := float64(n) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "tokens/s")
			b.ReportMetric(rate/float64(cores), "tokens/s/core")
		})
	}
}

// BenchmarkReBlind is the agent's side: decode, check, multiply, encode.
func BenchmarkReBlind(b *testing.B) {
	key := testKey(b, 1)
	toks, err := Blind(testKey(b, 2), "r1", cleanroom.ClassPhone, benchDigests())
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for b.Loop() {
		if _, err := ReBlind(key, toks); err != nil {
			b.Fatal(err)
		}
		n += len(toks)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "tokens/s")
}
