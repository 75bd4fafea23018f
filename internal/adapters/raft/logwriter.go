package raft

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	hraft "github.com/hashicorp/raft"
)

// logWriter is the member's Raft log store: raft-boltdb underneath, with
// the leader's appends taken off the critical path of a write.
//
// hashicorp/raft's leader writes a batch to its own log (dispatchLogs)
// before it tells the replicators about it, so a put waited for two
// appends one after the other: the leader's, then a follower's. etcd's
// leader writes while it replicates (Raft thesis, §10.2.1). logWriter
// does the same under hashicorp/raft:
//
//   - On the leader, StoreLogs of a batch of commands returns at once. The
//     entries stay in memory (pending, served by GetLog) and the writer
//     goroutine appends them to the log in order, grouping every batch
//     that queued up meanwhile into one bbolt transaction (one fsync).
//   - Everything else is synchronous and waits for the writes queued
//     before it: a follower's append (a follower acknowledges only entries
//     it holds durably), a batch that holds a configuration change, a
//     barrier or a no-op, DeleteRange, FirstIndex, LastIndex.
//
// hashicorp/raft counts the leader's own copy as soon as StoreLogs
// returns, so the leader's commit index can pass entries that are not on
// its disk yet. Nobody may act on such an index before they are:
//
//   - followers: the commit index sent in AppendEntries is capped at the
//     leader's durable prefix (Durable, used by serialTransport);
//   - the leader's state machine: fsm.ApplyBatch waits (WaitDurable)
//     before it commits a batch and answers its proposers.
//
// An entry anyone applies, and every acknowledged write, is therefore on
// the disks of the leader and of a majority counting it, as before. If
// the leader dies with pending entries, nobody applied them: they are
// lost, or committed by the next leader if a follower has them, as any
// entry replicated but not committed. A write that fails panics: the
// leader may already have counted the entries.
type logWriter struct {
	store   hraft.LogStore // the WAL, timed
	raft    atomic.Pointer[hraft.Raft]
	leading func() bool // this member leads: raftLeading (tests replace it)
	fail    func(error) // a background write failed; production: log, panic

	mu      sync.Mutex
	cond    *sync.Cond
	pending []*hraft.Log   // handed over, not yet durable; ascending, contiguous
	queue   [][]*hraft.Log // batches for the writer, in order
	written uint64         // batches written (sequence)
	queued  uint64         // batches queued (sequence)
	busy    bool           // a write is under way (the writer's or writeNow's)
	err     error          // a write failed: every later call fails
	closed  bool
	done    chan struct{}
}

var errLogWriterClosed = errors.New("raft log: closed")

func newLogWriter(store hraft.LogStore, fail func(error)) *logWriter {
	w := &logWriter{store: store, fail: fail, done: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	w.leading = w.raftLeading
	go w.run()
	return w
}

// setRaft names the Raft instance whose state tells a leader's append
// from a follower's. Until it is set, every append is synchronous.
func (w *logWriter) setRaft(r *hraft.Raft) { w.raft.Store(r) }

// StoreLog appends one entry.
func (w *logWriter) StoreLog(l *hraft.Log) error { return w.StoreLogs([]*hraft.Log{l}) }

// StoreLogs appends entries: asynchronously for the leader's commands,
// otherwise durably before it returns. hashicorp/raft calls it from its
// main goroutine only, which is also the only one that changes the
// state: a Leader state read here means the call is dispatchLogs'.
func (w *logWriter) StoreLogs(logs []*hraft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	async := w.leading() && onlyCommands(logs)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	if !async && !w.busy && len(w.queue) == 0 {
		// Nothing queued: a follower writes in its own goroutine, as it
		// would without logWriter, and saves the hand-over to the writer.
		return w.writeNow(logs)
	}
	seq := w.enqueue(logs)
	if async {
		w.pending = append(w.pending, logs...)
		return nil
	}
	for w.written < seq && w.err == nil {
		w.cond.Wait()
	}
	return w.err
}

// writeNow writes logs in the caller's goroutine while the writer is
// idle. Called with mu held; releases it during the write.
func (w *logWriter) writeNow(logs []*hraft.Log) error {
	w.busy = true
	w.mu.Unlock()
	err := w.store.StoreLogs(logs)
	w.mu.Lock()
	w.busy = false
	w.cond.Broadcast()
	// A failure goes to the caller only: a follower does not acknowledge
	// the entries, and nothing counted them.
	return err
}

func (w *logWriter) raftLeading() bool {
	r := w.raft.Load()
	return r != nil && r.State() == hraft.Leader
}

func onlyCommands(logs []*hraft.Log) bool {
	for _, l := range logs {
		if l.Type != hraft.LogCommand {
			return false
		}
	}
	return true
}

// enqueue hands a batch to the writer and returns its sequence number.
// Called with mu held.
func (w *logWriter) enqueue(logs []*hraft.Log) uint64 {
	w.queue = append(w.queue, logs)
	w.queued++
	w.cond.Broadcast()
	return w.queued
}

func (w *logWriter) usable() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errLogWriterClosed
	}
	return nil
}

// run is the writer: it appends what was queued, all of it in one write.
func (w *logWriter) run() {
	defer close(w.done)
	w.mu.Lock()
	for {
		for (len(w.queue) == 0 || w.busy) && !(w.closed && len(w.queue) == 0) {
			w.cond.Wait()
		}
		if len(w.queue) == 0 {
			w.mu.Unlock()
			return
		}
		batches, upTo := w.queue, w.queued
		w.queue = nil
		w.busy = true
		w.mu.Unlock()

		var all []*hraft.Log
		if len(batches) == 1 {
			all = batches[0]
		} else {
			for _, b := range batches {
				all = append(all, b...)
			}
		}
		err := w.store.StoreLogs(all)

		w.mu.Lock()
		if err != nil && w.err == nil {
			w.err = fmt.Errorf("raft log: append entries %d-%d: %w", all[0].Index, all[len(all)-1].Index, err)
		}
		w.written = upTo
		w.busy = false
		w.dropPending(all[len(all)-1].Index)
		w.cond.Broadcast()
		if err != nil {
			failed := w.err
			w.mu.Unlock()
			w.fail(failed)
			w.mu.Lock()
		}
	}
}

// dropPending forgets the pending entries up to index, now durable.
// Called with mu held.
func (w *logWriter) dropPending(index uint64) {
	n := 0
	for n < len(w.pending) && w.pending[n].Index <= index {
		n++
	}
	if n == len(w.pending) {
		w.pending = nil
		return
	}
	w.pending = w.pending[n:]
}

// drain waits until everything queued so far is written, and any write
// under way. Called with mu held.
func (w *logWriter) drain() error {
	seq := w.queued
	for (w.written < seq || w.busy) && w.err == nil {
		w.cond.Wait()
	}
	return w.err
}

// Durable caps a commit index at what this member holds durably: every
// entry up to the result is on its disk (or the index was not capped).
func (w *logWriter) Durable(commit uint64) uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pending) > 0 && w.pending[0].Index <= commit {
		return w.pending[0].Index - 1
	}
	return commit
}

// WaitDurable returns once every entry up to index that was handed to
// the writer is on disk, or the writer failed.
func (w *logWriter) WaitDurable(index uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.pending) > 0 && w.pending[0].Index <= index && w.err == nil {
		w.cond.Wait()
	}
	return w.err
}

// GetLog reads an entry, from memory if it is not written yet.
func (w *logWriter) GetLog(index uint64, l *hraft.Log) error {
	w.mu.Lock()
	if n := len(w.pending); n > 0 && index >= w.pending[0].Index && index <= w.pending[n-1].Index {
		i := sort.Search(n, func(i int) bool { return w.pending[i].Index >= index })
		*l = *w.pending[i]
		w.mu.Unlock()
		return nil
	}
	w.mu.Unlock()
	return w.store.GetLog(index, l)
}

// FirstIndex returns the first index written, after the pending writes.
func (w *logWriter) FirstIndex() (uint64, error) {
	if err := w.sync(); err != nil {
		return 0, err
	}
	return w.store.FirstIndex()
}

// LastIndex returns the last index written, after the pending writes.
func (w *logWriter) LastIndex() (uint64, error) {
	if err := w.sync(); err != nil {
		return 0, err
	}
	return w.store.LastIndex()
}

// DeleteRange deletes entries, after the pending writes: a write still
// queued must not bring back what is deleted.
func (w *logWriter) DeleteRange(min, max uint64) error {
	if err := w.sync(); err != nil {
		return err
	}
	return w.store.DeleteRange(min, max)
}

// IsMonotonic passes on whether the store refuses gaps (the WAL does):
// hashicorp/raft's LogCache asks the store under it, this writer.
func (w *logWriter) IsMonotonic() bool { return isMonotonic(w.store) }

func isMonotonic(s hraft.LogStore) bool {
	m, ok := s.(hraft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}

func (w *logWriter) sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.drain()
}

// Close writes what is pending and stops the writer. The store underneath
// is closed by its owner.
func (w *logWriter) Close() error {
	w.mu.Lock()
	err := w.drain()
	w.closed = true
	w.cond.Broadcast()
	w.mu.Unlock()
	<-w.done
	return err
}

var _ hraft.LogStore = (*logWriter)(nil)
