package bolt

import (
	"errors"
	"fmt"

	"go.etcd.io/bbolt"
)

// ResetForNewCluster makes the database file at path, a store restored
// from a snapshot, the store of a member of a new cluster, offline: it
// checks that the file is a Cairn store whose every record decodes (Open
// rebuilds the index from them), clears the member registry (the new
// members publish themselves when they start) and the alarms (they name
// members of the old cluster), sets the applied Raft entry to (0, 0),
// since the new cluster's log starts at index 1, and records clusterID.
// Keys, revisions, the compact revision, leases and the auth configuration
// stay as they are. The change is committed with an fsync
// and the file closed; it returns the store's revision.
//
// Nothing else may have the file open.
func ResetForNewCluster(path string, clusterID uint64) (rev int64, err error) {
	if clusterID == 0 {
		return 0, errors.New("bolt: reset for a new cluster: cluster ID 0")
	}
	if err := checkDB(path, Config{}); err != nil {
		return 0, fmt.Errorf("bolt: %s is not a Cairn store: %w", path, err)
	}
	b, err := Open(path, Config{}) // synced commits, no marker
	if err != nil {
		return 0, err
	}
	defer func() {
		if cerr := b.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	err = b.db.Update(func(tx *bbolt.Tx) error {
		if err := tx.DeleteBucket(membersBucket); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(membersBucket); err != nil {
			return err
		}
		// Alarms name members of the old cluster, and a store copied from
		// one consistent snapshot has diverged from nothing.
		if tx.Bucket(alarmsBucket) != nil {
			if err := tx.DeleteBucket(alarmsBucket); err != nil {
				return err
			}
		}
		st, err := readMeta(tx)
		if err != nil {
			return err
		}
		st.appliedIndex, st.appliedTerm, st.clusterID = 0, 0, clusterID
		return writeMeta(tx, st)
	})
	if err != nil {
		return 0, fmt.Errorf("bolt: reset %s for a new cluster: %w", path, err)
	}
	b.mu.RLock()
	rev = b.cur.rev
	b.mu.RUnlock()
	return rev, nil
}
