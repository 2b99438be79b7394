//go:build beam

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestScaleOutDemo runs the demo scenario with every upload prepared and
// every plan run as a Beam pipeline on Prism, and again on this machine
// and DuckDB: the Beam-prepared uploads match as many people, the same use cases are released, the audit log verifies, and it names the
// engine of each run.
func TestScaleOutDemo(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	demo := func(engine string) (DemoSummary, string) {
		dir := filepath.Join(t.TempDir(), "demo")
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"demo", "--data", dir, "--addr", "127.0.0.1:0", "--once", "--json", "--engine", engine,
			"--subscribers", "3000", "--customers", "1500"}, strings.NewReader(""), &stdout, &stderr)
		if code != 0 {
			t.Fatalf("demo --engine %s exited %d: %s", engine, code, stderr.String())
		}
		var sum DemoSummary
		if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
			t.Fatalf("stdout is not the summary: %v\n%s", err, stdout.String())
		}
		return sum, stdout.String()
	}
	local, _ := demo("duckdb")
	sum, out := demo("beam")
	if !sum.Audit.Verified || !sum.UseCases.SegmentSizing.Released || !sum.UseCases.RiskModel.Released {
		t.Fatalf("summary = %s", out)
	}
	// The match report's counts carry noise: the tokens themselves are
	// compared in internal/scaleout (TestBeamPrepareMatchesInProcess).
	for party, p := range local.Match.Parties {
		b := sum.Match.Parties[party]
		if b.Rows != p.Rows || float64(b.Matched) < 0.8*float64(p.Matched) || float64(b.Matched) > 1.2*float64(p.Matched) {
			t.Errorf("%s: the Beam-prepared upload has %d rows, %d matched; prepared here, %d and %d", party, b.Rows, b.Matched, p.Rows, p.Matched)
		}
	}
	if local.Audit.Engines["duckdb"] == 0 {
		t.Errorf("the DuckDB demo's audit log names the engines %v", local.Audit.Engines)
	}
	if sum.Audit.Engines["beam/prism"] == 0 || sum.Audit.Engines["duckdb"] != 0 {
		t.Errorf("the audit log names the engines %v, want only beam/prism", sum.Audit.Engines)
	}
}

// TestScaleOutWorkers runs the demo's plans on Beam with every step in a
// `cleanroom scaleout-worker` process beside the room server, sharing its
// data directory, as workers on other machines of the isolated zone would:
// the use cases are released and the audit names the worker pool.
func TestScaleOutWorkers(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	dir := filepath.Join(t.TempDir(), "demo")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"init", "--data", dir}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("init exited %d: %s", code, stderr.String())
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var wlog lockedBuffer
	worker := exec.Command("cleanroom", "scaleout-worker", "--data", dir, "--listen", addr)
	worker.Stdout, worker.Stderr = &wlog, &wlog
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { worker.Process.Kill(); worker.Wait() })
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker pool did not listen: %s", wlog.String())
		}
	}
	stdout.Reset()
	stderr.Reset()
	code := run(context.Background(), []string{"demo", "--data", dir, "--addr", "127.0.0.1:0", "--once", "--json", "--engine", "beam",
		"--workers", addr, "--subscribers", "3000", "--customers", "1500"}, strings.NewReader(""), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("demo --workers exited %d: %s\nworker:\n%s", code, stderr.String(), wlog.String())
	}
	var sum DemoSummary
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatalf("stdout is not the summary: %v\n%s", err, stdout.String())
	}
	if !sum.Audit.Verified || !sum.UseCases.SegmentSizing.Released {
		t.Fatalf("summary = %s", stdout.String())
	}
	if n := sum.Audit.Engines["beam/prism, workers "+addr]; n == 0 {
		t.Errorf("the audit log names the engines %v, want beam/prism, workers %s", sum.Audit.Engines, addr)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "scaleout")); len(left) != 0 {
		t.Errorf("the job directory keeps %d entries", len(left))
	}
}
