package raft

import (
	"errors"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
)

// silentFuture is a future that hashicorp/raft never answers: one still
// queued in a buffered channel when it shut down.
type silentFuture struct{}

func (silentFuture) Error() error { select {} }

type answeredFuture struct{ err error }

func (f answeredFuture) Error() error { return f.err }

// TestAwait_EndsWhenTheNodeCloses: a Close must not wait for ever on a
// future raft dropped at shutdown, while an answered future passes its
// answer through.
func TestAwait_EndsWhenTheNodeCloses(t *testing.T) {
	n := &Node{done: make(chan struct{})}
	want := errors.New("not leader")
	if err := n.await(answeredFuture{want}); err != want {
		t.Fatalf("await of an answered future = %v, want %v", err, want)
	}
	got := make(chan error, 1)
	go func() { got <- n.await(silentFuture{}) }()
	select {
	case err := <-got:
		t.Fatalf("await returned %v before the node closed", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(n.done)
	select {
	case err := <-got:
		if !errors.Is(err, hraft.ErrRaftShutdown) {
			t.Fatalf("await after close = %v, want ErrRaftShutdown", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("await still blocked after the node closed")
	}
}
