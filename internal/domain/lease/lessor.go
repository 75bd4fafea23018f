package lease

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
)

// Config tunes the lessor. Zero values mean the defaults.
type Config struct {
	// MinTTL is the shortest lease, in seconds; a shorter one is raised
	// (default 2). It must exceed the time a leader change takes.
	MinTTL int64
	// MaxTTL is the longest lease, in seconds (default one year).
	MaxTTL int64
	// Extend is added to every countdown when a member becomes leader
	// (default 1s, an election timeout): the time the cluster had no
	// leader must not count against the holders.
	Extend time.Duration
	// CheckpointInterval is how often the leader records remaining TTLs
	// through Raft (default 5s).
	CheckpointInterval time.Duration
	// RevokeBatch is the most leases revoked by one Raft entry (default
	// 1000).
	RevokeBatch int
	// ProposeTimeout bounds each revoke or checkpoint proposal (default 5s).
	ProposeTimeout time.Duration
}

// The bounds of a lease's TTL, in seconds.
const (
	DefaultMinTTL = 2
	DefaultMaxTTL = 365 * 24 * 3600
)

func (c *Config) setDefaults() {
	if c.MinTTL <= 0 {
		c.MinTTL = DefaultMinTTL
	}
	if c.MaxTTL <= 0 {
		c.MaxTTL = DefaultMaxTTL
	}
	if c.Extend <= 0 {
		c.Extend = time.Second
	}
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = 5 * time.Second
	}
	if c.RevokeBatch <= 0 {
		c.RevokeBatch = 1000
	}
	if c.ProposeTimeout <= 0 {
		c.ProposeTimeout = 5 * time.Second
	}
}

// Lessor keeps the deadlines of the leases while this member leads. It
// never expires a lease itself: it proposes a revoke through Raft.
type Lessor struct {
	cfg      Config
	clock    *steadyClock // never runs backwards (steady.go)
	proposer ports.Proposer
	backend  ports.Backend
	onError  func(error)

	mu      sync.Mutex
	primary bool
	items   map[int64]*item
	heap    deadlines
	kick    chan struct{}

	granted, revoked, expired, keepalives atomic.Int64
}

// NewLessor returns a lessor that reads leases from b, proposes through p
// (whose ReadBarrier must confirm that this member leads, and fail with
// domain.ErrNotLeader when it does not) and reports background failures to
// onError (which may be nil). It keeps
// its deadlines with clock, read so that a step back of the clock does not
// lengthen them (see steadyClock).
func NewLessor(cfg Config, clock ports.Clock, p ports.Proposer, b ports.Backend, onError func(error)) *Lessor {
	cfg.setDefaults()
	if onError == nil {
		onError = func(error) {}
	}
	return &Lessor{cfg: cfg, clock: &steadyClock{clock: clock}, proposer: p, backend: b, onError: onError,
		items: map[int64]*item{}, kick: make(chan struct{}, 1)}
}

func (l *Lessor) wake() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// Promote makes the lessor primary: it loads every lease from the store
// and starts its countdown from the checkpointed remaining TTL (or the full
// TTL) plus Config.Extend. Call it once this member, as leader, has applied
// the log up to the start of its term.
func (l *Lessor) Promote() error {
	v := l.backend.View()
	leases, err := v.Leases()
	v.End()
	if err != nil {
		return fmt.Errorf("lease: promote: %w", err)
	}
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.items = make(map[int64]*item, len(leases))
	l.heap = l.heap[:0]
	for _, ls := range leases {
		l.track(ls, now.Add(l.cfg.Extend))
	}
	l.primary = true
	l.wake()
	return nil
}

// track adds a lease counting down from base.
func (l *Lessor) track(ls domain.Lease, base time.Time) *item {
	remaining := ls.TTL
	if ls.RemainingTTL > 0 && ls.RemainingTTL < remaining {
		remaining = ls.RemainingTTL
	}
	it := &item{id: ls.ID, ttl: ls.TTL, checkpointed: ls.RemainingTTL, deadline: base.Add(time.Duration(remaining) * time.Second)}
	l.items[ls.ID] = it
	heap.Push(&l.heap, it)
	return it
}

// Demote stops the lessor: this member no longer leads.
func (l *Lessor) Demote() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.primary = false
	l.items = map[int64]*item{}
	l.heap = l.heap[:0]
}

// Primary reports whether this member's lessor keeps the deadlines.
func (l *Lessor) Primary() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.primary
}

// add starts the countdown of a lease just granted (on the leader).
func (l *Lessor) add(ls domain.Lease) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.primary {
		return
	}
	if _, ok := l.items[ls.ID]; !ok {
		l.track(ls, l.clock.Now())
		l.wake()
	}
}

// forget stops tracking a revoked lease.
func (l *Lessor) forget(id int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if it, ok := l.items[id]; ok {
		delete(l.items, id)
		if it.index >= 0 {
			heap.Remove(&l.heap, it.index)
		}
	}
}

// Renew restarts a lease's countdown at its full TTL and returns the TTL.
// It fails with domain.ErrNotLeader on a member that does not lead and
// domain.ErrLeaseNotFound for a lease that does not exist or is being
// revoked.
func (l *Lessor) Renew(ctx context.Context, id int64) (int64, error) {
	l.mu.Lock()
	if !l.primary {
		l.mu.Unlock()
		return 0, domain.ErrNotLeader
	}
	it, ok := l.items[id]
	l.mu.Unlock()
	if !ok {
		// Granted through another member just now, or unknown.
		v := l.backend.View()
		ls, err := v.Lease(id)
		v.End()
		if err != nil {
			return 0, err
		}
		l.add(ls)
		l.mu.Lock()
		it, ok = l.items[id]
		l.mu.Unlock()
		if !ok {
			return 0, domain.ErrNotLeader
		}
	}
	l.mu.Lock()
	if it.revoking || it.index < 0 {
		l.mu.Unlock()
		return 0, fmt.Errorf("lease %d expired: %w", id, domain.ErrLeaseNotFound)
	}
	it.deadline = l.clock.Now().Add(time.Duration(it.ttl) * time.Second)
	heap.Fix(&l.heap, it.index)
	checkpointed := it.checkpointed
	l.mu.Unlock()
	if checkpointed > 0 {
		// A new leader must count down from the full TTL again, not from
		// an old checkpoint.
		cmd := domain.Command{Type: domain.CmdLeaseCheckpoint, Checkpoint: []domain.Lease{{ID: id}}}
		if _, err := l.proposer.Propose(ctx, cmd); err != nil {
			return 0, fmt.Errorf("lease %d: clear checkpoint: %w", id, err)
		}
		l.mu.Lock()
		it.checkpointed = 0
		l.mu.Unlock()
	} else if err := l.proposer.ReadBarrier(ctx); err != nil {
		// The renewal lives in this member's memory only: it counts only if
		// this member still led after recording it. A leader that resumes
		// from a pause answers the keepalives it finds queued before it
		// learns that another member leads; without this check the holder
		// would hear 200 while the real leader's countdown went on. (The
		// commit of the checkpoint above proves the same.)
		return 0, fmt.Errorf("lease %d: renewal not confirmed by a quorum: %w", id, errors.Join(domain.ErrNotLeader, err))
	}
	l.keepalives.Add(1)
	return it.ttl, nil
}

// Remaining returns the remaining TTL of a lease in seconds (rounded up)
// and its granted TTL. It fails with domain.ErrNotLeader on a member that
// does not lead and domain.ErrLeaseNotFound when the lessor does not know
// the lease.
func (l *Lessor) Remaining(id int64) (remaining, granted int64, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.primary {
		return 0, 0, domain.ErrNotLeader
	}
	it, ok := l.items[id]
	if !ok || it.revoking {
		return 0, 0, domain.ErrLeaseNotFound
	}
	return ceilSeconds(it.deadline.Sub(l.clock.Now())), it.ttl, nil
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(math.Ceil(d.Seconds()))
}

// Run expires leases and checkpoints their remaining TTLs while this
// member leads, until ctx ends.
//
// A revoke that fails is retried after a backoff that doubles from
// revokeRetryMin up to revokeRetryMax, so that a cluster without quorum or
// a proposer that fails at once does not turn the loop into a busy spin.
func (l *Lessor) Run(ctx context.Context) {
	nextCheckpoint := l.clock.Now().Add(l.cfg.CheckpointInterval)
	retry := revokeRetryMin
	for {
		if ctx.Err() != nil {
			return
		}
		now := l.clock.Now()
		wait := 500 * time.Millisecond
		l.mu.Lock()
		primary := l.primary
		var expired []int64
		if primary {
			// Take the expired leases out of the heap; they stay in items,
			// marked revoking, until the revoke is applied.
			for len(expired) < l.cfg.RevokeBatch {
				it := l.firstDue(now)
				if it == nil {
					break
				}
				it.revoking = true
				heap.Remove(&l.heap, it.index)
				expired = append(expired, it.id)
			}
			if len(l.heap) > 0 {
				wait = min(wait, l.heap[0].deadline.Sub(now))
			}
		}
		l.mu.Unlock()
		if len(expired) > 0 {
			if l.revokeExpired(ctx, expired) {
				retry = revokeRetryMin
				continue
			}
			select {
			case <-ctx.Done():
				return
			case <-l.clock.After(retry):
			}
			retry = min(2*retry, revokeRetryMax)
			continue
		}
		if primary && !now.Before(nextCheckpoint) {
			l.checkpoint(ctx, now)
			l.sync(now)
			nextCheckpoint = now.Add(l.cfg.CheckpointInterval)
		}
		if primary {
			wait = min(wait, nextCheckpoint.Sub(now))
		}
		select {
		case <-ctx.Done():
			return
		case <-l.kick:
		case <-l.clock.After(max(wait, time.Millisecond)):
		}
	}
}

// firstDue returns the item with the earliest deadline if it has passed.
func (l *Lessor) firstDue(now time.Time) *item {
	if len(l.heap) == 0 || l.heap[0].deadline.After(now) {
		return nil
	}
	return l.heap[0]
}

// The backoff of a failed revoke of expired leases.
const (
	revokeRetryMin = 50 * time.Millisecond
	revokeRetryMax = time.Second
)

// revokeExpired proposes the revoke of expired leases in one entry and
// reports whether it was applied. On failure the leases go back in the
// heap, still due, for the next attempt (or the next leader).
func (l *Lessor) revokeExpired(ctx context.Context, ids []int64) bool {
	pctx, cancel := context.WithTimeout(ctx, l.cfg.ProposeTimeout)
	res, err := l.proposer.Propose(pctx, domain.Command{Type: domain.CmdLeaseRevoke, Revoke: ids})
	cancel()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil && res.Err == nil {
		for _, id := range ids {
			delete(l.items, id)
		}
		l.expired.Add(int64(len(ids)))
		return true
	}
	if err == nil {
		err = res.Err
	}
	if ctx.Err() == nil && !errors.Is(err, domain.ErrNotLeader) && !errors.Is(err, domain.ErrNoLeader) {
		l.onError(fmt.Errorf("lease: revoke %d expired leases: %w", len(ids), err))
	}
	for _, id := range ids {
		if it, ok := l.items[id]; ok && l.primary {
			it.revoking = false
			heap.Push(&l.heap, it)
		}
	}
	return false
}

// checkpoint records the remaining TTL of every lease that has counted
// down by at least a second since its last checkpoint.
func (l *Lessor) checkpoint(ctx context.Context, now time.Time) {
	l.mu.Lock()
	var cps []domain.Lease
	seen := map[int64]time.Time{}
	for _, it := range l.heap {
		rem := ceilSeconds(it.deadline.Sub(now))
		if rem < it.ttl && rem > 0 && (it.checkpointed == 0 || rem < it.checkpointed) {
			cps = append(cps, domain.Lease{ID: it.id, RemainingTTL: rem})
			seen[it.id] = it.deadline
		}
	}
	l.mu.Unlock()
	for len(cps) > 0 {
		n := min(len(cps), l.cfg.RevokeBatch)
		batch := cps[:n]
		cps = cps[n:]
		pctx, cancel := context.WithTimeout(ctx, l.cfg.ProposeTimeout)
		_, err := l.proposer.Propose(pctx, domain.Command{Type: domain.CmdLeaseCheckpoint, Checkpoint: batch})
		cancel()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, domain.ErrNotLeader) && !errors.Is(err, domain.ErrNoLeader) {
				l.onError(fmt.Errorf("lease: checkpoint %d leases: %w", n, err))
			}
			return
		}
		var renewed []domain.Lease
		l.mu.Lock()
		for _, cp := range batch {
			it, ok := l.items[cp.ID]
			if !ok {
				continue
			}
			it.checkpointed = cp.RemainingTTL
			if !it.deadline.Equal(seen[cp.ID]) {
				// Renewed while the checkpoint was in flight: the store
				// now holds a remaining TTL shorter than the truth, which
				// a new leader would count down from. Clear it.
				renewed = append(renewed, domain.Lease{ID: cp.ID})
			}
		}
		l.mu.Unlock()
		if len(renewed) > 0 {
			pctx, cancel := context.WithTimeout(ctx, l.cfg.ProposeTimeout)
			_, err := l.proposer.Propose(pctx, domain.Command{Type: domain.CmdLeaseCheckpoint, Checkpoint: renewed})
			cancel()
			if err != nil {
				return // the next round sees checkpointed > 0 and a renewal clears it
			}
			l.mu.Lock()
			for _, cp := range renewed {
				if it, ok := l.items[cp.ID]; ok {
					it.checkpointed = 0
				}
			}
			l.mu.Unlock()
		}
	}
}

// sync reconciles the lessor with the lease table: a lease granted through
// a member that was not leader at the time is tracked from now at its full
// TTL, and a lease revoked elsewhere is forgotten.
func (l *Lessor) sync(now time.Time) {
	v := l.backend.View()
	leases, err := v.Leases()
	v.End()
	if err != nil {
		l.onError(fmt.Errorf("lease: sync with the store: %w", err))
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.primary {
		return
	}
	seen := make(map[int64]bool, len(leases))
	for _, ls := range leases {
		seen[ls.ID] = true
		if _, ok := l.items[ls.ID]; !ok {
			ls.RemainingTTL = 0
			l.track(ls, now)
		}
	}
	for id, it := range l.items {
		if !seen[id] && !it.revoking {
			delete(l.items, id)
			if it.index >= 0 {
				heap.Remove(&l.heap, it.index)
			}
		}
	}
}

// Stats are the lessor's counters.
type Stats struct {
	Leases                                int // leases tracked (on the leader)
	Granted, Revoked, Expired, KeepAlives int64
}

// Stats returns the lessor's counters.
func (l *Lessor) Stats() Stats {
	l.mu.Lock()
	n := len(l.items)
	l.mu.Unlock()
	return Stats{Leases: n, Granted: l.granted.Load(), Revoked: l.revoked.Load(), Expired: l.expired.Load(), KeepAlives: l.keepalives.Load()}
}
