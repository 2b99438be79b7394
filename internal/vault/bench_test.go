package vault

import (
	"bytes"
	"context"
	"io"
	"testing"
)

const benchSize = 16 << 20

// BenchmarkStream measures the chunked AES-256-GCM alone, in memory.
func BenchmarkStream(b *testing.B) {
	key := randomBytes(32, 1)
	aad := chunkAAD("bench", 1)
	data := randomBytes(benchSize, 2)
	b.Run("encrypt", func(b *testing.B) {
		b.SetBytes(benchSize)
		for b.Loop() {
			e := newEncryptor(io.Discard, newGCM(key), aad)
			if _, err := e.Write(data); err != nil {
				b.Fatal(err)
			}
			if err := e.close(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decrypt", func(b *testing.B) {
		ct := sealAll(b, key, aad, data)
		buf := make([]byte, 32<<10)
		b.SetBytes(benchSize)
		for b.Loop() {
			d := newDecryptor(bytes.NewReader(ct), newGCM(key), aad)
			if _, err := io.CopyBuffer(io.Discard, d, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkStore measures a whole version through the file system,
// including key unwrapping, fsync and rename.
func BenchmarkStore(b *testing.B) {
	s, _ := newStore(b)
	createDataset(b, s, "bench")
	data := randomBytes(benchSize, 2)
	ctx := context.Background()
	v := 0
	b.Run("write", func(b *testing.B) {
		b.SetBytes(benchSize)
		for b.Loop() {
			v++
			w, err := s.NewVersion(ctx, "bench", v)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := w.Write(data); err != nil {
				b.Fatal(err)
			}
			if err := w.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	})
	if v == 0 {
		writeVersion(b, s, "bench", 1, data)
		v = 1
	}
	b.Run("read", func(b *testing.B) {
		buf := make([]byte, 32<<10)
		b.SetBytes(benchSize)
		for b.Loop() {
			r, err := s.OpenVersion(ctx, "bench", v)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.CopyBuffer(io.Discard, r, buf); err != nil {
				b.Fatal(err)
			}
			r.Close()
		}
	})
}
