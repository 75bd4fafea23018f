package raft

import (
	"context"
	"fmt"

	hraft "github.com/hashicorp/raft"

	"github.com/cairnkv/cairn/internal/domain"
)

// The strict reconfiguration check (etcd's --strict-reconfig-check, always
// on here): the leader refuses a change of the voters after which the
// voters that are started now would not be a quorum. Otherwise the cluster
// could not commit anything until the missing members start, and a member
// that never starts (a wrong address, a dead disk) would cost the quorum
// for good: adding an unreachable member to a one-member cluster would, and
// so would removing a live member of three while another is down.
//
// A voter counts as started when it is this leader or its peer port
// answers now. etcd counts the members that have published themselves; a
// new member waiting with --initial-cluster-state existing answers on its
// peer port before it has published anything, so it counts here. Learners
// never count: they have no vote. The answer is a conflict (409): the
// request is well formed, the cluster's state refuses it.

// voterCount is what the check found of a configuration.
type voterCount struct {
	voters, started int
	down            []string // voters that do not answer
}

func (c voterCount) quorum() int { return c.voters/2 + 1 }

// countVoters counts the voters of servers and those that are started. up
// gives the answer for members already probed (by ID); the others are
// dialled.
func (n *Node) countVoters(ctx context.Context, servers []hraft.Server, up map[hraft.ServerID]bool) voterCount {
	var c voterCount
	for _, s := range servers {
		if s.Suffrage != hraft.Voter {
			continue
		}
		c.voters++
		ok, probed := up[s.ID]
		if !probed {
			ok = string(s.ID) == n.cfg.Name || n.reachable(ctx, string(s.Address))
		}
		if ok {
			c.started++
		} else {
			c.down = append(c.down, string(s.ID))
		}
	}
	return c
}

// checkNewMember refuses a member whose name or peer address another
// member has. It reports whether the configuration holds the member
// already, under the same name and address (then adding it again is no
// change), and its suffrage then.
func checkNewMember(servers []hraft.Server, m domain.Member, addr string) (exists bool, suffrage hraft.ServerSuffrage, err error) {
	for _, s := range servers {
		switch {
		case string(s.ID) == m.Name && string(s.Address) == addr:
			return true, s.Suffrage, nil
		case string(s.ID) == m.Name:
			return false, 0, fmt.Errorf("%w: a member named %q exists already, at peer address %s", domain.ErrConflict, m.Name, s.Address)
		case string(s.Address) == addr:
			return false, 0, fmt.Errorf("%w: peer address %s is member %q's", domain.ErrConflict, addr, s.ID)
		}
	}
	return false, 0, nil
}

// checkAddVoter is the strict check before m (peer address addr) is added
// as a voter: the started voters, the new one included if its peer port
// answers, must be a quorum of the configuration with m in it.
func (n *Node) checkAddVoter(ctx context.Context, servers []hraft.Server, m domain.Member, addr string) error {
	newUp := n.reachable(ctx, addr)
	after := append(append([]hraft.Server(nil), servers...), hraft.Server{ID: hraft.ServerID(m.Name), Address: hraft.ServerAddress(addr), Suffrage: hraft.Voter})
	c := n.countVoters(ctx, after, map[hraft.ServerID]bool{hraft.ServerID(m.Name): newUp})
	if c.started >= c.quorum() {
		return nil
	}
	why := fmt.Sprintf("members %v do not answer", c.down)
	if !newUp {
		why = fmt.Sprintf("the new member's peer address %s does not answer (start it first, with --initial-cluster-state existing, or add it as a learner)", addr)
		if len(c.down) > 1 {
			why += fmt.Sprintf(", and members %v do not either", without(c.down, m.Name))
		}
	}
	return fmt.Errorf("%w: adding member %q would leave the cluster without quorum: %d of its %d voters would be started, %d are needed; %s",
		domain.ErrConflict, m.Name, c.started, c.voters, c.quorum(), why)
}

// checkRemove is the strict check before the voter target is removed: the
// voters left that are started must be a quorum of the voters left.
// Removing a voter that is down is what the check lets through when
// another one is down too, as long as the rest is a quorum.
func (n *Node) checkRemove(ctx context.Context, servers []hraft.Server, target hraft.Server) error {
	if target.Suffrage != hraft.Voter {
		return nil // a learner counts for nothing
	}
	var after []hraft.Server
	for _, s := range servers {
		if s.ID != target.ID {
			after = append(after, s)
		}
	}
	c := n.countVoters(ctx, after, nil)
	switch {
	case c.voters == 0:
		return fmt.Errorf("%w: member %q is the cluster's only voter: removing it would leave no cluster", domain.ErrConflict, target.ID)
	case c.started < c.quorum():
		return fmt.Errorf("%w: removing member %q would leave the cluster without quorum: %d of its %d remaining voters are started, %d are needed; members %v do not answer (remove a member that is down first, or start them)",
			domain.ErrConflict, target.ID, c.started, c.voters, c.quorum(), c.down)
	}
	return nil
}

// checkPromote is the strict check before the learner target, which
// answered, becomes a voter.
func (n *Node) checkPromote(ctx context.Context, servers []hraft.Server, target hraft.Server) error {
	after := make([]hraft.Server, len(servers))
	copy(after, servers)
	for i := range after {
		if after[i].ID == target.ID {
			after[i].Suffrage = hraft.Voter
		}
	}
	c := n.countVoters(ctx, after, map[hraft.ServerID]bool{target.ID: true})
	if c.started < c.quorum() {
		return fmt.Errorf("%w: promoting member %q would leave the cluster without quorum: %d of its %d voters would be started, %d are needed; members %v do not answer",
			domain.ErrConflict, target.ID, c.started, c.voters, c.quorum(), c.down)
	}
	return nil
}

func without(names []string, name string) []string {
	var out []string
	for _, s := range names {
		if s != name {
			out = append(out, s)
		}
	}
	return out
}

// reachable reports whether the peer port at addr accepts a connection
// now (within the forwarding dial timeout).
func (n *Node) reachable(ctx context.Context, addr string) bool {
	c, err := n.stream.dialHTTP(ctx, addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
