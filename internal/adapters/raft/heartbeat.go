package raft

import hraft "github.com/hashicorp/raft"

// serialTransport is the peer transport with hashicorp/raft's heartbeat
// fast path turned off: every AppendEntries, heartbeats included, is
// handled by the Raft main loop, one RPC after another, as the Raft paper
// assumes.
//
// Why: hashicorp/raft (up to v1.7.3 at least; upstream issue #695, fix
// proposed in PR #701) handles heartbeats on the transport's connection
// goroutine, so that a follower busy with its disk still answers them. A
// heartbeat that carries a newer term then raises currentTerm and makes the
// member a follower concurrently with its main loop. A leader whose main
// loop is about to dispatch client entries (a leader frozen by SIGSTOP, a GC
// pause, a VM stall, that resumes with a new leader's heartbeat and
// forwarded proposals both queued) stamps them with the new term. Its log
// then holds, at the same index and the same term, entries other than the
// new leader's: Log Matching is broken, a later AppendEntries naming that
// index and term passes the consistency check, and the member applies
// writes that no other member has. ../shared/evidence holds such a run.
//
// Handled in the main loop, a heartbeat with a newer term makes the leader
// step down before it dispatches anything else, and entries it dispatched
// before carry its own term, so a new leader's AppendEntries finds the
// conflict and truncates them.
//
// The cost: a follower whose main loop is blocked (a slow fsync) answers a
// heartbeat only after that write. Its election timer cannot fire while it
// waits (the timer is served by the same loop), and when it fires late the
// pre-vote fails because the other members still have a leader, so a disk
// stall does not disrupt the cluster; ReadIndex confirmation rounds wait for
// the slowest member of the fastest quorum. DESIGN.md has the figures.
type serialTransport struct {
	*hraft.NetworkTransport
	log *logWriter // caps the commit index it sends (commitcap.go); nil: no cap
}

// SetHeartbeatHandler ignores the fast-path handler hashicorp/raft
// registers: without one, NetworkTransport hands heartbeats to Consumer()
// like every other RPC.
func (serialTransport) SetHeartbeatHandler(func(hraft.RPC)) {}

var (
	_ hraft.Transport   = serialTransport{}
	_ hraft.WithClose   = serialTransport{}
	_ hraft.WithPreVote = serialTransport{}
)
