package lock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/kv"
	"github.com/cairnkv/cairn/internal/domain/lease"
	"github.com/cairnkv/cairn/internal/domain/watch"
)

// KV is what the queue needs of the key-value service.
type KV interface {
	Range(ctx context.Context, req domain.RangeRequest) (domain.RangeResponse, int64, error)
	Txn(ctx context.Context, req domain.TxnRequest) (domain.TxnResponse, int64, error)
	Delete(ctx context.Context, req domain.DeleteRangeRequest, ifModRevision *int64) (kv.DeleteResult, error)
}

// Watches opens watchers.
type Watches interface {
	Watch(ctx context.Context, req watch.Request) (*watch.Watcher, error)
	// Done is closed when the member shuts down: waiters stop waiting.
	Done() <-chan struct{}
}

// Leases grants and revokes leases.
type Leases interface {
	Grant(ctx context.Context, ttl, id int64) (lease.Granted, error)
	Revoke(ctx context.Context, id int64) (int64, error)
}

// Queue is the fair queue locks and elections stand in. Its methods are
// safe for concurrent use.
type Queue struct {
	kv      KV
	watches Watches
	leases  Leases
}

// NewQueue returns a queue over the given services.
func NewQueue(k KV, w Watches, l Leases) *Queue { return &Queue{kv: k, watches: w, leases: l} }

// Entry is a place in a queue: its key, lease and create revision (the
// fence of a lock, the rev of an election leader).
type Entry struct {
	Key   []byte
	Lease int64
	Rev   int64
}

// Prefix returns the prefix of the queue called name.
func Prefix(name []byte) []byte { return append(bytes.Clone(name), '/') }

// Key returns the key of the entry of lease in the queue called name.
func Key(name []byte, leaseID int64) []byte {
	return append(Prefix(name), strconv.FormatInt(leaseID, 16)...)
}

// NameOf returns the name of the queue whose entry key is (Key's
// inverse): what comes before its last '/'. ok is false when key has no
// '/' with a name before it and a lease ID in hex after it.
func NameOf(key []byte) (name []byte, ok bool) {
	i := bytes.LastIndexByte(key, '/')
	if i <= 0 {
		return nil, false
	}
	id, err := strconv.ParseInt(string(key[i+1:]), 16, 64)
	if err != nil || id <= 0 || !bytes.Equal(key, Key(key[:i], id)) {
		return nil, false
	}
	return key[:i], true
}

func validName(name []byte) error {
	if len(name) == 0 {
		return domain.InvalidArgument("name is empty")
	}
	if len(name) > domain.MaxKeySize-20 {
		return domain.InvalidArgument("name is longer than %d bytes", domain.MaxKeySize-20)
	}
	return nil
}

// LeaseFor returns leaseID, or grants a lease of ttl seconds when it is 0.
// granted says the caller owns the new lease (and revokes it on failure).
func (q *Queue) LeaseFor(ctx context.Context, leaseID, ttl int64) (id int64, granted bool, err error) {
	switch {
	case leaseID < 0:
		return 0, false, domain.InvalidArgument("lease must be positive")
	case leaseID > 0:
		return leaseID, false, nil
	case ttl <= 0:
		return 0, false, domain.InvalidArgument("give a lease or a ttl")
	}
	g, err := q.leases.Grant(ctx, ttl, 0)
	if err != nil {
		return 0, false, err
	}
	return g.Lease.ID, true, nil
}

// Enqueue puts the entry of leaseID in the queue called name with value,
// unless it is there already (then created is false and the value is left
// alone). It returns the lease's 404 when the lease does not exist.
func (q *Queue) Enqueue(ctx context.Context, name []byte, leaseID int64, value []byte) (e Entry, created bool, err error) {
	if err := validName(name); err != nil {
		return Entry{}, false, err
	}
	key := Key(name, leaseID)
	resp, rev, err := q.kv.Txn(ctx, domain.TxnRequest{
		Compare: []domain.Compare{{Key: key, Target: domain.CompareCreate, Result: domain.CompareEqual}},
		Success: []domain.Op{{Put: &domain.PutRequest{Key: key, Value: value, Lease: leaseID}}},
		Failure: []domain.Op{{Range: &domain.RangeRequest{Key: key}}},
	})
	if err != nil {
		return Entry{}, false, err
	}
	e = Entry{Key: key, Lease: leaseID, Rev: rev}
	if !resp.Succeeded {
		kvs := resp.Responses[0].Range.Kvs
		if len(kvs) == 0 {
			return Entry{}, false, fmt.Errorf("lock: entry %q vanished", key)
		}
		e.Rev = kvs[0].CreateRevision
	}
	return e, resp.Succeeded, nil
}

// Members returns the entries of the queue in order, the first one being
// its head, and the revision read.
func (q *Queue) Members(ctx context.Context, name []byte) ([]domain.KeyValue, int64, error) {
	if err := validName(name); err != nil {
		return nil, 0, err
	}
	p := Prefix(name)
	resp, rev, err := q.kv.Range(ctx, domain.RangeRequest{
		Key: p, RangeEnd: domain.PrefixEnd(p), SortTarget: domain.SortByCreate, SortOrder: domain.SortAscend,
	})
	return resp.Kvs, rev, err
}

// Wait returns once e heads its queue. It looks once, bounded by ctx
// alone, so that an entry at the head gets in whatever the wait; then it
// waits in the queue for at most wait (WaitForever: until ctx ends; 0: not
// at all). It returns domain.ErrLocked when e does not head the queue by
// then, the context's error when ctx ends first, and ErrLostPlace when e
// itself goes.
func (q *Queue) Wait(ctx context.Context, name []byte, e Entry, wait time.Duration) error {
	kvs, _, err := q.Members(ctx, name)
	if err != nil {
		return err
	}
	if len(kvs) > 0 && bytes.Equal(kvs[0].Key, e.Key) {
		return nil
	}
	if wait == 0 {
		return domain.ErrLocked
	}
	waitCtx := ctx
	if wait > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(ctx, wait)
		defer cancel()
	}
	err = q.WaitHead(waitCtx, name, e)
	if errors.Is(err, context.DeadlineExceeded) && waitCtx.Err() != nil {
		return domain.ErrLocked
	}
	return err
}

// ErrLostPlace is returned when an entry left its queue while it waited
// (its lease expired or someone deleted it).
var ErrLostPlace = fmt.Errorf("%w: lock: the entry left the queue while it waited (its lease expired?)", domain.ErrNotFound)

// WaitHead returns once e heads its queue. It watches only the entry just
// before e, and re-checks when that one goes. It returns the context's
// error when ctx ends first and ErrLostPlace when e itself goes.
func (q *Queue) WaitHead(ctx context.Context, name []byte, e Entry) error {
	// The member's shutdown ends the wait, also in the middle of a read
	// that waits for a leader.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-q.watches.Done():
			cancel(watch.ErrClosed)
		case <-stop:
		}
	}()
	p := Prefix(name)
	backoff := 50 * time.Millisecond
	for {
		// The predecessor: the newest entry created before e.
		resp, rev, err := q.kv.Range(ctx, domain.RangeRequest{
			Key: p, RangeEnd: domain.PrefixEnd(p), MaxCreateRevision: e.Rev - 1,
			SortTarget: domain.SortByCreate, SortOrder: domain.SortDescend, Limit: 1, KeysOnly: true,
		})
		var own domain.RangeResponse
		if err == nil {
			own, _, err = q.kv.Range(ctx, domain.RangeRequest{Key: e.Key, Revision: rev, CountOnly: true})
		}
		if err != nil {
			// A leader change must not cost a waiter its place: wait and
			// look again while the request lasts.
			if transient(err) && ctx.Err() == nil {
				select {
				case <-time.After(backoff):
				case <-ctx.Done():
					return shutdownOr(ctx, ctx.Err())
				}
				backoff = min(2*backoff, time.Second)
				continue
			}
			return shutdownOr(ctx, err)
		}
		backoff = 50 * time.Millisecond
		if own.Count == 0 {
			return ErrLostPlace
		}
		if len(resp.Kvs) == 0 {
			return nil
		}
		if err := q.waitDeleted(ctx, resp.Kvs[0].Key, rev); err != nil {
			return shutdownOr(ctx, err)
		}
	}
}

// shutdownOr returns watch.ErrClosed when ctx ended because the member is
// shutting down, and err otherwise.
func shutdownOr(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(context.Cause(ctx), watch.ErrClosed) {
		return watch.ErrClosed
	}
	return err
}

// transient reports whether err may go away by itself (no leader for a
// moment, a member that cannot serve yet, a read that timed out).
func transient(err error) bool {
	return errors.Is(err, domain.ErrNoLeader) || errors.Is(err, domain.ErrNotLeader) ||
		errors.Is(err, domain.ErrUnavailable) || errors.Is(err, domain.ErrIndeterminate) ||
		errors.Is(err, context.DeadlineExceeded)
}

// waitDeleted waits for key to be deleted after revision rev.
func (q *Queue) waitDeleted(ctx context.Context, key []byte, rev int64) error {
	w, err := q.watches.Watch(ctx, watch.Request{Key: key, StartRevision: rev + 1, NoPut: true, Serializable: true})
	if err != nil {
		return err
	}
	defer w.Close()
	for {
		msgs, err := w.Next(ctx)
		if err != nil {
			var ce *domain.CompactedError
			if errors.As(err, &ce) {
				return nil // look again: the predecessor may be long gone
			}
			return err
		}
		if len(msgs) > 0 {
			return nil
		}
	}
}

// Leave deletes e's key and, when the queue granted the lease, revokes it.
// It runs after the caller's context may have ended, on its own deadline.
func (q *Queue) Leave(e Entry, granted bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if granted {
		_, _ = q.leases.Revoke(ctx, e.Lease)
		return
	}
	_, _ = q.kv.Delete(ctx, domain.DeleteRangeRequest{Key: e.Key}, nil)
}
