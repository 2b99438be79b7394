package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// generate writes a certificate for hosts into a new temporary directory
// and returns the paths of the certificate and the key.
func generate(t *testing.T, hosts ...string) (certPath, keyPath string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tls")
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := Generate(certPath, keyPath, hosts, 24*time.Hour); err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return certPath, keyPath
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s: no CERTIFICATE block", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGenerate(t *testing.T) {
	certPath, keyPath := generate(t, "room.example.org", "10.0.0.5", "localhost", " *.rooms.example.org ")
	c := readCert(t, certPath)

	if c.Subject.CommonName != CommonName {
		t.Errorf("CommonName = %q, want %q", c.Subject.CommonName, CommonName)
	}
	if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != 0 {
		t.Errorf("IsCA = %v, BasicConstraintsValid = %v, MaxPathLen = %d; want a CA without intermediates",
			c.IsCA, c.BasicConstraintsValid, c.MaxPathLen)
	}
	if want := x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign; c.KeyUsage != want {
		t.Errorf("KeyUsage = %v, want %v", c.KeyUsage, want)
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("ExtKeyUsage = %v, want [ServerAuth]", c.ExtKeyUsage)
	}
	if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key is %T, want ECDSA P-256", c.PublicKey)
	}
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 || c.SerialNumber.BitLen() < 64 {
		t.Errorf("serial %v: want a random positive number of up to 128 bits", c.SerialNumber)
	}
	wantDNS := []string{"room.example.org", "localhost", "*.rooms.example.org"}
	if !slices.Equal(c.DNSNames, wantDNS) {
		t.Errorf("DNSNames = %q, want %q", c.DNSNames, wantDNS)
	}
	var ips []string
	for _, ip := range c.IPAddresses {
		ips = append(ips, ip.String())
	}
	if want := []string{"10.0.0.5", "127.0.0.1", "::1"}; !slices.Equal(ips, want) {
		t.Errorf("IPAddresses = %q, want %q", ips, want)
	}
	if !c.PermittedDNSDomainsCritical || len(c.PermittedDNSDomains) != 3 || len(c.PermittedIPRanges) != 3 {
		t.Errorf("name constraints: DNS %q, IP %v; want the certificate's own names, critical",
			c.PermittedDNSDomains, c.PermittedIPRanges)
	}
	if d := c.NotAfter.Sub(c.NotBefore); d < 24*time.Hour || d > 26*time.Hour {
		t.Errorf("validity = %v, want 24h plus the skew allowance", d)
	}
	for _, name := range []string{"room.example.org", "a.rooms.example.org", "localhost", "10.0.0.5", "::1"} {
		if err := c.VerifyHostname(name); err != nil {
			t.Errorf("VerifyHostname(%q): %v", name, err)
		}
	}

	if runtime.GOOS != "windows" {
		for path, want := range map[string]fs.FileMode{certPath: 0o644, keyPath: 0o600, filepath.Dir(keyPath): 0o700} {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != want {
				t.Errorf("mode of %s = %v, want %v", path, fi.Mode().Perm(), want)
			}
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(certPath)); len(entries) != 2 {
		t.Errorf("dir has %d entries, want 2 (no temporary files left)", len(entries))
	}

	// Regenerating replaces both files with a new pair that still matches.
	if err := Generate(certPath, keyPath, nil, time.Hour); err != nil {
		t.Fatalf("Generate again: %v", err)
	}
	if c2 := readCert(t, certPath); c2.SerialNumber.Cmp(c.SerialNumber) == 0 {
		t.Error("second Generate kept the old certificate")
	}
	if _, err := ServerConfig(certPath, keyPath); err != nil {
		t.Errorf("ServerConfig after regenerating: %v", err)
	}
}

func TestGenerateErrors(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	tests := []struct {
		hosts    []string
		validFor time.Duration
		want     string
	}{
		{nil, 0, "validity 0s is not positive"},
		{nil, -time.Hour, "is not positive"},
		{[]string{"https://room.example.org"}, time.Hour, `host "https://room.example.org": not an IP address or a DNS name`},
		{[]string{"room.example.org:8443"}, time.Hour, "not an IP address or a DNS name"},
		{[]string{"a..b"}, time.Hour, "empty or over-long label"},
		{[]string{"-a.example"}, time.Hour, "starts or ends with '-'"},
		{[]string{"a.*.example"}, time.Hour, "character '*'"},
		{[]string{""}, time.Hour, "empty host name"},
	}
	for _, tt := range tests {
		err := Generate(cert, key, tt.hosts, tt.validFor)
		if err == nil || !strings.HasPrefix(err.Error(), "generate TLS certificate: ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Generate(%q, %v) = %v, want an error containing %q", tt.hosts, tt.validFor, err, tt.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed Generate calls left %d files", len(entries))
	}
}

func TestHandshake(t *testing.T) {
	certPath, keyPath := generate(t, "room.example.org", "*.rooms.example.org")
	serverCfg, err := ServerConfig(certPath, keyPath)
	if err != nil {
		t.Fatalf("ServerConfig: %v", err)
	}
	clientCfg, err := ClientConfig(certPath)
	if err != nil {
		t.Fatalf("ClientConfig: %v", err)
	}
	if serverCfg.MinVersion != tls.VersionTLS13 || clientCfg.MinVersion != tls.VersionTLS13 {
		t.Errorf("MinVersion = %x (server), %x (client); want TLS 1.3", serverCfg.MinVersion, clientCfg.MinVersion)
	}

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.TLS = serverCfg
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes below are expected
	srv.StartTLS()
	defer srv.Close()

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: clientCfg}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatalf("GET over TLS with the pinned certificate: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Errorf("body = %q, want %q", body, "ok")
	}
	if resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13 {
		t.Fatalf("negotiated %v, want TLS 1.3", resp.TLS)
	}

	addr := srv.Listener.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	dial := func(cfg *tls.Config, serverName string) error {
		cfg = cfg.Clone()
		cfg.ServerName = serverName
		conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", port), cfg)
		if err != nil {
			return err
		}
		return conn.Close()
	}
	for _, name := range []string{"localhost", "room.example.org", "a.rooms.example.org"} {
		if err := dial(clientCfg, name); err != nil {
			t.Errorf("handshake as %s: %v", name, err)
		}
	}

	tls12 := clientCfg.Clone()
	tls12.MinVersion, tls12.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	if err := dial(tls12, "localhost"); err == nil {
		t.Error("a TLS 1.2-only client completed a handshake")
	}

	for _, name := range []string{"example.org", "a.b.rooms.example.org", "other.example.org"} {
		if err := dial(clientCfg, name); err == nil {
			t.Errorf("handshake as %s succeeded, a name the certificate does not hold", name)
		}
	}

	otherCert, _ := generate(t)
	otherCfg, err := ClientConfig(otherCert)
	if err != nil {
		t.Fatal(err)
	}
	var unknown x509.UnknownAuthorityError
	if err := dial(otherCfg, "localhost"); !errors.As(err, &unknown) {
		t.Errorf("handshake trusting another certificate: err = %v, want x509.UnknownAuthorityError", err)
	}
}

func TestConfigErrors(t *testing.T) {
	certPath, keyPath := generate(t)
	otherCert, otherKey := generate(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not PEM"), 0o600)
	badCert := filepath.Join(dir, "bad-cert.pem")
	os.WriteFile(badCert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}}), 0o600)

	tests := []struct {
		name string
		call func() error
		want string
		is   error
	}{
		{"server: missing certificate", func() error { _, err := ServerConfig(missing, keyPath); return err },
			"load TLS certificate: " + missing + ": ", fs.ErrNotExist},
		{"server: missing key", func() error { _, err := ServerConfig(certPath, missing); return err },
			"load TLS certificate: " + missing + ": ", fs.ErrNotExist},
		{"server: certificate not PEM", func() error { _, err := ServerConfig(garbage, keyPath); return err },
			"load TLS certificate: " + garbage + `: no PEM "CERTIFICATE" block found`, nil},
		{"server: certificate corrupt", func() error { _, err := ServerConfig(badCert, keyPath); return err },
			"load TLS certificate: " + badCert + ": PEM block 1: ", nil},
		{"server: key not PEM", func() error { _, err := ServerConfig(certPath, garbage); return err },
			"load TLS certificate: " + garbage + " (key of " + certPath + "): ", nil},
		{"server: key of another certificate", func() error { _, err := ServerConfig(certPath, otherKey); return err },
			"load TLS certificate: " + otherKey + " (key of " + certPath + "): tls: private key does not match public key", nil},
		{"client: missing file", func() error { _, err := ClientConfig(missing); return err },
			"load CA certificates: " + missing + ": ", fs.ErrNotExist},
		{"client: not PEM", func() error { _, err := ClientConfig(garbage); return err },
			"load CA certificates: " + garbage + `: no PEM "CERTIFICATE" block found`, nil},
		{"client: key instead of certificate", func() error { _, err := ClientConfig(keyPath); return err },
			"load CA certificates: " + keyPath + `: no PEM "CERTIFICATE" block found`, nil},
		{"client: corrupt certificate", func() error { _, err := ClientConfig(badCert); return err },
			"load CA certificates: " + badCert + ": PEM block 1: ", nil},
	}
	for _, tt := range tests {
		err := tt.call()
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to start with %q", tt.name, err, tt.want)
			continue
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("%s: err = %v does not wrap %v", tt.name, err, tt.is)
		}
	}

	// A bundle of several certificates is a pool of all of them.
	bundle := filepath.Join(dir, "bundle.pem")
	a, _ := os.ReadFile(certPath)
	b, _ := os.ReadFile(otherCert)
	os.WriteFile(bundle, append(a, b...), 0o600)
	if _, err := ClientConfig(bundle); err != nil {
		t.Errorf("ClientConfig(bundle): %v", err)
	}
}
