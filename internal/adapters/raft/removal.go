package raft

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	hraft "github.com/hashicorp/raft"
)

// A removed member takes no part in the cluster, whether it saw its
// removal or was down when it happened and comes back with its old state:
//   - The others refuse its votes and pre-votes (hashicorp/raft refuses a
//     candidate that is not in its configuration, before it looks at the
//     candidate's term, so a removed member cannot disrupt the leader),
//     and their peer ports refuse its calls (membersOnly).
//   - It says so in its log, once, and its /readyz answers 503 with the
//     reason: watchRemoval notices either that its own configuration no
//     longer lists it, or, while it knows no leader, that the members it
//     knows tell it it is not a member (PathMembership).
//
// It is not stopped: an operator decides what to do with it (stop it, and
// delete its data dir before it is added again).

// membershipAnswer is the peer port's answer on PathMembership.
type membershipAnswer struct {
	Member bool   `json:"member"`
	Reason string `json:"reason,omitempty"`
}

// serveMembership tells the caller whether this member takes it for a
// member: the membersOnly check, said rather than enforced.
func (n *Node) serveMembership(w http.ResponseWriter, r *http.Request, ips *ipCache) {
	ans := membershipAnswer{Member: true}
	if err := n.checkMember(r, ips); err != nil {
		ans = membershipAnswer{Reason: err.Error()}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ans)
}

// removalCheckEvery is how often, in election timeouts, watchRemoval looks.
const removalCheckEvery = 2

// watchRemoval marks this member removed, and logs why, when it is.
func (n *Node) watchRemoval() {
	defer n.wg.Done()
	t := time.NewTicker(removalCheckEvery * n.cfg.ElectionTimeout)
	defer t.Stop()
	leaderless := 0
	for {
		select {
		case <-n.done:
			return
		case <-t.C:
		}
		why := n.removedBecause(&leaderless)
		was := n.removed.Load()
		switch {
		case why != "" && was == nil:
			n.removed.Store(&why)
			n.log.Error().Str("reason", why).Msg("this member was removed from the cluster: it takes no part in it any more. Stop it; to add it again, delete its data dir first and add it as a new member")
		case why == "" && was != nil && n.Leader() != "":
			n.removed.Store(nil)
			n.log.Info().Msg("this member is in the cluster's configuration again")
		}
	}
}

// removedBecause says why this member is removed, or "". leaderless counts
// the checks in a row that found no leader: the other members are asked
// after two of them.
func (n *Node) removedBecause(leaderless *int) string {
	cf := n.raft.GetConfiguration()
	if cf.Error() != nil {
		return ""
	}
	servers := cf.Configuration().Servers
	if len(servers) > 0 && !inConfig(servers, n.cfg.Name) {
		return "the cluster's configuration this member has applied no longer lists it"
	}
	if n.Leader() != "" {
		*leaderless = 0
		return ""
	}
	if *leaderless++; *leaderless < 2 {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), httpDialTimeout+time.Second)
	defer cancel()
	for _, s := range servers {
		if string(s.ID) == n.cfg.Name {
			continue
		}
		if ans, err := n.askMembership(ctx, string(s.Address)); err == nil && !ans.Member {
			return fmt.Sprintf("member %s says: %s", s.ID, ans.Reason)
		}
	}
	return ""
}

func (n *Node) askMembership(ctx context.Context, addr string) (membershipAnswer, error) {
	var ans membershipAnswer
	err := n.fwd.getJSON(ctx, n.peerURL(addr)+PathMembership, &ans)
	return ans, err
}

func inConfig(servers []hraft.Server, name string) bool {
	for _, s := range servers {
		if string(s.ID) == name {
			return true
		}
	}
	return false
}
