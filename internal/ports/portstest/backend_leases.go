package portstest

import (
	"maps"
	"slices"

	"github.com/cairnkv/cairn/internal/domain"
)

// lease returns lease id of s, or domain.ErrLeaseNotFound.
func (s *fakeState) lease(id int64) (domain.Lease, error) {
	l, ok := s.Leases[id]
	if !ok {
		return domain.Lease{}, domain.ErrLeaseNotFound
	}
	return l, nil
}

// leaseKeys returns the keys attached to lease id, in key order; none when
// the lease does not exist.
func (s *fakeState) leaseKeys(id int64) [][]byte {
	if _, ok := s.Leases[id]; !ok {
		return nil
	}
	var keys [][]byte
	for _, k := range slices.Sorted(maps.Keys(s.Attached)) {
		if s.Attached[k] == id {
			keys = append(keys, []byte(k))
		}
	}
	return keys
}

func (v *fakeView) Lease(id int64) (domain.Lease, error) { return v.st.lease(id) }
func (v *fakeView) LeaseKeys(id int64) ([][]byte, error) { return v.st.leaseKeys(id), nil }

// Leases returns every lease, in ID order.
func (v *fakeView) Leases() ([]domain.Lease, error) {
	var ls []domain.Lease
	for _, id := range slices.Sorted(maps.Keys(v.st.Leases)) {
		ls = append(ls, v.st.Leases[id])
	}
	return ls, nil
}

func (bt *fakeBatch) Lease(id int64) (domain.Lease, error) {
	if bt.done {
		return domain.Lease{}, errBatchDone
	}
	return bt.st.lease(id)
}

func (bt *fakeBatch) LeaseKeys(id int64) ([][]byte, error) {
	if bt.done {
		return nil, errBatchDone
	}
	return bt.st.leaseKeys(id), nil
}

// PutLease creates or replaces the lease; its ID must be positive.
func (bt *fakeBatch) PutLease(l domain.Lease) error {
	if bt.done {
		return errBatchDone
	}
	if l.ID <= 0 {
		return domain.InvalidArgument("lease ID %d is not positive", l.ID)
	}
	bt.st.Leases[l.ID] = l
	return nil
}

// DeleteLease removes the lease and detaches the keys still attached to it;
// a missing lease is no error.
func (bt *fakeBatch) DeleteLease(id int64) error {
	if bt.done {
		return errBatchDone
	}
	delete(bt.st.Leases, id)
	maps.DeleteFunc(bt.st.Attached, func(_ string, l int64) bool { return l == id })
	return nil
}
