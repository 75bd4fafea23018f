// Package compactor compacts the key-value history on its own, as etcd's
// --auto-compaction-mode does, so that a store that is written forever
// does not grow forever.
//
// Only the leader compacts, through Raft like any compaction: a follower's
// loop keeps quiet. Two modes:
//
//   - periodic: keep Retention of history. Every Retention/10 (at most
//     1h) the compactor notes the current revision; it compacts to the
//     revision it noted Retention ago. A new leader starts noting afresh,
//     so its first compaction comes Retention after it took over.
//   - revision: keep the last Retention revisions. Every 5 minutes (or
//     Retention's interval, see Config), it compacts to current − Retention
//     when that is past the compact revision.
//
// Watchers that lag behind a compaction get the compacted error they
// already handle (they resume from the compact revision).
package compactor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
)

// Mode is how much history the compactor keeps.
type Mode string

const (
	// Periodic keeps Config.Retention of time.
	Periodic Mode = "periodic"
	// Revisions keeps Config.Revisions revisions.
	Revisions Mode = "revision"
)

// Config configures a Compactor.
type Config struct {
	Mode Mode
	// Retention is the history kept in periodic mode (0: no compaction).
	Retention time.Duration
	// Revisions is the number of revisions kept in revision mode (0: no
	// compaction).
	Revisions int64
	// Interval is how often revision mode looks (default 5m); periodic mode
	// derives its own from Retention.
	Interval time.Duration
}

// Store is what the compactor reads and does.
type Store interface {
	// Revisions returns the store's revision and compact revision.
	Revisions() (rev, compactRev int64)
	// Leading reports whether this member leads.
	Leading() bool
	// Compact proposes a compaction to rev through Raft.
	Compact(ctx context.Context, rev int64) error
}

// Event is what one compaction did, for logs and metrics.
type Event struct {
	Revision int64
	Took     time.Duration
	Err      error
}

// Compactor is the loop.
type Compactor struct {
	cfg    Config
	store  Store
	clock  ports.Clock
	report func(Event)

	samples []sample // periodic mode: revisions noted while leading, oldest first
}

type sample struct {
	at  time.Time
	rev int64
}

// New returns a Compactor; report receives every compaction it runs.
func New(cfg Config, store Store, clock ports.Clock, report func(Event)) *Compactor {
	if cfg.Interval == 0 {
		cfg.Interval = 5 * time.Minute
	}
	return &Compactor{cfg: cfg, store: store, clock: clock, report: report}
}

// Enabled reports whether the configuration compacts at all.
func (c *Compactor) Enabled() bool {
	return (c.cfg.Mode == Periodic && c.cfg.Retention > 0) || (c.cfg.Mode == Revisions && c.cfg.Revisions > 0)
}

// tick is how often the loop runs.
func (c *Compactor) tick() time.Duration {
	if c.cfg.Mode == Periodic {
		return min(max(c.cfg.Retention/10, time.Second), time.Hour)
	}
	return c.cfg.Interval
}

// Run compacts until ctx ends.
func (c *Compactor) Run(ctx context.Context) {
	if !c.Enabled() {
		return
	}
	for {
		c.Step(ctx)
		select {
		case <-ctx.Done():
			return
		case <-c.clock.After(c.tick()):
		}
	}
}

// Step runs one round: it notes the revision (periodic mode) and compacts
// when the retention says so. A follower forgets what it noted.
func (c *Compactor) Step(ctx context.Context) {
	if !c.store.Leading() {
		c.samples = nil
		return
	}
	rev, compactRev := c.store.Revisions()
	var target int64
	switch c.cfg.Mode {
	case Periodic:
		now := c.clock.Now()
		c.samples = append(c.samples, sample{at: now, rev: rev})
		// The newest revision noted at least Retention ago; every older
		// sample is of no more use.
		i := -1
		for j, s := range c.samples {
			if now.Sub(s.at) >= c.cfg.Retention {
				i = j
			}
		}
		if i < 0 {
			return
		}
		target = c.samples[i].rev
		c.samples = c.samples[i+1:]
	case Revisions:
		target = rev - c.cfg.Revisions
	}
	if target <= compactRev {
		return
	}
	start := c.clock.Now()
	err := c.store.Compact(ctx, target)
	var compacted *domain.CompactedError
	if errors.As(err, &compacted) {
		return // compacted past it meanwhile (by hand)
	}
	if err != nil {
		err = fmt.Errorf("auto-compaction to revision %d: %w", target, err)
	}
	c.report(Event{Revision: target, Took: c.clock.Now().Sub(start), Err: err})
}
