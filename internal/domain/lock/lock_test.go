package lock_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/domaintest"
	"github.com/cairnkv/cairn/internal/domain/kv"
	"github.com/cairnkv/cairn/internal/domain/lease"
	"github.com/cairnkv/cairn/internal/domain/lock"
	"github.com/cairnkv/cairn/internal/domain/watch"
	"github.com/cairnkv/cairn/internal/ports/portstest"
)

// watchLog records what the queue asks to watch, at the port.
type watchLog struct {
	svc *watch.Service

	mu   sync.Mutex
	reqs []watch.Request
}

func (w *watchLog) Watch(ctx context.Context, req watch.Request) (*watch.Watcher, error) {
	w.mu.Lock()
	w.reqs = append(w.reqs, req)
	w.mu.Unlock()
	return w.svc.Watch(ctx, req)
}

func (w *watchLog) Done() <-chan struct{} { return w.svc.Done() }

func (w *watchLog) requests() []watch.Request {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]watch.Request(nil), w.reqs...)
}

// env is a one-member world over in-memory fakes: the KV, watch and lease
// services the lock service stands on, a lessor that runs on a manual clock,
// and the hub fed by the proposer's results.
type env struct {
	t       *testing.T
	backend *portstest.Backend
	hub     *watch.Hub
	clock   *portstest.Clock
	kv      *kv.Service
	leases  *lease.Service
	watches *watchLog
	locks   *lock.Service
	prop    *domaintest.Publisher
}

func newEnv(t *testing.T) *env {
	t.Helper()
	w := domaintest.NewWorld(t)
	e := &env{t: t, backend: w.Backend, hub: w.Hub, clock: w.Clock, kv: w.KV, leases: w.Leases, prop: w.Proposer}
	e.watches = &watchLog{svc: w.Watches}
	e.locks = lock.New(lock.NewQueue(e.kv, e.watches, e.leases))
	return e
}

func (e *env) grant(ttl int64) int64 {
	e.t.Helper()
	g, err := e.leases.Grant(context.Background(), ttl, 0)
	if err != nil {
		e.t.Fatalf("grant: %v", err)
	}
	return g.Lease.ID
}

func (e *env) revoke(id int64) {
	e.t.Helper()
	if _, err := e.leases.Revoke(context.Background(), id); err != nil {
		e.t.Fatalf("revoke %d: %v", id, err)
	}
}

func (e *env) lock(name string, leaseID int64) lock.Holder {
	e.t.Helper()
	h, err := e.locks.Lock(context.Background(), []byte(name), leaseID, 0, lock.WaitForever)
	if err != nil {
		e.t.Fatalf("lock %q with lease %d: %v", name, leaseID, err)
	}
	return h
}

func (e *env) unlock(name string, h lock.Holder) {
	e.t.Helper()
	if _, err := e.locks.Unlock(context.Background(), []byte(name), h.Key); err != nil {
		e.t.Fatalf("unlock %q key %q: %v", name, h.Key, err)
	}
}

// get returns the key's kv, or nil when it does not exist.
func (e *env) get(key []byte) *domain.KeyValue {
	e.t.Helper()
	resp, _, err := e.kv.Range(context.Background(), domain.RangeRequest{Key: key})
	if err != nil {
		e.t.Fatalf("get %q: %v", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil
	}
	return &resp.Kvs[0]
}

// queue returns the keys of the lock's queue, the owner first.
func (e *env) queue(name string) []string {
	e.t.Helper()
	owner, waiters, _, err := e.locks.Status(context.Background(), []byte(name))
	if err != nil {
		e.t.Fatalf("status %q: %v", name, err)
	}
	var out []string
	if owner != nil {
		out = append(out, string(owner.Key))
	}
	for _, w := range waiters {
		out = append(out, string(w.Key))
	}
	return out
}

// leaseIDs returns the IDs of the leases that exist.
func (e *env) leaseIDs() map[int64]bool {
	e.t.Helper()
	ls, _, err := e.leases.List(context.Background(), false)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[int64]bool{}
	for _, l := range ls {
		out[l.ID] = true
	}
	return out
}

// waitQueue waits until the lock's queue is want.
func (e *env) waitQueue(name string, want ...string) {
	e.t.Helper()
	waitFor(e.t, fmt.Sprintf("queue of %q to be %q", name, want), func() bool {
		return fmt.Sprint(e.queue(name)) == fmt.Sprint(want)
	})
}

// waitFor polls cond every millisecond for up to 5 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// lockAsync calls Lock in a goroutine; the outcome comes on the channel.
type outcome struct {
	h   lock.Holder
	err error
}

func (e *env) lockAsync(ctx context.Context, name string, leaseID, ttl int64) <-chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		h, err := e.locks.Lock(ctx, []byte(name), leaseID, ttl, lock.WaitForever)
		ch <- outcome{h, err}
	}()
	return ch
}

func receive(t *testing.T, ch <-chan outcome) outcome {
	t.Helper()
	return domaintest.Receive(t, ch, "Lock")
}

func pending(t *testing.T, ch <-chan outcome, who string) {
	t.Helper()
	domaintest.Pending(t, ch, who)
}

func TestService_Lock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("Free", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		id := e.grant(10)
		h := e.lock("jobs/a", id)
		kv := e.get(h.Key)
		switch {
		case !bytes.Equal(h.Key, lock.Key([]byte("jobs/a"), id)):
			t.Fatalf("key = %q, want %q", h.Key, lock.Key([]byte("jobs/a"), id))
		case kv == nil || kv.Lease != id:
			t.Fatalf("owner key = %+v, want one attached to lease %d", kv, id)
		case h.Lease != id || h.Fence != kv.CreateRevision:
			t.Fatalf("holder = %+v, want lease %d and fence %d (the key's create revision)", h, id, kv.CreateRevision)
		}
		e.waitQueue("jobs/a", string(h.Key))
	})

	t.Run("FreeTryOnce", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		id := e.grant(10)
		h, err := e.locks.Lock(ctx, []byte("l"), id, 0, 0)
		if err != nil || h.Fence <= 0 {
			t.Fatalf("try once on a free lock = %+v %v", h, err)
		}
	})

	t.Run("FIFO", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		const n = 5
		type acquired struct {
			i int
			h lock.Holder
		}
		got := make(chan acquired, n)
		release := make([]chan struct{}, n)
		var holding atomic.Int32
		var wg sync.WaitGroup
		var keys []string
		for i := range n {
			release[i] = make(chan struct{})
			id := e.grant(10)
			keys = append(keys, string(lock.Key([]byte("fifo"), id)))
			wg.Add(1)
			go func() {
				defer wg.Done()
				h, err := e.locks.Lock(ctx, []byte("fifo"), id, 0, lock.WaitForever)
				if err != nil {
					t.Errorf("waiter %d: %v", i, err)
					return
				}
				if c := holding.Add(1); c != 1 {
					t.Errorf("waiter %d acquired while %d others hold the lock", i, c-1)
				}
				got <- acquired{i, h}
				<-release[i]
				holding.Add(-1)
				if _, err := e.locks.Unlock(ctx, []byte("fifo"), h.Key); err != nil {
					t.Errorf("waiter %d: unlock: %v", i, err)
				}
			}()
			// The next one arrives only once this one is in the queue.
			e.waitQueue("fifo", keys...)
		}
		var prev int64
		for want := range n {
			var a acquired
			select {
			case a = <-got:
			case <-time.After(5 * time.Second):
				t.Fatalf("nobody acquired the lock after waiter %d", want-1)
			}
			if a.i != want {
				t.Fatalf("waiter %d acquired the lock, want waiter %d (arrival order)", a.i, want)
			}
			if a.h.Fence <= prev {
				t.Fatalf("waiter %d got fence %d after fence %d: fences must increase", a.i, a.h.Fence, prev)
			}
			prev = a.h.Fence
			// Nobody else has it while this one holds it.
			e.waitQueue("fifo", keys[want:]...)
			select {
			case b := <-got:
				t.Fatalf("waiter %d acquired the lock while waiter %d holds it", b.i, a.i)
			default:
			}
			close(release[a.i])
		}
		wg.Wait()
		e.waitQueue("fifo")
	})

	t.Run("TryOnceOnHeld", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		a := e.lock("l", e.grant(10))
		b := e.grant(10)
		_, err := e.locks.Lock(ctx, []byte("l"), b, 0, 0)
		if !errors.Is(err, domain.ErrLocked) {
			t.Fatalf("try once on a held lock: %v, want ErrLocked", err)
		}
		if kv := e.get(lock.Key([]byte("l"), b)); kv != nil {
			t.Fatalf("the waiter's key is still there: %+v", kv)
		}
		e.waitQueue("l", string(a.Key))
		if !e.leaseIDs()[b] {
			t.Fatal("the client's own lease was revoked: only a lease the lock granted is")
		}
	})

	t.Run("Reentrant", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		id := e.grant(10)
		first := e.lock("l", id)
		again := e.lock("l", id)
		if !bytes.Equal(first.Key, again.Key) || first.Fence != again.Fence {
			t.Fatalf("second Lock with the same lease = %q fence %d, want %q fence %d", again.Key, again.Fence, first.Key, first.Fence)
		}
		try, err := e.locks.Lock(ctx, []byte("l"), id, 0, 0)
		if err != nil || try.Fence != first.Fence {
			t.Fatalf("try once with the holder's lease = %+v %v", try, err)
		}
		e.waitQueue("l", string(first.Key))
	})

	t.Run("InvalidArgument", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		for _, tc := range []struct {
			name       string
			lock       string
			lease, ttl int64
		}{
			{name: "EmptyName", lock: "", lease: 1},
			{name: "NeitherLeaseNorTTL", lock: "l"},
			{name: "NegativeLease", lock: "l", lease: -1},
		} {
			if _, err := e.locks.Lock(ctx, []byte(tc.lock), tc.lease, tc.ttl, 0); !errors.Is(err, domain.ErrInvalidArgument) {
				t.Errorf("%s: %v, want ErrInvalidArgument", tc.name, err)
			}
		}
		if _, err := e.locks.Lock(ctx, []byte("l"), 12345, 0, 0); !errors.Is(err, domain.ErrLeaseNotFound) {
			t.Errorf("a lease that does not exist: %v, want ErrLeaseNotFound", err)
		}
		if _, err := e.locks.Unlock(ctx, []byte("l"), []byte("other/1")); !errors.Is(err, domain.ErrInvalidArgument) {
			t.Errorf("unlock with a key of another lock: %v, want ErrInvalidArgument", err)
		}
		if _, err := e.locks.Unlock(ctx, []byte("l"), []byte("l/1")); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("unlock of a key that is not there: %v, want ErrNotFound", err)
		}
	})
}

func TestService_Lock_GiveUp(t *testing.T) {
	t.Parallel()

	t.Run("Cancel", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		a := e.lock("l", e.grant(10))
		b := e.grant(10)
		bKey := string(lock.Key([]byte("l"), b))
		ctx, cancel := context.WithCancel(context.Background())
		ch := e.lockAsync(ctx, "l", b, 0)
		e.waitQueue("l", string(a.Key), bKey)
		cancel()
		if o := receive(t, ch); !errors.Is(o.err, context.Canceled) {
			t.Fatalf("cancelled waiter: %+v %v, want context.Canceled", o.h, o.err)
		}
		if kv := e.get([]byte(bKey)); kv != nil {
			t.Fatalf("the cancelled waiter's key is still there: %+v", kv)
		}
		e.waitQueue("l", string(a.Key))
	})

	t.Run("Deadline", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		a := e.lock("l", e.grant(10))
		b := e.grant(10)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := e.locks.Lock(ctx, []byte("l"), b, 0, lock.WaitForever)
		if !errors.Is(err, domain.ErrLocked) {
			t.Fatalf("waiter past its deadline: %v, want ErrLocked", err)
		}
		if kv := e.get(lock.Key([]byte("l"), b)); kv != nil {
			t.Fatalf("the waiter's key is still there: %+v", kv)
		}
		e.waitQueue("l", string(a.Key))
	})

	t.Run("GrantedLeaseRevoked", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		aLease := e.grant(10)
		a := e.lock("l", aLease)
		// Tried once: the lease the lock granted for the waiter is revoked.
		if _, err := e.locks.Lock(context.Background(), []byte("l"), 0, 10, 0); !errors.Is(err, domain.ErrLocked) {
			t.Fatalf("try once with a ttl on a held lock: %v, want ErrLocked", err)
		}
		if ids := e.leaseIDs(); len(ids) != 1 || !ids[aLease] {
			t.Fatalf("leases after a failed try = %v, want only the holder's %d", ids, aLease)
		}
		// Waited and gave up: the same.
		ctx, cancel := context.WithCancel(context.Background())
		ch := e.lockAsync(ctx, "l", 0, 10)
		waitFor(t, "the waiter with a ttl in the queue", func() bool { return len(e.queue("l")) == 2 })
		cancel()
		if o := receive(t, ch); !errors.Is(o.err, context.Canceled) {
			t.Fatalf("cancelled waiter with a ttl: %+v %v", o.h, o.err)
		}
		if ids := e.leaseIDs(); len(ids) != 1 || !ids[aLease] {
			t.Fatalf("leases after a waiter gave up = %v, want only the holder's %d", ids, aLease)
		}
		e.waitQueue("l", string(a.Key))
	})

	// The wait bounds the queue only: a wait shorter than the writes that
	// grant the lease and join the queue still ends in a plain "locked",
	// never in a write whose outcome is unknown, and leaves nothing behind.
	t.Run("WaitShorterThanTheWrites", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		aLease := e.grant(10)
		a := e.lock("l", aLease)
		if _, err := e.locks.Lock(context.Background(), []byte("l"), 0, 10, time.Nanosecond); !errors.Is(err, domain.ErrLocked) {
			t.Fatalf("a 1ns wait on a held lock: %v, want ErrLocked", err)
		}
		if ids := e.leaseIDs(); len(ids) != 1 || !ids[aLease] {
			t.Fatalf("leases after the wait = %v, want only the holder's %d", ids, aLease)
		}
		e.waitQueue("l", string(a.Key))
		e.unlock("l", a)
		h, err := e.locks.Lock(context.Background(), []byte("l"), 0, 10, time.Nanosecond)
		if err != nil || h.Lease == 0 {
			t.Fatalf("a 1ns wait on a free lock: %+v %v, want the lock", h, err)
		}
	})

	t.Run("GrantedLeaseKeptWhenAcquired", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		h, err := e.locks.Lock(context.Background(), []byte("l"), 0, 10, lock.WaitForever)
		if err != nil {
			t.Fatal(err)
		}
		st, err := e.leases.TimeToLive(context.Background(), h.Lease, true)
		if err != nil || st.GrantedTTL != 10 || len(st.Keys) != 1 || !bytes.Equal(st.Keys[0], h.Key) {
			t.Fatalf("the granted lease = %+v %v, want ttl 10 holding %q", st, err, h.Key)
		}
	})
}

func TestService_Lock_HolderLeaseEnds(t *testing.T) {
	t.Parallel()

	t.Run("Revoked", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		aLease := e.grant(10)
		a := e.lock("l", aLease)
		ch := e.lockAsync(context.Background(), "l", e.grant(10), 0)
		waitFor(t, "the waiter in the queue", func() bool { return len(e.queue("l")) == 2 })
		pending(t, ch, "the waiter")
		e.revoke(aLease)
		o := receive(t, ch)
		if o.err != nil || o.h.Fence <= a.Fence {
			t.Fatalf("the waiter after the holder's lease was revoked: %+v %v, want the lock with a fence above %d", o.h, o.err, a.Fence)
		}
	})

	t.Run("Expired", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		a := e.lock("l", e.grant(5))
		bLease := e.grant(60)
		ch := e.lockAsync(context.Background(), "l", bLease, 0)
		waitFor(t, "the waiter in the queue", func() bool { return len(e.queue("l")) == 2 })
		e.advance(4 * time.Second)
		pending(t, ch, "the waiter before the holder's lease expired")
		e.advance(2 * time.Second)
		o := receive(t, ch)
		if o.err != nil || o.h.Lease != bLease || o.h.Fence <= a.Fence {
			t.Fatalf("the waiter after the holder's lease expired: %+v %v", o.h, o.err)
		}
		e.waitQueue("l", string(o.h.Key))
	})

	// A waiter whose lease goes loses its place: it is never granted the
	// lock. It notices when it looks again, once its predecessor goes.
	t.Run("WaiterLeaseRevoked", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		a := e.lock("l", e.grant(10))
		bLease := e.grant(10)
		ch := e.lockAsync(context.Background(), "l", bLease, 0)
		waitFor(t, "the waiter in the queue", func() bool { return len(e.queue("l")) == 2 })
		e.revoke(bLease)
		e.waitQueue("l", string(a.Key))
		e.unlock("l", a)
		if o := receive(t, ch); !errors.Is(o.err, domain.ErrNotFound) {
			t.Fatalf("a waiter whose lease was revoked: %+v %v, want ErrNotFound (lost its place)", o.h, o.err)
		}
		e.waitQueue("l")
	})
}

// advance moves the fake clock once the lessor waits on it, and waits until
// the lessor has handled the new time.
func (e *env) advance(d time.Duration) {
	e.t.Helper()
	waitFor(e.t, "the lessor to wait on the clock", func() bool { return e.clock.Waiters() > 0 })
	e.clock.Advance(d)
	waitFor(e.t, "the lessor to wait on the clock again", func() bool { return e.clock.Waiters() > 0 })
}

// TestQueue_WatchesOnlyPredecessor checks that waiters do not stampede:
// with one holder and n-1 waiters there are n-1 watchers, each on the key
// just before its waiter's, and a release wakes only the next waiter.
func TestQueue_WatchesOnlyPredecessor(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n = 5
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var keys []string
	var chans []<-chan outcome
	holder := e.lock("q", e.grant(10))
	keys = append(keys, string(holder.Key))
	for range n - 1 {
		id := e.grant(10)
		keys = append(keys, string(lock.Key([]byte("q"), id)))
		chans = append(chans, e.lockAsync(ctx, "q", id, 0))
		e.waitQueue("q", keys...)
	}
	waitFor(t, "a watcher per waiter", func() bool { return e.hub.Stats().Watchers == n-1 })
	assertPredecessorWatches(t, e.watches.requests(), keys)

	// A waiter in the middle leaves (its key is deleted): the one behind it
	// now watches the one before it, and nobody else opens a watch.
	before := len(e.watches.requests())
	e.unlock("q", lock.Holder{Key: []byte(keys[2])})
	waitFor(t, "the next waiter to watch the key before the one that left", func() bool { return len(e.watches.requests()) > before })
	if got := e.watches.requests()[before:]; len(got) != 1 || string(got[0].Key) != keys[1] || len(got[0].RangeEnd) != 0 {
		t.Fatalf("after a waiter left, the watches opened = %+v, want one on %q", got, keys[1])
	}
	if st := e.hub.Stats(); st.Watchers > n-1 {
		t.Fatalf("%d watchers for %d waiters", st.Watchers, n-1)
	}
	for _, ch := range chans {
		pending(t, ch, "a waiter")
	}

	// The holder leaves: only the next waiter gets it.
	e.unlock("q", holder)
	o := receive(t, chans[0])
	if o.err != nil || string(o.h.Key) != keys[1] {
		t.Fatalf("next owner = %+v %v, want %q", o.h, o.err, keys[1])
	}
	e.waitQueue("q", keys[1], keys[3], keys[4])
	for _, ch := range chans[1:] {
		pending(t, ch, "a waiter")
	}

	// It leaves: the waiter that lost its place is not granted the lock,
	// the one after it is.
	e.unlock("q", o.h)
	if o := receive(t, chans[1]); !errors.Is(o.err, domain.ErrNotFound) {
		t.Fatalf("the waiter whose key was deleted: %+v %v, want ErrNotFound", o.h, o.err)
	}
	o = receive(t, chans[2])
	if o.err != nil || string(o.h.Key) != keys[3] {
		t.Fatalf("next owner = %+v %v, want %q", o.h, o.err, keys[3])
	}
	pending(t, chans[3], "the last waiter")
	waitFor(t, "one watcher for one waiter", func() bool { return e.hub.Stats().Watchers == 1 })
	e.unlock("q", o.h)
	if o := receive(t, chans[3]); o.err != nil || string(o.h.Key) != keys[4] {
		t.Fatalf("last owner = %+v %v, want %q", o.h, o.err, keys[4])
	}
	waitFor(t, "no watchers left", func() bool { return e.hub.Stats().Watchers == 0 })
}

// assertPredecessorWatches checks that each waiter of the queue (keys, the
// owner first) watched exactly one key, the one just before its own.
func assertPredecessorWatches(t *testing.T, reqs []watch.Request, keys []string) {
	t.Helper()
	count := map[string]int{}
	for _, r := range reqs {
		if len(r.RangeEnd) != 0 || !r.NoPut {
			t.Fatalf("a waiter watches %+v, want one key's deletes", r)
		}
		count[string(r.Key)]++
	}
	for i, k := range keys[:len(keys)-1] {
		if count[k] != 1 {
			t.Fatalf("key %d %q (the predecessor of %q) is watched %d times, want once; watches: %v", i, k, keys[i+1], count[k], count)
		}
	}
	if count[keys[len(keys)-1]] != 0 || len(count) != len(keys)-1 {
		t.Fatalf("watched keys %v, want each of %q once", count, keys[:len(keys)-1])
	}
}

// TestQueue_WaitEndsAtShutdown: a waiter that keeps looking again while
// the member has no leader stops as soon as the member shuts down (its hub
// closes), instead of holding up the shutdown until its request ends.
func TestQueue_WaitEndsAtShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.lock("l", e.grant(10))
	q := lock.NewQueue(e.kv, e.watches, e.leases)
	ent, _, err := q.Enqueue(context.Background(), []byte("l"), e.grant(10), nil)
	if err != nil {
		t.Fatal(err)
	}
	fake := e.prop.Fake()
	fake.FailBarrier(domain.ErrNoLeader)
	before := fake.BarrierCalls()
	done := make(chan error, 1)
	go func() { done <- q.WaitHead(context.Background(), []byte("l"), ent) }()
	waitFor(t, "the waiter to look again after a failed read", func() bool { return fake.BarrierCalls() >= before+2 })
	e.hub.Close()
	if err := domaintest.Receive(t, done, "WaitHead"); !errors.Is(err, watch.ErrClosed) {
		t.Fatalf("a waiter at shutdown: %v, want watch.ErrClosed", err)
	}
}
