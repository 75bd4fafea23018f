package raft

import (
	"context"
	"errors"
	"fmt"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/cairnkv/cairn/internal/domain"
)

// TransferLeadership hands leadership from this member, the leader, to the
// voter whose member ID is to, and returns once this member sees it lead.
// It fails with domain.ErrNotLeader on a follower (the API forwards the
// call to the leader), domain.ErrNotFound for an ID that is no voter of
// the configuration, and domain.ErrUnavailable when the transfer did not
// complete (the target did not catch up, or another election won): the
// caller may retry. To the leader itself it is a no-op.
func (n *Node) TransferLeadership(ctx context.Context, to uint64) error {
	if !n.IsLeader() {
		return domain.ErrNotLeader
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return fmt.Errorf("raft: configuration: %w", err)
	}
	var target *hraft.Server
	for _, s := range f.Configuration().Servers {
		if MemberID(string(s.ID)) == to && s.Suffrage == hraft.Voter {
			target = &s
			break
		}
	}
	switch {
	case target == nil:
		return fmt.Errorf("member %d is not a voting member of the cluster: %w", to, domain.ErrNotFound)
	case string(target.ID) == n.cfg.Name:
		return nil
	}
	if err := n.raft.LeadershipTransferToServer(target.ID, target.Address).Error(); err != nil {
		return fmt.Errorf("leadership transfer to %s: %v: %w", target.ID, err, domain.ErrUnavailable)
	}
	// The target won its election; this member hears of it with the new
	// leader's first heartbeat.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, id := n.raft.LeaderWithID(); id == target.ID {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("leadership transfer to %s: %w", target.ID, errors.Join(domain.ErrIndeterminate, ctx.Err()))
		case <-tick.C:
		}
	}
}
