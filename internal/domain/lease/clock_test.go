package lease_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/domain/lease"
	"github.com/cairnkv/cairn/internal/ports/portstest"
)

// jumpingClock is a manual clock whose readings can jump: Now is the
// manual time plus an offset that Jump moves. Its timers run on the
// manual time, as real timers run on real time whatever the readings do.
type jumpingClock struct {
	*portstest.Clock
	offset atomic.Int64
}

func (c *jumpingClock) Now() time.Time { return c.Clock.Now().Add(time.Duration(c.offset.Load())) }

func (c *jumpingClock) Jump(d time.Duration) { c.offset.Add(int64(d)) }

// newJumpEnv is newEnv with a lessor on a jumpingClock; e.advance moves
// the manual time under it.
func newJumpEnv(t *testing.T) (*env, *jumpingClock) {
	t.Helper()
	b := portstest.NewBackend()
	p := portstest.NewProposer(b)
	clock := &jumpingClock{Clock: portstest.NewClock()}
	l := lease.NewLessor(lease.Config{Extend: time.Second}, clock, p, b, func(err error) { t.Errorf("lessor: %v", err) })
	e := &env{t: t, clock: clock.Clock, p: p, lessor: l, svc: lease.NewService(l, p, b)}
	if err := l.Promote(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan struct{})
	go func() { defer close(e.done); l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-e.done })
	return e, clock
}

// TestLessor_ClockJumps checks what a jump of the lessor's clock does to
// the countdowns (the clock-jump failpoint makes the same jumps in a
// member; see e2e/faults_test.go).
func TestLessor_ClockJumps(t *testing.T) {
	t.Parallel()
	// A step back does not lengthen a countdown: the lease expires its
	// TTL after its grant, not a minute later.
	t.Run("Back", func(t *testing.T) {
		t.Parallel()
		e, clock := newJumpEnv(t)
		id := e.grant(5)
		e.put("k", id)
		e.advance(2 * time.Second)
		clock.Jump(-time.Minute)
		if rem, _, err := e.lessor.Remaining(id); err != nil || rem != 3 {
			t.Fatalf("remaining after the clock stepped back: %d %v, want 3", rem, err)
		}
		e.advance(2 * time.Second)
		if !e.exists("k") {
			t.Fatal("the lease expired before its TTL")
		}
		// A keepalive after the step renews for the TTL, no more.
		id2 := e.grant(5)
		e.put("k2", id2)
		if _, err := e.svc.KeepAlive(context.Background(), id2); err != nil {
			t.Fatal(err)
		}
		e.advance(1500 * time.Millisecond)
		e.eventually(func() bool { return !e.exists("k") })
		// 3.5 s are left, less the nudges eventually gave the clock (up
		// to 600 ms): 4 rounded up, or 3. Never more: the step back did
		// not lengthen the renewal.
		if rem, _, err := e.lessor.Remaining(id2); err != nil || rem < 3 || rem > 4 {
			t.Fatalf("remaining of a lease renewed after the step: %d %v, want 4 (3 after the nudges)", rem, err)
		}
		e.advance(4 * time.Second)
		e.eventually(func() bool { return !e.exists("k2") })
	})
	// A step forward counts as time passed, as after a pause: a lease with
	// less than the step left expires at once (etcd does the same).
	t.Run("Forward", func(t *testing.T) {
		t.Parallel()
		e, clock := newJumpEnv(t)
		id := e.grant(5)
		e.put("k", id)
		clock.Jump(10 * time.Second)
		e.advance(time.Millisecond) // the lessor's next check
		e.eventually(func() bool { return !e.exists("k") })
		// A lease granted after the step counts from its grant.
		id2 := e.grant(5)
		e.put("k2", id2)
		e.advance(4 * time.Second)
		if !e.exists("k2") {
			t.Fatal("a lease granted after the step expired before its TTL")
		}
		e.advance(1500 * time.Millisecond)
		e.eventually(func() bool { return !e.exists("k2") })
	})
}
