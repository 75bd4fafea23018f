package etcdapi

import (
	"context"
	"net/url"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/auth"
)

// MemberAdder adds a member to the cluster, through the leader; the Raft
// node implements it. The member's ID is derived from its name.
type MemberAdder interface {
	AddMember(ctx context.Context, m domain.Member, learner bool) (domain.Member, error)
}

// MemberAdd adds a member named in its peer URL's user part:
//
//	etcdctl member add n4 --peer-urls=http://n4@10.0.0.4:2380 [--learner]
//
// etcd adds a member by its peer URLs alone and learns its name when it
// starts; a Cairn member's name is its Raft ID, so it must be known now.
// The name is taken out of the URL the member list shows. A URL without a
// name, or more than one URL (a Cairn member has one peer URL), is an
// invalid argument that says how to give the name. Adding a member that is
// there already, as it is, changes nothing (a retry).
func (c clusterServer) MemberAdd(ctx context.Context, r *pb.MemberAddRequest) (*pb.MemberAddResponse, error) {
	s := c.s
	if err := s.allow(ctx, auth.Root()); err != nil {
		return nil, s.toStatus(err)
	}
	if s.svc.Members == nil {
		return nil, status.Error(codes.Unimplemented, "method MemberAdd not implemented")
	}
	m, err := namedPeer(r.PeerURLs)
	if err != nil {
		return nil, s.toStatus(err)
	}
	added, err := s.svc.Members.AddMember(ctx, m, r.IsLearner)
	if err != nil {
		return nil, s.toStatus(err)
	}
	ms, err := s.members()
	if err != nil {
		return nil, s.toStatus(err)
	}
	return &pb.MemberAddResponse{
		Header:  s.currentHeader(),
		Member:  memberOut(domain.ClusterMember{Member: added, IsLearner: r.IsLearner}),
		Members: ms,
	}, nil
}

// namedPeer reads the new member's name and peer URL from the request's
// one peer URL, http(s)://NAME@host:port.
func namedPeer(urls []string) (domain.Member, error) {
	const how = "cairn names a member from the start (its name is its Raft ID): give it in the peer URL, " +
		"etcdctl member add NAME --peer-urls=http://NAME@host:port, or use cairnctl member add"
	if len(urls) != 1 {
		return domain.Member{}, domain.InvalidArgument("a cairn member has one peer URL, not %d; %s", len(urls), how)
	}
	u, err := url.Parse(urls[0])
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.Fragment != "" {
		return domain.Member{}, domain.InvalidArgument("peer URL %q: want http(s)://NAME@host:port", urls[0])
	}
	name := u.User.Username()
	if _, hasPassword := u.User.Password(); name == "" || hasPassword {
		return domain.Member{}, domain.InvalidArgument("peer URL %q has no member name; %s", u.Redacted(), how)
	}
	u.User, u.Path = nil, ""
	return domain.Member{Name: name, PeerURL: u.String()}, nil
}
