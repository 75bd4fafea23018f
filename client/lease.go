package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// LeaseGrantResponse is the answer of Grant.
type LeaseGrantResponse struct {
	// Header.Revision is the store's revision.
	Header ResponseHeader
	// ID is the lease's ID.
	ID LeaseID
	// TTL is the granted time to live, in seconds.
	TTL int64
	// RequestedTTL is the TTL asked for when the member raised it to its
	// minimum (0 otherwise).
	RequestedTTL int64
	// Message says why the TTL differs from the one asked for.
	Message string
}

// LeaseRevokeResponse is the answer of Revoke.
type LeaseRevokeResponse struct {
	// Header.Revision is the revision in which the lease's keys were
	// deleted.
	Header ResponseHeader
}

// LeaseTimeToLiveResponse is the answer of TimeToLive.
type LeaseTimeToLiveResponse struct {
	// Header says which member answered, at which revision.
	Header ResponseHeader
	// ID is the lease's ID.
	ID LeaseID
	// TTL is the time left, in seconds, rounded up.
	TTL int64
	// GrantedTTL is the TTL the lease was granted with.
	GrantedTTL int64
	// Keys are the keys attached to the lease, when asked for.
	Keys [][]byte
}

// LeaseStatus is one lease of LeaseLeasesResponse.
type LeaseStatus struct {
	// ID is the lease's ID.
	ID LeaseID
	// TTL is its granted TTL, in seconds.
	TTL int64
}

// LeaseLeasesResponse is the answer of Leases.
type LeaseLeasesResponse struct {
	// Header says which member answered, at which revision.
	Header ResponseHeader
	// Leases are every lease, in ID order.
	Leases []LeaseStatus
}

// KeepAliveResponse is the answer of one keepalive.
type KeepAliveResponse struct {
	// Header says which member answered, at which revision.
	Header ResponseHeader
	// ID is the lease's ID.
	ID LeaseID
	// TTL is the time to live the lease's countdown restarted at, in
	// seconds.
	TTL int64
}

// LeaseOption configures Grant.
type LeaseOption func(*leaseOptions)

type leaseOptions struct {
	id LeaseID
}

// WithLeaseID asks Grant for this ID (positive, below 2^53) instead of one
// the leader picks. An ID in use is ErrConflict.
func WithLeaseID(id LeaseID) LeaseOption { return func(o *leaseOptions) { o.id = id } }

// Grant grants a lease of ttl seconds. A TTL below the cluster's minimum
// is raised to it (RequestedTTL then says what was asked). Keys attached
// to it (WithLease) are deleted when it expires or is revoked; keep it
// alive with KeepAlive.
func (c *Client) Grant(ctx context.Context, ttl int64, opts ...LeaseOption) (*LeaseGrantResponse, error) {
	var o leaseOptions
	for _, opt := range opts {
		opt(&o)
	}
	in := map[string]int64{"ttl": ttl}
	if o.id != 0 {
		in["id"] = int64(o.id)
	}
	body, _ := json.Marshal(in)
	var out struct {
		Header       *headerJSON `json:"header"`
		ID           int64       `json:"id"`
		TTL          int64       `json:"ttl"`
		RequestedTTL int64       `json:"requested_ttl"`
		Message      string      `json:"message"`
	}
	r := &request{method: http.MethodPost, path: "/v1/leases", body: body, ctype: "application/json"}
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &LeaseGrantResponse{Header: out.Header.toHeader(), ID: LeaseID(out.ID), TTL: out.TTL,
		RequestedTTL: out.RequestedTTL, Message: out.Message}, nil
}

func leasePath(id LeaseID) string { return "/v1/leases/" + strconv.FormatInt(int64(id), 10) }

// Revoke revokes a lease and deletes every key attached to it, in one
// revision. A lease that does not exist is ErrLeaseNotFound.
func (c *Client) Revoke(ctx context.Context, id LeaseID) (*LeaseRevokeResponse, error) {
	var out struct {
		Header *headerJSON `json:"header"`
	}
	if _, err := c.call(ctx, &request{method: http.MethodDelete, path: leasePath(id)}, &out); err != nil {
		return nil, err
	}
	return &LeaseRevokeResponse{Header: out.Header.toHeader()}, nil
}

// TimeToLive returns a lease's remaining time to live and, with withKeys,
// the keys attached to it. A lease that does not exist (or expired) is
// ErrLeaseNotFound.
func (c *Client) TimeToLive(ctx context.Context, id LeaseID, withKeys bool) (*LeaseTimeToLiveResponse, error) {
	q := url.Values{"encoding": {"base64"}}
	setBool(q, "keys", withKeys)
	var out struct {
		Header     *headerJSON `json:"header"`
		ID         int64       `json:"id"`
		TTL        int64       `json:"ttl"`
		GrantedTTL int64       `json:"granted_ttl"`
		Keys       []kvJSON    `json:"keys"`
	}
	r := &request{method: http.MethodGet, path: leasePath(id), query: q, idempotent: true, b64: true}
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	resp := &LeaseTimeToLiveResponse{Header: out.Header.toHeader(), ID: LeaseID(out.ID), TTL: out.TTL, GrantedTTL: out.GrantedTTL}
	for _, k := range out.Keys {
		key, err := fromText(k.Key, k.KeyBase64, true)
		if err != nil {
			return nil, err
		}
		resp.Keys = append(resp.Keys, key)
	}
	return resp, nil
}

// Leases lists every lease.
func (c *Client) Leases(ctx context.Context) (*LeaseLeasesResponse, error) {
	var out struct {
		Header *headerJSON `json:"header"`
		Leases []struct {
			ID  int64 `json:"id"`
			TTL int64 `json:"ttl"`
		} `json:"leases"`
	}
	if _, err := c.call(ctx, &request{method: http.MethodGet, path: "/v1/leases", idempotent: true}, &out); err != nil {
		return nil, err
	}
	resp := &LeaseLeasesResponse{Header: out.Header.toHeader()}
	for _, l := range out.Leases {
		resp.Leases = append(resp.Leases, LeaseStatus{ID: LeaseID(l.ID), TTL: l.TTL})
	}
	return resp, nil
}

// KeepAliveOnce renews a lease once: its countdown restarts at its full
// TTL. A lease that does not exist (or expired) is ErrLeaseNotFound.
// Renewing is idempotent, so a keepalive is sent again to another member
// after any failure.
func (c *Client) KeepAliveOnce(ctx context.Context, id LeaseID) (*KeepAliveResponse, error) {
	var out struct {
		Header *headerJSON `json:"header"`
		ID     int64       `json:"id"`
		TTL    int64       `json:"ttl"`
	}
	r := &request{method: http.MethodPost, path: leasePath(id) + "/keepalive", idempotent: true}
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &KeepAliveResponse{Header: out.Header.toHeader(), ID: LeaseID(out.ID), TTL: out.TTL}, nil
}

// KeepAlive keeps a lease alive until ctx ends: it renews it once at once
// (an error, such as ErrLeaseNotFound, is returned then), and from then on
// every TTL/3 in the background, retrying on other members after
// transient failures. Each renewal's answer is sent on the channel; when
// the reader lags, answers are dropped rather than delaying the renewals.
// The channel closes when the lease is gone (expired or revoked), when ctx
// ends, or when the client is closed.
func (c *Client) KeepAlive(ctx context.Context, id LeaseID) (<-chan KeepAliveResponse, error) {
	first, err := c.KeepAliveOnce(ctx, id)
	if err != nil {
		return nil, err
	}
	ch := make(chan KeepAliveResponse, 16)
	ch <- *first
	if !c.goBackground(func() { defer close(ch); c.keepAliveLoop(ctx, id, first.TTL, ch) }) {
		close(ch)
	}
	return ch, nil
}

func (c *Client) keepAliveLoop(ctx context.Context, id LeaseID, ttl int64, ch chan<- KeepAliveResponse) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.ctx, cancel)
	defer stop()
	interval := func(ttl int64) time.Duration { return max(time.Duration(ttl)*time.Second/3, 100*time.Millisecond) }
	wait := interval(ttl)
	failures := 0
	for sleepCtx(ctx, wait) {
		actx, acancel := context.WithTimeout(ctx, max(interval(ttl), time.Second))
		resp, err := c.KeepAliveOnce(actx, id)
		acancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var e *Error
			if errors.As(err, &e) && !retryableStatus(e.StatusCode) {
				return // lease_not_found (gone), or a refusal that will not change
			}
			// Transient (no leader, a member down, a slow answer): try
			// again soon, on the next member.
			if errors.Is(err, context.DeadlineExceeded) {
				c.rotate() // the member is slow: the loop failed over on the others only
			}
			failures++
			wait = min(backoff(failures, c.cfg.MaxRetryWait), interval(ttl))
			continue
		}
		failures = 0
		ttl = resp.TTL
		wait = interval(ttl)
		select {
		case ch <- *resp:
		default:
		}
	}
}
