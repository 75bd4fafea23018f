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
	"github.com/cairnkv/cairn/internal/ports"
)

// The forwarding protocol: a follower sends what needs the leader to the
// leader's client URL, found in the replicated member registry.
//
//	POST /v1/internal/propose      body: EncodeCommand bytes → 200 EncodeResult bytes
//	GET  /v1/internal/read_index   → 200 {"index": N}
//	POST /v1/cluster/members       {"name","peer_addr","client_urls"} → 201
//
// Errors come back in the API's error body; the codes not_leader and
// no_leader mean the request was not carried out and may be retried on the
// new leader.
const (
	PathPropose   = "/v1/internal/propose"
	PathReadIndex = "/v1/internal/read_index"
	PathMembers   = "/v1/cluster/members"
	// HeaderForwarded marks a request forwarded by another member.
	HeaderForwarded = "X-Cairn-Forwarded-By"
)

type forwarder struct {
	backend ports.Backend
	client  *http.Client
	metrics *metrics
}

func newForwarder(b ports.Backend, timeout time.Duration) *forwarder {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 512,
		IdleConnTimeout:     90 * time.Second,
	}
	return &forwarder{backend: b, client: &http.Client{Transport: tr, Timeout: timeout + 5*time.Second}}
}

func (f *forwarder) close() {
	f.client.CloseIdleConnections()
}

// leaderURL returns the first client URL the registry has for the leader.
func (f *forwarder) leaderURL(leader string) (string, error) {
	members, err := f.backend.Members()
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
	base, err := f.leaderURL(leader)
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
	req.Header.Set(HeaderForwarded, "1")
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
	case "request_too_large":
		return fmt.Errorf("%w: %s", domain.ErrTooLarge, msg)
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

func (f *forwarder) addMember(ctx context.Context, leader string, m domain.Member) error {
	body, _ := json.Marshal(map[string]any{"name": m.Name, "peer_addr": m.PeerURL, "client_urls": m.ClientURLs})
	_, err := f.do(ctx, "add_member", leader, http.MethodPost, PathMembers, "application/json", body)
	return err
}
