package raft

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cairnkv/cairn/internal/ports/portstest"
	"github.com/cairnkv/cairn/internal/testutil/testcerts"
)

// testPeerTLS returns the peer TLS of a member with a certificate of ca,
// requiring the other members' certificates to be of ca too.
func testPeerTLS(t *testing.T, ca *testcerts.CA, name string) *PeerTLS {
	t.Helper()
	cert := ca.KeyPair(t, name, true)
	return &PeerTLS{
		Server: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert},
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool()},
		Client: func(serverName string) *tls.Config {
			return &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName, RootCAs: ca.Pool(), Certificates: []tls.Certificate{cert}}
		},
	}
}

// TestPeerMux_TLS: with peer TLS, the protocol byte comes inside the TLS
// stream; a connection without TLS, or without a certificate of the CA,
// is refused; and a connection that stalls its handshake holds up no
// other.
func TestPeerMux_TLS(t *testing.T) {
	t.Parallel()
	ca := testcerts.NewCA(t, "peer CA")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := testPeerTLS(t, ca, "server")
	m := newPeerMux(ln, srv.Server, zerolog.New(zerolog.NewTestWriter(t)))
	defer m.close()
	addr := ln.Addr().String()

	// A connection that never starts its handshake.
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			a, err := m.acceptRaft()
			if err != nil {
				return
			}
			accepted <- a
		}
	}()

	t.Run("Member", func(t *testing.T) {
		c, err := dialPeer(ctx, &net.Dialer{}, addr, peerProtoRaft, testPeerTLS(t, ca, "client").clientConfig(addr))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, ok := c.(*tls.Conn); !ok {
			t.Fatalf("dialled a %T, want a *tls.Conn", c)
		}
		select {
		case a := <-accepted:
			defer a.Close()
			tc, ok := a.(*tls.Conn)
			if !ok {
				t.Fatalf("accepted a %T, want a *tls.Conn", a)
			}
			if cn := tc.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "client" {
				t.Fatalf("the accepted connection's certificate is %q", cn)
			}
			if _, err := c.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4)
			if _, err := io.ReadFull(a, buf); err != nil || string(buf) != "ping" {
				t.Fatalf("read %q, %v", buf, err)
			}
		case <-ctx.Done():
			t.Fatal("the Raft connection was not accepted, behind a silent one")
		}
	})

	refused := func(t *testing.T, c net.Conn) {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("the connection was not closed")
		}
		select {
		case a := <-accepted:
			a.Close()
			t.Fatal("the connection was accepted")
		default:
		}
	}

	t.Run("Plain", func(t *testing.T) {
		c, err := dialPeer(ctx, &net.Dialer{}, addr, peerProtoRaft, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// What a member without peer TLS sends next: a Raft RPC.
		if _, err := c.Write([]byte{0, 0x81, 0xa4, 0x54, 0x65, 0x72, 0x6d}); err != nil {
			t.Fatal(err)
		}
		refused(t, c)
	})

	t.Run("NoCertificate", func(t *testing.T) {
		conf := &tls.Config{ServerName: "127.0.0.1", RootCAs: ca.Pool()}
		c, err := dialPeer(ctx, &net.Dialer{}, addr, peerProtoRaft, conf)
		if err != nil {
			return // refused during the handshake (TLS 1.2)
		}
		defer c.Close()
		refused(t, c)
	})

	t.Run("CertificateOfAnotherCA", func(t *testing.T) {
		other := testcerts.NewCA(t, "other CA").KeyPair(t, "intruder", true)
		conf := &tls.Config{ServerName: "127.0.0.1", RootCAs: ca.Pool(),
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &other, nil }}
		c, err := dialPeer(ctx, &net.Dialer{}, addr, peerProtoRaft, conf)
		if err != nil {
			return
		}
		defer c.Close()
		refused(t, c)
	})

	t.Run("ServerNotTrusted", func(t *testing.T) {
		// The dialling member verifies the server: a peer port whose
		// certificate is of another CA is not dialled, and the error is a
		// dial error (nothing was sent).
		other := testcerts.NewCA(t, "other CA")
		_, err := dialPeer(ctx, &net.Dialer{}, addr, peerProtoRaft, testPeerTLS(t, other, "client").clientConfig(addr))
		var op *net.OpError
		if err == nil || !strings.Contains(err.Error(), "unknown authority") || !errors.As(err, &op) || op.Op != "dial" {
			t.Fatalf("dial a peer port of another CA: %v, want a dial error about an unknown authority", err)
		}
	})

	t.Run("WrongServerName", func(t *testing.T) {
		conf := testPeerTLS(t, ca, "client").Client("member.example")
		if _, err := dialPeer(ctx, &net.Dialer{}, addr, peerProtoRaft, conf); err == nil {
			t.Fatal("a peer port whose certificate does not name the host it was dialled by was accepted")
		}
	})
}

// TestPeerMux_TLSToPlainPort: a member with peer TLS dialling a member
// without it fails at once, and the member without it says why.
func TestPeerMux_TLSToPlainPort(t *testing.T) {
	t.Parallel()
	ca := testcerts.NewCA(t, "peer CA")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := newPeerMux(ln, nil, zerolog.New(zerolog.NewTestWriter(t)))
	defer m.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr := ln.Addr().String()
	if _, err := dialPeer(ctx, &net.Dialer{}, addr, peerProtoRaft, testPeerTLS(t, ca, "client").clientConfig(addr)); err == nil {
		t.Fatal("a TLS dial to a plain peer port succeeded")
	}
}

// TestNode_PeerTLS: a member with peer TLS serves the members' HTTP over
// TLS to its own PeerTransport, under an https:// leader URL, and the
// handler sees the verified certificate.
func TestNode_PeerTLS(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ca := testcerts.NewCA(t, "peer CA")
	addr := freeAddr(t)
	n, err := New(Config{
		Name: "n1", DataDir: t.TempDir(), BindAddr: addr, AdvertisePeerURL: "https://" + addr,
		ClientURLs:     []string{"https://127.0.0.1:1"},
		InitialCluster: []Peer{{Name: "n1", PeerURL: "https://" + addr}},
		Bootstrap:      true, HeartbeatInterval: 20 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
		Logger:  zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		PeerTLS: testPeerTLS(t, ca, "n1"),
	}, portstest.NewBackend())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	n.ServePeerHTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn := "-"
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
			cn = r.TLS.VerifiedChains[0][0].Subject.CommonName
		}
		_, _ = io.WriteString(w, "served "+r.Header.Get(HeaderMember)+" "+cn)
	}))
	if err := n.ReadBarrier(ctx); err != nil {
		t.Fatal(err)
	}
	base, err := n.LeaderPeerURL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if base != "https://"+addr {
		t.Fatalf("leader peer URL %s, want https://%s", base, addr)
	}
	for _, u := range []string{base, "http://" + addr} { // the scheme does not decide: the member's TLS does
		resp, err := (&http.Client{Transport: n.PeerTransport(), Timeout: 10 * time.Second}).Get(u + PathReadIndex)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "served n1 n1" {
			t.Fatalf("%s: %d %q", u, resp.StatusCode, body)
		}
	}
	ms, err := n.Members()
	if err != nil || len(ms) != 1 || !strings.HasPrefix(ms[0].PeerURL, "https://") {
		t.Fatalf("members %+v, %v: want one with an https:// peer URL", ms, err)
	}
}
