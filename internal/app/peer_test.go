package app

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	raftadapter "github.com/cairnkv/cairn/internal/adapters/raft"
)

// peerCall sends a request to a member's peer port with client and
// returns the status, the error code and the body.
func peerCall(t *testing.T, client *http.Client, m *member, method, path, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, strings.TrimSuffix(m.cfg.InitialAdvertisePeerURL, "/")+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s on %s's peer port: %v", method, path, m.cfg.Name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(b, &e)
	return resp.StatusCode, e.Error.Code, string(b)
}

// forgedPeerClient speaks the peer protocol from localIP ("": any),
// naming member ("": none) the way a member does, without being one.
func forgedPeerClient(localIP, member string) *http.Client {
	d := &net.Dialer{}
	if localIP != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(localIP)}
	}
	tr := &http.Transport{DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
		return raftadapter.DialPeerHTTP(ctx, d, addr)
	}}
	return &http.Client{Timeout: 10 * time.Second, Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if member != "" {
			r = r.Clone(r.Context())
			r.Header.Set(raftadapter.HeaderMember, member)
		}
		return tr.RoundTrip(r)
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestCluster_InternalCallsArePeerOnly: the calls members send each other
// are not served on the client port, and on the peer port only to the
// members of the cluster; the headers of that protocol mean nothing to the
// client port.
func TestCluster_InternalCallsArePeerOnly(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3)
	leader := ms[leaderIndex(t, ms, 10*time.Second)]
	forged := encodedPut(t, "forged/k")

	t.Run("ClientPort", func(t *testing.T) {
		for _, path := range []string{raftadapter.PathPropose, raftadapter.PathReadIndex} {
			method := http.MethodPost
			if path == raftadapter.PathReadIndex {
				method = http.MethodGet
			}
			if code, body := do(t, method, leader.URL+path, forged); code != http.StatusNotFound {
				t.Errorf("%s %s on the leader's client port: %d %s, want 404", method, path, code, body)
			}
		}
	})

	t.Run("PeerPortNotAMember", func(t *testing.T) {
		tests := []struct {
			name   string
			client *http.Client
			want   string
		}{
			{name: "NoName", client: forgedPeerClient("", ""), want: "names none"},
			{name: "UnknownName", client: forgedPeerClient("", "mallory"), want: "is not a member of this cluster"},
			// A member's name, from an address that is not that member's.
			{name: "WrongAddress", client: forgedPeerClient("127.0.0.2", ms[0].cfg.Name), want: "this request comes from 127.0.0.2"},
		}
		for _, tt := range tests {
			code, errCode, body := peerCall(t, tt.client, leader, http.MethodPost, raftadapter.PathPropose, forged)
			if code != http.StatusForbidden || errCode != "permission_denied" || !strings.Contains(body, tt.want) {
				t.Errorf("%s: forged propose on the leader's peer port: %d %s, want 403 permission_denied saying %q", tt.name, code, body, tt.want)
			}
		}
		if code, body := doIdempotent(t, http.MethodGet, leader.URL+"/v1/kv/forged/k", ""); code != http.StatusNotFound {
			t.Fatalf("a refused forged propose was applied: %d %s", code, body)
		}
	})

	// A member's own call reaches the handlers, which answer not_leader on
	// a follower. Leadership can move under load: each call goes to a
	// member that follows at that moment.
	t.Run("PeerPortMember", func(t *testing.T) {
		for _, c := range []struct{ method, path, body string }{
			{http.MethodGet, raftadapter.PathReadIndex, ""},
			{http.MethodPost, raftadapter.PathPropose, encodedPut(t, "f/internal")},
		} {
			waitFor(t, 10*time.Second, "a follower to answer not_leader to "+c.path, func() bool {
				fi := currentFollower(t, ms)
				if fi < 0 {
					return false
				}
				from := ms[(fi+1)%len(ms)]
				code, errCode, body := peerCall(t, &http.Client{Transport: from.app.node.PeerTransport()}, ms[fi], c.method, c.path, c.body)
				if code != http.StatusServiceUnavailable || errCode != "not_leader" {
					t.Logf("%s %s from %s to %s: %d %s", c.method, c.path, from.cfg.Name, ms[fi].cfg.Name, code, body)
					return false
				}
				return true
			})
		}
	})

	// A client's X-Cairn-Forwarded-By once made a follower answer
	// no_leader to a lease call while there was a leader.
	t.Run("ClientForwardedByHeader", func(t *testing.T) {
		waitFor(t, 10*time.Second, "a follower to grant a lease for a client that sent X-Cairn-Forwarded-By", func() bool {
			fi := currentFollower(t, ms)
			if fi < 0 {
				return false
			}
			req, err := http.NewRequest(http.MethodPost, ms[fi].URL+"/v1/leases", strings.NewReader(`{"ttl":60}`))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Cairn-Forwarded-By", "1")
			req.Header.Set(raftadapter.HeaderMember, ms[fi].cfg.Name)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Logf("lease grant on follower %s: %d %s", ms[fi].cfg.Name, resp.StatusCode, b)
			}
			return resp.StatusCode == http.StatusCreated
		})
	})
}
