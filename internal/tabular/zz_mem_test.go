package tabular

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestZZMem(t *testing.T) {
	dir := "/root/.cache/go-build/fuzz/github.com/cleanroom-dev/cleanroom/internal/tabular/FuzzParquet"
	if d := os.Getenv("DIR"); d != "" {
		dir = d
	}
	ents, _ := os.ReadDir(dir)
	if only := os.Getenv("ONLY"); only != "" {
		ents = slices.DeleteFunc(ents, func(e os.DirEntry) bool { return e.Name() != only })
	}
	type res struct {
		name  string
		alloc uint64
		dur   time.Duration
	}
	var out []res
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		lines := strings.SplitN(string(b), "\n", 2)
		s := strings.TrimSpace(lines[1])
		s = strings.TrimPrefix(s, "[]byte(")
		s = strings.TrimSuffix(s, ")")
		data, err := strconv.Unquote(s)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "f.parquet")
		os.WriteFile(path, []byte(data), 0o600)
		var a, b2 runtime.MemStats
		runtime.ReadMemStats(&a)
		st := time.Now()
		r, err := Open(path, "", nil)
		if err == nil {
			Validate(testSchema(), r)
			r.Close()
		}
		runtime.ReadMemStats(&b2)
		out = append(out, res{e.Name(), b2.TotalAlloc - a.TotalAlloc, time.Since(st)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].alloc > out[j].alloc })
	for _, r := range out[:min(8, len(out))] {
		t.Logf("%s %d MB %v", r.name, r.alloc>>20, r.dur)
	}
}
