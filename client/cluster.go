package client

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
)

// MemberAddResponse is the answer of MemberAdd.
type MemberAddResponse struct {
	// Header says which member answered; ClusterID is the cluster's.
	Header ResponseHeader
	// Member is the new member, with its ID.
	Member Member
	// Members is the configuration with the new member in it, as the
	// member that answered sees it.
	Members []Member
}

// MemberRemoveResponse is the answer of MemberRemove.
type MemberRemoveResponse struct {
	// Header says which member answered.
	Header ResponseHeader
	// Members is the configuration without the member removed.
	Members []Member
}

// MemberPromoteResponse is the answer of MemberPromote.
type MemberPromoteResponse struct {
	// Header says which member answered.
	Header ResponseHeader
	// Members is the configuration, the learner now a voter.
	Members []Member
}

// MoveLeaderResponse is the answer of MoveLeader.
type MoveLeaderResponse struct {
	// Header says which member answered.
	Header ResponseHeader
	// Leader is the ID of the member that now leads.
	Leader uint64
}

// memberJSON is a member as the API sends it.
type memberJSON struct {
	ID         uint64   `json:"id"`
	Name       string   `json:"name"`
	PeerAddr   string   `json:"peer_addr"`
	ClientURLs []string `json:"client_urls"`
	IsLearner  bool     `json:"is_learner"`
	IsLeader   bool     `json:"is_leader"`
}

func (m memberJSON) toMember() Member {
	return Member{ID: m.ID, Name: m.Name, PeerAddr: m.PeerAddr, ClientURLs: m.ClientURLs,
		IsLearner: m.IsLearner, IsLeader: m.IsLeader}
}

func toMembers(ms []memberJSON) []Member {
	out := make([]Member, len(ms))
	for i, m := range ms {
		out[i] = m.toMember()
	}
	return out
}

type membersJSON struct {
	Header  *headerJSON  `json:"header"`
	Members []memberJSON `json:"members"`
}

func memberPath(id uint64) string { return "/v1/cluster/members/" + strconv.FormatUint(id, 10) }

// MemberAddOption configures MemberAdd.
type MemberAddOption func(*memberAddOptions)

type memberAddOptions struct {
	clientURLs []string
	learner    bool
}

// WithLearner adds the member as a learner: it replicates the log without
// voting, and is promoted with MemberPromote once it has caught up.
func WithLearner() MemberAddOption { return func(o *memberAddOptions) { o.learner = true } }

// WithClientURLs gives the new member's client URLs, which the member
// list shows before the member has published them itself.
func WithClientURLs(urls ...string) MemberAddOption {
	return func(o *memberAddOptions) { o.clientURLs = urls }
}

// MemberAdd adds the member name, whose peer URL (its
// --initial-advertise-peer-urls) is peerURL, to the cluster: a voter, or
// WithLearner a learner. Start it with --initial-cluster-state existing.
// The leader refuses a voter that could cost the cluster its quorum, or a
// name or peer URL another member has (ErrConflict). Adding a member
// again with the same name and URL changes nothing, so it is sent again
// to another member after any failure. With auth on it needs the root
// role.
func (c *Client) MemberAdd(ctx context.Context, name, peerURL string, opts ...MemberAddOption) (*MemberAddResponse, error) {
	var o memberAddOptions
	for _, opt := range opts {
		opt(&o)
	}
	in := map[string]any{"name": name, "peer_addr": peerURL}
	if len(o.clientURLs) > 0 {
		in["client_urls"] = o.clientURLs
	}
	if o.learner {
		in["learner"] = true
	}
	body, _ := json.Marshal(in)
	var out struct {
		Header  *headerJSON  `json:"header"`
		Member  memberJSON   `json:"member"`
		Members []memberJSON `json:"members"`
	}
	r := &request{method: http.MethodPost, path: "/v1/cluster/members", body: body, ctype: "application/json",
		idempotent: true}
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &MemberAddResponse{Header: out.Header.toHeader(), Member: out.Member.toMember(), Members: toMembers(out.Members)}, nil
}

// MemberRemove removes the member whose ID is id. Removing the leader
// makes it hand leadership over first. The leader refuses a removal that
// would leave the members that are up without a quorum (ErrConflict); an
// ID that is no member's is ErrNotFound. With auth on it needs the root
// role.
func (c *Client) MemberRemove(ctx context.Context, id uint64) (*MemberRemoveResponse, error) {
	var out membersJSON
	if _, err := c.call(ctx, &request{method: http.MethodDelete, path: memberPath(id)}, &out); err != nil {
		return nil, err
	}
	return &MemberRemoveResponse{Header: out.Header.toHeader(), Members: toMembers(out.Members)}, nil
}

// MemberPromote makes the learner whose ID is id a voter. While it has not
// caught up with the leader the answer is ErrPreconditionFailed (its
// message says how far behind it is): retry. Promoting a voter changes
// nothing, so it is sent again to another member after any failure. With
// auth on it needs the root role.
func (c *Client) MemberPromote(ctx context.Context, id uint64) (*MemberPromoteResponse, error) {
	var out membersJSON
	r := &request{method: http.MethodPost, path: memberPath(id) + "/promote", idempotent: true}
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &MemberPromoteResponse{Header: out.Header.toHeader(), Members: toMembers(out.Members)}, nil
}

// MoveLeader hands leadership to the voter whose ID is to, and returns
// once it leads. Any member takes the call; to the current leader it is a
// no-op, so it is sent again to another member after any failure. An ID
// that is no voter's is ErrNotFound. With auth on it needs the root role.
func (c *Client) MoveLeader(ctx context.Context, to uint64) (*MoveLeaderResponse, error) {
	body, _ := json.Marshal(map[string]uint64{"to": to})
	var out struct {
		Header *headerJSON `json:"header"`
		Leader uint64      `json:"leader"`
	}
	r := &request{method: http.MethodPost, path: "/v1/cluster/leader", body: body, ctype: "application/json",
		idempotent: true}
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &MoveLeaderResponse{Header: out.Header.toHeader(), Leader: out.Leader}, nil
}
