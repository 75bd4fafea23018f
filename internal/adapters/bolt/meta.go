package bolt

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/cairnkv/cairn/internal/domain"
)

// The buckets of the database.
var (
	keyBucket     = []byte("key")
	metaBucket    = []byte("meta")
	membersBucket = []byte("members")
	// leasesBucket maps a lease ID to its TTLs, leaseKeysBucket holds one
	// row per key attached to a lease (see lease.go).
	leasesBucket    = []byte("leases")
	leaseKeysBucket = []byte("lease_keys")
)

// The keys of the meta bucket; each value is an 8-byte big-endian integer.
var (
	metaAppliedIndex = []byte("applied_index")
	metaAppliedTerm  = []byte("applied_term")
	metaRev          = []byte("rev")
	metaCompactRev   = []byte("compact_rev")
	metaClusterID    = []byte("cluster_id")
)

// state is the committed state outside the key space: what Views capture
// and what Commit publishes.
type state struct {
	rev          int64
	compactRev   int64
	appliedIndex uint64
	appliedTerm  uint64
	clusterID    uint64
	keys         int64 // live keys at rev
}

// readMeta reads the meta bucket. A fresh store is at revision 1.
func readMeta(tx *bbolt.Tx) (state, error) {
	b := tx.Bucket(metaBucket)
	if b == nil {
		return state{}, fmt.Errorf("%w: no meta bucket", errCorrupt)
	}
	get := func(k []byte) uint64 {
		v := b.Get(k)
		if len(v) != 8 {
			return 0
		}
		return binary.BigEndian.Uint64(v)
	}
	st := state{
		rev:          int64(get(metaRev)),
		compactRev:   int64(get(metaCompactRev)),
		appliedIndex: get(metaAppliedIndex),
		appliedTerm:  get(metaAppliedTerm),
		clusterID:    get(metaClusterID),
	}
	if st.rev == 0 {
		st.rev = 1
	}
	return st, nil
}

// writeMeta writes st (but keys) into the meta bucket of a write txn.
func writeMeta(tx *bbolt.Tx, st state) error {
	b := tx.Bucket(metaBucket)
	for _, f := range []struct {
		k []byte
		v uint64
	}{
		{metaRev, uint64(st.rev)},
		{metaCompactRev, uint64(st.compactRev)},
		{metaAppliedIndex, st.appliedIndex},
		{metaAppliedTerm, st.appliedTerm},
		{metaClusterID, st.clusterID},
	} {
		if err := b.Put(f.k, binary.BigEndian.AppendUint64(nil, f.v)); err != nil {
			return fmt.Errorf("bolt: write meta %s: %w", f.k, err)
		}
	}
	return nil
}

// putMember records m in the members bucket of a write txn.
func putMember(tx *bbolt.Tx, m domain.Member) error {
	v, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("bolt: encode member %q: %w", m.Name, err)
	}
	if err := tx.Bucket(membersBucket).Put([]byte(m.Name), v); err != nil {
		return fmt.Errorf("bolt: put member %q: %w", m.Name, err)
	}
	return nil
}

// readMembers returns the members, ordered by name (the bucket's order).
func readMembers(tx *bbolt.Tx) ([]domain.Member, error) {
	var ms []domain.Member
	err := tx.Bucket(membersBucket).ForEach(func(k, v []byte) error {
		var m domain.Member
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("bolt: decode member %q: %w", k, err)
		}
		ms = append(ms, m)
		return nil
	})
	return ms, err
}

// Members returns the committed member registry, ordered by name.
func (b *Backend) Members() ([]domain.Member, error) {
	b.stateMu.RLock()
	defer b.stateMu.RUnlock()
	if b.closed {
		return nil, errClosed
	}
	var ms []domain.Member
	err := b.db.View(func(tx *bbolt.Tx) error {
		var err error
		ms, err = readMembers(tx)
		return err
	})
	return ms, err
}

// Applied returns the index and term of the last committed Raft entry, or
// (0, 0) for a fresh store.
func (b *Backend) Applied() (index, term uint64) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.cur.appliedIndex, b.cur.appliedTerm
}

// ClusterID returns the committed cluster ID, or 0.
func (b *Backend) ClusterID() uint64 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.cur.clusterID
}
