// Package wal is the Raft log of a member: hashicorp/raft's LogStore as a
// write-ahead log of segment files, where an append is one write and one
// fdatasync.
//
// raft-boltdb, which held the log before, commits a bbolt transaction per
// append: its pages, an fsync, its meta page, a second fsync, and a
// B+tree that compaction leaves full of free pages. A follower's append is
// on the critical path of every write, so its cost is the cluster's write
// latency. The term and the vote (hashicorp/raft's StableStore) stay in
// raft-boltdb: they change once a term.
//
// # Files
//
// The directory holds segment files, each named after the index of its
// first entry (00000000000000000001.wal), and a head file. Records are
// appended to the last segment; one that has grown past the segment size
// is sealed (cut to its length) and a new one preallocated, synced, and
// its directory entry synced, before the append that needs it. The head
// file, replaced atomically, holds the index below which entries are
// deleted: dropping a prefix of the log writes it first, then removes the
// whole segments below it, so that a crash in between leaves nothing
// below the head that recovery would trust.
//
// # What a crash can leave
//
// An append returns once its fdatasync has, so a crash loses only appends
// that had not returned: recovery ends the log at the first record that is
// cut short, fails its checksum or does not follow on, and zeroes the
// rest of the segment so that a later append never lines up with stale
// bytes. A torn record can only be in the last segment; one in an earlier
// segment is corruption, and Open refuses the log rather than drop
// entries after it that may have been acknowledged. Dropping a suffix
// (a follower's conflicting entries) removes the later segments newest
// first, then cuts the one that holds the first dropped entry: a crash in
// between leaves a shorter suffix of entries no leader had committed.
package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	hraft "github.com/hashicorp/raft"
)

// DefaultSegmentSize is the size a segment is preallocated to and sealed
// at, etcd's WAL segment size.
const DefaultSegmentSize = 64 << 20

const (
	segmentExt = ".wal"
	headFile   = "head"
)

// Options tune a Log.
type Options struct {
	// SegmentSize is the size a segment is preallocated to; a segment is
	// sealed once an append took it past it. DefaultSegmentSize if zero.
	SegmentSize int64
}

// Log is the Raft log. It is safe for concurrent use: hashicorp/raft reads
// entries to replicate and apply while it appends.
type Log struct {
	dir     string
	segSize int64

	// wmu serializes the writers (StoreLogs, DeleteRange) and guards buf
	// and failed.
	wmu    sync.Mutex
	buf    []byte
	failed error

	// mu guards what readers see: the segments, first and last.
	mu          sync.RWMutex
	segs        []*segment
	first, last uint64 // 0, 0 when the log is empty
}

type segment struct {
	first   uint64  // index of the entry the segment starts with
	offsets []int64 // offsets[i]: where the record of entry first+i starts
	end     int64   // where the next record goes
	f       *os.File
	path    string
}

// lastIndex is the index of the segment's last entry (first-1 if none).
func (s *segment) lastIndex() uint64 { return s.first + uint64(len(s.offsets)) - 1 }

var (
	_ hraft.LogStore          = (*Log)(nil)
	_ hraft.MonotonicLogStore = (*Log)(nil)
)

// Open opens the log in dir, creating the directory if it does not exist,
// and recovers it from what a crash left (see the package comment).
func Open(dir string, opts Options) (*Log, error) {
	l := &Log{dir: dir, segSize: opts.SegmentSize}
	if l.segSize <= 0 {
		l.segSize = DefaultSegmentSize
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	if err := l.recover(); err != nil {
		l.closeFiles()
		return nil, err
	}
	return l, nil
}

// IsMonotonic tells hashicorp/raft that the log has no gaps: after it
// installs a snapshot, it deletes the whole log rather than leave one.
func (l *Log) IsMonotonic() bool { return true }

// FirstIndex returns the first entry's index, 0 if the log is empty.
func (l *Log) FirstIndex() (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.first, nil
}

// LastIndex returns the last entry's index, 0 if the log is empty.
func (l *Log) LastIndex() (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.last, nil
}

// GetLog reads the entry at index into out.
func (l *Log) GetLog(index uint64, out *hraft.Log) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.last == 0 || index < l.first || index > l.last {
		return hraft.ErrLogNotFound
	}
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].first > index }) - 1
	s := l.segs[i]
	k := index - s.first
	start, end := s.offsets[k], s.end
	if int(k)+1 < len(s.offsets) {
		end = s.offsets[k+1]
	}
	b := make([]byte, end-start)
	if _, err := s.f.ReadAt(b, start); err != nil {
		return fmt.Errorf("wal: read entry %d from %s: %w", index, s.path, err)
	}
	body, ok := frameAt(b)
	if !ok || bodyIndex(body) != index {
		return fmt.Errorf("%w: entry %d in %s at offset %d", errCorrupt, index, s.path, start)
	}
	return decodeBody(body, out)
}

// StoreLog appends one entry.
func (l *Log) StoreLog(e *hraft.Log) error { return l.StoreLogs([]*hraft.Log{e}) }

// StoreLogs appends entries, which must follow the last one without a gap
// (any index, when the log is empty), in one write and one fdatasync.
func (l *Log) StoreLogs(logs []*hraft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.failed != nil {
		return l.failed
	}
	l.mu.RLock()
	last := l.last
	l.mu.RUnlock()
	next := logs[0].Index
	if last != 0 && next != last+1 {
		return fmt.Errorf("wal: append of entry %d after entry %d leaves a gap", next, last)
	}
	if next == 0 {
		return errors.New("wal: append of entry 0")
	}
	l.buf = l.buf[:0]
	offsets := make([]int64, len(logs))
	for i, e := range logs {
		if e.Index != next+uint64(i) {
			return fmt.Errorf("wal: entries %d and %d of one append do not follow on", logs[i-1].Index, e.Index)
		}
		offsets[i] = int64(len(l.buf))
		var err error
		if l.buf, err = appendRecord(l.buf, e); err != nil {
			return err
		}
	}

	s, err := l.tailFor(next)
	if err != nil {
		return l.fail(err)
	}
	if _, err := s.f.WriteAt(l.buf, s.end); err != nil {
		return l.fail(fmt.Errorf("wal: write %s: %w", s.path, err))
	}
	if err := datasync(s.f); err != nil {
		return l.fail(fmt.Errorf("wal: fdatasync %s: %w", s.path, err))
	}

	l.mu.Lock()
	for i := range offsets {
		offsets[i] += s.end
	}
	s.offsets = append(s.offsets, offsets...)
	s.end += int64(len(l.buf))
	if l.last == 0 {
		l.first = next
	}
	l.last = logs[len(logs)-1].Index
	l.mu.Unlock()
	if cap(l.buf) > maxKeptBuffer {
		l.buf = nil // one huge batch does not pin its buffer
	}
	return nil
}

// maxKeptBuffer is the largest encode buffer kept between appends.
const maxKeptBuffer = 4 << 20

// fail makes err stick: after a failed write or fdatasync the file's state
// on disk is unknown, and later appends must not build on it.
func (l *Log) fail(err error) error {
	l.failed = err
	return err
}

// tailFor returns the segment the append of entry next goes to: the last
// one, or a new one when there is none or the last is full. Called with
// wmu held.
func (l *Log) tailFor(next uint64) (*segment, error) {
	if n := len(l.segs); n > 0 && l.segs[n-1].end < l.segSize {
		return l.segs[n-1], nil
	}
	if len(l.segs) == 0 {
		// The log is empty: everything below next is gone. Saying so
		// first keeps recovery from trusting any leftover below it.
		if err := l.writeHead(next); err != nil {
			return nil, err
		}
	} else {
		// Seal the full segment: it never grows again.
		prev := l.segs[len(l.segs)-1]
		if err := prev.f.Truncate(prev.end); err != nil {
			return nil, fmt.Errorf("wal: seal %s: %w", prev.path, err)
		}
	}
	s, err := l.createSegment(next)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.segs = append(l.segs, s)
	l.mu.Unlock()
	return s, nil
}

// createSegment makes an empty, preallocated segment starting at first,
// durable with its directory entry.
func (l *Log) createSegment(first uint64) (*segment, error) {
	path := filepath.Join(l.dir, fmt.Sprintf("%020d%s", first, segmentExt))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("wal: create segment: %w", err)
	}
	err = preallocate(f, l.segSize)
	if err == nil {
		_, err = f.WriteAt(encodeHeader(first), 0)
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = syncDir(l.dir)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("wal: create segment %s: %w", path, err)
	}
	return &segment{first: first, end: headerSize, f: f, path: path}, nil
}

// DeleteRange deletes the entries min to max, which must be a prefix or a
// suffix of the log (or all of it): hashicorp/raft drops a prefix after a
// snapshot, a follower a suffix that conflicts with its leader.
func (l *Log) DeleteRange(min, max uint64) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.failed != nil {
		return l.failed
	}
	l.mu.RLock()
	first, last := l.first, l.last
	l.mu.RUnlock()
	if last == 0 || min > max || max < first || min > last {
		return nil
	}
	switch {
	case min <= first && max >= last:
		return l.dropPrefix(last + 1)
	case min <= first:
		return l.dropPrefix(max + 1)
	case max >= last:
		return l.dropSuffix(min)
	}
	return fmt.Errorf("wal: cannot delete entries %d to %d from the middle of %d to %d", min, max, first, last)
}

// dropPrefix deletes the entries below head. Called with wmu held.
func (l *Log) dropPrefix(head uint64) error {
	if err := l.writeHead(head); err != nil {
		return l.fail(err)
	}
	l.mu.Lock()
	var gone []*segment
	keep := l.segs[:0]
	for _, s := range l.segs {
		if s.lastIndex() < head {
			gone = append(gone, s)
			continue
		}
		keep = append(keep, s)
	}
	l.segs = keep
	if head > l.last {
		l.first, l.last = 0, 0
	} else {
		l.first = head
	}
	l.mu.Unlock()
	return l.remove(gone)
}

// dropSuffix deletes the entries from min on. Called with wmu held.
func (l *Log) dropSuffix(min uint64) error {
	l.mu.Lock()
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].first > min }) - 1
	s := l.segs[i]
	gone := slices.Clone(l.segs[i+1:])
	l.segs = l.segs[:i+1]
	k := min - s.first
	cut := s.end
	if int(k) < len(s.offsets) {
		cut = s.offsets[k]
	}
	s.offsets = s.offsets[:k]
	s.end = cut
	l.last = min - 1
	l.mu.Unlock()

	slices.Reverse(gone) // newest first: a crash leaves no gap
	if err := l.remove(gone); err != nil {
		return err
	}
	if err := l.zeroFrom(s); err != nil {
		return l.fail(err)
	}
	return nil
}

// zeroFrom cuts s at its end and preallocates it again, so that nothing
// stale follows the last record, and makes that durable.
func (l *Log) zeroFrom(s *segment) error {
	if err := s.f.Truncate(s.end); err != nil {
		return fmt.Errorf("wal: cut %s: %w", s.path, err)
	}
	if err := preallocate(s.f, l.segSize); err != nil {
		return fmt.Errorf("wal: preallocate %s: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("wal: sync %s: %w", s.path, err)
	}
	return nil
}

// remove closes and deletes segments, in order.
func (l *Log) remove(segs []*segment) error {
	if len(segs) == 0 {
		return nil
	}
	for _, s := range segs {
		s.f.Close()
		if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return l.fail(fmt.Errorf("wal: remove %s: %w", s.path, err))
		}
	}
	if err := syncDir(l.dir); err != nil {
		return l.fail(err)
	}
	return nil
}

// writeHead records, durably, that the entries below head are deleted.
func (l *Log) writeHead(head uint64) error {
	path := filepath.Join(l.dir, headFile)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("wal: write head: %w", err)
	}
	_, err = f.Write([]byte(strconv.FormatUint(head, 10) + "\n"))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(l.dir)
	}
	if err != nil {
		return fmt.Errorf("wal: write head: %w", err)
	}
	return nil
}

func (l *Log) readHead() (uint64, error) {
	b, err := os.ReadFile(filepath.Join(l.dir, headFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("wal: read head: %w", err)
	}
	head, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: head file %q", errCorrupt, b)
	}
	return head, nil
}

// Close closes the segment files. Every append was synced when it returned.
func (l *Log) Close() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closeFiles()
	l.segs = nil
	l.first, l.last = 0, 0 // a read after Close finds nothing, not a closed file
	l.failed = errors.New("wal: closed")
	return nil
}

func (l *Log) closeFiles() {
	for _, s := range l.segs {
		s.f.Close()
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("wal: sync directory %s: %w", dir, err)
	}
	return nil
}
