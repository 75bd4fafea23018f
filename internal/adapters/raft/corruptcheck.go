package raft

import (
	"context"
	"fmt"
	"net/http"
	"sort"

	"github.com/cairnkv/cairn/internal/domain"
)

// The corruption check: the leader compares the hash of every member's
// store at its own revision (every HashCheckInterval, and when a member
// that just started finds that it differs from the leader: PathHashCheck).
// Members that applied the same log hold the same history; a member whose
// hash differs from the majority's diverged, and the leader raises the
// CORRUPT alarm for it through Raft: writes are refused on every member
// until an operator replaces it and clears the alarm. Without a majority
// (two members that differ, with the third unreachable) nobody can tell
// which store is right: the alarm is raised for each member compared.

// PathHashCheck asks the leader, on its peer port, to run the corruption
// check now (a follower that found itself different from the leader).
const PathHashCheck = "/v1/internal/hash_check"

// ClusterCheck is what one corruption check found.
type ClusterCheck struct {
	Revision int64
	Hashes   map[string]uint32 // by member name, of the members compared
	Skipped  map[string]string // why a member was not compared
	Corrupt  []string          // members for which CORRUPT was raised
}

// CheckCluster runs the corruption check on the leader (domain.ErrNotLeader
// on a follower): it compares every member's hash at its own revision and
// raises CORRUPT for the members that differ from the majority.
func (n *Node) CheckCluster(ctx context.Context) (ClusterCheck, error) {
	if !n.IsLeader() {
		return ClusterCheck{}, domain.ErrNotLeader
	}
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return ClusterCheck{}, mapRaftError(err)
	}
	own, rev, compactRev, err := n.backend.Hash(0)
	if err != nil {
		return ClusterCheck{}, fmt.Errorf("raft: corruption check: own hash: %w", err)
	}
	c := ClusterCheck{Revision: rev, Hashes: map[string]uint32{n.cfg.Name: own}, Skipped: map[string]string{}}
	for _, s := range cf.Configuration().Servers {
		if string(s.ID) == n.cfg.Name {
			continue
		}
		h, err := n.fetchHash(ctx, string(s.Address), rev)
		switch {
		case err != nil:
			c.Skipped[string(s.ID)] = err.Error()
		case h.Revision != rev:
			c.Skipped[string(s.ID)] = fmt.Sprintf("hashed revision %d, not %d", h.Revision, rev)
		case h.CompactRevision != compactRev:
			// The hash covers the compact revision, which a compaction
			// changes without a new revision.
			c.Skipped[string(s.ID)] = fmt.Sprintf("compact revision %d there, %d here", h.CompactRevision, compactRev)
		default:
			c.Hashes[string(s.ID)] = h.Hash
		}
	}
	c.Corrupt = minority(c.Hashes)
	for _, name := range c.Corrupt {
		n.metrics.hashMismatches.Inc()
		n.log.Error().Str("member", name).Int64("revision", rev).Uint32("hash", c.Hashes[name]).
			Interface("hashes", c.Hashes).
			Msg("CORRUPT: this member's store differs from the majority's at the same revision; the CORRUPT alarm is raised and writes are refused: remove the member, add a fresh one, then clear the alarm")
		if err := n.raiseCorrupt(ctx, name); err != nil {
			return c, fmt.Errorf("raft: raise CORRUPT for %s: %w", name, err)
		}
	}
	if len(c.Corrupt) == 0 && len(c.Hashes) > 1 {
		n.log.Debug().Int64("revision", rev).Int("members", len(c.Hashes)).Msg("corruption check: every member compared has the same store")
	}
	return c, nil
}

// minority returns the members whose hash differs from the strict
// majority's, or, without one, every member when they do not all agree;
// sorted by name.
func minority(hashes map[string]uint32) []string {
	count := map[uint32]int{}
	for _, h := range hashes {
		count[h]++
	}
	if len(count) <= 1 {
		return nil
	}
	var majority uint32
	found := false
	for h, k := range count {
		if 2*k > len(hashes) {
			majority, found = h, true
		}
	}
	var out []string
	for name, h := range hashes {
		if !found || h != majority {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func (n *Node) raiseCorrupt(ctx context.Context, name string) error {
	a := domain.Alarm{MemberID: MemberID(name), Type: domain.AlarmCorrupt}
	for _, x := range n.backend.Alarms() {
		if x == a {
			return nil
		}
	}
	res, err := n.Propose(ctx, domain.Command{Type: domain.CmdAlarm, Alarm: &domain.AlarmRequest{Activate: true, Alarm: a}})
	if err != nil {
		return err
	}
	return res.Err
}

// fetchHash asks the member at the peer address addr for its hash at rev.
func (n *Node) fetchHash(ctx context.Context, addr string, rev int64) (remoteHash, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ApplyTimeout)
	defer cancel()
	return n.hashAt(ctx, n.peerURL(addr), rev)
}

// askLeaderToCheck asks the leader to run the corruption check now.
func (n *Node) askLeaderToCheck(ctx context.Context, leader string) error {
	_, err := n.fwd.do(ctx, "hash_check", leader, http.MethodPost, PathHashCheck, "", nil)
	return err
}

// serveHashCheck is the leader's side of PathHashCheck: it schedules a
// check and answers at once.
func (n *Node) serveHashCheck(w http.ResponseWriter) {
	if !n.IsLeader() {
		writePeerError(w, http.StatusServiceUnavailable, "not_leader", "this member does not lead")
		return
	}
	select {
	case n.checkNow <- struct{}{}:
	default: // one is scheduled already
	}
	w.WriteHeader(http.StatusAccepted)
}
