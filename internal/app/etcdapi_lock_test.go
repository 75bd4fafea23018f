package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3election/v3electionpb"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3lock/v3lockpb"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
)

// lockCall is the outcome of a v3lock Lock run in the background.
type lockCall struct {
	resp *v3lockpb.LockResponse
	err  error
}

// lockAsync calls Lock in a goroutine.
func lockAsync(ctx context.Context, lc v3lockpb.LockClient, name string, lease clientv3.LeaseID) <-chan lockCall {
	ch := make(chan lockCall, 1)
	go func() {
		r, err := lc.Lock(ctx, &v3lockpb.LockRequest{Name: []byte(name), Lease: int64(lease)})
		ch <- lockCall{r, err}
	}()
	return ch
}

// grantEtcdLease grants a lease of ttl seconds through c.
func grantEtcdLease(t *testing.T, c *clientv3.Client, ttl int64) clientv3.LeaseID {
	t.Helper()
	g, err := c.Grant(etcdCtx(t), ttl)
	if err != nil {
		t.Fatal(err)
	}
	return g.ID
}

// waitQueueLen waits until the queue of the lock or election called name
// holds n keys.
func waitQueueLen(t *testing.T, c *clientv3.Client, name string, n int) {
	t.Helper()
	waitFor(t, 20*time.Second, fmt.Sprintf("%d keys in the queue %q", n, name), func() bool {
		g, err := c.Get(etcdCtx(t), name+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && g.Count == int64(n)
	})
}

// notYet fails the test if the call has returned.
func notYet[T any](t *testing.T, ch <-chan T, who string) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("%s returned while it should wait: %+v", who, r)
	default:
	}
}

// receiveCall waits for a background call's outcome.
func receiveCall[T any](t *testing.T, ch <-chan T, who string) T {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not return", who)
		panic("unreachable")
	}
}

// TestEtcdAPI_Lock: etcd's v3lock service against 3 members, each client
// on another member: the owner key, a second locker that waits, the
// handover on Unlock and on the holder's lease revoke, the same queue as
// clientv3's Mutex and the REST locks, and etcd's errors.
func TestEtcdAPI_Lock(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3)
	cs := []*clientv3.Client{etcdClient(t, ms[0]), etcdClient(t, ms[1]), etcdClient(t, ms[2])}
	lcs := []v3lockpb.LockClient{
		v3lockpb.NewLockClient(cs[0].ActiveConnection()),
		v3lockpb.NewLockClient(cs[1].ActiveConnection()),
		v3lockpb.NewLockClient(cs[2].ActiveConnection()),
	}

	t.Run("HandOver", func(t *testing.T) {
		ctx := etcdCtx(t)
		la, lb := grantEtcdLease(t, cs[0], 30), grantEtcdLease(t, cs[1], 30)
		a, err := lcs[0].Lock(ctx, &v3lockpb.LockRequest{Name: []byte("jobs"), Lease: int64(la)})
		if err != nil {
			t.Fatal(err)
		}
		if want := "jobs/" + leaseHex(la); string(a.Key) != want {
			t.Fatalf("owner key %q, want %q (etcd's NAME/LEASE)", a.Key, want)
		}
		g, err := cs[2].Get(ctx, string(a.Key))
		if err != nil || len(g.Kvs) != 1 || g.Kvs[0].Lease != int64(la) {
			t.Fatalf("the owner key: %+v %v", g, err)
		}
		if a.Header == nil || a.Header.Revision < g.Kvs[0].CreateRevision || a.Header.MemberId == 0 {
			t.Fatalf("header %+v, want one at or after the key's revision %d", a.Header, g.Kvs[0].CreateRevision)
		}
		second := lockAsync(ctx, lcs[1], "jobs", lb)
		waitQueueLen(t, cs[2], "jobs", 2)
		notYet(t, second, "the second Lock")
		// The REST API sees the same lock.
		var st struct {
			Owner struct {
				Key string `json:"key"`
			} `json:"owner"`
		}
		if code, body := doIdempotent(t, http.MethodGet, ms[2].URL+"/v1/locks/jobs", ""); code != http.StatusOK {
			t.Fatalf("REST status: %d %s", code, body)
		} else if err := json.Unmarshal([]byte(body), &st); err != nil || st.Owner.Key != string(a.Key) {
			t.Fatalf("REST owner %q (%v), want %q", st.Owner.Key, err, a.Key)
		}
		if _, err := lcs[2].Unlock(ctx, &v3lockpb.UnlockRequest{Key: a.Key}); err != nil {
			t.Fatal(err)
		}
		b := receiveCall(t, second, "the second Lock")
		if b.err != nil || string(b.resp.Key) != "jobs/"+leaseHex(lb) {
			t.Fatalf("second Lock: %+v %v", b.resp, b.err)
		}
		if b.resp.Header.Revision <= a.Header.Revision {
			t.Fatalf("second owner at revision %d, not after the first (%d)", b.resp.Header.Revision, a.Header.Revision)
		}
		// An Unlock the client retries, or of a key that is gone, is not an
		// error (etcd's Unlock deletes the key, whatever it finds).
		if _, err := lcs[0].Unlock(ctx, &v3lockpb.UnlockRequest{Key: a.Key}); err != nil {
			t.Fatalf("second Unlock of the same key: %v", err)
		}
		// The holder's lease ends: the next waiter gets the lock.
		lc := grantEtcdLease(t, cs[0], 30)
		third := lockAsync(ctx, lcs[0], "jobs", lc)
		waitQueueLen(t, cs[0], "jobs", 2)
		notYet(t, third, "the third Lock")
		if _, err := cs[1].Revoke(ctx, lb); err != nil {
			t.Fatal(err)
		}
		if c := receiveCall(t, third, "the third Lock"); c.err != nil {
			t.Fatalf("Lock after the holder's lease was revoked: %v", c.err)
		}
		if _, err := cs[0].Revoke(ctx, lc); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("SameQueueAsMutex", func(t *testing.T) {
		ctx := etcdCtx(t)
		s, err := concurrency.NewSession(cs[2], concurrency.WithTTL(30))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		m := concurrency.NewMutex(s, "shared")
		if err := m.Lock(ctx); err != nil {
			t.Fatal(err)
		}
		l := grantEtcdLease(t, cs[0], 30)
		v3 := lockAsync(ctx, lcs[0], "shared", l)
		waitQueueLen(t, cs[1], "shared", 2)
		notYet(t, v3, "Lock while a clientv3 Mutex holds the lock")
		if err := m.Unlock(ctx); err != nil {
			t.Fatal(err)
		}
		r := receiveCall(t, v3, "Lock")
		if r.err != nil {
			t.Fatal(r.err)
		}
		// And the other way round: the Mutex waits for the v3lock holder.
		mctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		if err := m.Lock(mctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Mutex.Lock while v3lock holds the lock: %v, want a deadline", err)
		}
		if _, err := lcs[1].Unlock(ctx, &v3lockpb.UnlockRequest{Key: r.resp.Key}); err != nil {
			t.Fatal(err)
		}
		if err := m.Lock(ctx); err != nil {
			t.Fatal(err)
		}
		if err := m.Unlock(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		ctx := etcdCtx(t)
		_, err := lcs[0].Lock(ctx, &v3lockpb.LockRequest{Name: []byte("e"), Lease: 0x1234567})
		if !errors.Is(rpctypes.Error(err), rpctypes.ErrLeaseNotFound) {
			t.Fatalf("Lock with a lease that does not exist: %v", err)
		}
		if _, err := lcs[0].Unlock(ctx, &v3lockpb.UnlockRequest{Key: []byte("nolease")}); grpcstatus.Code(err) != codes.InvalidArgument {
			t.Fatalf("Unlock of a key that is not a lock's: %v", err)
		}
		if _, err := lcs[0].Lock(ctx, &v3lockpb.LockRequest{Lease: int64(grantEtcdLease(t, cs[0], 30))}); grpcstatus.Code(err) != codes.InvalidArgument {
			t.Fatalf("Lock without a name: %v", err)
		}
		// A waiter whose deadline passes leaves the queue.
		held, err := lcs[0].Lock(ctx, &v3lockpb.LockRequest{Name: []byte("e"), Lease: int64(grantEtcdLease(t, cs[0], 30))})
		if err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		if _, err := lcs[1].Lock(short, &v3lockpb.LockRequest{Name: []byte("e"), Lease: int64(grantEtcdLease(t, cs[1], 30))}); grpcstatus.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("Lock past its deadline: %v", err)
		}
		waitQueueLen(t, cs[2], "e", 1)
		// Without a lease, the lock gets one of its own (etcd's: 60 s).
		if _, err := lcs[0].Unlock(ctx, &v3lockpb.UnlockRequest{Key: held.Key}); err != nil {
			t.Fatal(err)
		}
		own, err := lcs[2].Lock(ctx, &v3lockpb.LockRequest{Name: []byte("e")})
		if err != nil {
			t.Fatal(err)
		}
		g, err := cs[0].Get(ctx, string(own.Key))
		if err != nil || len(g.Kvs) != 1 || g.Kvs[0].Lease == 0 {
			t.Fatalf("the key of a Lock without a lease: %+v %v", g, err)
		}
		ttl, err := cs[0].TimeToLive(ctx, clientv3.LeaseID(g.Kvs[0].Lease))
		if err != nil || ttl.GrantedTTL != 60 {
			t.Fatalf("its lease: %+v %v", ttl, err)
		}
		if _, err := cs[0].Revoke(ctx, clientv3.LeaseID(g.Kvs[0].Lease)); err != nil {
			t.Fatal(err)
		}
	})

	// Last: it stops a member. A Lock waiting on a member that shuts down
	// ends with Unavailable (clientv3 may try another member), and does
	// not hold the shutdown up.
	t.Run("ShutdownEndsWait", func(t *testing.T) {
		ctx := etcdCtx(t)
		held, err := lcs[0].Lock(ctx, &v3lockpb.LockRequest{Name: []byte("s"), Lease: int64(grantEtcdLease(t, cs[0], 30))})
		if err != nil {
			t.Fatal(err)
		}
		waiting := lockAsync(ctx, lcs[2], "s", grantEtcdLease(t, cs[2], 30))
		waitQueueLen(t, cs[0], "s", 2)
		ms[2].stop()
		if r := receiveCall(t, waiting, "Lock on a member that stops"); grpcstatus.Code(r.err) != codes.Unavailable {
			t.Fatalf("Lock on a member that stops: %+v %v, want Unavailable", r.resp, r.err)
		}
		if _, err := lcs[0].Unlock(ctx, &v3lockpb.UnlockRequest{Key: held.Key}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestEtcdAPI_LockElectionAuth: with auth on, locks and elections need
// readwrite on NAME/ (as in the REST API), Leader and Observe read; an
// auth change that takes the read ends an Observe.
func TestEtcdAPI_LockElectionAuth(t *testing.T) {
	t.Parallel()
	ms := startClusterWith(t, 1, func(c *Config) { c.BcryptCost = 4 })
	admin := etcdClient(t, ms[0])
	ctx := etcdCtx(t)
	for _, step := range []func() error{
		func() error { _, err := admin.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := admin.RoleAdd(ctx, "root"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := admin.RoleAdd(ctx, "rw"); return err },
		func() error {
			_, err := admin.RoleGrantPermission(ctx, "rw", "jobs/", clientv3.GetPrefixRangeEnd("jobs/"), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := admin.RoleAdd(ctx, "ro"); return err },
		func() error {
			_, err := admin.RoleGrantPermission(ctx, "ro", "jobs/", clientv3.GetPrefixRangeEnd("jobs/"), clientv3.PermissionType(clientv3.PermRead))
			return err
		},
		func() error { _, err := admin.UserAdd(ctx, "rw", "rwpw"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "rw", "rw"); return err },
		func() error { _, err := admin.UserAdd(ctx, "ro", "ropw"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "ro", "ro"); return err },
		func() error { _, err := admin.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	user := func(name, password string) *clientv3.Client {
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{ms[0].URL}, Username: name, Password: password,
			DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatalf("client of %q: %v", name, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	rw, ro := user("rw", "rwpw"), user("ro", "ropw")
	denied := func(what string, err error) {
		t.Helper()
		if !errors.Is(rpctypes.Error(err), rpctypes.ErrPermissionDenied) {
			t.Fatalf("%s: %v, want permission denied", what, err)
		}
	}

	lease := grantEtcdLease(t, rw, 30)
	rwLock := v3lockpb.NewLockClient(rw.ActiveConnection())
	held, err := rwLock.Lock(ctx, &v3lockpb.LockRequest{Name: []byte("jobs"), Lease: int64(lease)})
	if err != nil {
		t.Fatalf("rw locks jobs: %v", err)
	}
	_, err = rwLock.Lock(ctx, &v3lockpb.LockRequest{Name: []byte("other"), Lease: int64(lease)})
	denied("rw locks other", err)
	roLock := v3lockpb.NewLockClient(ro.ActiveConnection())
	_, err = roLock.Lock(ctx, &v3lockpb.LockRequest{Name: []byte("jobs"), Lease: int64(grantEtcdLease(t, ro, 30))})
	denied("ro locks jobs", err)
	_, err = roLock.Unlock(ctx, &v3lockpb.UnlockRequest{Key: held.Key})
	denied("ro unlocks jobs", err)
	if _, err := rwLock.Unlock(ctx, &v3lockpb.UnlockRequest{Key: held.Key}); err != nil {
		t.Fatalf("rw unlocks jobs: %v", err)
	}

	rwElect := v3electionpb.NewElectionClient(rw.ActiveConnection())
	roElect := v3electionpb.NewElectionClient(ro.ActiveConnection())
	won, err := rwElect.Campaign(ctx, &v3electionpb.CampaignRequest{Name: []byte("jobs"), Lease: int64(lease), Value: []byte("v")})
	if err != nil {
		t.Fatalf("rw campaigns in jobs: %v", err)
	}
	_, err = roElect.Proclaim(ctx, &v3electionpb.ProclaimRequest{Leader: won.Leader, Value: []byte("x")})
	denied("ro proclaims", err)
	_, err = roElect.Resign(ctx, &v3electionpb.ResignRequest{Leader: won.Leader})
	denied("ro resigns", err)
	if l, err := roElect.Leader(ctx, &v3electionpb.LeaderRequest{Name: []byte("jobs")}); err != nil || string(l.Kv.Value) != "v" {
		t.Fatalf("ro reads the leader: %+v %v", l, err)
	}
	_, err = roElect.Leader(ctx, &v3electionpb.LeaderRequest{Name: []byte("other")})
	denied("ro reads another election's leader", err)
	obs, err := roElect.Observe(ctx, &v3electionpb.LeaderRequest{Name: []byte("jobs")})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := obs.Recv(); err != nil || string(r.Kv.Value) != "v" {
		t.Fatalf("ro observes: %+v %v", r, err)
	}
	root := user("root", "rootpw")
	if _, err := root.UserRevokeRole(ctx, "ro", "ro"); err != nil {
		t.Fatal(err)
	}
	if _, err := obs.Recv(); grpcstatus.Code(err) != codes.PermissionDenied {
		t.Fatalf("observe after the read was taken: %v, want PermissionDenied", err)
	}
}
