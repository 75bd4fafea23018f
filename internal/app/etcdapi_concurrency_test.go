package app

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// TestEtcdAPI_Concurrency: clientv3/concurrency's recipes, built on txn,
// lease and watch, against a 3-member cluster, each client on another
// member.
func TestEtcdAPI_Concurrency(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3)

	t.Run("Mutex", func(t *testing.T) {
		const workers, rounds = 3, 5
		var mu sync.Mutex
		holders, most := 0, 0
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for i := range workers {
			c := etcdClient(t, ms[i])
			wg.Go(func() {
				s, err := concurrency.NewSession(c, concurrency.WithTTL(5))
				if err != nil {
					errs <- err
					return
				}
				defer s.Close()
				m := concurrency.NewMutex(s, "/locks/m")
				for range rounds {
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					err := m.Lock(ctx)
					cancel()
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					holders++
					most = max(most, holders)
					mu.Unlock()
					time.Sleep(5 * time.Millisecond) // hold it a moment: overlaps would show
					mu.Lock()
					holders--
					mu.Unlock()
					if err := m.Unlock(context.Background()); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if most != 1 {
			t.Fatalf("%d holders of the mutex at once", most)
		}
	})

	t.Run("TryLock", func(t *testing.T) {
		c1, c2 := etcdClient(t, ms[0]), etcdClient(t, ms[1])
		s1, err := concurrency.NewSession(c1)
		if err != nil {
			t.Fatal(err)
		}
		defer s1.Close()
		s2, err := concurrency.NewSession(c2)
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		ctx := etcdCtx(t)
		m1, m2 := concurrency.NewMutex(s1, "/locks/t"), concurrency.NewMutex(s2, "/locks/t")
		if err := m1.Lock(ctx); err != nil {
			t.Fatal(err)
		}
		if err := m2.TryLock(ctx); err != concurrency.ErrLocked {
			t.Fatalf("TryLock of a held mutex: %v", err)
		}
		// The holder's session ends: its lease is revoked, the lock is free.
		s1.Close()
		if err := m2.Lock(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Election", func(t *testing.T) {
		ctx := etcdCtx(t)
		var sessions []*concurrency.Session
		var elections []*concurrency.Election
		for i := range 2 {
			s, err := concurrency.NewSession(etcdClient(t, ms[i]), concurrency.WithTTL(5))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			sessions = append(sessions, s)
			elections = append(elections, concurrency.NewElection(s, "/election/e"))
		}
		if err := elections[0].Campaign(ctx, "first"); err != nil {
			t.Fatal(err)
		}
		observer := concurrency.NewElection(sessions[1], "/election/e")
		octx, ocancel := context.WithCancel(ctx)
		defer ocancel()
		obs := observer.Observe(octx)
		won := make(chan error, 1)
		go func() { won <- elections[1].Campaign(ctx, "second") }()
		select {
		case err := <-won:
			t.Fatalf("second campaign won while the first leads: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		if err := elections[0].Proclaim(ctx, "first-again"); err != nil {
			t.Fatal(err)
		}
		if err := elections[0].Resign(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-won; err != nil {
			t.Fatal(err)
		}
		l, err := elections[1].Leader(ctx)
		if err != nil || string(l.Kvs[0].Value) != "second" {
			t.Fatalf("leader: %+v %v", l, err)
		}
		var seen []string
		for len(seen) == 0 || seen[len(seen)-1] != "second" {
			select {
			case r := <-obs:
				seen = append(seen, string(r.Kvs[0].Value))
			case <-time.After(10 * time.Second):
				t.Fatalf("observed %v, want it to end with second", seen)
			}
		}
	})

	t.Run("STM", func(t *testing.T) {
		// Concurrent transfers between two accounts keep the total.
		ctx := etcdCtx(t)
		c0 := etcdClient(t, ms[0])
		if _, err := c0.Put(ctx, "acct/a", "100"); err != nil {
			t.Fatal(err)
		}
		if _, err := c0.Put(ctx, "acct/b", "100"); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 6)
		for i := range 6 {
			c := etcdClient(t, ms[i%3])
			wg.Go(func() {
				_, err := concurrency.NewSTM(c, func(stm concurrency.STM) error {
					var a, b int
					fmt.Sscan(stm.Get("acct/a"), &a)
					fmt.Sscan(stm.Get("acct/b"), &b)
					stm.Put("acct/a", fmt.Sprint(a-10))
					stm.Put("acct/b", fmt.Sprint(b+10))
					return nil
				}, concurrency.WithAbortContext(ctx))
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		r, err := c0.Get(ctx, "acct/", clientv3.WithPrefix())
		if err != nil || len(r.Kvs) != 2 || string(r.Kvs[0].Value) != "40" || string(r.Kvs[1].Value) != "160" {
			t.Fatalf("accounts: %+v %v", r.Kvs, err)
		}
	})
}

// TestEtcdAPI_ConcurrencyAcrossLeaderLoss: clientv3 with every member's
// URL keeps its session, takes and releases a mutex and writes while the
// leader stops; the mutex is never held twice.
func TestEtcdAPI_ConcurrencyAcrossLeaderLoss(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3)
	c := etcdClient(t, ms...)
	ctx := etcdCtx(t)
	st, err := c.Status(ctx, ms[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	var leader *member
	for _, m := range ms {
		s, err := c.Status(ctx, m.URL)
		if err != nil {
			t.Fatal(err)
		}
		if s.Header.MemberId == st.Leader {
			leader = m
		}
	}
	if leader == nil {
		t.Fatalf("no member is the leader %x", st.Leader)
	}
	var others []*member
	for _, m := range ms {
		if m != leader {
			others = append(others, m)
		}
	}
	const workers = 2
	var mu sync.Mutex
	holders, most, rounds := 0, 0, 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for i := range workers {
		// Each worker's client knows the members that stay, first.
		wc := etcdClient(t, others[i%2], others[(i+1)%2], leader)
		wg.Go(func() {
			s, err := concurrency.NewSession(wc, concurrency.WithTTL(5))
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			m := concurrency.NewMutex(s, "/locks/failover")
			for {
				select {
				case <-stop:
					return
				default:
				}
				lctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				err := m.Lock(lctx)
				cancel()
				if err != nil {
					errs <- fmt.Errorf("lock: %w", err)
					return
				}
				mu.Lock()
				holders++
				most = max(most, holders)
				rounds++
				mu.Unlock()
				if _, err := wc.Put(context.Background(), "/failover/last", "x"); err != nil {
					t.Logf("put while holding: %v", err)
				}
				mu.Lock()
				holders--
				mu.Unlock()
				uctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				err = m.Unlock(uctx)
				cancel()
				if err != nil {
					errs <- fmt.Errorf("unlock: %w", err)
					return
				}
			}
		})
	}
	roundsNow := func() int { mu.Lock(); defer mu.Unlock(); return rounds }
	waitFor(t, 20*time.Second, "some rounds before the leader stops", func() bool { return roundsNow() >= 5 })
	leader.stop()
	before := roundsNow()
	waitFor(t, 30*time.Second, "rounds after the leader stopped", func() bool { return roundsNow() >= before+5 })
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if most != 1 {
		t.Fatalf("%d holders of the mutex at once", most)
	}
}
