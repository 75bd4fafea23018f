package bolt

import (
	"fmt"
	"slices"

	"github.com/cairnkv/cairn/internal/domain"
)

// deadRev is a record that compaction deletes.
type deadRev struct {
	r    revision
	tomb bool
}

// Compact deletes from the database every version not visible at rev or
// later. The index is compacted later, once no View can still read below
// rev (see Backend.catchUpIndex and DESIGN.md).
func (bt *batch) Compact(rev int64) error {
	if bt.done {
		return errBatchDone
	}
	if rev <= bt.st.compactRev {
		return &domain.CompactedError{CompactRevision: bt.st.compactRev}
	}
	if rev > bt.st.rev {
		return domain.ErrFutureRevision
	}
	// The index may lag a previous compaction; its extra revisions are
	// already gone from the database and deleting them again is a no-op.
	var dead []deadRev
	bt.b.idx.tree.Ascend(func(ki *keyIndex) bool {
		ki.compact(rev, false, func(r revision, tomb bool) {
			dead = append(dead, deadRev{r: r, tomb: tomb})
		})
		return true
	})
	slices.SortFunc(dead, func(a, b deadRev) int {
		if a.r.less(b.r) {
			return -1
		}
		return 1
	})
	var kb [revKeyLen + 1]byte
	for _, d := range dead {
		if err := bt.keys.Delete(appendRevKey(kb[:0], d.r, d.tomb)); err != nil {
			return fmt.Errorf("bolt: compact %d: delete %d.%d: %w", rev, d.r.main, d.r.sub, err)
		}
	}
	if bt.dead == nil {
		bt.dead = dead
	} else {
		bt.dead = append(bt.dead, dead...)
	}
	bt.st.compactRev = rev
	bt.dirty = true
	return nil
}
