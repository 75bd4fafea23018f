package e2e

import (
	"context"
	"encoding/json"
	"fmt"
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
				for attempt := 1; err == nil && attempt <= 5 && (r.status == http.StatusServiceUnavailable || r.status == http.StatusGatewayTimeout); attempt++ {
					// A leader change on a loaded machine: try again, as a
					// client would. After a 504 the first attempt may have
					// joined the line; its lease expires and lets the
					// line move on.
					t.Logf("%s round %d: %s: lock: %v; again", lc.name, j, m.name, r)
					h, r, err = lc.lock(ctx, m, name, "")
				}
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
	r, err := m.doWith(ctx, hc, http.MethodGet, keyPath([]byte(counterKey)), nil)
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
	r, err = m.doWith(ctx, hc, http.MethodPost, "/v1/txn", txn)
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
		checkTakeover(t, "the waiter got the lock", last, o.at, ttl)
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
