package bolt

// keyIndex holds the kept revisions of one key, in ascending order, across
// its generations: a generation is one life of the key, from the put that
// created it to the tombstone that ended it, if any. A tombstone ends a
// generation, so the revisions alone say where each one ends, and only the
// newest generation needs more: its created revision, version and lease.
// For example, after
//
//	put(k)@2 put(k)@3 delete(k)@4 put(k)@5.0 put(k)@5.1
//
// k is
//
//	older: [2.0 3.0 4.0(t) 5.0]   last: 5.1   created:5 ver:2
//	        \_ generation 0 _/ \_ generation 1 (live) _/
//
// The newest revision is kept apart from the older ones (last), so that a
// key written once, the common case, costs one allocation for the keyIndex
// (80 bytes) and one for its key. The key is a string: the index holds it
// once, and the rebuild's map of keys (restore.go) shares it.
//
// Compaction trims the front of the revisions, so created and ver are kept
// apart: created is the main revision of the put that started the newest
// generation and ver the version of its newest put. lease is the lease of
// its newest put (0: none): the lease the key is attached to while the
// generation is live, which Put and DeleteRange detach it from without
// reading the record. The three describe the newest generation even once
// it is deleted, until a put starts the next one.
type keyIndex struct {
	key     string
	created int64
	ver     int64
	lease   int64
	// last is the newest kept revision (main 0: none; revisions start at
	// 2) and older the ones before it, oldest first.
	last  indexRev
	older []indexRev
}

// indexRev is a revision in the index with its tombstone mark: sub is
// shifted left by one, and its low bit set for a tombstone.
type indexRev struct {
	main int64
	subT int64
}

func newIndexRev(r revision, tomb bool) indexRev {
	ir := indexRev{main: r.main, subT: r.sub << 1}
	if tomb {
		ir.subT |= 1
	}
	return ir
}

func (ir indexRev) rev() revision { return revision{main: ir.main, sub: ir.subT >> 1} }
func (ir indexRev) tomb() bool    { return ir.subT&1 == 1 }

// empty reports whether the key has no revision kept (compaction removed
// them all, or it was never written).
func (ki *keyIndex) empty() bool { return ki.last.main == 0 }

// live reports whether the key exists at its newest revision: it has one,
// and it is not a tombstone. Then created, ver and lease describe its live
// generation.
func (ki *keyIndex) live() bool { return !ki.empty() && !ki.last.tomb() }

// nrevs returns the number of kept revisions.
func (ki *keyIndex) nrevs() int {
	if ki.empty() {
		return 0
	}
	return len(ki.older) + 1
}

// revAt returns the i-th kept revision, oldest first.
func (ki *keyIndex) revAt(i int) indexRev {
	if i == len(ki.older) {
		return ki.last
	}
	return ki.older[i]
}

// push appends ir as the newest revision.
func (ki *keyIndex) push(ir indexRev) {
	if !ki.empty() {
		ki.older = append(ki.older, ki.last)
	}
	ki.last = ir
}

// put records a put at r with the given lease: the next version of the live
// generation, or a new generation at version 1.
func (ki *keyIndex) put(r revision, lease int64) {
	if ki.live() {
		ki.ver++
	} else {
		ki.created, ki.ver = r.main, 1
	}
	ki.lease = lease
	ki.push(newIndexRev(r, false))
}

// tombstone ends the live generation at r. The caller checks live() first.
func (ki *keyIndex) tombstone(r revision) {
	ki.push(newIndexRev(r, true))
}

// newestAt returns the position of the newest kept revision at or below
// main revision atRev, or -1.
func (ki *keyIndex) newestAt(atRev int64) int {
	if ki.empty() {
		return -1
	}
	if ki.last.main <= atRev {
		return len(ki.older)
	}
	// older is sorted: binary search for the first above atRev.
	lo, hi := 0, len(ki.older)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if ki.older[m].main <= atRev {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo - 1
}

// at returns the revision of the version visible at main revision atRev:
// the newest revision at or below atRev, unless it is a tombstone (the key
// is deleted at atRev) or there is none (it did not exist yet, or that
// history is compacted). Revisions above atRev (uncommitted ones included)
// are ignored.
func (ki *keyIndex) at(atRev int64) (revision, bool) {
	j := ki.newestAt(atRev)
	if j < 0 {
		return revision{}, false
	}
	ir := ki.revAt(j)
	if ir.tomb() {
		return revision{}, false
	}
	return ir.rev(), true
}

// compact reports to drop every revision that is not visible at atRev or
// later: everything older than the newest revision at or below atRev, and
// that one too when it is a tombstone (its generation is over: a whole
// generation whose tombstone is at or below atRev goes). With apply it
// also removes them; the caller then deletes the key from the tree when it
// has no revision left (empty).
//
// Compacting 2 3 4(t) | 5 7 (two generations)
//
//	at 3: drops 2        keeps 3 4(t) | 5 7
//	at 4: drops 2 3 4(t) keeps 5 7
//	at 6: drops 2 3 4(t) keeps 5 7   (5 is visible at 6)
func (ki *keyIndex) compact(atRev int64, apply bool, drop func(r revision, tomb bool)) {
	j := ki.newestAt(atRev)
	if j < 0 {
		return
	}
	n := j // revisions dropped, at the front
	if ki.revAt(j).tomb() {
		n = j + 1
	}
	for i := range n {
		ir := ki.revAt(i)
		drop(ir.rev(), ir.tomb())
	}
	if !apply || n == 0 {
		return
	}
	if n == ki.nrevs() {
		ki.last, ki.older = indexRev{}, nil
		return
	}
	kept := copy(ki.older, ki.older[n:])
	clear(ki.older[kept:])
	ki.older = ki.older[:kept]
	if kept == 0 {
		ki.older = nil
	}
}

// restore appends a revision read back from the database during a rebuild.
// create, ver and lease come from the record of a put. It fails on a
// tombstone of a key that is not live.
func (ki *keyIndex) restore(r revision, tomb bool, create, ver, lease int64) bool {
	if tomb {
		if !ki.live() {
			return false
		}
	} else {
		ki.created, ki.ver, ki.lease = create, ver, lease
	}
	ki.push(newIndexRev(r, tomb))
	return true
}
