package bolt

import (
	"unsafe"

	"github.com/google/btree"
)

// index maps each key to its keyIndex, in key order. It is not safe for
// concurrent use by itself: Backend.mu guards it (see DESIGN.md).
type index struct {
	tree *btree.BTreeG[*keyIndex]
}

// indexDegree is the degree of the btree: nodes of up to 63 keys.
const indexDegree = 32

func newIndex() *index {
	return &index{tree: btree.NewG(indexDegree, lessKey)}
}

func lessKey(a, b *keyIndex) bool { return a.key < b.key }

// probe returns a keyIndex to look key up with. Its key aliases key: it
// must not outlive the lookup, nor be put in the tree.
func probe(key []byte) *keyIndex {
	return &keyIndex{key: unsafe.String(unsafe.SliceData(key), len(key))}
}

// get returns the keyIndex of key, or nil.
func (ix *index) get(key []byte) *keyIndex {
	ki, _ := ix.tree.Get(probe(key))
	return ki
}

// insert adds a keyIndex for key, which must not be in the index yet. It
// copies key.
func (ix *index) insert(key []byte) *keyIndex {
	ki := &keyIndex{key: string(key)}
	ix.tree.ReplaceOrInsert(ki)
	return ki
}

// ascend calls fn for each keyIndex in the range form (key, end) in key
// order until fn returns false: end empty is key alone, end "\x00" every
// key >= key, otherwise [key, end).
func (ix *index) ascend(key, end []byte, fn func(*keyIndex) bool) {
	switch {
	case len(end) == 0:
		if ki := ix.get(key); ki != nil {
			fn(ki)
		}
	case len(end) == 1 && end[0] == 0:
		ix.tree.AscendGreaterOrEqual(probe(key), fn)
	case string(key) < string(end):
		ix.tree.AscendRange(probe(key), probe(end), fn)
	}
}

// compact drops from the index every revision not visible at atRev or
// later, and the keys left without revisions.
func (ix *index) compact(atRev int64) {
	var empty []*keyIndex
	ix.tree.Ascend(func(ki *keyIndex) bool {
		ki.compact(atRev, true, func(revision, bool) {})
		if ki.empty() {
			empty = append(empty, ki)
		}
		return true
	})
	for _, ki := range empty {
		ix.tree.Delete(ki)
	}
}

// liveKeys counts the keys with a live generation.
func (ix *index) liveKeys() int64 {
	var n int64
	ix.tree.Ascend(func(ki *keyIndex) bool {
		if ki.live() {
			n++
		}
		return true
	})
	return n
}
