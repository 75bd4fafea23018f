package watch_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/watch"
	"github.com/cairnkv/cairn/internal/ports/portstest"
)

// env is a one-member world: writes go through the fake proposer and are
// published to the hub the way the Raft FSM publishes committed batches.
type env struct {
	t   *testing.T
	p   *portstest.Proposer
	hub *watch.Hub
	svc *watch.Service
}

func newEnv(t *testing.T, hubCfg watch.HubConfig, cfg watch.Config) *env {
	t.Helper()
	b := portstest.NewBackend()
	p := portstest.NewProposer(b)
	hub := watch.NewHub(hubCfg, 1)
	return &env{t: t, p: p, hub: hub, svc: watch.New(cfg, hub, b, p)}
}

func (e *env) apply(cmd domain.Command) int64 {
	e.t.Helper()
	res, err := e.p.Propose(context.Background(), cmd)
	if err != nil || res.Err != nil {
		e.t.Fatalf("propose: %v %v", err, res.Err)
	}
	e.hub.Publish(res.Revision, res.Events)
	return res.Revision
}

func (e *env) put(key, value string) int64 {
	return e.apply(domain.Command{Type: domain.CmdTxn, Txn: &domain.TxnRequest{Success: []domain.Op{
		{Put: &domain.PutRequest{Key: []byte(key), Value: []byte(value)}},
	}}})
}

func (e *env) del(key, end string) int64 {
	return e.apply(domain.Command{Type: domain.CmdTxn, Txn: &domain.TxnRequest{Success: []domain.Op{
		{Delete: &domain.DeleteRangeRequest{Key: []byte(key), RangeEnd: []byte(end)}},
	}}})
}

func (e *env) watch(req watch.Request) *watch.Watcher {
	e.t.Helper()
	w, err := e.svc.Watch(context.Background(), req)
	if err != nil {
		e.t.Fatalf("watch: %v", err)
	}
	e.t.Cleanup(w.Close)
	return w
}

// collect reads messages until it has n events, and renders them.
func collect(t *testing.T, w *watch.Watcher, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []string
	for len(out) < n {
		msgs, err := w.Next(ctx)
		if err != nil {
			t.Fatalf("after %d of %d events: %v", len(out), n, err)
		}
		for _, m := range msgs {
			for _, ev := range m.Events {
				if ev.Kv.ModRevision != m.Revision {
					t.Fatalf("event at %d in the message of revision %d", ev.Kv.ModRevision, m.Revision)
				}
				s := fmt.Sprintf("%s %s=%s@%d", ev.Type, ev.Kv.Key, ev.Kv.Value, m.Revision)
				if ev.PrevKv != nil {
					s += fmt.Sprintf(" prev=%s", ev.PrevKv.Value)
				}
				out = append(out, s)
			}
		}
	}
	if len(out) != n {
		t.Fatalf("got %d events, want %d: %q", len(out), n, out)
	}
	return out
}

// quiet checks that nothing arrives for a short while.
func quiet(t *testing.T, w *watch.Watcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if msgs, err := w.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("expected nothing, got %+v %v", msgs, err)
	}
}

func equal(t *testing.T, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events:\n got %q\nwant %q", got, want)
	}
}

func TestWatcher_Live(t *testing.T) {
	t.Parallel()
	e := newEnv(t, watch.HubConfig{}, watch.Config{})
	w := e.watch(watch.Request{Key: []byte("a/"), RangeEnd: []byte("a0"), PrevKv: true})
	e.put("a/1", "x")
	e.put("b", "ignored")
	e.put("a/1", "y")
	e.del("a/", "a0")
	equal(t, collect(t, w, 3), []string{"PUT a/1=x@2", "PUT a/1=y@4 prev=x", "DELETE a/1=@5 prev=y"})
	quiet(t, w)
	if w.Progress() != 5 {
		t.Fatalf("progress = %d, want 5", w.Progress())
	}
}

func TestWatcher_Filters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, watch.HubConfig{}, watch.Config{})
	noPut := e.watch(watch.Request{Key: []byte("k"), NoPut: true})
	noDel := e.watch(watch.Request{Key: []byte("k"), NoDelete: true})
	e.put("k", "1")
	e.del("k", "")
	e.put("k", "2")
	equal(t, collect(t, noPut, 1), []string{"DELETE k=@3"})
	equal(t, collect(t, noDel, 2), []string{"PUT k=1@2", "PUT k=2@4"})
}

func TestWatcher_StartInThePast(t *testing.T) {
	t.Parallel()
	e := newEnv(t, watch.HubConfig{}, watch.Config{})
	for i := 0; i < 5; i++ {
		e.put("k", fmt.Sprint(i)) // revisions 2..6
	}
	// A hub that started after these writes has none of them: the
	// watcher reads them from the store, then follows the live stream
	// without a gap or a duplicate.
	e.hub.Reset(6)
	w := e.watch(watch.Request{Key: []byte("k"), StartRevision: 3})
	equal(t, collect(t, w, 4), []string{"PUT k=1@3", "PUT k=2@4", "PUT k=3@5", "PUT k=4@6"})
	e.put("k", "live1")
	e.put("k", "live2")
	equal(t, collect(t, w, 2), []string{"PUT k=live1@7", "PUT k=live2@8"})
	quiet(t, w)
}

func TestWatcher_SlowReader(t *testing.T) {
	t.Parallel()
	e := newEnv(t, watch.HubConfig{RingEvents: 4}, watch.Config{MaxEvents: 3})
	w := e.watch(watch.Request{Key: []byte("k/"), RangeEnd: []byte("k0")})
	e.put("k/0", "first")
	equal(t, collect(t, w, 1), []string{"PUT k/0=first@2"})
	var want []string
	for i := 1; i <= 40; i++ {
		rev := e.put(fmt.Sprintf("k/%d", i%5), fmt.Sprint(i))
		want = append(want, fmt.Sprintf("PUT k/%d=%d@%d", i%5, i, rev))
	}
	if st := e.hub.Stats(); st.RingEvents > 4 {
		t.Fatalf("the ring holds %d events, more than its bound of 4", st.RingEvents)
	}
	equal(t, collect(t, w, 40), want)
	if st := e.hub.Stats(); st.Slow == 0 {
		t.Fatalf("a reader that fell behind the ring was not counted as slow: %+v", st)
	}
}

func TestHub_RingBytes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, watch.HubConfig{RingBytes: 1000}, watch.Config{})
	w := e.watch(watch.Request{Key: []byte("k")})
	var want []string
	for i := 0; i < 20; i++ {
		v := strings.Repeat(fmt.Sprint(i%10), 200)
		rev := e.put("k", v)
		want = append(want, fmt.Sprintf("PUT k=%s@%d", v, rev))
	}
	if st := e.hub.Stats(); st.RingBytes > 1000 || st.RingEvents > 4 {
		t.Fatalf("ring holds %d bytes in %d events, bound is 1000 bytes", st.RingBytes, st.RingEvents)
	}
	equal(t, collect(t, w, 20), want)
}

// TestWatcher_MaxBytes reads large values from the store in batches
// bounded by bytes, not only by count.
func TestWatcher_MaxBytes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, watch.HubConfig{}, watch.Config{MaxEvents: 1000, MaxBytes: 1000})
	var want []string
	for i := 0; i < 10; i++ {
		v := strings.Repeat(fmt.Sprint(i), 400)
		rev := e.put("big", v)
		want = append(want, fmt.Sprintf("PUT big=%s@%d", v, rev))
	}
	e.hub.Reset(11) // the history comes from the store
	w := e.watch(watch.Request{Key: []byte("big"), StartRevision: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msgs, err := w.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) > 3 {
		t.Fatalf("one batch holds %d revisions of 400 bytes, more than MaxBytes 1000 allows", len(msgs))
	}
	got := collect(t, w, 10-len(msgs))
	if len(got)+len(msgs) != 10 || got[len(got)-1] != want[9] {
		t.Fatalf("events after the first batch: %q", got)
	}
}

func TestWatcher_Txn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, watch.HubConfig{}, watch.Config{MaxEvents: 1})
	w := e.watch(watch.Request{Key: []byte("t"), RangeEnd: []byte{0}})
	e.apply(domain.Command{Type: domain.CmdTxn, Txn: &domain.TxnRequest{Success: []domain.Op{
		{Put: &domain.PutRequest{Key: []byte("t1"), Value: []byte("a")}},
		{Put: &domain.PutRequest{Key: []byte("t2"), Value: []byte("b")}},
		{Put: &domain.PutRequest{Key: []byte("t3"), Value: []byte("c")}},
	}}})
	// A revision is never split, even past MaxEvents.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msgs, err := w.Next(ctx)
	if err != nil || len(msgs) != 1 || len(msgs[0].Events) != 3 || msgs[0].Revision != 2 {
		t.Fatalf("txn message = %+v %v, want one message with 3 events", msgs, err)
	}
}

func TestWatcher_FutureStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, watch.HubConfig{}, watch.Config{})
	w := e.watch(watch.Request{Key: []byte("k"), StartRevision: 4})
	e.put("k", "2")
	e.put("k", "3")
	quiet(t, w)
	e.put("k", "4")
	equal(t, collect(t, w, 1), []string{"PUT k=4@4"})
}

func TestService_Watch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("ErrCompacted", func(t *testing.T) {
		e := newEnv(t, watch.HubConfig{}, watch.Config{})
		e.put("k", "1")
		e.put("k", "2")
		e.put("k", "3")
		e.apply(domain.Command{Type: domain.CmdCompact, Compact: &domain.CompactRequest{Revision: 3}})
		for _, start := range []int64{2, 3} {
			_, err := e.svc.Watch(ctx, watch.Request{Key: []byte("k"), StartRevision: start})
			var ce *domain.CompactedError
			if !errors.As(err, &ce) || ce.CompactRevision != 3 {
				t.Fatalf("start %d: err = %v, want CompactedError at 3", start, err)
			}
		}
		w := e.watch(watch.Request{Key: []byte("k"), StartRevision: 4})
		equal(t, collect(t, w, 1), []string{"PUT k=3@4"})
		if st := e.hub.Stats(); st.Watchers != 1 {
			t.Fatalf("watchers = %d, want 1 (the refused one is not counted)", st.Watchers)
		}
	})

	t.Run("ErrTooManyWatchers", func(t *testing.T) {
		e := newEnv(t, watch.HubConfig{MaxWatchers: 2}, watch.Config{})
		e.watch(watch.Request{Key: []byte("a")})
		w := e.watch(watch.Request{Key: []byte("b")})
		if _, err := e.svc.Watch(ctx, watch.Request{Key: []byte("c")}); !errors.Is(err, watch.ErrTooManyWatchers) || !errors.Is(err, domain.ErrUnavailable) {
			t.Fatalf("third watcher: %v, want ErrTooManyWatchers", err)
		}
		w.Close()
		e.watch(watch.Request{Key: []byte("c")})
	})

	t.Run("ErrInvalidArgument", func(t *testing.T) {
		e := newEnv(t, watch.HubConfig{}, watch.Config{})
		for _, req := range []watch.Request{{}, {Key: []byte("b"), RangeEnd: []byte("a")}, {Key: []byte("a"), StartRevision: -1}} {
			if _, err := e.svc.Watch(ctx, req); !errors.Is(err, domain.ErrInvalidArgument) {
				t.Errorf("%+v: %v, want invalid argument", req, err)
			}
		}
	})

	t.Run("Barrier", func(t *testing.T) {
		e := newEnv(t, watch.HubConfig{}, watch.Config{})
		e.p.BarrierErr = domain.ErrNoLeader
		if _, err := e.svc.Watch(ctx, watch.Request{Key: []byte("k")}); !errors.Is(err, domain.ErrNoLeader) {
			t.Fatalf("linearizable start without a leader: %v", err)
		}
		e.watch(watch.Request{Key: []byte("k"), Serializable: true})
	})

	t.Run("ErrClosed", func(t *testing.T) {
		e := newEnv(t, watch.HubConfig{}, watch.Config{})
		w := e.watch(watch.Request{Key: []byte("k")})
		e.hub.Close()
		if _, err := w.Next(ctx); !errors.Is(err, watch.ErrClosed) {
			t.Fatalf("Next after Close: %v", err)
		}
		if _, err := e.svc.Watch(ctx, watch.Request{Key: []byte("k")}); !errors.Is(err, watch.ErrClosed) {
			t.Fatalf("Watch after Close: %v", err)
		}
	})
}

// TestHub_PublishWakesOnlyConcernedWatchers: a watcher asleep in Next is
// woken by a change of its range only; the revisions published while it
// slept count as seen, and a range watcher is found as a key watcher is.
func TestHub_PublishWakesOnlyConcernedWatchers(t *testing.T) {
	t.Parallel()
	hub := watch.NewHub(watch.HubConfig{}, 1)
	defer hub.Close()
	svc := watch.New(watch.Config{}, hub, portstest.NewBackend(), portstest.NewProposer(portstest.NewBackend()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		msgs []watch.Message
		err  error
	}
	start := func(req watch.Request) (*watch.Watcher, chan result) {
		req.Serializable = true
		w, err := svc.Watch(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		ch := make(chan result, 1)
		go func() { m, err := w.Next(ctx); ch <- result{m, err} }()
		return w, ch
	}
	key, keyCh := start(watch.Request{Key: []byte("a")})
	defer key.Close()
	rng, rngCh := start(watch.Request{Key: []byte("r/"), RangeEnd: []byte("r0")}) // the prefix r/
	defer rng.Close()
	from, fromCh := start(watch.Request{Key: []byte("z"), RangeEnd: []byte{0}}) // every key from z on
	defer from.Close()
	all, allCh := start(watch.Request{Key: []byte{}, RangeEnd: []byte{0}}) // every key
	defer all.Close()
	waitParked := func(n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for hub.Stats().Parked != n {
			if time.Now().After(deadline) {
				t.Fatalf("%d watchers parked, want %d", hub.Stats().Parked, n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitParked(4)
	put := func(rev int64, key string) {
		hub.Publish(rev, []domain.Event{{Type: domain.EventPut, Kv: domain.KeyValue{Key: []byte(key), Value: []byte("v"), ModRevision: rev}}})
	}
	put(2, "other/first")
	if got := <-allCh; got.err != nil || len(got.msgs) != 1 || got.msgs[0].Revision != 2 {
		t.Fatalf("watcher of every key: %+v", got)
	}
	for rev := int64(3); rev < 102; rev++ {
		put(rev, fmt.Sprintf("other/%d", rev))
	}
	if st := hub.Stats(); st.Wakeups != 1 || st.Parked != 3 {
		t.Fatalf("99 more changes of other keys: %d wakeups, %d parked; want 1 and 3", st.Wakeups, st.Parked)
	}
	put(102, "r/x")
	got := <-rngCh
	if got.err != nil || len(got.msgs) != 1 || got.msgs[0].Revision != 102 {
		t.Fatalf("range watcher: %+v", got)
	}
	put(103, "a")
	got = <-keyCh
	if got.err != nil || len(got.msgs) != 1 || got.msgs[0].Revision != 103 {
		t.Fatalf("key watcher: %+v", got)
	}
	put(104, "zz")
	if got := <-fromCh; got.err != nil || len(got.msgs) != 1 || got.msgs[0].Revision != 104 {
		t.Fatalf("from-key watcher: %+v", got)
	}
	if st := hub.Stats(); st.Wakeups != 4 {
		t.Fatalf("%d wakeups, want 4", st.Wakeups)
	}
	// Asleep through changes of other keys, then its context ends: it
	// has seen everything up to the latest revision.
	tctx, tcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { _, err := key.Next(tctx); done <- err }()
	waitParked(1)
	put(105, "other")
	tcancel()
	if err := <-done; err == nil {
		t.Fatal("Next returned without an error after its context ended")
	}
	if p := key.Progress(); p != 105 {
		t.Fatalf("progress %d after sleeping through revision 105, want 105", p)
	}
}

// TestHub_PrefixWatcherAlone: a prefix watcher parked with no other
// watcher is woken by a change under its prefix.
func TestHub_PrefixWatcherAlone(t *testing.T) {
	t.Parallel()
	hub := watch.NewHub(watch.HubConfig{}, 1)
	defer hub.Close()
	svc := watch.New(watch.Config{}, hub, portstest.NewBackend(), portstest.NewProposer(portstest.NewBackend()))
	w, err := svc.Watch(context.Background(), watch.Request{Key: []byte("p/"), RangeEnd: []byte("p0"), Serializable: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ch := make(chan []watch.Message, 1)
	go func() { m, _ := w.Next(context.Background()); ch <- m }()
	for hub.Stats().Parked != 1 {
		time.Sleep(time.Millisecond)
	}
	hub.Publish(2, []domain.Event{{Type: domain.EventPut, Kv: domain.KeyValue{Key: []byte("p/x"), ModRevision: 2}}})
	select {
	case m := <-ch:
		if len(m) != 1 || m[0].Revision != 2 {
			t.Fatalf("got %+v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the prefix watcher was not woken")
	}
}

// A polled watcher (OnReady, Poll) sees what a waiting one sees: ready is
// called only for a change of its range, Progress counts the revisions
// published while it waited, a Reset and the hub's Close make it ready.
func TestWatcher_Poll(t *testing.T) {
	t.Parallel()
	e := newEnv(t, watch.HubConfig{}, watch.Config{})
	w := e.watch(watch.Request{Key: []byte("a")})
	ready := make(chan struct{}, 1)
	w.OnReady(func() {
		select {
		case ready <- struct{}{}:
		default:
			t.Error("ready called again before a poll")
		}
	})
	isReady := func() bool {
		select {
		case <-ready:
			return true
		default:
			return false
		}
	}
	poll := func() []string {
		t.Helper()
		msgs, err := w.Poll()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range msgs {
			for _, ev := range m.Events {
				out = append(out, fmt.Sprintf("%s %s=%s@%d", ev.Type, ev.Kv.Key, ev.Kv.Value, ev.Kv.ModRevision))
			}
		}
		return out
	}
	equal(t, poll(), nil)
	r := e.put("b", "1")
	if isReady() {
		t.Fatal("ready for a change of another key")
	}
	if got := w.Progress(); got != r {
		t.Fatalf("Progress = %d while waiting, want %d", got, r)
	}
	equal(t, poll(), nil) // still waiting
	r = e.put("a", "1")
	e.put("a", "2")
	if !isReady() {
		t.Fatal("not ready after a change of its key")
	}
	equal(t, poll(), []string{fmt.Sprintf("PUT a=1@%d", r), fmt.Sprintf("PUT a=2@%d", r+1)})
	equal(t, poll(), nil)
	e.hub.Reset(e.hub.Rev())
	if !isReady() {
		t.Fatal("not ready after a reset")
	}
	equal(t, poll(), nil)
	e.hub.Close()
	if !isReady() {
		t.Fatal("not ready after the hub closed")
	}
	if _, err := w.Poll(); !errors.Is(err, watch.ErrClosed) {
		t.Fatalf("Poll after Close: %v, want ErrClosed", err)
	}
}

// Watchers of one key share its place in the hub's index: each is woken
// by a change of the key, and one that closed is not.
func TestHub_WatchersOfOneKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, watch.HubConfig{}, watch.Config{})
	var ws []*watch.Watcher
	ready := make([]int, 4)
	for i, key := range []string{"k", "k", "k", "other"} {
		w := e.watch(watch.Request{Key: []byte(key)})
		w.OnReady(func() { ready[i]++ })
		ws = append(ws, w)
	}
	parkAll := func() {
		t.Helper()
		for i, w := range ws {
			if i == 1 {
				continue // closed below
			}
			if msgs, err := w.Poll(); err != nil || len(msgs) != 0 {
				t.Fatalf("watcher %d: %v %v", i, msgs, err)
			}
		}
	}
	parkAll()
	ws[1].Close()
	for round := 1; round <= 2; round++ {
		rev := e.put("k", fmt.Sprint(round))
		if want := []int{round, 0, round, 0}; fmt.Sprint(ready) != fmt.Sprint(want) {
			t.Fatalf("round %d: ready calls %v, want %v", round, ready, want)
		}
		for _, i := range []int{0, 2} {
			msgs, err := ws[i].Poll()
			if err != nil || len(msgs) != 1 || msgs[0].Revision != rev {
				t.Fatalf("round %d, watcher %d: %v %v", round, i, msgs, err)
			}
		}
		parkAll()
	}
	if st := e.hub.Stats(); st.Parked != 3 || st.Watchers != 3 {
		t.Fatalf("stats %+v, want 3 parked of 3 watchers", st)
	}
}
