package etcdapi

import (
	"context"
	"errors"
	"time"

	"go.etcd.io/etcd/server/v3/etcdserver/api/v3election/v3electionpb"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/election"
	"github.com/cairnkv/cairn/internal/domain/lock"
)

// ElectionService is what the Election RPCs need; *election.Service
// implements it.
type ElectionService interface {
	Campaign(ctx context.Context, name, value []byte, leaseID, ttl int64, wait time.Duration) (election.Leader, error)
	Proclaim(ctx context.Context, l election.Leader, value []byte) error
	Resign(ctx context.Context, l election.Leader) (int64, error)
	Leader(ctx context.Context, name []byte) (domain.KeyValue, int64, error)
	Observe(ctx context.Context, name []byte) (*election.Observer, error)
}

// electionServer serves etcd's v3election service over the domain's
// election.Service: candidates stand in the queue of keys NAME/<lease in
// hex> that clientv3's concurrency.Election and the REST elections use.
// A LeaderKey is the domain's election.Leader, field for field.
type electionServer struct {
	v3electionpb.UnimplementedElectionServer
	s *Server
}

// Campaign waits until the candidate leads the election (until the call
// ends: it has no timeout of its own) and returns its leader key. A
// candidate already in the race with the same lease keeps its place and
// takes the new value.
func (e electionServer) Campaign(ctx context.Context, r *v3electionpb.CampaignRequest) (*v3electionpb.CampaignResponse, error) {
	s := e.s
	if err := s.allow(ctx, queueNeed(domain.PermReadWrite, r.Name)); err != nil {
		return nil, s.toStatus(err)
	}
	var ttl int64
	if r.Lease == 0 {
		ttl = sessionTTL
	}
	l, err := s.svc.Election.Campaign(ctx, r.Name, r.Value, r.Lease, ttl, lock.WaitForever)
	if err != nil {
		return nil, s.toStatus(waitErr(ctx, err))
	}
	return &v3electionpb.CampaignResponse{
		Header: s.header(max(l.Rev, s.svc.Cluster.Revision())),
		Leader: &v3electionpb.LeaderKey{Name: r.Name, Key: l.Key, Rev: l.Rev, Lease: l.Lease},
	}, nil
}

// Proclaim changes the leader's value; it fails with etcd's "election:
// not leader" when the key no longer leads.
func (e electionServer) Proclaim(ctx context.Context, r *v3electionpb.ProclaimRequest) (*v3electionpb.ProclaimResponse, error) {
	s := e.s
	l, err := e.leader(ctx, r.Leader)
	if err != nil {
		return nil, s.toStatus(err)
	}
	if err := s.svc.Election.Proclaim(ctx, l, r.Value); err != nil {
		return nil, s.toStatus(electionError(err))
	}
	return &v3electionpb.ProclaimResponse{Header: s.currentHeader()}, nil
}

// Resign gives up leadership. As in etcd, a key that no longer leads (its
// lease expired, or an earlier Resign the client retries) is not an
// error: it has nothing left to give up.
func (e electionServer) Resign(ctx context.Context, r *v3electionpb.ResignRequest) (*v3electionpb.ResignResponse, error) {
	s := e.s
	l, err := e.leader(ctx, r.Leader)
	if err != nil {
		return nil, s.toStatus(err)
	}
	rev, err := s.svc.Election.Resign(ctx, l)
	if errors.Is(err, domain.ErrPreconditionFailed) {
		return &v3electionpb.ResignResponse{Header: s.currentHeader()}, nil
	}
	if err != nil {
		return nil, s.toStatus(err)
	}
	return &v3electionpb.ResignResponse{Header: s.header(rev)}, nil
}

// leader checks a LeaderKey and the caller's right to act on it.
func (e electionServer) leader(ctx context.Context, k *v3electionpb.LeaderKey) (election.Leader, error) {
	if k == nil {
		return election.Leader{}, errMissingLeaderKey
	}
	if err := e.s.allow(ctx, queueNeed(domain.PermReadWrite, k.Name)); err != nil {
		return election.Leader{}, err
	}
	return election.Leader{Name: k.Name, Key: k.Key, Rev: k.Rev, Lease: k.Lease}, nil
}

// Leader returns the current leader's key-value; an election without one
// fails with etcd's "election: no leader".
func (e electionServer) Leader(ctx context.Context, r *v3electionpb.LeaderRequest) (*v3electionpb.LeaderResponse, error) {
	s := e.s
	if err := s.allow(ctx, queueNeed(domain.PermRead, r.Name)); err != nil {
		return nil, s.toStatus(err)
	}
	kv, rev, err := s.svc.Election.Leader(ctx, r.Name)
	if err != nil {
		return nil, s.toStatus(electionError(err))
	}
	return &v3electionpb.LeaderResponse{Header: s.header(rev), Kv: kvOut(&kv)}, nil
}

// electionError names the election's own failures with etcd's errors
// (concurrency.ErrElectionNotLeader, ErrElectionNoLeader).
func electionError(err error) error {
	switch {
	case errors.Is(err, domain.ErrPreconditionFailed):
		return errors.Join(errElectionNotLeader, err)
	case errors.Is(err, domain.ErrNotFound):
		return errors.Join(errElectionNoLeader, err)
	}
	return err
}
