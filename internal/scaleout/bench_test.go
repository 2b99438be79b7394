//go:build beam

package scaleout

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom/internal/duckdb"
	"github.com/cleanroom-dev/cleanroom/internal/prepare"
	"github.com/cleanroom-dev/cleanroom/internal/upload"
)

var (
	benchRows    = flag.String("bench.rows", "1000000", "comma-separated row counts of each dataset for BenchmarkEngines")
	benchEngines = flag.String("bench.engines", "duckdb,beam-prism", "the engines BenchmarkEngines runs, comma-separated")
)

// BenchmarkEngines runs the shipped spend-by-tier plan (two datasets of n
// rows each, joined on about n/2 people) on DuckDB and on Beam's Prism
// runner in this process, from decrypted payloads in memory. It reports
// the seconds of a run and the CPU seconds it took (BENCHMARKS.md,
// "Scale-out"). `make bench-scaleout` runs it.
func BenchmarkEngines(b *testing.B) {
	plan := shippedPlans(b)["spend-by-tier"]
	for _, field := range strings.Split(*benchRows, ",") {
		n, err := strconv.Atoi(field)
		if err != nil {
			b.Fatal(err)
		}
		vs := synthRoom(b, n, n/2, 1)
		for _, engine := range strings.Split(*benchEngines, ",") {
			b.Run(fmt.Sprintf("rows=%d/%s", n, engine), func(b *testing.B) {
				b.Setenv("TMPDIR", b.TempDir())
				for range b.N {
					cpu := cpuSeconds()
					start := time.Now()
					if engine == "duckdb" {
						benchDuckDB(b, vs)
					} else if engine != "beam-prism" {
						b.Fatalf("unknown engine %q", engine)
					} else if _, err := Run(context.Background(), plan, inputs(vs), 1, Options{Shards: runtime.NumCPU()}); err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(time.Since(start).Seconds(), "s/run")
					b.ReportMetric(cpuSeconds()-cpu, "cpu-s/run")
					b.ReportMetric(float64(2*n)/time.Since(start).Seconds(), "rows/s")
				}
			})
		}
	}
}

func benchDuckDB(b *testing.B, vs []*version) {
	plan := shippedPlans(b)["spend-by-tier"]
	ctx := context.Background()
	db, err := duckdb.Open(ctx, duckdb.Limits{MemoryLimit: 16 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for _, v := range vs {
		rd, err := upload.NewReader(bytes.NewReader(v.payload))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.LoadVersion(ctx, plan, v.dataset, rd, v.persons); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := db.Run(ctx, plan, 1); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPrepare prepares 4 files of identifiers in this process and on
// Beam (Prism): the party side's cost per identifier, dominated by
// hash-to-group and blinding.
func BenchmarkPrepare(b *testing.B) {
	dir, all := prepFiles(b, 4, 5000)
	cfg := prepConfig(b)
	for _, engine := range []string{"in-process", "beam-prism"} {
		b.Run(engine, func(b *testing.B) {
			b.Setenv("TMPDIR", b.TempDir())
			for range b.N {
				cpu := cpuSeconds()
				start := time.Now()
				var p *prepare.Prepared
				var err error
				if engine == "in-process" {
					p, err = prepare.Prepare(context.Background(), all, "", cfg)
				} else {
					p, err = Prepare(context.Background(), filepath.Join(dir, "*.csv"), "", cfg, PrepareOptions{})
				}
				if err != nil {
					b.Fatal(err)
				}
				ids := 0
				for _, c := range p.Report.Identifiers {
					ids += c.Distinct
				}
				b.ReportMetric(time.Since(start).Seconds(), "s/run")
				b.ReportMetric((cpuSeconds()-cpu)/float64(ids)*1e6, "cpu-µs/identifier")
			}
		})
	}
}

// cpuSeconds is this process's user and system CPU time so far.
func cpuSeconds() float64 {
	raw, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	// Fields 14 and 15 (utime, stime) in clock ticks, after the command
	// name in parentheses.
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100
}
