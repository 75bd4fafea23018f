package client_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cairnkv/cairn/client"
	"github.com/cairnkv/cairn/internal/app"
	"github.com/cairnkv/cairn/internal/testutil/testcerts"
	"github.com/cairnkv/cairn/internal/testutil/testlog"
)

// TestClient_TLS talks to a member with TLS and client certificate
// authentication, with a configuration built by NewTLSConfig.
func TestClient_TLS(t *testing.T) {
	t.Parallel()
	ca := testcerts.NewCA(t, "ca")
	peer := app.Peer{Name: "tls", URL: fmt.Sprintf("http://127.0.0.1:%d", mustFreePort())}
	port := mustFreePort()
	cfg := memberConfig("tls", t.TempDir(), port, []app.Peer{peer})
	cfg.ListenClientURLs = []string{fmt.Sprintf("https://127.0.0.1:%d", port)}
	cfg.AdvertiseClientURLs = cfg.ListenClientURLs
	cfg.CertFile, cfg.KeyFile = ca.Issue(t, "tls", true)
	cfg.TrustedCAFile, cfg.ClientCertAuth = ca.CertFile, true
	m, err := newMember(cfg, zerolog.New(testlog.Writer(t)).Level(zerolog.WarnLevel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.stop)
	if !strings.HasPrefix(m.URL, "https://") {
		t.Fatalf("client URL %s, want https://", m.URL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	certFile, keyFile := ca.Issue(t, "alice", false)
	conf, err := client.NewTLSConfig(client.TLSFiles{CAFile: ca.CertFile, CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	// A bare host:port is https:// when TLS is set.
	c := newClient(t, []string{strings.TrimPrefix(m.URL, "https://")}, func(c *client.Config) { c.TLS = conf })
	if got := c.Endpoints()[0]; got != m.URL {
		t.Fatalf("endpoint %s, want %s", got, m.URL)
	}
	waitFor(t, 20*time.Second, "a put over TLS", func() bool {
		_, err := c.Put(ctx, "tls/k", "v")
		return err == nil
	})
	resp, err := c.Get(ctx, "tls/k")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("get over TLS: %+v, %v", resp, err)
	}

	t.Run("NoClientCertificate", func(t *testing.T) {
		conf, err := client.NewTLSConfig(client.TLSFiles{CAFile: ca.CertFile})
		if err != nil {
			t.Fatal(err)
		}
		c := newClient(t, []string{m.URL}, func(c *client.Config) { c.TLS = conf; c.RequestTimeout = 2 * time.Second })
		if _, err := c.Get(ctx, "tls/k"); err == nil {
			t.Fatal("a client without a certificate was served")
		}
	})

	t.Run("UntrustedServer", func(t *testing.T) {
		other := testcerts.NewCA(t, "other")
		conf, err := client.NewTLSConfig(client.TLSFiles{CAFile: other.CertFile, CertFile: certFile, KeyFile: keyFile})
		if err != nil {
			t.Fatal(err)
		}
		c := newClient(t, []string{m.URL}, func(c *client.Config) { c.TLS = conf; c.RequestTimeout = 2 * time.Second })
		if _, err := c.Get(ctx, "tls/k"); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
			t.Fatalf("a member whose certificate the client does not trust: %v, want an unknown authority", err)
		}
	})

	t.Run("UntrustedClientCertificate", func(t *testing.T) {
		other := testcerts.NewCA(t, "other")
		cert, key := other.Issue(t, "mallory", false)
		conf, err := client.NewTLSConfig(client.TLSFiles{CAFile: ca.CertFile, CertFile: cert, KeyFile: key})
		if err != nil {
			t.Fatal(err)
		}
		c := newClient(t, []string{m.URL}, func(c *client.Config) { c.TLS = conf; c.RequestTimeout = 2 * time.Second })
		// Over HTTP/2 and TLS 1.3 the member's refusal comes after the
		// client's handshake, and Go's HTTP/2 client reports only that the
		// connection could not be established.
		if _, err := c.Get(ctx, "tls/k"); err == nil {
			t.Fatal("a client certificate of another CA was accepted")
		}
	})
}

func TestNewTLSConfig_Errors(t *testing.T) {
	t.Parallel()
	ca := testcerts.NewCA(t, "ca")
	cert, key := ca.Issue(t, "alice", false)
	tests := []struct {
		name  string
		files client.TLSFiles
		want  string
		is    error
	}{
		{name: "MissingCA", files: client.TLSFiles{CAFile: "/nonexistent/ca.pem"}, want: "CA file", is: fs.ErrNotExist},
		{name: "CANotPEM", files: client.TLSFiles{CAFile: key}, want: "no PEM certificate"},
		{name: "CertWithoutKey", files: client.TLSFiles{CertFile: cert}, want: "both CertFile and KeyFile"},
		{name: "KeyMismatch", files: client.TLSFiles{CertFile: cert, KeyFile: cert}, want: "client certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := client.NewTLSConfig(tt.files)
			if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
