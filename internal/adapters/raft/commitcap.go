package raft

import hraft "github.com/hashicorp/raft"

// The leader's commit index can pass entries that are still on their way
// to its own disk (logWriter). A follower that learnt such an index would
// apply entries the leader could still lose in a crash, and a new leader
// elected without them would overwrite what that follower applied. So the
// commit index a leader sends is capped at its durable prefix; the
// followers learn the rest with the next AppendEntries, at most a commit
// timeout later.

// AppendEntries sends one AppendEntries, its commit index capped.
func (t serialTransport) AppendEntries(id hraft.ServerID, target hraft.ServerAddress, args *hraft.AppendEntriesRequest, resp *hraft.AppendEntriesResponse) error {
	capCommit(t.log, args)
	return t.NetworkTransport.AppendEntries(id, target, args, resp)
}

// cappedPipeline caps the commit index of every AppendEntries it sends.
type cappedPipeline struct {
	hraft.AppendPipeline
	log *logWriter
}

// AppendEntries sends one pipelined AppendEntries, its commit index capped.
func (p cappedPipeline) AppendEntries(args *hraft.AppendEntriesRequest, resp *hraft.AppendEntriesResponse) (hraft.AppendFuture, error) {
	capCommit(p.log, args)
	return p.AppendPipeline.AppendEntries(args, resp)
}

func capCommit(w *logWriter, args *hraft.AppendEntriesRequest) {
	if w != nil && args.LeaderCommitIndex > 0 {
		args.LeaderCommitIndex = w.Durable(args.LeaderCommitIndex)
	}
}
