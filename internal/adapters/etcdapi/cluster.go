package etcdapi

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/auth"
)

// clusterServer serves etcd's Cluster service over the Raft node's
// membership calls. Member IDs are Cairn's (a hash of the name), which
// every member computes alike.
type clusterServer struct {
	pb.UnimplementedClusterServer
	s *Server
}

// MemberList lists the members as this member knows them; with
// linearizable, after a read barrier.
func (c clusterServer) MemberList(ctx context.Context, r *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	s := c.s
	if err := s.allow(ctx, auth.Authenticated()); err != nil {
		return nil, s.toStatus(err)
	}
	if r.Linearizable {
		if err := s.svc.Cluster.ReadBarrier(ctx); err != nil {
			return nil, s.toStatus(err)
		}
	}
	ms, err := s.members()
	if err != nil {
		return nil, s.toStatus(err)
	}
	return &pb.MemberListResponse{Header: s.currentHeader(), Members: ms}, nil
}

func (s *Server) members() ([]*pb.Member, error) {
	ms, err := s.svc.Cluster.Members()
	if err != nil {
		return nil, err
	}
	out := make([]*pb.Member, len(ms))
	for i, m := range ms {
		out[i] = memberOut(m)
	}
	return out, nil
}

func memberOut(m domain.ClusterMember) *pb.Member {
	return &pb.Member{ID: m.ID, Name: m.Name, PeerURLs: []string{m.PeerURL}, ClientURLs: m.ClientURLs, IsLearner: m.IsLearner}
}

// MemberRemove removes a member, through the leader; the leader hands
// over first when it is the one removed.
func (c clusterServer) MemberRemove(ctx context.Context, r *pb.MemberRemoveRequest) (*pb.MemberRemoveResponse, error) {
	s := c.s
	if err := s.allow(ctx, auth.Root()); err != nil {
		return nil, s.toStatus(err)
	}
	if err := s.svc.Cluster.RemoveMember(ctx, r.ID); err != nil {
		return nil, s.toStatus(memberError(err))
	}
	ms, err := s.members()
	if err != nil {
		return nil, s.toStatus(err)
	}
	return &pb.MemberRemoveResponse{Header: s.currentHeader(), Members: ms}, nil
}

// MemberPromote makes a learner that has caught up a voter.
func (c clusterServer) MemberPromote(ctx context.Context, r *pb.MemberPromoteRequest) (*pb.MemberPromoteResponse, error) {
	s := c.s
	if err := s.allow(ctx, auth.Root()); err != nil {
		return nil, s.toStatus(err)
	}
	if err := s.svc.Cluster.PromoteMember(ctx, r.ID); err != nil {
		return nil, s.toStatus(memberError(err))
	}
	ms, err := s.members()
	if err != nil {
		return nil, s.toStatus(err)
	}
	return &pb.MemberPromoteResponse{Header: s.currentHeader(), Members: ms}, nil
}
