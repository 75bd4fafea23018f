package apply

import (
	"errors"
	"fmt"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
)

// applyGrant creates a lease; the ID and TTL were chosen before proposing
// (and checked by Command.Validate).
func applyGrant(b ports.Batch, l domain.Lease) domain.Result {
	if _, err := b.Lease(l.ID); err == nil {
		return domain.Result{Revision: b.Rev(), Err: fmt.Errorf("lease %d: %w", l.ID, domain.ErrLeaseExists)}
	} else if !errors.Is(err, domain.ErrLeaseNotFound) {
		panic(fmt.Errorf("apply: read lease %d: %w", l.ID, err))
	}
	l.RemainingTTL = 0
	if err := b.PutLease(l); err != nil {
		panic(fmt.Errorf("apply: grant lease %d: %w", l.ID, err))
	}
	return domain.Result{Revision: b.Rev()}
}

// applyRevoke revokes each lease in turn: its keys are deleted in one
// revision of its own and the lease is removed. A lease that no longer
// exists is skipped (an expiry can race with a client's revoke); when a
// single lease was asked for and is missing, the result says so.
func applyRevoke(b ports.Batch, ids []int64) domain.Result {
	res := domain.Result{Revision: b.Rev()}
	for _, id := range ids {
		if _, err := b.Lease(id); err != nil {
			if !errors.Is(err, domain.ErrLeaseNotFound) {
				panic(fmt.Errorf("apply: read lease %d: %w", id, err))
			}
			if len(ids) == 1 {
				res.Err = fmt.Errorf("lease %d: %w", id, err)
			}
			continue
		}
		keys, err := b.LeaseKeys(id)
		if err != nil {
			panic(fmt.Errorf("apply: keys of lease %d: %w", id, err))
		}
		for _, k := range keys {
			if _, err := b.DeleteRange(k, nil); err != nil {
				panic(fmt.Errorf("apply: delete %q of lease %d: %w", k, id, err))
			}
		}
		if err := b.DeleteLease(id); err != nil {
			panic(fmt.Errorf("apply: revoke lease %d: %w", id, err))
		}
		rev, events := b.EndRevision()
		res.Revision = rev
		res.Events = append(res.Events, events...)
	}
	return res
}

// applyCheckpoint records remaining TTLs of the leases that still exist.
func applyCheckpoint(b ports.Batch, cps []domain.Lease) domain.Result {
	for _, cp := range cps {
		l, err := b.Lease(cp.ID)
		if errors.Is(err, domain.ErrLeaseNotFound) {
			continue
		}
		if err != nil {
			panic(fmt.Errorf("apply: read lease %d: %w", cp.ID, err))
		}
		l.RemainingTTL = max(cp.RemainingTTL, 0)
		if err := b.PutLease(l); err != nil {
			panic(fmt.Errorf("apply: checkpoint lease %d: %w", cp.ID, err))
		}
	}
	return domain.Result{Revision: b.Rev()}
}
