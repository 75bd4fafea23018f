package bolt

import "go.etcd.io/bbolt"

// releaseEvery is how many bytes of records batches write between two
// releases of the map's pages (releaseMapped).
const releaseEvery = 64 << 20

// releaseMapped drops the pages of db's memory map from the process's page
// tables (madvise MADV_DONTNEED), so that they stop counting in its RSS.
// The pages stay in the page cache: the next read of one maps it again (a
// minor fault, no I/O). See DESIGN.md, "Resident memory".
//
// bbolt reads through the map and writes with pwrite. A batch reads the
// last leaf of the key bucket (records are appended in revision order)
// and the branches above it, and the kernel maps the pages around each
// page read (fault-around); with the small commits of a Raft state
// machine, every page of the bucket is read once while it is the last, so
// after a load the whole file counted in the RSS, though nothing reads
// most of it again (etcd, committing every 100 ms, reads fewer).
//
// The read txn holds bbolt's mmap lock: the map is not moved (a remap
// waits) nor closed while its range is advised.
func releaseMapped(db *bbolt.DB) {
	tx, err := db.Begin(false)
	if err != nil {
		return
	}
	defer func() { _ = tx.Rollback() }()
	releaseTxMapped(tx)
}

// releaseTxMapped is releaseMapped within the read txn tx, up to its size.
func releaseTxMapped(tx *bbolt.Tx) {
	madviseDontNeed(tx.DB().Info().Data, tx.Size())
}
