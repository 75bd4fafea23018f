package election

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/lock"
	"github.com/cairnkv/cairn/internal/domain/watch"
)

// Service serves elections.
type Service struct {
	q       *lock.Queue
	kv      lock.KV
	watches lock.Watches
}

// New returns an election service over the queue and the KV and watch
// services it stands on.
func New(q *lock.Queue, k lock.KV, w lock.Watches) *Service {
	return &Service{q: q, kv: k, watches: w}
}

// Leader identifies a leadership: the election, the leader's key, its
// create revision and its lease.
type Leader struct {
	Name  []byte
	Key   []byte
	Rev   int64
	Lease int64
}

// Campaign stands for the election called name with value, for leaseID or
// a lease of ttl seconds it grants, and returns once this candidate leads.
// A candidate already in the race with the same lease keeps its place and
// updates its value. wait bounds the time spent waiting for leadership
// (lock.WaitForever: until ctx ends); the writes that join the race are
// bounded by ctx alone. When the wait ends first it leaves the race and
// returns domain.ErrLocked (also for a deadline of ctx), or the context's
// error.
func (s *Service) Campaign(ctx context.Context, name, value []byte, leaseID, ttl int64, wait time.Duration) (Leader, error) {
	if wait <= 0 && wait != lock.WaitForever {
		return Leader{}, domain.InvalidArgument("a campaign waits for leadership: give a wait above 0, or WaitForever")
	}
	id, granted, err := s.q.LeaseFor(ctx, leaseID, ttl)
	if err != nil {
		return Leader{}, err
	}
	e, created, err := s.q.Enqueue(ctx, name, id, value)
	if err != nil {
		if granted {
			s.q.Leave(lock.Entry{Lease: id}, true)
		}
		return Leader{}, err
	}
	l := Leader{Name: name, Key: e.Key, Rev: e.Rev, Lease: id}
	if !created {
		// Already in the race with this lease: keep the place, take the
		// new value (leading or not).
		if err := s.setValue(ctx, l, value); err != nil {
			return Leader{}, err
		}
	}
	if err := s.q.Wait(ctx, name, e, wait); err != nil {
		if created {
			// Only the request that put the entry takes it away: another
			// request with the same lease may still be waiting on it.
			s.q.Leave(e, granted)
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, domain.ErrLocked) {
			return Leader{}, fmt.Errorf("election %q: %w", name, domain.ErrLocked)
		}
		return Leader{}, err
	}
	return l, nil
}

// setValue changes the value of a candidate's key if it still has its
// create revision.
func (s *Service) setValue(ctx context.Context, l Leader, value []byte) error {
	resp, _, err := s.kv.Txn(ctx, domain.TxnRequest{
		Compare: []domain.Compare{{Key: l.Key, Target: domain.CompareCreate, Result: domain.CompareEqual, CreateRevision: l.Rev}},
		Success: []domain.Op{{Put: &domain.PutRequest{Key: l.Key, Value: value, IgnoreLease: true}}},
	})
	if err != nil {
		return err
	}
	if !resp.Succeeded {
		return fmt.Errorf("election %q: %w: %q left the race", l.Name, domain.ErrPreconditionFailed, l.Key)
	}
	return nil
}

// Proclaim changes the leader's value without giving up leadership. It
// returns domain.ErrPreconditionFailed when l no longer leads.
func (s *Service) Proclaim(ctx context.Context, l Leader, value []byte) error {
	_, err := s.ifLeader(ctx, l, domain.Op{Put: &domain.PutRequest{Key: l.Key, Value: value, IgnoreLease: true}})
	return err
}

// Resign gives up leadership. It returns domain.ErrPreconditionFailed
// when l no longer leads.
func (s *Service) Resign(ctx context.Context, l Leader) (int64, error) {
	return s.ifLeader(ctx, l, domain.Op{Delete: &domain.DeleteRangeRequest{Key: l.Key}})
}

// ifLeader runs op if l's key still has l's create revision and heads
// the queue.
func (s *Service) ifLeader(ctx context.Context, l Leader, op domain.Op) (int64, error) {
	if !bytes.HasPrefix(l.Key, lock.Prefix(l.Name)) || l.Rev <= 0 {
		return 0, domain.InvalidArgument("leader key %q and rev %d do not belong to election %q", l.Key, l.Rev, l.Name)
	}
	p := lock.Prefix(l.Name)
	resp, rev, err := s.kv.Txn(ctx, domain.TxnRequest{
		Compare: []domain.Compare{
			{Key: l.Key, Target: domain.CompareCreate, Result: domain.CompareEqual, CreateRevision: l.Rev},
			// Nobody older than l is in the race: l leads.
			{Key: p, RangeEnd: domain.PrefixEnd(p), Target: domain.CompareCreate, Result: domain.CompareGreater, CreateRevision: l.Rev - 1},
		},
		Success: []domain.Op{op},
	})
	if err != nil {
		return 0, err
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("election %q: %w: %q is not the leader", l.Name, domain.ErrPreconditionFailed, l.Key)
	}
	return rev, nil
}

// Leader returns the current leader's key-value. It returns
// domain.ErrNotFound when the election has no leader.
func (s *Service) Leader(ctx context.Context, name []byte) (domain.KeyValue, int64, error) {
	kvs, rev, err := s.q.Members(ctx, name)
	if err != nil {
		return domain.KeyValue{}, 0, err
	}
	if len(kvs) == 0 {
		return domain.KeyValue{}, rev, fmt.Errorf("election %q has no leader: %w", name, domain.ErrNotFound)
	}
	return kvs[0], rev, nil
}

// Observer follows an election.
type Observer struct {
	s       *Service
	name    []byte
	w       *watch.Watcher
	last    domain.KeyValue
	sent    bool
	rev     int64
	pending []watch.Message // read from the watcher, not yet looked at
}

// Observe returns an observer of the election called name; it must be
// closed.
func (s *Service) Observe(ctx context.Context, name []byte) (*Observer, error) {
	kvs, rev, err := s.q.Members(ctx, name)
	if err != nil {
		return nil, err
	}
	p := lock.Prefix(name)
	w, err := s.watches.Watch(ctx, watch.Request{Key: p, RangeEnd: domain.PrefixEnd(p), StartRevision: rev + 1, Serializable: true})
	if err != nil {
		return nil, err
	}
	o := &Observer{s: s, name: name, w: w, rev: rev}
	if len(kvs) > 0 {
		o.last = kvs[0]
	}
	return o, nil
}

// Close releases the observer.
func (o *Observer) Close() { o.w.Close() }

// Next returns the leader after its next change of leader or value (the
// current one on the first call, when there is one). It returns the
// context's error when ctx ends first.
func (o *Observer) Next(ctx context.Context) (domain.KeyValue, int64, error) {
	if !o.sent && o.last.Key != nil {
		o.sent = true
		return o.last, o.rev, nil
	}
	o.sent = true
	for {
		if len(o.pending) == 0 {
			msgs, err := o.w.Next(ctx)
			if err != nil {
				return domain.KeyValue{}, 0, err
			}
			o.pending = msgs
		}
		for len(o.pending) > 0 {
			m := o.pending[0]
			kv, err := o.leaderAt(ctx, m.Revision)
			if err != nil {
				return domain.KeyValue{}, 0, err
			}
			o.pending = o.pending[1:]
			if kv.Key != nil && (!bytes.Equal(kv.Key, o.last.Key) || kv.ModRevision != o.last.ModRevision) {
				o.last = kv
				return kv, m.Revision, nil
			}
			if kv.Key == nil {
				o.last = domain.KeyValue{}
			}
		}
	}
}

// leaderAt returns the leader at revision rev (an empty kv when none).
func (o *Observer) leaderAt(ctx context.Context, rev int64) (domain.KeyValue, error) {
	p := lock.Prefix(o.name)
	resp, _, err := o.s.kv.Range(ctx, domain.RangeRequest{
		Key: p, RangeEnd: domain.PrefixEnd(p), Revision: rev, Serializable: true,
		SortTarget: domain.SortByCreate, SortOrder: domain.SortAscend, Limit: 1,
	})
	if err != nil || len(resp.Kvs) == 0 {
		return domain.KeyValue{}, err
	}
	return resp.Kvs[0], nil
}
