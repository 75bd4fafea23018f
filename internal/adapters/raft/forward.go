package raft

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/cairnkv/cairn/internal/domain"
)

// The forwarding protocol: a follower sends what needs the leader to the
// leader's peer port (peer.go), as HTTP, naming itself in HeaderMember;
// the leader serves it to members only (peerhttp.go). The leader's peer
// address is the one Raft knows it by.
//
//	POST /v1/internal/propose      body: EncodeCommand bytes → 200 EncodeResult bytes
//	GET  /v1/internal/read_index   → 200 {"index": N}
//	POST /v1/cluster/members       {"name","peer_addr","client_urls","learner"} → 201
//	DELETE /v1/cluster/members/ID  → 200 (membership.go)
//	POST /v1/cluster/members/ID/promote → 200, 412 while the learner is behind
//	GET  /v1/status                → 200 the member's status (a learner's applied index)
//	GET  /v1/internal/membership   → 200 {"member": bool, "reason"}: answered to anyone (removal.go)
//	GET  /v1/maintenance/hash      → 200 {"hash","revision","compact_revision"} (hashcheck.go)
//
// Errors come back in the API's error body; the codes not_leader and
// no_leader mean the request was not carried out and may be retried on the
// new leader. None of these paths is served on the client port.
const (
	PathPropose   = "/v1/internal/propose"
	PathReadIndex = "/v1/internal/read_index"
	PathMembers   = "/v1/cluster/members"
	PathStatus    = "/v1/status"
	// PathMembership is answered by the peer port itself, to members and
	// non-members: it tells the caller whether it is a member (removal.go).
	PathMembership = "/v1/internal/membership"
)

type forwarder struct {
	n       *Node
	client  *http.Client
	metrics *metrics
}

// newForwarder builds the forwarder of n. Its connections go through
// n.stream, which must be set before the first request.
func newForwarder(n *Node) *forwarder {
	// The stream layer decides about TLS (peer TLS is the whole
	// connection's, under the protocol byte), whatever the URL's scheme:
	// an https URL is dialled the same way, and its handshake is done.
	dial := func(ctx context.Context, _, addr string) (net.Conn, error) {
		return n.stream.dialHTTP(ctx, addr)
	}
	tr := &http.Transport{
		DialContext:         dial,
		DialTLSContext:      dial,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 512,
		IdleConnTimeout:     90 * time.Second,
	}
	return &forwarder{n: n, client: &http.Client{
		Transport: memberTransport{name: n.cfg.Name, next: tr},
		Timeout:   n.cfg.ApplyTimeout + 5*time.Second,
	}}
}

func (f *forwarder) close() {
	f.client.CloseIdleConnections()
}

// leaderPeerURL returns the base URL of the leader's peer port.
func (f *forwarder) leaderPeerURL(leader string) (string, error) {
	if addr, id := f.n.raft.LeaderWithID(); string(id) == leader && addr != "" {
		return f.n.peerURL(string(addr)), nil
	}
	// The leader changed since the caller looked it up.
	for _, s := range f.n.raft.GetConfiguration().Configuration().Servers {
		if string(s.ID) == leader {
			return f.n.peerURL(string(s.Address)), nil
		}
	}
	return "", fmt.Errorf("%w: leader %q is not in the configuration", domain.ErrNotLeader, leader)
}

// leaderURL returns the first client URL the registry has for the leader.
// Forwarding does not use it (it goes to the peer port); Ready does: a
// follower is ready once the leader's record is in its registry.
func (f *forwarder) leaderURL(leader string) (string, error) {
	members, err := f.n.backend.Members()
	if err != nil {
		return "", err
	}
	for _, m := range members {
		if m.Name == leader && len(m.ClientURLs) > 0 {
			return m.ClientURLs[0], nil
		}
	}
	// The leader has not published its client URL yet: as good as no
	// leader for a client.
	return "", fmt.Errorf("%w: client URL of leader %q not known yet", domain.ErrNotLeader, leader)
}

func (f *forwarder) do(ctx context.Context, kind, leader, method, path, ctype string, body []byte) ([]byte, error) {
	base, err := f.leaderPeerURL(leader)
	if err != nil {
		f.count(kind, "unknown_leader")
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			// Never sent: safe to retry on whoever leads next.
			f.count(kind, "dial_error")
			return nil, fmt.Errorf("%w: leader %s unreachable: %v", domain.ErrNotLeader, leader, err)
		}
		f.count(kind, "error")
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %v", domain.ErrIndeterminate, ctx.Err())
		}
		return nil, fmt.Errorf("%w: forwarding to leader %s: %v", domain.ErrIndeterminate, leader, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		f.count(kind, "error")
		return nil, fmt.Errorf("%w: reading leader's answer: %v", domain.ErrIndeterminate, err)
	}
	if resp.StatusCode/100 == 2 {
		f.count(kind, "ok")
		return data, nil
	}
	f.count(kind, strconv.Itoa(resp.StatusCode))
	return nil, decodeRemoteError(resp.StatusCode, data)
}

// getJSON GETs url (a member's peer port) and decodes its 200 answer into
// v; another status is an error that says it.
func (f *forwarder) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("it answered %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("its answer: %w", err)
	}
	return nil
}

func (f *forwarder) count(kind, outcome string) {
	if f.metrics != nil {
		f.metrics.forwarded.WithLabelValues(kind, outcome).Inc()
	}
}

// decodeRemoteError turns the leader's error body back into a domain error.
func decodeRemoteError(status int, body []byte) error {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	msg := e.Error.Message
	switch e.Error.Code {
	case "not_leader", "no_leader":
		return fmt.Errorf("%w: %s", domain.ErrNotLeader, msg)
	case "timeout":
		return fmt.Errorf("%w: %s", domain.ErrIndeterminate, msg)
	case "invalid_argument":
		return domain.InvalidArgument("%s", msg)
	case "unavailable":
		return fmt.Errorf("%w: %s", domain.ErrUnavailable, msg)
	case "conflict":
		return &remoteError{msg: msg, err: domain.ErrConflict}
	case "not_found":
		return &remoteError{msg: msg, err: domain.ErrNotFound}
	case "precondition_failed":
		return &remoteError{msg: msg, err: domain.ErrPreconditionFailed}
	case "request_too_large":
		return fmt.Errorf("%w: %s", domain.ErrTooLarge, msg)
	case "permission_denied":
		// The leader does not take this member for a member (a
		// configuration or network problem): nothing the client can fix.
		return fmt.Errorf("%w: the leader refused this member's request: %s", domain.ErrUnavailable, msg)
	}
	if status/100 == 4 {
		// The leader refused the request before proposing it.
		return domain.InvalidArgument("the leader refused the forwarded request (%d %s): %s", status, e.Error.Code, msg)
	}
	// A 5xx may come after the command was appended: the outcome is unknown.
	return fmt.Errorf("%w: leader answered %d: %s", domain.ErrIndeterminate, status, msg)
}

func (f *forwarder) propose(ctx context.Context, leader string, cmd []byte) ([]byte, error) {
	return f.do(ctx, "propose", leader, http.MethodPost, PathPropose, "application/octet-stream", cmd)
}

func (f *forwarder) readIndex(ctx context.Context, leader string) (uint64, error) {
	data, err := f.do(ctx, "read_index", leader, http.MethodGet, PathReadIndex, "", nil)
	if err != nil {
		if errors.Is(err, domain.ErrIndeterminate) {
			// A read changes nothing: an unknown outcome is just a failure.
			return 0, fmt.Errorf("%w: %v", domain.ErrUnavailable, err)
		}
		return 0, err
	}
	var out struct {
		Index uint64 `json:"index"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return 0, fmt.Errorf("%w: bad read index answer: %v", domain.ErrUnavailable, err)
	}
	return out.Index, nil
}

func (f *forwarder) addMember(ctx context.Context, leader string, m domain.Member, learner bool) error {
	body, _ := json.Marshal(map[string]any{"name": m.Name, "peer_addr": m.PeerURL, "client_urls": m.ClientURLs, "learner": learner})
	_, err := f.do(ctx, "add_member", leader, http.MethodPost, PathMembers, "application/json", body)
	return err
}

// memberCall sends a bodiless membership call (remove, promote) to the
// leader.
func (f *forwarder) memberCall(ctx context.Context, kind, leader, method, path string) error {
	_, err := f.do(ctx, kind, leader, method, path, "", nil)
	return err
}
