package portstest

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
)

func (s suite) testMembers(t *testing.T) {
	be := s.newBackend(t)
	n1 := domain.Member{ID: 1, Name: "n1", PeerURL: "http://n1:2380", ClientURLs: []string{"http://n1:2379"}}
	n2 := domain.Member{ID: 2, Name: "n2", PeerURL: "http://n2:2380", ClientURLs: []string{"http://n2:2379", "http://n2:2479"}}
	n3 := domain.Member{ID: 3, Name: "n3", PeerURL: "http://n3:2380"}
	b, err := be.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []domain.Member{n3, n1, n2} {
		if err := b.PutMember(m); err != nil {
			t.Fatalf("PutMember(%s): %v", m.Name, err)
		}
	}
	if err := b.SetClusterID(42); err != nil {
		t.Fatal(err)
	}
	if err := b.SetClusterID(43); err != nil {
		t.Fatal(err)
	}
	if ms, _ := be.Members(); len(ms) != 0 {
		t.Errorf("Members before commit = %v", ms)
	}
	if id := be.ClusterID(); id != 0 {
		t.Errorf("ClusterID before commit = %d", id)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	wantMembers(t, be, n1, n2, n3)
	if id := be.ClusterID(); id != 42 {
		t.Errorf("ClusterID = %d, want 42", id)
	}
	n2.PeerURL = "http://n2b:2380"
	batch(t, be, func(b ports.Batch) {
		if err := b.PutMember(n2); err != nil {
			t.Fatal(err)
		}
		if err := b.SetClusterID(7); err != nil {
			t.Fatal(err)
		}
	})
	wantMembers(t, be, n1, n2, n3)
	if id := be.ClusterID(); id != 42 {
		t.Errorf("ClusterID after a second SetClusterID = %d, want 42", id)
	}
	if st := be.Stats(); st.Rev != 1 {
		t.Errorf("members changed the revision: %d", st.Rev)
	}
}

func wantMembers(t *testing.T, be ports.Backend, want ...domain.Member) {
	t.Helper()
	got, err := be.Members()
	if err != nil {
		t.Fatalf("Members: %v", err)
	}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("Members:\n got %+v\nwant %+v", got, want)
	}
}

func (s suite) testApplied(t *testing.T) {
	be := s.newBackend(t)
	b, err := be.Begin()
	if err != nil {
		t.Fatal(err)
	}
	b.SetApplied(5, 2)
	if idx, term := be.Applied(); idx != 0 || term != 0 {
		t.Errorf("Applied before commit = %d, %d", idx, term)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if idx, term := be.Applied(); idx != 5 || term != 2 {
		t.Errorf("Applied = %d, %d, want 5, 2", idx, term)
	}
	batch(t, be, func(b ports.Batch) {
		if err := b.Put([]byte("a"), []byte("1"), 0); err != nil {
			t.Fatal(err)
		}
		b.SetApplied(6, 2)
		b.SetApplied(9, 3)
	})
	if idx, term := be.Applied(); idx != 9 || term != 3 {
		t.Errorf("Applied = %d, %d, want 9, 3", idx, term)
	}
	write(t, be, []op{put("b", "1")}) // no SetApplied: unchanged
	if idx, term := be.Applied(); idx != 9 || term != 3 {
		t.Errorf("Applied after a batch without SetApplied = %d, %d, want 9, 3", idx, term)
	}
}

func (s suite) testSnapshotRestore(t *testing.T) {
	a := s.newBackend(t)
	history(t, a)
	compact(t, a, 4)
	batch(t, a, func(b ports.Batch) {
		if err := b.PutMember(domain.Member{ID: 1, Name: "n1", PeerURL: "http://n1:2380"}); err != nil {
			t.Fatal(err)
		}
		if err := b.SetClusterID(42); err != nil {
			t.Fatal(err)
		}
		if err := b.Put([]byte("k\x00\xff"), []byte("v"), 3); err != nil {
			t.Fatal(err)
		}
		b.SetApplied(12, 3)
	})
	snap, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	write(t, a, []op{put("after-snapshot", "1")}) // not in the snapshot
	var buf bytes.Buffer
	n, err := snap.WriteTo(&buf)
	if err != nil || n != snap.Size() || int64(buf.Len()) != n {
		t.Fatalf("WriteTo = %d, %v; Size %d; wrote %d", n, err, snap.Size(), buf.Len())
	}
	if got := snap.Rev(); got != historyRev+1 {
		t.Errorf("snapshot Rev = %d, want %d", got, historyRev+1)
	}
	snap.Release()

	b := s.newBackend(t)
	write(t, b, []op{put("junk", "1")}, []op{put("junk", "2")}, []op{put("junk", "3")}, []op{put("junk", "4")})
	batch(t, b, func(bt ports.Batch) {
		if err := bt.PutMember(domain.Member{ID: 9, Name: "x"}); err != nil {
			t.Fatal(err)
		}
		bt.SetApplied(99, 9)
	})
	if err := b.Restore(&buf); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	const rev = historyRev + 1
	if ia, ta := b.Applied(); ia != 12 || ta != 3 {
		t.Errorf("Applied = %d, %d, want 12, 3", ia, ta)
	}
	if id := b.ClusterID(); id != 42 {
		t.Errorf("ClusterID = %d, want 42", id)
	}
	wantMembers(t, b, domain.Member{ID: 1, Name: "n1", PeerURL: "http://n1:2380"})
	if st := b.Stats(); st.Rev != rev || st.CompactRev != 4 || st.Keys != 4 {
		t.Errorf("Stats = %+v, want Rev %d, CompactRev 4, Keys 4", st, rev)
	}
	va, vb := a.View(), b.View()
	for r := int64(4); r <= rev; r++ {
		if ra, rb := readings(t, va, r), readings(t, vb, r); ra != rb {
			t.Errorf("reads at %d differ:\n got %s\nwant %s", r, rb, ra)
		}
	}
	if res := rangeOf(t, vb, "", "\x00", ports.RangeOptions{}); res.Count != 4 || res.Rev != rev {
		t.Errorf("restored latest: %+v", res)
	}
	_, err = vb.Range([]byte("a"), nil, ports.RangeOptions{Rev: 3})
	wantCompacted(t, "restored Range at 3", err, 4)
	va.End()
	vb.End()
	for r := int64(4); r <= rev; r++ {
		ha, _, _, erra := a.Hash(r)
		hb, _, _, errb := b.Hash(r)
		if erra != nil || errb != nil || ha != hb {
			t.Errorf("Hash(%d) = %x, %v and %x, %v", r, ha, erra, hb, errb)
		}
	}
	// The restored backend goes on from the snapshot's revision.
	rb, _ := write(t, b, []op{put("after-snapshot", "1")})
	if rb != rev+1 {
		t.Errorf("first revision after Restore = %d, want %d", rb, rev+1)
	}
	ha, _, _, _ := a.Hash(0)
	hb, _, _, _ := b.Hash(0)
	if ha != hb {
		t.Errorf("Hash after the same write differs: %x, %x", ha, hb)
	}
}

func (s suite) testBegin(t *testing.T) {
	be := s.newBackend(t)
	b, err := be.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := be.Begin(); err == nil {
		t.Error("second Begin: no error")
	}
	if err := be.Restore(bytes.NewReader(nil)); err == nil {
		t.Error("Restore with a batch open: no error")
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := b.Put([]byte("a"), nil, 0); err == nil {
		t.Error("Put after Commit: no error")
	}
	if err := b.Commit(); err == nil {
		t.Error("second Commit: no error")
	}
	b2, err := be.Begin()
	if err != nil {
		t.Fatalf("Begin after Commit: %v", err)
	}
	if err := b2.Commit(); err != nil {
		t.Fatal(err)
	}
}
