package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
)

// entry is the entry a test appends at index i of term t.
func entry(i, t uint64) *hraft.Log {
	return &hraft.Log{
		Index: i, Term: t, Type: hraft.LogCommand,
		Data:       []byte(fmt.Sprintf("entry %d of term %d", i, t)),
		AppendedAt: time.Unix(1700000000, int64(i)),
	}
}

func entries(from, to, term uint64) []*hraft.Log {
	var ls []*hraft.Log
	for i := from; i <= to; i++ {
		ls = append(ls, entry(i, term))
	}
	return ls
}

func open(t *testing.T, dir string, segSize int64) *Log {
	t.Helper()
	l, err := Open(dir, Options{SegmentSize: segSize})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// store appends ls in batches of 10, as many appends as Raft would make.
func store(t *testing.T, l *Log, ls []*hraft.Log) {
	t.Helper()
	for len(ls) > 0 {
		n := min(10, len(ls))
		if err := l.StoreLogs(ls[:n]); err != nil {
			t.Fatalf("StoreLogs(%d..): %v", ls[0].Index, err)
		}
		ls = ls[n:]
	}
}

// check asserts that the log holds exactly first..last, each entry of the
// term termOf gives.
func check(t *testing.T, l *Log, first, last uint64, termOf func(uint64) uint64) {
	t.Helper()
	f, _ := l.FirstIndex()
	la, _ := l.LastIndex()
	if f != first || la != last {
		t.Fatalf("log holds %d..%d, want %d..%d", f, la, first, last)
	}
	for i := first; i <= last && last != 0; i++ {
		var got hraft.Log
		if err := l.GetLog(i, &got); err != nil {
			t.Fatalf("GetLog(%d): %v", i, err)
		}
		want := entry(i, termOf(i))
		if got.Index != want.Index || got.Term != want.Term || got.Type != want.Type ||
			string(got.Data) != string(want.Data) || !got.AppendedAt.Equal(want.AppendedAt) {
			t.Fatalf("GetLog(%d) = %+v, want %+v", i, got, want)
		}
	}
	for _, i := range []uint64{first - 1, last + 1} {
		if i == 0 {
			continue
		}
		var got hraft.Log
		if err := l.GetLog(i, &got); !errors.Is(err, hraft.ErrLogNotFound) {
			t.Fatalf("GetLog(%d) outside the log: %v, want ErrLogNotFound", i, err)
		}
	}
}

func term(t uint64) func(uint64) uint64 { return func(uint64) uint64 { return t } }

func segments(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

func TestLog_AppendReadReopen(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, 1<<10) // small segments: appends cross many
	check(t, l, 0, 0, term(1))
	for i := uint64(1); i <= 200; i += 10 {
		store(t, l, entries(i, i+9, 1))
	}
	ext := &hraft.Log{Index: 201, Term: 1, Type: hraft.LogConfiguration, Extensions: []byte("x")}
	store(t, l, []*hraft.Log{ext})
	var got hraft.Log
	if err := l.GetLog(201, &got); err != nil || string(got.Extensions) != "x" || got.Data != nil || !got.AppendedAt.IsZero() {
		t.Fatalf("GetLog(201) = %+v, %v", got, err)
	}
	if n := len(segments(t, dir)); n < 5 {
		t.Fatalf("%d segments for 200 entries of 1 KiB segments, want several", n)
	}
	l.Close()

	l = open(t, dir, 1<<10)
	if err := l.DeleteRange(201, 201); err != nil {
		t.Fatal(err)
	}
	check(t, l, 1, 200, term(1))
	store(t, l, entries(201, 210, 2))
	check(t, l, 1, 210, func(i uint64) uint64 { return 1 + i/201 })
}

func TestLog_ReadAfterClose(t *testing.T) {
	l := open(t, t.TempDir(), 0)
	store(t, l, entries(1, 3, 1))
	l.Close()
	var e hraft.Log
	if err := l.GetLog(2, &e); !errors.Is(err, hraft.ErrLogNotFound) {
		t.Fatalf("GetLog after Close: %v, want ErrLogNotFound", err)
	}
	if err := l.StoreLogs(entries(4, 4, 1)); err == nil {
		t.Fatal("an append after Close was taken")
	}
}

func TestLog_RefusesGaps(t *testing.T) {
	l := open(t, t.TempDir(), 0)
	store(t, l, entries(5, 9, 1)) // an empty log starts anywhere
	if err := l.StoreLogs(entries(11, 12, 1)); err == nil {
		t.Fatal("an append after a gap was taken")
	}
	if err := l.StoreLogs([]*hraft.Log{entry(10, 1), entry(12, 1)}); err == nil {
		t.Fatal("an append with a gap inside was taken")
	}
	if err := l.StoreLogs(entries(9, 9, 2)); err == nil {
		t.Fatal("an append over the last entry was taken")
	}
	check(t, l, 5, 9, term(1))
	if !l.IsMonotonic() {
		t.Fatal("the log must say it is monotonic")
	}
}

func TestLog_DropPrefix(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, 1<<10)
	store(t, l, entries(1, 100, 1))
	before := len(segments(t, dir))
	if err := l.DeleteRange(1, 60); err != nil {
		t.Fatal(err)
	}
	check(t, l, 61, 100, term(1))
	if after := len(segments(t, dir)); after >= before {
		t.Fatalf("%d segments after dropping 60 of 100 entries, %d before", after, before)
	}
	l.Close()
	l = open(t, dir, 1<<10) // the head survives: 61 even inside a segment
	check(t, l, 61, 100, term(1))
	store(t, l, entries(101, 110, 1))
	check(t, l, 61, 110, term(1))
}

func TestLog_DropSuffixThenAppendNewTerm(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, 1<<10)
	store(t, l, entries(1, 100, 1))
	if err := l.DeleteRange(40, 100); err != nil {
		t.Fatal(err)
	}
	check(t, l, 1, 39, term(1))
	store(t, l, entries(40, 50, 3))
	termOf := func(i uint64) uint64 {
		if i >= 40 {
			return 3
		}
		return 1
	}
	check(t, l, 1, 50, termOf)
	l.Close()
	l = open(t, dir, 1<<10)
	check(t, l, 1, 50, termOf)

	// A suffix that starts a segment leaves that segment empty.
	if err := l.DeleteRange(45, 50); err != nil {
		t.Fatal(err)
	}
	store(t, l, entries(45, 46, 4))
	l.Close()
	l = open(t, dir, 1<<10)
	check(t, l, 1, 46, func(i uint64) uint64 {
		if i >= 45 {
			return 4
		}
		return termOf(i)
	})
}

func TestLog_DeleteAllThenStartElsewhere(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, 1<<10)
	store(t, l, entries(1, 50, 1))
	if err := l.DeleteRange(1, 50); err != nil {
		t.Fatal(err)
	}
	check(t, l, 0, 0, term(1))
	if n := len(segments(t, dir)); n != 0 {
		t.Fatalf("%d segments left in an empty log", n)
	}
	l.Close()
	l = open(t, dir, 1<<10)
	check(t, l, 0, 0, term(1))
	store(t, l, entries(500, 510, 2)) // as after a snapshot is installed
	l.Close()
	l = open(t, dir, 1<<10)
	check(t, l, 500, 510, term(2))
	if err := l.DeleteRange(502, 505); err == nil {
		t.Fatal("a range in the middle of the log was deleted")
	}
}

// A crash while the whole log was being deleted leaves old segments below
// the head: recovery must not bring them back.
func TestLog_RecoveryIgnoresSegmentsBelowTheHead(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, 1<<10)
	store(t, l, entries(1, 50, 1))
	old := segments(t, dir)
	saved := map[string][]byte{}
	for _, p := range old {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		saved[p] = b
	}
	if err := l.DeleteRange(1, 50); err != nil {
		t.Fatal(err)
	}
	l.Close()
	for p, b := range saved { // the removals never reached the disk
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l = open(t, dir, 1<<10)
	check(t, l, 0, 0, term(1))
}

// lastRecord returns the path of the last segment and the offset of the
// record of index i in it.
func lastRecord(t *testing.T, dir string, i uint64) (string, int64) {
	t.Helper()
	l := open(t, dir, 1<<20)
	defer l.Close()
	s := l.segs[len(l.segs)-1]
	return s.path, s.offsets[i-s.first]
}

func TestLog_TornAppendIsDropped(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, 1<<20)
	store(t, l, entries(1, 10, 1))
	big := entry(11, 1)
	big.Data = make([]byte, 2000) // spans sectors
	for i := range big.Data {
		big.Data[i] = 'v'
	}
	store(t, l, []*hraft.Log{big})
	l.Close()
	path, off := lastRecord(t, dir, 11)

	// The crash wrote the record's first sector and not the rest.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	next := (off/sectorSize + 1) * sectorSize
	if _, err := f.WriteAt(make([]byte, 1024), next); err != nil {
		t.Fatal(err)
	}
	f.Close()

	l = open(t, dir, 1<<20)
	check(t, l, 1, 10, term(1))
	store(t, l, entries(11, 12, 2)) // appends over the torn one
	l.Close()
	l = open(t, dir, 1<<20)
	check(t, l, 1, 12, func(i uint64) uint64 { return 1 + i/11 })
}

func TestLog_RefusesDamagedSyncedEntries(t *testing.T) {
	t.Run("last segment", func(t *testing.T) {
		dir := t.TempDir()
		l := open(t, dir, 1<<20)
		store(t, l, entries(1, 10, 1))
		l.Close()
		path, off := lastRecord(t, dir, 5)
		flip(t, path, off+frameSize+20)
		if _, err := Open(dir, Options{SegmentSize: 1 << 20}); !errors.Is(err, errCorrupt) {
			t.Fatalf("Open of a log whose synced entry 5 is damaged: %v, want errCorrupt", err)
		}
	})
	t.Run("earlier segment", func(t *testing.T) {
		dir := t.TempDir()
		l := open(t, dir, 1<<10)
		store(t, l, entries(1, 100, 1))
		l.Close()
		flip(t, segments(t, dir)[0], headerSize+frameSize+3)
		if _, err := Open(dir, Options{SegmentSize: 1 << 10}); !errors.Is(err, errCorrupt) {
			t.Fatalf("Open of a log whose first segment is damaged: %v, want errCorrupt", err)
		}
	})
}

func flip(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// A segment whose creation the crash cut short (its header never written)
// is dropped; the entries before it stay.
func TestLog_UnfinishedSegmentIsDropped(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, 1<<10)
	store(t, l, entries(1, 30, 1))
	l.Close()
	p := filepath.Join(dir, fmt.Sprintf("%020d%s", 31, segmentExt))
	if err := os.WriteFile(p, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	l = open(t, dir, 1<<10)
	check(t, l, 1, 30, term(1))
	store(t, l, entries(31, 40, 1))
	check(t, l, 1, 40, term(1))
}

func TestLog_ConcurrentReadsDuringAppends(t *testing.T) {
	l := open(t, t.TempDir(), 4<<10)
	store(t, l, entries(1, 1, 1))
	var wg sync.WaitGroup
	done := make(chan struct{})
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				first, _ := l.FirstIndex()
				last, _ := l.LastIndex()
				for i := first; i <= last; i += 7 {
					var e hraft.Log
					err := l.GetLog(i, &e)
					if errors.Is(err, hraft.ErrLogNotFound) {
						continue // dropped meanwhile
					}
					if err != nil || e.Index != i {
						t.Errorf("GetLog(%d) = %d, %v", i, e.Index, err)
						return
					}
				}
			}
		}()
	}
	for i := uint64(2); i <= 2000; i += 20 {
		store(t, l, entries(i, i+19, 1))
		if i%400 == 2 && i > 400 {
			if err := l.DeleteRange(1, i-100); err != nil {
				t.Error(err)
			}
		}
	}
	close(done)
	wg.Wait()
}

func BenchmarkLog_StoreLogs(b *testing.B) {
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			l, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			data := make([]byte, 300)
			next := uint64(1)
			b.SetBytes(int64(batch * len(data)))
			for b.Loop() {
				ls := make([]*hraft.Log, batch)
				for i := range ls {
					ls[i] = &hraft.Log{Index: next, Term: 1, Data: data}
					next++
				}
				if err := l.StoreLogs(ls); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
