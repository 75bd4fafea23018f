package app

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	raftadapter "github.com/cairnkv/cairn/internal/adapters/raft"
	"github.com/cairnkv/cairn/internal/testutil/testcerts"
)

// clusterPKI is the certificates of a cluster with TLS and mTLS on both
// sides: one CA for the clients and the client URLs, another for the
// members' peer certificates.
type clusterPKI struct {
	clientCA, peerCA *testcerts.CA
	// client trusts clientCA and presents a certificate of it (CN root).
	client *http.Client
}

func newClusterPKI(t testing.TB) clusterPKI {
	t.Helper()
	p := clusterPKI{clientCA: testcerts.NewCA(t, "client CA"), peerCA: testcerts.NewCA(t, "peer CA")}
	cert, key := p.clientCA.Issue(t, "root", false)
	p.client = tlsHTTPClient(t, p.clientCA.ClientConfig(t, cert, key))
	return p
}

// tlsHTTPClient returns a client with conf that speaks HTTP/2 when the
// server offers it, as a Go client does by default.
func tlsHTTPClient(t testing.TB, conf *tls.Config) *http.Client {
	tr := &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 15 * time.Second}
}

// secure makes cfg a member of a cluster with TLS and mTLS on both sides,
// with certificates of pki issued for its name. The peer URLs of cfg must be
// https:// already.
func (p clusterPKI) secure(t testing.TB, cfg *Config) {
	t.Helper()
	cfg.ListenClientURLs = []string{strings.Replace(cfg.ListenClientURLs[0], "http://", "https://", 1)}
	cfg.AdvertiseClientURLs = cfg.ListenClientURLs
	cfg.CertFile, cfg.KeyFile = p.clientCA.Issue(t, cfg.Name, true)
	cfg.TrustedCAFile, cfg.ClientCertAuth = p.clientCA.CertFile, true
	cfg.PeerCertFile, cfg.PeerKeyFile = p.peerCA.Issue(t, cfg.Name, true)
	cfg.PeerTrustedCAFile, cfg.PeerClientCertAuth = p.peerCA.CertFile, true
}

// startTLSCluster starts n members with TLS and mTLS on the client and the
// peer side and waits until each is ready. adjust, when set, changes each
// configuration last.
func startTLSCluster(t testing.TB, n int, p clusterPKI, adjust func(*Config)) []*member {
	t.Helper()
	return startClusterOf(t, n, "https", p.client, func(cfg *Config) {
		p.secure(t, cfg)
		if adjust != nil {
			adjust(cfg)
		}
	})
}

// tlsLeaderIndex returns the index of the member every member names as
// leader, waiting for one.
func tlsLeaderIndex(t testing.TB, c *http.Client, ms []*member) int {
	t.Helper()
	idx := -1
	waitFor(t, 10*time.Second, "an agreed leader", func() bool {
		leader := ""
		for _, m := range ms {
			code, body := requestWith(c, http.MethodGet, m.URL+"/v1/status", "")
			var st statusBody
			if code != http.StatusOK || json.Unmarshal([]byte(body), &st) != nil || st.LeaderName == "" ||
				(leader != "" && st.LeaderName != leader) {
				return false
			}
			leader = st.LeaderName
		}
		for i, m := range ms {
			if m.cfg.Name == leader {
				idx = i
			}
		}
		return idx >= 0
	})
	return idx
}

// TestCluster_TLS runs a 3-member cluster with TLS and client certificate
// authentication on the client URLs and on the peer port: the members
// forward writes, read indexes, lease calls, hash checks and member
// additions to each other over peer TLS, and clients get in only with a
// certificate of the trusted CA.
func TestCluster_TLS(t *testing.T) {
	t.Parallel()
	pki := newClusterPKI(t)
	ms := startTLSCluster(t, 3, pki, nil)
	hc := pki.client
	li := tlsLeaderIndex(t, hc, ms)
	follower := ms[(li+1)%3]

	t.Run("WriteAndReadThroughFollower", func(t *testing.T) {
		// The write is forwarded to the leader, and the linearizable read
		// asks the leader for its read index, both over peer TLS.
		code, body, _ := retryUnavailable(t, "put via a follower", func() (int, string) {
			return requestWith(hc, http.MethodPut, follower.URL+"/v1/kv/tls/k", "v1")
		})
		if code != http.StatusOK {
			t.Fatalf("put via follower %s: %d %s", follower.cfg.Name, code, body)
		}
		for _, m := range ms {
			code, body, _ := retryUnavailable(t, "read", func() (int, string) {
				return requestWith(hc, http.MethodGet, m.URL+"/v1/kv/tls/k?raw", "")
			})
			if code != http.StatusOK || body != "v1" {
				t.Fatalf("linearizable read via %s: %d %q", m.cfg.Name, code, body)
			}
		}
	})

	t.Run("LeaseThroughFollower", func(t *testing.T) {
		// Lease calls on a follower are proxied to the leader's peer port.
		code, body, _ := retryUnavailable(t, "grant via a follower", func() (int, string) {
			return requestWith(hc, http.MethodPost, follower.URL+"/v1/leases", `{"ttl":60}`)
		})
		if code != http.StatusCreated {
			t.Fatalf("lease grant via follower: %d %s", code, body)
		}
	})

	t.Run("HashCheck", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		waitFor(t, 10*time.Second, "a hash check of a follower against the leader", func() bool {
			fi := (tlsLeaderIndex(t, hc, ms) + 1) % 3
			c, err := ms[fi].app.node.CheckHash(ctx)
			if err != nil {
				t.Logf("hash check: %v", err)
				return false
			}
			if c.Outcome == raftadapter.HashMismatch {
				t.Fatalf("hash mismatch: %+v", c)
			}
			return c.Outcome == raftadapter.HashMatch
		})
	})

	t.Run("ClientCertificates", func(t *testing.T) {
		untrusted := testcerts.NewCA(t, "untrusted")
		strangerCert, strangerKey := untrusted.Issue(t, "root", false)
		tests := []struct {
			name string
			conf *tls.Config
		}{
			{name: "NoCertificate", conf: pki.clientCA.ClientConfig(t, "", "")},
			{name: "UntrustedCA", conf: pki.clientCA.ClientConfig(t, strangerCert, strangerKey)},
			{name: "PeerCAIsNotClientCA", conf: pki.clientCA.ClientConfig(t, follower.cfg.PeerCertFile, follower.cfg.PeerKeyFile)},
		}
		for _, tt := range tests {
			code, body := requestWith(tlsHTTPClient(t, tt.conf), http.MethodGet, follower.URL+"/v1/kv/tls/k", "")
			if code != 0 {
				t.Errorf("%s: answered %d %s, want the TLS handshake refused", tt.name, code, body)
			}
		}
		// The server's certificate is verified too: a client that trusts
		// another CA does not talk to it.
		cert, key := pki.clientCA.Issue(t, "root", false)
		if code, body := requestWith(tlsHTTPClient(t, untrusted.ClientConfig(t, cert, key)), http.MethodGet, follower.URL+"/v1/status", ""); code != 0 {
			t.Errorf("a client that does not trust the server's CA: %d %s", code, body)
		}
		// Over HTTP/1.1 as over HTTP/2.
		h1 := pki.clientCA.ClientConfig(t, cert, key)
		h1.NextProtos = []string{"http/1.1"}
		h1c := &http.Client{Transport: &http.Transport{TLSClientConfig: h1}}
		code, body, _ := retryUnavailable(t, "read over HTTP/1.1", func() (int, string) {
			return requestWith(h1c, http.MethodGet, follower.URL+"/v1/kv/tls/k?raw", "")
		})
		if code != http.StatusOK || body != "v1" {
			t.Errorf("HTTP/1.1 with a trusted certificate: %d %s", code, body)
		}
	})

	t.Run("PlainHTTPToClientPort", func(t *testing.T) {
		code, body := requestWith(&http.Client{Timeout: 5 * time.Second}, http.MethodGet,
			strings.Replace(follower.URL, "https://", "http://", 1)+"/v1/kv/tls/k", "")
		if code == http.StatusOK || !strings.Contains(body, "HTTP request to an HTTPS server") {
			t.Fatalf("plain HTTP to the client port: %d %s, want 400 from the TLS server", code, body)
		}
	})

	t.Run("PeerPort", func(t *testing.T) {
		leader := ms[tlsLeaderIndex(t, hc, ms)]
		addr := strings.TrimPrefix(leader.cfg.InitialAdvertisePeerURL, "https://")
		noCert := &tls.Config{RootCAs: pki.peerCA.Pool(), ServerName: "127.0.0.1"}
		clientCACert := pki.clientCA.KeyPair(t, follower.cfg.Name, true)
		peerCACert := pki.peerCA.KeyPair(t, follower.cfg.Name, true)
		tests := []struct {
			name string
			dial func(ctx context.Context, d *net.Dialer, addr string) (net.Conn, error)
			ok   bool
		}{
			{name: "Plain", dial: raftadapter.DialPeerHTTP},
			{name: "NoCertificate", dial: func(ctx context.Context, d *net.Dialer, addr string) (net.Conn, error) {
				return raftadapter.DialPeerHTTPTLS(ctx, d, addr, noCert)
			}},
			{name: "CertificateOfAnotherCA", dial: func(ctx context.Context, d *net.Dialer, addr string) (net.Conn, error) {
				conf := noCert.Clone()
				// Sent even though the server names other CAs.
				conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &clientCACert, nil }
				return raftadapter.DialPeerHTTPTLS(ctx, d, addr, conf)
			}},
			// The control: a member's certificate, and its name.
			{name: "Member", ok: true, dial: func(ctx context.Context, d *net.Dialer, addr string) (net.Conn, error) {
				conf := noCert.Clone()
				conf.Certificates = []tls.Certificate{peerCACert}
				return raftadapter.DialPeerHTTPTLS(ctx, d, addr, conf)
			}},
		}
		for _, tt := range tests {
			d := &net.Dialer{}
			tr := &http.Transport{DialContext: func(ctx context.Context, _, a string) (net.Conn, error) { return tt.dial(ctx, d, a) }}
			c := &http.Client{Timeout: 10 * time.Second, Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				r = r.Clone(r.Context())
				r.Header.Set(raftadapter.HeaderMember, follower.cfg.Name)
				return tr.RoundTrip(r)
			})}
			code, body := requestWith(c, http.MethodGet, "http://"+addr+raftadapter.PathReadIndex, "")
			tr.CloseIdleConnections()
			switch {
			case tt.ok && code == 0:
				// Served: 200, or 503 not_leader if leadership moved.
				t.Errorf("%s: read index from the leader's peer port: %s, want an answer", tt.name, body)
			case !tt.ok && code == 0:
				t.Logf("%s: refused: %s", tt.name, body)
			case !tt.ok && code != 0:
				t.Errorf("%s: the leader's peer port answered %d %s, want the connection refused", tt.name, code, body)
			}
		}
	})

	t.Run("Join", func(t *testing.T) {
		// A fourth member joins through a follower's client URL (with its
		// client certificate), which forwards the addition to the leader
		// over peer TLS; the leader then replicates to it over peer TLS.
		cfg := testConfig(t, "n4", t.TempDir(), freePort(t), []Peer{{Name: "n4", URL: fmt.Sprintf("https://127.0.0.1:%d", freePort(t))}})
		pki.secure(t, &cfg)
		fi := (tlsLeaderIndex(t, hc, ms) + 1) % 3
		cfg.Join = ms[fi].URL
		n4 := startMember(t, cfg)
		waitReadyWith(t, hc, n4.URL, 30*time.Second)
		code, body, _ := retryUnavailable(t, "read via the new member", func() (int, string) {
			return requestWith(hc, http.MethodGet, n4.URL+"/v1/kv/tls/k?raw", "")
		})
		if code != http.StatusOK || body != "v1" {
			t.Fatalf("read via the joined member: %d %q", code, body)
		}
		code, body = requestWith(hc, http.MethodGet, n4.URL+"/v1/cluster/members", "")
		if code != http.StatusOK || strings.Count(body, `"peer_addr":"https://`) != 4 {
			t.Fatalf("members after the join: %d %s, want 4 with https:// peer URLs", code, body)
		}
	})
}

// TestCluster_TLSRotation: a member's client certificate replaced on disk
// is served to new connections without a restart.
func TestCluster_TLSRotation(t *testing.T) {
	t.Parallel()
	pki := newClusterPKI(t)
	dir := t.TempDir()
	ms := startTLSCluster(t, 1, pki, func(c *Config) {
		// Files the test may replace.
		c.CertFile, c.KeyFile = copyFile(t, c.CertFile, filepath.Join(dir, "server.pem")), copyFile(t, c.KeyFile, filepath.Join(dir, "server-key.pem"))
	})
	m := ms[0]
	serial := func() string {
		conf := pki.clientCA.ClientConfig(t, "", "")
		c, err := tls.Dial("tcp", strings.TrimPrefix(m.URL, "https://"), conf)
		if err != nil {
			// A TLS 1.3 client finishes before the server refuses it
			// for its missing certificate: the handshake itself works.
			t.Fatalf("handshake: %v", err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := serial()
	newCert, newKey := pki.clientCA.Issue(t, "n1-rotated", true)
	copyFile(t, newKey, m.cfg.KeyFile)
	copyFile(t, newCert, m.cfg.CertFile)
	waitFor(t, 10*time.Second, "the new certificate to be served", func() bool { return serial() != before })
	if code, body := requestWith(pki.client, http.MethodPut, m.URL+"/v1/kv/rotated", "yes"); code != http.StatusOK {
		t.Fatalf("put after the rotation: %d %s", code, body)
	}
}

// copyFile writes the contents of src to dst through a rename, and
// returns dst.
func copyFile(t testing.TB, src, dst string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst+".tmp", data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dst+".tmp", dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestMemberTLS_VerifiedChains: behind the https:// listener, a request
// carries the verified chain of its client certificate, over HTTP/1.1 and
// HTTP/2, where the HTTP layer reads the user's name.
func TestMemberTLS_VerifiedChains(t *testing.T) {
	t.Parallel()
	pki := newClusterPKI(t)
	cfg := tlsConfig("", "", pki.clientCA.CertFile, "", "", "")
	cfg.CertFile, cfg.KeyFile = pki.clientCA.Issue(t, "server", true)
	cfg.PeerCertFile, cfg.PeerKeyFile = pki.peerCA.Issue(t, "server", true)
	cfg.ClientCertAuth = false // a certificate is verified when given
	mt, err := loadTLS(cfg, zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn := "-"
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
			cn = r.TLS.VerifiedChains[0][0].Subject.CommonName
		}
		fmt.Fprintf(w, "%s %s", r.Proto, cn)
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(mt.listener("https://"+ln.Addr().String(), ln)) }()
	t.Cleanup(func() { srv.Close() })
	url := "https://" + ln.Addr().String() + "/"

	aliceCert, aliceKey := pki.clientCA.Issue(t, "alice", false)
	h1 := pki.clientCA.ClientConfig(t, aliceCert, aliceKey)
	h1.NextProtos = []string{"http/1.1"}
	strangerCert, strangerKey := testcerts.NewCA(t, "untrusted").Issue(t, "mallory", false)
	tests := []struct {
		name   string
		client *http.Client
		want   string // "" means refused
	}{
		{name: "HTTP2", client: tlsHTTPClient(t, pki.clientCA.ClientConfig(t, aliceCert, aliceKey)), want: "HTTP/2.0 alice"},
		{name: "HTTP1", client: &http.Client{Transport: &http.Transport{TLSClientConfig: h1}}, want: "HTTP/1.1 alice"},
		{name: "NoCertificate", client: tlsHTTPClient(t, pki.clientCA.ClientConfig(t, "", "")), want: "HTTP/2.0 -"},
		{name: "UntrustedCertificate", client: tlsHTTPClient(t, pki.clientCA.ClientConfig(t, strangerCert, strangerKey))},
	}
	for _, tt := range tests {
		resp, err := tt.client.Get(url)
		if err != nil {
			if tt.want != "" {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, body, tt.want)
		}
	}
}
