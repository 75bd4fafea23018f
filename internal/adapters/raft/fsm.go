package raft

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	hraft "github.com/hashicorp/raft"
	"github.com/rs/zerolog"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/apply"
	"github.com/cairnkv/cairn/internal/ports"
)

// fsm bridges hashicorp/raft to the state machine in package apply. It
// applies each batch of committed entries in one store batch, so that one
// fsync covers the whole batch, and records the last applied entry in the
// same commit.
type fsm struct {
	backend ports.Backend
	metrics *metrics
	// log receives the entry this member cannot apply before it stops
	// (zero: nowhere).
	log zerolog.Logger
	// onCommit receives the events of each committed batch and the store
	// revision after it; onRestore the revision of an installed snapshot.
	onCommit  func(rev int64, events []domain.Event)
	onRestore func(rev int64)
	// onAuthChange is called after a committed batch that applied at
	// least one CmdAuth entry (accepted or refused), and after a restore:
	// the auth configuration may have changed.
	onAuthChange func()
	// logDurable returns once the entries up to an index are on this
	// member's disk (logWriter.WaitDurable): a leader applies entries it
	// is still writing, but commits the batch and answers its proposers
	// only after. Nil: the log is always durable first.
	logDurable func(index uint64) error

	rev atomic.Int64 // the store revision after the last committed batch

	mu        sync.Mutex
	applied   uint64
	appliedCh chan struct{} // closed and replaced whenever applied grows
}

var (
	_ hraft.BatchingFSM = (*fsm)(nil)
)

func newFSM(b ports.Backend, m *metrics) *fsm {
	idx, _ := b.Applied()
	f := &fsm{backend: b, metrics: m, applied: idx, appliedCh: make(chan struct{})}
	f.rev.Store(b.Stats().Rev)
	return f
}

// Apply applies a single entry. hashicorp/raft calls ApplyBatch instead;
// Apply exists to satisfy raft.FSM.
func (f *fsm) Apply(l *hraft.Log) any {
	return f.ApplyBatch([]*hraft.Log{l})[0]
}

// ApplyBatch applies committed entries in order. Entries at or below the
// applied index stored with the data were applied before a restart and are
// skipped, so that none is applied twice.
//
// A command that apply refuses is a result like any other, the same on
// every member. What stops the member is what cannot be turned into a
// result without members diverging: an entry that does not decode (written
// by a newer version) or a failure of the store. The member then logs which
// entry (index, term, command type) and why, and panics; the batch is not
// committed, and a restart replays it.
func (f *fsm) ApplyBatch(logs []*hraft.Log) []any {
	start := time.Now()
	out := make([]any, len(logs))
	stored, _ := f.backend.Applied()
	b, err := f.backend.Begin()
	if err != nil {
		f.stop(fmt.Errorf("fsm: begin batch: %w", err), nil, domain.Command{})
	}
	var last, cur *hraft.Log
	var cmd domain.Command
	defer func() {
		if v := recover(); v != nil {
			f.stop(v, cur, cmd)
		}
	}()
	var events []domain.Event
	var auth bool // an auth entry was applied
	for i, l := range logs {
		if l.Index <= stored {
			continue
		}
		last = l
		if l.Type != hraft.LogCommand {
			continue
		}
		cur, cmd = l, domain.Command{}
		var skip bool
		cmd, skip, err = DecodeCommand(l.Data)
		if err != nil {
			panic(fmt.Errorf("fsm: entry does not decode: %w", err))
		}
		if skip {
			continue
		}
		res := apply.Apply(b, cmd)
		auth = auth || cmd.Type == domain.CmdAuth
		events = append(events, res.Events...)
		res.Events = nil // watchers get them through onCommit
		out[i] = res
	}
	cur = nil
	if last == nil {
		// Nothing new: the store already holds every entry of the batch.
		if err := b.Commit(); err != nil {
			panic(fmt.Errorf("fsm: commit empty batch: %w", err))
		}
		return out
	}
	b.SetApplied(last.Index, last.Term)
	rev := b.Rev()
	if f.logDurable != nil {
		if err := f.logDurable(last.Index); err != nil {
			panic(fmt.Errorf("fsm: batch ending at %d: %w", last.Index, err))
		}
	}
	commitStart := time.Now()
	if err := b.Commit(); err != nil {
		panic(fmt.Errorf("fsm: commit batch ending at %d: %w", last.Index, err))
	}
	f.metrics.health().observeCommit(time.Since(commitStart))
	f.rev.Store(rev)
	// Before setApplied: whoever waits for this index (the proposer of the
	// change, a read barrier) then finds the auth layer up to date.
	if auth && f.onAuthChange != nil {
		f.onAuthChange()
	}
	f.setApplied(last.Index)
	if f.onCommit != nil {
		f.onCommit(rev, events)
	}
	f.metrics.observeBatch(len(logs), time.Since(start))
	return out
}

// stop logs why this member cannot go on applying, naming the entry when
// there is one, and panics: crashing is better than diverging.
func (f *fsm) stop(why any, l *hraft.Log, cmd domain.Command) {
	ev := f.log.Error().Str("error", fmt.Sprint(why)).Bytes("stack", debug.Stack())
	if l != nil {
		what := describe(l, cmd)
		ev = ev.Uint64("index", l.Index).Uint64("term", l.Term).Str("command", what)
		why = fmt.Errorf("fsm: cannot apply entry %d (term %d, %s): %v", l.Index, l.Term, what, why)
	}
	ev.Msg("cannot apply a committed entry: stopping this member (a restart replays it)")
	panic(why)
}

// describe names the command of entry l for a log line.
func describe(l *hraft.Log, cmd domain.Command) string {
	switch {
	case cmd.Type != 0:
		return cmd.Type.String()
	case len(l.Data) >= 2:
		return fmt.Sprintf("command type byte %d", l.Data[1])
	}
	return fmt.Sprintf("%d bytes", len(l.Data))
}

func (f *fsm) setApplied(idx uint64) {
	f.mu.Lock()
	if idx > f.applied {
		f.applied = idx
		close(f.appliedCh)
		f.appliedCh = make(chan struct{})
	}
	f.mu.Unlock()
}

// appliedIndex returns the last applied entry.
func (f *fsm) appliedIndex() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied
}

// waitApplied returns once the entry at idx has been applied.
func (f *fsm) waitApplied(ctx context.Context, idx uint64) error {
	for {
		f.mu.Lock()
		applied, ch := f.applied, f.appliedCh
		f.mu.Unlock()
		if applied >= idx {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Snapshot captures the store in a read transaction; Persist does the I/O.
func (f *fsm) Snapshot() (hraft.FSMSnapshot, error) {
	s, err := f.backend.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("fsm: snapshot: %w", err)
	}
	return &fsmSnapshot{snap: s}, nil
}

// Restore replaces the store with a snapshot received from the leader.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := f.backend.Restore(rc); err != nil {
		return fmt.Errorf("fsm: restore: %w", err)
	}
	idx, _ := f.backend.Applied()
	rev := f.backend.Stats().Rev
	f.rev.Store(rev)
	if f.onRestore != nil {
		f.onRestore(rev)
	}
	if f.onAuthChange != nil {
		f.onAuthChange()
	}
	f.mu.Lock()
	f.applied = idx
	close(f.appliedCh)
	f.appliedCh = make(chan struct{})
	f.mu.Unlock()
	return nil
}

type fsmSnapshot struct {
	snap ports.Snapshot
}

// Persist streams the store to the sink.
func (s *fsmSnapshot) Persist(sink hraft.SnapshotSink) error {
	if _, err := s.snap.WriteTo(sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("fsm: persist snapshot: %w", err)
	}
	return sink.Close()
}

// Release ends the read transaction behind the snapshot.
func (s *fsmSnapshot) Release() { s.snap.Release() }
