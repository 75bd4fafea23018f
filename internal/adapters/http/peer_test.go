package http

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/cairnkv/cairn/internal/domain"
)

// followerCluster is a member that does not lead: it knows the leader's
// members' API at leader, and records what reaches ProposeEncoded.
type followerCluster struct {
	fakeCluster
	leader string

	mu   sync.Mutex
	from []string
}

func (*followerCluster) IsLeader() bool { return false }
func (c *followerCluster) LeaderPeerURL(context.Context) (string, error) {
	return c.leader, nil
}
func (c *followerCluster) ProposeEncoded(_ context.Context, from string, _ []byte) ([]byte, error) {
	c.mu.Lock()
	c.from = append(c.from, from)
	c.mu.Unlock()
	return nil, domain.ErrNotLeader
}

func newFollowerServer(t *testing.T, c *followerCluster) *Server {
	t.Helper()
	return New(Config{MaxRequestBytes: 1024, Logger: zerolog.New(zerolog.NewTestWriter(t))},
		Services{KV: &fakeKV{}, Cluster: c, Hasher: fakeHasher{}})
}

// TestServer_InternalRoutesArePeerOnly: the members' calls are not on the
// client handler at all, and are on the peer handler.
func TestServer_InternalRoutesArePeerOnly(t *testing.T) {
	t.Parallel()
	c := &followerCluster{}
	s := newFollowerServer(t, c)
	client := httptest.NewServer(s.Handler())
	t.Cleanup(client.Close)
	peer := httptest.NewServer(s.PeerHandler())
	t.Cleanup(peer.Close)

	for _, r := range []struct{ method, path string }{
		{http.MethodPost, "/v1/internal/propose"},
		{http.MethodGet, "/v1/internal/read_index"},
	} {
		resp, body := send(t, r.method, client.URL+r.path, "\x01\x01")
		if resp.StatusCode != http.StatusNotFound || errorCode(body) != "not_found" {
			t.Errorf("client port: %s %s = %d %v, want 404 not_found", r.method, r.path, resp.StatusCode, body)
		}
		resp, body = send(t, r.method, peer.URL+r.path, "\x01\x01")
		if resp.StatusCode != http.StatusServiceUnavailable || errorCode(body) != "not_leader" {
			t.Errorf("peer port: %s %s = %d %v, want 503 not_leader", r.method, r.path, resp.StatusCode, body)
		}
	}

	// The sender's name reaches the node, which judges what it may propose.
	req, _ := http.NewRequest(http.MethodPost, peer.URL+"/v1/internal/propose", nil)
	req.Header.Set(headerMember, "n2")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	if got := c.from[len(c.from)-1]; got != "n2" {
		t.Fatalf("ProposeEncoded got from = %q, want n2", got)
	}
}

// TestServer_LeaseForwarding: a follower sends a lease call to the
// leader's members' API, whatever forwarding header the client sent, and
// a forwarded lease call that reaches a member that does not lead is
// answered no_leader, not sent on.
func TestServer_LeaseForwarding(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []string
	leader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":7,"ttl":10}`))
	}))
	t.Cleanup(leader.Close)
	s := newFollowerServer(t, &followerCluster{leader: leader.URL})
	client := httptest.NewServer(s.Handler())
	t.Cleanup(client.Close)

	req, _ := http.NewRequest(http.MethodPost, client.URL+"/v1/leases", nil)
	req.Header.Set("X-Cairn-Forwarded-By", "1") // a client's: means nothing
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("lease grant on a follower: %d, want the leader's 200", resp.StatusCode)
	}
	mu.Lock()
	if len(got) != 1 || got[0] != "POST /v1/leases" {
		t.Fatalf("the leader got %v, want one POST /v1/leases", got)
	}
	mu.Unlock()

	peer := httptest.NewServer(s.PeerHandler())
	t.Cleanup(peer.Close)
	r, body := send(t, http.MethodPost, peer.URL+"/v1/leases/7/keepalive", "")
	if r.StatusCode != http.StatusServiceUnavailable || errorCode(body) != "no_leader" {
		t.Fatalf("forwarded keepalive on a member that does not lead: %d %v, want 503 no_leader", r.StatusCode, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("a forwarded call was sent on: the leader got %v", got)
	}
}
