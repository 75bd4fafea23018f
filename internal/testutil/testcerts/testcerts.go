// Package testcerts makes certificate authorities and certificates for
// tests, as PEM files in a test's temporary directory:
//
//	ca := testcerts.NewCA(t, "cluster CA")
//	srvCert, srvKey := ca.Issue(t, "n1", true)    // SANs 127.0.0.1, ::1, localhost
//	cliCert, cliKey := ca.Issue(t, "alice", false) // a client certificate, CN alice
//	other := testcerts.NewCA(t, "untrusted")       // a CA nobody trusts
//	conf := ca.ClientConfig(t, cliCert, cliKey)    // trusts ca, presents alice
//
// Keys are ECDSA P-256; certificates are valid from an hour ago for a day.
// A server certificate is good for both ends of a connection (server and
// client authentication), as a member's peer certificate must be.
package testcerts

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// CA is a certificate authority whose certificate is in CertFile.
type CA struct {
	Name     string
	CertFile string // the CA certificate, PEM: what --trusted-ca-file takes
	Dir      string // where CertFile and the issued files are

	cert *x509.Certificate
	key  *ecdsa.PrivateKey

	mu sync.Mutex
	n  int // certificates issued, for unique file names
}

// NewCA makes a self-signed CA called name in a new temporary directory of
// t.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"cairn tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("testcerts: CA %q: %v", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testcerts: CA %q: %v", name, err)
	}
	dir := t.TempDir()
	ca := &CA{Name: name, Dir: dir, CertFile: filepath.Join(dir, fileName(name)+"-ca.pem"), cert: cert, key: key}
	writePEM(t, ca.CertFile, "CERTIFICATE", der)
	return ca
}

// Issue makes a certificate with common name cn signed by ca and writes it
// and its key to new files in ca.Dir, whose paths it returns. A server
// certificate names 127.0.0.1, ::1 and localhost (and cn when it is a host
// name or an IP address) and may authenticate either end of a connection;
// a client certificate authenticates a client only.
func (ca *CA) Issue(t testing.TB, cn string, server bool) (certFile, keyFile string) {
	t.Helper()
	cert, key := ca.issue(t, cn, server)
	ca.mu.Lock()
	ca.n++
	base := filepath.Join(ca.Dir, fmt.Sprintf("%s-%d", fileName(cn), ca.n))
	ca.mu.Unlock()
	certFile, keyFile = base+".pem", base+"-key.pem"
	writePEM(t, certFile, "CERTIFICATE", cert)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("testcerts: key of %q: %v", cn, err)
	}
	writePEM(t, keyFile, "PRIVATE KEY", der)
	return certFile, keyFile
}

// KeyPair is Issue without files: the certificate and key, ready for a
// tls.Config.
func (ca *CA) KeyPair(t testing.TB, cn string, server bool) tls.Certificate {
	t.Helper()
	der, key := ca.issue(t, cn, server)
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testcerts: %v", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// Pool returns a pool that trusts ca.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// Certificate returns the CA's certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// ClientConfig returns the TLS configuration of a client that trusts ca
// and, when certFile is not empty, presents the certificate in certFile
// and keyFile (which another CA may have issued). The certificate is
// presented whatever CAs the server says it accepts, as curl --cert does:
// Go's default would send none when its CA is not among them.
func (ca *CA) ClientConfig(t testing.TB, certFile, keyFile string) *tls.Config {
	t.Helper()
	conf := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
	if certFile != "" {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatalf("testcerts: %v", err)
		}
		conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
	}
	return conf
}

func (ca *CA) issue(t testing.TB, cn string, server bool) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"cairn tests"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		if ip := net.ParseIP(cn); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if isHostName(cn) && cn != "localhost" {
			tmpl.DNSNames = append(tmpl.DNSNames, cn)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatalf("testcerts: certificate %q: %v", cn, err)
	}
	return der, key
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testcerts: key: %v", err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		t.Fatalf("testcerts: serial: %v", err)
	}
	return n.Add(n, big.NewInt(1))
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatalf("testcerts: %v", err)
	}
}

// fileName makes a file name of a common name.
func fileName(cn string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '_':
			return r
		}
		return '_'
	}, cn)
}

// isHostName reports whether s looks like a DNS name.
func isHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}
