package tabular

import (
	"math/rand/v2"
	"os"
	"runtime"
	"testing"
	"time"
)

func TestZZStress(t *testing.T) {
	big := []byte(testHeader + "\n")
	for i := 0; i < 3000; i++ {
		big = append(big, goodRows[i%4]...)
		big = append(big, '\n')
	}
	seeds := [][]byte{big, csvFile(goodRows...), []byte(testHeader + "\n" + `1,"a""b",basic,"x` + "\n"), []byte("phone,email\n\x00,\xff\n")}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{',', '"', '\n', '\r', 'a', '0', 0xef, 0xbb, 0xbf, 0xff, 0, ' '}
	for iter := 0; iter < 3000; iter++ {
		d := append([]byte(nil), seeds[rng.IntN(len(seeds))]...)
		for k := rng.IntN(200); k >= 0; k-- {
			switch rng.IntN(3) {
			case 0:
				if len(d) > 0 {
					i := rng.IntN(len(d))
					d[i] = alphabet[rng.IntN(len(alphabet))]
				}
			case 1:
				i := rng.IntN(len(d) + 1)
				d = append(d[:i], append([]byte{alphabet[rng.IntN(len(alphabet))]}, d[i:]...)...)
			case 2:
				if len(d) > 1 {
					i := rng.IntN(len(d))
					d = append(d[:i], d[i+1:]...)
				}
			}
		}
		limit := uint8(rng.IntN(256))
		done := make(chan bool)
		go func() {
			select {
			case <-done:
			case <-time.After(3 * time.Second):
				os.WriteFile("/tmp/hang.bin", d, 0o644)
				buf := make([]byte, 1<<20)
				n := runtime.Stack(buf, true)
				os.WriteFile("/tmp/hang.txt", buf[:n], 0o644)
				os.Exit(3)
			}
		}()
		fuzzBody(t, d, limit)
		close(done)
	}
}
