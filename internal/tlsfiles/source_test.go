package tlsfiles_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cairnkv/cairn/internal/testutil/testcerts"
	"github.com/cairnkv/cairn/internal/tlsfiles"
)

func TestLoad_Errors(t *testing.T) {
	t.Parallel()
	ca := testcerts.NewCA(t, "ca")
	cert, key := ca.Issue(t, "server", true)
	_, otherKey := ca.Issue(t, "other", true)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	garbage := write("garbage.pem", "not PEM at all\n")
	badDER := write("bad-der.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	encrypted := write("encrypted.pem", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		name     string
		files    tlsfiles.Files
		wantKind tlsfiles.Kind
		wantPath string
		wantErr  error
	}{
		{name: "MissingCert", files: tlsfiles.Files{CertFile: missing, KeyFile: key}, wantKind: tlsfiles.KindCert, wantPath: missing, wantErr: fs.ErrNotExist},
		{name: "MissingKey", files: tlsfiles.Files{CertFile: cert, KeyFile: missing}, wantKind: tlsfiles.KindKey, wantPath: missing, wantErr: fs.ErrNotExist},
		{name: "MissingCA", files: tlsfiles.Files{CAFile: missing}, wantKind: tlsfiles.KindCA, wantPath: missing, wantErr: fs.ErrNotExist},
		{name: "CertNotPEM", files: tlsfiles.Files{CertFile: garbage, KeyFile: key}, wantKind: tlsfiles.KindCert, wantPath: garbage, wantErr: tlsfiles.ErrNoPEM},
		{name: "KeyNotPEM", files: tlsfiles.Files{CertFile: cert, KeyFile: garbage}, wantKind: tlsfiles.KindKey, wantPath: garbage, wantErr: tlsfiles.ErrNoPEM},
		{name: "KeyIsACert", files: tlsfiles.Files{CertFile: cert, KeyFile: cert}, wantKind: tlsfiles.KindKey, wantPath: cert, wantErr: tlsfiles.ErrNoPEM},
		{name: "CANotPEM", files: tlsfiles.Files{CAFile: garbage}, wantKind: tlsfiles.KindCA, wantPath: garbage, wantErr: tlsfiles.ErrNoPEM},
		{name: "CertBadDER", files: tlsfiles.Files{CertFile: badDER, KeyFile: key}, wantKind: tlsfiles.KindCert, wantPath: badDER},
		{name: "EncryptedKey", files: tlsfiles.Files{CertFile: cert, KeyFile: encrypted}, wantKind: tlsfiles.KindKey, wantPath: encrypted, wantErr: tlsfiles.ErrEncryptedKey},
		{name: "KeyMismatch", files: tlsfiles.Files{CertFile: cert, KeyFile: otherKey}, wantKind: tlsfiles.KindKey, wantPath: otherKey, wantErr: tlsfiles.ErrKeyMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tlsfiles.Load(tt.files, tlsfiles.Options{})
			var fe *tlsfiles.FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error = %v, want a *FileError", err)
			}
			if fe.Kind != tt.wantKind || fe.Path != tt.wantPath {
				t.Errorf("error about %v %s, want %v %s (%v)", fe.Kind, fe.Path, tt.wantKind, tt.wantPath, err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error = %v, want it to wrap %v", err, tt.wantErr)
			}
		})
	}

	t.Run("ErrNoFiles", func(t *testing.T) {
		t.Parallel()
		for _, f := range []tlsfiles.Files{{}, {CertFile: cert}, {KeyFile: key, CAFile: ca.CertFile}} {
			if _, err := tlsfiles.Load(f, tlsfiles.Options{}); !errors.Is(err, tlsfiles.ErrNoFiles) {
				t.Errorf("Load(%+v) = %v, want ErrNoFiles", f, err)
			}
		}
	})

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		s, err := tlsfiles.Load(tlsfiles.Files{CertFile: cert, KeyFile: key, CAFile: ca.CertFile}, tlsfiles.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if c := s.Certificate(); c == nil || c.Leaf.Subject.CommonName != "server" {
			t.Fatalf("certificate = %+v", c)
		}
	})
}

// serve accepts TLS connections with conf on 127.0.0.1 until the test
// ends; each connection gets the server's verified client CN, or "-", and
// is closed.
func serve(t *testing.T, conf *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := c.(*tls.Conn)
				_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
				if err := tc.Handshake(); err != nil {
					return
				}
				cn := "-"
				if st := tc.ConnectionState(); len(st.VerifiedChains) > 0 {
					cn = st.VerifiedChains[0][0].Subject.CommonName
				}
				_, _ = io.WriteString(tc, cn)
			}()
		}
	}()
	return ln.Addr().String()
}

// dial connects with conf and returns the server's leaf certificate and
// what the server said (its view of the client's CN).
func dial(addr string, conf *tls.Config) (*x509.Certificate, string, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, conf)
	if err != nil {
		return nil, "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		return nil, "", err
	}
	return c.ConnectionState().PeerCertificates[0], string(b), nil
}

// replace puts the contents of src at dst, atomically (a rename), as a
// careful rotation does.
func replace(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

func copyTo(t *testing.T, dir, src string) string {
	t.Helper()
	dst := filepath.Join(dir, filepath.Base(src))
	replace(t, src, dst)
	return dst
}

// TestSource_Rotation: a certificate, key and CA replaced on disk are used
// by the next handshake, without a new Source; files that do not load
// leave the last good material in use.
func TestSource_Rotation(t *testing.T) {
	t.Parallel()
	oldCA, newCA := testcerts.NewCA(t, "old CA"), testcerts.NewCA(t, "new CA")
	dir := t.TempDir()
	c1, k1 := oldCA.Issue(t, "server-1", true)
	certFile, keyFile, caFile := copyTo(t, dir, c1), copyTo(t, dir, k1), copyTo(t, dir, oldCA.CertFile)
	src, err := tlsfiles.Load(tlsfiles.Files{CertFile: certFile, KeyFile: keyFile, CAFile: caFile},
		tlsfiles.Options{CheckInterval: -1, Logger: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	conf, err := src.ServerConfig(tls.RequireAndVerifyClientCert)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, conf)
	oldClientCert, oldClientKey := oldCA.Issue(t, "alice", false)
	newClientCert, newClientKey := newCA.Issue(t, "bob", false)

	check := func(t *testing.T, roots *testcerts.CA, cert, key, wantServer, wantClient string) {
		t.Helper()
		leaf, cn, err := dial(addr, roots.ClientConfig(t, cert, key))
		if err != nil {
			t.Fatalf("handshake (server %s, client %s): %v", wantServer, wantClient, err)
		}
		if leaf.Subject.CommonName != wantServer || cn != wantClient {
			t.Fatalf("server presented %q and saw client %q, want %q and %q", leaf.Subject.CommonName, cn, wantServer, wantClient)
		}
	}
	check(t, oldCA, oldClientCert, oldClientKey, "server-1", "alice")

	t.Run("NewCertificate", func(t *testing.T) {
		c2, k2 := oldCA.Issue(t, "server-2", true)
		replace(t, c2, certFile)
		replace(t, k2, keyFile)
		check(t, oldCA, oldClientCert, oldClientKey, "server-2", "alice")
	})

	t.Run("HalfWrittenKeepsLastGood", func(t *testing.T) {
		// A new certificate whose key is not there yet: a mismatch.
		c3, k3 := oldCA.Issue(t, "server-3", true)
		replace(t, c3, certFile)
		check(t, oldCA, oldClientCert, oldClientKey, "server-2", "alice")
		// A truncated key.
		if err := os.WriteFile(keyFile, []byte("-----BEGIN PRIVATE KEY-----\nMIG"), 0o600); err != nil {
			t.Fatal(err)
		}
		check(t, oldCA, oldClientCert, oldClientKey, "server-2", "alice")
		// A missing file.
		if err := os.Remove(keyFile); err != nil {
			t.Fatal(err)
		}
		check(t, oldCA, oldClientCert, oldClientKey, "server-2", "alice")
		// Complete at last.
		replace(t, k3, keyFile)
		check(t, oldCA, oldClientCert, oldClientKey, "server-3", "alice")
	})

	t.Run("NewClientCA", func(t *testing.T) {
		if _, _, err := dial(addr, oldCA.ClientConfig(t, newClientCert, newClientKey)); err == nil {
			t.Fatal("a client certificate of the new CA was accepted before the CA file changed")
		}
		replace(t, newCA.CertFile, caFile)
		check(t, oldCA, newClientCert, newClientKey, "server-3", "bob")
		if _, _, err := dial(addr, oldCA.ClientConfig(t, oldClientCert, oldClientKey)); err == nil {
			t.Fatal("a client certificate of the old CA is still accepted after the CA file changed")
		}
	})
}

// TestSource_CheckInterval: within the interval the files are not looked
// at; after it, they are.
func TestSource_CheckInterval(t *testing.T) {
	t.Parallel()
	ca := testcerts.NewCA(t, "ca")
	dir := t.TempDir()
	c1, k1 := ca.Issue(t, "one", true)
	certFile, keyFile := copyTo(t, dir, c1), copyTo(t, dir, k1)
	const interval = 200 * time.Millisecond
	src, err := tlsfiles.Load(tlsfiles.Files{CertFile: certFile, KeyFile: keyFile}, tlsfiles.Options{CheckInterval: interval})
	if err != nil {
		t.Fatal(err)
	}
	c2, k2 := ca.Issue(t, "two", true)
	replace(t, c2, certFile)
	replace(t, k2, keyFile)
	start := time.Now()
	if cn := src.Certificate().Leaf.Subject.CommonName; cn != "one" && time.Since(start) < interval {
		t.Fatalf("certificate %q within the check interval, want the loaded one", cn)
	}
	deadline := time.Now().Add(5 * time.Second)
	for src.Certificate().Leaf.Subject.CommonName != "two" {
		if time.Now().After(deadline) {
			t.Fatal("the new certificate was not loaded after the check interval")
		}
		time.Sleep(interval / 4)
	}
}

// TestSource_ClientConfig: the client side verifies the server against the
// CAs of the moment and presents its certificate.
func TestSource_ClientConfig(t *testing.T) {
	t.Parallel()
	ca, other := testcerts.NewCA(t, "ca"), testcerts.NewCA(t, "other")
	srvCert, srvKey := ca.Issue(t, "server", true)
	srv, err := tlsfiles.Load(tlsfiles.Files{CertFile: srvCert, KeyFile: srvKey, CAFile: ca.CertFile}, tlsfiles.Options{})
	if err != nil {
		t.Fatal(err)
	}
	conf, err := srv.ServerConfig(tls.VerifyClientCertIfGiven)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, conf)

	dir := t.TempDir()
	cliCert, cliKey := ca.Issue(t, "member", true)
	caFile := copyTo(t, dir, other.CertFile)
	cli, err := tlsfiles.Load(tlsfiles.Files{CertFile: cliCert, KeyFile: cliKey, CAFile: caFile}, tlsfiles.Options{CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := dial(addr, cli.ClientConfig("127.0.0.1")); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("dial with roots of another CA: %v, want a certificate error", err)
	}
	replace(t, ca.CertFile, caFile)
	if _, _, err := dial(addr, cli.ClientConfig("localhost")); err != nil {
		t.Fatalf("dial after the CA file was replaced: %v", err)
	}
	if _, _, err := dial(addr, cli.ClientConfig("example.com")); err == nil {
		t.Fatal("a server name the certificate does not have was accepted")
	}
	_, cn, err := dial(addr, cli.ClientConfig("127.0.0.1"))
	if err != nil || cn != "member" {
		t.Fatalf("the server saw client %q (%v), want member", cn, err)
	}
	// Without a client certificate, VerifyClientCertIfGiven lets it in
	// unauthenticated.
	_, cn, err = dial(addr, ca.ClientConfig(t, "", ""))
	if err != nil || cn != "-" {
		t.Fatalf("without a client certificate: %q, %v; want no CN and no error", cn, err)
	}
}

// TestSource_ServerConfigNeeds: a server needs a certificate, and
// verifying clients needs CAs.
func TestSource_ServerConfigNeeds(t *testing.T) {
	t.Parallel()
	ca := testcerts.NewCA(t, "ca")
	onlyCA, err := tlsfiles.Load(tlsfiles.Files{CAFile: ca.CertFile}, tlsfiles.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := onlyCA.ServerConfig(tls.NoClientCert); err == nil {
		t.Error("a server config without a certificate")
	}
	c, k := ca.Issue(t, "s", true)
	noCA, err := tlsfiles.Load(tlsfiles.Files{CertFile: c, KeyFile: k}, tlsfiles.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noCA.ServerConfig(tls.RequireAndVerifyClientCert); err == nil {
		t.Error("client certificate verification without CAs")
	}
	if _, err := noCA.ServerConfig(tls.NoClientCert); err != nil {
		t.Error(err)
	}
}
