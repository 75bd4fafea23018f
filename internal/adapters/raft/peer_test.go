package raft

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
	"github.com/rs/zerolog"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports/portstest"
)

// forger sends HTTP to a peer port, speaking the peer protocol, from the
// local IP given ("" for any) and with the member header given ("": none).
func forger(localIP, member string) *http.Client {
	d := &net.Dialer{}
	if localIP != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(localIP)}
	}
	tr := &http.Transport{DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
		return DialPeerHTTP(ctx, d, addr)
	}}
	var rt http.RoundTripper = tr
	if member != "" {
		rt = memberTransport{name: member, next: tr}
	}
	return &http.Client{Transport: rt, Timeout: 10 * time.Second}
}

// TestNode_PeerPortServesMembersOnly: the members' HTTP on the peer port
// answers a member of the cluster, and refuses with 403 a request that
// names no member, names one that is not in the configuration, or names a
// member but comes from another address. A connection without the
// protocol byte (a plain HTTP client) gets no answer at all.
func TestNode_PeerPortServesMembersOnly(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	addr := freeAddr(t)
	n := startNode(t, t.TempDir(), addr, portstest.NewBackend())
	defer n.Close()
	n.ServePeerHTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "served "+r.Header.Get(HeaderMember))
	}))
	if err := n.ReadBarrier(ctx); err != nil {
		t.Fatal(err)
	}
	url := "http://" + addr + PathPropose

	tests := []struct {
		name   string
		client *http.Client
		status int
		want   string // in the body
	}{
		{name: "Member", client: &http.Client{Transport: n.PeerTransport()}, status: http.StatusOK, want: "served n1"},
		{name: "NoMemberHeader", client: forger("", ""), status: http.StatusForbidden, want: "names none"},
		{name: "NotAMember", client: forger("", "intruder"), status: http.StatusForbidden, want: `intruder\" is not a member of this cluster`},
		{name: "MemberFromAnotherIP", client: forger("127.0.0.2", "n1"), status: http.StatusForbidden, want: "this request comes from 127.0.0.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tt.client.Post(url, "application/octet-stream", strings.NewReader("\x01\x01"))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.want) {
				t.Fatalf("%d %s, want %d and %q", resp.StatusCode, body, tt.status, tt.want)
			}
			if tt.status == http.StatusForbidden {
				var e struct {
					Error struct{ Code string } `json:"error"`
				}
				if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != "permission_denied" {
					t.Fatalf("error body %s: code %q, %v; want permission_denied", body, e.Error.Code, err)
				}
			}
		})
	}
	if got := counterValue(t, n.metrics.peerRefused); got != 3 {
		t.Fatalf("cairn_peer_requests_refused_total = %v, want 3", got)
	}

	t.Run("PlainHTTP", func(t *testing.T) {
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Post(url, "application/octet-stream", strings.NewReader("x"))
		if err == nil {
			resp.Body.Close()
			t.Fatalf("a request without the protocol byte was answered: %d", resp.StatusCode)
		}
	})

	t.Run("Partitioned", func(t *testing.T) {
		if err := n.Partition([]string{"n1"}); err != nil {
			t.Fatal(err)
		}
		_, err := n.fwd.client.Post(url, "application/octet-stream", strings.NewReader("x"))
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" || !errors.Is(err, errPartitioned) {
			t.Fatalf("a request across a partition: %v, want a dial error (never sent)", err)
		}
		if err := n.Partition(nil); err != nil {
			t.Fatal(err)
		}
	})

	// A stopping member answers its peers no_leader, which they retry on
	// the next leader, before it hands its leadership over.
	t.Run("Stopping", func(t *testing.T) {
		n.stream.mux.drainHTTP(time.Second)
		resp, err := n.fwd.client.Post(url, "application/octet-stream", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"no_leader"`) || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("request to a stopping member: %d %s, want 503 no_leader with Retry-After", resp.StatusCode, body)
		}
		if err := decodeRemoteError(resp.StatusCode, body); !errors.Is(err, domain.ErrNotLeader) {
			t.Fatalf("the sender reads %v, want a retryable not-leader", err)
		}
	})
}

// TestPeerMux_SilentConnection: a connection that never sends its
// protocol byte is closed after the handshake timeout and does not hold
// up the others.
func TestPeerMux_SilentConnection(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := newPeerMux(ln, nil, zerolog.New(zerolog.NewTestWriter(t)))
	defer m.close()

	silent, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := dialPeer(ctx, &net.Dialer{}, ln.Addr().String(), peerProtoRaft, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		a, err := m.acceptRaft()
		if err == nil {
			accepted <- a
		}
	}()
	select {
	case a := <-accepted:
		a.Close()
	case <-ctx.Done():
		t.Fatal("a Raft connection waited behind a silent one")
	}
}

// TestStreamLayer_HTTPLeavesFromTheAdvertisedIP: on a host with several
// addresses, a member's HTTP to the others comes from the IP it advertises,
// which is what the others check.
func TestStreamLayer_HTTPLeavesFromTheAdvertisedIP(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strings.TrimPrefix(freeAddr(t), "127.0.0.1:")
	s, err := newTCPStreamLayer("127.0.0.2:"+port, "127.0.0.2:"+port, nil, zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := s.dialHTTP(ctx, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if ip := a.RemoteAddr().(*net.TCPAddr).IP.String(); ip != "127.0.0.2" {
		t.Fatalf("the member's HTTP comes from %s, want its advertised 127.0.0.2", ip)
	}
}

// TestStreamLayer_RefusesAnotherClustersRaft: a Raft connection carries
// the dialler's cluster ID, and a member refuses one from another cluster
// (a peer URL that names a member of the wrong cluster), whose leader it
// would otherwise follow and whose log would replace its own. A member
// that does not know its cluster yet, on either side, is taken, and so is
// a member of an earlier version (no cluster ID).
func TestStreamLayer_RefusesAnotherClustersRaft(t *testing.T) {
	t.Parallel()
	layer := func(id uint64) *tcpStreamLayer {
		addr := freeAddr(t)
		s, err := newTCPStreamLayer(addr, addr, nil, zerolog.New(zerolog.NewTestWriter(t)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		s.setClusterID(func() uint64 { return id })
		return s
	}
	accepted := func(s *tcpStreamLayer, from *tcpStreamLayer, within time.Duration) bool {
		t.Helper()
		c, err := from.Dial(hraft.ServerAddress(s.Addr().String()), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		got := make(chan net.Conn, 1)
		go func() {
			if a, err := s.Accept(); err == nil {
				got <- a
			}
		}()
		select {
		case a := <-got:
			a.Close()
			return true
		case <-time.After(within):
			// Refused: the dialler's connection is closed by the member.
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Read(make([]byte, 1)); err == nil {
				t.Fatal("a refused connection was not closed")
			}
			return false
		}
	}

	ours := layer(0xA)
	if !accepted(ours, layer(0xA), 5*time.Second) {
		t.Fatal("a member of the same cluster was refused")
	}
	if !accepted(ours, layer(0), 5*time.Second) {
		t.Fatal("a member that does not know its cluster yet was refused")
	}
	if !accepted(layer(0), layer(0xB), 5*time.Second) {
		t.Fatal("a member that does not know its cluster yet refused one that does")
	}
	// A member of an earlier version sends 0xC1 and no cluster ID.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := dialPeer(ctx, &net.Dialer{}, ours.Addr().String(), peerProtoRaft, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if a, err := ours.Accept(); err != nil {
		t.Fatal(err)
	} else {
		a.Close()
	}

	// Last: the refused case leaves a goroutine waiting in Accept.
	if accepted(ours, layer(0xB), 500*time.Millisecond) {
		t.Fatal("a member of another cluster was taken")
	}
}

// TestNode_BootstrappingMemberKnowsItsCluster: a member that bootstraps a
// new cluster has applied nothing yet (here its peers are not even up), but
// it already refuses a Raft connection from another cluster and takes one
// from its own, whose ID it derives from the initial cluster.
func TestNode_BootstrappingMemberKnowsItsCluster(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	peers := []Peer{
		{Name: "n1", PeerURL: "http://" + addr},
		{Name: "n2", PeerURL: "http://" + freeAddr(t)},
		{Name: "n3", PeerURL: "http://" + freeAddr(t)},
	}
	n, err := New(Config{
		Name: "n1", DataDir: t.TempDir(), BindAddr: addr, AdvertisePeerURL: "http://" + addr,
		ClientURLs: []string{"http://127.0.0.1:1"}, InitialCluster: peers, Bootstrap: true,
		HeartbeatInterval: 20 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
	}, portstest.NewBackend())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if got, want := n.Header().ClusterID, ClusterID(peers); got != want || want == 0 {
		t.Fatalf("cluster ID before anything is applied: %x, want %x", got, want)
	}

	dialFrom := func(id uint64) net.Conn {
		other := freeAddr(t)
		s, err := newTCPStreamLayer(other, other, nil, zerolog.New(zerolog.NewTestWriter(t)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		s.setClusterID(func() uint64 { return id })
		c, err := s.Dial(hraft.ServerAddress(addr), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// The member's own Raft reads what its cluster's members send; another
	// cluster's connection is closed at once.
	c := dialFrom(ClusterID(peers) + 1)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a connection from another cluster was not closed: %v", err)
	}
	c = dialFrom(ClusterID(peers))
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a connection from the member's own cluster was closed: %v", err)
	}
}
