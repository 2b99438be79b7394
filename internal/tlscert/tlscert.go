// Package tlscert makes and loads the TLS certificate of a room server
// that runs without one from a public CA.
//
// Generate writes a self-signed ECDSA P-256 certificate (RFC 5280) that is
// its own CA, so a client pins it by trusting exactly that file:
// `cleanroom --ca cert.pem` on the command line, ClientConfig in code.
// ServerConfig and ClientConfig accept nothing older than TLS 1.3
// (RFC 8446).
package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cleanroom-dev/cleanroom/internal/atomicfile"
)

// CommonName is the subject common name of generated certificates.
const CommonName = "cleanroom local"

// defaultHosts are always in a generated certificate, so that it serves
// local clients whatever else it names.
var defaultHosts = []string{"localhost", "127.0.0.1", "::1"}

// Generate writes a new self-signed certificate to certPath (PEM
// "CERTIFICATE", mode 0644) and its ECDSA P-256 private key to keyPath
// (PKCS#8 PEM "PRIVATE KEY", mode 0600), replacing the files if they exist.
// Each file is written atomically; missing directories are created with
// mode 0700.
//
// The certificate is valid from an hour ago (to tolerate clock skew) for
// validFor, which must be positive. Its subject alternative names are hosts
// (each an IP address or a DNS name, "*.example.com" allowed) plus
// localhost, 127.0.0.1 and ::1. It is a CA, so that clients can pin it in
// a certificate pool, but a name-constrained one without intermediates: even
// if trusted more widely than intended, it can vouch only for its own names.
func Generate(certPath, keyPath string, hosts []string, validFor time.Duration) error {
	if validFor <= 0 {
		return fmt.Errorf("generate TLS certificate: validity %v is not positive", validFor)
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: CommonName},
		NotBefore:             time.Now().Add(-time.Hour).UTC(),
		NotAfter:              time.Now().Add(validFor).UTC(),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		// Critical, so that a verifier that does not understand name
		// constraints rejects the certificate instead of ignoring them.
		PermittedDNSDomainsCritical: true,
	}
	seen := map[string]bool{}
	for _, h := range append(append([]string{}, hosts...), defaultHosts...) {
		h = strings.TrimSpace(h)
		if ip := net.ParseIP(h); ip != nil {
			if !seen[ip.String()] {
				seen[ip.String()] = true
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
				bits := 8 * len(ip.To16())
				if ip4 := ip.To4(); ip4 != nil {
					ip, bits = ip4, 32
				}
				tmpl.PermittedIPRanges = append(tmpl.PermittedIPRanges,
					&net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			}
			continue
		}
		name := strings.ToLower(strings.TrimSuffix(h, "."))
		if err := checkDNSName(name); err != nil {
			return fmt.Errorf("generate TLS certificate: host %q: %w", h, err)
		}
		if !seen[name] {
			seen[name] = true
			tmpl.DNSNames = append(tmpl.DNSNames, name)
			// "a.example" permits a.example and its subdomains; ".example"
			// permits the subdomains a wildcard covers.
			tmpl.PermittedDNSDomains = append(tmpl.PermittedDNSDomains, strings.TrimPrefix(name, "*"))
		}
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return fmt.Errorf("generate TLS certificate: %w", err)
	}
	tmpl.SerialNumber = serial

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate TLS certificate: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return fmt.Errorf("generate TLS certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("generate TLS certificate: %w", err)
	}
	for _, p := range []string{keyPath, certPath} {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return fmt.Errorf("generate TLS certificate: %w", pathErr(filepath.Dir(p), err))
		}
	}
	// The key first: a certificate without its key is useless, while a key
	// without its certificate is only a leftover to be replaced.
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	clear(keyDER)
	err = writeFileAtomic(keyPath, keyPEM, 0o600)
	clear(keyPEM)
	if err != nil {
		return fmt.Errorf("generate TLS certificate: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
		return fmt.Errorf("generate TLS certificate: %w", err)
	}
	return nil
}

// checkDNSName accepts what may stand in a certificate's DNS name SAN:
// letters, digits, hyphens and dots, at most 253 characters, labels of 1 to
// 63 characters, and an optional leading "*." wildcard.
func checkDNSName(name string) error {
	if name == "" {
		return errors.New("empty host name")
	}
	if len(name) > 253 {
		return errors.New("host name longer than 253 characters")
	}
	for i, label := range strings.Split(name, ".") {
		if label == "*" && i == 0 && name != "*" {
			continue
		}
		if label == "" || len(label) > 63 {
			return errors.New("not an IP address or a DNS name (empty or over-long label)")
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("not an IP address or a DNS name (character %q)", c)
			}
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New("not an IP address or a DNS name (label starts or ends with '-')")
		}
	}
	return nil
}

// ServerConfig loads the certificate and key Generate wrote (or any PEM
// certificate chain and matching key) and returns a server configuration
// that accepts TLS 1.3 only. Errors name the file at fault.
func ServerConfig(certPath, keyPath string) (*tls.Config, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate: %w", pathErr(certPath, err))
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate: %w", pathErr(keyPath, err))
	}
	if _, err := parseCertificates(certPath, certPEM); err != nil {
		return nil, fmt.Errorf("load TLS certificate: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	clear(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate: %s (key of %s): %w", keyPath, certPath, err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{pair},
	}, nil
}

// ClientConfig returns a client configuration that accepts TLS 1.3 only
// and trusts exactly the PEM certificates in caPath: a certificate written
// by Generate, or the CA that issued the server's certificate. Errors name
// the file.
func ClientConfig(caPath string) (*tls.Config, error) {
	data, err := os.ReadFile(caPath)
	if err != nil {
		return nil, fmt.Errorf("load CA certificates: %w", pathErr(caPath, err))
	}
	certs, err := parseCertificates(caPath, data)
	if err != nil {
		return nil, fmt.Errorf("load CA certificates: %w", err)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		RootCAs:    pool,
	}, nil
}

// parseCertificates parses every PEM "CERTIFICATE" block in data, read from
// path. It fails on a block that does not parse, and if there is none.
// Blocks of other types (a key bundled in the same file) are skipped.
func parseCertificates(path string, data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: PEM block %d: %w", path, n, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s: no PEM \"CERTIFICATE\" block found", path)
	}
	return certs, nil
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	if err := atomicfile.Write(path, data, perm); err != nil {
		return pathErr(path, err)
	}
	return nil
}

// pathErr reports err, from an operation on path or on a temporary file for
// it, as "path: reason", keeping the reason wrapped for errors.Is.
func pathErr(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		err = le.Err
	}
	return fmt.Errorf("%s: %w", path, err)
}
