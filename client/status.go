package client

import (
	"context"
	"net/http"
)

// StatusResponse is what a member knows about itself and the cluster.
type StatusResponse struct {
	// Header says which member answered, at which revision.
	Header ResponseHeader
	// Endpoint is the member that answered.
	Endpoint string
	// MemberID is the member's ID.
	MemberID uint64
	// Name is the member's name.
	Name string
	// Leader is the leader's member ID; 0 when there is none.
	Leader uint64
	// LeaderName is the leader's name; "" when there is none.
	LeaderName string
	// RaftTerm is the Raft term the member is in.
	RaftTerm uint64
	// RaftIndex is the last index in the member's Raft log.
	RaftIndex uint64
	// CommitIndex is the last index the member knows to be committed.
	CommitIndex uint64
	// AppliedIndex is the last index applied to the member's store.
	AppliedIndex uint64
	// Revision is the store's current revision on this member.
	Revision int64
	// CompactRevision is the revision the store is compacted at (0 when
	// never).
	CompactRevision int64
	// DBSize is the size of the store's file, in bytes.
	DBSize int64
	// DBSizeInUse is the bytes of that file in use.
	DBSizeInUse int64
	// Keys is the number of keys that exist now.
	Keys int64
	// IsLearner reports a non-voting member.
	IsLearner bool
	// Version is the server's version.
	Version string
	// Alarms are the alarms raised for the cluster, as this member has
	// applied them.
	Alarms []AlarmMember
}

// Status returns the status of the member the client talks to (the
// current endpoint, or the next one that answers).
func (c *Client) Status(ctx context.Context) (*StatusResponse, error) {
	var out struct {
		Header          *headerJSON `json:"header"`
		MemberID        uint64      `json:"member_id"`
		Name            string      `json:"name"`
		Leader          uint64      `json:"leader"`
		LeaderName      string      `json:"leader_name"`
		RaftTerm        uint64      `json:"raft_term"`
		RaftIndex       uint64      `json:"raft_index"`
		CommitIndex     uint64      `json:"commit_index"`
		AppliedIndex    uint64      `json:"applied_index"`
		Revision        int64       `json:"revision"`
		CompactRevision int64       `json:"compact_revision"`
		DBSize          int64       `json:"db_size"`
		DBSizeInUse     int64       `json:"db_size_in_use"`
		Keys            int64       `json:"keys"`
		IsLearner       bool        `json:"is_learner"`
		Version         string      `json:"version"`
		Alarms          []alarmJSON `json:"alarms"`
	}
	resp, err := c.call(ctx, &request{method: http.MethodGet, path: "/v1/status", idempotent: true}, &out)
	if err != nil {
		return nil, err
	}
	return &StatusResponse{
		Header: out.Header.toHeader(), Endpoint: resp.endpoint, MemberID: out.MemberID, Name: out.Name,
		Leader: out.Leader, LeaderName: out.LeaderName, RaftTerm: out.RaftTerm, RaftIndex: out.RaftIndex,
		CommitIndex: out.CommitIndex, AppliedIndex: out.AppliedIndex, Revision: out.Revision,
		CompactRevision: out.CompactRevision, DBSize: out.DBSize, DBSizeInUse: out.DBSizeInUse, Keys: out.Keys,
		IsLearner: out.IsLearner, Version: out.Version, Alarms: toAlarms(out.Alarms),
	}, nil
}

// Member is a member of the cluster.
type Member struct {
	// ID is the member's ID.
	ID uint64
	// Name is the member's name.
	Name string
	// PeerAddr is the URL the other members reach it at for Raft.
	PeerAddr string
	// ClientURLs are its client URLs (usable as Config.Endpoints).
	ClientURLs []string
	// IsLearner reports a non-voting member.
	IsLearner bool
	// IsLeader reports the leader.
	IsLeader bool
}

// MemberListResponse is the answer of MemberList.
type MemberListResponse struct {
	// Header says which member answered, at which revision.
	Header ResponseHeader
	// Members are the cluster's members, sorted by name.
	Members []Member
}

// MemberList returns the members of the cluster, sorted by name.
func (c *Client) MemberList(ctx context.Context) (*MemberListResponse, error) {
	var out membersJSON
	if _, err := c.call(ctx, &request{method: http.MethodGet, path: "/v1/cluster/members", idempotent: true}, &out); err != nil {
		return nil, err
	}
	return &MemberListResponse{Header: out.Header.toHeader(), Members: toMembers(out.Members)}, nil
}
