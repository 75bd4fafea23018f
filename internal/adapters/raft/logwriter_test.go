package raft

import (
	"errors"
	"sync"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
)

// gatedStore is an in-memory log store whose writes wait for the test to
// open the gate, and that records every write it was asked for.
type gatedStore struct {
	*hraft.InmemStore
	mu     sync.Mutex
	gate   chan struct{} // closed: writes pass
	writes [][]uint64    // the indexes of each StoreLogs call, in order
	fail   error
}

func newGatedStore() *gatedStore {
	g := &gatedStore{InmemStore: hraft.NewInmemStore(), gate: make(chan struct{})}
	close(g.gate)
	return g
}

// hold makes the next writes wait until the returned func is called.
func (g *gatedStore) hold() (release func()) {
	ch := make(chan struct{})
	g.mu.Lock()
	g.gate = ch
	g.mu.Unlock()
	return func() { close(ch) }
}

func (g *gatedStore) StoreLogs(logs []*hraft.Log) error {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	<-gate
	g.mu.Lock()
	var idx []uint64
	for _, l := range logs {
		idx = append(idx, l.Index)
	}
	g.writes = append(g.writes, idx)
	err := g.fail
	g.mu.Unlock()
	if err != nil {
		return err
	}
	return g.InmemStore.StoreLogs(logs)
}

func (g *gatedStore) calls() [][]uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([][]uint64(nil), g.writes...)
}

func commands(from, to uint64) []*hraft.Log {
	var ls []*hraft.Log
	for i := from; i <= to; i++ {
		ls = append(ls, &hraft.Log{Index: i, Term: 1, Type: hraft.LogCommand, Data: []byte{byte(i)}})
	}
	return ls
}

func newTestWriter(t *testing.T, store hraft.LogStore, leader bool) (*logWriter, chan error) {
	t.Helper()
	failed := make(chan error, 1)
	w := newLogWriter(store, func(err error) { failed <- err })
	w.leading = func() bool { return leader }
	t.Cleanup(func() { w.Close() })
	return w, failed
}

// returnsWithin fails the test if f does not return within a generous bound
// (a hang, not a slow machine).
func returnsWithin(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return", what)
	}
}

// blocks reports whether f is still running once the writer has had
// every chance to let it through; f must return once release is called.
func stillBlocked(done <-chan struct{}) bool {
	select {
	case <-done:
		return false
	case <-time.After(50 * time.Millisecond):
		return true
	}
}

func TestLogWriter_FollowerAppendIsDurableOnReturn(t *testing.T) {
	g := newGatedStore()
	w, _ := newTestWriter(t, g, false)
	release := g.hold()
	done := make(chan struct{})
	go func() {
		if err := w.StoreLogs(commands(1, 3)); err != nil {
			t.Error(err)
		}
		close(done)
	}()
	if !stillBlocked(done) {
		t.Fatal("a follower's append returned before its write")
	}
	release()
	returnsWithin(t, "the follower's append", func() { <-done })
	var l hraft.Log
	if err := g.InmemStore.GetLog(3, &l); err != nil {
		t.Fatalf("entry 3 not in the store after the append returned: %v", err)
	}
}

func TestLogWriter_LeaderAppendsInBackground(t *testing.T) {
	g := newGatedStore()
	w, _ := newTestWriter(t, g, true)
	release := g.hold()
	returnsWithin(t, "the leader's append", func() {
		if err := w.StoreLogs(commands(1, 2)); err != nil {
			t.Fatal(err)
		}
	})
	// Served from memory while the write waits.
	var l hraft.Log
	if err := w.GetLog(2, &l); err != nil || l.Data[0] != 2 {
		t.Fatalf("GetLog(2) = %v, %v; want the pending entry", l, err)
	}
	if got := w.Durable(5); got != 0 {
		t.Fatalf("Durable(5) = %d while entries 1-2 are pending; want 0", got)
	}
	waited := make(chan struct{})
	go func() {
		if err := w.WaitDurable(2); err != nil {
			t.Error(err)
		}
		close(waited)
	}()
	if !stillBlocked(waited) {
		t.Fatal("WaitDurable(2) returned before the write")
	}
	release()
	returnsWithin(t, "WaitDurable", func() { <-waited })
	if got := w.Durable(5); got != 5 {
		t.Fatalf("Durable(5) = %d with nothing pending; want 5", got)
	}
	if err := g.InmemStore.GetLog(2, &l); err != nil {
		t.Fatalf("entry 2 not in the store: %v", err)
	}
}

func TestLogWriter_GroupsQueuedBatchesInOneWrite(t *testing.T) {
	g := newGatedStore()
	w, _ := newTestWriter(t, g, true)
	release := g.hold()
	for _, b := range [][2]uint64{{1, 1}, {2, 3}, {4, 4}, {5, 6}} {
		if err := w.StoreLogs(commands(b[0], b[1])); err != nil {
			t.Fatal(err)
		}
	}
	release()
	returnsWithin(t, "WaitDurable", func() { w.WaitDurable(6) })
	calls := g.calls()
	// The first batch may have been taken alone before the others queued;
	// the rest go in one write.
	if len(calls) > 2 {
		t.Fatalf("writes = %v; want the queued batches grouped", calls)
	}
	last := calls[len(calls)-1]
	if last[len(last)-1] != 6 {
		t.Fatalf("last write = %v; want it to end at 6", last)
	}
}

func TestLogWriter_SyncAppendWaitsForPendingOnes(t *testing.T) {
	g := newGatedStore()
	leader := true
	var mu sync.Mutex
	w, _ := newTestWriter(t, g, true)
	w.leading = func() bool { mu.Lock(); defer mu.Unlock(); return leader }
	release := g.hold()
	if err := w.StoreLogs(commands(1, 2)); err != nil {
		t.Fatal(err)
	}
	// A configuration change is written before StoreLogs returns, after
	// what is pending.
	conf := []*hraft.Log{{Index: 3, Term: 1, Type: hraft.LogConfiguration}}
	done := make(chan struct{})
	go func() { w.StoreLogs(conf); close(done) }()
	if !stillBlocked(done) {
		t.Fatal("a configuration entry was appended in the background")
	}
	release()
	returnsWithin(t, "the configuration append", func() { <-done })
	n, err := g.InmemStore.LastIndex()
	if err != nil || n != 3 {
		t.Fatalf("store last index = %d, %v; want 3", n, err)
	}
	// A member that no longer leads appends durably too.
	mu.Lock()
	leader = false
	mu.Unlock()
	release = g.hold()
	done = make(chan struct{})
	go func() { w.StoreLogs(commands(4, 4)); close(done) }()
	if !stillBlocked(done) {
		t.Fatal("a follower's append returned before its write")
	}
	release()
	returnsWithin(t, "the follower's append", func() { <-done })
}

func TestLogWriter_DeleteRangeAfterPendingWrites(t *testing.T) {
	g := newGatedStore()
	w, _ := newTestWriter(t, g, true)
	release := g.hold()
	if err := w.StoreLogs(commands(1, 5)); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		if err := w.DeleteRange(4, 5); err != nil {
			t.Error(err)
		}
		close(done)
	}()
	if !stillBlocked(done) {
		t.Fatal("DeleteRange ran before the pending write")
	}
	release()
	returnsWithin(t, "DeleteRange", func() { <-done })
	last, err := w.LastIndex()
	if err != nil || last != 3 {
		t.Fatalf("LastIndex = %d, %v; want 3: the write must not bring back deleted entries", last, err)
	}
}

func TestLogWriter_FailedWriteStopsEverything(t *testing.T) {
	g := newGatedStore()
	g.fail = errors.New("disk on fire")
	w, failed := newTestWriter(t, g, true)
	if err := w.StoreLogs(commands(1, 1)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-failed:
		if err == nil {
			t.Fatal("fail called with nil")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a failed background write was not reported")
	}
	if err := w.WaitDurable(1); err == nil {
		t.Fatal("WaitDurable succeeded after the write failed")
	}
	if err := w.StoreLogs(commands(2, 2)); err == nil {
		t.Fatal("an append succeeded after a write failed")
	}
}

func TestLogWriter_CloseWritesPending(t *testing.T) {
	g := newGatedStore()
	failed := make(chan error, 1)
	w := newLogWriter(g, func(err error) { failed <- err })
	w.leading = func() bool { return true }
	release := g.hold()
	if err := w.StoreLogs(commands(1, 2)); err != nil {
		t.Fatal(err)
	}
	release()
	returnsWithin(t, "Close", func() {
		if err := w.Close(); err != nil {
			t.Error(err)
		}
	})
	if n, _ := g.InmemStore.LastIndex(); n != 2 {
		t.Fatalf("store last index after Close = %d; want 2", n)
	}
	if err := w.StoreLogs(commands(3, 3)); err == nil {
		t.Fatal("an append after Close succeeded")
	}
}

func TestCapCommit(t *testing.T) {
	g := newGatedStore()
	w, _ := newTestWriter(t, g, true)
	release := g.hold()
	if err := w.StoreLogs(commands(1, 3)); err != nil {
		t.Fatal(err)
	}
	w.StoreLogs(commands(4, 4))
	req := &hraft.AppendEntriesRequest{LeaderCommitIndex: 4}
	capCommit(w, req)
	if req.LeaderCommitIndex != 0 {
		t.Fatalf("capped commit = %d; want 0 while 1-4 are pending", req.LeaderCommitIndex)
	}
	release()
	w.WaitDurable(4)
	req.LeaderCommitIndex = 4
	capCommit(w, req)
	if req.LeaderCommitIndex != 4 {
		t.Fatalf("capped commit = %d; want 4 once written", req.LeaderCommitIndex)
	}
	hb := &hraft.AppendEntriesRequest{}
	capCommit(nil, hb) // no writer: nothing to cap
}

// recordingPipeline records the commit index of what it is asked to send.
type recordingPipeline struct {
	hraft.AppendPipeline
	sent []uint64
}

func (p *recordingPipeline) AppendEntries(args *hraft.AppendEntriesRequest, _ *hraft.AppendEntriesResponse) (hraft.AppendFuture, error) {
	p.sent = append(p.sent, args.LeaderCommitIndex)
	return nil, nil
}

// TestCappedPipeline: the pipeline hashicorp/raft replicates through sends
// the capped commit index, not the leader's.
func TestCappedPipeline(t *testing.T) {
	g := newGatedStore()
	w, _ := newTestWriter(t, g, true)
	release := g.hold()
	defer release()
	if err := w.StoreLogs(commands(5, 6)); err != nil {
		t.Fatal(err)
	}
	rec := &recordingPipeline{}
	p := cappedPipeline{AppendPipeline: rec, log: w}
	p.AppendEntries(&hraft.AppendEntriesRequest{LeaderCommitIndex: 6}, &hraft.AppendEntriesResponse{})
	if len(rec.sent) != 1 || rec.sent[0] != 4 {
		t.Fatalf("sent commit indexes %v, want [4]: entries 5-6 are not on the leader's disk", rec.sent)
	}
}
