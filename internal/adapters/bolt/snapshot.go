package bolt

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.etcd.io/bbolt"

	"github.com/cairnkv/cairn/internal/ports"
)

// snapshot is a bbolt read txn streamed as a whole database file.
type snapshot struct {
	tx  *bbolt.Tx
	rev int64
}

// WriteTo writes the database as of the snapshot to w.
func (s *snapshot) WriteTo(w io.Writer) (int64, error) { return s.tx.WriteTo(w) }

// Size is the number of bytes WriteTo writes.
func (s *snapshot) Size() int64 { return s.tx.Size() }

// Rev is the store revision in the snapshot's meta.
func (s *snapshot) Rev() int64 { return s.rev }

// Release ends the read txn.
func (s *snapshot) Release() { _ = s.tx.Rollback() }

// Snapshot opens a read txn of the committed store; the data, the revisions
// and the applied entry in it are consistent. Release it promptly: it pins
// the pages it reads, and a remap of the file waits for it.
func (b *Backend) Snapshot() (ports.Snapshot, error) {
	b.stateMu.RLock()
	defer b.stateMu.RUnlock()
	if b.closed {
		return nil, errClosed
	}
	tx, err := b.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("bolt: snapshot: %w", err)
	}
	st, err := readMeta(tx)
	if err != nil {
		_ = tx.Rollback()
		return nil, fmt.Errorf("bolt: snapshot: %w", err)
	}
	return &snapshot{tx: tx, rev: st.rev}, nil
}

// Restore replaces the store with a database written by Snapshot.WriteTo:
// it writes r to a temporary file next to the database, fsyncs and checks
// it, waits for open Views and Snapshots to end, renames it over the
// database (fsyncing the directory), reopens it and rebuilds the index. It
// fails while a Batch is open.
func (b *Backend) Restore(r io.Reader) error {
	b.stateMu.Lock()
	defer b.stateMu.Unlock()
	if b.closed {
		return errClosed
	}
	if b.open.Load() != nil {
		return errors.New("bolt: restore: a batch is open")
	}
	tmp := b.path + ".restore"
	if err := writeFile(tmp, r); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("bolt: restore: %w", err)
	}
	if err := checkDB(tmp, b.cfg); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("bolt: restore: %w", err)
	}
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("bolt: restore: close: %w", err)
	}
	b.closed = true // until the new file is open
	if err := os.Rename(tmp, b.path); err != nil {
		return fmt.Errorf("bolt: restore: %w", err)
	}
	if err := syncDir(filepath.Dir(b.path)); err != nil {
		return fmt.Errorf("bolt: restore: %w", err)
	}
	db, err := openDB(b.path, b.cfg)
	if err != nil {
		return fmt.Errorf("bolt: restore: %w", err)
	}
	b.db, b.closed = db, false
	if err := b.load(); err != nil {
		_ = db.Close()
		b.closed = true
		return fmt.Errorf("bolt: restore: %w", err)
	}
	// The restored file is on disk (writeFile synced it); the marker of
	// unsynced commits is still there for the commits to come.
	db.NoSync = b.boot != nil
	return nil
}

// writeFile writes r to a new file at path and fsyncs it.
func writeFile(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// checkDB opens the bbolt file at path and checks it has Cairn's meta.
func checkDB(path string, cfg Config) error {
	o := cfg.options()
	o.ReadOnly = true
	o.InitialMmapSize = 0
	db, err := bbolt.Open(path, 0o600, o)
	if err != nil {
		return fmt.Errorf("open snapshot: %w", err)
	}
	defer func() { _ = db.Close() }()
	return db.View(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{keyBucket, metaBucket, membersBucket} {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("snapshot has no %s bucket", name)
			}
		}
		return nil
	})
}
