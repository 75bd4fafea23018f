package raft

import (
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
)

// fakePipeline hands each response to an unbuffered channel, as
// NetworkTransport's pipeline does, and blocks until someone takes it.
type fakePipeline struct {
	doneCh chan hraft.AppendFuture
	closed chan struct{}
}

func (f *fakePipeline) AppendEntries(*hraft.AppendEntriesRequest, *hraft.AppendEntriesResponse) (hraft.AppendFuture, error) {
	return nil, nil
}
func (f *fakePipeline) Consumer() <-chan hraft.AppendFuture { return f.doneCh }
func (f *fakePipeline) Close() error                        { close(f.closed); return nil }

type fakeFuture struct {
	hraft.AppendFuture
	n int
}

// TestDrainingPipeline_ResponsesNeverWaitForAGoneReader: hashicorp/raft's
// pipeline decoder stops reading after a refused append; the responses of
// the requests still in flight must not block the pipeline (upstream #612,
// a hang of Raft's shutdown), and a reader that stays gets every response
// in order.
func TestDrainingPipeline_ResponsesNeverWaitForAGoneReader(t *testing.T) {
	t.Parallel()
	inner := &fakePipeline{doneCh: make(chan hraft.AppendFuture), closed: make(chan struct{})}
	d := newDrainingPipeline(inner)

	// A reader takes the first two responses, in order.
	for i := range 2 {
		inner.doneCh <- fakeFuture{n: i}
		if got := (<-d.Consumer()).(fakeFuture).n; got != i {
			t.Fatalf("response %d came as %d", i, got)
		}
	}
	// The reader is gone: the pipeline can still hand over its responses.
	for i := 2; i < 100; i++ {
		select {
		case inner.doneCh <- fakeFuture{n: i}:
		case <-time.After(5 * time.Second):
			t.Fatalf("response %d blocked: nobody reads the pipeline", i)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-inner.closed:
	default:
		t.Fatal("Close did not close the wrapped pipeline")
	}
}
