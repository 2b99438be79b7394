package client_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/cleanroom-dev/cleanroom"
	"github.com/cleanroom-dev/cleanroom/internal/client"
	"github.com/cleanroom-dev/cleanroom/internal/httpapi"
	"github.com/cleanroom-dev/cleanroom/internal/sqlite"
	"github.com/cleanroom-dev/cleanroom/internal/statement"
)

// server is a real API server on a real database, served over TLS 1.3 by
// httptest.
type server struct {
	url        string
	tls        *tls.Config // trusts the server's certificate
	adminToken string
	serverID   string
}

func newServer(t *testing.T) *server {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "cleanroom.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.New(httpapi.Config{DB: db, SigningKey: pub, HPKEKey: make([]byte, 32), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	id, secret := cleanroom.NewTokenSecret()
	err = db.Update(ctx, func(tx *sqlite.Tx) error {
		now := tx.Now()
		return tx.CreateToken(&cleanroom.Token{ID: id, Kind: cleanroom.Admin, CreatedAt: now, ExpiresAt: now.Add(cleanroom.DefaultTokenTTL)},
			cleanroom.HashToken(secret))
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(api.Handler())
	ts.TLS = &tls.Config{MinVersion: tls.VersionTLS13}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	return &server{url: ts.URL, tls: &tls.Config{RootCAs: pool}, adminToken: secret, serverID: api.ServerID()}
}

func TestRoundTrip(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	c := client.New(s.url+"/", s.adminToken, s.tls)

	info, err := c.ServerInfo(ctx)
	if err != nil {
		t.Fatalf("ServerInfo: %v", err)
	}
	if info.ServerID != s.serverID {
		t.Errorf("ServerInfo().ServerID = %q, want %q", info.ServerID, s.serverID)
	}
	who, err := c.Whoami(ctx)
	if err != nil {
		t.Fatalf("Whoami: %v", err)
	}
	if who.Kind != "admin" {
		t.Errorf("Whoami().Kind = %q, want admin", who.Kind)
	}

	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	p, err := c.CreateParty(ctx, httpapi.CreatePartyRequest{Name: "bank", SigningKey: cleanroom.EncodeKey(pub)})
	if err != nil {
		t.Fatalf("CreateParty: %v", err)
	}
	if p.Fingerprint != cleanroom.KeyFingerprint(pub) {
		t.Errorf("CreateParty().Fingerprint = %q, want %q", p.Fingerprint, cleanroom.KeyFingerprint(pub))
	}
	if _, err := c.CreateRoom(ctx, httpapi.CreateRoomRequest{Name: "r", Host: "neutral", Parties: []string{"bank"}}); err != nil {
		t.Fatalf("CreateRoom: %v", err)
	}
	minted, err := c.CreateToken(ctx, httpapi.CreateTokenRequest{Party: "bank", User: "alice"})
	if err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	if !cleanroom.LooksLikeToken(minted.Secret) || !minted.AdminMinted {
		t.Errorf("CreateToken() = %+v, want a secret and an admin-minted token", minted)
	}
	// The party's signed request: the secret comes back sealed and opens
	// here; the relaying admin's answer holds no secret in the clear.
	tok, err := c.CreatePartyToken(ctx, httpapi.CreateTokenRequest{Party: "bank", User: "alice"}, priv)
	if err != nil {
		t.Fatalf("CreatePartyToken: %v", err)
	}
	if !cleanroom.LooksLikeToken(tok.Secret) || tok.AdminMinted {
		t.Errorf("CreatePartyToken() = %+v, want a secret and a token the party asked for", tok)
	}

	now := time.Now().UTC()
	st := cleanroom.GrantStatement{Type: cleanroom.GrantType, Server: info.ServerID, Party: "bank", User: "alice", Room: "r",
		Roles: []cleanroom.Role{cleanroom.RoleAnalyst}, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	env, err := statement.Sign(priv, st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SubmitGrant(ctx, "bank", env); err != nil {
		t.Fatalf("SubmitGrant: %v", err)
	}

	// The token the admin minted alone carries none of alice's grants.
	if _, err := client.New(s.url, minted.Secret, s.tls).ShowRoom(ctx, "r"); err == nil {
		t.Error("an admin-minted token opened alice's room")
	}
	alice := client.New(s.url, tok.Secret, s.tls)
	r, err := alice.ShowRoom(ctx, "r")
	if err != nil {
		t.Fatalf("ShowRoom as alice: %v", err)
	}
	if len(r.Members) != 1 || r.Members[0].User != "alice" {
		t.Errorf("ShowRoom().Members = %+v, want alice", r.Members)
	}
	if l, err := alice.RoomAudit(ctx, "r", client.AuditPage{Limit: 1}); err != nil {
		t.Fatalf("RoomAudit: %v", err)
	} else if len(l.Entries) != 1 || l.Next == 0 {
		t.Errorf("RoomAudit(limit 1) = %d entries, next %d; want 1 entry and a next page", len(l.Entries), l.Next)
	}
	if _, err := c.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	if _, err := alice.Whoami(ctx); err == nil {
		t.Error("Whoami with a revoked token succeeded")
	}
}

func TestAPIError(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	c := client.New(s.url, s.adminToken, s.tls)

	_, err := c.ShowRoom(ctx, "nosuch")
	var ae *client.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("ShowRoom(nosuch) error = %v (%T), want *APIError", err, err)
	}
	if ae.Status != http.StatusNotFound || ae.Code != cleanroom.ENotFound || ae.Message != `room "nosuch" not found` || ae.Hint == "" {
		t.Errorf("ShowRoom(nosuch) = %+v, want 404 not_found with a hint", ae)
	}
	if err.Error() != ae.Message {
		t.Errorf("Error() = %q, want the message %q", err.Error(), ae.Message)
	}

	anon := client.New(s.url, "", s.tls)
	_, err = anon.Whoami(ctx)
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || ae.Code != cleanroom.EUnauthenticated {
		t.Errorf("Whoami without a token: error = %v, want 401 unauthenticated", err)
	}
	if errors.Is(err, client.ErrUntrustedCertificate) {
		t.Errorf("an API error matches ErrUntrustedCertificate")
	}
}

func TestUntrustedCertificate(t *testing.T) {
	s := newServer(t)
	c := client.New(s.url, s.adminToken, nil)
	_, err := c.Whoami(context.Background())
	var ce *client.ConnError
	if !errors.As(err, &ce) {
		t.Fatalf("Whoami against an untrusted certificate: error = %v (%T), want *ConnError", err, err)
	}
	if !errors.Is(err, client.ErrUntrustedCertificate) {
		t.Errorf("error %v does not match ErrUntrustedCertificate", err)
	}
	if ce.URL != s.url+"/api/v1/whoami" {
		t.Errorf("ConnError.URL = %q, want %q", ce.URL, s.url+"/api/v1/whoami")
	}
}

func TestTLS13Minimum(t *testing.T) {
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	ts.TLS = &tls.Config{MaxVersion: tls.VersionTLS12}
	ts.StartTLS()
	defer ts.Close()
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	c := client.New(ts.URL, "", &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	_, err := c.ServerInfo(context.Background())
	var ce *client.ConnError
	if !errors.As(err, &ce) {
		t.Fatalf("ServerInfo against a TLS 1.2 server: error = %v, want *ConnError", err)
	}
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = client.New("https://"+addr, "", nil).ServerInfo(context.Background())
	var ce *client.ConnError
	if !errors.As(err, &ce) {
		t.Fatalf("ServerInfo against a closed port: error = %v (%T), want *ConnError", err, err)
	}
	if errors.Is(err, client.ErrUntrustedCertificate) {
		t.Errorf("a refused connection matches ErrUntrustedCertificate")
	}
}

func TestNotTheAPI(t *testing.T) {
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	}))
	ts.StartTLS()
	defer ts.Close()
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	_, err := client.New(ts.URL, "", &tls.Config{RootCAs: pool}).Whoami(context.Background())
	var ce *client.ConnError
	if !errors.As(err, &ce) {
		t.Fatalf("Whoami against a proxy's error page: error = %v (%T), want *ConnError", err, err)
	}
}
