package lease

import (
	"sync"
	"time"

	"github.com/cairnkv/cairn/internal/ports"
)

// steadyClock is the lessor's reading of its ports.Clock: a time that
// never runs backwards.
//
// Every deadline the lessor keeps is a reading of its clock plus a TTL,
// compared with later readings. A clock stepped back by D would add D to
// every countdown, and a dead holder's lease would outlive its TTL by D.
// The monotonic clock of time.Now never steps back, but a ports.Clock may
// (a test's, or the clock-jump failpoint's), so a reading earlier than the
// last one is taken as no time passing: the step back is added to skew,
// which every later reading carries, and the countdowns go on from where
// they were. The time between the last reading before the step and the
// first after it is lost, which lengthens the countdowns by at most the
// gap between two readings (the lessor's loop reads every 500 ms at least
// while it waits).
//
//	clock    10s  11s  12s | 2s   3s   4s     (stepped back 10s after 12s)
//	steady   10s  11s  12s | 12s  13s  14s    (skew +10s from then on)
//
// A step forward cannot be told from time passing (a process paused, a
// VM frozen): it counts, and a lease with less than the step left expires
// unless a keepalive renews it before the lessor's next check, as in etcd.
type steadyClock struct {
	clock ports.Clock

	mu   sync.Mutex
	last time.Time     // the latest reading returned
	skew time.Duration // the sum of the steps back seen
}

// Now returns the clock's time plus skew, and never less than the last
// time it returned.
func (c *steadyClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now().Add(c.skew)
	if now.Before(c.last) {
		c.skew += c.last.Sub(now)
		now = c.last
	}
	c.last = now
	return now
}

// After is the clock's After: a wait is a duration, which a step does not
// change.
func (c *steadyClock) After(d time.Duration) <-chan time.Time { return c.clock.After(d) }
