package k8s

// What else of the apiserver's etcd3 package talks to etcd, checked against
// Cairn with tests of our own (the apiserver's compact_test.go and
// feature_support_checker_test.go exercise the same exported functions
// against etcd): the compactor every apiserver runs, RequestWatchProgress,
// and the feature check the apiserver makes on the etcd version.

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/apis/example"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/etcd3"
	etcdfeature "k8s.io/apiserver/pkg/storage/feature"
	testingclock "k8s.io/utils/clock/testing"
)

// TestCompactor runs the apiserver's periodic compactor (etcd3.NewCompactor,
// one cycle a minute on a fake clock) against Cairn. Each cycle compacts at
// the revision the previous cycle saw, so a write survives the cycle after
// it and is compacted by the one after that.
func TestCompactor(t *testing.T) {
	e := newStore(t)
	ctx := e.ctx
	fake := testingclock.NewFakeClock(time.Now())
	c := etcd3.NewCompactor(e.client.Client, time.Minute, fake, nil)
	t.Cleanup(c.Stop)
	cycle := func() {
		t.Helper()
		waitFor(t, "the compactor to wait on its clock", fake.HasWaiters)
		fake.Step(time.Minute)
		waitFor(t, "the compactor's cycle to end", fake.HasWaiters)
	}
	readAt := func(rev int64) error {
		_, err := e.client.Client.Get(ctx, "/somekey", clientRev(rev)...)
		return err
	}

	cycle() // notes the current revision, compacts nothing
	first, err := e.client.Client.Put(ctx, "/somekey", "1")
	if err != nil {
		t.Fatal(err)
	}
	cycle() // compacts at the revision noted before the write
	if err := readAt(first.Header.Revision); err != nil {
		t.Fatalf("read at the first write's revision %d after one cycle: %v", first.Header.Revision, err)
	}
	if got, want := c.CompactRevision(), first.Header.Revision-1; got != want {
		t.Errorf("CompactRevision() after the second cycle = %d, want %d", got, want)
	}
	second, err := e.client.Client.Put(ctx, "/somekey", "2")
	if err != nil {
		t.Fatal(err)
	}
	cycle() // compacts at the revision after the first write (its own txn's)
	if err := readAt(first.Header.Revision); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Errorf("read at the first write's revision %d after two cycles: %v, want %v", first.Header.Revision, err, rpctypes.ErrCompacted)
	}
	if err := readAt(second.Header.Revision); err != nil {
		t.Errorf("read at the second write's revision %d: %v", second.Header.Revision, err)
	}
	if got, want := c.CompactRevision(), first.Header.Revision+1; got != want {
		t.Errorf("CompactRevision() after the third cycle = %d, want %d", got, want)
	}
}

// TestCompactConflict: apiservers sharing a cluster agree on compactions
// through a logical clock, the version of a key that etcd3.Compact bumps in
// a txn. The second compaction at the same logical time must lose and learn
// the first one's clock and revision.
func TestCompactConflict(t *testing.T) {
	e := newStore(t)
	put, err := e.client.Client.Put(e.ctx, "/somekey", "data")
	if err != nil {
		t.Fatal(err)
	}
	rev := put.Header.Revision
	clock1, cur1, compacted1, err := etcd3.Compact(e.ctx, e.client.Client, 0, rev)
	if err != nil {
		t.Fatal(err)
	}
	if clock1 != 1 || cur1 != rev+1 || compacted1 != rev {
		t.Errorf("first compaction at time 0: time %d, revision %d, compacted at %d; want 1, %d, %d", clock1, cur1, compacted1, rev+1, rev)
	}
	clock2, cur2, compacted2, err := etcd3.Compact(e.ctx, e.client.Client, 0, rev+1)
	if err != nil {
		t.Fatal(err)
	}
	if clock2 != clock1 || cur2 != cur1 || compacted2 != rev {
		t.Errorf("second compaction at time 0: time %d, revision %d, compacted at %d; want %d, %d, %d (the first one's)", clock2, cur2, compacted2, clock1, cur1, rev)
	}
	clock3, _, compacted3, err := etcd3.Compact(e.ctx, e.client.Client, clock2, rev+1)
	if err != nil {
		t.Fatal(err)
	}
	if clock3 != 2 || compacted3 != rev+1 {
		t.Errorf("compaction at time %d: time %d, compacted at %d; want 2, %d", clock2, clock3, compacted3, rev+1)
	}
}

// TestRequestWatchProgress: the watch cache asks etcd where its watches stand
// (store.RequestWatchProgress, etcd's RequestProgress) to serve consistent
// lists from memory; the answer comes as a bookmark on a watch with
// progress notifications, long before Cairn's 10s idle heartbeat.
func TestRequestWatchProgress(t *testing.T) {
	e := newStore(t)
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	created := &example.Pod{}
	if err := e.store.Create(ctx, "/pods/ns/p", &example.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}}, created, 0); err != nil {
		t.Fatal(err)
	}
	rev := e.increaseRV()(ctx, t)
	w, err := e.store.Watch(ctx, "/pods/ns/p", storage.ListOptions{
		ResourceVersion: created.ResourceVersion, Predicate: storage.Everything, ProgressNotify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	start := time.Now()
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := e.store.RequestWatchProgress(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-w.ResultChan():
			if ev.Type != watch.Bookmark {
				t.Fatalf("got a %s event, want a bookmark: %#v", ev.Type, ev.Object)
			}
			got, err := storage.APIObjectVersioner{}.ObjectResourceVersion(ev.Object)
			if err != nil || int64(got) < rev {
				t.Fatalf("bookmark at resource version %d (%v), want at least %d", got, err, rev)
			}
			t.Logf("bookmark at %d after %v", got, time.Since(start).Round(time.Millisecond))
			return
		case <-tick.C:
		case <-deadline:
			t.Fatal("no bookmark 5s after asking for progress")
		}
	}
}

// TestFeatureSupportCheck runs the check the apiserver makes on every etcd
// endpoint before it trusts RequestWatchProgress (and, with it, serves
// consistent lists from its watch cache): the version in Status must be an
// etcd version that has the progress fixes (3.4.31+, 3.5.13+).
func TestFeatureSupportCheck(t *testing.T) {
	e := newStore(t)
	checker := etcdfeature.NewDefaultFeatureSupportChecker()
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	checker.CheckClient(ctx, e.client.Client, storage.RequestWatchProgress)
	st, err := e.client.Client.Status(ctx, e.client.Client.Endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	// The check runs in the background; its answer is cached.
	deadline := time.Now().Add(5 * time.Second)
	for !checker.Supports(storage.RequestWatchProgress) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !checker.Supports(storage.RequestWatchProgress) {
		t.Fatalf("the apiserver's feature check finds RequestWatchProgress unsupported on Cairn (Status version %q): "+
			"an apiserver would serve consistent lists from etcd, not from its watch cache", st.Version)
	}
}

// TestGetCurrentResourceVersion: the store's current resource version is
// Cairn's revision, moved by any write, not only the store's own.
func TestGetCurrentResourceVersion(t *testing.T) {
	e := newStore(t)
	created := &example.Pod{}
	if err := e.store.Create(e.ctx, "/pods/ns/p", &example.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}}, created, 0); err != nil {
		t.Fatal(err)
	}
	versioner := storage.APIObjectVersioner{}
	podRV, err := versioner.ParseResourceVersion(created.ResourceVersion)
	if err != nil {
		t.Fatal(err)
	}
	if cur, err := e.store.GetCurrentResourceVersion(e.ctx); err != nil || cur != podRV {
		t.Fatalf("current resource version after the create = %d (%v), want %d", cur, err, podRV)
	}
	rev := e.increaseRV()(e.ctx, t)
	if cur, err := e.store.GetCurrentResourceVersion(e.ctx); err != nil || cur != uint64(rev) {
		t.Fatalf("current resource version after a write elsewhere = %d (%v), want %d", cur, err, rev)
	}
	got := &example.Pod{}
	if err := e.store.Get(e.ctx, "/pods/ns/p", storage.GetOptions{}, got); err != nil || got.ResourceVersion != created.ResourceVersion {
		t.Fatalf("pod's resource version = %q (%v), want %q", got.ResourceVersion, err, created.ResourceVersion)
	}
}
