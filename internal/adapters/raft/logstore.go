//go:build !failpoints

package raft

import (
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/cairnkv/cairn/internal/adapters/raft/wal"
)

// walLog is the Raft log (wal/, package wal) and stableStore raft.db, the
// term and the vote. In a normal build they are the stores themselves; a
// build with the failpoints tag wraps them so that their writes can stall
// (logstore_failpoints.go).
type (
	walLog      = wal.Log
	stableStore = raftboltdb.BoltStore
)

func openWAL(dir string) (*walLog, error) { return wal.Open(dir, wal.Options{}) }

func openStable(opts raftboltdb.Options) (*stableStore, error) { return raftboltdb.New(opts) }
