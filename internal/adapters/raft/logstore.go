//go:build !failpoints

package raft

import raftboltdb "github.com/hashicorp/raft-boltdb/v2"

// logStore is raft.db, the Raft log and stable store. In a normal build it
// is raft-boltdb's store itself; a build with the failpoints tag wraps it
// so that its writes can stall (logstore_failpoints.go).
type logStore = raftboltdb.BoltStore

// openLogStore opens raft.db.
func openLogStore(opts raftboltdb.Options) (*logStore, error) { return raftboltdb.New(opts) }
