package raft

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cairnkv/cairn/internal/domain"
)

// The hash check: a follower compares the hash of its store with the
// leader's at the same revision (the lower of their two revisions). Members that
// applied the same log hold the same history, so the hashes are equal; a
// difference means the stores diverged (a bug, a disk that lied, an entry
// applied differently) and is reported loudly: an error in the log and
// cairn_hash_check_mismatches_total. A follower runs it once after its
// start; a mismatch asks the leader for the corruption check of every
// member (corruptcheck.go), which raises the CORRUPT alarm.

// HashCheckOutcome is the result of one comparison with the leader.
type HashCheckOutcome string

const (
	HashMatch    HashCheckOutcome = "match"
	HashMismatch HashCheckOutcome = "mismatch"
	// HashSkipped: nothing to compare this time (this member leads, no
	// leader is known, the leader has not applied the revision yet, a
	// compaction is applied on one side and not yet on the other).
	HashSkipped HashCheckOutcome = "skipped"
)

// reasonLeading is why a leader skips the check: the followers compare
// with it.
const reasonLeading = "this member leads"

// HashCheck is what one comparison found.
type HashCheck struct {
	Outcome    HashCheckOutcome
	Leader     string
	Revision   int64
	Local      uint32
	Remote     uint32
	CompactRev int64
	Reason     string // why it was skipped
}

// remoteHash is the leader's answer to GET /v1/maintenance/hash (on its
// peer port).
type remoteHash struct {
	Hash            uint32 `json:"hash"`
	Revision        int64  `json:"revision"`
	CompactRevision int64  `json:"compact_revision"`
}

// CheckHash compares this member's store with the leader's at the same
// revision, reports a mismatch and returns what it found.
func (n *Node) CheckHash(ctx context.Context) (HashCheck, error) {
	return n.checkHash(ctx, n.fetchLeaderHash)
}

func (n *Node) checkHash(ctx context.Context, fetch func(ctx context.Context, leader string, rev int64) (remoteHash, error)) (HashCheck, error) {
	c := HashCheck{Outcome: HashSkipped, Leader: n.Leader()}
	switch c.Leader {
	case "":
		c.Reason = "no leader"
		return n.recordHashCheck(c), nil
	case n.cfg.Name:
		c.Reason = reasonLeading
		return n.recordHashCheck(c), nil
	}
	// Compare at the lower of the two revisions: the leader's latest, or
	// this member's when the leader is ahead.
	remote, err := fetch(ctx, c.Leader, 0)
	if err == nil {
		if _, localRev, _, err2 := n.backend.Hash(0); err2 == nil && localRev < remote.Revision {
			remote, err = fetch(ctx, c.Leader, localRev)
		}
	}
	if err != nil {
		// The leader is gone, changed, or compacted past this revision: try later.
		c.Reason = err.Error()
		return n.recordHashCheck(c), nil
	}
	local, rev, compactRev, err := n.backend.Hash(remote.Revision)
	if err != nil {
		var compacted *domain.CompactedError
		if errors.As(err, &compacted) {
			c.Reason = err.Error()
			return n.recordHashCheck(c), nil
		}
		return c, fmt.Errorf("raft: hash check: local hash at %d: %w", remote.Revision, err)
	}
	c.Revision, c.Local, c.CompactRev = rev, local, compactRev
	c.Remote = remote.Hash
	switch {
	case remote.Revision != rev:
		c.Reason = fmt.Sprintf("the leader hashed revision %d, not %d", remote.Revision, rev)
	case remote.CompactRevision != compactRev:
		// The hash covers the compact revision, which a compaction changes
		// without a new revision: one side has applied it, not the other.
		c.Reason = fmt.Sprintf("compact revision %d here, %d on the leader", compactRev, remote.CompactRevision)
	case remote.Hash == local:
		c.Outcome = HashMatch
	default:
		c.Outcome = HashMismatch
	}
	return n.recordHashCheck(c), nil
}

func (n *Node) recordHashCheck(c HashCheck) HashCheck {
	n.metrics.hashChecks.WithLabelValues(string(c.Outcome)).Inc()
	switch c.Outcome {
	case HashMismatch:
		n.metrics.hashMismatches.Inc()
		n.log.Error().Str("leader", c.Leader).Int64("revision", c.Revision).Int64("compact_revision", c.CompactRev).
			Uint32("hash", c.Local).Uint32("leader_hash", c.Remote).
			Msg("DIVERGENCE: this member's store differs from the leader's at the same revision; " +
				"its data cannot be trusted: stop it, and replace it with a fresh member")
	case HashMatch:
		n.log.Debug().Str("leader", c.Leader).Int64("revision", c.Revision).Uint32("hash", c.Local).Msg("hash check: same store as the leader")
	default:
		n.log.Debug().Str("reason", c.Reason).Msg("hash check skipped")
	}
	return c
}

// fetchLeaderHash asks the leader for its hash at rev (0: its latest), on
// its peer port.
func (n *Node) fetchLeaderHash(ctx context.Context, leader string, rev int64) (remoteHash, error) {
	base, err := n.fwd.leaderPeerURL(leader)
	if err != nil {
		return remoteHash{}, err
	}
	h, err := n.hashAt(ctx, base, rev)
	if err != nil {
		return remoteHash{}, fmt.Errorf("the leader's hash: %w", err)
	}
	return h, nil
}

// hashAt asks the member whose peer port is at base for its hash at rev
// (0: its latest); it answers once it has applied rev (its read barrier).
func (n *Node) hashAt(ctx context.Context, base string, rev int64) (remoteHash, error) {
	u := base + "/v1/maintenance/hash"
	if rev > 0 {
		u += "?revision=" + strconv.FormatInt(rev, 10)
	}
	var h remoteHash
	err := n.fwd.getJSON(ctx, u, &h)
	return h, err
}

// runHashChecks runs the checks of this member until the node closes:
//   - as leader, the corruption check of every member (CheckCluster), soon
//     after it starts leading and then every interval, or at once when a
//     follower asks (PathHashCheck);
//   - as follower, once after its start, when it has caught up, a
//     comparison of its own store with the leader's (CheckHash); a
//     mismatch asks the leader to run the corruption check now, which
//     decides, by majority, which store is wrong. A skipped comparison is
//     tried again every few seconds until one compares.
func (n *Node) runHashChecks(interval time.Duration) {
	defer n.wg.Done()
	retry := max(2*n.cfg.ElectionTimeout, time.Second)
	wait := retry
	compared := false
	for {
		select {
		case <-n.done:
			return
		case <-time.After(wait):
		case <-n.checkNow:
		}
		wait = interval
		ctx, cancel := context.WithTimeout(context.Background(), 2*n.cfg.ApplyTimeout)
		if n.IsLeader() {
			if _, err := n.CheckCluster(ctx); err != nil && !errors.Is(err, domain.ErrNotLeader) {
				n.log.Warn().Err(err).Msg("corruption check failed")
			}
			cancel()
			continue
		}
		if compared || n.Ready() != nil {
			if !compared {
				wait = retry
			}
			cancel()
			continue
		}
		c, err := n.CheckHash(ctx)
		switch {
		case err != nil && !errors.Is(err, domain.ErrUnavailable):
			n.log.Warn().Err(err).Msg("hash check failed")
		case c.Outcome == HashMismatch:
			compared = true
			if err := n.askLeaderToCheck(ctx, c.Leader); err != nil {
				n.log.Warn().Err(err).Msg("could not ask the leader to run the corruption check")
			}
		case c.Outcome != HashSkipped:
			compared = true
		}
		cancel()
		if !compared {
			wait = retry
		}
	}
}
