package main

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom/internal/tlscert"
)

// startServer initialises a data directory and runs a real Main on a free
// port until the test ends.
func startServer(t *testing.T) (m *Main, res *initResult) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	res, err := initDataDir(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	m = NewMain(ServeConfig{DataDir: dir, Addr: "127.0.0.1:0"}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	select {
	case <-m.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("server did not start")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v after shutdown", err)
		}
	})
	return m, res
}

func TestServeTLS(t *testing.T) {
	m, res := startServer(t)
	cfg, err := tlscert.ClientConfig(res.TLSCert)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}

	resp, err := client.Get(m.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"ok"`) {
		t.Fatalf("GET /healthz = %d %s", resp.StatusCode, body)
	}
	if resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13 {
		t.Fatalf("negotiated TLS version %x, want TLS 1.3", resp.TLS.Version)
	}

	// The admin token printed by init works; metrics count the request.
	req, _ := http.NewRequest("GET", m.URL()+"/api/v1/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+res.AdminToken)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"kind": "admin"`) {
		t.Fatalf("GET /api/v1/whoami with the init token = %d %s", resp.StatusCode, body)
	}
	resp, err = client.Get(m.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `cleanroom_http_requests_total{code="200",method="GET",route="/api/v1/whoami"} 1`) {
		t.Errorf("metrics do not count the whoami request:\n%s", body)
	}

	// A client limited to TLS 1.2 is refused.
	old := cfg.Clone()
	old.MinVersion, old.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	c12 := &http.Client{Transport: &http.Transport{TLSClientConfig: old}, Timeout: 10 * time.Second}
	if resp, err := c12.Get(m.URL() + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("a TLS 1.2 client was served")
	}
}

func TestInitRefusesExistingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := initDataDir(context.Background(), dir, nil); err != nil {
		t.Fatal(err)
	}
	_, err := initDataDir(context.Background(), dir, nil)
	if err == nil || !strings.Contains(err.Error(), "already initialised") {
		t.Fatalf("second init = %v, want 'already initialised'", err)
	}
}

func TestServeGracefulShutdown(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := initDataDir(context.Background(), dir, nil); err != nil {
		t.Fatal(err)
	}
	m := NewMain(ServeConfig{DataDir: dir, Addr: "127.0.0.1:0"}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	<-m.Ready()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("server did not stop")
	}
}
