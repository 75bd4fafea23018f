package client_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/cairnkv/cairn/client"
	"github.com/cairnkv/cairn/client/concurrency"
)

// needLockAPI skips the test when the member does not serve the lock API
// (it answers 404 not_found for an unknown path).
func needLockAPI(t *testing.T, c *client.Client) {
	t.Helper()
	_, err := c.LockStatus(testCtx(t), "probe")
	var e *client.Error
	if errors.As(err, &e) && e.Code == "not_found" {
		t.Skip("server lock API not available yet")
	}
	if err != nil {
		t.Fatalf("lock status: %v", err)
	}
}

func newSession(t *testing.T, c *client.Client, opts ...concurrency.SessionOption) *concurrency.Session {
	t.Helper()
	s, err := concurrency.NewSession(testCtx(t), c, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestMutex_Handoff(t *testing.T) {
	c := newClient(t, endpoints)
	needLockAPI(t, c)
	ctx := testCtx(t)
	s1, s2 := newSession(t, c, concurrency.WithTTL(30)), newSession(t, c, concurrency.WithTTL(30))
	m1, m2 := concurrency.NewMutex(s1, "mx/job"), concurrency.NewMutex(s2, "mx/job")
	if err := m1.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if want := "mx/job/" + strconv.FormatInt(int64(s1.Lease()), 16); m1.Key() != want || m1.Fence() <= 0 {
		t.Fatalf("key %q fence %d, want key %q", m1.Key(), m1.Fence(), want)
	}
	if err := m2.TryLock(ctx); !errors.Is(err, concurrency.ErrLocked) {
		t.Fatalf("try lock of a held lock: %v", err)
	}
	got := make(chan error, 1)
	go func() { got <- m2.Lock(ctx) }()
	waitFor(t, 5*time.Second, "m2 to wait", func() bool {
		st, err := c.LockStatus(ctx, "mx/job")
		return err == nil && st.Owner != nil && st.Owner.Key == m1.Key() && len(st.Waiters) == 1 &&
			st.Waiters[0].Lease == s2.Lease()
	})
	// Only the owner's writes pass a txn guarded by IsOwner.
	guard := func(m *concurrency.Mutex) bool {
		r, err := c.Txn(ctx).If(m.IsOwner()).Then(client.OpPut("mx/guarded", m.Key())).Commit()
		if err != nil {
			t.Fatal(err)
		}
		return r.Succeeded
	}
	if !guard(m1) {
		t.Fatal("the owner's guarded txn failed")
	}
	fence1 := m1.Fence()
	if err := m1.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("m2 did not get the lock after m1 released it")
	}
	if m2.Fence() <= fence1 {
		t.Fatalf("fence %d after %d", m2.Fence(), fence1)
	}
	if !guard(m2) {
		t.Fatal("the new owner's guarded txn failed")
	}
	if err := m1.Unlock(ctx); err != nil {
		t.Fatalf("unlock of a lock no longer held: %v", err)
	}

	t.Run("SessionCloseReleases", func(t *testing.T) {
		s3 := newSession(t, c, concurrency.WithTTL(30))
		m3 := concurrency.NewMutex(s3, "mx/job")
		got := make(chan error, 1)
		go func() { got <- m3.Lock(ctx) }()
		if err := s2.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-s2.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("Done stays open after Close")
		}
		if err := <-got; err != nil {
			t.Fatal(err)
		}
		m3.Unlock(ctx)
	})
	t.Run("CancelledWaitLeavesNoWaiter", func(t *testing.T) {
		m1.Lock(ctx)
		defer m1.Unlock(ctx)
		s4 := newSession(t, c, concurrency.WithTTL(30))
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		if err := concurrency.NewMutex(s4, "mx/job").Lock(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("lock with a short deadline: %v", err)
		}
		waitFor(t, 5*time.Second, "no waiters", func() bool {
			st, err := c.LockStatus(ctx, "mx/job")
			return err == nil && len(st.Waiters) == 0
		})
	})
}

func TestLock_ClientAPI(t *testing.T) {
	c := newClient(t, endpoints)
	needLockAPI(t, c)
	ctx := testCtx(t)
	l, err := c.Lock(ctx, "lk/\xff name", client.WithLockTTL(30), client.WithLockTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Revoke(ctx, l.Lease)
	if l.Lease == 0 || l.Fence == 0 || l.Key != "lk/\xff name/"+strconv.FormatInt(int64(l.Lease), 16) {
		t.Fatalf("lock %+v", l)
	}
	if _, err := c.Lock(ctx, "lk/\xff name", client.WithLockTTL(30), client.WithLockTimeout(50*time.Millisecond)); !errors.Is(err, client.ErrLocked) {
		t.Fatalf("second lock: %v", err)
	}
	// The key depends on the name and the lease only: locking again
	// through the same lease is the same holder (what Mutex.Lock relies on
	// to wait again after a broken connection).
	again, err := c.Lock(ctx, "lk/\xff name", client.WithLockLease(l.Lease), client.WithLockTimeout(0))
	if err != nil || again.Key != l.Key || again.Fence != l.Fence {
		t.Fatalf("lock again through the same lease: %+v %v (first %+v)", again, err, l)
	}
	if _, err := c.Lock(ctx, "lk/x"); err == nil {
		t.Fatal("a lock without lease or ttl was sent")
	}
	if _, err := c.Unlock(ctx, "lk/\xff name", l.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Unlock(ctx, "lk/\xff name", l.Key); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("unlock again: %v", err)
	}
}

func TestElection_Campaign(t *testing.T) {
	c := newClient(t, endpoints)
	needLockAPI(t, c)
	ctx := testCtx(t)
	s1, s2 := newSession(t, c, concurrency.WithTTL(30)), newSession(t, c, concurrency.WithTTL(30))
	e1, e2 := concurrency.NewElection(s1, "el/svc"), concurrency.NewElection(s2, "el/svc")

	if _, err := e1.Leader(ctx); !errors.Is(err, concurrency.ErrElectionNoLeader) || !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("leader of an empty election: %v", err)
	}
	if err := e1.Proclaim(ctx, "x"); !errors.Is(err, concurrency.ErrElectionNotLeader) {
		t.Fatalf("proclaim before campaign: %v", err)
	}
	octx, ocancel := context.WithCancel(ctx)
	defer ocancel()
	obs := e2.Observe(octx)

	if err := e1.Campaign(ctx, "a\x00\xff"); err != nil {
		t.Fatal(err)
	}
	if e1.Rev() == 0 || e1.Key() == "" || e1.Leadership() == nil {
		t.Fatalf("leadership %+v", e1.Leadership())
	}
	key1 := e1.Key()
	observed := func(want string) {
		t.Helper()
		select {
		case lr, ok := <-obs:
			if !ok || lr.Err != nil || lr.Kv == nil || string(lr.Kv.Value) != want {
				t.Fatalf("observed %+v %v, want %q", lr, ok, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("observed nothing, want %q", want)
		}
	}
	observed("a\x00\xff")
	lr, err := e2.Leader(ctx)
	if err != nil || string(lr.Kv.Value) != "a\x00\xff" || string(lr.Kv.Key) != e1.Key() {
		t.Fatalf("leader %+v %v", lr, err)
	}
	if err := e1.Proclaim(ctx, "a2"); err != nil {
		t.Fatal(err)
	}
	observed("a2")

	won := make(chan error, 1)
	go func() { won <- e2.Campaign(ctx, "b") }()
	if err := e1.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-won:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second candidate did not lead after the resignation")
	}
	observed("b")
	if err := e1.Proclaim(ctx, "stale"); !errors.Is(err, concurrency.ErrElectionNotLeader) {
		t.Fatalf("proclaim after resign: %v", err)
	}
	if err := e1.Resign(ctx); err != nil {
		t.Fatalf("resign twice: %v", err)
	}
	// A stale leadership presented to the member: 412.
	stale := concurrency.ResumeElection(s1, "el/svc", client.LeaderKey{Name: "el/svc", Key: []byte(key1), Rev: 1, Lease: s1.Lease()})
	if err := stale.Proclaim(ctx, "x"); !errors.Is(err, client.ErrPreconditionFailed) {
		t.Fatalf("stale proclaim: %v", err)
	}
	if _, err := c.Campaign(ctx, "el/svc", "c", client.WithLockTTL(30), client.WithLockTimeout(100*time.Millisecond)); !errors.Is(err, client.ErrLocked) {
		t.Fatalf("campaign with a timeout: %v", err)
	}
	if err := e2.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "no leader", func() bool {
		_, err := e1.Leader(ctx)
		return errors.Is(err, concurrency.ErrElectionNoLeader)
	})
}

func TestSession_LostLease(t *testing.T) {
	c := newClient(t, endpoints)
	ctx := testCtx(t)
	s := newSession(t, c, concurrency.WithTTL(3))
	if _, err := c.Revoke(ctx, s.Lease()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("Done stays open after the lease was revoked")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close of a lost session: %v", err)
	}
	g, err := c.Grant(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	s2 := newSession(t, c, concurrency.WithLease(g.ID))
	if s2.Lease() != g.ID {
		t.Fatalf("session lease %d, want %d", s2.Lease(), g.ID)
	}
}
