package ports

import (
	"io"
	"time"

	"github.com/cairnkv/cairn/internal/domain"
)

// RangeOptions bound a Range.
//
// Rev is the revision to read at (0: the latest). Limit caps the number of
// kvs returned (0: no cap); the Count of the result is the number of keys in
// the range regardless of Limit. With CountOnly no kvs are returned.
type RangeOptions struct {
	Rev       int64
	Limit     int64
	CountOnly bool
}

// RangeResult is the answer of Reader.Range. KVs are in ascending key order;
// Rev is the revision that was read.
type RangeResult struct {
	KVs   []domain.KeyValue
	Count int64
	Rev   int64
}

// Reader reads the key space.
type Reader interface {
	// Range returns the live keys in [key, end) at opts.Rev. An empty end
	// reads key alone; end "\x00" reads every key >= key. It returns a
	// *domain.CompactedError when opts.Rev is below the compact revision and
	// domain.ErrFutureRevision when it is above Rev().
	Range(key, end []byte, opts RangeOptions) (RangeResult, error)
	// Rev returns the latest revision the reader sees.
	Rev() int64
	// CompactRev returns the revision history has been compacted to (0 if
	// never compacted).
	CompactRev() int64
	// Lease returns the lease with the given ID, or domain.ErrLeaseNotFound.
	Lease(id int64) (domain.Lease, error)
	// LeaseKeys returns the live keys attached to the lease, in key order
	// (none for a lease that does not exist).
	LeaseKeys(id int64) ([][]byte, error)
}

// View is a consistent read-only view of the store. It must be ended.
type View interface {
	Reader
	// Events returns the changes of the keys in [key, end) (range forms as
	// in Range) with a main revision in [from, to], in revision order (main,
	// then sub). It stops after the first revision at which at least limit
	// events have been collected (a revision is never split, so it may
	// return more than limit), and returns next: the first revision it did
	// not scan (to+1 when it scanned everything). to is capped at Rev().
	// limit <= 0 means no limit. A put event has the full KeyValue; a delete
	// event has Key and ModRevision (the delete's revision) only. PrevKv is
	// always nil. It returns a *domain.CompactedError when from is below
	// CompactRev() (from == CompactRev() is fine). maxBytes bounds the keys
	// and values collected the same way limit bounds the events (<= 0: no
	// bound), so that a reader of large values holds a bounded batch.
	Events(from, to int64, key, end []byte, limit, maxBytes int) (events []domain.Event, next int64, err error)
	// Leases returns every lease, in ID order.
	Leases() ([]domain.Lease, error)
	// End releases the view.
	End()
}

// Batch is the write transaction for one batch of Raft entries. The state
// machine is its only user; there is never more than one open.
//
// Writes are grouped into revisions: every Put and DeleteRange until the
// next EndRevision belong to the same revision (with increasing
// sub-revisions). Reads through the Batch see its own writes.
type Batch interface {
	Reader
	// Put writes a new version of key. A key that does not exist (or was
	// deleted) starts a new generation at version 1. The key is attached to
	// lease (when not 0) and detached from the lease its previous version
	// had; the caller checks that the lease exists.
	Put(key, value []byte, lease int64) error
	// DeleteRange deletes the live keys in [key, end) (range forms as in
	// Range) by writing tombstones, detaches them from their leases, and
	// returns how many it deleted.
	DeleteRange(key, end []byte) (int64, error)
	// EndRevision closes the current revision. If any Put or DeleteRange
	// wrote since the last EndRevision, the store revision advances by one.
	// It returns the store revision and the events of the closed revision.
	EndRevision() (int64, []domain.Event)
	// Compact drops every version that is not visible at rev or later and
	// frees its space. It returns a *domain.CompactedError when rev is not
	// above the compact revision and domain.ErrFutureRevision when it is
	// above Rev().
	Compact(rev int64) error
	// PutLease creates the lease l, or replaces the one with its ID (its TTL
	// or its checkpointed remaining TTL). Keys stay attached.
	PutLease(l domain.Lease) error
	// DeleteLease removes the lease with the given ID. Its keys must have
	// been deleted first (a revoke deletes them in its revision).
	DeleteLease(id int64) error
	// PutMember records m in the member registry.
	PutMember(m domain.Member) error
	// SetClusterID records the cluster ID if none is recorded yet.
	SetClusterID(id uint64) error
	// AuthState returns the auth configuration, including the batch's own
	// writes (the zero AuthState when none was ever written).
	AuthState() (domain.AuthState, error)
	// PutAuthState replaces the auth configuration.
	PutAuthState(s domain.AuthState) error
	// Alarms returns the raised alarms, including the batch's own changes,
	// ordered by member ID then type.
	Alarms() []domain.Alarm
	// SetAlarm raises the alarm of r (r.Activate) or clears the alarms r
	// matches (domain.AlarmRequest.Matches).
	SetAlarm(r domain.AlarmRequest) error
	// SetApplied records the last applied Raft entry. It is committed with
	// the data, so a restart resumes after exactly that entry.
	SetApplied(index, term uint64)
	// Commit makes the batch durable and visible to new Views.
	Commit() error
}

// Backend is the MVCC store.
type Backend interface {
	// View opens a consistent view of the latest committed revision.
	View() View
	// Begin opens the write batch. It fails if one is already open.
	Begin() (Batch, error)
	// Applied returns the index and term of the last Raft entry whose
	// effects are committed.
	Applied() (index, term uint64)
	// Members returns the member registry, ordered by name.
	Members() ([]domain.Member, error)
	// ClusterID returns the recorded cluster ID, or 0.
	ClusterID() uint64
	// AuthState returns the committed auth configuration (the zero
	// AuthState when none was ever written).
	AuthState() (domain.AuthState, error)
	// Alarms returns the committed alarms, ordered by member ID then type.
	Alarms() []domain.Alarm
	// Hash returns a hash of every version with a revision <= rev (0: the
	// latest) that is still kept, and the compact revision. Members that
	// applied the same log have the same hash at the same revision.
	Hash(rev int64) (hash uint32, atRev int64, compactRev int64, err error)
	// Snapshot returns a consistent copy of the whole store for Raft
	// snapshots; it must be released.
	Snapshot() (Snapshot, error)
	// Restore replaces the whole store with a snapshot written by
	// Snapshot.WriteTo.
	Restore(r io.Reader) error
	// Stats returns the store's size figures.
	Stats() Stats
	// Close closes the store. Views and batches must be ended first.
	Close() error
}

// Snapshot is a point-in-time copy of the store.
type Snapshot interface {
	// WriteTo streams the snapshot.
	WriteTo(w io.Writer) (int64, error)
	// Size is the number of bytes WriteTo writes.
	Size() int64
	// Rev is the store revision of the snapshot.
	Rev() int64
	// Release frees the snapshot.
	Release()
}

// Stats are figures about the store.
type Stats struct {
	Rev         int64
	CompactRev  int64
	Keys        int64 // live keys at the latest revision
	DBSize      int64 // bytes of the database file
	DBSizeInUse int64 // bytes of the file in use (the rest is free pages)
}

// DefragStats describe one online defragmentation of a member's store.
type DefragStats struct {
	SizeBefore int64         // bytes of the database file before
	SizeAfter  int64         // bytes of the database file after
	Took       time.Duration // the whole defragmentation
	Pause      time.Duration // how long applies waited for the switch
}
