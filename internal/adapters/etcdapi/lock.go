package etcdapi

import (
	"context"
	"errors"
	"time"

	"go.etcd.io/etcd/server/v3/etcdserver/api/v3lock/v3lockpb"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/auth"
	"github.com/cairnkv/cairn/internal/domain/lock"
)

// LockService is what the Lock RPCs need; *lock.Service implements it.
type LockService interface {
	Lock(ctx context.Context, name []byte, leaseID, ttl int64, wait time.Duration) (lock.Holder, error)
	Unlock(ctx context.Context, name, key []byte) (int64, error)
}

// sessionTTL is the TTL, in seconds, of the lease a Lock or a Campaign
// without a lease is given: etcd's server opens a session of
// concurrency's default TTL for it, and never renews it.
const sessionTTL = 60

// lockServer serves etcd's v3lock service over the domain's
// lock.Service: the same queue of keys NAME/<lease in hex> that
// clientv3's concurrency.Mutex and the REST locks use, so that the three
// exclude one another.
type lockServer struct {
	v3lockpb.UnimplementedLockServer
	s *Server
}

// Lock waits until the lock called name is held for the request's lease
// (until the call ends: it has no timeout of its own) and returns the
// owner key, whose existence is the ownership: a txn guarded by the key's
// create revision acts only while the lock is held. The lease's expiry or
// Unlock releases it.
func (l lockServer) Lock(ctx context.Context, r *v3lockpb.LockRequest) (*v3lockpb.LockResponse, error) {
	s := l.s
	if err := s.allow(ctx, queueNeed(domain.PermReadWrite, r.Name)); err != nil {
		return nil, s.toStatus(err)
	}
	var ttl int64
	if r.Lease == 0 {
		ttl = sessionTTL
	}
	h, err := s.svc.Lock.Lock(ctx, r.Name, r.Lease, ttl, lock.WaitForever)
	if err != nil {
		return nil, s.toStatus(waitErr(ctx, err))
	}
	return &v3lockpb.LockResponse{Header: s.header(max(h.Revision, s.svc.Cluster.Revision())), Key: h.Key}, nil
}

// Unlock deletes the owner key Lock returned. As in etcd, a key that is
// already gone (its lease expired, or an earlier Unlock that the client
// retries) is not an error.
func (l lockServer) Unlock(ctx context.Context, r *v3lockpb.UnlockRequest) (*v3lockpb.UnlockResponse, error) {
	s := l.s
	name, ok := lock.NameOf(r.Key)
	if !ok {
		return nil, s.toStatus(domain.InvalidArgument("key %q is not the key of a lock (NAME/LEASE)", r.Key))
	}
	if err := s.allow(ctx, queueNeed(domain.PermReadWrite, name)); err != nil {
		return nil, s.toStatus(err)
	}
	rev, err := s.svc.Lock.Unlock(ctx, name, r.Key)
	if errors.Is(err, domain.ErrNotFound) {
		return &v3lockpb.UnlockResponse{Header: s.currentHeader()}, nil
	}
	if err != nil {
		return nil, s.toStatus(err)
	}
	return &v3lockpb.UnlockResponse{Header: s.header(rev)}, nil
}

// queueNeed is what a call on a lock or an election needs, as in the REST
// API: perm on the keys of its queue (lock.Prefix(name), NAME/), which a
// permission on the name as a prefix grants.
func queueNeed(perm domain.PermType, name []byte) auth.Need {
	p := lock.Prefix(name)
	if perm == domain.PermRead {
		return auth.Read(p, domain.PrefixEnd(p))
	}
	return auth.ReadWrite(p, domain.PrefixEnd(p))
}

// waitErr turns the end of a wait in a queue into what the client's own
// deadline or cancel would give: the domain calls a deadline that ends a
// wait domain.ErrLocked.
func waitErr(ctx context.Context, err error) error {
	if errors.Is(err, domain.ErrLocked) && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
