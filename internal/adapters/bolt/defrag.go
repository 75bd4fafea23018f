package bolt

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/bbolt"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
)

// Online defragmentation (DESIGN.md, "Online defragmentation"): the store
// is copied into state.db.defrag, densely and in chunks, while batches go
// on committing to state.db; passes catch up with what they wrote; a last
// pass under applyMu (no batch open) copies the rest, and the copy is
// synced and renamed over state.db. Applies wait only for that last pass
// and the rename: the pause.

const (
	// defragChunkBytes bounds the records copied in one write txn of the
	// new file (and one read txn of the old one): memory stays bounded and
	// no read txn of the old file lasts long.
	defragChunkBytes = 4 << 20
	// defragSyncBytes is how much is copied between two fsyncs of the new
	// file, so that the disk gets its pages bit by bit rather than in one
	// long flush that would hold up the Raft log's fsyncs.
	defragSyncBytes = 8 << 20
	// defragCatchUp: a catch-up pass that copied at most this many bytes
	// is the last before the pause.
	defragCatchUp = 256 << 10
	// defragMaxPasses caps the passes before the pause, for a writer that
	// writes as fast as the copy runs.
	defragMaxPasses = 6
)

// The phases at which a test hook is called (SetDefragHook).
const (
	phaseCopy         = "copy"          // after each chunk of a pass
	phaseCaughtUp     = "caught-up"     // after each pass, the new file synced
	phaseBeforeRename = "before-rename" // under applyMu: the copy is whole and synced
	phaseAfterRename  = "after-rename"  // under applyMu: the copy is state.db
)

// errReplaced: a Restore replaced the store while it was being copied.
var errReplaced = fmt.Errorf("bolt: defragment: the store was replaced by a restore: %w", domain.ErrUnavailable)

// defragState is the Backend's part of online defragmentation.
type defragState struct {
	running atomic.Bool // one defragmentation at a time

	// mu guards tracking and dead: the records deleted by compactions
	// committed while a defragmentation copies the file.
	mu       sync.Mutex
	tracking bool
	dead     [][]deadRev

	// retired counts the files replaced by a defragmentation that are
	// still open for their last Views and Snapshots.
	retired sync.WaitGroup

	metrics *defragMetrics
	// chunkBytes, syncBytes and hook are defragChunkBytes,
	// defragSyncBytes and nothing, but in tests (export_test.go).
	chunkBytes, syncBytes int
	hook                  func(phase string)
}

// compacted hands the records that a committed batch deleted to the
// defragmentation in progress, if any, which deletes them from its copy.
func (s *defragState) compacted(dead []deadRev) {
	s.mu.Lock()
	if s.tracking {
		s.dead = append(s.dead, dead)
	}
	s.mu.Unlock()
}

// track starts or stops the tracking of compactions.
func (s *defragState) track(on bool) {
	s.mu.Lock()
	s.tracking, s.dead = on, nil
	s.mu.Unlock()
}

// takeDead returns the records deleted by the compactions committed since
// the last call.
func (s *defragState) takeDead() [][]deadRev {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dead
	s.dead = nil
	return d
}

// defragMetrics are the histograms of defragmentation.
type defragMetrics struct {
	took, pause prometheus.Histogram
}

func newDefragMetrics(reg prometheus.Registerer) *defragMetrics {
	m := &defragMetrics{
		took: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cairn_defrag_duration_seconds",
			Help:    "Time of an online defragmentation of the store, from the start of the copy to the switch.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}),
		pause: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cairn_defrag_pause_seconds",
			Help:    "Time applies waited while a defragmentation copied its last changes and switched files.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	if reg != nil {
		m.took = register(reg, m.took)
		m.pause = register(reg, m.pause)
	}
	return m
}

// register registers h with reg, or returns the histogram registered
// already under its name (a store opened again with the same registry).
func register(reg prometheus.Registerer, h prometheus.Histogram) prometheus.Histogram {
	if err := reg.Register(h); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(prometheus.Histogram); ok {
				return old
			}
		}
	}
	return h
}

// defragPath is where a defragmentation writes the copy of the store at
// path.
func defragPath(path string) string { return path + ".defrag" }

// removeDefragFile removes the copy left by a defragmentation that was cut
// short (a crash, a kill -9): until the rename, state.db is the store.
func removeDefragFile(path string) error {
	if err := os.Remove(defragPath(path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("bolt: remove %s: %w", defragPath(path), err)
	}
	return nil
}

// Defragment rewrites the store into a compact file and switches to it,
// while Views, Snapshots and batches go on. Batches wait only while the
// last changes are copied and the file is switched (Pause). Views and
// Snapshots opened before the switch go on reading the old file, which is
// closed when the last of them ends. It returns an error wrapping
// domain.ErrConflict while another defragmentation runs, and
// domain.ErrUnavailable on a closed store or when a Restore replaces the
// store meanwhile; an error or a cancelled ctx before the switch leaves
// the store as it was.
func (b *Backend) Defragment(ctx context.Context) (ports.DefragStats, error) {
	if !b.defrag.running.CompareAndSwap(false, true) {
		return ports.DefragStats{}, fmt.Errorf("bolt: defragment: %w: a defragmentation of this store is running", domain.ErrConflict)
	}
	defer b.defrag.running.Store(false)
	start := time.Now()
	defer b.defrag.track(false) // startDefrag starts tracking compactions
	d, err := b.startDefrag()
	if err != nil {
		return ports.DefragStats{}, err
	}
	err = d.run(ctx)
	if !d.switched {
		d.abort()
		if err == nil {
			err = errors.New("bolt: defragment: not switched")
		}
		return ports.DefragStats{}, err
	}
	d.stats.Took = time.Since(start)
	b.defrag.metrics.took.Observe(d.stats.Took.Seconds())
	b.defrag.metrics.pause.Observe(d.stats.Pause.Seconds())
	b.cfg.Logger.Info().Int64("db_size_before", d.stats.SizeBefore).Int64("db_size_after", d.stats.SizeAfter).
		Dur("took", d.stats.Took).Dur("pause", d.stats.Pause).Int("passes", d.passes).Int64("records", d.records).
		Msg("store defragmented")
	return d.stats, err // err: the rename is done, only the fsync of the directory failed
}

// defrag is one defragmentation in progress.
type defrag struct {
	b   *Backend
	src *bbolt.DB // the store's file when it started
	dst *bbolt.DB // the copy
	tmp string    // the copy's path
	// next is the first revision key of the key bucket not copied yet (nil:
	// none copied).
	next     []byte
	records  int64 // records of the key bucket copied
	bytes    int64 // their bytes (keys and values)
	unsynced int   // bytes copied since the last fsync of the copy
	passes   int
	switched bool
	stats    ports.DefragStats
}

// startDefrag creates the copy and starts tracking compactions.
func (b *Backend) startDefrag() (*defrag, error) {
	b.stateMu.RLock()
	if b.closed {
		b.stateMu.RUnlock()
		return nil, errClosed
	}
	d := &defrag{b: b, src: b.db, tmp: defragPath(b.path)}
	tx, err := d.src.Begin(false)
	if err == nil {
		d.stats.SizeBefore = tx.Size()
		_ = tx.Rollback()
	}
	b.stateMu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("bolt: defragment: %w", err)
	}
	// Compactions are tracked before the first read of the old file (see
	// step).
	b.defrag.track(true)
	if err := removeDefragFile(b.path); err != nil {
		return nil, err
	}
	// The same options as the store's: once renamed, this handle is the
	// store (no reopen, whose scan of the file for free pages would be
	// part of the pause). Pages are not synced one commit at a time: the
	// copy is synced every defragSyncBytes and before the rename.
	db, err := bbolt.Open(d.tmp, 0o600, b.cfg.options())
	if err != nil {
		_ = os.Remove(d.tmp)
		return nil, fmt.Errorf("bolt: defragment: open %s: %w", d.tmp, err)
	}
	db.NoSync, db.NoGrowSync = true, true
	d.dst = db
	if err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucket(keyBucket)
		return err
	}); err != nil {
		d.abort()
		return nil, fmt.Errorf("bolt: defragment: %w", err)
	}
	return d, nil
}

// run copies the store in passes while writes go on, then switches.
func (d *defrag) run(ctx context.Context) error {
	for {
		before := d.bytes
		for done := false; !done; {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("bolt: defragment: %w", err)
			}
			var err error
			if done, err = d.step(d.b.defrag.chunkSize()); err != nil {
				return err
			}
			if d.unsynced >= d.b.defrag.syncSize() {
				if err := d.sync(); err != nil {
					return err
				}
			}
			d.b.defrag.called(phaseCopy)
		}
		if err := d.sync(); err != nil {
			return err
		}
		d.passes++
		d.b.defrag.called(phaseCaughtUp)
		if d.bytes-before <= defragCatchUp || d.passes >= defragMaxPasses {
			break
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bolt: defragment: %w", err)
	}
	return d.switchOver()
}

// sync fsyncs the copy.
func (d *defrag) sync() error {
	if err := d.dst.Sync(); err != nil {
		return fmt.Errorf("bolt: defragment: sync %s: %w", d.tmp, err)
	}
	d.unsynced = 0
	return nil
}

// switchOver is the pause: with applyMu held (no batch open, none can
// begin) it copies what the last pass left, syncs the copy, renames it
// over the store's file and makes it the store. The old file stays open
// until its last View or Snapshot ends.
func (d *defrag) switchOver() error {
	b := d.b
	start := time.Now()
	b.applyMu.Lock()
	locked := true
	defer func() {
		if locked {
			b.applyMu.Unlock()
		}
	}()
	if _, err := d.step(0); err != nil {
		return err
	}
	if err := d.sync(); err != nil {
		return err
	}
	size, err := dbSize(d.dst)
	if err != nil {
		return err
	}
	b.defrag.called(phaseBeforeRename)
	b.stateMu.Lock()
	switch {
	case b.closed:
		b.stateMu.Unlock()
		return errClosed
	case b.db != d.src:
		b.stateMu.Unlock()
		return errReplaced
	}
	if err := os.Rename(d.tmp, b.path); err != nil {
		b.stateMu.Unlock()
		return fmt.Errorf("bolt: defragment: %w", err)
	}
	// From here on the copy is the store, whatever fails.
	dirErr := syncDir(filepath.Dir(b.path))
	d.dst.NoSync, d.dst.NoGrowSync = b.boot != nil, false
	b.db = d.dst
	d.switched = true
	b.defrag.retired.Add(1) // under stateMu: Close waits for it
	b.stateMu.Unlock()
	b.defrag.called(phaseAfterRename)
	b.applyMu.Unlock()
	locked = false
	d.stats.Pause = time.Since(start)
	d.stats.SizeAfter = size

	go b.retire(d.src)
	if dirErr != nil {
		return fmt.Errorf("bolt: defragment: sync the directory of %s: %w", b.path, dirErr)
	}
	return nil
}

// retire closes old, the file a defragmentation replaced, once the last
// read txn on it (a View, a Snapshot) has ended. No txn begins on it any
// more: b.db is the new file. It waits for the readers itself, by polling
// bbolt's count of open txns, because bbolt's Close must not: a reader's
// Rollback waits for a Close in progress, and the Close for every reader.
func (b *Backend) retire(old *bbolt.DB) {
	defer b.defrag.retired.Done()
	for wait := time.Millisecond; old.Stats().OpenTxN > 0; wait = min(2*wait, 200*time.Millisecond) {
		time.Sleep(wait)
	}
	if err := old.Close(); err != nil {
		b.cfg.Logger.Warn().Err(err).Msg("closing the store's file replaced by a defragmentation")
	}
}

// abort closes and removes the copy of a defragmentation that did not
// switch.
func (d *defrag) abort() {
	if d.dst != nil {
		_ = d.dst.Close()
	}
	if err := os.Remove(d.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.b.cfg.Logger.Warn().Err(err).Msg("removing the copy of a defragmentation that failed")
	}
}

// dbSize returns the size of db's data, as Stats reports it.
func dbSize(db *bbolt.DB) (int64, error) {
	tx, err := db.Begin(false)
	if err != nil {
		return 0, fmt.Errorf("bolt: defragment: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	return tx.Size(), nil
}

func (s *defragState) chunkSize() int {
	if s.chunkBytes > 0 {
		return s.chunkBytes
	}
	return defragChunkBytes
}

func (s *defragState) syncSize() int {
	if s.syncBytes > 0 {
		return s.syncBytes
	}
	return defragSyncBytes
}

func (s *defragState) called(phase string) {
	if s.hook != nil {
		s.hook(phase)
	}
}
