package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoOnceJSON runs `cleanroom demo --once --json` on small data: it
// exits, prints the summary's documented shape on stdout and the steps on
// stderr. On data this small the look-alike seed is below its minimum, so
// that use case is refused and reported as not released.
func TestDemoOnceJSON(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"demo", "--data", dir, "--addr", "127.0.0.1:0", "--once", "--json",
		"--subscribers", "3000", "--customers", "1500"}, strings.NewReader(""), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("demo --once --json exited %d: %s", code, stderr.String())
	}
	var shape map[string]map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &shape); err != nil {
		t.Fatalf("stdout is not the summary: %v\n%s", err, stdout.String())
	}
	for _, path := range [][2]string{{"match", "parties"}, {"match", "ground_truth_recall"}, {"use_cases", "segment_sizing"},
		{"use_cases", "attribution"}, {"use_cases", "lookalike"}, {"use_cases", "risk_model"}, {"budget", "rho_spent"},
		{"audit", "entries"}, {"audit", "verified"}} {
		if _, ok := shape[path[0]][path[1]]; !ok {
			t.Errorf("summary lacks %s.%s:\n%s", path[0], path[1], stdout.String())
		}
	}
	var sum DemoSummary
	json.Unmarshal(stdout.Bytes(), &sum)
	if !sum.Audit.Verified || !sum.UseCases.SegmentSizing.Released || !sum.UseCases.RiskModel.Released ||
		sum.UseCases.Lookalike.Released || sum.Match.Parties["operator"].Rows != 3000 || sum.Match.Parties["bank"].Rows != 1500 {
		t.Errorf("summary: %s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "ran mortgage-lookalike: refused: the matched seed holds about") {
		t.Errorf("the steps on stderr do not show the look-alike refusal:\n%s", stderr.String())
	}
	// --json alone, without --once, is a usage error.
	code = run(context.Background(), []string{"demo", "--data", dir, "--json"}, strings.NewReader(""), &stdout, &stderr)
	if code == 0 {
		t.Error("demo --json without --once succeeded")
	}
}
