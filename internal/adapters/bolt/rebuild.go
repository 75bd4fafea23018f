package bolt

import (
	"fmt"
	"slices"
	"strings"

	"go.etcd.io/bbolt"
)

// rebuildIndex builds the index from the records of the key bucket, read
// in revision order with c. keysHint is an estimate of the number of keys
// (0: none).
//
// It finds each record's keyIndex in a map rather than in the btree, and
// inserts the keyIndexes into the btree at the end, sorted by key. A
// lookup and an insert into a btree of a million keys, at random places,
// cost two searches of 20 comparisons, where the map costs one hash, and
// the sorted inserts all go down the tree's right edge. The map is
// dropped when the rebuild ends; its keys are the keyIndexes' own.
func rebuildIndex(c *bbolt.Cursor, keysHint int) (*index, error) {
	byKey := make(map[string]*keyIndex, keysHint)
	var all []*keyIndex
	var last *keyIndex
	for k, v := c.First(); k != nil; k, v = c.Next() {
		r, tomb, err := parseRevKey(k)
		if err != nil {
			return nil, err
		}
		kv, err := decodeKV(v, false)
		if err != nil {
			return nil, fmt.Errorf("bolt: load revision %d.%d: %w", r.main, r.sub, err)
		}
		ki := last
		if ki == nil || ki.key != string(kv.Key) {
			if ki = byKey[string(kv.Key)]; ki == nil {
				ki = &keyIndex{key: string(kv.Key)}
				byKey[ki.key] = ki
				all = append(all, ki)
			}
		}
		if !ki.restore(r, tomb, kv.CreateRevision, kv.Version, kv.Lease) {
			return nil, fmt.Errorf("%w: tombstone of deleted key %q at %d.%d", errCorrupt, kv.Key, r.main, r.sub)
		}
		last = ki
	}
	byKey = nil
	slices.SortFunc(all, func(a, b *keyIndex) int { return strings.Compare(a.key, b.key) })
	if len(all) == 0 {
		return newIndex(), nil
	}
	idx := newIndex()
	for i, ki := range all {
		idx.tree.ReplaceOrInsert(ki)
		all[i] = nil
	}
	return idx, nil
}

// keysHint estimates the number of keys of a store from its revisions
// (one key changed per revision, the common case) and its file size (a
// record takes 64 bytes at least, page overhead included), so that the
// rebuild's map is made once rather than grown by doubling.
func keysHint(st state, fileSize int64) int {
	return int(max(min(st.rev-st.compactRev, fileSize/64, 1<<24), 0))
}
