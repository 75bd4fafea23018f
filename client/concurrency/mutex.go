package concurrency

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/cairnkv/cairn/client"
)

// ErrLocked is returned by TryLock when another session holds the lock.
// It is client.ErrLocked.
var ErrLocked = client.ErrLocked

// Mutex is a distributed lock held through a Session, over the members'
// lock API (POST /v1/locks/{name}): waiters get it in arrival order, each
// watching only its predecessor on the server side. It is released by
// Unlock, by closing the session, or when the session's lease expires.
//
// A Mutex is meant for one goroutine at a time; Key, Fence and IsOwner may
// be called concurrently with the others.
type Mutex struct {
	s    *Session
	name string

	mu    sync.Mutex
	key   string
	fence int64
	hdr   client.ResponseHeader
}

// NewMutex returns the lock name (which may contain '/') for the session.
// Two Mutexes of the same session and name are the same lock holder.
func NewMutex(s *Session, name string) *Mutex { return &Mutex{s: s, name: name} }

// ownKey is the key the lock API gives this session's holder:
// "<name>/<lease ID in lowercase hex>".
func (m *Mutex) ownKey() string {
	return m.name + "/" + strconv.FormatInt(int64(m.s.Lease()), 16)
}

// Lock waits until the session holds the lock, or ctx ends. When the
// connection to a member breaks while it waits, it waits again through
// another (the lock's key depends only on the name and the lease, so this
// is the same place in the queue). When ctx ends first, the waiter's key
// is removed.
func (m *Mutex) Lock(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		resp, err := m.s.client.Lock(ctx, m.name, client.WithLockLease(m.s.Lease()))
		if err == nil {
			m.held(resp)
			return nil
		}
		if ctx.Err() == nil && errors.Is(err, client.ErrIndeterminate) {
			t := time.NewTimer(min(50*time.Millisecond<<min(attempt, 5), time.Second))
			select {
			case <-m.s.Done():
				t.Stop()
				return err
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
			if ctx.Err() == nil {
				continue
			}
		}
		if ctx.Err() != nil {
			m.dropWaiter()
		}
		return err
	}
}

// TryLock takes the lock if it is free and returns ErrLocked (without
// waiting) if another session holds it.
func (m *Mutex) TryLock(ctx context.Context) error {
	resp, err := m.s.client.Lock(ctx, m.name, client.WithLockLease(m.s.Lease()), client.WithLockTimeout(0))
	if err != nil {
		if ctx.Err() != nil {
			m.dropWaiter()
		}
		return err
	}
	m.held(resp)
	return nil
}

func (m *Mutex) held(resp *client.LockResponse) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.key, m.fence, m.hdr = resp.Key, resp.Fence, resp.Header
}

// dropWaiter removes the waiter's key after an abandoned wait, in case the
// member did not.
func (m *Mutex) dropWaiter() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = m.s.client.Unlock(ctx, m.name, m.ownKey())
}

// Unlock releases the lock. A lock that is gone already (its lease
// expired) is not an error.
func (m *Mutex) Unlock(ctx context.Context) error {
	m.mu.Lock()
	key := m.key
	m.mu.Unlock()
	if key == "" {
		key = m.ownKey()
	}
	_, err := m.s.client.Unlock(ctx, m.name, key)
	if err != nil && !errors.Is(err, client.ErrKeyNotFound) && !errors.Is(err, client.ErrNotFound) {
		return err
	}
	m.mu.Lock()
	m.key, m.fence = "", 0
	m.mu.Unlock()
	return nil
}

// Key returns the key that holds the lock ("" when not held).
func (m *Mutex) Key() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.key
}

// Fence returns the lock's fencing token: the create revision of the
// holder's key (0 when not held). It grows with each new owner; a
// resource that remembers the highest fence it saw can refuse a stale
// owner.
func (m *Mutex) Fence() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fence
}

// Header returns the header of the answer that granted the lock.
func (m *Mutex) Header() client.ResponseHeader {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hdr
}

// IsOwner returns a compare that holds while this Mutex holds the lock,
// to guard a transaction:
//
//	c.Txn(ctx).If(m.IsOwner()).Then(client.OpPut("guarded", "v")).Commit()
func (m *Mutex) IsOwner() client.Cmp {
	m.mu.Lock()
	defer m.mu.Unlock()
	return client.Compare(client.CreateRevision(m.key), "=", m.fence)
}
