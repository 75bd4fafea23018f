package bolt

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/cairnkv/cairn/internal/domain"
)

// The lease table is two buckets, written in the batch's bbolt txn and read
// through the txn of a View or Batch (see DESIGN.md, "Leases"):
//
//	leases      id (8 bytes big-endian)       -> varint TTL | varint RemainingTTL
//	lease_keys  id (8 bytes big-endian) | key -> empty
//
// A lease_keys row exists for each live key whose latest put has a lease;
// the index keeps that lease in the key's live generation, so Put and
// DeleteRange find the row to remove without reading the record.

const leaseIDLen = 8

// appendLeaseID appends the bucket key of lease id to dst.
func appendLeaseID(dst []byte, id int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(id))
}

// encodeLease returns the leases bucket value of l.
func encodeLease(l domain.Lease) []byte {
	buf := make([]byte, 0, 2*binary.MaxVarintLen64)
	buf = binary.AppendVarint(buf, l.TTL)
	return binary.AppendVarint(buf, l.RemainingTTL)
}

// decodeLease decodes a leases bucket value of lease id.
func decodeLease(id int64, v []byte) (domain.Lease, error) {
	ttl, n := binary.Varint(v)
	if n <= 0 {
		return domain.Lease{}, fmt.Errorf("%w: lease %d", errCorrupt, id)
	}
	rem, m := binary.Varint(v[n:])
	if m <= 0 || n+m != len(v) {
		return domain.Lease{}, fmt.Errorf("%w: lease %d", errCorrupt, id)
	}
	return domain.Lease{ID: id, TTL: ttl, RemainingTTL: rem}, nil
}

// getLease reads lease id from tx.
func getLease(tx *bbolt.Tx, id int64) (domain.Lease, error) {
	var kb [leaseIDLen]byte
	v := tx.Bucket(leasesBucket).Get(appendLeaseID(kb[:0], id))
	if v == nil {
		return domain.Lease{}, domain.ErrLeaseNotFound
	}
	return decodeLease(id, v)
}

// listLeases reads every lease from tx, in ID order.
func listLeases(tx *bbolt.Tx) ([]domain.Lease, error) {
	var ls []domain.Lease
	err := tx.Bucket(leasesBucket).ForEach(func(k, v []byte) error {
		if len(k) != leaseIDLen {
			return fmt.Errorf("%w: lease key %x", errCorrupt, k)
		}
		l, err := decodeLease(int64(binary.BigEndian.Uint64(k)), v)
		if err != nil {
			return err
		}
		ls = append(ls, l)
		return nil
	})
	return ls, err
}

// leaseKeys returns copies of the keys attached to lease id in tx, in key
// order, with one prefix scan of lease_keys; none when the lease does not
// exist.
func leaseKeys(tx *bbolt.Tx, id int64) ([][]byte, error) {
	var kb [leaseIDLen]byte
	prefix := appendLeaseID(kb[:0], id)
	if tx.Bucket(leasesBucket).Get(prefix) == nil {
		return nil, nil
	}
	var keys [][]byte
	c := tx.Bucket(leaseKeysBucket).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, append([]byte{}, k[leaseIDLen:]...))
	}
	return keys, nil
}

// Lease returns lease id as of the view.
func (v *view) Lease(id int64) (domain.Lease, error) {
	if v.ended {
		return domain.Lease{}, fmt.Errorf("bolt: lease on an ended view")
	}
	return getLease(v.tx, id)
}

// LeaseKeys returns the keys attached to lease id as of the view.
func (v *view) LeaseKeys(id int64) ([][]byte, error) {
	if v.ended {
		return nil, fmt.Errorf("bolt: lease keys on an ended view")
	}
	return leaseKeys(v.tx, id)
}

// Leases returns every lease as of the view, in ID order.
func (v *view) Leases() ([]domain.Lease, error) {
	if v.ended {
		return nil, fmt.Errorf("bolt: leases on an ended view")
	}
	return listLeases(v.tx)
}

func (e errView) Lease(int64) (domain.Lease, error) { return domain.Lease{}, e.err }
func (e errView) LeaseKeys(int64) ([][]byte, error) { return nil, e.err }
func (e errView) Leases() ([]domain.Lease, error)   { return nil, e.err }

// Lease returns lease id, including the batch's own writes.
func (bt *batch) Lease(id int64) (domain.Lease, error) {
	if bt.done {
		return domain.Lease{}, errBatchDone
	}
	return getLease(bt.tx, id)
}

// LeaseKeys returns the keys attached to lease id, including the batch's
// own writes.
func (bt *batch) LeaseKeys(id int64) ([][]byte, error) {
	if bt.done {
		return nil, errBatchDone
	}
	return leaseKeys(bt.tx, id)
}

// PutLease creates or replaces lease l; the lease_keys rows are untouched.
// The ID must be positive, which keeps the big-endian keys in ID order.
func (bt *batch) PutLease(l domain.Lease) error {
	if bt.done {
		return errBatchDone
	}
	if l.ID <= 0 {
		return domain.InvalidArgument("lease ID %d is not positive", l.ID)
	}
	if err := bt.tx.Bucket(leasesBucket).Put(appendLeaseID(nil, l.ID), encodeLease(l)); err != nil {
		return fmt.Errorf("bolt: put lease %d: %w", l.ID, err)
	}
	bt.dirty = true
	return nil
}

// DeleteLease removes lease id, and the lease_keys rows of keys still
// attached to it, though the caller deletes those keys first. Deleting a
// lease that does not exist does nothing.
func (bt *batch) DeleteLease(id int64) error {
	if bt.done {
		return errBatchDone
	}
	var kb [leaseIDLen]byte
	prefix := appendLeaseID(kb[:0], id)
	if err := bt.tx.Bucket(leasesBucket).Delete(prefix); err != nil {
		return fmt.Errorf("bolt: delete lease %d: %w", id, err)
	}
	// Seek again after each delete: a bbolt cursor may skip the element
	// after one it deleted.
	c := bt.tx.Bucket(leaseKeysBucket).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return fmt.Errorf("bolt: delete lease %d: detach %q: %w", id, k[leaseIDLen:], err)
		}
	}
	bt.dirty = true
	return nil
}

// attach moves key from lease prev (0: none) to lease next (0: none) in
// lease_keys. The row of next is written when prev differs, or when it is
// missing (a DeleteLease of a lease that still had keys removed it).
func (bt *batch) attach(key []byte, prev, next int64) error {
	if prev == 0 && next == 0 {
		return nil
	}
	lk := bt.tx.Bucket(leaseKeysBucket)
	// bbolt may keep the key of a Put until the txn ends: a fresh buffer,
	// which a Delete (that keeps nothing) may use first.
	row := make([]byte, leaseIDLen, leaseIDLen+len(key))
	row = append(row, key...)
	if prev != 0 && prev != next {
		binary.BigEndian.PutUint64(row, uint64(prev))
		if err := lk.Delete(row); err != nil {
			return fmt.Errorf("bolt: put %q: detach from lease %d: %w", key, prev, err)
		}
	}
	if next == 0 {
		return nil
	}
	binary.BigEndian.PutUint64(row, uint64(next))
	if prev == next {
		if k, _ := lk.Cursor().Seek(row); bytes.Equal(k, row) {
			return nil
		}
	}
	if err := lk.Put(row, []byte{}); err != nil {
		return fmt.Errorf("bolt: put %q: attach to lease %d: %w", key, next, err)
	}
	return nil
}

// detach removes the lease_keys row of key and lease (a no-op when lease is
// 0 or the row is missing). buf is scratch space, returned for reuse.
func (bt *batch) detach(buf, key []byte, lease int64) ([]byte, error) {
	if lease == 0 {
		return buf, nil
	}
	buf = append(appendLeaseID(buf[:0], lease), key...)
	if err := bt.tx.Bucket(leaseKeysBucket).Delete(buf); err != nil {
		return buf, fmt.Errorf("bolt: delete %q: detach from lease %d: %w", key, lease, err)
	}
	return buf, nil
}
