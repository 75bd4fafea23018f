package client_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cairnkv/cairn/client"
)

// next returns the next response of wch, failing the test after a while.
func next(t testing.TB, wch client.WatchChan) client.WatchResponse {
	t.Helper()
	select {
	case wr, ok := <-wch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return wr
	case <-time.After(10 * time.Second):
		t.Fatal("no watch response in 10s")
	}
	return client.WatchResponse{}
}

// nextEvents skips progress notifications.
func nextEvents(t testing.TB, wch client.WatchChan) client.WatchResponse {
	t.Helper()
	for {
		wr := next(t, wch)
		if wr.Err != nil {
			t.Fatalf("watch error: %v", wr.Err)
		}
		if !wr.IsProgressNotify() {
			return wr
		}
	}
}

func TestWatch_Events(t *testing.T) {
	c := newClient(t, endpoints)
	ctx := testCtx(t)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	now, err := c.Get(ctx, "we/", client.WithPrefix(), client.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	wch := c.Watch(wctx, "we/", client.WithPrefix(), client.WithPrevKV(), client.WithRev(now.Header.Revision+1))
	first, err := c.Put(ctx, "we/\x00a", "1")
	if err != nil {
		t.Fatal(err)
	}
	wr := nextEvents(t, wch)
	if wr.Header.Revision != first.Header.Revision || len(wr.Events) != 1 || !wr.Events[0].IsCreate() ||
		string(wr.Events[0].Kv.Key) != "we/\x00a" || string(wr.Events[0].Kv.Value) != "1" {
		t.Fatalf("first response %+v", wr)
	}
	if _, err := c.Put(ctx, "we/\x00a", "\xff2"); err != nil {
		t.Fatal(err)
	}
	wr = nextEvents(t, wch)
	ev := wr.Events[0]
	if !ev.IsModify() || string(ev.Kv.Value) != "\xff2" || ev.PrevKv == nil || string(ev.PrevKv.Value) != "1" {
		t.Fatalf("modify %+v", ev)
	}
	if _, err := c.Delete(ctx, "we/\x00a"); err != nil {
		t.Fatal(err)
	}
	wr = nextEvents(t, wch)
	if ev := wr.Events[0]; ev.Type != client.EventTypeDelete || string(ev.Kv.Key) != "we/\x00a" || ev.Kv.Value != nil {
		t.Fatalf("delete %+v", ev)
	}

	t.Run("SplitRevision", func(t *testing.T) {
		// The shared member sends at most 3 events per message: 7 puts in
		// one txn come in 3 parts, delivered as one response.
		var ops []client.Op
		for i := range 7 {
			ops = append(ops, client.OpPut(fmt.Sprintf("we/split/%d", i), "v"))
		}
		tr, err := c.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			t.Fatal(err)
		}
		wr := nextEvents(t, wch)
		if wr.Header.Revision != tr.Header.Revision || len(wr.Events) != 7 {
			t.Fatalf("split revision: rev %d with %d events, want %d with 7", wr.Header.Revision, len(wr.Events), tr.Header.Revision)
		}
	})
	t.Run("FromRevision", func(t *testing.T) {
		// A second watch from the first put sees the same history.
		hctx, hcancel := context.WithCancel(ctx)
		defer hcancel()
		h := c.Watch(hctx, "we/", client.WithPrefix(), client.WithRev(first.Header.Revision))
		var n int
		for _, want := range []int{1, 1, 1, 7} {
			wr := nextEvents(t, h)
			if len(wr.Events) != want {
				t.Fatalf("history response %d: %d events, want %d", n, len(wr.Events), want)
			}
			n++
		}
	})
	t.Run("Filters", func(t *testing.T) {
		fctx, fcancel := context.WithCancel(ctx)
		defer fcancel()
		h := c.Watch(fctx, "we/split/", client.WithPrefix(), client.WithFilterPut(), client.WithRev(first.Header.Revision))
		if _, err := c.Delete(ctx, "we/split/", client.WithPrefix()); err != nil {
			t.Fatal(err)
		}
		wr := nextEvents(t, h)
		if len(wr.Events) != 7 || wr.Events[0].Type != client.EventTypeDelete {
			t.Fatalf("noput: %+v", wr)
		}
		d := c.Watch(fctx, "we/split/", client.WithPrefix(), client.WithFilterDelete(), client.WithRev(first.Header.Revision))
		if wr := nextEvents(t, d); len(wr.Events) != 7 || wr.Events[0].Type != client.EventTypePut {
			t.Fatalf("nodelete: %+v", wr)
		}
	})
	t.Run("ProgressNotify", func(t *testing.T) {
		pctx, pcancel := context.WithCancel(ctx)
		defer pcancel()
		p := c.Watch(pctx, "we/quiet", client.WithProgressNotify())
		wr := next(t, p)
		if !wr.IsProgressNotify() || wr.Header.Revision < first.Header.Revision || len(wr.Events) != 0 {
			t.Fatalf("progress %+v", wr)
		}
	})
	t.Run("CancelCloses", func(t *testing.T) {
		cancel()
		for range wch {
		}
	})
}

func TestWatch_CloseClient(t *testing.T) {
	c, err := client.New(client.Config{Endpoints: endpoints})
	if err != nil {
		t.Fatal(err)
	}
	wch := c.Watch(context.Background(), "wc/k")
	done := make(chan struct{})
	go func() {
		for range wch {
		}
		close(done)
	}()
	c.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the watch channel stayed open after Close")
	}
	if _, err := c.Get(context.Background(), "k"); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("get after close: %v", err)
	}
	if _, ok := <-c.Watch(context.Background(), "k"); ok {
		t.Fatal("watch after close delivered")
	}
}

// TestWatch_ResumeAcrossMembers breaks the watch's connection twice while
// writes go on: once by cutting the network (a proxy in front of the
// first member), once by stopping the member it then streams from. The
// watch continues on the next endpoint with every acknowledged revision,
// none twice, in order.
func TestWatch_ResumeAcrossMembers(t *testing.T) {
	ms := startCluster(t, 3)
	p := newProxy(t, ms[0].URL)
	wc := newClient(t, []string{p.URL(), ms[1].URL, ms[2].URL}, func(c *client.Config) {
		c.MaxRetryWait = 200 * time.Millisecond
	})
	writer := newClient(t, []string{ms[2].URL, ms[1].URL})
	ctx := testCtx(t)

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start, err := writer.Put(ctx, "res/start", "")
	if err != nil {
		t.Fatal(err)
	}
	wch := wc.Watch(wctx, "res/", client.WithPrefix(), client.WithRev(start.Header.Revision+1))

	// The writer puts keys (and now and then a txn of 5) until stopped,
	// and records the revision of every acknowledged write.
	var mu sync.Mutex
	acked := map[int64]int{} // revision -> events
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			var rev int64
			n := 1
			if i%7 == 3 {
				n = 5
				ops := make([]client.Op, n)
				for j := range ops {
					ops[j] = client.OpPut(fmt.Sprintf("res/txn/%d/%d", i, j), "v")
				}
				r, err := writer.Txn(ctx).Then(ops...).Commit()
				if err != nil {
					continue
				}
				rev = r.Header.Revision
			} else {
				r, err := writer.Put(ctx, fmt.Sprintf("res/%d", i), fmt.Sprint(i))
				if err != nil {
					continue // not acknowledged: may or may not show up
				}
				rev = r.Header.Revision
			}
			mu.Lock()
			acked[rev] = n
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()

	seen := map[int64]int{}
	var last int64
	receive := func(until func() bool) {
		t.Helper()
		for !until() {
			wr := nextEvents(t, wch)
			if wr.Header.Revision <= last {
				t.Fatalf("revision %d after %d: duplicate or out of order", wr.Header.Revision, last)
			}
			last = wr.Header.Revision
			seen[last] = len(wr.Events)
		}
	}
	count := func(n int) func() bool { return func() bool { return len(seen) >= n } }
	receive(count(20))
	p.close() // the network to the first member breaks
	receive(count(40))
	ms[1].stop() // the member the watch resumed on goes away
	receive(count(60))
	close(stop)
	wg.Wait()
	end, err := writer.Put(ctx, "res/end", "")
	if err != nil {
		t.Fatal(err)
	}
	receive(func() bool { return last >= end.Header.Revision })

	mu.Lock()
	defer mu.Unlock()
	for rev, n := range acked {
		if seen[rev] != n {
			t.Errorf("acknowledged revision %d (%d events): watched %d events", rev, n, seen[rev])
		}
	}
	t.Logf("%d revisions watched, %d acknowledged", len(seen), len(acked))
}
