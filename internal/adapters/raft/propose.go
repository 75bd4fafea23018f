package raft

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cairnkv/cairn/internal/domain"
)

// retrier paces the retries of a request that met a leader change: it
// backs off from 10ms to 200ms and gives up after a few election timeouts.
type retrier struct {
	n        *Node
	attempt  int
	deadline time.Time
}

func (n *Node) newRetrier() *retrier {
	return &retrier{n: n, deadline: time.Now().Add(3 * n.cfg.ElectionTimeout)}
}

// wait pauses before the next attempt. It returns false when the budget
// is spent, the context is done or the member is closing.
func (r *retrier) wait(ctx context.Context) bool {
	if r.attempt == 0 {
		r.attempt++
		return true
	}
	d := 10 * time.Millisecond << min(r.attempt-1, 5)
	d = min(d, 200*time.Millisecond)
	r.attempt++
	if time.Now().Add(d).After(r.deadline) {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-r.n.done:
		return false
	}
}

// Propose replicates cmd and returns its result. On the leader it appends
// the command to the log and waits until it is applied; on a follower it
// forwards the encoded command to the leader and returns the leader's
// result unchanged.
//
// A command that domain.Command.Validate refuses is refused here, before it
// is sent anywhere, with an invalid argument (and the leader checks again).
// A timeout (the context's deadline or the apply timeout) means the outcome
// is unknown: domain.ErrIndeterminate. A command that was certainly not
// appended (no leader, the leader changed before accepting it) is retried on
// the new leader, a few times, and then fails with domain.ErrNoLeader.
func (n *Node) Propose(ctx context.Context, cmd domain.Command) (domain.Result, error) {
	if err := admit(cmd); err != nil {
		return domain.Result{}, err
	}
	// A write the alarms refuse fails here, without a round through Raft
	// and an entry in every member's log; apply refuses it too, whatever
	// this member knew of the alarms.
	if err := domain.AlarmGate(n.backend.Alarms(), &cmd); err != nil {
		return domain.Result{Revision: n.Revision(), Err: err}, nil
	}
	data, err := EncodeCommand(cmd)
	if err != nil {
		return domain.Result{}, err
	}
	done := n.metrics.health().proposal()
	res, err := n.propose(ctx, cmd, data)
	done(err)
	return res, err
}

// ProposeAsLeader proposes cmd only if this member is the leader, and
// never forwards it: it fails with domain.ErrNotLeader on a follower. The
// leader's own duties (lease expiry) use it, so that a member that just
// lost leadership cannot act on stale deadlines through the new leader.
func (n *Node) ProposeAsLeader(ctx context.Context, cmd domain.Command) (domain.Result, error) {
	if !n.IsLeader() {
		return domain.Result{}, domain.ErrNotLeader
	}
	data, err := EncodeCommand(cmd)
	if err != nil {
		return domain.Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, n.timeout(ctx))
	defer cancel()
	done := n.metrics.health().proposal()
	res, err := n.applyLocal(ctx, cmd, data)
	done(err)
	return res, err
}

// ProposeEncoded proposes a command encoded by EncodeCommand on behalf of
// the member named from (HeaderMember, which the peer port checked), and
// returns the encoded result. It is the leader side of forwarding: it fails
// with domain.ErrNotLeader on a follower.
//
// It refuses, with an invalid argument, a body that does not decode (or is
// an entry of an unknown type), a command that domain.Command.Validate
// refuses, and a member record that is not the sender's own
// (admitForwarded). A member may run another version, have a bug, or be
// impersonated on a plain-text network: nothing it sends may crash or
// misdirect the cluster.
func (n *Node) ProposeEncoded(ctx context.Context, from string, data []byte) ([]byte, error) {
	cmd, skip, err := DecodeCommand(data)
	if err != nil || skip {
		if err == nil {
			err = fmt.Errorf("entry of unknown type %d", data[1])
		}
		return nil, domain.InvalidArgument("forwarded command does not decode: %v", err)
	}
	if err := admit(cmd); err != nil {
		return nil, err
	}
	if err := n.admitForwarded(cmd, from); err != nil {
		return nil, err
	}
	if !n.IsLeader() {
		return nil, domain.ErrNotLeader
	}
	ctx, cancel := context.WithTimeout(ctx, n.timeout(ctx))
	defer cancel()
	res, err := n.applyLocal(ctx, cmd, data)
	if err != nil {
		return nil, err
	}
	return EncodeResult(res), nil
}

func (n *Node) propose(ctx context.Context, cmd domain.Command, data []byte) (domain.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, n.timeout(ctx))
	defer cancel()
	var last error
	for r := n.newRetrier(); r.wait(ctx); {
		if n.IsLeader() {
			res, err := n.applyLocal(ctx, cmd, data)
			if errors.Is(err, domain.ErrNotLeader) {
				last = err
				continue
			}
			return res, err
		}
		leader, err := n.waitLeader(ctx)
		if err != nil {
			return domain.Result{}, err
		}
		if leader == n.cfg.Name {
			continue
		}
		raw, err := n.fwd.propose(ctx, leader, data)
		if errors.Is(err, domain.ErrNotLeader) {
			last = err
			continue
		}
		if err != nil {
			return domain.Result{}, err
		}
		res, err := DecodeResult(raw)
		if err != nil {
			return domain.Result{}, fmt.Errorf("%w: bad result from leader: %v", domain.ErrIndeterminate, err)
		}
		return res, nil
	}
	if err := ctx.Err(); err != nil {
		return domain.Result{}, fmt.Errorf("%w: %v", domain.ErrIndeterminate, err)
	}
	return domain.Result{}, fmt.Errorf("%w (leader kept changing: %v)", domain.ErrNoLeader, last)
}

// applyLocal appends data, the encoding of cmd, to the log as leader and
// waits for its result. It is the only caller of raft.Apply: whatever the
// command's origin (a client, a forwarding member, the lessor, the leader's
// own record), it refuses a command that admit refuses, so that nothing
// apply would reject or crash on is ever appended.
func (n *Node) applyLocal(ctx context.Context, cmd domain.Command, data []byte) (domain.Result, error) {
	if err := admit(cmd); err != nil {
		return domain.Result{}, err
	}
	f := n.raft.Apply(data, n.timeout(ctx))
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			return domain.Result{}, mapRaftError(err)
		}
	case <-ctx.Done():
		return domain.Result{}, fmt.Errorf("%w: %v", domain.ErrIndeterminate, ctx.Err())
	case <-n.done:
		return domain.Result{}, fmt.Errorf("%w: member is shutting down", domain.ErrIndeterminate)
	}
	res, ok := f.Response().(domain.Result)
	if !ok {
		return domain.Result{}, fmt.Errorf("raft: unexpected apply response %T", f.Response())
	}
	return res, nil
}
