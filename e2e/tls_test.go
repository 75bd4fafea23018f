package e2e

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/testutil/testcerts"
)

// tlsPKI is the certificates of a cluster with TLS and mTLS on both
// sides, written by package testcerts into the test's temporary
// directories: one CA for the clients and the client URLs, another for
// the members' peer certificates.
type tlsPKI struct {
	clientCA, peerCA *testcerts.CA
}

// flags returns the TLS flags of member name, with certificates issued
// for it.
func (p tlsPKI) flags(t testing.TB, name string) []string {
	cert, key := p.clientCA.Issue(t, name, true)
	peerCert, peerKey := p.peerCA.Issue(t, name, true)
	return []string{
		"--cert-file", cert, "--key-file", key, "--trusted-ca-file", p.clientCA.CertFile, "--client-cert-auth",
		"--peer-cert-file", peerCert, "--peer-key-file", peerKey, "--peer-trusted-ca-file", p.peerCA.CertFile, "--peer-client-cert-auth",
	}
}

// client returns an HTTP client, with the timeouts of newHTTPClient, that
// trusts roots and presents a certificate of certCA with common name cn
// ("": none).
func (p tlsPKI) client(t testing.TB, roots, certCA *testcerts.CA, cn string) *http.Client {
	var cert, key string
	if cn != "" {
		cert, key = certCA.Issue(t, cn, false)
	}
	hc := newHTTPClient(t)
	hc.Transport.(*http.Transport).TLSClientConfig = roots.ClientConfig(t, cert, key)
	return hc
}

// TestCluster_TLSFailover runs three server processes with TLS and client
// certificate authentication on the client URLs and on the peer port
// (the flags of ../shared/api.md), checks who gets in, and then kills the
// leader with SIGKILL while writers write through the two others: a new
// leader takes over, the writes go on, the killed member restarts and
// catches up over peer TLS, and no acknowledged write is lost.
func TestCluster_TLSFailover(t *testing.T) {
	begin := time.Now()
	pki := tlsPKI{clientCA: testcerts.NewCA(t, "e2e client CA"), peerCA: testcerts.NewCA(t, "e2e peer CA")}
	c := newClusterOf(t, 3, "https", pki.client(t, pki.clientCA, pki.clientCA, "root"),
		func(name string) []string { return pki.flags(t, name) })
	t.Logf("3 members with TLS ready in %v", time.Since(begin))

	t.Run("WhoGetsIn", func(t *testing.T) {
		m := c.members[0]
		untrusted := testcerts.NewCA(t, "untrusted")
		plainURL := strings.Replace(m.clientURL, "https://", "http://", 1)
		refusals := []struct {
			name string
			hc   *http.Client
			url  string
		}{
			{name: "PlainHTTP", hc: newHTTPClient(t), url: plainURL},
			{name: "NoClientCertificate", hc: pki.client(t, pki.clientCA, nil, ""), url: m.clientURL},
			{name: "UntrustedClientCertificate", hc: pki.client(t, pki.clientCA, untrusted, "root"), url: m.clientURL},
			{name: "PeerCertificateAsClient", hc: pki.client(t, pki.clientCA, pki.peerCA, "n1"), url: m.clientURL},
			{name: "UntrustedServer", hc: pki.client(t, untrusted, pki.clientCA, "root"), url: m.clientURL},
		}
		for _, r := range refusals {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.url+"/v1/status", nil)
			resp, err := r.hc.Do(req)
			cancel()
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					t.Errorf("%s: answered 200", r.name)
				}
				continue
			}
			t.Logf("%s: refused: %v", r.name, err)
		}
	})

	// A write through any member (forwarded to the leader over peer TLS)
	// is visible at once, with a linearizable read (read index over peer
	// TLS), through every member; then the leader is killed under writes.
	failoverUnderWrites(t, c, failoverRun{prefix: "tls/", writes: 20, queries: []string{"&serializable=true"}})
	t.Logf("test took %v", time.Since(begin))
}

// TestTLS_BadFileStopsTheStart: a member whose TLS file cannot be used
// exits at once with an error that names the flag and the file.
func TestTLS_BadFileStopsTheStart(t *testing.T) {
	t.Parallel()
	ca := testcerts.NewCA(t, "ca")
	cert, key := ca.Issue(t, "n1", true)
	_, otherKey := ca.Issue(t, "other", true)
	port, peerPort := freePort(t), freePort(t)
	base := []string{
		"--data-dir", t.TempDir(),
		"--listen-client-urls", "https://127.0.0.1:" + strconv.Itoa(port),
		"--listen-peer-urls", "https://127.0.0.1:" + strconv.Itoa(peerPort),
		"--cert-file", cert, "--key-file", key,
		"--peer-trusted-ca-file", ca.CertFile,
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "PeerKeyMismatch", args: []string{"--peer-cert-file", cert, "--peer-key-file", otherKey},
			want: "--peer-key-file " + otherKey + ": the private key does not match"},
		{name: "MissingPeerCert", args: []string{"--peer-cert-file", "/nonexistent/peer.pem", "--peer-key-file", key},
			want: "--peer-cert-file /nonexistent/peer.pem: open /nonexistent/peer.pem: no such file or directory"},
		{name: "NoPeerKey", args: []string{"--peer-cert-file", cert},
			want: "--peer-key-file: required: --listen-peer-urls is https://"},
	}
	for _, tt := range tests {
		m := newMember(t, newHTTPClient(t), "n1", port, append(append([]string(nil), base...), tt.args...))
		m.start()
		select {
		case <-m.cur.exited:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the server did not exit", tt.name)
		}
		m.cur.expected.Store(true)
		if m.cur.err == nil {
			t.Errorf("%s: the server exited with status 0", tt.name)
		}
		out, err := os.ReadFile(m.logPath)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), tt.want) {
			t.Errorf("%s: the server said:\n%s\nwant it to say %q", tt.name, out, tt.want)
		}
	}
}
