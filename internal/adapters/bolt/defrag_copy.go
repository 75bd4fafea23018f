package bolt

import (
	"bytes"
	"fmt"

	"go.etcd.io/bbolt"
)

// The copy of a defragmentation (defrag.go). The key bucket is copied
// forward from d.next: its records are keyed by revision, a commit only
// appends records above every key there, and only a compaction deletes
// (records below its revision, handed over by defragState.compacted). The
// other buckets are small and compared whole at the end of each pass.
//
//	old key bucket   2_0 3_0 4_0 5_0 | 6_0 7_0       (a batch commits 6, 7)
//	copy             2_0 3_0 4_0 5_0   next = 5_0+0x00
//	next step        seek(next) -> 6_0 7_0; end of bucket: sync meta, members, ...
//	compaction at 4 (2_0 3_0 dead)  -> deleted from the copy at the next step

// step copies, in one write txn of the copy, the records of the key
// bucket from d.next on (at most limit bytes of them; 0: no limit), after
// deleting the records of the compactions committed since the last step.
// When it reaches the end of the key bucket it also makes every other
// bucket of the copy equal to the old file's, and reports done.
//
// Order matters: the compactions are taken before the read txn of the old
// file begins, so that every record they deleted is either in the copy
// already (and deleted now) or absent from this read txn and every later
// one (a record not copied yet is read from a later txn, past next).
func (d *defrag) step(limit int) (done bool, err error) {
	dead := d.b.defrag.takeDead()
	src, err := d.beginSrc()
	if err != nil {
		return false, err
	}
	// The copy's txn holds keys and values that point into the old file's
	// map: it ends (commits) before the read txn that maps them.
	defer func() { _ = src.Rollback() }()
	dst, err := d.dst.Begin(true)
	if err != nil {
		return false, fmt.Errorf("bolt: defragment: %w", err)
	}
	defer func() { _ = dst.Rollback() }() // a no-op after Commit

	keys := dst.Bucket(keyBucket)
	// Records are appended in key order: pages filled whole, as a batch
	// fills them (keyFillPercent, see Begin).
	keys.FillPercent = keyFillPercent
	var kb [revKeyLen + 1]byte
	for _, list := range dead {
		for _, r := range list {
			if err := keys.Delete(appendRevKey(kb[:0], r.r, r.tomb)); err != nil {
				return false, fmt.Errorf("bolt: defragment: delete compacted %d.%d: %w", r.r.main, r.r.sub, err)
			}
		}
	}
	c := src.Bucket(keyBucket).Cursor()
	k, v := c.First()
	if d.next != nil {
		k, v = c.Seek(d.next)
	}
	var last []byte
	n := 0
	for ; k != nil; k, v = c.Next() {
		if limit > 0 && n >= limit {
			break
		}
		if err := keys.Put(k, v); err != nil {
			return false, fmt.Errorf("bolt: defragment: copy %x: %w", k, err)
		}
		n += len(k) + len(v)
		d.records++
		last = k
	}
	done = k == nil
	if last != nil {
		// The smallest key above last: where the next step seeks.
		d.next = append(append(d.next[:0], last...), 0)
	}
	if done {
		if err := syncBuckets(dst, src); err != nil {
			return false, err
		}
	}
	if err := dst.Commit(); err != nil {
		return false, fmt.Errorf("bolt: defragment: commit %s: %w", d.tmp, err)
	}
	d.bytes += int64(n)
	d.unsynced += n
	return done, nil
}

// beginSrc opens a read txn of the old file, unless the store was closed
// or replaced by a Restore meanwhile.
func (d *defrag) beginSrc() (*bbolt.Tx, error) {
	b := d.b
	b.stateMu.RLock()
	defer b.stateMu.RUnlock()
	switch {
	case b.closed:
		return nil, errClosed
	case b.db != d.src:
		return nil, errReplaced
	}
	tx, err := d.src.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("bolt: defragment: %w", err)
	}
	return tx, nil
}

// syncBuckets makes every top-level bucket of dst but the key bucket
// equal to src's: meta, members, leases, lease_keys, auth, alarms and any
// other, and drops those src does not have.
func syncBuckets(dst, src *bbolt.Tx) error {
	err := src.ForEach(func(name []byte, sb *bbolt.Bucket) error {
		if bytes.Equal(name, keyBucket) {
			return nil
		}
		db, err := dst.CreateBucketIfNotExists(name)
		if err != nil {
			return err
		}
		return syncBucket(db, sb)
	})
	if err != nil {
		return fmt.Errorf("bolt: defragment: copy buckets: %w", err)
	}
	var gone [][]byte
	_ = dst.ForEach(func(name []byte, _ *bbolt.Bucket) error {
		if src.Bucket(name) == nil {
			gone = append(gone, bytes.Clone(name))
		}
		return nil
	})
	for _, name := range gone {
		if err := dst.DeleteBucket(name); err != nil {
			return fmt.Errorf("bolt: defragment: drop bucket %s: %w", name, err)
		}
	}
	return nil
}

// syncBucket makes dst hold what src holds, nested buckets included, with
// one merge of the two cursors: it writes only the differences. (A bucket
// is not changed while a cursor walks it: the changes are collected first.)
func syncBucket(dst, src *bbolt.Bucket) error {
	type change struct {
		k, v []byte
		del  bool
	}
	var changes []change
	var nested, dropNested [][]byte
	empty := true
	isBucket := func(b *bbolt.Bucket, k, v []byte) bool { return v == nil && b.Bucket(k) != nil }
	sc, dc := src.Cursor(), dst.Cursor()
	sk, sv := sc.First()
	dk, dv := dc.First()
	for sk != nil || dk != nil {
		cmp := 0
		switch {
		case sk == nil:
			cmp = 1
		case dk == nil:
			cmp = -1
		default:
			cmp = bytes.Compare(sk, dk)
		}
		if dk != nil {
			empty = false
		}
		sBucket := cmp <= 0 && isBucket(src, sk, sv)
		dBucket := cmp >= 0 && isBucket(dst, dk, dv)
		switch {
		case cmp < 0 && sBucket:
			nested = append(nested, sk)
		case cmp < 0:
			changes = append(changes, change{k: sk, v: sv})
		case cmp > 0 && dBucket:
			dropNested = append(dropNested, bytes.Clone(dk))
		case cmp > 0:
			changes = append(changes, change{k: bytes.Clone(dk), del: true})
		case sBucket && dBucket:
			nested = append(nested, sk)
		case sBucket: // a value became a bucket
			changes = append(changes, change{k: sk, del: true})
			nested = append(nested, sk)
		case dBucket: // a bucket became a value
			dropNested = append(dropNested, sk)
			changes = append(changes, change{k: sk, v: sv})
		case !bytes.Equal(sv, dv):
			changes = append(changes, change{k: sk, v: sv})
		}
		if cmp <= 0 {
			sk, sv = sc.Next()
		}
		if cmp >= 0 {
			dk, dv = dc.Next()
		}
	}
	if empty {
		dst.FillPercent = 1.0 // a first copy, in key order
	}
	for _, k := range dropNested {
		if err := dst.DeleteBucket(k); err != nil {
			return err
		}
	}
	for _, c := range changes {
		var err error
		if c.del {
			err = dst.Delete(c.k)
		} else {
			err = dst.Put(c.k, c.v)
		}
		if err != nil {
			return err
		}
	}
	for _, k := range nested {
		db, err := dst.CreateBucketIfNotExists(k)
		if err != nil {
			return err
		}
		if err := syncBucket(db, src.Bucket(k)); err != nil {
			return err
		}
	}
	return nil
}
