package etcdapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/lease"
)

// leaderClient sends the lease calls that need the leader's lessor
// (grant, revoke, keep-alive, time-to-live) from a follower to the
// leader's members' API on the peer port: the routes the REST API
// forwards the same calls to (PeerHandler in internal/adapters/http),
// through the peer transport, which names this member. etcd, too, sends
// a follower's lease renewals to its leader over the peer port.
//
//	POST   /v1/leases                {"ttl","id"}  → 201 {header, id, ttl}
//	DELETE /v1/leases/ID                           → 200 {header}
//	POST   /v1/leases/ID/keepalive                 → 200 {header, id, ttl}
//	GET    /v1/leases/ID?keys=true&encoding=base64 → 200 {header, id, ttl, granted_ttl, keys}
//
// Errors come back in the API's error body, whose code is turned into the
// domain error it stands for (leaderError).
type leaderClient struct {
	cluster ClusterService
}

type leaderHeader struct {
	Revision int64 `json:"revision"`
}

type leaderLease struct {
	Header     leaderHeader `json:"header"`
	ID         int64        `json:"id"`
	TTL        int64        `json:"ttl"`
	GrantedTTL int64        `json:"granted_ttl"`
	Keys       []struct {
		Key string `json:"key"`
	} `json:"keys"`
}

func (c *leaderClient) grant(ctx context.Context, ttl, id int64) (lease.Granted, error) {
	var out leaderLease
	body, _ := json.Marshal(map[string]int64{"ttl": ttl, "id": id})
	if err := c.do(ctx, http.MethodPost, "/v1/leases", body, &out); err != nil {
		return lease.Granted{}, err
	}
	return lease.Granted{Lease: domain.Lease{ID: out.ID, TTL: out.TTL}, Revision: out.Header.Revision}, nil
}

func (c *leaderClient) revoke(ctx context.Context, id int64) (int64, error) {
	var out leaderLease
	if err := c.do(ctx, http.MethodDelete, "/v1/leases/"+strconv.FormatInt(id, 10), nil, &out); err != nil {
		return 0, err
	}
	return out.Header.Revision, nil
}

func (c *leaderClient) keepAlive(ctx context.Context, id int64) (int64, error) {
	var out leaderLease
	if err := c.do(ctx, http.MethodPost, "/v1/leases/"+strconv.FormatInt(id, 10)+"/keepalive", nil, &out); err != nil {
		return 0, err
	}
	return out.TTL, nil
}

func (c *leaderClient) timeToLive(ctx context.Context, id int64, keys bool) (lease.Status, error) {
	var out leaderLease
	path := "/v1/leases/" + strconv.FormatInt(id, 10) + "?encoding=base64"
	if keys {
		path += "&keys=true"
	}
	if err := c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return lease.Status{}, err
	}
	st := lease.Status{ID: out.ID, TTL: out.TTL, GrantedTTL: out.GrantedTTL, Revision: out.Header.Revision}
	for _, k := range out.Keys {
		b, err := base64.StdEncoding.DecodeString(k.Key)
		if err != nil {
			return lease.Status{}, fmt.Errorf("etcdapi: the leader sent a key that is not base64: %w", err)
		}
		st.Keys = append(st.Keys, b)
	}
	return st, nil
}

// do sends one call to the leader and decodes its answer into out.
func (c *leaderClient) do(ctx context.Context, method, path string, body []byte, out any) error {
	base, err := c.cluster.LeaderPeerURL(ctx)
	if err != nil {
		return err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.cluster.PeerTransport().RoundTrip(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: the leader could not be reached: %v", domain.ErrNoLeader, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%w: reading the leader's answer: %v", domain.ErrUnavailable, err)
	}
	if resp.StatusCode/100 != 2 {
		return leaderError(resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("etcdapi: the leader's answer does not decode: %w", err)
	}
	return nil
}

// leaderError turns the leader's error body back into the domain error
// whose code it carries (the codes of the REST API's error table).
func leaderError(status int, body []byte) error {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	msg := e.Error.Message
	var sentinel error
	switch e.Error.Code {
	case "lease_not_found":
		sentinel = domain.ErrLeaseNotFound
	case "conflict": // the only conflict of a lease call: its ID is taken
		sentinel = domain.ErrLeaseExists
	case "invalid_argument":
		return domain.InvalidArgument("%s", msg)
	case "not_leader", "no_leader":
		sentinel = domain.ErrNoLeader
	case "timeout":
		sentinel = domain.ErrIndeterminate
	case "space_exceeded":
		sentinel = domain.ErrNoSpace
	case "corrupt":
		sentinel = domain.ErrCorrupt
	case "request_too_large":
		sentinel = domain.ErrTooLarge
	case "unavailable", "permission_denied":
		// permission_denied: the leader does not take this member for a
		// member, which the client cannot fix.
		sentinel = domain.ErrUnavailable
	default:
		if status/100 == 4 {
			return domain.InvalidArgument("the leader refused the request (%d %s): %s", status, e.Error.Code, msg)
		}
		return fmt.Errorf("%w: the leader answered %d: %s", domain.ErrIndeterminate, status, msg)
	}
	return fmt.Errorf("%w (at the leader: %s)", sentinel, msg)
}
