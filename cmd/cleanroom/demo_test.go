package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/tlscert"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestDemo runs the demo as `make demo` does, checks that it serves
// /healthz over TLS and says where, that the three parties registered,
// signed the agreement, uploaded their datasets, re-blinded for matching
// and ran their use cases, that the users it set up hold the roles their
// parties signed, and that a second run reuses the room.
func TestDemo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	cfg := DemoConfig{DataDir: dir, Addr: "127.0.0.1:0", Subscribers: 2000, Customers: 1000}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- runDemo(ctx, cfg, out, slog.New(slog.DiscardHandler)) }()

	urlRE := regexp.MustCompile(`health:\s+(https://\S+)/healthz`)
	var base string
	deadline := time.Now().Add(60 * time.Second)
	for base == "" {
		if m := urlRE.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("demo ended before serving: %v\n%s", err, out)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo did not print where it serves:\n%s", out)
		}
	}
	for _, want := range []string{"party operator registered", "party bank registered", "party advertiser registered",
		"room operator-bank hosted by neutral-processor, with parties operator, bank and advertiser",
		"bank signed a grant for ben", "advertiser signed a grant for ada: provider, analyst, receiver",
		"data-use agreement version 1 drafted by the operator and signed by operator, bank and advertiser", "synthetic data in", "certificate:", "CLEANROOM_TOKEN=",
		"operator/olivia uploaded operator_subscribers.csv as version 1 of dataset subscribers: 2000 rows",
		"bank/ben uploaded bank_customers.csv as version 1 of dataset customers: 1000 rows",
		"advertiser/ada uploaded advertiser_shoppers.csv as version 1 of dataset shoppers: 1000 rows",
		"advertiser/ada uploaded conversions.csv as version 1 of dataset conversions",
		"the agent of advertiser re-blinded",
		"template tier-by-default-flag version 1 proposed by the operator and approved by bank and operator: approved",
		"template campaign-lift version 1 proposed by the operator and approved by advertiser and operator: approved",
		"match report for operator: customers × subscribers matched",
		"match report for operator: shoppers × subscribers matched",
		"operator/olivia ran tier-by-default-flag",
		"operator/olivia ran premium-product-uptake (product=mortgage); released to operator and bank:",
		"operator/olivia ran travel-spend-segments (tier=premium)",
		"advertiser/ada ran campaign-lift (); released to operator and advertiser:",
		"# advertiser/ada"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}

	tc, err := tlscert.ClientConfig(filepath.Join(dir, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 10 * time.Second}
	resp, err := hc.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("GET %s/healthz = %d over TLS %v", base, resp.StatusCode, resp.TLS != nil)
	}

	var session demoSession
	raw, err := os.ReadFile(filepath.Join(dir, "demo-session.json"))
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "demo-session.json")); st.Mode().Perm() != 0o600 {
		t.Errorf("demo-session.json has mode %v, want 0600", st.Mode().Perm())
	}
	if err := json.Unmarshal(raw, &session); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", base+"/api/v1/rooms/operator-bank", nil)
	req.Header.Set("Authorization", "Bearer "+session.Users["bank/ben"])
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"user": "olivia"`) || !strings.Contains(string(body), `"payer"`) {
		t.Fatalf("bank/ben reading the demo room = %d %s", resp.StatusCode, body)
	}
	if _, err := os.Stat(filepath.Join(dir, "synth", "truth.json")); err != nil {
		t.Errorf("demo wrote no synthetic data: %v", err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("demo after Ctrl-C: %v", err)
	}

	// A second run reuses the data directory, the room and the data.
	cfg.NoServe = true
	out2 := &syncBuffer{}
	if err := runDemo(context.Background(), cfg, out2, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("second demo run: %v\n%s", err, out2)
	}
	for _, want := range []string{"reusing", "(reused)", "dataset customers of bank (reused): version 1",
		"template spend-by-tier (reused): approved", "data-use agreement version 1 (reused): active", "not serving"} {
		if !strings.Contains(out2.String(), want) {
			t.Errorf("second run output lacks %q:\n%s", want, out2)
		}
	}
}

// TestDemoOldRoom runs the demo on a data directory whose room an earlier
// demo set up with the operator and the bank only: it stops, saying so and
// how to start afresh.
func TestDemoOldRoom(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "demo")
	res, err := initDataDir(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMain(ServeConfig{DataDir: dir, Addr: "127.0.0.1:0"}, slog.New(slog.DiscardHandler))
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(sctx) }()
	<-m.Ready()
	tc, err := tlscert.ClientConfig(res.TLSCert)
	if err != nil {
		t.Fatal(err)
	}
	admin := client.New(m.URL(), res.AdminToken, tc)
	for _, party := range []string{"operator", "bank"} {
		k, err := keyfile.CreateParty(filepath.Join(dir, "parties", party, "keys"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admin.CreateParty(ctx, httpapi.CreatePartyRequest{Name: party, SigningKey: cleanroom.EncodeKey(k.Public())}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.CreateRoom(ctx, httpapi.CreateRoomRequest{Name: demoRoom, Host: demoHost, Parties: []string{"bank", "operator"}}); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"demo", "--data", dir, "--addr", "127.0.0.1:0", "--once", "--subscribers", "300", "--customers", "200"},
		strings.NewReader(""), &stdout, &stderr)
	if code == 0 {
		t.Fatalf("demo on an old room succeeded:\n%s", stdout.String())
	}
	for _, want := range []string{"cleanroom: room operator-bank in " + dir + " was set up by an earlier demo, without the party advertiser\n",
		"hint: `make clean` (or removing " + dir + ") starts the demo afresh\n"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}
