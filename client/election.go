package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// LeaderKey identifies a leadership won by Campaign: the proof that
// Proclaim and Resign present.
type LeaderKey struct {
	// Name is the election's name.
	Name string
	// Key is the leader's key in the store.
	Key []byte
	// Rev is the key's create revision.
	Rev int64
	// Lease is the lease the leadership is held through.
	Lease LeaseID

	raw json.RawMessage // as the member sent it, sent back as it is
}

type leaderJSON struct {
	Name  string `json:"name"`
	Key   string `json:"key"`
	Rev   int64  `json:"rev"`
	Lease int64  `json:"lease"`
}

// json returns the leader object to send (with encoding=base64).
func (l *LeaderKey) json() json.RawMessage {
	if len(l.raw) > 0 {
		return l.raw
	}
	b, _ := json.Marshal(leaderJSON{Name: b64(l.Name), Key: b64(string(l.Key)), Rev: l.Rev, Lease: int64(l.Lease)})
	return b
}

// CampaignResponse is the answer of Campaign: the candidate leads.
type CampaignResponse struct {
	// Header says which member answered, at which revision.
	Header ResponseHeader
	// Leader identifies the leadership, for Proclaim and Resign.
	Leader LeaderKey
}

// ProclaimResponse is the answer of Proclaim.
type ProclaimResponse struct {
	// Header says which member answered, at which revision.
	Header ResponseHeader
}

// ResignResponse is the answer of Resign.
type ResignResponse struct {
	// Header says which member answered, at which revision.
	Header ResponseHeader
}

// LeaderResponse is the leader of an election: the answer of Leader, and
// what Observe delivers.
type LeaderResponse struct {
	// Header says which member answered, at which revision.
	Header ResponseHeader
	// Kv is the leader's key and value (its proclaimed value); nil when
	// the election has no leader (Observe only).
	Kv *KeyValue
	// Err, from Observe only, ends the observation: the channel closes
	// after it.
	Err error
}

func electionPath(name, verb string) string {
	p := keyPath("/v1/elections/", name)
	if verb != "" {
		p += "/" + verb
	}
	return p
}

func b64Query() url.Values { return url.Values{"encoding": {"base64"}} }

// Campaign runs for leader of the election name with value, through the
// lease of WithLockLease (or one the member grants, WithLockTTL). It waits
// until the candidate leads (candidates lead in arrival order), until
// WithLockTimeout passes (ErrLocked), or ctx ends.
// concurrency.Election is the higher-level way to use elections.
func (c *Client) Campaign(ctx context.Context, name, value string, opts ...LockOption) (*CampaignResponse, error) {
	var o lockOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.lease == 0 && o.ttl == 0 {
		return nil, errNoLease
	}
	in := o.body()
	in["value"] = b64(value)
	body, _ := json.Marshal(in)
	ctx, cancel := c.waitScope(ctx, &o)
	defer cancel()
	r := &request{method: http.MethodPost, path: electionPath(name, "campaign"), query: o.query(b64Query()),
		body: body, ctype: "application/json", long: true, b64: true}
	var out struct {
		Header *headerJSON      `json:"header"`
		Leader *json.RawMessage `json:"leader"`
	}
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	if out.Leader == nil {
		return nil, fmt.Errorf("cairn: campaign %q: the answer has no leader", name)
	}
	lk, err := parseLeaderKey(name, *out.Leader)
	if err != nil {
		return nil, err
	}
	return &CampaignResponse{Header: out.Header.toHeader(), Leader: lk}, nil
}

func parseLeaderKey(name string, raw json.RawMessage) (LeaderKey, error) {
	var lj leaderJSON
	if err := decodeJSON(raw, &lj); err != nil {
		return LeaderKey{}, fmt.Errorf("cairn: bad leader from the member: %w", err)
	}
	key, err := decodeBase64(lj.Key)
	if err != nil {
		key = []byte(lj.Key)
	}
	return LeaderKey{Name: name, Key: key, Rev: lj.Rev, Lease: LeaseID(lj.Lease), raw: bytes.Clone(raw)}, nil
}

// Proclaim changes the leader's value without an election. When leader
// no longer leads it fails with ErrPreconditionFailed.
func (c *Client) Proclaim(ctx context.Context, leader LeaderKey, value string) (*ProclaimResponse, error) {
	body, _ := json.Marshal(map[string]any{"leader": leader.json(), "value": b64(value)})
	r := &request{method: http.MethodPost, path: electionPath(leader.Name, "proclaim"), query: b64Query(),
		body: body, ctype: "application/json", b64: true}
	var out struct {
		Header *headerJSON `json:"header"`
	}
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &ProclaimResponse{Header: out.Header.toHeader()}, nil
}

// Resign gives the leadership up, so that the next candidate leads. When
// leader no longer leads it fails with ErrPreconditionFailed.
func (c *Client) Resign(ctx context.Context, leader LeaderKey) (*ResignResponse, error) {
	body, _ := json.Marshal(map[string]any{"leader": leader.json()})
	r := &request{method: http.MethodPost, path: electionPath(leader.Name, "resign"), query: b64Query(),
		body: body, ctype: "application/json", b64: true}
	var out struct {
		Header *headerJSON `json:"header"`
	}
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &ResignResponse{Header: out.Header.toHeader()}, nil
}

type leaderRespJSON struct {
	Header *headerJSON `json:"header"`
	Kv     *kvJSON     `json:"kv"`
}

func (j *leaderRespJSON) toResponse() (*LeaderResponse, error) {
	kv, err := j.Kv.toKV(true)
	if err != nil {
		return nil, err
	}
	return &LeaderResponse{Header: j.Header.toHeader(), Kv: kv}, nil
}

// Leader returns the current leader of the election name: its key and
// value. An election without a leader is ErrNotFound.
func (c *Client) Leader(ctx context.Context, name string) (*LeaderResponse, error) {
	var out leaderRespJSON
	r := &request{method: http.MethodGet, path: electionPath(name, ""), query: b64Query(), idempotent: true, b64: true}
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return out.toResponse()
}

// Observe streams the leader of the election name: a LeaderResponse now
// (when it has one) and at every change of leader or value. It resumes
// by itself on the next endpoint after a failure (repeating nothing it
// delivered last). The channel closes when ctx ends or the client is
// closed, or after a response with Err.
func (c *Client) Observe(ctx context.Context, name string) <-chan LeaderResponse {
	ch := make(chan LeaderResponse)
	if !c.goBackground(func() { defer close(ch); c.observe(ctx, name, ch) }) {
		close(ch)
	}
	return ch
}

func (c *Client) observe(ctx context.Context, name string, ch chan<- LeaderResponse) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.ctx, cancel)
	defer stop()
	var last *KeyValue // the last leader delivered
	send := func(lr LeaderResponse) bool {
		select {
		case ch <- lr:
			return true
		case <-ctx.Done():
			return false
		}
	}
	failures := 0
	for ctx.Err() == nil {
		err := func() error {
			r := &request{method: http.MethodGet, path: electionPath(name, "observe"), query: b64Query(),
				header: http.Header{"Accept": {"text/event-stream"}}, idempotent: true, long: true, b64: true}
			resp, sse, closeStream, err := c.openStream(ctx, r)
			if err != nil {
				return err
			}
			defer closeStream()
			for {
				m, err := sse.next()
				if err != nil {
					return err
				}
				switch m.event {
				case "leader":
					var lj leaderRespJSON
					if err := decodeJSON(m.data, &lj); err != nil {
						return fmt.Errorf("cairn: observe: bad message from %s: %w", resp.endpoint, err)
					}
					lr, err := lj.toResponse()
					if err != nil {
						return err
					}
					if sameLeader(last, lr.Kv) {
						continue // seen before the reconnection
					}
					last = lr.Kv
					if !send(*lr) {
						return ctx.Err()
					}
					failures = 0
				case "error":
					return sseError(resp.endpoint, m.data)
				}
			}
		}()
		if ctx.Err() != nil {
			return
		}
		var e *Error
		if errors.As(err, &e) && !retryableStatus(e.StatusCode) {
			send(LeaderResponse{Header: e.Header, Err: e})
			return
		}
		c.rotate()
		failures++
		if !sleepCtx(ctx, backoff(failures-1, c.cfg.MaxRetryWait)) {
			return
		}
	}
}

// sameLeader reports whether a and b are the same version of the same
// leader key.
func sameLeader(a, b *KeyValue) bool {
	if a == nil || b == nil {
		return a == b
	}
	return bytes.Equal(a.Key, b.Key) && a.ModRevision == b.ModRevision
}
