package etcdapi

import (
	"context"
	"errors"
	"fmt"
	"io"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/auth"
	"github.com/cairnkv/cairn/internal/domain/lease"
)

// leaseServer serves etcd's Lease service over the domain's
// lease.Service. Grant, revoke, keep-alive and time-to-live run on the
// leader, whose lessor keeps the deadlines: a follower sends them there
// (leaderClient). Leases belong to no key: any user may grant one and
// keep it alive; a revoke deletes its keys and so needs write on each,
// checked on the member that received the call, as in the REST API.
type leaseServer struct {
	pb.UnimplementedLeaseServer
	s *Server
}

// onLeader runs local on the leader and remote anywhere else. A member
// that lost its leadership meanwhile answers no leader, which clientv3
// retries.
func onLeader[T any](s *Server, local, remote func() (T, error)) (T, error) {
	if !s.svc.Cluster.IsLeader() {
		return remote()
	}
	v, err := local()
	if errors.Is(err, domain.ErrNotLeader) {
		err = fmt.Errorf("%w: %v", domain.ErrNoLeader, err)
	}
	return v, err
}

// LeaseGrant grants a lease of the TTL asked for (raised to the minimum),
// with the ID asked for or, for ID 0, one the server picks.
func (l leaseServer) LeaseGrant(ctx context.Context, r *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	s := l.s
	if err := s.allow(ctx, auth.Authenticated()); err != nil {
		return nil, s.toStatus(err)
	}
	ttl := r.TTL
	switch {
	case ttl > domain.MaxLeaseTTL:
		return nil, s.toStatus(errLeaseTTLTooLarge)
	case ttl <= 0:
		ttl = 1 // raised to the minimum, as etcd does
	}
	g, err := onLeader(s,
		func() (lease.Granted, error) { return s.svc.Lease.Grant(ctx, ttl, r.ID) },
		func() (lease.Granted, error) { return s.leader.grant(ctx, ttl, r.ID) })
	if err != nil {
		return nil, s.toStatus(err)
	}
	return &pb.LeaseGrantResponse{Header: s.header(g.Revision), ID: g.Lease.ID, TTL: g.Lease.TTL}, nil
}

// LeaseRevoke revokes a lease and deletes its keys in one revision.
func (l leaseServer) LeaseRevoke(ctx context.Context, r *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	s := l.s
	if err := l.allowKeys(ctx, r.ID, domain.PermWrite); err != nil {
		return nil, s.toStatus(err)
	}
	rev, err := onLeader(s,
		func() (int64, error) { return s.svc.Lease.Revoke(ctx, r.ID) },
		func() (int64, error) { return s.leader.revoke(ctx, r.ID) })
	if err != nil {
		return nil, s.toStatus(err)
	}
	return &pb.LeaseRevokeResponse{Header: s.header(rev)}, nil
}

// allowKeys checks, with auth on, the user's permission perm on the keys
// attached to the lease as this member knows them (perm 0: none, only a
// user).
func (l leaseServer) allowKeys(ctx context.Context, id int64, perm domain.PermType) error {
	s := l.s
	needs := []auth.Need{auth.Authenticated()}
	if perm != 0 && s.svc.Auth != nil && s.svc.Auth.Store().Enabled() {
		keys, err := s.svc.Lease.Keys(id)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if perm == domain.PermWrite {
				needs = append(needs, auth.Write(k, nil))
			} else {
				needs = append(needs, auth.Read(k, nil))
			}
		}
	}
	return s.allow(ctx, needs...)
}

// LeaseKeepAlive renews leases, one answer per request, in order. A lease
// that does not exist is answered with TTL 0, as etcd does (clientv3 then
// stops keeping it alive); any other error ends the stream.
func (l leaseServer) LeaseKeepAlive(stream pb.Lease_LeaseKeepAliveServer) error {
	s := l.s
	ctx := stream.Context()
	if err := s.allow(ctx, auth.Authenticated()); err != nil {
		return s.toStatus(err)
	}
	reqs := make(chan *pb.LeaseKeepAliveRequest)
	recvErr := make(chan error, 1)
	go func() {
		for {
			r, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case reqs <- r:
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		var r *pb.LeaseKeepAliveRequest
		select {
		case r = <-reqs:
		case err := <-recvErr:
			if errors.Is(err, io.EOF) {
				return nil // the client is done
			}
			return err
		case <-s.done:
			return s.toStatus(errStopped)
		case <-ctx.Done():
			return ctx.Err()
		}
		ttl, err := onLeader(s,
			func() (int64, error) { return s.svc.Lease.KeepAlive(ctx, r.ID) },
			func() (int64, error) { return s.leader.keepAlive(ctx, r.ID) })
		if errors.Is(err, domain.ErrLeaseNotFound) {
			ttl, err = 0, nil
		}
		if err != nil {
			return s.toStatus(err)
		}
		if err := stream.Send(&pb.LeaseKeepAliveResponse{Header: s.currentHeader(), ID: r.ID, TTL: ttl}); err != nil {
			return err
		}
	}
}

// LeaseTimeToLive tells a lease's remaining and granted TTL, and its keys
// when asked. A lease that does not exist has TTL -1, as in etcd.
func (l leaseServer) LeaseTimeToLive(ctx context.Context, r *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	s := l.s
	perm := domain.PermType(0)
	if r.Keys {
		perm = domain.PermRead
	}
	if err := l.allowKeys(ctx, r.ID, perm); err != nil {
		return nil, s.toStatus(err)
	}
	if r.ID <= 0 || r.ID > domain.MaxLeaseID {
		// No such lease can exist in Cairn (its IDs stay below 2^53).
		return &pb.LeaseTimeToLiveResponse{Header: s.currentHeader(), ID: r.ID, TTL: -1}, nil
	}
	st, err := onLeader(s,
		func() (lease.Status, error) { return s.svc.Lease.TimeToLive(ctx, r.ID, r.Keys) },
		func() (lease.Status, error) { return s.leader.timeToLive(ctx, r.ID, r.Keys) })
	if errors.Is(err, domain.ErrLeaseNotFound) {
		return &pb.LeaseTimeToLiveResponse{Header: s.currentHeader(), ID: r.ID, TTL: -1}, nil
	}
	if err != nil {
		return nil, s.toStatus(err)
	}
	return &pb.LeaseTimeToLiveResponse{Header: s.header(st.Revision), ID: st.ID, TTL: st.TTL,
		GrantedTTL: st.GrantedTTL, Keys: st.Keys}, nil
}

// LeaseLeases lists the leases (a linearizable read, on any member).
func (l leaseServer) LeaseLeases(ctx context.Context, _ *pb.LeaseLeasesRequest) (*pb.LeaseLeasesResponse, error) {
	s := l.s
	if err := s.allow(ctx, auth.Authenticated()); err != nil {
		return nil, s.toStatus(err)
	}
	leases, rev, err := s.svc.Lease.List(ctx, false)
	if err != nil {
		return nil, s.toStatus(err)
	}
	out := &pb.LeaseLeasesResponse{Header: s.header(rev), Leases: make([]*pb.LeaseStatus, len(leases))}
	for i, ls := range leases {
		out.Leases[i] = &pb.LeaseStatus{ID: ls.ID}
	}
	return out, nil
}
