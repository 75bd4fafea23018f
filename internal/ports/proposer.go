package ports

import (
	"context"

	"github.com/cairnkv/cairn/internal/domain"
)

// Proposer replicates commands and orders reads after them.
type Proposer interface {
	// Propose replicates cmd, waits until this member has applied it and
	// returns its Result. A business rejection is in Result.Err. It returns
	// domain.ErrNoLeader when there is no leader, and domain.ErrIndeterminate
	// (or the context's error) when the outcome is unknown: the command may
	// still be applied.
	Propose(ctx context.Context, cmd domain.Command) (domain.Result, error)
	// ReadBarrier returns once this member's state machine reflects every
	// write acknowledged before the call (a linearizable read point). It
	// returns domain.ErrNoLeader or the context's error when it cannot.
	ReadBarrier(ctx context.Context) error
}

// Cluster tells which member answers and what term it is in.
type Cluster interface {
	// Header returns the cluster ID, this member's ID and the Raft term;
	// Revision is left for the caller.
	Header() domain.Header
}
