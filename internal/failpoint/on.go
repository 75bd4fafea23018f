//go:build failpoints

package failpoint

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Enabled reports whether the failpoints are compiled in (build tag
// failpoints).
const Enabled = true

// The process-wide state of the failpoints.
var (
	stall diskStall
	clock clockJump
)

// DiskStall waits while the disk-stall failpoint is armed: for the armed
// delay, or until the failpoint is disarmed, whichever comes first. site
// names the write (SiteRaftLog, ...). A disarmed failpoint costs one atomic
// load.
func DiskStall(site string) {
	if !stall.armed.Load() {
		return
	}
	d, release, ok := stall.take(site)
	if !ok {
		return
	}
	t := time.NewTimer(d)
	select {
	case <-t.C:
	case <-release:
		t.Stop()
	}
	stall.mu.Lock()
	stall.waiting--
	stall.mu.Unlock()
}

// ClockOffset returns how far the clock-jump failpoint has moved the
// member's clock.
func ClockOffset() time.Duration { return time.Duration(clock.offset.Load()) }

// diskStall is the state of the disk-stall failpoint.
type diskStall struct {
	armed atomic.Bool // the fast path of DiskStall

	mu        sync.Mutex
	term      string
	delay     time.Duration
	remaining int           // writes left to stall; -1: until disarmed
	release   chan struct{} // closed by disarm: the waiting writes go on
	waiting   int
	hits      map[string]int64
}

// parseStall parses "2s" (until disarmed) or "3*2s" (the next 3 writes).
func parseStall(term string) (delay time.Duration, count int, err error) {
	count = -1
	if n, d, ok := strings.Cut(term, "*"); ok {
		if count, err = strconv.Atoi(strings.TrimSpace(n)); err != nil || count <= 0 {
			return 0, 0, fmt.Errorf("disk-stall: %q: the count before '*' must be a positive integer", term)
		}
		term = d
	}
	delay, err = time.ParseDuration(strings.TrimSpace(term))
	if err != nil || delay <= 0 {
		return 0, 0, fmt.Errorf("disk-stall: %q: want a positive duration (\"2s\") or count*duration (\"3*2s\")", term)
	}
	return delay, count, nil
}

func (s *diskStall) arm(term string) error {
	delay, count, err := parseStall(term)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.release == nil {
		s.release = make(chan struct{})
	}
	s.term, s.delay, s.remaining = strings.TrimSpace(term), delay, count
	s.armed.Store(true)
	return nil
}

func (s *diskStall) disarm() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.disarmLocked()
}

func (s *diskStall) disarmLocked() {
	s.armed.Store(false)
	s.term, s.delay, s.remaining = "", 0, 0
	if s.release != nil {
		close(s.release)
		s.release = nil
	}
}

// take counts one stalled write at site and returns how long it waits and
// the channel that ends the wait early; ok is false when the failpoint was
// disarmed meanwhile.
func (s *diskStall) take(site string) (d time.Duration, release <-chan struct{}, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.armed.Load() || s.remaining == 0 {
		return 0, nil, false
	}
	d, release = s.delay, s.release
	if s.remaining > 0 {
		s.remaining--
		if s.remaining == 0 {
			// The last counted write still waits its delay: disarm
			// without releasing it.
			s.armed.Store(false)
			s.term, s.release = "", nil
		}
	}
	if s.hits == nil {
		s.hits = map[string]int64{}
	}
	s.hits[site]++
	s.waiting++
	return d, release, true
}

// StallState is the state of the disk-stall failpoint, as GET answers it.
type StallState struct {
	Name      string           `json:"name"`
	Armed     bool             `json:"armed"`
	Term      string           `json:"term"`      // as armed: "2s", "3*2s"; "" when disarmed
	Remaining int              `json:"remaining"` // writes left to stall; -1: until disarmed
	Waiting   int              `json:"waiting"`   // writes waiting now
	Hits      map[string]int64 `json:"hits"`      // stalled writes per site since the start
}

func (s *diskStall) state() StallState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return StallState{Name: "disk-stall", Armed: s.armed.Load(), Term: s.term, Remaining: s.remaining,
		Waiting: s.waiting, Hits: maps.Clone(s.hits)}
}

// clockJump is the state of the clock-jump failpoint.
type clockJump struct {
	offset atomic.Int64 // nanoseconds
	jumps  atomic.Int64
}

// jump moves the clock by the signed duration in term ("+30s", "-30s") and
// returns the new offset.
func (c *clockJump) jump(term string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(term))
	if err != nil || d == 0 {
		return 0, fmt.Errorf("clock-jump: %q: want a signed duration such as \"+30s\" or \"-30s\"", term)
	}
	c.jumps.Add(1)
	return time.Duration(c.offset.Add(int64(d))), nil
}

func (c *clockJump) reset() {
	if c.offset.Swap(0) != 0 {
		c.jumps.Add(1)
	}
}

// ClockState is the state of the clock-jump failpoint, as GET answers it.
type ClockState struct {
	Name     string `json:"name"`
	Offset   string `json:"offset"`    // the clock's lead over the system clock
	OffsetNS int64  `json:"offset_ns"` // the same in nanoseconds
	Jumps    int64  `json:"jumps"`     // jumps since the start
}

func (c *clockJump) state() ClockState {
	off := time.Duration(c.offset.Load())
	return ClockState{Name: "clock-jump", Offset: off.String(), OffsetNS: int64(off), Jumps: c.jumps.Load()}
}
