package bolt

import (
	"bytes"
	"fmt"
	"sync"

	"go.etcd.io/bbolt"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
)

// view is a read txn of the committed store. It implements ports.View.
type view struct {
	b          *Backend
	tx         *bbolt.Tx
	keys       *bbolt.Bucket
	rev        int64
	compactRev int64
	reg        int64 // compact revision the view is registered under
	ended      bool
}

// Range implements ports.Reader.
func (v *view) Range(key, end []byte, opts ports.RangeOptions) (ports.RangeResult, error) {
	if v.ended {
		return ports.RangeResult{}, fmt.Errorf("bolt: range on an ended view")
	}
	atRev, err := checkRev(opts.Rev, v.rev, v.compactRev)
	if err != nil {
		return ports.RangeResult{}, err
	}
	return rangeKeys(v.b, &v.b.mu, v.keys, key, end, atRev, opts)
}

// Rev returns the revision of the view.
func (v *view) Rev() int64 { return v.rev }

// CompactRev returns the compact revision of the view.
func (v *view) CompactRev() int64 { return v.compactRev }

// End releases the read txn. It is safe to call twice.
func (v *view) End() {
	if v.ended {
		return
	}
	v.ended = true
	_ = v.tx.Rollback()
	v.b.endView(v.reg)
}

// errView is the View of a store that could not open one.
type errView struct{ err error }

func (e errView) Range([]byte, []byte, ports.RangeOptions) (ports.RangeResult, error) {
	return ports.RangeResult{}, e.err
}
func (e errView) Rev() int64        { return 0 }
func (e errView) CompactRev() int64 { return 0 }
func (e errView) End()              {}

// checkRev resolves the revision a read asks for (0: rev) against the
// reader's revision and compact revision.
func checkRev(want, rev, compactRev int64) (int64, error) {
	switch {
	case want == 0:
		return rev, nil
	case want < 0:
		return 0, domain.InvalidArgument("negative revision %d", want)
	case want < compactRev:
		return 0, &domain.CompactedError{CompactRevision: compactRev}
	case want > rev:
		return 0, domain.ErrFutureRevision
	}
	return want, nil
}

// rangeKeys answers a Range at atRev: it collects the visible revisions from
// the index (under mu shared when mu is not nil) and then reads their
// records from keys, copying them out of bbolt's memory.
func rangeKeys(b *Backend, mu *sync.RWMutex, keys *bbolt.Bucket, key, end []byte, atRev int64, opts ports.RangeOptions) (ports.RangeResult, error) {
	res := ports.RangeResult{Rev: atRev}
	var revs []revision
	if len(end) == 0 && !opts.CountOnly {
		revs = make([]revision, 0, 1)
	}
	limit := max(opts.Limit, 0)
	if opts.CountOnly {
		limit = -1
	}
	if mu != nil {
		mu.RLock()
	}
	if atRev < b.idxCompactRev { // never: see DESIGN.md, "Views and compaction"
		if mu != nil {
			mu.RUnlock()
		}
		return ports.RangeResult{}, &domain.CompactedError{CompactRevision: b.idxCompactRev}
	}
	b.idx.ascend(key, end, func(ki *keyIndex) bool {
		r, ok := ki.at(atRev)
		if !ok {
			return true
		}
		res.Count++
		if limit == 0 || int64(len(revs)) < limit {
			revs = append(revs, r)
		}
		return true
	})
	if mu != nil {
		mu.RUnlock()
	}
	if len(revs) == 0 {
		return res, nil
	}
	res.KVs = make([]domain.KeyValue, 0, len(revs))
	var kb [revKeyLen]byte
	c := keys.Cursor() // one cursor for all: Bucket.Get allocates one per call
	for _, r := range revs {
		rk := appendRevKey(kb[:0], r, false)
		k, data := c.Seek(rk)
		if !bytes.Equal(k, rk) {
			return ports.RangeResult{}, fmt.Errorf("%w: revision %d.%d in the index is not in the database", errCorrupt, r.main, r.sub)
		}
		kv, err := decodeKV(data, true)
		if err != nil {
			return ports.RangeResult{}, fmt.Errorf("bolt: range at %d.%d: %w", r.main, r.sub, err)
		}
		res.KVs = append(res.KVs, kv)
	}
	return res, nil
}
