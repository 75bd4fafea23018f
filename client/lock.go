package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// LockOption configures Lock and Campaign.
type LockOption func(*lockOptions)

type lockOptions struct {
	lease      LeaseID
	ttl        int64
	timeout    time.Duration
	hasTimeout bool
}

// WithLockLease holds the lock (or the candidacy) through this lease: it
// is released when the lease expires or is revoked. Keep the lease alive
// meanwhile (see KeepAlive, or concurrency.Session).
func WithLockLease(id LeaseID) LockOption { return func(o *lockOptions) { o.lease = id } }

// WithLockTTL lets the member grant a lease of ttl seconds for the lock
// (or the candidacy); the answer has its ID.
func WithLockTTL(ttl int64) LockOption { return func(o *lockOptions) { o.ttl = ttl } }

// WithLockTimeout makes Lock or Campaign give up with ErrLocked after d
// (at most an hour); for Lock, 0 tries once (a Campaign with 0 is
// ErrInvalidArgument: it always waits). Without it they wait until their
// context ends.
func WithLockTimeout(d time.Duration) LockOption {
	return func(o *lockOptions) { o.timeout, o.hasTimeout = d, true }
}

func (o *lockOptions) body() map[string]any {
	m := map[string]any{}
	if o.lease != 0 {
		m["lease"] = int64(o.lease)
	}
	if o.ttl != 0 {
		m["ttl"] = o.ttl
	}
	return m
}

func (o *lockOptions) query(q url.Values) url.Values {
	if q == nil {
		q = url.Values{}
	}
	if o.hasTimeout {
		if o.timeout <= 0 {
			q.Set("timeout", "0")
		} else {
			q.Set("timeout", o.timeout.String())
		}
	}
	return q
}

// waitScope bounds a lock or campaign wait: by its timeout plus
// RequestTimeout when it has a timeout, else only by ctx.
func (c *Client) waitScope(ctx context.Context, o *lockOptions) (context.Context, context.CancelFunc) {
	if o.hasTimeout && c.cfg.RequestTimeout > 0 {
		return context.WithTimeout(ctx, max(o.timeout, 0)+c.cfg.RequestTimeout)
	}
	return context.WithCancel(ctx)
}

var errNoLease = errors.New("cairn: give WithLockLease or WithLockTTL")

// LockHolder is an owner or a waiter of a lock.
type LockHolder struct {
	// Key is the holder's key: "<name>/<lease ID in lowercase hex>".
	Key string
	// Lease is the lease that holds the key.
	Lease LeaseID
	// Fence is the key's create revision: it grows with each new owner,
	// so that a resource guarded by the lock can refuse a stale owner.
	Fence int64
}

// LockResponse is the answer of Lock: the lock is held.
type LockResponse struct {
	// Header says which member answered, at which revision.
	Header ResponseHeader
	LockHolder
}

// LockStatusResponse is the answer of LockStatus.
type LockStatusResponse struct {
	// Header says which member answered, at which revision.
	Header ResponseHeader
	// Owner holds the lock; nil when it is free.
	Owner *LockHolder
	// Waiters wait for it, in the order they will get it.
	Waiters []LockHolder
}

type lockHolderJSON struct {
	Key       *string `json:"key"`
	KeyBase64 *string `json:"key_base64"`
	Lease     int64   `json:"lease"`
	Fence     int64   `json:"fence"`
}

func (j *lockHolderJSON) toHolder() (LockHolder, error) {
	key, err := fromText(j.Key, j.KeyBase64, false)
	if err != nil {
		return LockHolder{}, err
	}
	return LockHolder{Key: string(key), Lease: LeaseID(j.Lease), Fence: j.Fence}, nil
}

// Lock acquires the lock name (which may contain '/') through the lease
// of WithLockLease (or one the member grants, WithLockTTL). Waiters get
// the lock in arrival order. It waits until it holds the lock, or
// WithLockTimeout passes (ErrLocked), or ctx ends; then the waiter's key
// is left to its lease (Unlock removes it).
//
// The lock's key is a function of the name and the lease; taking the same
// lock twice through the same lease is taking it once. concurrency.Mutex
// is the higher-level way to use locks.
func (c *Client) Lock(ctx context.Context, name string, opts ...LockOption) (*LockResponse, error) {
	var o lockOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.lease == 0 && o.ttl == 0 {
		return nil, errNoLease
	}
	body, _ := json.Marshal(o.body())
	ctx, cancel := c.waitScope(ctx, &o)
	defer cancel()
	r := &request{method: http.MethodPost, path: keyPath("/v1/locks/", name), query: o.query(nil),
		body: body, ctype: "application/json", long: true}
	var out struct {
		Header *headerJSON `json:"header"`
		lockHolderJSON
	}
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	h, err := out.lockHolderJSON.toHolder()
	if err != nil {
		return nil, err
	}
	return &LockResponse{Header: out.Header.toHeader(), LockHolder: h}, nil
}

// LockStatus returns the owner and the waiters of the lock name.
func (c *Client) LockStatus(ctx context.Context, name string) (*LockStatusResponse, error) {
	var out struct {
		Header  *headerJSON      `json:"header"`
		Owner   *lockHolderJSON  `json:"owner"`
		Waiters []lockHolderJSON `json:"waiters"`
	}
	r := &request{method: http.MethodGet, path: keyPath("/v1/locks/", name), idempotent: true}
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	resp := &LockStatusResponse{Header: out.Header.toHeader()}
	if out.Owner != nil {
		h, err := out.Owner.toHolder()
		if err != nil {
			return nil, err
		}
		resp.Owner = &h
	}
	for i := range out.Waiters {
		h, err := out.Waiters[i].toHolder()
		if err != nil {
			return nil, err
		}
		resp.Waiters = append(resp.Waiters, h)
	}
	return resp, nil
}

// UnlockResponse is the answer of Unlock.
type UnlockResponse struct {
	// Header.Revision is the revision that deleted the key.
	Header ResponseHeader
}

// Unlock releases the lock name held (or waited for) through key, the
// LockResponse's Key. A key that does not exist (released already, or
// its lease expired) is a 404 error (ErrKeyNotFound or ErrNotFound).
// Deleting one's own key twice is harmless, so an Unlock is sent again to
// another member after any failure.
func (c *Client) Unlock(ctx context.Context, name, key string) (*UnlockResponse, error) {
	var out struct {
		Header *headerJSON `json:"header"`
	}
	r := &request{method: http.MethodDelete, path: keyPath("/v1/locks/", name), query: url.Values{"key": {key}},
		idempotent: true}
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &UnlockResponse{Header: out.Header.toHeader()}, nil
}
