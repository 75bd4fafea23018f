//go:build failpoints

package raft

import (
	hraft "github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/cairnkv/cairn/internal/failpoint"
)

// logStore is raft.db, the Raft log and stable store, in a build with the
// failpoints tag: raft-boltdb's store whose every write first waits for
// the disk-stall failpoint (see package failpoint). Reads go straight
// through. A normal build uses raft-boltdb's store itself (logstore.go).
type logStore struct {
	*raftboltdb.BoltStore
}

var (
	_ hraft.LogStore    = (*logStore)(nil)
	_ hraft.StableStore = (*logStore)(nil)
)

// openLogStore opens raft.db.
func openLogStore(opts raftboltdb.Options) (*logStore, error) {
	s, err := raftboltdb.New(opts)
	if err != nil {
		return nil, err
	}
	return &logStore{s}, nil
}

// StoreLog appends one entry.
func (s *logStore) StoreLog(l *hraft.Log) error {
	failpoint.DiskStall(failpoint.SiteRaftLog)
	return s.BoltStore.StoreLog(l)
}

// StoreLogs appends entries.
func (s *logStore) StoreLogs(ls []*hraft.Log) error {
	failpoint.DiskStall(failpoint.SiteRaftLog)
	return s.BoltStore.StoreLogs(ls)
}

// DeleteRange deletes the entries in [lo, hi].
func (s *logStore) DeleteRange(lo, hi uint64) error {
	failpoint.DiskStall(failpoint.SiteRaftLog)
	return s.BoltStore.DeleteRange(lo, hi)
}

// Set stores a key of the stable store (the vote).
func (s *logStore) Set(k, v []byte) error {
	failpoint.DiskStall(failpoint.SiteRaftStable)
	return s.BoltStore.Set(k, v)
}

// SetUint64 stores a number of the stable store (the term).
func (s *logStore) SetUint64(k []byte, v uint64) error {
	failpoint.DiskStall(failpoint.SiteRaftStable)
	return s.BoltStore.SetUint64(k, v)
}
