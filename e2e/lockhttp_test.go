package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The lock and election tests run real server processes; their clients are
// goroutines of the test binary, each with its own HTTP client (its own
// connections) and its own lease kept alive in the background, as a client
// process would. A client "dies" (kill -9 of a client process) when its
// keepalives and requests stop: the servers see exactly what they would see
// of a dead process. kill -9 of a server is real.

// lockArgs gives the observe streams a heartbeat, so that a stalled stream
// shows within seconds.
var lockArgs = []string{"--watch-heartbeat-interval", "200ms"}

// lockHolderJSON is the answer to POST /v1/locks/{name}, and an entry of the
// status.
type lockHolderJSON struct {
	Header    headerJSON `json:"header"`
	Key       *string    `json:"key"`
	KeyBase64 *string    `json:"key_base64"`
	Lease     int64      `json:"lease"`
	Fence     int64      `json:"fence"`
}

func (h lockHolderJSON) key() string {
	k, _ := textField("key", h.Key, h.KeyBase64)
	return string(k)
}

type lockStatusRespJSON struct {
	Header  headerJSON       `json:"header"`
	Owner   *lockHolderJSON  `json:"owner"`
	Waiters []lockHolderJSON `json:"waiters"`
}

// queue renders the status as "owner key [waiter keys...]".
func (s lockStatusRespJSON) queue() string {
	var keys []string
	if s.Owner != nil {
		keys = append(keys, s.Owner.key())
	}
	for _, w := range s.Waiters {
		keys = append(keys, w.key())
	}
	return strings.Join(keys, " ")
}

// lockStatus reads GET /v1/locks/{name} through m.
func lockStatus(m *member, name string) (lockStatusRespJSON, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var st lockStatusRespJSON
	err := m.getJSON(ctx, "/v1/locks/"+name, &st)
	return st, err
}

// waitLockQueue waits until the lock's queue, read through m, is want (keys
// separated by spaces, the owner first), and returns how long that took.
func waitLockQueue(t *testing.T, m *member, name, want string, timeout time.Duration) time.Duration {
	t.Helper()
	return waitFor(t, timeout, fmt.Sprintf("the queue of %q to be [%s]", name, want), func() error {
		st, err := lockStatus(m, name)
		if err != nil {
			return err
		}
		if got := st.queue(); got != want {
			return fmt.Errorf("%s: queue [%s]", m.name, got)
		}
		return nil
	})
}

// lockClient is one client: its own HTTP client and its own lease, kept
// alive by a background loop until halt.
type lockClient struct {
	t     *testing.T
	name  string
	hc    *http.Client
	lease int64
	ttl   int64

	stop, done chan struct{}
	mu         sync.Mutex
	lastOK     time.Time // when the last successful keepalive (or the grant) was sent
	kaFailures int
}

// newLockClient grants a lease of ttl seconds through members[0] and keeps
// it alive every period, through members[0] and, after a failure, through
// the next member.
func newLockClient(t *testing.T, name string, ttl int64, period time.Duration, members ...*member) *lockClient {
	t.Helper()
	lc := &lockClient{t: t, name: name, hc: newHTTPClient(t), ttl: ttl, stop: make(chan struct{}), done: make(chan struct{})}
	m := members[0]
	var g struct {
		ID  int64 `json:"id"`
		TTL int64 `json:"ttl"`
	}
	waitFor(t, 10*time.Second, name+": a lease grant through "+m.name, func() error {
		lc.lastOK = time.Now()
		r, err := m.doWith(context.Background(), lc.hc, http.MethodPost, "/v1/leases", []byte(fmt.Sprintf(`{"ttl": %d}`, ttl)))
		switch {
		case err != nil:
			return err
		case r.status == http.StatusServiceUnavailable || r.status == http.StatusGatewayTimeout:
			return fmt.Errorf("%s: %v", m.name, r)
		case r.status != http.StatusCreated:
			t.Fatalf("%s: %s: POST /v1/leases: %v, want 201", name, m.name, r)
		}
		return json.Unmarshal(r.body, &g)
	})
	if g.ID <= 0 || g.TTL != ttl {
		t.Fatalf("%s: granted lease %d with ttl %d, want ttl %d", name, g.ID, g.TTL, ttl)
	}
	lc.lease = g.ID
	go lc.keepAlive(period, members)
	t.Cleanup(func() { lc.halt() })
	return lc
}

func (lc *lockClient) keepAlive(period time.Duration, members []*member) {
	defer close(lc.done)
	tick := time.NewTicker(period)
	defer tick.Stop()
	path := "/v1/leases/" + strconv.FormatInt(lc.lease, 10) + "/keepalive"
	next := 0
	for {
		select {
		case <-lc.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), period)
		sent := time.Now()
		r, err := members[next%len(members)].doWith(ctx, lc.hc, http.MethodPost, path, nil)
		cancel()
		lc.mu.Lock()
		if err == nil && r.status == http.StatusOK {
			lc.lastOK = sent
		} else {
			lc.kaFailures++
			next++
		}
		lc.mu.Unlock()
	}
}

// halt stops the keepalives, as the death of the client's process does,
// and returns when the last successful one was sent: the lease expires no
// sooner than its TTL after that.
func (lc *lockClient) halt() time.Time {
	select {
	case <-lc.stop:
	default:
		close(lc.stop)
	}
	<-lc.done
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.lastOK
}

func (lc *lockClient) lastKeepAlive() time.Time {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.lastOK
}

// lock sends POST /v1/locks/{name}{query} with the client's lease through m
// and decodes a 200.
func (lc *lockClient) lock(ctx context.Context, m *member, name, query string) (lockHolderJSON, reply, error) {
	return lockVia(ctx, lc.hc, m, name, query, fmt.Sprintf(`{"lease": %d}`, lc.lease))
}

func lockVia(ctx context.Context, hc *http.Client, m *member, name, query, body string) (lockHolderJSON, reply, error) {
	var h lockHolderJSON
	r, err := m.doWith(ctx, hc, http.MethodPost, "/v1/locks/"+name+query, []byte(body))
	if err == nil && r.status == http.StatusOK {
		err = json.Unmarshal(r.body, &h)
	}
	return h, r, err
}

// unlock releases the lock held through key, through m.
func (lc *lockClient) unlock(m *member, name, key string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := m.doWith(ctx, lc.hc, http.MethodDelete, "/v1/locks/"+name+"?key="+key, nil)
	if err == nil && r.status != http.StatusOK {
		err = fmt.Errorf("%s: %s: unlock %s: %v", lc.name, m.name, key, r)
	}
	return err
}

// lockOutcome is the answer to a lock request sent in the background.
type lockOutcome struct {
	h   lockHolderJSON
	r   reply
	err error
	at  time.Time
}

// lockAsync sends the lock request in the background; cancel gives up
// (disconnects).
func (lc *lockClient) lockAsync(m *member, name, query string) (ch <-chan lockOutcome, cancel context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan lockOutcome, 1)
	go func() {
		h, r, err := lc.lock(ctx, m, name, query)
		out <- lockOutcome{h: h, r: r, err: err, at: time.Now()}
	}()
	lc.t.Cleanup(cancel)
	return out, cancel
}

func waitLock(t *testing.T, ch <-chan lockOutcome, timeout time.Duration, who string) lockOutcome {
	t.Helper()
	select {
	case o := <-ch:
		if o.err != nil || o.r.status != http.StatusOK {
			t.Fatalf("%s: lock: %v %v", who, o.r, o.err)
		}
		return o
	case <-time.After(timeout):
		t.Fatalf("%s did not get the lock within %v", who, timeout)
		return lockOutcome{}
	}
}

func stillWaiting(t *testing.T, ch <-chan lockOutcome, who string) {
	t.Helper()
	select {
	case o := <-ch:
		t.Fatalf("%s stopped waiting: %v %v (fence %d)", who, o.r, o.err, o.h.Fence)
	default:
	}
}

// lockKey returns the queue key of lease id in the lock called name.
func lockKey(name string, id int64) string { return name + "/" + strconv.FormatInt(id, 16) }

// checkTakeover checks that the next holder (or leader) took over at at,
// after a dead holder's last keepalive was sent at last: not before the
// holder's lease of ttl seconds ran out, and within 1.5 s after it did.
func checkTakeover(t *testing.T, what string, last, at time.Time, ttl int64) {
	t.Helper()
	took := at.Sub(last)
	t.Logf("%s %v after the dead holder's last keepalive was sent (ttl %ds)", what, took.Round(time.Millisecond), ttl)
	if at.Before(last.Add(time.Duration(ttl) * time.Second)) {
		t.Errorf("%s %v after the holder's last keepalive: before its ttl of %ds", what, took, ttl)
	}
	if limit := time.Duration(ttl)*time.Second + 1500*time.Millisecond; took > limit {
		t.Errorf("%s %v after the holder's last keepalive, want within %v", what, took, limit)
	}
}
