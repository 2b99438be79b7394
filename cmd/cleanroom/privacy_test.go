package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/agent"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/keyfile"
	"github.com/cleanroom-dev/cleanroom/internal/normalize"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
	"github.com/cleanroom-dev/cleanroom/internal/synth"
	"github.com/cleanroom-dev/cleanroom/internal/tlscert"
)

// recorder keeps every request body that reaches the room.
type recorder struct {
	mu   sync.Mutex
	data bytes.Buffer
}

func (r *recorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.data.WriteString(req.URL.String())
		r.data.Write(body)
		r.mu.Unlock()
		req.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, req)
	})
}

// TestRoomSeesNoIdentifier runs uploads and matching of messy synthetic
// data through a proxy that records everything the room receives, then
// searches the recording, the room's database, every file of its data
// directory and its logs for each identifier: raw, normalised, and the
// SHA-256 of the normalised value as bytes, hex and base64.
func TestRoomSeesNoIdentifier(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	res, err := initDataDir(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	m := NewMain(ServeConfig{DataDir: dir, Addr: "127.0.0.1:0"}, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(sctx) }()
	defer func() { cancel(); <-done }()
	<-m.Ready()

	// The proxy stands for the room's front door: it sees what the room
	// receives, after TLS.
	upstream, _ := url.Parse(m.URL())
	roomTLS, err := tlscert.ClientConfig(res.TLSCert)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(upstream)
	proxy.Transport = &http.Transport{TLSClientConfig: roomTLS}
	rec := &recorder{}
	front := httptest.NewUnstartedServer(rec.wrap(proxy))
	front.EnableHTTP2 = false
	front.StartTLS()
	defer front.Close()
	pool := x509.NewCertPool()
	pool.AddCert(front.Certificate())
	tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}
	admin := client.New(front.URL, res.AdminToken, tc)

	data := filepath.Join(t.TempDir(), "synth")
	sc := synth.DefaultConfig()
	sc.Subscribers, sc.Customers = 300, 200
	if _, err := synth.Generate(ctx, sc, data, nil); err != nil {
		t.Fatal(err)
	}
	info, err := admin.ServerInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateRoom(ctx, httpapi.CreateRoomRequest{Name: "r", Host: "neutral"}); err != nil {
		t.Fatal(err)
	}
	keys := map[string]*keyfile.PartyKeys{}
	users := map[string]*client.Client{}
	signers := map[string]signer{}
	for _, party := range demoParties() {
		k, err := keyfile.CreateParty(filepath.Join(t.TempDir(), party))
		if err != nil {
			t.Fatal(err)
		}
		keys[party] = k
		if _, err := admin.CreateParty(ctx, httpapi.CreatePartyRequest{Name: party, SigningKey: cleanroom.EncodeKey(k.Public())}); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Invite(ctx, "r", party); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		env, err := statement.Sign(k.Signing, cleanroom.GrantStatement{Type: cleanroom.GrantType, Server: info.ServerID, Party: party,
			User: "u", Room: "r", Roles: []cleanroom.Role{cleanroom.RoleProvider}, IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admin.SubmitGrant(ctx, party, env); err != nil {
			t.Fatal(err)
		}
		tok, err := admin.CreatePartyToken(ctx, httpapi.CreateTokenRequest{Party: party, User: "u"}, k.Signing)
		if err != nil {
			t.Fatal(err)
		}
		users[party] = admin.WithToken(tok.Secret)
		signers[party] = signer{users[party], k}
	}
	agree(t, ctx, info.ServerID, "r", "neutral", signers)
	for _, d := range demoDatasets {
		schema, _ := demoSchemas.ReadFile("demodata/" + d.name + ".schema.json")
		if _, err := users[d.party].CreateDataset(ctx, "r", d.name, schema); err != nil {
			t.Fatal(err)
		}
		if _, err := uploadDataset(ctx, users[d.party], d.name, uploadFlags{room: "r", file: filepath.Join(data, d.file), country: "RU"}, keys[d.party], io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	run, err := users["operator"].StartMatch(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	for _, party := range demoParties() {
		a, err := agent.New(ctx, users[party], "r", keys[party], filepath.Join(t.TempDir(), party+"-agent"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if run, err = users["bank"].ShowMatch(ctx, "r", run.ID); err != nil || run.State != "done" {
		t.Fatalf("match run: %v %+v", err, run)
	}

	// Everything the room holds: what it received, its files, its logs.
	haystack := map[string][]byte{"received": rec.data.Bytes(), "logs": []byte(logs.String())}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, err := os.ReadFile(path); err == nil {
				haystack[path] = b
			}
		}
		return nil
	})
	if len(rec.data.Bytes()) < 10000 {
		t.Fatalf("recorded only %d bytes: the recording does not see the uploads", rec.data.Len())
	}
	needles := identifierForms(t, filepath.Join(data, "operator_subscribers.csv"), filepath.Join(data, "bank_customers.csv"),
		filepath.Join(data, "advertiser_shoppers.csv"), filepath.Join(data, "ad_exposures.csv"), filepath.Join(data, "conversions.csv"))
	if len(needles) < 1000 {
		t.Fatalf("only %d identifier forms to look for", len(needles))
	}
	for where, hay := range haystack {
		for _, n := range needles {
			if bytes.Contains(hay, n) {
				t.Errorf("%s contains an identifier (%q)", where, n)
				break
			}
		}
	}
}

// identifierForms returns every identifier of the files in the forms a
// leak could take.
func identifierForms(t *testing.T, files ...string) [][]byte {
	t.Helper()
	var out [][]byte
	seen := map[string]bool{}
	add := func(b []byte) {
		if len(b) >= 8 && !seen[string(b)] {
			seen[string(b)] = true
			out = append(out, b)
		}
	}
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range rows[1:] {
			for i, col := range rows[0] {
				var norm string
				var err error
				switch col {
				case "phone":
					norm, err = normalize.Phone(row[i], "RU")
				case "email":
					norm, err = normalize.Email(row[i], normalize.EmailRules{Gmail: true})
				case "device_id":
					norm, err = normalize.DeviceID(row[i])
				default:
					continue
				}
				add([]byte(strings.TrimSpace(row[i])))
				if err != nil {
					continue
				}
				add([]byte(norm))
				add([]byte(strings.TrimPrefix(norm, "+")))
				d := normalize.Digest(norm)
				add(d[:])
				add([]byte(hex.EncodeToString(d[:])))
				add([]byte(strings.ToUpper(hex.EncodeToString(d[:]))))
				add([]byte(base64.StdEncoding.EncodeToString(d[:])))
				add([]byte(base64.RawURLEncoding.EncodeToString(d[:])))
			}
		}
	}
	return out
}
