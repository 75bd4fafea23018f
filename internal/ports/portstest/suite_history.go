package portstest

import (
	"fmt"
	"testing"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
)

// history writes revisions 2 to 8:
//
//	2: put a=1 b=1   3: put a=2 c=1   4: delete b   5: put a=3
//	6: delete c      7: put b=2       8: put d=1 a=4
func history(t *testing.T, be ports.Backend) {
	t.Helper()
	write(t, be, []op{put("a", "1"), put("b", "1")}, []op{put("a", "2"), put("c", "1")})
	write(t, be, []op{del("b", "")}, []op{put("a", "3")}, []op{del("c", "")})
	write(t, be, []op{put("b", "2")}, []op{put("d", "1"), put("a", "4")})
}

const historyRev = 8

// readings renders every read of the history at rev.
func readings(t *testing.T, r ports.Reader, rev int64) string {
	t.Helper()
	s := ""
	for _, q := range []struct {
		key, end string
		opts     ports.RangeOptions
	}{
		{key: "", end: "\x00"},
		{key: "a"}, {key: "b"}, {key: "c"}, {key: "d"},
		{key: "b", end: "d"},
		{key: "a", end: "\x00", opts: ports.RangeOptions{Limit: 1}},
		{key: "", end: "\x00", opts: ports.RangeOptions{CountOnly: true}},
	} {
		q.opts.Rev = rev
		res := rangeOf(t, r, q.key, q.end, q.opts)
		s += fmt.Sprintf("%q-%q: %d %s @%d\n", q.key, q.end, res.Count, fmtKVs(res.KVs), res.Rev)
	}
	return s
}

// viewReadings renders the history reads at each revision from 1 to to.
func viewReadings(t *testing.T, be ports.Backend, to int64) map[int64]string {
	t.Helper()
	v := be.View()
	defer v.End()
	m := map[int64]string{}
	for rev := int64(1); rev <= to; rev++ {
		m[rev] = readings(t, v, rev)
	}
	return m
}

func compact(t *testing.T, be ports.Backend, rev int64) {
	t.Helper()
	batch(t, be, func(b ports.Batch) {
		if err := b.Compact(rev); err != nil {
			t.Fatalf("Compact(%d): %v", rev, err)
		}
	})
}

func (s suite) testCompact(t *testing.T) {
	for c := int64(1); c <= historyRev; c++ {
		t.Run(fmt.Sprintf("At%d", c), func(t *testing.T) {
			be := s.newBackend(t)
			history(t, be)
			before := viewReadings(t, be, historyRev)
			compact(t, be, c)
			if st := be.Stats(); st.Rev != historyRev || st.CompactRev != c || st.Keys != 3 {
				t.Errorf("Stats = %+v, want Rev %d, CompactRev %d, Keys 3", st, historyRev, c)
			}
			check := func(what string, rev int64) {
				v := be.View()
				defer v.End()
				if v.Rev() != rev || v.CompactRev() != c {
					t.Errorf("%s: View Rev, CompactRev = %d, %d", what, v.Rev(), v.CompactRev())
				}
				for rev := int64(1); rev <= historyRev; rev++ {
					if rev < c {
						_, err := v.Range([]byte("a"), nil, ports.RangeOptions{Rev: rev})
						wantCompacted(t, fmt.Sprintf("%s: Range at %d", what, rev), err, c)
						continue
					}
					if got := readings(t, v, rev); got != before[rev] {
						t.Errorf("%s: reads at %d changed:\n got %s\nwant %s", what, rev, got, before[rev])
					}
				}
			}
			check("after compaction", historyRev)
			b, err := be.Begin()
			if err != nil {
				t.Fatal(err)
			}
			wantCompacted(t, "Compact again", b.Compact(c), c)
			wantCompacted(t, "Compact below", b.Compact(c-1), c)
			wantFuture(t, "Compact future", b.Compact(historyRev+1))
			if err := b.Put([]byte("e"), []byte("1"), 0); err != nil {
				t.Fatal(err)
			}
			if err := b.Commit(); err != nil {
				t.Fatal(err)
			}
			check("after a later write", historyRev+1)
			if _, _, _, err := be.Hash(c - 1); c > 1 {
				wantCompacted(t, "Hash below", err, c)
			}
			if _, at, crev, err := be.Hash(c); err != nil || at != c || crev != c {
				t.Errorf("Hash(%d) = _, %d, %d, %v", c, at, crev, err)
			}
		})
	}
}

func (s suite) testCompactTwice(t *testing.T) {
	be := s.newBackend(t)
	history(t, be)
	before := viewReadings(t, be, historyRev)
	compact(t, be, 3)
	compact(t, be, 6)
	v := be.View()
	defer v.End()
	for rev := int64(6); rev <= historyRev; rev++ {
		if got := readings(t, v, rev); got != before[rev] {
			t.Errorf("reads at %d changed:\n got %s\nwant %s", rev, got, before[rev])
		}
	}
	b, err := be.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Commit() }()
	wantCompacted(t, "Compact(5)", b.Compact(5), 6)
}

func (s suite) testCompactInBatch(t *testing.T) {
	be := s.newBackend(t)
	history(t, be)
	before := viewReadings(t, be, historyRev)
	batch(t, be, func(b ports.Batch) {
		if err := b.Put([]byte("a"), []byte("5"), 0); err != nil {
			t.Fatal(err)
		}
		if rev, _ := b.EndRevision(); rev != 9 {
			t.Fatalf("rev = %d, want 9", rev)
		}
		if err := b.Put([]byte("a"), []byte("6"), 0); err != nil { // pending: revision 10
			t.Fatal(err)
		}
		wantFuture(t, "Compact of the pending revision", b.Compact(10))
		if err := b.Compact(8); err != nil {
			t.Fatalf("Compact(8): %v", err)
		}
		if b.CompactRev() != 8 || b.Rev() != 9 {
			t.Errorf("Batch CompactRev, Rev = %d, %d, want 8, 9", b.CompactRev(), b.Rev())
		}
		_, err := b.Range([]byte("a"), nil, ports.RangeOptions{Rev: 7})
		wantCompacted(t, "Range at 7 in the batch", err, 8)
		if got := readings(t, b, 8); got != before[8] {
			t.Errorf("batch reads at 8 changed:\n got %s\nwant %s", got, before[8])
		}
		res := rangeOf(t, b, "a", "", ports.RangeOptions{})
		wantKVs(t, "pending read", res.KVs, []domain.KeyValue{kv("a", "6", 2, 10, 6, 0)})
		wantCompacted(t, "Compact(8) twice", b.Compact(8), 8)
	})
	v := be.View()
	defer v.End()
	if v.Rev() != 10 || v.CompactRev() != 8 {
		t.Errorf("View Rev, CompactRev = %d, %d, want 10, 8", v.Rev(), v.CompactRev())
	}
	res := rangeOf(t, v, "a", "", ports.RangeOptions{Rev: 9})
	wantKVs(t, "a at 9", res.KVs, []domain.KeyValue{kv("a", "5", 2, 9, 5, 0)})
}

func (s suite) testHash(t *testing.T) {
	a, b := s.newBackend(t), s.newBackend(t)
	for _, be := range []ports.Backend{a, b} {
		history(t, be)
		compact(t, be, 4)
		write(t, be, []op{put("x", "1"), del("d", "")})
	}
	for rev := int64(0); rev <= historyRev+1; rev++ {
		ha, ata, ca, erra := a.Hash(rev)
		hb, atb, cb, errb := b.Hash(rev)
		if rev > 0 && rev < 4 {
			wantCompacted(t, fmt.Sprintf("Hash(%d)", rev), erra, 4)
			continue
		}
		if erra != nil || errb != nil || ha != hb || ata != atb || ca != cb || ca != 4 {
			t.Errorf("Hash(%d) = %x %d %d %v and %x %d %d %v", rev, ha, ata, ca, erra, hb, atb, cb, errb)
		}
		if rev == 0 && ata != historyRev+1 {
			t.Errorf("Hash(0) at %d, want %d", ata, historyRev+1)
		}
	}
	if _, _, _, err := a.Hash(historyRev + 2); err == nil {
		t.Error("Hash of a future revision: no error")
	} else {
		wantFuture(t, "Hash future", err)
	}
	h8, _, _, _ := a.Hash(8)
	h9, _, _, _ := a.Hash(9)
	if h8 == h9 {
		t.Error("Hash(8) == Hash(9) though revision 9 wrote")
	}
	write(t, a, []op{put("y", "1")})
	write(t, b, []op{put("y", "2")})
	ha, _, _, _ := a.Hash(0)
	hb, _, _, _ := b.Hash(0)
	if ha == hb {
		t.Error("Hash equal after different writes")
	}
	ha, _, _, _ = a.Hash(9)
	hb, _, _, _ = b.Hash(9)
	if ha != hb {
		t.Error("Hash(9) differs though the backends differ only at 10")
	}
}

func (s suite) testView(t *testing.T) {
	be := s.newBackend(t)
	write(t, be, []op{put("a", "1"), put("b", "1")})
	v := be.View()
	defer v.End()
	write(t, be, []op{put("a", "2"), del("b", "")})
	compact(t, be, 3)
	if v.Rev() != 2 || v.CompactRev() != 0 {
		t.Errorf("old View Rev, CompactRev = %d, %d, want 2, 0", v.Rev(), v.CompactRev())
	}
	res := rangeOf(t, v, "", "\x00", ports.RangeOptions{})
	wantKVs(t, "old View", res.KVs, []domain.KeyValue{kv("a", "1", 2, 2, 1, 0), kv("b", "1", 2, 2, 1, 0)})
	if res := rangeOf(t, v, "", "\x00", ports.RangeOptions{Rev: 1}); res.Count != 0 {
		t.Errorf("old View at 1: %+v", res)
	}
	_, err := v.Range([]byte("a"), nil, ports.RangeOptions{Rev: 3})
	wantFuture(t, "old View at 3", err)
	w := be.View()
	defer w.End()
	if w.Rev() != 3 || w.CompactRev() != 3 {
		t.Errorf("new View Rev, CompactRev = %d, %d, want 3, 3", w.Rev(), w.CompactRev())
	}
	res = rangeOf(t, w, "", "\x00", ports.RangeOptions{})
	wantKVs(t, "new View", res.KVs, []domain.KeyValue{kv("a", "2", 2, 3, 2, 0)})
	_, err = w.Range([]byte("a"), nil, ports.RangeOptions{Rev: 2})
	wantCompacted(t, "new View at 2", err, 3)
}

func (s suite) testAliasing(t *testing.T) {
	be := s.newBackend(t)
	key, value := []byte("key"), []byte("value")
	batch(t, be, func(b ports.Batch) {
		if err := b.Put(key, value, 0); err != nil {
			t.Fatal(err)
		}
		copy(key, "zzz")
		copy(value, "zzzzz")
	})
	res := viewRange(t, be, "key", "", ports.RangeOptions{})
	wantKVs(t, "after changing the Put buffers", res.KVs, []domain.KeyValue{kv("key", "value", 2, 2, 1, 0)})
	copy(res.KVs[0].Key, "zzz")
	copy(res.KVs[0].Value, "zzzzz")
	res = viewRange(t, be, "key", "", ports.RangeOptions{})
	wantKVs(t, "after changing a result", res.KVs, []domain.KeyValue{kv("key", "value", 2, 2, 1, 0)})
}
