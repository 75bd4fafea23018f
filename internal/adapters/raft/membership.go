package raft

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/cairnkv/cairn/internal/domain"
)

// Membership changes: add (as a voter or a learner), promote, remove. Each
// runs on the leader; any member takes the call and sends it to the
// leader's peer port when it does not lead (forward.go), so that a client
// may talk to whichever member it knows. The leader runs the strict
// reconfiguration check (reconfig.go) before it changes the voters.
//
// A learner is hashicorp/raft's non-voter: the leader replicates to it, it
// applies the log and serves serializable reads, forwards writes and
// linearizable reads like any follower, and neither votes nor counts for
// a commit. It is promoted once it has caught up (PromoteMember).

// promoteMaxLag is how many committed entries a learner may still have to
// apply and be promoted: it then catches up within a few batches, and the
// cluster does not count on a voter that is far behind.
const promoteMaxLag = readyLag

// AddMember adds a member to the cluster, through the leader, and returns
// it with its ID: a voter, or a learner when learner is set.
func (n *Node) AddMember(ctx context.Context, m domain.Member, learner bool) (domain.Member, error) {
	if err := m.Validate(); err != nil {
		return domain.Member{}, err
	}
	m.ID = MemberID(m.Name)
	// Every member's peer port has peer TLS, or none has: the scheme of
	// the new member's URL is the cluster's, whatever the request said
	// (a bare host:port is taken for http:// before it gets here).
	addr, err := hostPort(m.PeerURL)
	if err != nil {
		return domain.Member{}, domain.InvalidArgument("peer_addr: %v", err)
	}
	m.PeerURL = n.peerURL(addr)
	err = n.onLeader(ctx, "adding member "+m.Name, func() error {
		return n.addLocal(ctx, m, addr, learner)
	}, func(leader string) error {
		return n.fwd.addMember(ctx, leader, m, learner)
	})
	if err == nil {
		n.awaitConfig(ctx, func(servers []hraft.Server) bool { return inConfig(servers, m.Name) })
	}
	return m, err
}

func (n *Node) addLocal(ctx context.Context, m domain.Member, addr string, learner bool) error {
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return mapRaftError(err)
	}
	servers := cf.Configuration().Servers
	exists, suffrage, err := checkNewMember(servers, m, addr)
	switch {
	case err != nil:
		return err
	case exists && learner && suffrage == hraft.Voter:
		return fmt.Errorf("%w: member %q is a voter already", domain.ErrConflict, m.Name)
	case exists && (learner || suffrage == hraft.Voter):
		return nil // the same change again: a retry
	case exists:
		return fmt.Errorf("%w: member %q is a learner: promote it (POST /v1/cluster/members/%d/promote)", domain.ErrConflict, m.Name, m.ID)
	}
	var f hraft.IndexFuture
	if learner {
		f = n.raft.AddNonvoter(hraft.ServerID(m.Name), hraft.ServerAddress(addr), 0, n.timeout(ctx))
	} else {
		if err := n.checkAddVoter(ctx, servers, m, addr); err != nil {
			return err
		}
		f = n.raft.AddVoter(hraft.ServerID(m.Name), hraft.ServerAddress(addr), 0, n.timeout(ctx))
	}
	if err := mapRaftError(f.Error()); err != nil {
		return err
	}
	n.log.Info().Str("member", m.Name).Str("peer", addr).Bool("learner", learner).Uint64("index", f.Index()).Msg("member added")
	return nil
}

// RemoveMember removes the member with the given ID from the cluster,
// through the leader. The leader hands leadership to another voter first
// when it is the one removed, and the new leader removes it. A removed
// member takes no part any more: the others refuse its votes and its
// calls, and it says so in its log (watchRemoval).
func (n *Node) RemoveMember(ctx context.Context, id uint64) error {
	err := n.onLeader(ctx, fmt.Sprintf("removing member %d", id), func() error {
		return n.removeLocal(ctx, id)
	}, func(leader string) error {
		return n.fwd.memberCall(ctx, "remove_member", leader, http.MethodDelete, memberPath(id))
	})
	if err == nil {
		n.awaitConfig(ctx, func(servers []hraft.Server) bool {
			for _, s := range servers {
				if MemberID(string(s.ID)) == id {
					return false
				}
			}
			return true
		})
	}
	return err
}

func (n *Node) removeLocal(ctx context.Context, id uint64) error {
	servers, target, err := n.findMember(id)
	if err != nil {
		return err
	}
	if string(target.ID) == n.cfg.Name {
		// Hand over, then let the new leader remove this member: a leader
		// that removes itself would leave the cluster without one for an
		// election timeout.
		if c := n.countVoters(ctx, servers, nil); c.voters == 1 {
			return fmt.Errorf("%w: member %q is the cluster's only voter: removing it would leave no cluster", domain.ErrConflict, target.ID)
		}
		if err := n.checkRemove(ctx, servers, target); err != nil {
			return err
		}
		if err := n.raft.LeadershipTransfer().Error(); err != nil {
			return fmt.Errorf("%w: removing the leader %q: handing leadership over first failed: %v", domain.ErrUnavailable, target.ID, err)
		}
		n.log.Info().Str("to", n.Leader()).Msg("handed leadership over before this member's removal")
		return domain.ErrNotLeader // onLeader sends the removal to the new leader
	}
	if err := n.checkRemove(ctx, servers, target); err != nil {
		return err
	}
	f := n.raft.RemoveServer(target.ID, 0, n.timeout(ctx))
	if err := mapRaftError(f.Error()); err != nil {
		return err
	}
	n.log.Info().Str("member", string(target.ID)).Uint64("index", f.Index()).Msg("member removed")
	return nil
}

// PromoteMember makes the learner with the given ID a voter, through the
// leader, once it has caught up: it fails with domain.ErrPreconditionFailed,
// saying how far behind it is, while it has more than promoteMaxLag
// committed entries to apply or does not answer. Promoting a voter is no
// change.
func (n *Node) PromoteMember(ctx context.Context, id uint64) error {
	err := n.onLeader(ctx, fmt.Sprintf("promoting member %d", id), func() error {
		return n.promoteLocal(ctx, id)
	}, func(leader string) error {
		return n.fwd.memberCall(ctx, "promote_member", leader, http.MethodPost, memberPath(id)+"/promote")
	})
	if err == nil {
		n.awaitConfig(ctx, func(servers []hraft.Server) bool {
			for _, s := range servers {
				if MemberID(string(s.ID)) == id {
					return s.Suffrage == hraft.Voter
				}
			}
			return false
		})
	}
	return err
}

func (n *Node) promoteLocal(ctx context.Context, id uint64) error {
	servers, target, err := n.findMember(id)
	if err != nil {
		return err
	}
	if target.Suffrage == hraft.Voter {
		return nil
	}
	applied, err := n.appliedOf(ctx, string(target.Address))
	if err != nil {
		return fmt.Errorf("%w: learner %q cannot be promoted: it does not answer on its peer port %s (%v); start it and let it catch up first",
			domain.ErrPreconditionFailed, target.ID, target.Address, err)
	}
	commit := n.raft.CommitIndex()
	if err := learnerCaughtUp(string(target.ID), applied, commit); err != nil {
		return err
	}
	if err := n.checkPromote(ctx, servers, target); err != nil {
		return err
	}
	f := n.raft.AddVoter(target.ID, target.Address, 0, n.timeout(ctx))
	if err := mapRaftError(f.Error()); err != nil {
		return err
	}
	n.log.Info().Str("member", string(target.ID)).Uint64("applied", applied).Uint64("commit", commit).Msg("learner promoted to voter")
	return nil
}

// learnerCaughtUp decides whether a learner that applied applied entries
// may be promoted by a leader that committed commit.
func learnerCaughtUp(name string, applied, commit uint64) error {
	if applied >= commit || commit-applied <= promoteMaxLag {
		return nil
	}
	return fmt.Errorf("%w: learner %q has not caught up: it is %d entries behind the leader (it applied %d of %d committed); it can be promoted within %d entries, retry once it has caught up",
		domain.ErrPreconditionFailed, name, commit-applied, applied, commit, promoteMaxLag)
}

// findMember returns the configuration and the server with member ID id.
func (n *Node) findMember(id uint64) ([]hraft.Server, hraft.Server, error) {
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return nil, hraft.Server{}, mapRaftError(err)
	}
	servers := cf.Configuration().Servers
	for _, s := range servers {
		if MemberID(string(s.ID)) == id {
			return servers, s, nil
		}
	}
	return nil, hraft.Server{}, fmt.Errorf("member %d is not in the cluster (see /v1/cluster/members): %w", id, domain.ErrNotFound)
}

// appliedOf asks the member at the peer address addr for its applied index.
func (n *Node) appliedOf(ctx context.Context, addr string) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, httpDialTimeout+n.cfg.ElectionTimeout)
	defer cancel()
	var st struct {
		AppliedIndex uint64 `json:"applied_index"`
	}
	err := n.fwd.getJSON(ctx, n.peerURL(addr)+PathStatus, &st)
	return st.AppliedIndex, err
}

// awaitConfig waits, for at most an election timeout, until this member's
// configuration shows a change the leader made (done says when): a
// follower hears of it with the next heartbeat, and its answer then lists
// the members as they are. A member the change cut off from the leader
// (the old leader, removed) never hears of it: it answers after the wait.
func (n *Node) awaitConfig(ctx context.Context, done func([]hraft.Server) bool) {
	deadline := time.NewTimer(n.cfg.ElectionTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if f := n.raft.GetConfiguration(); f.Error() == nil && done(f.Configuration().Servers) {
			return
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// onLeader runs local on the leader, or remote with the leader's name on
// a follower, until one of them answers something other than
// domain.ErrNotLeader (which means nothing was done: leadership moved),
// for at most the retry budget.
func (n *Node) onLeader(ctx context.Context, what string, local func() error, remote func(leader string) error) error {
	var err error
	for r := n.newRetrier(); r.wait(ctx); {
		if n.IsLeader() {
			err = local()
		} else {
			var leader string
			if leader, err = n.waitLeader(ctx); err != nil {
				return err
			}
			if leader == n.cfg.Name {
				continue
			}
			err = remote(leader)
		}
		if !errors.Is(err, domain.ErrNotLeader) {
			return err
		}
	}
	return fmt.Errorf("%w (%s: %v)", domain.ErrNoLeader, what, err)
}

func memberPath(id uint64) string { return PathMembers + "/" + strconv.FormatUint(id, 10) }
