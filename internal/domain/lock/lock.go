package lock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cairnkv/cairn/internal/domain"
)

// Service serves distributed locks.
type Service struct {
	q *Queue
}

// New returns a lock service over q.
func New(q *Queue) *Service { return &Service{q: q} }

// Holder is a lock's owner: its key, its lease and its fence.
type Holder struct {
	Key      []byte
	Lease    int64
	Fence    int64
	Revision int64
}

// WaitForever, as the wait of Lock or of election.Service.Campaign, waits
// in the queue until the context ends.
const WaitForever time.Duration = -1

// Lock takes the lock called name for leaseID, or for a lease of ttl
// seconds that it grants when leaseID is 0. Waiters get the lock in the
// order they arrived. wait bounds the time spent waiting in the queue only:
// 0 tries once, WaitForever waits until ctx ends. Granting the lease and
// joining the queue are writes bounded by ctx alone, so that a short wait
// never turns into a write whose outcome is unknown. When the wait ends
// first, Lock leaves the queue and returns domain.ErrLocked (also for a
// deadline of ctx), or the context's error.
func (s *Service) Lock(ctx context.Context, name []byte, leaseID, ttl int64, wait time.Duration) (Holder, error) {
	if err := validName(name); err != nil {
		return Holder{}, err
	}
	if wait < 0 && wait != WaitForever {
		return Holder{}, domain.InvalidArgument("wait must be 0, positive, or WaitForever")
	}
	id, granted, err := s.q.LeaseFor(ctx, leaseID, ttl)
	if err != nil {
		return Holder{}, err
	}
	e, created, err := s.q.Enqueue(ctx, name, id, nil)
	if err != nil {
		if granted {
			s.q.Leave(Entry{Lease: id}, true)
		}
		return Holder{}, err
	}
	if err := s.q.Wait(ctx, name, e, wait); err != nil {
		if created {
			// Only the request that put the entry takes it away: another
			// request with the same lease may still be waiting on it.
			s.q.Leave(e, granted)
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, domain.ErrLocked) {
			return Holder{}, fmt.Errorf("lock %q: %w", name, domain.ErrLocked)
		}
		return Holder{}, err
	}
	return Holder{Key: e.Key, Lease: id, Fence: e.Rev, Revision: e.Rev}, nil
}

// Unlock releases the lock held through key (a key of the queue called
// name). It returns domain.ErrNotFound when the key is not there.
func (s *Service) Unlock(ctx context.Context, name, key []byte) (int64, error) {
	if err := validName(name); err != nil {
		return 0, err
	}
	if !bytes.HasPrefix(key, Prefix(name)) {
		return 0, domain.InvalidArgument("key %q is not a key of lock %q", key, name)
	}
	res, err := s.q.kv.Delete(ctx, domain.DeleteRangeRequest{Key: key}, nil)
	if err != nil {
		return 0, err
	}
	if res.Deleted == 0 {
		return 0, fmt.Errorf("lock %q key %q: %w", name, key, domain.ErrNotFound)
	}
	return res.Revision, nil
}

// Status returns the owner of the lock (nil when free) and the waiters in
// order.
func (s *Service) Status(ctx context.Context, name []byte) (owner *Holder, waiters []Holder, rev int64, err error) {
	kvs, rev, err := s.q.Members(ctx, name)
	if err != nil {
		return nil, nil, 0, err
	}
	for i, kv := range kvs {
		h := Holder{Key: kv.Key, Lease: kv.Lease, Fence: kv.CreateRevision, Revision: rev}
		if i == 0 {
			owner = &h
			continue
		}
		waiters = append(waiters, h)
	}
	return owner, waiters, rev, nil
}
