package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cleanroom-dev/cleanroom/internal/synth"
)

// runSynth runs the command line and returns its exit code and output.
func runSynth(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestSynthCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	code, out, errOut := runSynth(t, "synth", "--out", dir, "--subscribers", "2000", "--customers", "1000", "--seed", "3", "--format", "BOTH", "--country", "ru")
	if code != 0 {
		t.Fatalf("synth exited %d: %s", code, errOut)
	}
	if errOut != "" {
		t.Errorf("stderr %q, want nothing (no terminal, no progress bar)", errOut)
	}
	for _, want := range []string{
		"wrote " + dir + " (both, seed 3)",
		"operator_subscribers.csv      2000 rows",
		"bank_customers.parquet        1000 rows",
		"truth_pairs.csv                600 rows",
		"truth.json",
		"true overlap: 600 persons (60.0% of customers, 30.0% of subscribers)",
		"matchable on a normalised identifier: ",
		"  phone: ",
		"  email: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, name := range []string{"operator_subscribers.csv", "operator_subscribers.parquet", "ad_exposures.csv", "conversions.parquet", "truth.json", "truth_pairs.csv"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("missing %s: %v", name, err)
		}
	}
}

func TestSynthCommandJSON(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runSynth(t, "synth", "--json", "--out", dir, "--subscribers", "1000", "--customers", "500",
		"--overlap", "0.5", "--campaigns", "2", "--exposures-per-subscriber", "2", "--typo-rate", "0.05", "--junk-rate", "0.02",
		"--reach", "0.4", "--holdout", "0.2", "--conversion-rate", "0.1", "--lift", "0.05")
	if code != 0 {
		t.Fatalf("synth --json exited %d: %s", code, errOut)
	}
	var truth synth.Truth
	if err := json.Unmarshal([]byte(out), &truth); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	want := synth.DefaultConfig()
	want.Subscribers, want.Customers, want.Overlap, want.Campaigns, want.ExposuresPerSubscriber = 1000, 500, 0.5, 2, 2
	want.TypoRate, want.JunkRate, want.Reach, want.HoldoutShare, want.BaseConversionRate, want.Lift = 0.05, 0.02, 0.4, 0.2, 0.1, 0.05
	if truth.Config != want {
		t.Errorf("config %+v, want %+v", truth.Config, want)
	}
	if truth.Overlap.Persons != 250 || len(truth.Campaigns) != 2 {
		t.Errorf("overlap %d persons, %d campaigns; want 250 and 2", truth.Overlap.Persons, len(truth.Campaigns))
	}
	file, err := os.ReadFile(filepath.Join(dir, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fromFile synth.Truth
	if err := json.Unmarshal(file, &fromFile); err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(truth)
	b, _ := json.Marshal(fromFile)
	if !bytes.Equal(a, b) {
		t.Errorf("--json output differs from truth.json")
	}
}

func TestSynthCommandErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want []string // lines of stderr, in order
	}{
		{"no out", []string{"synth"}, 2, []string{"cleanroom: synth: --out is required", "hint: usage: cleanroom synth --out DIR [flags]"}},
		{"overlap out of range", []string{"synth", "--out", "x", "--overlap", "1.5"}, 2,
			[]string{"cleanroom: synth: invalid config: overlap 1.5: must be between 0 and 1", "hint: see `cleanroom synth --help`"}},
		{"overlap beyond subscribers", []string{"synth", "--out", "x", "--subscribers", "100", "--customers", "1000"}, 2,
			[]string{"cleanroom: synth: invalid config: overlap 0.6 of 1000 customers is 600 persons, more than the 100 subscribers",
				"hint: raise --subscribers to at least 600 or lower --overlap"}},
		{"unknown format", []string{"synth", "--out", "x", "--format", "xlsx"}, 2,
			[]string{`cleanroom: synth: invalid config: format "xlsx": must be csv, parquet or both`, "hint: pass --format csv"}},
		{"unknown country", []string{"synth", "--out", "x", "--country", "zz"}, 2,
			[]string{`cleanroom: synth: invalid config: country "ZZ"`, "hint: pass an ISO 3166 region code"}},
		{"negative size", []string{"synth", "--out", "x", "--customers", "-1"}, 2, []string{"cleanroom: synth: invalid config: customers -1"}},
		{"bad flag value", []string{"synth", "--out", "x", "--seed", "minus"}, 2, []string{`cleanroom: invalid argument "minus" for "--seed"`}},
		{"argument", []string{"synth", "--out", "x", "extra"}, 2, []string{`cleanroom: unknown command "extra" for "cleanroom synth"`}},
		{"out is a file", []string{"synth", "--out", file, "--subscribers", "10", "--customers", "5"}, 1,
			[]string{"cleanroom: synth: generate: mkdir " + file + ": not a directory", "hint: check that " + file + " is a writable directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runSynth(t, tt.args...)
			if code != tt.code {
				t.Errorf("synth %v exited %d, want %d; stderr:\n%s", tt.args, code, tt.code, errOut)
			}
			if out != "" {
				t.Errorf("synth %v printed %q to stdout, want nothing", tt.args, out)
			}
			rest := errOut
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Errorf("synth %v: stderr lacks %q (in order):\n%s", tt.args, w, errOut)
					break
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

func TestSynthCommandInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"synth", "--out", dir, "--subscribers", "100", "--customers", "50"}, strings.NewReader(""), &stdout, &stderr)
	if want := "cleanroom: synth: interrupted; no data files were left in " + dir + "\n"; code != 1 || stderr.String() != want {
		t.Errorf("interrupted synth exited %d with %q, want 1 with %q", code, stderr.String(), want)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("interrupted synth left %d files", len(entries))
	}
}
