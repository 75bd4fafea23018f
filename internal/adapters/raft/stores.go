package raft

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	hraft "github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// stores are a member's Raft state on disk, in its Raft directory:
//   - wal/, the log (package wal): an append is one write and one
//     fdatasync, where raft-boltdb's bbolt commit took two fsyncs and a
//     B+tree update (DESIGN.md, "The write path");
//   - raft.db, raft-boltdb's stable store: the term and the vote.
//
// Members made before the log moved to wal/ kept it in raft.db: openStores
// moves it over once (migrateLog).
type stores struct {
	log    *walLog
	stable *stableStore
	// moved is how many entries this open moved out of raft.db.
	moved uint64
}

func openStores(dir string) (*stores, error) {
	stable, err := openStable(stableStoreOptions(dir))
	if err != nil {
		return nil, fmt.Errorf("open raft.db: %w", err)
	}
	log, err := openWAL(filepath.Join(dir, "wal"))
	if err != nil {
		stable.Close()
		return nil, fmt.Errorf("open the log: %w", err)
	}
	s := &stores{log: log, stable: stable}
	if s.moved, err = migrateLog(stable, log); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close closes both stores.
func (s *stores) Close() error {
	return errors.Join(s.log.Close(), s.stable.Close())
}

// migrateLog moves the entries raft.db still holds as a log (a member made
// by an earlier version) into the WAL, then deletes them from raft.db. A
// crash midway leaves them in both: the next start copies what the WAL
// lacks and deletes them again.
func migrateLog(from hraft.LogStore, to hraft.LogStore) (moved uint64, err error) {
	first, err := from.FirstIndex()
	if err != nil {
		return 0, fmt.Errorf("read raft.db's log: %w", err)
	}
	last, err := from.LastIndex()
	if err != nil || last == 0 {
		return 0, err
	}
	have, err := to.LastIndex()
	if err != nil {
		return 0, err
	}
	if have != 0 && have+1 < first {
		return 0, fmt.Errorf("raft.db's log starts at entry %d, after the WAL's last entry %d", first, have)
	}
	const batch = 256
	var logs []*hraft.Log
	for i := max(first, have+1); i <= last; i++ {
		e := new(hraft.Log)
		if err := from.GetLog(i, e); err != nil {
			return moved, fmt.Errorf("read entry %d of raft.db's log: %w", i, err)
		}
		logs = append(logs, e)
		if len(logs) == batch || i == last {
			if err := to.StoreLogs(logs); err != nil {
				return moved, fmt.Errorf("move raft.db's log: %w", err)
			}
			moved += uint64(len(logs))
			logs = logs[:0]
		}
	}
	if err := from.DeleteRange(first, last); err != nil {
		return moved, fmt.Errorf("delete raft.db's log: %w", err)
	}
	return moved, nil
}

// stableStoreOptions are raft.db's options. As the MVCC store does: no
// freelist written at each commit (bbolt rebuilds it when it opens the
// file), and the map freelist.
func stableStoreOptions(dir string) raftboltdb.Options {
	return raftboltdb.Options{Path: filepath.Join(dir, "raft.db"), BoltOptions: &bbolt.Options{
		NoFreelistSync: true, FreelistType: bbolt.FreelistMapType, Timeout: 10 * time.Second,
	}}
}
