package scaleout

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/prepare"
	"github.com/cleanroom-dev/cleanroom/internal/tabular"
)

const prepSchema = `{"identifiers":[
	{"column":"phone","class":"phone","priority":1},
	{"column":"email","class":"email","priority":2}],
 "attributes":[
	{"column":"tier","type":"string","policy":"dimension","categories":["basic","premium"]},
	{"column":"arpu","type":"decimal","policy":"metric","clamp":[0,5000],"scale":2}]}`

// prepFiles writes files CSV files of rows rows each, with valid,
// missing, invalid and repeated identifiers (some repeated across files),
// and the same rows as one file.
func prepFiles(t testing.TB, files, rows int) (dir, all string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	dir = t.TempDir()
	header := "phone,email,tier,arpu\n"
	var whole strings.Builder
	whole.WriteString(header)
	for f := range files {
		var b strings.Builder
		b.WriteString(header)
		for range rows {
			phone := fmt.Sprintf("+7 916 %03d-%02d-%02d", rng.IntN(40), rng.IntN(100), rng.IntN(100))
			switch rng.IntN(12) {
			case 0:
				phone = ""
			case 1:
				phone = "12"
			}
			email := fmt.Sprintf("User.%d@Example.com", rng.IntN(500))
			if rng.IntN(10) == 0 {
				email = ""
			}
			line := fmt.Sprintf("%s,%s,%s,%d.%02d\n", phone, email, []string{"basic", "premium"}[rng.IntN(2)], rng.IntN(5000), rng.IntN(100))
			b.WriteString(line)
			whole.WriteString(line)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("part-%02d.csv", f)), []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	all = filepath.Join(t.TempDir(), "all.csv")
	if err := os.WriteFile(all, []byte(whole.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, all
}

func prepConfig(t testing.TB) prepare.Config {
	t.Helper()
	s, err := cleanroom.ParseSchema([]byte(prepSchema))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := keyfile.CreateParty(filepath.Join(t.TempDir(), "keys"))
	if err != nil {
		t.Fatal(err)
	}
	return prepare.Config{Server: "srv", Room: "r1", Party: "bank", Dataset: "customers", Version: 1, Schema: s, Keys: keys,
		Region: "RU", Now: func() time.Time { return time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC) }}
}

// samePrepared fails t unless a sharded preparation equals the
// in-process one of the same rows: payload, manifests and counts.
func samePrepared(t *testing.T, got, want *prepare.Prepared) {
	t.Helper()
	if string(got.Payload) != string(want.Payload) {
		t.Fatalf("payloads differ: %d and %d bytes", len(got.Payload), len(want.Payload))
	}
	if !reflect.DeepEqual(got.Manifests, want.Manifests) {
		t.Fatalf("manifests differ:\n got %+v\nwant %+v", got.Manifests, want.Manifests)
	}
	g, w := got.Report, want.Report
	g.File, w.File = "", ""
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("reports differ:\n got %+v\nwant %+v", g, w)
	}
}

// TestPrepareShardsMatchInProcess prepares several files as sealed shards
// and assembles them, without a runner, and wants exactly what the
// in-process preparation makes of the same rows in one file.
func TestPrepareShardsMatchInProcess(t *testing.T) {
	dir, all := prepFiles(t, 3, 200)
	cfg := prepConfig(t)
	want, err := prepare.Prepare(context.Background(), all, "", cfg)
	if err != nil {
		t.Fatal(err)
	}
	files, err := Files(filepath.Join(dir, "*.csv"))
	if err != nil || len(files) != 3 {
		t.Fatalf("Files = %v, %v", files, err)
	}
	j := newPrepJob(files, "", cfg, t.TempDir())
	defer j.finish()
	got, err := j.prepareLocal(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	samePrepared(t, got, want)
	// The shards are sealed: no attribute value or token is readable.
	shard, err := os.ReadFile(j.shardPath(0))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(shard), "premium") || strings.Contains(string(shard), "cleanroom.payload") {
		t.Error("a shard holds plaintext")
	}
}

// TestPrepareBadFile: an invalid row in one of the files fails the
// preparation with an error naming that file, the row and the column.
func TestPrepareBadFile(t *testing.T) {
	dir, _ := prepFiles(t, 2, 20)
	bad := filepath.Join(dir, "part-01.csv")
	data, _ := os.ReadFile(bad)
	lines := strings.Split(string(data), "\n")
	lines[5] = "+7 916 000-00-01,a@b.c,gold,12.00"
	os.WriteFile(bad, []byte(strings.Join(lines, "\n")), 0o600)
	files, _ := Files(filepath.Join(dir, "*.csv"))
	j := newPrepJob(files, "", prepConfig(t), t.TempDir())
	defer j.finish()
	_, err := j.prepareLocal(context.Background())
	var fe *tabular.FileError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "part-01.csv") || !strings.Contains(err.Error(), "tier") {
		t.Fatalf("prepare with a bad row = %v", err)
	}
	if _, err := Files(filepath.Join(dir, "*.parquet")); err == nil {
		t.Error("a pattern that matches nothing was accepted")
	}
}
