package compactor_test

import (
	"context"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/domain/compactor"
	"github.com/cairnkv/cairn/internal/ports/portstest"
)

type fakeStore struct {
	rev, compactRev int64
	leading         bool
	compacted       []int64
}

func (s *fakeStore) Revisions() (int64, int64) { return s.rev, s.compactRev }
func (s *fakeStore) Leading() bool             { return s.leading }
func (s *fakeStore) Compact(_ context.Context, rev int64) error {
	s.compacted = append(s.compacted, rev)
	s.compactRev = rev
	return nil
}

// TestPeriodic: with 1h retention the leader notes the revision every 6
// minutes and compacts to the one it noted an hour before; a member that
// stops leading forgets what it noted, and starts over when it leads again.
func TestPeriodic(t *testing.T) {
	clock := portstest.NewClock()
	s := &fakeStore{rev: 1, leading: true}
	var events []compactor.Event
	c := compactor.New(compactor.Config{Mode: compactor.Periodic, Retention: time.Hour}, s, clock, func(e compactor.Event) { events = append(events, e) })
	ctx := context.Background()
	step := func() {
		c.Step(ctx)
		clock.Advance(6 * time.Minute)
		s.rev += 100
	}
	for range 10 { // 0 .. 54 min: nothing is an hour old yet
		step()
	}
	if len(s.compacted) != 0 {
		t.Fatalf("compacted %v before an hour passed", s.compacted)
	}
	step() // at 60 min: the revision noted at 0
	if len(s.compacted) != 1 || s.compacted[0] != 1 {
		t.Fatalf("at 60 min: compacted %v, want [1]", s.compacted)
	}
	step() // at 66 min: the one noted at 6 min
	if s.compacted[len(s.compacted)-1] != 101 {
		t.Fatalf("at 66 min: compacted %v, want 101 last", s.compacted)
	}
	if len(events) != 2 || events[1].Revision != 101 || events[1].Err != nil {
		t.Fatalf("events %+v", events)
	}

	s.leading = false
	step()
	s.leading = true
	n := len(s.compacted)
	for range 10 {
		step()
	}
	if len(s.compacted) != n {
		t.Fatalf("a new term compacted before an hour of its own: %v", s.compacted[n:])
	}
	step()
	if len(s.compacted) != n+1 {
		t.Fatalf("an hour into the new term: compacted %v", s.compacted[n:])
	}
}

// TestRevisions keeps the last N revisions, and does nothing on a follower
// or when nothing is to compact.
func TestRevisions(t *testing.T) {
	clock := portstest.NewClock()
	s := &fakeStore{rev: 500, leading: true}
	c := compactor.New(compactor.Config{Mode: compactor.Revisions, Revisions: 1000}, s, clock, func(compactor.Event) {})
	c.Step(context.Background())
	if len(s.compacted) != 0 {
		t.Fatalf("compacted %v with fewer revisions than kept", s.compacted)
	}
	s.rev = 1500
	c.Step(context.Background())
	c.Step(context.Background())
	if len(s.compacted) != 1 || s.compacted[0] != 500 {
		t.Fatalf("compacted %v, want [500]", s.compacted)
	}
	s.leading, s.rev = false, 5000
	c.Step(context.Background())
	if len(s.compacted) != 1 {
		t.Fatalf("a follower compacted: %v", s.compacted)
	}
	if (compactor.New(compactor.Config{Mode: compactor.Periodic}, s, clock, nil)).Enabled() {
		t.Fatal("0 retention is enabled")
	}
}
