package bolt

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.etcd.io/bbolt"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
)

var _ ports.Backend = (*Backend)(nil)

var (
	errClosed    = fmt.Errorf("bolt: backend closed: %w", domain.ErrUnavailable)
	errBatchOpen = errors.New("bolt: a batch is already open")
	errBatchDone = errors.New("bolt: batch already committed")
)

// Config tunes a Backend. The zero value is the default.
type Config struct {
	// InitialMmapSize is the initial size of the memory map, in bytes
	// (0: 1 GiB). bbolt must remap when the file outgrows it, and a remap
	// waits for every open View and Snapshot, so set it above the expected
	// database size.
	InitialMmapSize int
	// OpenTimeout bounds the wait for the file lock (0: 10s).
	OpenTimeout time.Duration
	// Unsynced makes commits skip the fsync: for a store whose every
	// change is also in a durable log that is replayed after a restart
	// (see unsynced.go for why that is safe, and Rebuilt). On a system
	// that does not tell its boot id, commits are synced anyway.
	Unsynced bool
	// Logger receives a line per defragmentation (zero: none).
	Logger zerolog.Logger
	// Registerer receives the store's metrics (nil: none).
	Registerer prometheus.Registerer
}

func (c Config) options() *bbolt.Options {
	o := &bbolt.Options{
		NoFreelistSync:  true,
		FreelistType:    bbolt.FreelistMapType,
		InitialMmapSize: c.InitialMmapSize,
		Timeout:         c.OpenTimeout,
	}
	if o.InitialMmapSize == 0 {
		o.InitialMmapSize = 1 << 30
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	return o
}

// keyFillPercent is how full bbolt fills a page of the key bucket before
// it splits it (see Begin).
const keyFillPercent = 1.0

// Backend is the MVCC store on one bbolt file. It implements ports.Backend.
//
// Lock order: applyMu, then stateMu, then mu, then viewMu. See DESIGN.md.
type Backend struct {
	path string
	cfg  Config

	// applyMu is held shared by the open Batch, from Begin to its end, and
	// exclusively by a defragmentation while it switches files (defrag.go).
	applyMu sync.RWMutex

	// stateMu is held shared to use db, exclusively to close or swap it.
	stateMu sync.RWMutex
	db      *bbolt.DB
	closed  bool

	// open is the open Batch, if any.
	open atomic.Pointer[batch]

	// mu guards the index, idxCompactRev and cur.
	mu  sync.RWMutex
	idx *index
	// idxCompactRev is the revision the index is compacted to; it lags
	// cur.compactRev while Views of an older compaction are open.
	idxCompactRev int64
	cur           state

	// boot is this boot's id when commits are unsynced, else nil.
	boot []byte
	// rebuilt: Open found the file untrusted and started an empty one.
	rebuilt bool

	// viewMu guards views: the number of open Views by their compact
	// revision.
	viewMu sync.Mutex
	views  map[int64]int

	// defrag is the state of online defragmentation (defrag.go).
	defrag defragState

	// unreleased counts the bytes of records committed since the map's
	// pages were last released (mapped.go). Only Commit uses it.
	unreleased int64
}

// Open opens (or creates) the store in the bbolt file at path and rebuilds
// its index.
//
// With cfg.Unsynced, a file written without fsync before the machine
// restarted may be torn: Open sets it aside and starts an empty store, and
// Rebuilt reports it, so that the caller restores the state from the Raft
// snapshot and log.
func Open(path string, cfg Config) (*Backend, error) {
	b := &Backend{path: path, cfg: cfg, views: make(map[int64]int)}
	b.defrag.metrics = newDefragMetrics(cfg.Registerer)
	// A defragmentation cut short left its unfinished copy: the store is
	// state.db until the copy is renamed over it.
	if err := removeDefragFile(path); err != nil {
		return nil, err
	}
	if cfg.Unsynced {
		b.boot = bootID()
	}
	if b.boot != nil {
		ok, err := trustFile(path, b.boot)
		if err != nil {
			return nil, err
		}
		if !ok {
			if err := setAside(path); err != nil {
				return nil, err
			}
			b.rebuilt = true
		}
	}
	// The first open after a reboot (or a dropped cache) reads the whole
	// file: stream it into the page cache meanwhile (prefetch.go).
	go prefetch(path)
	db, err := openDB(path, cfg)
	if err != nil {
		return nil, err
	}
	b.db = db
	if err := b.load(); err != nil {
		_ = db.Close()
		return nil, err
	}
	if b.boot != nil {
		if err := writeMarker(path, b.boot); err != nil {
			_ = db.Close()
			return nil, err
		}
		db.NoSync = true
	}
	return b, nil
}

// Rebuilt reports whether Open set an untrusted file aside (unsynced
// commits before the machine restarted) and started an empty store.
func (b *Backend) Rebuilt() bool { return b.rebuilt }

// openDB opens the bbolt file and creates the buckets it lacks.
func openDB(path string, cfg Config) (*bbolt.DB, error) {
	db, err := bbolt.Open(path, 0o600, cfg.options())
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{keyBucket, metaBucket, membersBucket, leasesBucket, leaseKeysBucket, authBucket} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("bolt: create buckets in %s: %w", path, err)
	}
	return db, nil
}

// load reads the committed meta and rebuilds the index from the key bucket.
// The caller holds stateMu exclusively or is Open; load takes mu.
func (b *Backend) load() error {
	tx, err := b.db.Begin(false)
	if err != nil {
		return fmt.Errorf("bolt: load: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	st, err := readMeta(tx)
	if err != nil {
		return err
	}
	idx, err := rebuildIndex(tx.Bucket(keyBucket).Cursor(), keysHint(st, tx.Size()))
	if err != nil {
		return err
	}
	st.keys = idx.liveKeys()
	// The rebuild read every page: none needs to stay mapped (mapped.go).
	releaseTxMapped(tx)
	b.mu.Lock()
	b.idx, b.idxCompactRev, b.cur = idx, st.compactRev, st
	b.mu.Unlock()
	return nil
}

// View opens a consistent view of the latest committed revision. On a
// closed store its reads fail with domain.ErrUnavailable.
//
// The view takes its revision and compact revision from the meta bucket of
// its own read txn, so they always match the data it reads. It registers
// under mu with the published compact revision, a lower bound of the one
// in its txn, which keeps the index from being compacted past it.
func (b *Backend) View() ports.View {
	b.stateMu.RLock()
	defer b.stateMu.RUnlock()
	if b.closed {
		return errView{err: errClosed}
	}
	b.mu.RLock()
	reg := b.cur.compactRev
	b.viewMu.Lock()
	b.views[reg]++
	b.viewMu.Unlock()
	b.mu.RUnlock()
	tx, err := b.db.Begin(false)
	if err != nil {
		b.endView(reg)
		return errView{err: fmt.Errorf("bolt: begin view: %w", err)}
	}
	st, err := readMeta(tx)
	if err != nil {
		_ = tx.Rollback()
		b.endView(reg)
		return errView{err: err}
	}
	return &view{b: b, tx: tx, keys: tx.Bucket(keyBucket), rev: st.rev, compactRev: st.compactRev, reg: reg}
}

// endView unregisters a View of compact revision compactRev.
func (b *Backend) endView(compactRev int64) {
	b.viewMu.Lock()
	if b.views[compactRev]--; b.views[compactRev] == 0 {
		delete(b.views, compactRev)
	}
	b.viewMu.Unlock()
}

// catchUpIndex compacts the index to cur.compactRev once no View of an
// older compaction is open. The caller holds mu exclusively.
func (b *Backend) catchUpIndex() {
	if b.idxCompactRev >= b.cur.compactRev {
		return
	}
	b.viewMu.Lock()
	for c := range b.views {
		if c < b.cur.compactRev {
			b.viewMu.Unlock()
			return
		}
	}
	b.viewMu.Unlock()
	b.idx.compact(b.cur.compactRev)
	b.idxCompactRev = b.cur.compactRev
}

// Begin opens the write batch. It fails if one is already open. It waits
// while a defragmentation switches files (the batch holds applyMu shared
// until it ends: see endBatch).
func (b *Backend) Begin() (ports.Batch, error) {
	if b.open.Load() != nil {
		// Not waiting for applyMu: a defragmentation may be waiting for
		// the open batch to end.
		return nil, errBatchOpen
	}
	b.applyMu.RLock()
	b.stateMu.RLock()
	defer b.stateMu.RUnlock()
	if b.closed {
		b.applyMu.RUnlock()
		return nil, errClosed
	}
	bt := &batch{b: b}
	if !b.open.CompareAndSwap(nil, bt) {
		b.applyMu.RUnlock()
		return nil, errBatchOpen
	}
	tx, err := b.db.Begin(true)
	if err != nil {
		b.endBatch(bt)
		return nil, fmt.Errorf("bolt: begin batch: %w", err)
	}
	bt.tx, bt.keys = tx, tx.Bucket(keyBucket)
	// Records are keyed by revision: a batch appends at the end of the
	// bucket. bbolt splits a full page in two halves by default, which
	// leaves appended-to pages half empty for good (etcd fills them to
	// 90% for the same reason). Nothing is ever inserted before the last
	// record, so no slack is needed either: pages are filled whole, as a
	// defragmentation's copy fills them (10% smaller than at 90%).
	bt.keys.FillPercent = keyFillPercent
	b.mu.Lock()
	b.catchUpIndex()
	bt.st = b.cur
	bt.pendingKeys = b.cur.keys
	b.mu.Unlock()
	return bt, nil
}

// endBatch ends bt as the open batch, if it still is, and releases its
// share of applyMu. Whoever takes bt out of open releases it: Commit, a
// failed Begin, or Close rolling it back.
func (b *Backend) endBatch(bt *batch) {
	if b.open.CompareAndSwap(bt, nil) {
		b.applyMu.RUnlock()
	}
}

// Stats returns the store's size figures. DBSize and DBSizeInUse are 0 on
// a closed store.
func (b *Backend) Stats() ports.Stats {
	b.stateMu.RLock()
	defer b.stateMu.RUnlock()
	b.mu.RLock()
	s := ports.Stats{Rev: b.cur.rev, CompactRev: b.cur.compactRev, Keys: b.cur.keys}
	b.mu.RUnlock()
	if b.closed {
		return s
	}
	if tx, err := b.db.Begin(false); err == nil {
		s.DBSize = tx.Size()
		_ = tx.Rollback()
	}
	free := int64(b.db.Stats().FreePageN) * int64(b.db.Info().PageSize)
	s.DBSizeInUse = max(s.DBSize-free, 0)
	return s
}

// Close rolls back a batch left open, waits for open Views and Snapshots to
// end and closes the file.
func (b *Backend) Close() error {
	b.stateMu.Lock()
	defer b.stateMu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if bt := b.open.Swap(nil); bt != nil {
		_ = bt.tx.Rollback()
		b.applyMu.RUnlock()
	}
	// Files replaced by a defragmentation close once their last reader
	// ends.
	b.defrag.retired.Wait()
	var syncErr error
	if b.db.NoSync {
		syncErr = b.db.Sync()
	}
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("bolt: close %s: %w", b.path, err)
	}
	if syncErr != nil {
		return fmt.Errorf("bolt: sync %s: %w", b.path, syncErr)
	}
	if b.boot != nil {
		return removeMarker(b.path)
	}
	return nil
}

// syncDir fsyncs the directory dir so that a rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
