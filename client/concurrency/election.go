package concurrency

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/cairnkv/cairn/client"
)

var (
	// ErrElectionNotLeader: Proclaim without leading (never campaigned,
	// resigned, or the leadership was lost with the session's lease).
	ErrElectionNotLeader = errors.New("concurrency: not the leader")
	// ErrElectionNoLeader: the election has no leader. It comes wrapped
	// with client.ErrNotFound.
	ErrElectionNoLeader = errors.New("concurrency: election has no leader")
)

// Election is a leader election held through a Session, over the members'
// election API (/v1/elections/{name}): candidates lead in arrival order;
// the leader publishes a value that everyone can read (Leader) or follow
// (Observe). Leadership ends with Resign, when the session is closed, or
// when its lease expires.
type Election struct {
	s    *Session
	name string

	mu     sync.Mutex
	leader *client.LeaderKey
	hdr    client.ResponseHeader
}

// NewElection returns the election name (which may contain '/') for the
// session.
func NewElection(s *Session, name string) *Election { return &Election{s: s, name: name} }

// ResumeElection returns an election already led through leader (from
// another Election's Leadership), to Proclaim or Resign.
func ResumeElection(s *Session, name string, leader client.LeaderKey) *Election {
	return &Election{s: s, name: name, leader: &leader}
}

// Campaign waits until the session leads the election, then proclaims
// val, or until ctx ends.
func (e *Election) Campaign(ctx context.Context, val string) error {
	resp, err := e.s.client.Campaign(ctx, e.name, val, client.WithLockLease(e.s.Lease()))
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.leader, e.hdr = &resp.Leader, resp.Header
	return nil
}

// Proclaim changes the leader's value without giving up the leadership.
// It fails with ErrElectionNotLeader when the session does not lead.
func (e *Election) Proclaim(ctx context.Context, val string) error {
	e.mu.Lock()
	leader := e.leader
	e.mu.Unlock()
	if leader == nil {
		return ErrElectionNotLeader
	}
	_, err := e.s.client.Proclaim(ctx, *leader, val)
	if errors.Is(err, client.ErrPreconditionFailed) {
		e.forget(leader)
		return fmt.Errorf("%w: %w", ErrElectionNotLeader, err)
	}
	return err
}

// Resign gives the leadership up, so that the next candidate leads. Not
// leading (any more) is not an error.
func (e *Election) Resign(ctx context.Context) error {
	e.mu.Lock()
	leader := e.leader
	e.mu.Unlock()
	if leader == nil {
		return nil
	}
	_, err := e.s.client.Resign(ctx, *leader)
	if err != nil && !errors.Is(err, client.ErrPreconditionFailed) {
		return err
	}
	e.forget(leader)
	return nil
}

func (e *Election) forget(leader *client.LeaderKey) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.leader == leader {
		e.leader = nil
	}
}

// Leader returns the current leader's key and value. An election without
// a leader is ErrElectionNoLeader (wrapping client.ErrNotFound).
func (e *Election) Leader(ctx context.Context) (*client.LeaderResponse, error) {
	resp, err := e.s.client.Leader(ctx, e.name)
	if errors.Is(err, client.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", ErrElectionNoLeader, err)
	}
	return resp, err
}

// Observe streams the leader: the current one, then every change of
// leader or value, until ctx ends (see client.Client.Observe).
func (e *Election) Observe(ctx context.Context) <-chan client.LeaderResponse {
	return e.s.client.Observe(ctx, e.name)
}

// Leadership returns the proof of this session's leadership, nil when it
// does not lead (as far as it knows).
func (e *Election) Leadership() *client.LeaderKey {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.leader == nil {
		return nil
	}
	lk := *e.leader
	return &lk
}

// Key returns the leader key of this session's leadership ("" when it
// does not lead).
func (e *Election) Key() string {
	if lk := e.Leadership(); lk != nil {
		return string(lk.Key)
	}
	return ""
}

// Rev returns the create revision of the leader key (0 when it does not
// lead).
func (e *Election) Rev() int64 {
	if lk := e.Leadership(); lk != nil {
		return lk.Rev
	}
	return 0
}

// Header returns the header of the answer that granted the leadership.
func (e *Election) Header() client.ResponseHeader {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.hdr
}
