package bolt

import (
	"bytes"

	"github.com/google/btree"
)

// index maps each key to its keyIndex, in key order. It is not safe for
// concurrent use by itself: Backend.mu guards it (see DESIGN.md).
type index struct {
	tree *btree.BTreeG[*keyIndex]
}

func newIndex() *index {
	return &index{tree: btree.NewG(32, func(a, b *keyIndex) bool {
		return bytes.Compare(a.key, b.key) < 0
	})}
}

// get returns the keyIndex of key, or nil.
func (ix *index) get(key []byte) *keyIndex {
	ki, _ := ix.tree.Get(&keyIndex{key: key})
	return ki
}

// insert adds a keyIndex for key, which must not be in the index yet. It
// copies key.
func (ix *index) insert(key []byte) *keyIndex {
	ki := &keyIndex{key: bytes.Clone(key)}
	if ki.key == nil {
		ki.key = []byte{}
	}
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
		ix.tree.AscendGreaterOrEqual(&keyIndex{key: key}, fn)
	case bytes.Compare(key, end) < 0:
		ix.tree.AscendRange(&keyIndex{key: key}, &keyIndex{key: end}, fn)
	}
}

// compact drops from the index every revision not visible at atRev or
// later, and the keys left without generations.
func (ix *index) compact(atRev int64) {
	var empty []*keyIndex
	ix.tree.Ascend(func(ki *keyIndex) bool {
		ki.compact(atRev, true, func(revision, bool) {})
		if len(ki.gens) == 0 {
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
		if ki.live() != nil {
			n++
		}
		return true
	})
	return n
}
