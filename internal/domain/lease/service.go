package lease

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
)

// Service serves the lease API on one member. Grant, Revoke, KeepAlive and
// TimeToLive need the lessor of the leader: the HTTP edge sends them to the
// leader.
type Service struct {
	lessor   *Lessor
	proposer ports.Proposer
	backend  ports.Backend
}

// NewService returns the lease service over lessor.
func NewService(lessor *Lessor, p ports.Proposer, b ports.Backend) *Service {
	return &Service{lessor: lessor, proposer: p, backend: b}
}

// Lessor returns the service's lessor.
func (s *Service) Lessor() *Lessor { return s.lessor }

// Stats returns the lessor's counters.
func (s *Service) Stats() Stats { return s.lessor.Stats() }

// Granted is the outcome of a grant. Requested is the TTL asked for when
// it was raised to the minimum (0 otherwise).
type Granted struct {
	Lease     domain.Lease
	Requested int64
	Revision  int64
}

// maxIDAttempts bounds the retries of a generated ID that was taken.
const maxIDAttempts = 3

// Grant creates a lease of ttl seconds with the given ID, or a generated
// one when id is 0. A TTL below the minimum is raised to it. It returns
// domain.ErrLeaseExists when the ID is taken and an invalid argument for a
// bad TTL or ID.
func (s *Service) Grant(ctx context.Context, ttl, id int64) (Granted, error) {
	cfg := s.lessor.cfg
	switch {
	case ttl <= 0:
		return Granted{}, domain.InvalidArgument("ttl must be a positive number of seconds")
	case ttl > cfg.MaxTTL:
		return Granted{}, domain.InvalidArgument("ttl %d is longer than the maximum of %d seconds", ttl, cfg.MaxTTL)
	}
	g := Granted{Lease: domain.Lease{ID: id, TTL: ttl}}
	if ttl < cfg.MinTTL {
		g.Lease.TTL, g.Requested = cfg.MinTTL, ttl
	}
	for attempt := 0; ; attempt++ {
		if id == 0 {
			g.Lease.ID = newID()
		}
		cmd := domain.Command{Type: domain.CmdLeaseGrant, Grant: &g.Lease}
		if err := cmd.Validate(); err != nil {
			return Granted{}, fmt.Errorf("grant lease: %w", err)
		}
		res, err := s.proposer.Propose(ctx, cmd)
		if err == nil {
			err = res.Err
		}
		if errors.Is(err, domain.ErrLeaseExists) && id == 0 && attempt < maxIDAttempts {
			continue
		}
		if err != nil {
			return Granted{}, fmt.Errorf("grant lease: %w", err)
		}
		g.Revision = res.Revision
		s.lessor.add(g.Lease)
		s.lessor.granted.Add(1)
		return g, nil
	}
}

// newID returns a random lease ID in [1, 2^53).
func newID() int64 {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			panic(fmt.Errorf("lease: random ID: %w", err))
		}
		if id := int64(binary.BigEndian.Uint64(b[:]) & domain.MaxLeaseID); id != 0 {
			return id
		}
	}
}

// Revoke revokes a lease and deletes every key attached to it in one
// revision, which it returns. It returns domain.ErrLeaseNotFound when the
// lease does not exist.
func (s *Service) Revoke(ctx context.Context, id int64) (int64, error) {
	res, err := s.proposer.Propose(ctx, domain.Command{Type: domain.CmdLeaseRevoke, Revoke: []int64{id}})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		return 0, fmt.Errorf("revoke lease %d: %w", id, err)
	}
	s.lessor.forget(id)
	s.lessor.revoked.Add(1)
	return res.Revision, nil
}

// KeepAlive restarts a lease's countdown and returns its TTL. It returns
// domain.ErrNotLeader on a member that does not lead.
func (s *Service) KeepAlive(ctx context.Context, id int64) (int64, error) {
	ttl, err := s.lessor.Renew(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("keep lease %d alive: %w", id, err)
	}
	return ttl, nil
}

// Status is what TimeToLive tells of a lease.
type Status struct {
	ID         int64
	TTL        int64 // remaining, in seconds
	GrantedTTL int64
	Keys       [][]byte
	Revision   int64
}

// TimeToLive returns a lease's remaining and granted TTL, and its keys when
// asked. It returns domain.ErrLeaseNotFound for a lease that does not
// exist and domain.ErrNotLeader on a member that does not lead.
func (s *Service) TimeToLive(ctx context.Context, id int64, keys bool) (Status, error) {
	if err := s.proposer.ReadBarrier(ctx); err != nil {
		return Status{}, err
	}
	v := s.backend.View()
	defer v.End()
	ls, err := v.Lease(id)
	if err != nil {
		return Status{}, fmt.Errorf("lease %d: %w", id, err)
	}
	st := Status{ID: id, GrantedTTL: ls.TTL, Revision: v.Rev()}
	remaining, _, err := s.lessor.Remaining(id)
	if errors.Is(err, domain.ErrLeaseNotFound) {
		// Applied here, not yet tracked: it counts down from its TTL.
		s.lessor.add(ls)
		remaining, _, err = s.lessor.Remaining(id)
	}
	if err != nil {
		return Status{}, fmt.Errorf("lease %d: %w", id, err)
	}
	st.TTL = remaining
	if keys {
		if st.Keys, err = v.LeaseKeys(id); err != nil {
			return Status{}, fmt.Errorf("lease %d keys: %w", id, err)
		}
	}
	return st, nil
}

// Keys returns the keys attached to a lease as this member last applied
// them (a serializable read; none for a lease it does not know). The API
// checks a user's permissions on them before a revoke.
func (s *Service) Keys(id int64) ([][]byte, error) {
	v := s.backend.View()
	defer v.End()
	return v.LeaseKeys(id)
}

// List returns every lease (a linearizable read unless serializable).
func (s *Service) List(ctx context.Context, serializable bool) ([]domain.Lease, int64, error) {
	if !serializable {
		if err := s.proposer.ReadBarrier(ctx); err != nil {
			return nil, 0, err
		}
	}
	v := s.backend.View()
	defer v.End()
	leases, err := v.Leases()
	if err != nil {
		return nil, 0, fmt.Errorf("list leases: %w", err)
	}
	return leases, v.Rev(), nil
}
