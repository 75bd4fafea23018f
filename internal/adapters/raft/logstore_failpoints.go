//go:build failpoints

package raft

import (
	hraft "github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/cairnkv/cairn/internal/adapters/raft/wal"
	"github.com/cairnkv/cairn/internal/failpoint"
)

// walLog is the Raft log and stableStore raft.db (the term and the vote),
// in a build with the failpoints tag: every write first waits for the
// disk-stall failpoint (see package failpoint). Reads go straight through.
// A normal build uses the stores themselves (logstore.go).
type walLog struct {
	*wal.Log
}

type stableStore struct {
	*raftboltdb.BoltStore
}

var (
	_ hraft.LogStore          = (*walLog)(nil)
	_ hraft.MonotonicLogStore = (*walLog)(nil)
	_ hraft.StableStore       = (*stableStore)(nil)
)

func openWAL(dir string) (*walLog, error) {
	l, err := wal.Open(dir, wal.Options{})
	if err != nil {
		return nil, err
	}
	return &walLog{l}, nil
}

func openStable(opts raftboltdb.Options) (*stableStore, error) {
	s, err := raftboltdb.New(opts)
	if err != nil {
		return nil, err
	}
	return &stableStore{s}, nil
}

// StoreLog appends one entry.
func (s *walLog) StoreLog(l *hraft.Log) error {
	failpoint.DiskStall(failpoint.SiteRaftLog)
	return s.Log.StoreLog(l)
}

// StoreLogs appends entries.
func (s *walLog) StoreLogs(ls []*hraft.Log) error {
	failpoint.DiskStall(failpoint.SiteRaftLog)
	return s.Log.StoreLogs(ls)
}

// DeleteRange deletes the entries in [lo, hi].
func (s *walLog) DeleteRange(lo, hi uint64) error {
	failpoint.DiskStall(failpoint.SiteRaftLog)
	return s.Log.DeleteRange(lo, hi)
}

// Set stores a key of the stable store (the vote).
func (s *stableStore) Set(k, v []byte) error {
	failpoint.DiskStall(failpoint.SiteRaftStable)
	return s.BoltStore.Set(k, v)
}

// SetUint64 stores a number of the stable store (the term).
func (s *stableStore) SetUint64(k []byte, v uint64) error {
	failpoint.DiskStall(failpoint.SiteRaftStable)
	return s.BoltStore.SetUint64(k, v)
}
