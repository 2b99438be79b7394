package httpapi

import (
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkOnlineScore measures one applicant's score as the bank sees it,
// over TLS on loopback: blinding the identifier and signing the request
// manifest on the bank's side, the room's checks and audit entry, the
// operator's agent taking the request by long poll and re-blinding it
// under its Guard, the lookup and the score. Half the applicants are
// subscribers. It reports the latency's median and 99th percentile, and
// the first request's (which builds the model's index of 20,000
// subscribers), serially and with 8 requests at a time.
//
//	go test -run '^$' -bench OnlineScore -benchtime 2000x ./internal/httpapi/
func BenchmarkOnlineScore(b *testing.B) {
	f := newFixture(b)
	const people = 20000
	r := scoringRoomOn(f, people, scoringYAML(1_000_000, ""), true)
	srv := httptest.NewTLSServer(f.srv.Handler())
	defer srv.Close()
	f.http = srv
	model := r.runModel()
	var answered atomic.Int64
	r.serveOperator(&answered)
	start := time.Now()
	if status, _, resp := r.score("analyst", r.scoreRequest(model, 1, "100", time.Now())); status != 200 {
		b.Fatalf("score = %d %s", status, resp)
	}
	cold := time.Since(start)

	for _, workers := range []int{1, 8} {
		b.Run(map[int]string{1: "serial", 8: "8-at-a-time"}[workers], func(b *testing.B) {
			var mu sync.Mutex
			var lat []time.Duration
			var next atomic.Int64
			b.ResetTimer()
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for {
						i := int(next.Add(1)) - 1
						if i >= b.N {
							return
						}
						// Even: a subscriber; odd: someone else.
						person := i % people
						if i%2 == 1 {
							person = 10_000_000 + i
						}
						t0 := time.Now()
						status, _, resp := r.score("analyst", r.scoreRequest(model, person, "100", time.Now()))
						d := time.Since(t0)
						if status != 200 {
							b.Errorf("score = %d %s", status, resp)
							return
						}
						mu.Lock()
						lat = append(lat, d)
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			slices.Sort(lat)
			if len(lat) == 0 {
				return
			}
			q := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
			}
			b.ReportMetric(q(0.5), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(float64(cold.Milliseconds()), "first-ms")
			b.ReportMetric(float64(len(lat))/b.Elapsed().Seconds(), "req/s")
		})
	}
}
