package client_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnkv/cairn/client"
)

func TestLease_Lifecycle(t *testing.T) {
	c := newClient(t, endpoints)
	ctx := testCtx(t)
	g, err := c.Grant(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	if g.ID <= 0 || g.TTL != 30 || g.Header.Revision == 0 {
		t.Fatalf("grant %+v", g)
	}
	for _, k := range []string{"lease/a", "lease/\xff"} {
		if _, err := c.Put(ctx, k, "v", client.WithLease(g.ID)); err != nil {
			t.Fatal(err)
		}
	}
	// Up to 31: a countdown restarted by a leader change gets an election
	// timeout more (the shared member may have just been elected).
	ttl, err := c.TimeToLive(ctx, g.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	if ttl.ID != g.ID || ttl.GrantedTTL != 30 || ttl.TTL <= 0 || ttl.TTL > 31 || len(ttl.Keys) != 2 ||
		string(ttl.Keys[0]) != "lease/a" || string(ttl.Keys[1]) != "lease/\xff" {
		t.Fatalf("time to live %+v", ttl)
	}
	ls, err := c.Leases(ctx)
	if err != nil || !slices.ContainsFunc(ls.Leases, func(l client.LeaseStatus) bool { return l.ID == g.ID && l.TTL == 30 }) {
		t.Fatalf("leases %+v %v", ls, err)
	}
	ka, err := c.KeepAliveOnce(ctx, g.ID)
	if err != nil || ka.ID != g.ID || ka.TTL != 30 {
		t.Fatalf("keepalive %+v %v", ka, err)
	}
	rv, err := c.Revoke(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, "lease/", client.WithPrefix())
	if err != nil || len(got.Kvs) != 0 || got.Header.Revision < rv.Header.Revision {
		t.Fatalf("keys after revoke: %+v %v", got, err)
	}
	if _, err := c.TimeToLive(ctx, g.ID, false); !errors.Is(err, client.ErrLeaseNotFound) {
		t.Fatalf("time to live after revoke: %v", err)
	}
	if _, err := c.Revoke(ctx, g.ID); !errors.Is(err, client.ErrLeaseNotFound) {
		t.Fatalf("revoke again: %v", err)
	}
	if _, err := c.KeepAlive(ctx, g.ID); !errors.Is(err, client.ErrLeaseNotFound) {
		t.Fatalf("keepalive loop of a revoked lease: %v", err)
	}
	g2, err := c.Grant(ctx, 30, client.WithLeaseID(777))
	if err != nil || g2.ID != 777 {
		t.Fatalf("grant with an id: %+v %v", g2, err)
	}
	c.Revoke(ctx, 777)
}

// TestLease_KeepAlive: the loop keeps a 2s lease alive well past its TTL,
// and its channel closes when ctx ends, or when the lease is revoked.
func TestLease_KeepAlive(t *testing.T) {
	c := newClient(t, endpoints)
	ctx := testCtx(t)
	g, err := c.Grant(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	kctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := c.KeepAlive(kctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n := 0
	for time.Since(start) < 3*time.Second {
		select {
		case ka, ok := <-ch:
			if !ok {
				t.Fatal("keepalive channel closed")
			}
			if ka.ID != g.ID || ka.TTL != 2 {
				t.Fatalf("keepalive %+v", ka)
			}
			n++
		case <-time.After(2 * time.Second):
			t.Fatal("no keepalive for 2s")
		}
	}
	if n < 4 {
		t.Fatalf("%d keepalives in 3s for a 2s TTL", n)
	}
	if _, err := c.TimeToLive(ctx, g.ID, false); err != nil {
		t.Fatalf("the lease expired while kept alive: %v", err)
	}
	cancel()
	drained(t, ch)

	t.Run("RevokedCloses", func(t *testing.T) {
		ch, err := c.KeepAlive(ctx, g.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Revoke(ctx, g.ID); err != nil {
			t.Fatal(err)
		}
		drained(t, ch)
	})
}

// drained waits until ch is closed.
func drained(t testing.TB, ch <-chan client.KeepAliveResponse) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("keepalive channel still open")
		}
	}
}

// TestCluster_LeaderStops: with the leader stopped, calls fail over to
// the others (reads, writes, keepalives) without the caller noticing.
func TestCluster_LeaderStops(t *testing.T) {
	ms := startCluster(t, 3)
	c := newClient(t, urls(ms))
	ctx := testCtx(t)
	g, err := c.Grant(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := c.KeepAlive(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	var renewals atomic.Int32
	go func() {
		for range ch {
			renewals.Add(1)
		}
	}()
	if _, err := c.Put(ctx, "k", "before", client.WithLease(g.ID)); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.cfg.Name == st.LeaderName {
			m.stop()
		}
	}
	// Writes go on through the others once they elect a leader; the
	// client retries the ones that certainly were not carried out.
	for i := range 20 {
		if _, err := c.Put(ctx, "k", "after", client.WithIgnoreLease()); err != nil {
			if errors.Is(err, client.ErrIndeterminate) {
				continue // a write caught by the stop; the contract allows it
			}
			t.Fatalf("put %d after the leader stopped: %v", i, err)
		}
	}
	got, err := c.Get(ctx, "k")
	if err != nil || string(got.Kvs[0].Value) != "after" {
		t.Fatalf("get: %+v %v", got, err)
	}
	// The lease survives the change of leader while kept alive: four
	// renewals (every TTL/3) outlast its TTL.
	base := renewals.Load()
	waitFor(t, 10*time.Second, "4 renewals", func() bool { return renewals.Load() >= base+4 })
	if _, err := c.TimeToLive(ctx, g.ID, false); err != nil {
		t.Fatalf("lease lost over the leader change: %v", err)
	}
}
