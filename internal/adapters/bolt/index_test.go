package bolt

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/cairnkv/cairn/internal/ports"
)

func rangeAt(rev int64) ports.RangeOptions { return ports.RangeOptions{Rev: rev} }

func TestKeyIndex_Compact(t *testing.T) {
	// put@2 put@3 delete@4 put@5 put@7 (see keyIndex.compact).
	build := func() *keyIndex {
		ki := &keyIndex{key: "k"}
		ki.put(revision{main: 2}, 0)
		ki.put(revision{main: 3}, 0)
		ki.tombstone(revision{main: 4})
		ki.put(revision{main: 5}, 0)
		ki.put(revision{main: 7}, 0)
		return ki
	}
	tests := []struct {
		name      string
		rev       int64
		wantDrop  string
		wantAfter string
	}{
		{name: "BeforeAll", rev: 1, wantDrop: "", wantAfter: "[2 3 4t] [5 7] created 5 v2"},
		{name: "KeepsNewestBelow", rev: 3, wantDrop: "2 ", wantAfter: "[3 4t] [5 7] created 5 v2"},
		{name: "DropsTombstone", rev: 4, wantDrop: "2 3 4t ", wantAfter: "[5 7] created 5 v2"},
		{name: "KeepsVisible", rev: 6, wantDrop: "2 3 4t ", wantAfter: "[5 7] created 5 v2"},
		{name: "Latest", rev: 7, wantDrop: "2 3 4t 5 ", wantAfter: "[7] created 5 v2"},
		{name: "Everything", rev: 8, wantDrop: "2 3 4t 5 ", wantAfter: "[7] created 5 v2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ki := build()
			drop := ""
			ki.compact(tt.rev, true, func(r revision, tomb bool) {
				drop += fmt.Sprint(r.main)
				if tomb {
					drop += "t"
				}
				drop += " "
			})
			if drop != tt.wantDrop {
				t.Errorf("dropped %q, want %q", drop, tt.wantDrop)
			}
			if got := fmtGens(ki); got != tt.wantAfter {
				t.Errorf("after: %s, want %s", got, tt.wantAfter)
			}
			for rev := tt.rev; rev <= 8; rev++ {
				got, ok := ki.at(rev)
				want, wok := build().at(rev)
				if got != want || ok != wok {
					t.Errorf("at(%d) = %v %v, want %v %v", rev, got, ok, want, wok)
				}
			}
		})
	}
}

// fmtGens prints the kept revisions of ki by generation, then what it
// knows of the newest one.
func fmtGens(ki *keyIndex) string {
	s := "["
	for i := range ki.nrevs() {
		ir := ki.revAt(i)
		s += fmt.Sprint(ir.rev().main)
		switch {
		case ir.tomb() && i < ki.nrevs()-1:
			s += "t] ["
		case ir.tomb():
			s += "t"
		case i < ki.nrevs()-1:
			s += " "
		}
	}
	return s + fmt.Sprintf("] created %d v%d", ki.created, ki.ver)
}

func TestKeyIndex_At(t *testing.T) {
	// put@2 put@3.0 put@3.1 delete@4 put@6 delete@7, then everything
	// compacted at 7: the key has no revision left.
	ki := &keyIndex{key: "k"}
	ki.put(revision{main: 2}, 0)
	ki.put(revision{main: 3}, 5)
	ki.put(revision{main: 3, sub: 1}, 6)
	if !ki.live() || ki.created != 2 || ki.ver != 3 || ki.lease != 6 {
		t.Fatalf("live generation %s lease %d, want created 2 v3 lease 6", fmtGens(ki), ki.lease)
	}
	ki.tombstone(revision{main: 4})
	ki.put(revision{main: 6}, 0)
	if !ki.live() || ki.created != 6 || ki.ver != 1 || ki.lease != 0 {
		t.Fatalf("new generation %s lease %d, want created 6 v1 lease 0", fmtGens(ki), ki.lease)
	}
	ki.tombstone(revision{main: 7})
	if ki.live() {
		t.Fatal("live after its tombstone")
	}
	tests := []struct {
		name string
		rev  int64
		want string
	}{
		{name: "Before", rev: 1, want: "none"},
		{name: "First", rev: 2, want: "2.0"},
		{name: "LastSub", rev: 3, want: "3.1"},
		{name: "Deleted", rev: 4, want: "none"},
		{name: "StillDeleted", rev: 5, want: "none"},
		{name: "Recreated", rev: 6, want: "6.0"},
		{name: "DeletedAgain", rev: 9, want: "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := "none"
			if r, ok := ki.at(tt.rev); ok {
				got = fmt.Sprintf("%d.%d", r.main, r.sub)
			}
			if got != tt.want {
				t.Errorf("at(%d) = %s, want %s", tt.rev, got, tt.want)
			}
		})
	}
	ki.compact(7, true, func(revision, bool) {})
	if !ki.empty() || ki.nrevs() != 0 {
		t.Errorf("compacted at its last tombstone: %s, want empty", fmtGens(ki))
	}
}

// TestBackend_DeferredIndexCompaction checks that the index keeps the
// revisions an open View of an older compaction may read, and catches up
// once it ends.
func TestBackend_DeferredIndexCompaction(t *testing.T) {
	be, err := Open(filepath.Join(t.TempDir(), "state.db"), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = be.Close() }()
	for i := range 3 {
		b, _ := be.Begin()
		if err := b.Put([]byte("k"), []byte{byte('0' + i)}, 0); err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	v := be.View() // rev 4, compact 0
	b, _ := be.Begin()
	if err := b.Compact(4); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if be.idxCompactRev != 0 {
		t.Fatalf("index compacted to %d under an open View", be.idxCompactRev)
	}
	res, err := v.Range([]byte("k"), nil, rangeAt(2))
	if err != nil || len(res.KVs) != 1 || string(res.KVs[0].Value) != "0" {
		t.Fatalf("old View at 2: %+v, %v", res, err)
	}
	v.End()
	b, _ = be.Begin()
	if be.idxCompactRev != 4 {
		t.Errorf("index compact revision %d after the View ended, want 4", be.idxCompactRev)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if ki := be.idx.get([]byte("k")); ki.nrevs() != 1 {
		t.Errorf("index not compacted: %s", fmtGens(ki))
	}
}
