package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// lkDo is member.do through another HTTP client.
func lkDo(ctx context.Context, hc *http.Client, m *member, method, pathAndQuery string, body []byte) (reply, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, m.clientURL+pathAndQuery, rd)
	if err != nil {
		return reply{}, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return reply{}, fmt.Errorf("%s: %w", m.name, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, fmt.Errorf("%s: reading the answer to %s %s: %w", m.name, method, pathAndQuery, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: data}, nil
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
		r, err := lkDo(context.Background(), lc.hc, m, http.MethodPost, "/v1/leases", []byte(fmt.Sprintf(`{"ttl": %d}`, ttl)))
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
		r, err := lkDo(ctx, lc.hc, members[next%len(members)], http.MethodPost, path, nil)
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
	r, err := lkDo(ctx, hc, m, http.MethodPost, "/v1/locks/"+name+query, []byte(body))
	if err == nil && r.status == http.StatusOK {
		err = json.Unmarshal(r.body, &h)
	}
	return h, r, err
}

// unlock releases the lock held through key, through m.
func (lc *lockClient) unlock(m *member, name, key string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := lkDo(ctx, lc.hc, m, http.MethodDelete, "/v1/locks/"+name+"?key="+key, nil)
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

// TestLock_FencedCounter: clients each take one lock many times through
// different members and, under the lock, increment a shared counter with a
// txn that succeeds only if the fence they hold is newer than the last one
// written. The counter ends at clients × rounds, no two holders ever
// overlap, and the fences strictly increase in the order the lock was
// granted. The default is 10 clients × 20 rounds; CAIRN_SOAK=1 runs the
// 10 × 100 of the issue.
func TestLock_FencedCounter(t *testing.T) {
	begin := time.Now()
	clients, rounds := 10, 20
	if os.Getenv("CAIRN_SOAK") != "" {
		rounds = 100
	}
	c := newCluster(t, 3, lockArgs...)
	const name, counterKey, fenceKey = "fenced/lock", "fenced/counter", "fenced/fence"
	pad := func(f int64) string { return fmt.Sprintf("%020d", f) }
	c.members[0].mustPut([]byte(counterKey), []byte("0"))
	c.members[0].mustPut([]byte(fenceKey), []byte(pad(0)))

	var (
		holding atomic.Int64 // the client holding the lock + 1, or 0
		mu      sync.Mutex
		fences  []int64 // in the order the lock was granted
		waits   []time.Duration
	)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	lcs := make([]*lockClient, clients)
	for i := range clients {
		ms := []*member{c.members[i%3], c.members[(i+1)%3], c.members[(i+2)%3]}
		lcs[i] = newLockClient(t, fmt.Sprintf("client %d", i), 5, time.Second, ms...)
	}
	// fail reports an error and stops every client: one that stopped
	// while holding the lock would keep the others waiting.
	fail := func(format string, args ...any) {
		t.Errorf(format, args...)
		cancel()
	}
	runStart := time.Now()
	var wg sync.WaitGroup
	for i, lc := range lcs {
		wg.Go(func() {
			for j := range rounds {
				m := c.members[(i+j)%3]
				sent := time.Now()
				h, r, err := lc.lock(ctx, m, name, "")
				if err != nil || r.status != http.StatusOK {
					fail("%s round %d: %s: lock: %v %v", lc.name, j, m.name, r, err)
					return
				}
				if !holding.CompareAndSwap(0, int64(i)+1) {
					fail("%s round %d: granted the lock (fence %d) while client %d holds it", lc.name, j, h.Fence, holding.Load()-1)
					return
				}
				mu.Lock()
				fences = append(fences, h.Fence)
				waits = append(waits, time.Since(sent))
				mu.Unlock()
				err = incrementFenced(ctx, lc.hc, m, counterKey, fenceKey, pad(h.Fence))
				if !holding.CompareAndSwap(int64(i)+1, 0) {
					fail("%s round %d: someone else took the lock while it held it", lc.name, j)
				}
				if err != nil {
					fail("%s round %d: %v", lc.name, j, err)
				}
				if err := lc.unlock(m, name, h.key()); err != nil {
					fail("%s round %d: %v", lc.name, j, err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(runStart)

	kv, err := c.members[2].getKV(context.Background(), []byte(counterKey), "")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := kv.value()
	if want := strconv.Itoa(clients * rounds); string(raw) != want {
		t.Errorf("counter = %s, want %s", raw, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(fences) != clients*rounds {
		t.Errorf("%d acquisitions, want %d", len(fences), clients*rounds)
	}
	for k := 1; k < len(fences); k++ {
		if fences[k] <= fences[k-1] {
			t.Errorf("acquisition %d got fence %d after fence %d: fences must strictly increase", k, fences[k], fences[k-1])
		}
	}
	// A holder whose fence is no longer the newest is refused.
	if len(fences) > 0 {
		err := incrementFenced(context.Background(), lcs[0].hc, c.members[1], counterKey, fenceKey, pad(fences[len(fences)-1]))
		if err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("a stale fence incremented the counter: %v", err)
		}
	}
	st, err := lockStatus(c.members[0], name)
	if err != nil || st.Owner != nil || len(st.Waiters) != 0 {
		t.Errorf("the lock after every client unlocked: %+v %v, want free", st, err)
	}
	var maxWait time.Duration
	for _, w := range waits {
		maxWait = max(maxWait, w)
	}
	t.Logf("%d clients × %d rounds: %d acquisitions in %v (%.0f/s, %.1f ms each), longest wait %v; test took %v",
		clients, rounds, len(fences), elapsed.Round(time.Millisecond), float64(len(fences))/elapsed.Seconds(),
		float64(elapsed.Milliseconds())/float64(max(len(fences), 1)), maxWait.Round(time.Millisecond), time.Since(begin).Round(time.Millisecond))
}

// incrementFenced reads the counter and writes counter+1 and fence in one
// txn that holds only if the fence stored is older than fence (zero-padded
// decimals compare as numbers).
func incrementFenced(ctx context.Context, hc *http.Client, m *member, counterKey, fenceKey, fence string) error {
	r, err := lkDo(ctx, hc, m, http.MethodGet, keyPath([]byte(counterKey)), nil)
	if err != nil || r.status != http.StatusOK {
		return fmt.Errorf("%s: read the counter: %v %v", m.name, r, err)
	}
	var rr rangeJSON
	if err := json.Unmarshal(r.body, &rr); err != nil || len(rr.Kvs) != 1 {
		return fmt.Errorf("%s: read the counter: %s %v", m.name, r.body, err)
	}
	raw, _ := rr.Kvs[0].value()
	n, err := strconv.Atoi(string(raw))
	if err != nil {
		return fmt.Errorf("counter %q: %w", raw, err)
	}
	txn, _ := json.Marshal(map[string]any{
		"compare": []any{map[string]any{"key": fenceKey, "target": "value", "result": "less", "value": fence}},
		"success": []any{
			map[string]any{"put": map[string]any{"key": counterKey, "value": strconv.Itoa(n + 1)}},
			map[string]any{"put": map[string]any{"key": fenceKey, "value": fence}},
		},
		"failure": []any{map[string]any{"get": map[string]any{"key": fenceKey}}},
	})
	r, err = lkDo(ctx, hc, m, http.MethodPost, "/v1/txn", txn)
	if err != nil || r.status != http.StatusOK {
		return fmt.Errorf("%s: txn: %v %v", m.name, r, err)
	}
	var out struct {
		Succeeded bool `json:"succeeded"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil {
		return fmt.Errorf("%s: txn answer %s: %w", m.name, r.body, err)
	}
	if !out.Succeeded {
		return fmt.Errorf("%s: the fenced increment was refused: fence %s is not newer than the stored one: %s", m.name, fence, r.body)
	}
	return nil
}

// TestLock_ClientsDieOrGiveUp: the holder's process dies (its keepalives
// stop) and the next waiter gets the lock within the lease TTL plus a
// little; a waiter that gives up, at its timeout or by disconnecting,
// leaves no key behind (nor a lease the lock granted for it).
func TestLock_ClientsDieOrGiveUp(t *testing.T) {
	c := newCluster(t, 3, lockArgs...)
	n1, n2, n3 := c.members[0], c.members[1], c.members[2]

	t.Run("HolderDies", func(t *testing.T) {
		const ttl = 3
		const name = "die/lock"
		a := newLockClient(t, "holder", ttl, 500*time.Millisecond, n1, n2, n3)
		b := newLockClient(t, "waiter", 5, time.Second, n2, n3, n1)
		ha, r, err := a.lock(context.Background(), n1, name, "")
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("holder: lock: %v %v", r, err)
		}
		if ha.key() != lockKey(name, a.lease) || ha.Lease != a.lease || ha.Fence <= 0 {
			t.Fatalf("holder got %+v, want key %s and lease %d", ha, lockKey(name, a.lease), a.lease)
		}
		bch, _ := b.lockAsync(n2, name, "")
		waitLockQueue(t, n3, name, ha.key()+" "+lockKey(name, b.lease), 5*time.Second)
		// The holder's process dies: its keepalives stop.
		last := a.halt()
		o := waitLock(t, bch, ttl*time.Second+5*time.Second, "the waiter")
		took := o.at.Sub(last)
		t.Logf("the waiter got the lock %v after the dead holder's last keepalive was sent (ttl %ds)", took.Round(time.Millisecond), ttl)
		if o.at.Before(last.Add(ttl * time.Second)) {
			t.Errorf("the waiter got the lock %v after the holder's last keepalive: before its ttl of %ds", took, ttl)
		}
		if limit := ttl*time.Second + 1500*time.Millisecond; took > limit {
			t.Errorf("the waiter got the lock %v after the holder's last keepalive, want within %v", took, limit)
		}
		if o.h.key() != lockKey(name, b.lease) || o.h.Fence <= ha.Fence {
			t.Errorf("the waiter got %s fence %d, want %s with a fence above %d", o.h.key(), o.h.Fence, lockKey(name, b.lease), ha.Fence)
		}
		// The dead holder's key went with its lease.
		if err := a.unlock(n3, name, ha.key()); err == nil || !strings.Contains(err.Error(), "404") {
			t.Errorf("unlock by the dead holder: %v, want 404", err)
		}
		if err := b.unlock(n1, name, o.h.key()); err != nil {
			t.Error(err)
		}
	})

	t.Run("WaiterTimeout", func(t *testing.T) {
		const name = "timeout/lock"
		a := newLockClient(t, "holder", 5, time.Second, n1, n2, n3)
		w := newLockClient(t, "waiter", 5, time.Second, n2, n3, n1)
		ha, r, err := a.lock(context.Background(), n1, name, "")
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("holder: lock: %v %v", r, err)
		}
		leasesBefore := lockLeaseIDs(t, n1)
		for _, tc := range []struct {
			name, query, body string
			min               time.Duration
		}{
			{name: "OwnLease", query: "?timeout=200ms", body: fmt.Sprintf(`{"lease": %d}`, w.lease), min: 200 * time.Millisecond},
			{name: "GrantedLease", query: "?timeout=200ms", body: `{"ttl": 5}`, min: 200 * time.Millisecond},
			{name: "TryOnce", query: "?timeout=0", body: fmt.Sprintf(`{"lease": %d}`, w.lease)},
		} {
			for _, m := range c.members {
				start := time.Now()
				_, r, err := lockVia(context.Background(), w.hc, m, name, tc.query, tc.body)
				took := time.Since(start)
				if err != nil || r.status != http.StatusLocked || r.errorCode() != "locked" {
					t.Errorf("%s via %s: %v %v, want 423 locked", tc.name, m.name, r, err)
				}
				if took < tc.min || took > tc.min+2*time.Second {
					t.Errorf("%s via %s: answered after %v, want %v plus a little", tc.name, m.name, took, tc.min)
				}
			}
			for _, m := range c.members {
				waitLockQueue(t, m, name, ha.key(), 5*time.Second)
			}
		}
		if got := lockLeaseIDs(t, n2); fmt.Sprint(got) != fmt.Sprint(leasesBefore) {
			t.Errorf("leases after the waiters gave up: %v, want %v (the leases the lock granted revoked)", got, leasesBefore)
		}
		if err := a.unlock(n2, name, ha.key()); err != nil {
			t.Error(err)
		}
	})

	t.Run("WaiterDisconnects", func(t *testing.T) {
		const name = "disconnect/lock"
		a := newLockClient(t, "holder", 5, time.Second, n1, n2, n3)
		w := newLockClient(t, "waiter", 5, time.Second, n2, n3, n1)
		ha, r, err := a.lock(context.Background(), n1, name, "")
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("holder: lock: %v %v", r, err)
		}
		// With its own lease, through each member.
		for _, m := range c.members {
			ch, disconnect := w.lockAsync(m, name, "")
			waitLockQueue(t, n1, name, ha.key()+" "+lockKey(name, w.lease), 5*time.Second)
			disconnect()
			if o := <-ch; o.err == nil {
				t.Fatalf("via %s: the lock request ended with %v after the disconnect", m.name, o.r)
			}
			took := waitLockQueue(t, n1, name, ha.key(), 5*time.Second)
			t.Logf("via %s: the waiter's key went %v after it disconnected", m.name, took.Round(time.Millisecond))
		}
		// With a lease the lock granted: the lease is revoked too.
		ctx, disconnect := context.WithCancel(context.Background())
		defer disconnect()
		ch := make(chan error, 1)
		go func() {
			_, _, err := lockVia(ctx, w.hc, n3, name, "", `{"ttl": 5}`)
			ch <- err
		}()
		var granted int64
		waitFor(t, 5*time.Second, "the waiter with a granted lease in the queue", func() error {
			st, err := lockStatus(n2, name)
			if err != nil {
				return err
			}
			if len(st.Waiters) != 1 {
				return fmt.Errorf("queue [%s]", st.queue())
			}
			granted = st.Waiters[0].Lease
			return nil
		})
		disconnect()
		if err := <-ch; err == nil {
			t.Fatal("the lock request succeeded after the disconnect")
		}
		waitLockQueue(t, n1, name, ha.key(), 5*time.Second)
		waitFor(t, 5*time.Second, "the granted lease to be revoked", func() error {
			r, err := n2.call(http.MethodGet, "/v1/leases/"+strconv.FormatInt(granted, 10), nil)
			if err != nil || r.status != http.StatusNotFound {
				return fmt.Errorf("lease %d: %v %v", granted, r, err)
			}
			return nil
		})
		// The lock still works for the next waiter.
		ch2, _ := w.lockAsync(n2, name, "")
		waitLockQueue(t, n3, name, ha.key()+" "+lockKey(name, w.lease), 5*time.Second)
		if err := a.unlock(n3, name, ha.key()); err != nil {
			t.Fatal(err)
		}
		o := waitLock(t, ch2, 5*time.Second, "the next waiter")
		if o.h.Fence <= ha.Fence {
			t.Errorf("the next waiter got fence %d after %d", o.h.Fence, ha.Fence)
		}
	})
}

// lockLeaseIDs lists the leases through m.
func lockLeaseIDs(t *testing.T, m *member) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out struct {
		Leases []struct {
			ID int64 `json:"id"`
		} `json:"leases"`
	}
	if err := m.getJSON(ctx, "/v1/leases", &out); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, l := range out.Leases {
		ids = append(ids, l.ID)
	}
	slices.Sort(ids)
	return ids
}

// TestLock_LeaderKilled: kill -9 of the cluster leader while a lock is held
// and awaited loses no lock and grants none twice: after the new leader is
// up the holder still holds it (past its lease's TTL, kept alive through
// the survivors), the waiter still waits, and it gets the lock only once
// the holder unlocks.
func TestLock_LeaderKilled(t *testing.T) {
	const ttl = 3
	const name = "failover/lock"
	c := newCluster(t, 3, lockArgs...)
	leader := c.leader()
	f := c.others(leader)
	h := newLockClient(t, "holder", ttl, 500*time.Millisecond, f[0], f[1], leader)
	w := newLockClient(t, "waiter", ttl, 500*time.Millisecond, f[1], f[0], leader)
	hh, r, err := h.lock(context.Background(), f[0], name, "")
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("holder: lock: %v %v", r, err)
	}
	wch, _ := w.lockAsync(f[1], name, "")
	want := hh.key() + " " + lockKey(name, w.lease)
	waitLockQueue(t, f[0], name, want, 5*time.Second)

	leader.kill()
	killed := time.Now()
	var newLeader string
	waitFor(t, 10*time.Second, "the survivors to agree on a new leader", func() error {
		newLeader = ""
		for _, m := range f {
			st, err := m.status(context.Background())
			if err != nil {
				return err
			}
			if st.LeaderName == "" || st.LeaderName == leader.name || newLeader != "" && st.LeaderName != newLeader {
				return fmt.Errorf("%s follows %q", m.name, st.LeaderName)
			}
			newLeader = st.LeaderName
		}
		return nil
	})
	t.Logf("%s killed; %s leads after %v", leader.name, newLeader, time.Since(killed).Round(time.Millisecond))

	// For longer than the TTL after the new leader is up, the holder keeps
	// the lock and the waiter waits.
	until := time.Now().Add(ttl*time.Second + time.Second)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(until) {
		for _, m := range f {
			waitLockQueue(t, m, name, want, 5*time.Second)
		}
		stillWaiting(t, wch, "the waiter while the holder holds the lock")
		<-tick.C
	}
	if ka := h.lastKeepAlive(); !ka.After(killed) {
		t.Fatalf("the holder's keepalives all failed since the kill (last OK %v before it)", killed.Sub(ka))
	}
	// The holder asks again with its lease: it holds the lock, same key
	// and fence.
	again, r, err := h.lock(context.Background(), f[1], name, "?timeout=0")
	if err != nil || r.status != http.StatusOK || again.key() != hh.key() || again.Fence != hh.Fence {
		t.Fatalf("the holder asks again after the failover: %v %v %+v, want %s fence %d", r, err, again, hh.key(), hh.Fence)
	}
	stillWaiting(t, wch, "the waiter")

	unlockSent := time.Now()
	if err := h.unlock(f[1], name, hh.key()); err != nil {
		t.Fatal(err)
	}
	o := waitLock(t, wch, 5*time.Second, "the waiter")
	if o.at.Before(unlockSent) || o.h.key() != lockKey(name, w.lease) || o.h.Fence <= hh.Fence {
		t.Fatalf("the waiter got %s fence %d at %v from the unlock, want %s with a fence above %d after the unlock",
			o.h.key(), o.h.Fence, o.at.Sub(unlockSent), lockKey(name, w.lease), hh.Fence)
	}
	t.Logf("the waiter got the lock %v after the holder unlocked", o.at.Sub(unlockSent).Round(time.Millisecond))

	// The killed member comes back and agrees.
	leader.start()
	leader.waitReady(15 * time.Second)
	waitLockQueue(t, leader, name, o.h.key(), 10*time.Second)
}

// TestLockElection_LeaderProcessDies: three candidates, each with its own
// lease kept alive; the leader's process dies (its keepalives stop) and the
// next candidate leads within the TTL plus a little; it resigns and the
// third leads. An observer sees every change of leader and value, in order.
func TestLockElection_LeaderProcessDies(t *testing.T) {
	const ttl = 3
	const name = "election/e"
	c := newCluster(t, 3, lockArgs...)
	obs, err := openSSE(streamClient(c), c.members[2], "/v1/elections/"+name+"/observe", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer obs.close()

	cands := make([]*lockClient, 3)
	for i := range cands {
		ms := []*member{c.members[i], c.members[(i+1)%3], c.members[(i+2)%3]}
		cands[i] = newLockClient(t, fmt.Sprintf("candidate %d", i), ttl, 500*time.Millisecond, ms...)
	}
	type campaigned struct {
		leader electionLeaderJSON
		r      reply
		err    error
		at     time.Time
	}
	campaign := func(i int) <-chan campaigned {
		ch := make(chan campaigned, 1)
		go func() {
			body := fmt.Sprintf(`{"value": "v%d", "lease": %d}`, i, cands[i].lease)
			r, err := lkDo(context.Background(), cands[i].hc, c.members[i], http.MethodPost, "/v1/elections/"+name+"/campaign", []byte(body))
			out := campaigned{r: r, err: err, at: time.Now()}
			if err == nil && r.status == http.StatusOK {
				var resp struct {
					Leader electionLeaderJSON `json:"leader"`
				}
				out.err = json.Unmarshal(r.body, &resp)
				out.leader = resp.Leader
			}
			ch <- out
		}()
		return ch
	}
	won := func(ch <-chan campaigned, i int, timeout time.Duration) campaigned {
		t.Helper()
		select {
		case o := <-ch:
			if o.err != nil || o.r.status != http.StatusOK {
				t.Fatalf("candidate %d: campaign: %v %v", i, o.r, o.err)
			}
			if o.leader.Key != lockKey(name, cands[i].lease) || o.leader.Lease != cands[i].lease || o.leader.Rev <= 0 {
				t.Fatalf("candidate %d won as %+v", i, o.leader)
			}
			return o
		case <-time.After(timeout):
			t.Fatalf("candidate %d did not win within %v", i, timeout)
			return campaigned{}
		}
	}
	candidates := func(n int) {
		t.Helper()
		waitFor(t, 5*time.Second, fmt.Sprintf("%d candidates", n), func() error {
			got, err := c.members[0].listPrefix(context.Background(), name+"/", "")
			if err != nil {
				return err
			}
			if len(got) != n {
				return fmt.Errorf("%d candidates: %v", len(got), got)
			}
			return nil
		})
	}

	c0 := won(campaign(0), 0, 5*time.Second)
	ch1 := campaign(1)
	candidates(2)
	ch2 := campaign(2)
	candidates(3)

	// The leader proclaims a new value through another member.
	proclaim := func(m *member, l electionLeaderJSON, value string) reply {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"leader": l, "value": value})
		r, err := m.call(http.MethodPost, "/v1/elections/"+name+"/proclaim", body)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := proclaim(c.members[1], c0.leader, "v0b"); r.status != http.StatusOK {
		t.Fatalf("proclaim by the leader: %v", r)
	}
	// A candidate that does not lead cannot proclaim or resign.
	kv1, err := c.members[0].getKV(context.Background(), []byte(lockKey(name, cands[1].lease)), "")
	if err != nil {
		t.Fatal(err)
	}
	not := electionLeaderJSON{Name: name, Key: lockKey(name, cands[1].lease), Rev: kv1.CreateRevision, Lease: cands[1].lease}
	if r := proclaim(c.members[2], not, "nope"); r.status != http.StatusPreconditionFailed || r.errorCode() != "precondition_failed" {
		t.Fatalf("proclaim by a candidate that does not lead: %v, want 412", r)
	}
	resignBody, _ := json.Marshal(map[string]any{"leader": not})
	if r, err := c.members[0].call(http.MethodPost, "/v1/elections/"+name+"/resign", resignBody); err != nil || r.status != http.StatusPreconditionFailed {
		t.Fatalf("resign by a candidate that does not lead: %v %v, want 412", r, err)
	}

	// The leader's process dies.
	last := cands[0].halt()
	c1 := won(ch1, 1, ttl*time.Second+5*time.Second)
	took := c1.at.Sub(last)
	t.Logf("candidate 1 leads %v after the dead leader's last keepalive was sent (ttl %ds)", took.Round(time.Millisecond), ttl)
	if c1.at.Before(last.Add(ttl * time.Second)) {
		t.Errorf("candidate 1 leads %v after the leader's last keepalive: before its ttl of %ds", took, ttl)
	}
	if limit := ttl*time.Second + 1500*time.Millisecond; took > limit {
		t.Errorf("candidate 1 leads %v after the leader's last keepalive, want within %v", took, limit)
	}
	select {
	case o := <-ch2:
		t.Fatalf("candidate 2 won while candidate 1 leads: %v %v", o.r, o.err)
	default:
	}

	// Candidate 1 resigns: candidate 2 leads.
	resignBody, _ = json.Marshal(map[string]any{"leader": c1.leader})
	if r, err := c.members[2].call(http.MethodPost, "/v1/elections/"+name+"/resign", resignBody); err != nil || r.status != http.StatusOK {
		t.Fatalf("resign by the leader: %v %v", r, err)
	}
	c2 := won(ch2, 2, 5*time.Second)
	var cur electionKVJSON
	if err := c.members[0].getJSON(context.Background(), "/v1/elections/"+name, &cur); err != nil {
		t.Fatal(err)
	}
	if k, _ := cur.Kv.key(); string(k) != c2.leader.Key {
		t.Fatalf("GET the election: leader %q, want %q", k, c2.leader.Key)
	}

	// The observer saw every change, in order.
	want := []string{
		c0.leader.Key + "=v0", c0.leader.Key + "=v0b", c1.leader.Key + "=v1", c2.leader.Key + "=v2",
	}
	var got []string
	var prevRev int64
	for len(got) < len(want) {
		msg, err := obs.next(streamIdle, time.Now().Add(10*time.Second))
		if err != nil {
			t.Fatalf("observer after %q: %v", got, err)
		}
		if msg.event != "leader" {
			t.Fatalf("observer: event %q: %s", msg.event, msg.data)
		}
		var kv electionKVJSON
		if err := json.Unmarshal([]byte(msg.data), &kv); err != nil {
			t.Fatalf("observer: %v in %s", err, msg.data)
		}
		k, _ := kv.Kv.key()
		v, _ := kv.Kv.value()
		rev, err := strconv.ParseInt(msg.id, 10, 64)
		if err != nil || rev <= prevRev {
			t.Fatalf("observer: id %q after revision %d", msg.id, prevRev)
		}
		prevRev = rev
		got = append(got, string(k)+"="+string(v))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("observed %q, want %q", got, want)
	}
}

type electionLeaderJSON struct {
	Name  string `json:"name"`
	Key   string `json:"key"`
	Rev   int64  `json:"rev"`
	Lease int64  `json:"lease"`
}

type electionKVJSON struct {
	Header headerJSON `json:"header"`
	Kv     kvJSON     `json:"kv"`
}
