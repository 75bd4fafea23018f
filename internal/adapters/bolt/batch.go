package bolt

import (
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/failpoint"
	"github.com/cairnkv/cairn/internal/ports"
)

// batch is the single write transaction. It implements ports.Batch.
//
// It writes records into its bbolt write txn and updates the shared index in
// place (under mu, briefly); Views ignore index entries above their
// revision, so they never see its uncommitted revisions.
type batch struct {
	b    *Backend
	tx   *bbolt.Tx
	keys *bbolt.Bucket
	// st is the state as of the last EndRevision (Rev, CompactRev, the
	// applied entry, the cluster ID and the live key count).
	st state
	// sub is the next sub-revision of the pending revision st.rev+1; 0
	// means nothing was written since the last EndRevision.
	sub    int64
	events []domain.Event
	// pendingKeys is the live key count including the pending revision.
	pendingKeys int64
	// dead are the records Compact deleted, for a defragmentation that
	// copies the file meanwhile (defrag.go).
	dead []deadRev
	// written counts the bytes of the records written (mapped.go).
	written int64
	dirty   bool // something to commit
	done    bool
}

// pending returns the revision the next write belongs to.
func (bt *batch) pending() int64 { return bt.st.rev + 1 }

// Range reads at opts.Rev; 0 reads the latest state including the writes
// of the pending revision, and the result's Rev is then that revision.
func (bt *batch) Range(key, end []byte, opts ports.RangeOptions) (ports.RangeResult, error) {
	if bt.done {
		return ports.RangeResult{}, errBatchDone
	}
	atRev, err := checkRev(opts.Rev, bt.st.rev, bt.st.compactRev)
	if err != nil {
		return ports.RangeResult{}, err
	}
	if opts.Rev == 0 && bt.sub > 0 {
		atRev = bt.pending()
	}
	return rangeKeys(bt.b, nil, bt.keys, key, end, atRev, opts)
}

// Rev returns the last completed revision: the committed one at Begin,
// then the one returned by each EndRevision that closed a write.
func (bt *batch) Rev() int64 { return bt.st.rev }

// CompactRev returns the compact revision, including a Compact of this
// batch.
func (bt *batch) CompactRev() int64 { return bt.st.compactRev }

// Put writes a new version of key at the pending revision and moves the
// key from the lease of its live generation (if any) to lease (if not 0).
func (bt *batch) Put(key, value []byte, lease int64) error {
	if bt.done {
		return errBatchDone
	}
	value = failpoint.CorruptValue(value) // value itself without the failpoints build tag
	idx := bt.b.idx                       // only the batch changes the index: no lock to read it
	r := revision{main: bt.pending(), sub: bt.sub}
	kv := domain.KeyValue{Key: key, Value: value, CreateRevision: r.main, ModRevision: r.main, Version: 1, Lease: lease}
	var prevLease int64
	ki := idx.get(key)
	if ki != nil && ki.live() {
		kv.CreateRevision, kv.Version = ki.created, ki.ver+1
		prevLease = ki.lease
	}
	// bbolt keeps the key and value until the txn ends: one fresh buffer
	// holds both.
	buf := make([]byte, 0, revKeyLen+kvSizeMax(key, value))
	buf = appendRevKey(buf, r, false)
	rk := len(buf)
	buf = appendKV(buf, &kv)
	if err := bt.keys.Put(buf[:rk:rk], buf[rk:]); err != nil {
		return fmt.Errorf("bolt: put %q: %w", key, err)
	}
	bt.written += int64(len(buf))
	if err := bt.attach(key, prevLease, lease); err != nil {
		return err
	}
	bt.b.mu.Lock()
	if ki == nil {
		ki = idx.insert(key)
	}
	ki.put(r, lease)
	bt.b.mu.Unlock()
	if kv.Version == 1 {
		bt.pendingKeys++
	}
	ev, _ := decodeKV(buf[rk:], false) // aliases buf, which nobody changes
	bt.events = append(bt.events, domain.Event{Type: domain.EventPut, Kv: ev})
	bt.sub++
	bt.dirty = true
	return nil
}

// DeleteRange writes a tombstone at the pending revision for each live key
// in the range, detaches it from its lease and returns how many it wrote.
func (bt *batch) DeleteRange(key, end []byte) (int64, error) {
	if bt.done {
		return 0, errBatchDone
	}
	main := bt.pending()
	var n int64
	var err error
	var row []byte // lease_keys row scratch
	bt.b.mu.Lock()
	defer bt.b.mu.Unlock()
	bt.b.idx.ascend(key, end, func(ki *keyIndex) bool {
		if !ki.live() {
			return true
		}
		r := revision{main: main, sub: bt.sub}
		kv := domain.KeyValue{Key: []byte(ki.key), ModRevision: main}
		buf := make([]byte, 0, revKeyLen+1+kvSizeMax(kv.Key, nil))
		buf = appendRevKey(buf, r, true)
		rk := len(buf)
		buf = appendKV(buf, &kv)
		if err = bt.keys.Put(buf[:rk:rk], buf[rk:]); err != nil {
			err = fmt.Errorf("bolt: delete %q: %w", ki.key, err)
			return false
		}
		bt.written += int64(len(buf))
		if row, err = bt.detach(row, kv.Key, ki.lease); err != nil {
			return false
		}
		ki.tombstone(r)
		ev, _ := decodeKV(buf[rk:], false) // aliases buf, which nobody changes
		ev.Value = nil
		bt.events = append(bt.events, domain.Event{Type: domain.EventDelete, Kv: ev})
		bt.sub++
		n++
		return true
	})
	bt.pendingKeys -= n
	if n > 0 {
		bt.dirty = true
	}
	return n, err
}

// EndRevision closes the pending revision if anything was written to it.
func (bt *batch) EndRevision() (int64, []domain.Event) {
	if bt.sub == 0 {
		return bt.st.rev, nil
	}
	bt.st.rev++
	bt.st.keys = bt.pendingKeys
	bt.sub = 0
	evs := bt.events
	bt.events = nil
	return bt.st.rev, evs
}

// PutMember records m in the member registry.
func (bt *batch) PutMember(m domain.Member) error {
	if bt.done {
		return errBatchDone
	}
	if err := putMember(bt.tx, m); err != nil {
		return err
	}
	bt.dirty = true
	return nil
}

// SetClusterID records id unless a cluster ID is recorded already (or id
// is 0).
func (bt *batch) SetClusterID(id uint64) error {
	if bt.done {
		return errBatchDone
	}
	if bt.st.clusterID == 0 && id != 0 {
		bt.st.clusterID = id
		bt.dirty = true
	}
	return nil
}

// AuthState returns the auth configuration, including the batch's own
// PutAuthState, decoded into memory the caller owns.
func (bt *batch) AuthState() (domain.AuthState, error) {
	if bt.done {
		return domain.AuthState{}, errBatchDone
	}
	return readAuth(bt.tx)
}

// PutAuthState replaces the auth configuration. It is no revision and no
// event.
func (bt *batch) PutAuthState(s domain.AuthState) error {
	if bt.done {
		return errBatchDone
	}
	v, err := encodeAuth(s)
	if err != nil {
		return err
	}
	if err := bt.tx.Bucket(authBucket).Put(authStateKey, v); err != nil {
		return fmt.Errorf("bolt: put auth state: %w", err)
	}
	bt.dirty = true
	return nil
}

// SetApplied records the last applied Raft entry, committed with the data.
func (bt *batch) SetApplied(index, term uint64) {
	bt.st.appliedIndex, bt.st.appliedTerm = index, term
	bt.dirty = true
}

// Commit ends a revision left open, writes the meta and commits the bbolt
// txn (one fsync), then publishes the new state to Views. After a failed
// commit the index is rebuilt from the database. In a build with the
// failpoints tag, the disk-stall failpoint can hold the commit (package
// failpoint).
func (bt *batch) Commit() error {
	if bt.done {
		return errBatchDone
	}
	bt.EndRevision()
	bt.done = true
	b := bt.b
	if b.open.Load() != bt {
		return errClosed // Close rolled the batch back
	}
	// The batch stays registered as open until the new state is published,
	// so that the next Begin starts from it.
	defer b.endBatch(bt)
	if !bt.dirty {
		return bt.tx.Rollback()
	}
	db := bt.tx.DB()
	err := writeMeta(bt.tx, bt.st)
	if err == nil {
		failpoint.DiskStall(failpoint.SiteState) // nothing without the failpoints build tag
		err = bt.tx.Commit()
	} else {
		_ = bt.tx.Rollback()
	}
	if err != nil {
		if lerr := b.load(); lerr != nil {
			return fmt.Errorf("bolt: commit: %w (and reload: %v)", err, lerr)
		}
		return fmt.Errorf("bolt: commit: %w", err)
	}
	b.mu.Lock()
	b.cur = bt.st
	b.catchUpIndex()
	b.mu.Unlock()
	if len(bt.dead) > 0 {
		b.defrag.compacted(bt.dead)
	}
	if b.unreleased += bt.written; b.unreleased >= releaseEvery {
		b.unreleased = 0
		releaseMapped(db)
	}
	return nil
}
