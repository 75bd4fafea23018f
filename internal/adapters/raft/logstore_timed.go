package raft

import (
	"time"

	hraft "github.com/hashicorp/raft"
)

// timedLogStore measures every append to the Raft log: the WAL's write
// and fdatasync, which make the entries durable, are what a Raft member
// waits for before it acknowledges them (etcd's WAL fsync). A
// slow one is counted in cairn_disk_raft_log_fsync_duration_seconds and
// warned about (healthMetrics.observeSync). Reads go straight through.
type timedLogStore struct {
	hraft.LogStore
	metrics *healthMetrics
}

// StoreLog appends one entry.
func (s timedLogStore) StoreLog(l *hraft.Log) error {
	start := time.Now()
	err := s.LogStore.StoreLog(l)
	s.metrics.observeSync(1, time.Since(start))
	return err
}

// StoreLogs appends entries in one write.
func (s timedLogStore) StoreLogs(ls []*hraft.Log) error {
	start := time.Now()
	err := s.LogStore.StoreLogs(ls)
	s.metrics.observeSync(len(ls), time.Since(start))
	return err
}

// IsMonotonic passes on whether the store refuses gaps.
func (s timedLogStore) IsMonotonic() bool { return isMonotonic(s.LogStore) }
