package raft

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/domain"
)

// HeaderMember names the member that sends a request to another member's
// peer port. The peer port serves only requests that name a member of
// this cluster and come from that member's peer address; the client port
// serves no member-to-member call, and no header of this protocol means
// anything there.
const HeaderMember = "X-Cairn-Member"

// ServePeerHTTP serves h, the members' HTTP API, on the peer port, to the
// members of this cluster only: any other request is refused with 403
// permission_denied (membersOnly). It returns at once. Close first answers
// new requests 503 no_leader (before it hands leadership over), then stops
// the server. Call it once, right after New: until then the other members'
// requests wait (up to peerHandshakeTimeout) and then fail.
func (n *Node) ServePeerHTTP(h http.Handler) {
	n.stream.mux.serveHTTP(n.membersOnly(h), func(err error) {
		if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			n.log.Error().Err(err).Msg("the members' HTTP server on the peer port stopped")
		}
	})
}

// PeerTransport sends requests to other members' peer ports, for URLs of
// LeaderPeerURL: it dials with the HTTP protocol byte, names this member in
// HeaderMember, and is cut by Partition like the Raft traffic.
func (n *Node) PeerTransport() http.RoundTripper { return n.fwd.client.Transport }

// LeaderPeerURL returns the base URL of the leader's members' HTTP API, to
// be used with PeerTransport, waiting a little for a leader to be known. It
// fails with domain.ErrNoLeader.
func (n *Node) LeaderPeerURL(ctx context.Context) (string, error) {
	leader, err := n.waitLeader(ctx)
	if err != nil {
		return "", err
	}
	u, err := n.fwd.leaderPeerURL(leader)
	if err != nil {
		return "", fmt.Errorf("%w: %v", domain.ErrNoLeader, err)
	}
	return u, nil
}

// memberTransport names this member in every request it sends, whatever
// the request carried (a client's request proxied to the leader may carry
// a forged one).
type memberTransport struct {
	name string
	next *http.Transport
}

func (t memberTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(HeaderMember, t.name)
	return t.next.RoundTrip(r)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// pool.
func (t memberTransport) CloseIdleConnections() { t.next.CloseIdleConnections() }

// membersOnly serves a request only if it comes from a member of this
// cluster: it names a member of the Raft configuration in HeaderMember,
// and its connection comes from that member's peer address (its IP; a
// host name is resolved, and kept for peerResolveTTL).
//
// In plain text this is only as strong as the network: whoever can send
// packets from a member's IP can pass, as with etcd's plain-text peer
// port. Peer TLS with client certificate authentication (PeerTLS with
// tls.RequireAndVerifyClientCert) is what makes a member prove that it is
// one: no connection without a certificate of the peer CA gets this far.
// The Raft RPCs on the same port are not checked here: they too rely on
// the network, or on peer TLS.
func (n *Node) membersOnly(next http.Handler) http.Handler {
	ips := &ipCache{m: map[string]cachedIPs{}}
	refused := n.stream.mux.refused
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == PathMembership && r.Method == http.MethodGet {
			n.serveMembership(w, r, ips)
			return
		}
		if err := n.checkMember(r, ips); err != nil {
			n.metrics.peerRefused.Inc()
			refused.Warn().Err(err).Str("from", r.RemoteAddr).Str("method", r.Method).Str("path", r.URL.Path).
				Msg("peer port: refused a request that does not come from a member")
			writePeerError(w, http.StatusForbidden, "permission_denied", err.Error())
			return
		}
		if r.URL.Path == PathHashCheck && r.Method == http.MethodPost {
			n.serveHashCheck(w)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (n *Node) checkMember(r *http.Request, ips *ipCache) error {
	name := r.Header.Get(HeaderMember)
	if name == "" {
		return fmt.Errorf("raft: the peer port serves the members of this cluster only, and this request names none (no %s header)", HeaderMember)
	}
	var addr string
	for _, s := range n.raft.GetConfiguration().Configuration().Servers {
		if string(s.ID) == name {
			addr = string(s.Address)
			break
		}
	}
	if addr == "" {
		return fmt.Errorf("raft: %q is not a member of this cluster", name)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("raft: member %q has a bad peer address %q: %v", name, addr, err)
	}
	fromHost, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return fmt.Errorf("raft: request from %q: %v", r.RemoteAddr, err)
	}
	from, err := netip.ParseAddr(fromHost)
	if err != nil {
		return fmt.Errorf("raft: request from %q: %v", r.RemoteAddr, err)
	}
	want, err := ips.lookup(r.Context(), host)
	if err != nil {
		return fmt.Errorf("raft: member %q: cannot resolve its peer address %s: %v", name, addr, err)
	}
	from = from.Unmap().WithZone("")
	for _, ip := range want {
		if ip == from {
			return nil
		}
	}
	return fmt.Errorf("raft: member %q has the peer address %s, and this request comes from %s", name, addr, from)
}

// writePeerError answers with the API's error body, which the sending
// member decodes (decodeRemoteError).
func writePeerError(w http.ResponseWriter, status int, code, msg string) {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	body.Error.Code, body.Error.Message = code, msg
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// peerResolveTTL is how long the IPs of a member's host name are kept.
const peerResolveTTL = 30 * time.Second

// ipCache resolves the host of a member's peer address.
type ipCache struct {
	mu sync.Mutex
	m  map[string]cachedIPs
}

type cachedIPs struct {
	ips []netip.Addr
	at  time.Time
}

func (c *ipCache) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip.Unmap().WithZone("")}, nil
	}
	c.mu.Lock()
	e, ok := c.m[host]
	c.mu.Unlock()
	if ok && time.Since(e.at) < peerResolveTTL {
		return e.ips, nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	for i, ip := range ips {
		ips[i] = ip.Unmap().WithZone("")
	}
	c.mu.Lock()
	c.m[host] = cachedIPs{ips: ips, at: time.Now()}
	c.mu.Unlock()
	return ips, nil
}
