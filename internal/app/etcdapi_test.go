package app

import (
	"context"
	"errors"
	"fmt"
	etcdversion "go.etcd.io/etcd/api/v3/version"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// etcdClient returns a clientv3 client of the members' client URLs, closed
// when the test ends.
func etcdClient(t testing.TB, ms ...*member) *clientv3.Client {
	t.Helper()
	eps := make([]string, len(ms))
	for i, m := range ms {
		eps[i] = m.URL
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// etcdCtx is a context for one call of a test.
func etcdCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestEtcdAPI_KV: clientv3's KV calls against one member, with etcd's
// answers and etcd's typed errors.
func TestEtcdAPI_KV(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 1)
	c := etcdClient(t, ms[0])
	ctx := etcdCtx(t)

	put, err := c.Put(ctx, "a/1", "v1")
	if err != nil {
		t.Fatal(err)
	}
	h := put.Header
	if h.ClusterId == 0 || h.MemberId == 0 || h.RaftTerm == 0 || h.Revision < 2 {
		t.Fatalf("put header: %+v", h)
	}
	rev1 := h.Revision
	for _, kv := range [][2]string{{"a/2", "v2"}, {"a/3", "v3"}, {"b", "vb"}} {
		if _, err := c.Put(ctx, kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	p, err := c.Put(ctx, "a/1", "v1b", clientv3.WithPrevKV())
	if err != nil || p.PrevKv == nil || string(p.PrevKv.Value) != "v1" {
		t.Fatalf("put prev_kv: %+v %v", p, err)
	}

	t.Run("GetOne", func(t *testing.T) {
		g, err := c.Get(ctx, "a/1")
		if err != nil || len(g.Kvs) != 1 || string(g.Kvs[0].Value) != "v1b" || g.Kvs[0].Version != 2 || g.Count != 1 {
			t.Fatalf("%+v %v", g, err)
		}
		if g.Header.Revision != p.Header.Revision {
			t.Fatalf("read at %d, want %d", g.Header.Revision, p.Header.Revision)
		}
	})
	t.Run("Missing", func(t *testing.T) {
		g, err := c.Get(ctx, "nope")
		if err != nil || len(g.Kvs) != 0 || g.Count != 0 {
			t.Fatalf("%+v %v", g, err)
		}
	})
	t.Run("PrefixLimit", func(t *testing.T) {
		g, err := c.Get(ctx, "a/", clientv3.WithPrefix(), clientv3.WithLimit(2))
		if err != nil || len(g.Kvs) != 2 || g.Count != 3 || !g.More || string(g.Kvs[0].Key) != "a/1" {
			t.Fatalf("%+v %v", g, err)
		}
	})
	t.Run("SortKeysOnly", func(t *testing.T) {
		g, err := c.Get(ctx, "a/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithKeysOnly())
		if err != nil || len(g.Kvs) != 3 || string(g.Kvs[0].Key) != "a/3" || len(g.Kvs[0].Value) != 0 {
			t.Fatalf("%+v %v", g, err)
		}
	})
	t.Run("CountOnly", func(t *testing.T) {
		g, err := c.Get(ctx, "", clientv3.WithFromKey(), clientv3.WithCountOnly())
		if err != nil || g.Count != 4 || len(g.Kvs) != 0 {
			t.Fatalf("%+v %v", g, err)
		}
	})
	t.Run("RevisionAndSerializable", func(t *testing.T) {
		g, err := c.Get(ctx, "a/1", clientv3.WithRev(rev1), clientv3.WithSerializable())
		if err != nil || len(g.Kvs) != 1 || string(g.Kvs[0].Value) != "v1" {
			t.Fatalf("%+v %v", g, err)
		}
	})
	t.Run("ModRevisionFilter", func(t *testing.T) {
		g, err := c.Get(ctx, "a/", clientv3.WithPrefix(), clientv3.WithMinModRev(p.Header.Revision))
		if err != nil || len(g.Kvs) != 1 || string(g.Kvs[0].Key) != "a/1" {
			t.Fatalf("%+v %v", g, err)
		}
	})
	t.Run("DeletePrevKV", func(t *testing.T) {
		d, err := c.Delete(ctx, "b", clientv3.WithPrevKV())
		if err != nil || d.Deleted != 1 || len(d.PrevKvs) != 1 || string(d.PrevKvs[0].Value) != "vb" {
			t.Fatalf("%+v %v", d, err)
		}
	})
	t.Run("Txn", func(t *testing.T) {
		g, _ := c.Get(ctx, "a/1")
		kv := g.Kvs[0]
		r, err := c.Txn(ctx).If(
			clientv3.Compare(clientv3.Value("a/1"), "=", "v1b"),
			clientv3.Compare(clientv3.Version("a/1"), "=", 2),
			clientv3.Compare(clientv3.ModRevision("a/1"), "=", kv.ModRevision),
			clientv3.Compare(clientv3.CreateRevision("a/1"), "=", kv.CreateRevision),
			clientv3.Compare(clientv3.LeaseValue("a/1"), "=", clientv3.NoLease),
			clientv3.Compare(clientv3.Version("a/"), ">", 0).WithPrefix(),
		).Then(
			clientv3.OpPut("t/1", "x", clientv3.WithPrevKV()),
			clientv3.OpGet("a/", clientv3.WithPrefix(), clientv3.WithCountOnly()),
			clientv3.OpTxn(
				[]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision("t/2"), "=", 0)},
				[]clientv3.Op{clientv3.OpPut("t/2", "y")}, nil),
			clientv3.OpDelete("a/3"),
		).Else(clientv3.OpGet("a/1")).Commit()
		if err != nil || !r.Succeeded || len(r.Responses) != 4 {
			t.Fatalf("%+v %v", r, err)
		}
		if n := r.Responses[1].GetResponseRange().Count; n != 3 {
			t.Fatalf("count in txn: %d", n)
		}
		if nested := r.Responses[2].GetResponseTxn(); nested == nil || !nested.Succeeded {
			t.Fatalf("nested txn: %+v", r.Responses[2])
		}
		if d := r.Responses[3].GetResponseDeleteRange(); d == nil || d.Deleted != 1 {
			t.Fatalf("delete in txn: %+v", r.Responses[3])
		}
		f, err := c.Txn(ctx).If(clientv3.Compare(clientv3.Value("a/1"), "=", "nope")).
			Then(clientv3.OpPut("t/3", "z")).Else(clientv3.OpGet("a/1")).Commit()
		if err != nil || f.Succeeded || string(f.Responses[0].GetResponseRange().Kvs[0].Value) != "v1b" {
			t.Fatalf("%+v %v", f, err)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		_, err := c.Get(ctx, "a/1", clientv3.WithRev(1<<40))
		if !errors.Is(err, rpctypes.ErrFutureRev) {
			t.Errorf("future revision: %v", err)
		}
		ops := make([]clientv3.Op, 129)
		for i := range ops {
			ops[i] = clientv3.OpPut(fmt.Sprintf("many/%d", i), "v")
		}
		if _, err := c.Txn(ctx).Then(ops...).Commit(); !errors.Is(err, rpctypes.ErrTooManyOps) {
			t.Errorf("129 ops: %v", err)
		}
		if _, err := c.Txn(ctx).Then(clientv3.OpPut("d", "1"), clientv3.OpPut("d", "2")).Commit(); !errors.Is(err, rpctypes.ErrDuplicateKey) {
			t.Errorf("duplicate key: %v", err)
		}
		if _, err := c.Put(ctx, "", "v"); !errors.Is(err, rpctypes.ErrEmptyKey) {
			t.Errorf("empty key: %v", err)
		}
		if _, err := c.Put(ctx, "nope", "", clientv3.WithIgnoreValue()); !errors.Is(err, rpctypes.ErrKeyNotFound) {
			t.Errorf("ignore_value on a missing key: %v", err)
		}
		if _, err := c.Put(ctx, "l", "v", clientv3.WithLease(12345)); !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			t.Errorf("unknown lease: %v", err)
		}
	})
	t.Run("Compact", func(t *testing.T) {
		g, _ := c.Get(ctx, "a/1")
		cur := g.Header.Revision
		if _, err := c.Compact(ctx, cur, clientv3.WithCompactPhysical()); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Get(ctx, "a/1", clientv3.WithRev(rev1)); !errors.Is(err, rpctypes.ErrCompacted) {
			t.Fatalf("read below the compaction: %v", err)
		}
		if _, err := c.Compact(ctx, cur-1); !errors.Is(err, rpctypes.ErrCompacted) {
			t.Fatalf("compact again below: %v", err)
		}
	})
}

// TestEtcdAPI_SamePortAsREST: one client URL serves gRPC (HTTP/2, h2c) and
// REST (HTTP/1.1 and h2c) side by side.
func TestEtcdAPI_SamePortAsREST(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 1)
	c := etcdClient(t, ms[0])
	ctx := etcdCtx(t)
	if _, err := c.Put(ctx, "shared", "from-grpc"); err != nil {
		t.Fatal(err)
	}
	code, body := do(t, http.MethodGet, ms[0].URL+"/v1/kv/shared?raw", "")
	if code != http.StatusOK || body != "from-grpc" {
		t.Fatalf("REST over HTTP/1.1: %d %q", code, body)
	}
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: p}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(ms[0].URL + "/v1/kv/shared?raw")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(b) != "from-grpc" {
		t.Fatalf("REST over h2c: %s %q", resp.Proto, b)
	}
	mustPut(t, ms[0].URL, "shared", "from-rest")
	g, err := c.Get(ctx, "shared")
	if err != nil || string(g.Kvs[0].Value) != "from-rest" {
		t.Fatalf("%+v %v", g, err)
	}
}

// TestEtcdAPI_Watch: several watches on one gRPC stream, each with its
// own range and options, a progress request, a cancel, and a watch from a
// compacted revision.
func TestEtcdAPI_Watch(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 1)
	c := etcdClient(t, ms[0])
	ctx := etcdCtx(t)
	first, err := c.Put(ctx, "w/a", "0")
	if err != nil {
		t.Fatal(err)
	}
	// One context: clientv3 carries the watches on one stream.
	wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer wcancel()
	all := c.Watch(wctx, "w/", clientv3.WithPrefix(), clientv3.WithPrevKV())
	onlyA := c.Watch(wctx, "w/a")
	noPut := c.Watch(wctx, "w/", clientv3.WithPrefix(), clientv3.WithFilterPut())
	past := c.Watch(wctx, "w/a", clientv3.WithRev(first.Header.Revision))

	if _, err := c.Put(ctx, "w/a", "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "w/b", "2"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, "w/a"); err != nil {
		t.Fatal(err)
	}
	want := func(name string, ch clientv3.WatchChan, n int) []*clientv3.Event {
		t.Helper()
		var evs []*clientv3.Event
		timeout := time.After(10 * time.Second)
		for len(evs) < n {
			select {
			case r, ok := <-ch:
				if !ok || r.Err() != nil {
					t.Fatalf("%s: closed or failed: %v", name, r.Err())
				}
				evs = append(evs, r.Events...)
			case <-timeout:
				t.Fatalf("%s: %d events of %d", name, len(evs), n)
			}
		}
		return evs
	}
	evs := want("all", all, 3)
	if evs[0].Type != mvccpb.PUT || string(evs[0].Kv.Value) != "1" || evs[0].PrevKv == nil || string(evs[0].PrevKv.Value) != "0" {
		t.Fatalf("all[0]: %+v", evs[0])
	}
	if evs[2].Type != mvccpb.DELETE || string(evs[2].Kv.Key) != "w/a" {
		t.Fatalf("all[2]: %+v", evs[2])
	}
	if evs := want("onlyA", onlyA, 2); string(evs[0].Kv.Value) != "1" || evs[1].Type != mvccpb.DELETE {
		t.Fatalf("onlyA: %+v", evs)
	}
	if evs := want("noPut", noPut, 1); evs[0].Type != mvccpb.DELETE {
		t.Fatalf("noPut: %+v", evs)
	}
	if evs := want("past", past, 3); string(evs[0].Kv.Value) != "0" {
		t.Fatalf("past: %+v", evs)
	}

	t.Run("RequestProgress", func(t *testing.T) {
		pctx, pcancel := context.WithCancel(ctx)
		defer pcancel()
		pch := c.Watch(pctx, "p/", clientv3.WithPrefix())
		// A put elsewhere moves the revision; the progress says so.
		r, err := c.Put(ctx, "elsewhere", "x")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.RequestProgress(pctx); err != nil {
			t.Fatal(err)
		}
		select {
		case resp := <-pch:
			if !resp.IsProgressNotify() || resp.Header.Revision < r.Header.Revision {
				t.Fatalf("progress: %+v", resp)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no progress notification")
		}
	})
	t.Run("Cancel", func(t *testing.T) {
		cctx, ccancel := context.WithCancel(ctx)
		ch := c.Watch(cctx, "c")
		ccancel()
		select {
		case _, ok := <-ch:
			for ok {
				_, ok = <-ch
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a canceled watch stays open")
		}
	})
	t.Run("Compacted", func(t *testing.T) {
		r, err := c.Put(ctx, "w/c", "x")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Compact(ctx, r.Header.Revision); err != nil {
			t.Fatal(err)
		}
		ch := c.Watch(ctx, "w/", clientv3.WithPrefix(), clientv3.WithRev(first.Header.Revision))
		select {
		case resp := <-ch:
			if !errors.Is(resp.Err(), rpctypes.ErrCompacted) || resp.CompactRevision != r.Header.Revision {
				t.Fatalf("%+v %v", resp, resp.Err())
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no compaction answer")
		}
	})
}

// TestEtcdAPI_WatchProgressNotify: a watch with progress_notify gets the
// revision it has seen everything up to when nothing happens to it.
func TestEtcdAPI_WatchProgressNotify(t *testing.T) {
	t.Parallel()
	ms := startClusterWith(t, 1, func(c *Config) { c.WatchHeartbeat = 200 * time.Millisecond })
	c := etcdClient(t, ms[0])
	ctx := etcdCtx(t)
	ch := c.Watch(ctx, "quiet", clientv3.WithProgressNotify())
	r, err := c.Put(ctx, "loud", "x")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case resp := <-ch:
			if resp.IsProgressNotify() && resp.Header.Revision >= r.Header.Revision {
				return
			}
		case <-deadline:
			t.Fatal("no progress notification up to the put")
		}
	}
}

// TestEtcdAPI_Lease: grant, keep-alive, time-to-live with keys, list and
// revoke, on every member of a 3-member cluster: a follower sends the
// calls that need the leader's lessor to the leader.
func TestEtcdAPI_Lease(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3)
	for i, m := range ms {
		t.Run(fmt.Sprintf("n%d", i+1), func(t *testing.T) {
			c := etcdClient(t, m)
			ctx := etcdCtx(t)
			g, err := c.Grant(ctx, 30)
			if err != nil || g.ID == 0 || g.TTL != 30 {
				t.Fatalf("grant: %+v %v", g, err)
			}
			key := fmt.Sprintf("leased/%d", i)
			if _, err := c.Put(ctx, key, "v", clientv3.WithLease(g.ID)); err != nil {
				t.Fatal(err)
			}
			ka, err := c.KeepAliveOnce(ctx, g.ID)
			if err != nil || ka.TTL != 30 {
				t.Fatalf("keep alive: %+v %v", ka, err)
			}
			ttl, err := c.TimeToLive(ctx, g.ID, clientv3.WithAttachedKeys())
			if err != nil || ttl.GrantedTTL != 30 || ttl.TTL <= 0 || len(ttl.Keys) != 1 || string(ttl.Keys[0]) != key {
				t.Fatalf("time to live: %+v %v", ttl, err)
			}
			ls, err := c.Leases(ctx)
			if err != nil || !hasLease(ls, g.ID) {
				t.Fatalf("leases: %+v %v", ls, err)
			}
			if _, err := c.Revoke(ctx, g.ID); err != nil {
				t.Fatal(err)
			}
			if r, err := c.Get(ctx, key); err != nil || len(r.Kvs) != 0 {
				t.Fatalf("after revoke: %+v %v", r, err)
			}
			if ttl, err := c.TimeToLive(ctx, g.ID); err != nil || ttl.TTL != -1 {
				t.Fatalf("time to live of a revoked lease: %+v %v", ttl, err)
			}
			if _, err := c.Revoke(ctx, g.ID); !errors.Is(err, rpctypes.ErrLeaseNotFound) {
				t.Fatalf("revoke again: %v", err)
			}
			if _, err := c.KeepAliveOnce(ctx, g.ID); !errors.Is(err, rpctypes.ErrLeaseNotFound) {
				t.Fatalf("keep alive of a revoked lease: %v", err)
			}
		})
	}
	t.Run("KeepAliveStream", func(t *testing.T) {
		c := etcdClient(t, ms[1])
		ctx := etcdCtx(t)
		g, err := c.Grant(ctx, 2) // raised to the minimum lease TTL
		if err != nil {
			t.Fatal(err)
		}
		kctx, kcancel := context.WithCancel(ctx)
		defer kcancel()
		ch, err := c.KeepAlive(kctx, g.ID)
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < 3; n++ {
			select {
			case r, ok := <-ch:
				if !ok || r.TTL <= 0 {
					t.Fatalf("keep-alive %d: %+v %v", n, r, ok)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("keep-alive %d did not come", n)
			}
		}
		if ttl, err := c.TimeToLive(ctx, g.ID); err != nil || ttl.TTL <= 0 {
			t.Fatalf("a lease kept alive: %+v %v", ttl, err)
		}
	})
}

func hasLease(ls *clientv3.LeaseLeasesResponse, id clientv3.LeaseID) bool {
	for _, l := range ls.Leases {
		if l.ID == id {
			return true
		}
	}
	return false
}

// TestEtcdAPI_ClusterAndMaintenance: MemberList, Status, HashKV, Alarm,
// Defragment, Snapshot and MoveLeader of a 3-member cluster.
func TestEtcdAPI_ClusterAndMaintenance(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3)
	c := etcdClient(t, ms...)
	ctx := etcdCtx(t)
	if _, err := c.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	ml, err := c.MemberList(ctx)
	if err != nil || len(ml.Members) != 3 {
		t.Fatalf("member list: %+v %v", ml, err)
	}
	byURL := map[string]uint64{}
	for _, m := range ml.Members {
		if m.ID == 0 || m.Name == "" || len(m.PeerURLs) != 1 || len(m.ClientURLs) != 1 || m.IsLearner {
			t.Fatalf("member: %+v", m)
		}
		byURL[m.ClientURLs[0]] = m.ID
	}
	var leader uint64
	var hashes []uint32
	rev := int64(0)
	for _, m := range ms {
		st, err := c.Status(ctx, m.URL)
		if err != nil {
			t.Fatal(err)
		}
		if st.Header.MemberId != byURL[m.URL] || st.Leader == 0 || st.RaftTerm == 0 || st.RaftAppliedIndex == 0 || st.DbSize == 0 || st.Version != etcdversion.Version || st.DbSizeQuota != m.cfg.QuotaBackendBytes {
			t.Fatalf("status of %s: %+v", m.URL, st)
		}
		if leader != 0 && st.Leader != leader {
			t.Fatalf("leaders %x and %x", leader, st.Leader)
		}
		leader = st.Leader
		if rev == 0 {
			rev = st.Header.Revision
		}
		h, err := c.HashKV(ctx, m.URL, rev)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h.Hash)
	}
	if hashes[0] != hashes[1] || hashes[1] != hashes[2] {
		t.Fatalf("hashes differ at revision %d: %v", rev, hashes)
	}
	if as, err := c.AlarmList(ctx); err != nil || len(as.Alarms) != 0 {
		t.Fatalf("alarms: %+v %v", as, err)
	}
	if _, err := c.Defragment(ctx, ms[1].URL); err != nil {
		t.Fatal(err)
	}
	snap, err := c.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(snap)
	if err != nil || len(b)%512 != 32 {
		t.Fatalf("snapshot of %d bytes: %v", len(b), err)
	}
	// MoveLeader: on the leader, to another member.
	var leaderURL string
	var to uint64
	for url, id := range byURL {
		if id == leader {
			leaderURL = url
		} else {
			to = id
		}
	}
	lc := etcdClient(t, memberAt(ms, leaderURL))
	if _, err := lc.MoveLeader(ctx, to); err != nil {
		t.Fatal(err)
	}
	st, err := lc.Status(ctx, leaderURL)
	if err != nil || st.Leader != to {
		t.Fatalf("after move-leader to %x: %+v %v", to, st, err)
	}
	if _, err := c.MemberRemove(ctx, 12345); !errors.Is(err, rpctypes.ErrMemberNotFound) {
		t.Fatalf("remove an unknown member: %v", err)
	}
}

func memberAt(ms []*member, url string) *member {
	for _, m := range ms {
		if m.URL == url {
			return m
		}
	}
	return nil
}

// TestEtcdAPI_WritesThroughFollower: a write sent to a follower over gRPC
// is forwarded to the leader and read back linearizably on another member.
func TestEtcdAPI_WritesThroughFollower(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3)
	ctx := etcdCtx(t)
	for i, m := range ms {
		c := etcdClient(t, m)
		key := fmt.Sprintf("via/%d", i)
		if _, err := c.Put(ctx, key, strings.Repeat("x", i+1)); err != nil {
			t.Fatal(err)
		}
		other := etcdClient(t, ms[(i+1)%len(ms)])
		g, err := other.Get(ctx, key)
		if err != nil || len(g.Kvs) != 1 || len(g.Kvs[0].Value) != i+1 {
			t.Fatalf("%s on another member: %+v %v", key, g, err)
		}
	}
}

// TestEtcdAPI_WatchFragment: a revision whose events are larger than the
// request limit reaches a watch created with fragment in several
// responses, which clientv3 joins.
func TestEtcdAPI_WatchFragment(t *testing.T) {
	t.Parallel()
	ms := startClusterWith(t, 1, func(c *Config) { c.MaxRequestBytes = 64 << 10 })
	c := etcdClient(t, ms[0])
	ctx := etcdCtx(t)
	value := strings.Repeat("v", 5<<10)
	var ops []clientv3.Op
	for i := range 10 {
		ops = append(ops, clientv3.OpPut(fmt.Sprintf("f/%d", i), value))
	}
	if _, err := c.Txn(ctx).Then(ops...).Commit(); err != nil {
		t.Fatal(err)
	}
	ch := c.Watch(ctx, "f/", clientv3.WithPrefix(), clientv3.WithPrevKV(), clientv3.WithFragment())
	// With the previous values, the revision's events pass 64 KiB.
	r, err := c.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case resp := <-ch:
		if len(resp.Events) != 10 || resp.Header.Revision != r.Header.Revision || resp.Events[9].PrevKv == nil {
			t.Fatalf("%d events at %d: %v", len(resp.Events), resp.Header.Revision, resp.Err())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no events")
	}
}
