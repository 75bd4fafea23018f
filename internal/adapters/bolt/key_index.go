package bolt

import "sort"

// generation is one life of a key: from the put that created it to the
// tombstone that ended it, if any.
//
// revs holds the kept revisions in ascending order. When deleted is true the
// last of them is the tombstone. Compaction trims the front of revs, so
// created and ver are kept apart: created is the main revision of the put
// that started the generation and ver the version of its newest put. lease
// is the lease of its newest put (0: none): the lease the key is attached
// to while the generation is live, which Put and DeleteRange detach it
// from without reading the record.
type generation struct {
	created int64
	ver     int64
	lease   int64
	revs    []revision
	deleted bool
}

// keyIndex holds the generations of one key, oldest first. Only the last
// generation can be live (not deleted). For example, after
//
//	put(k)@2 put(k)@3 delete(k)@4 put(k)@5.0 put(k)@5.1
//
// the generations of k are
//
//	{created:2 ver:2 revs:[2.0 3.0 4.0(t)] deleted}
//	{created:5 ver:2 revs:[5.0 5.1]}
type keyIndex struct {
	key  []byte
	gens []generation
}

// live returns the live generation of the key, or nil when the key is
// deleted (or was never written).
func (ki *keyIndex) live() *generation {
	if len(ki.gens) == 0 {
		return nil
	}
	g := &ki.gens[len(ki.gens)-1]
	if g.deleted {
		return nil
	}
	return g
}

// put records a put at r with the given lease: the next version of the live
// generation, or a new generation at version 1.
func (ki *keyIndex) put(r revision, lease int64) {
	if g := ki.live(); g != nil {
		g.revs = append(g.revs, r)
		g.ver++
		g.lease = lease
		return
	}
	ki.gens = append(ki.gens, generation{created: r.main, ver: 1, lease: lease, revs: []revision{r}})
}

// tombstone ends the live generation at r. The caller checks live() first.
func (ki *keyIndex) tombstone(r revision) {
	g := ki.live()
	g.revs = append(g.revs, r)
	g.deleted = true
}

// at returns the revision of the version visible at main revision atRev.
// Revisions above atRev (uncommitted ones included) are ignored.
func (ki *keyIndex) at(atRev int64) (revision, bool) {
	for i := len(ki.gens) - 1; i >= 0; i-- {
		g := &ki.gens[i]
		if g.revs[0].main > atRev {
			continue
		}
		j := sort.Search(len(g.revs), func(j int) bool { return g.revs[j].main > atRev }) - 1
		if g.deleted && j == len(g.revs)-1 {
			return revision{}, false // deleted at or before atRev
		}
		return g.revs[j], true
	}
	return revision{}, false
}

// compact reports to drop every revision that is not visible at atRev or
// later: in each generation, everything older than the newest revision at
// or below atRev, and a whole generation whose tombstone is at or below
// atRev. With apply it also removes them; the caller then deletes the key
// from the tree when it has no generation left.
//
// Compacting {created:2 revs:[2 3 4(t)] deleted} {created:5 revs:[5 7]}
//
//	at 3: drops 2        keeps [3 4(t)] [5 7]
//	at 4: drops 2 3 4(t) keeps [5 7]
//	at 6: drops 2 3 4(t) keeps [5 7]  (5 is visible at 6)
func (ki *keyIndex) compact(atRev int64, apply bool, drop func(r revision, tomb bool)) {
	gone := 0 // whole generations dropped, at the front
	for i := range ki.gens {
		g := &ki.gens[i]
		if g.revs[0].main > atRev {
			break
		}
		last := len(g.revs) - 1
		if g.deleted && g.revs[last].main <= atRev {
			for j, r := range g.revs {
				drop(r, j == last)
			}
			gone++
			continue
		}
		j := sort.Search(len(g.revs), func(j int) bool { return g.revs[j].main > atRev }) - 1
		for _, r := range g.revs[:j] {
			drop(r, false)
		}
		if apply && j > 0 {
			n := copy(g.revs, g.revs[j:])
			clear(g.revs[n:])
			g.revs = g.revs[:n]
		}
		break // later generations start after atRev
	}
	if apply && gone > 0 {
		n := copy(ki.gens, ki.gens[gone:])
		clear(ki.gens[n:])
		ki.gens = ki.gens[:n]
	}
}

// restore appends a revision read back from the database during a rebuild.
// create, ver and lease come from the record of a put.
func (ki *keyIndex) restore(r revision, tomb bool, create, ver, lease int64) bool {
	g := ki.live()
	switch {
	case tomb && g == nil:
		return false
	case tomb:
		g.revs = append(g.revs, r)
		g.deleted = true
	case g == nil:
		ki.gens = append(ki.gens, generation{created: create, ver: ver, lease: lease, revs: []revision{r}})
	default:
		g.revs = append(g.revs, r)
		g.ver, g.lease = ver, lease
	}
	return true
}
