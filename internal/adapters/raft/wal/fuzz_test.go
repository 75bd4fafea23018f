package wal

import (
	"os"
	"testing"

	hraft "github.com/hashicorp/raft"
)

// FuzzLog_Recover damages the last segment of a log of 40 entries (a byte
// changed, or the file cut) and checks what Open makes of it: an error, or
// a log whose entries are a prefix of those written, each read back whole.
// Recovery may drop a torn tail; it must never return a wrong entry.
func FuzzLog_Recover(f *testing.F) {
	f.Add(uint16(30), byte(0xff), uint16(0))
	f.Add(uint16(700), byte(0), uint16(0))
	f.Add(uint16(0), byte(0), uint16(900))
	f.Fuzz(func(t *testing.T, at uint16, xor byte, cut uint16) {
		dir := t.TempDir()
		l, err := Open(dir, Options{SegmentSize: 1 << 10})
		if err != nil {
			t.Fatal(err)
		}
		for i := uint64(1); i <= 40; i += 4 {
			if err := l.StoreLogs(entries(i, i+3, 1)); err != nil {
				t.Fatal(err)
			}
		}
		path := l.segs[len(l.segs)-1].path
		l.Close()

		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if int(at) < len(b) {
			b[at] ^= xor
		}
		if cut > 0 && int(cut) < len(b) {
			b = b[:cut]
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}

		l, err = Open(dir, Options{SegmentSize: 1 << 10})
		if err != nil {
			return // refused: the damage may hide synced entries
		}
		defer l.Close()
		first, _ := l.FirstIndex()
		last, _ := l.LastIndex()
		if last > 40 || (last != 0 && first != 1) {
			t.Fatalf("recovered %d..%d from a log of 1..40", first, last)
		}
		for i := first; i <= last && last != 0; i++ {
			var e hraft.Log
			if err := l.GetLog(i, &e); err != nil {
				t.Fatalf("GetLog(%d) after recovery: %v", i, err)
			}
			if want := entry(i, 1); e.Term != 1 || string(e.Data) != string(want.Data) || !e.AppendedAt.Equal(want.AppendedAt) {
				t.Fatalf("entry %d after recovery: %+v", i, e)
			}
		}
		// The recovered log takes appends again.
		if err := l.StoreLogs(entries(last+1, last+2, 2)); err != nil {
			t.Fatal(err)
		}
	})
}
