package bolt

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Hash returns the CRC-32C of every record with a main revision <= rev (0:
// the latest committed), keys and values in revision order, followed by the
// compact revision as 8 big-endian bytes. The lease table and the auth
// configuration are not hashed: they change without a new revision (see
// DESIGN.md, "Hash"); the lease of each version is, in its record. It
// returns a *domain.CompactedError below the compact revision and
// domain.ErrFutureRevision above the store revision.
func (b *Backend) Hash(rev int64) (hash uint32, atRev int64, compactRev int64, err error) {
	b.stateMu.RLock()
	defer b.stateMu.RUnlock()
	if b.closed {
		return 0, 0, 0, errClosed
	}
	tx, err := b.db.Begin(false)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("bolt: hash: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	st, err := readMeta(tx)
	if err != nil {
		return 0, 0, 0, err
	}
	if atRev, err = checkRev(rev, st.rev, st.compactRev); err != nil {
		return 0, 0, st.compactRev, err
	}
	h := crc32.New(castagnoli)
	c := tx.Bucket(keyBucket).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if int64(binary.BigEndian.Uint64(k)) > atRev {
			break
		}
		h.Write(k)
		h.Write(v)
	}
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(st.compactRev)))
	return h.Sum32(), atRev, st.compactRev, nil
}
