package wal

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// recover rebuilds the index of the segments in the directory, ends the
// log where the last completed append ended, and drops what the head file
// says is deleted (see the package comment).
func (l *Log) recover() error {
	head, err := l.readHead()
	if err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(l.dir, headFile+".tmp"))
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	var firsts []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), segmentExt)
		if !ok || e.IsDir() {
			continue
		}
		first, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			return fmt.Errorf("%w: segment name %q", errCorrupt, e.Name())
		}
		firsts = append(firsts, first)
	}
	slices.Sort(firsts)

	var stale []*segment // below the head, or an unfinished new segment
	for i, first := range firsts {
		s, err := l.scan(first, i == len(firsts)-1)
		if err != nil {
			return err
		}
		switch {
		case s.offsets == nil && s.end == 0: // its creation never completed
			stale = append(stale, s)
		case s.lastIndex() < head:
			stale = append(stale, s)
		default:
			if n := len(l.segs); n > 0 && l.segs[n-1].lastIndex()+1 != s.first {
				s.f.Close()
				return fmt.Errorf("%w: %s starts at entry %d, but the segment before it ends at %d",
					errCorrupt, s.path, s.first, l.segs[n-1].lastIndex())
			}
			l.segs = append(l.segs, s)
		}
	}
	if n := len(l.segs); n > 0 && l.segs[n-1].lastIndex() >= max(head, l.segs[0].first) {
		l.first = max(head, l.segs[0].first)
		l.last = l.segs[n-1].lastIndex()
	} else {
		// No entry survives: an empty log has no segment (StoreLogs makes
		// the first one at the index it is given).
		stale = append(stale, l.segs...)
		l.segs = nil
	}
	if err := l.remove(stale); err != nil {
		return err
	}
	if n := len(l.segs); n > 0 {
		if err := l.zeroFrom(l.segs[n-1]); err != nil {
			return err
		}
	}
	l.failed = nil
	return nil
}

// scan reads the segment starting at first and indexes its records. A
// record that does not decode ends the segment; only the last segment may
// end so (a torn append), with anything but zeros after its records. A
// last segment whose header never made it to the disk comes back with no
// offsets and end 0: its creation was cut short.
func (l *Log) scan(first uint64, last bool) (*segment, error) {
	path := filepath.Join(l.dir, fmt.Sprintf("%020d%s", first, segmentExt))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	s := &segment{first: first, f: f, path: path}
	data, err := os.ReadFile(path)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("wal: %w", err)
	}
	hfirst, err := decodeHeader(data)
	if err != nil || hfirst != first {
		if last && allZero(data) {
			return s, nil
		}
		f.Close()
		if err == nil {
			err = fmt.Errorf("%w: header names entry %d", errCorrupt, hfirst)
		}
		return nil, fmt.Errorf("wal: segment %s: %w", path, err)
	}
	off := int64(headerSize)
	for {
		next := first + uint64(len(s.offsets))
		body, ok := frameAt(data[off:])
		if ok && bodyIndex(body) == next {
			s.offsets = append(s.offsets, off)
			off += frameSize + int64(len(body))
			continue
		}
		// What follows the records must be zeros (the preallocated rest)
		// or, in the last segment, an append the crash tore: one that
		// left some of its sectors unwritten. Anything else is damage to
		// entries that were synced, maybe acknowledged: refuse the log.
		var bad error
		switch {
		case ok:
			bad = fmt.Errorf("record of entry %d where entry %d belongs", bodyIndex(body), next)
		case !last && !allZero(data[off:]):
			bad = fmt.Errorf("entry %d does not decode, and later segments follow", next)
		case last && !torn(data, off):
			bad = fmt.Errorf("entry %d fails its checksum", next)
		}
		if bad != nil {
			f.Close()
			return nil, fmt.Errorf("%w: segment %s at offset %d: %v", errCorrupt, path, off, bad)
		}
		break
	}
	s.end = off
	if s.offsets == nil {
		s.offsets = []int64{}
	}
	return s, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// sectorSize is the unit a disk writes whole: a torn append leaves some of
// its sectors as they were, zeros.
const sectorSize = 512

// torn reports whether what starts at off is the end of the written part
// or an append cut short: zeros, a record that runs past the file, or one
// with a sector still all zeros.
func torn(data []byte, off int64) bool {
	rest := data[off:]
	if len(rest) < frameSize {
		return true
	}
	n := int64(binary.LittleEndian.Uint32(rest))
	if n == 0 || frameSize+n > int64(len(rest)) {
		return true
	}
	end := off + frameSize + n
	for s := off / sectorSize * sectorSize; s < end; s += sectorSize {
		if allZero(data[max(s, off):min(s+sectorSize, end)]) {
			return true
		}
	}
	return false
}
