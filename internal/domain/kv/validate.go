package kv

import (
	"bytes"

	"github.com/cairnkv/cairn/internal/domain"
)

func validateKey(key, rangeEnd []byte) error {
	if len(key) == 0 {
		if len(rangeEnd) == 0 {
			return domain.InvalidArgument("key is empty")
		}
	}
	if len(key) > domain.MaxKeySize {
		return domain.InvalidArgument("key is %d bytes, more than the limit of %d", len(key), domain.MaxKeySize)
	}
	if len(rangeEnd) > domain.MaxKeySize {
		return domain.InvalidArgument("range_end is %d bytes, more than the limit of %d", len(rangeEnd), domain.MaxKeySize)
	}
	if len(rangeEnd) > 0 && !bytes.Equal(rangeEnd, []byte{0}) && bytes.Compare(rangeEnd, key) <= 0 {
		return domain.InvalidArgument("range_end must be greater than key")
	}
	return nil
}

func validateRange(r *domain.RangeRequest) error {
	if err := validateKey(r.Key, r.RangeEnd); err != nil {
		return err
	}
	switch {
	case r.Limit < 0:
		return domain.InvalidArgument("limit must be >= 0")
	case r.Revision < 0:
		return domain.InvalidArgument("revision must be >= 0")
	case r.MinModRevision < 0, r.MaxModRevision < 0, r.MinCreateRevision < 0, r.MaxCreateRevision < 0:
		return domain.InvalidArgument("revision filters must be >= 0")
	case r.SortOrder > domain.SortDescend:
		return domain.InvalidArgument("unknown sort order")
	case r.SortTarget > domain.SortByValue:
		return domain.InvalidArgument("unknown sort target")
	}
	return nil
}

func validatePut(p *domain.PutRequest) error {
	if err := validateKey(p.Key, nil); err != nil {
		return err
	}
	switch {
	case p.Lease < 0 || p.Lease > domain.MaxLeaseID:
		return domain.InvalidArgument("lease must be between 0 and %d", int64(domain.MaxLeaseID))
	case p.IgnoreLease && p.Lease != 0:
		return domain.InvalidArgument("lease and ignore_lease cannot be combined")
	case p.IgnoreValue && len(p.Value) != 0:
		return domain.InvalidArgument("a value and ignore_value cannot be combined")
	}
	return nil
}

func validateDelete(d *domain.DeleteRangeRequest) error {
	return validateKey(d.Key, d.RangeEnd)
}

// maxTxnDepth bounds the nesting of txns.
const maxTxnDepth = 8

func validateTxn(t *domain.TxnRequest, depth int) error {
	if depth > maxTxnDepth {
		return domain.InvalidArgument("txns are nested more than %d deep", maxTxnDepth)
	}
	if len(t.Compare) > domain.MaxTxnOps || len(t.Success) > domain.MaxTxnOps || len(t.Failure) > domain.MaxTxnOps {
		return domain.InvalidArgument("a txn has at most %d compares and %d ops per branch", domain.MaxTxnOps, domain.MaxTxnOps)
	}
	for i := range t.Compare {
		c := &t.Compare[i]
		if err := validateKey(c.Key, c.RangeEnd); err != nil {
			return err
		}
		if c.Target > domain.CompareLease {
			return domain.InvalidArgument("unknown compare target")
		}
		if c.Result > domain.CompareNotEqual {
			return domain.InvalidArgument("unknown compare result")
		}
	}
	for _, ops := range [][]domain.Op{t.Success, t.Failure} {
		if err := validateOps(ops, depth); err != nil {
			return err
		}
		if err := checkOverlap(ops); err != nil {
			return err
		}
	}
	return nil
}

func validateOps(ops []domain.Op, depth int) error {
	for i := range ops {
		op := &ops[i]
		n := 0
		var err error
		if op.Range != nil {
			n++
			err = validateRange(op.Range)
		}
		if op.Put != nil {
			n++
			err = validatePut(op.Put)
		}
		if op.Delete != nil {
			n++
			err = validateDelete(op.Delete)
		}
		if op.Txn != nil {
			n++
			err = validateTxn(op.Txn, depth+1)
		}
		if n != 1 {
			return domain.InvalidArgument("each txn op must have exactly one of get, put, delete or txn")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkOverlap rejects a branch that writes a key twice (a put and a put, or
// a put inside a delete), as etcd does: one revision holds one change per
// key. The writes of each branch of a nested txn are checked against the
// writes of this branch (the nested branches themselves are checked when
// validateTxn recurses).
func checkOverlap(ops []domain.Op) error {
	direct := writesOf(ops, false)
	if err := direct.conflict(direct); err != nil {
		return err
	}
	for _, op := range ops {
		if op.Txn == nil {
			continue
		}
		for _, br := range [][]domain.Op{op.Txn.Success, op.Txn.Failure} {
			if err := direct.conflict(writesOf(br, true)); err != nil {
				return err
			}
		}
	}
	return nil
}

type interval struct{ key, end []byte }

type writeSet struct {
	puts [][]byte
	dels []interval
}

// writesOf collects the puts and deletes of ops, and with deep those of
// nested txns too.
func writesOf(ops []domain.Op, deep bool) writeSet {
	var w writeSet
	for _, op := range ops {
		switch {
		case op.Put != nil:
			w.puts = append(w.puts, op.Put.Key)
		case op.Delete != nil:
			w.dels = append(w.dels, interval{op.Delete.Key, op.Delete.RangeEnd})
		case op.Txn != nil && deep:
			for _, br := range [][]domain.Op{op.Txn.Success, op.Txn.Failure} {
				n := writesOf(br, true)
				w.puts = append(w.puts, n.puts...)
				w.dels = append(w.dels, n.dels...)
			}
		}
	}
	return w
}

// conflict reports a key that w puts and o puts or deletes, or that o puts
// and w deletes. With o == w it compares distinct puts only.
func (w writeSet) conflict(o writeSet) error {
	same := len(w.puts) > 0 && len(o.puts) > 0 && &w.puts[0] == &o.puts[0]
	for i, p := range w.puts {
		for j, q := range o.puts {
			if same && j <= i {
				continue
			}
			if bytes.Equal(p, q) {
				return domain.InvalidArgument("key %q is put more than once in one txn", p)
			}
		}
		for _, d := range o.dels {
			if inRange(p, d.key, d.end) {
				return domain.InvalidArgument("key %q is both put and deleted in one txn", p)
			}
		}
	}
	if !same {
		for _, q := range o.puts {
			for _, d := range w.dels {
				if inRange(q, d.key, d.end) {
					return domain.InvalidArgument("key %q is both put and deleted in one txn", q)
				}
			}
		}
	}
	return nil
}

func inRange(k, key, end []byte) bool {
	switch {
	case len(end) == 0:
		return bytes.Equal(k, key)
	case bytes.Equal(end, []byte{0}):
		return bytes.Compare(k, key) >= 0
	}
	return bytes.Compare(k, key) >= 0 && bytes.Compare(k, end) < 0
}
