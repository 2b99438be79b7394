package synth

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkGenerate generates the default shape of data (customers, and
// shoppers, half the subscribers, four campaigns) at several sizes into a temporary
// directory. Run it with
//
//	go test -run '^$' -bench Generate -benchtime 1x ./internal/synth/
//
// It reports rows written per second (all five datasets), megabytes
// written, and the process's peak resident memory during the run
// (VmHWM, reset before each size; Linux only).
func BenchmarkGenerate(b *testing.B) {
	for _, size := range []struct {
		name        string
		subscribers int
		format      Format
	}{
		{"subscribers=100k/csv", 100_000, FormatCSV},
		{"subscribers=1M/csv", 1_000_000, FormatCSV},
		{"subscribers=1M/parquet", 1_000_000, FormatParquet},
		{"subscribers=1M/both", 1_000_000, FormatBoth},
	} {
		b.Run(size.name, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Subscribers = size.subscribers
			cfg.Customers = size.subscribers / 2
			cfg.Format = size.format
			resetPeakRSS()
			var rows, bytes int64
			for b.Loop() {
				dir := b.TempDir()
				truth, err := Generate(context.Background(), cfg, dir, nil)
				if err != nil {
					b.Fatal(err)
				}
				r := truth.Rows
				rows += int64(r.OperatorSubscribers + r.BankCustomers + r.AdvertiserShoppers + r.AdExposures + r.Conversions)
				bytes += dirSize(b, dir)
				b.StopTimer()
				os.RemoveAll(dir)
				b.StartTimer()
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(rows)/float64(b.N), "rows/op")
			b.ReportMetric(float64(bytes)/float64(b.N)/1e6, "MB/op")
			if kb := peakRSSKB(); kb > 0 {
				b.ReportMetric(float64(kb)/1024, "peak-RSS-MiB")
			}
		})
	}
}

func dirSize(b *testing.B, dir string) int64 {
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, e := range entries {
		info, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		n += info.Size()
	}
	return n
}

// resetPeakRSS resets the kernel's record of peak resident memory
// (proc(5), clear_refs); it does nothing where that is not supported.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSSKB returns VmHWM from /proc/self/status, or 0.
func peakRSSKB() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}
