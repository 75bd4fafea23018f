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
		ki := &keyIndex{key: []byte("k")}
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
		{name: "BeforeAll", rev: 1, wantDrop: "", wantAfter: "[2:v2 [2 3 4t]] [5:v2 [5 7]]"},
		{name: "KeepsNewestBelow", rev: 3, wantDrop: "2 ", wantAfter: "[2:v2 [3 4t]] [5:v2 [5 7]]"},
		{name: "DropsTombstone", rev: 4, wantDrop: "2 3 4t ", wantAfter: "[5:v2 [5 7]]"},
		{name: "KeepsVisible", rev: 6, wantDrop: "2 3 4t ", wantAfter: "[5:v2 [5 7]]"},
		{name: "Latest", rev: 7, wantDrop: "2 3 4t 5 ", wantAfter: "[5:v2 [7]]"},
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

func fmtGens(ki *keyIndex) string {
	s := ""
	for i, g := range ki.gens {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("[%d:v%d [", g.created, g.ver)
		for j, r := range g.revs {
			if j > 0 {
				s += " "
			}
			s += fmt.Sprint(r.main)
			if g.deleted && j == len(g.revs)-1 {
				s += "t"
			}
		}
		s += "]]"
	}
	return s
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
	if g := be.idx.get([]byte("k")).gens; len(g) != 1 || len(g[0].revs) != 1 {
		t.Errorf("index not compacted: %+v", g)
	}
}
