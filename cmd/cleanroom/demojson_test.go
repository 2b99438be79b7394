package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDemoOnceJSON runs `cleanroom demo --once --json` on small data: it
// exits, prints the summary's documented shape on stdout, with the three
// parties, and the steps on stderr. On data this small the look-alike seed
// is below its minimum, so that use case is refused and reported as not
// released; the bank scores two applicants online.
func TestDemoOnceJSON(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"demo", "--data", dir, "--addr", "127.0.0.1:0", "--once", "--json",
		"--subscribers", "3000", "--customers", "1500"}, strings.NewReader(""), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("demo --once --json exited %d: %s", code, stderr.String())
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(stdout.Bytes(), &top); err != nil {
		t.Fatalf("stdout is not the summary: %v\n%s", err, stdout.String())
	}
	shape := map[string]map[string]any{}
	for k, v := range top {
		var m map[string]any
		if json.Unmarshal(v, &m) == nil {
			shape[k] = m
		}
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
		sum.UseCases.Lookalike.Released || sum.Match.Parties["operator"].Rows != 3000 || sum.Match.Parties["bank"].Rows != 1500 ||
		sum.Match.Parties["advertiser"].Rows != 1500 || sum.Match.Parties["advertiser"].Matched <= 0 {
		t.Errorf("summary: %s", stdout.String())
	}
	// The bank scored a subscriber and someone who is not, online; both
	// answers have the same form.
	if sc := sum.UseCases.RiskModel.Scores; len(sc) != 2 || !sc[0].Subscriber || sc[1].Subscriber ||
		!(sc[0].Score > 0 && sc[0].Score < 1 && sc[1].Score > 0 && sc[1].Score < 1) || sc[0].Bin == "" || sc[1].Bin == "" {
		t.Errorf("online scores: %+v", sc)
	}
	if !slices.Equal(sum.Parties, []string{"operator", "bank", "advertiser"}) {
		t.Errorf("summary names the parties %v, want operator, bank and advertiser", sum.Parties)
	}
	if !strings.Contains(stderr.String(), "ran mortgage-lookalike: refused: the matched seed holds about") {
		t.Errorf("the steps on stderr do not show the look-alike refusal:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "advertiser/ada ran campaign-lift") {
		t.Errorf("the steps on stderr do not show the advertiser's campaign lift:\n%s", stderr.String())
	}
	// --json alone, without --once, is a usage error.
	code = run(context.Background(), []string{"demo", "--data", dir, "--json"}, strings.NewReader(""), &stdout, &stderr)
	if code == 0 {
		t.Error("demo --json without --once succeeded")
	}
}
