package raft

import (
	"context"
	"fmt"

	hraft "github.com/hashicorp/raft"

	"github.com/cairnkv/cairn/internal/domain"
)

// checkAddVoter is etcd's strict reconfiguration check, run by the leader
// before it adds m (peer address addr) as a voter: the members that are
// started (this leader, and the voters and the new member whose peer port
// answers now) must be a quorum of the configuration with m in it.
// Otherwise the cluster could not commit anything until the missing members
// start, and a member that never starts (a wrong address) costs the quorum
// for good: adding an unreachable member to a one-member cluster would.
//
// etcd counts the members that have published themselves and lets a
// one-member cluster grow without its new member; here the new member
// counts as started when its peer port answers, which a member waiting
// with --initial-cluster-state existing does. The answer is a conflict
// (409): the request is well formed, the cluster's state refuses it.
//
// A member already in the configuration under the same name and address
// is no change (AddVoter does nothing); the same name at another address,
// or the address under another name, is a conflict.
func (n *Node) checkAddVoter(ctx context.Context, m domain.Member, addr string) error {
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return mapRaftError(err)
	}
	voters, started := 1, 0 // the new member is a voter
	var down []string
	for _, s := range cf.Configuration().Servers {
		switch {
		case string(s.ID) == m.Name && string(s.Address) == addr:
			return nil
		case string(s.ID) == m.Name:
			return fmt.Errorf("%w: a member named %q exists already, at peer address %s", domain.ErrConflict, m.Name, s.Address)
		case string(s.Address) == addr:
			return fmt.Errorf("%w: peer address %s is member %q's", domain.ErrConflict, addr, s.ID)
		}
		if s.Suffrage != hraft.Voter {
			continue
		}
		voters++
		if string(s.ID) == n.cfg.Name || n.reachable(ctx, string(s.Address)) {
			started++
		} else {
			down = append(down, string(s.ID))
		}
	}
	newUp := n.reachable(ctx, addr)
	if newUp {
		started++
	}
	if quorum := voters/2 + 1; started < quorum {
		why := fmt.Sprintf("members %v do not answer", down)
		if !newUp {
			why = fmt.Sprintf("the new member's peer address %s does not answer (start it first, with --initial-cluster-state existing)", addr)
			if len(down) > 0 {
				why += fmt.Sprintf(", and members %v do not either", down)
			}
		}
		return fmt.Errorf("%w: adding member %q would leave the cluster without quorum: %d of its %d voters would be started, %d are needed; %s",
			domain.ErrConflict, m.Name, started, voters, quorum, why)
	}
	return nil
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
