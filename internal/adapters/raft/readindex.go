package raft

import (
	"context"
	"errors"
	"fmt"

	hraft "github.com/hashicorp/raft"

	"github.com/cairnkv/cairn/internal/domain"
)

// Linearizable reads follow the ReadIndex scheme of the Raft thesis (§6.4):
//
//  1. The leader makes sure it has applied the start of its own term (the
//     member record it proposes on election), so that its commit index
//     covers every entry committed by earlier leaders.
//  2. It notes its commit index and confirms it is still leader with one
//     round of heartbeats (VerifyLeader). Reads that arrive while a round is
//     in flight share the next round.
//  3. The read waits until the local state machine has applied that index
//     and then answers from the local store.
//
// A follower asks the leader for steps 1-2 and then waits for its own
// state machine, so that reads on followers scale without a log write.

type readIndexResult struct {
	index uint64
	err   error
}

// ReadBarrier returns once this member has applied every entry committed
// before the call. It implements ports.Proposer.
func (n *Node) ReadBarrier(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, n.timeout(ctx))
	defer cancel()
	var last error
	for r := n.newRetrier(); r.wait(ctx); {
		var idx uint64
		var err error
		if n.IsLeader() {
			idx, err = n.LeaderReadIndex(ctx)
		} else {
			if _, err = n.waitLeader(ctx); err != nil {
				return err
			}
			idx, err = n.joinRound(ctx, n.remoteReadCh)
		}
		if errors.Is(err, domain.ErrNotLeader) {
			last = err
			continue
		}
		if err != nil {
			return err
		}
		return n.fsm.waitApplied(ctx, idx)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return fmt.Errorf("%w (leader kept changing: %v)", domain.ErrNoLeader, last)
}

// LeaderReadBarrier is ReadBarrier on the leader only: a quorum confirms
// that this member still leads, then it waits until it has applied the read
// index. It fails with domain.ErrNotLeader on any other member, and never
// asks another member: a caller that acted as leader (the lessor renewing a
// lease) learns whether it still was one.
func (n *Node) LeaderReadBarrier(ctx context.Context) error {
	idx, err := n.LeaderReadIndex(ctx)
	if err != nil {
		return err
	}
	return n.fsm.waitApplied(ctx, idx)
}

// LeaderReadIndex returns a read index confirmed by a quorum. It fails with
// domain.ErrNotLeader on a follower.
func (n *Node) LeaderReadIndex(ctx context.Context) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, n.timeout(ctx))
	defer cancel()
	if err := n.waitReady(ctx); err != nil {
		return 0, err
	}
	return n.joinRound(ctx, n.readCh)
}

// joinRound queues a read for the next round of rounds and waits for its
// answer.
func (n *Node) joinRound(ctx context.Context, rounds chan chan readIndexResult) (uint64, error) {
	ch := make(chan readIndexResult, 1)
	select {
	case rounds <- ch:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-n.done:
		return 0, domain.ErrUnavailable
	}
	select {
	case r := <-ch:
		return r.index, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-n.done:
		return 0, domain.ErrUnavailable
	}
}

// runRounds serves read index requests in rounds: every request queued
// when a round starts shares its answer. A request that arrives while a
// round is in flight waits for the next one, so that its read index is
// always taken after it arrived.
func (n *Node) runRounds(reqs chan chan readIndexResult, round func(reads int) (uint64, error)) {
	defer n.wg.Done()
	batch := make([]chan readIndexResult, 0, 256)
	for {
		select {
		case ch := <-reqs:
			batch = append(batch[:0], ch)
		case <-n.done:
			return
		}
	drain:
		for {
			select {
			case ch := <-reqs:
				batch = append(batch, ch)
			default:
				break drain
			}
		}
		idx, err := round(len(batch))
		for _, ch := range batch {
			ch <- readIndexResult{index: idx, err: err}
		}
	}
}

// leaderRound takes the commit index and confirms leadership with one
// heartbeat round.
func (n *Node) leaderRound(reads int) (uint64, error) {
	idx := n.raft.CommitIndex()
	err := mapRaftError(n.await(n.raft.VerifyLeader()))
	if errors.Is(err, domain.ErrIndeterminate) {
		err = domain.ErrNotLeader
	}
	n.metrics.readRounds.Inc()
	n.metrics.readIndexes.Add(float64(reads))
	return idx, err
}

// await returns the future's error, or hraft.ErrRaftShutdown once the node
// closes. hashicorp/raft never answers a future still queued in one of its
// buffered channels (VerifyLeader's, Apply's) when it shuts down, so
// waiting on the future alone could hold Close for ever. The goroutine
// left behind in that case is blocked for good; it happens at most once
// per call in flight at shutdown.
func (n *Node) await(f hraft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-n.done:
		return hraft.ErrRaftShutdown
	}
}

// followerRound asks the leader for a read index, once for every read
// queued on this follower.
func (n *Node) followerRound(reads int) (uint64, error) {
	n.metrics.remoteRounds.Inc()
	leader := n.Leader()
	if leader == "" || leader == n.cfg.Name {
		return 0, domain.ErrNotLeader // the caller re-checks and retries
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ApplyTimeout)
	defer cancel()
	return n.fwd.readIndex(ctx, leader)
}

// waitReady waits until this leader has applied the first entry of its
// term. It fails with domain.ErrNotLeader when the member is not leader.
func (n *Node) waitReady(ctx context.Context) error {
	for {
		if !n.IsLeader() {
			return domain.ErrNotLeader
		}
		term := n.raft.CurrentTerm()
		n.readyMu.Lock()
		ready, ch := n.readyTerm, n.readyCh
		n.readyMu.Unlock()
		if ready == term {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-n.done:
			return domain.ErrUnavailable
		}
	}
}

func (n *Node) setReady(term uint64) {
	n.readyMu.Lock()
	n.readyTerm = term
	close(n.readyCh)
	n.readyCh = make(chan struct{})
	n.readyMu.Unlock()
}
