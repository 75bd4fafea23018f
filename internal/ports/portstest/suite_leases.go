package portstest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
)

func putL(key, value string, lease int64) op { return op{key: key, value: value, lease: lease} }

// putLeases writes the leases in one batch.
func putLeases(t *testing.T, be ports.Backend, ls ...domain.Lease) {
	t.Helper()
	batch(t, be, func(b ports.Batch) {
		for _, l := range ls {
			if err := b.PutLease(l); err != nil {
				t.Fatalf("PutLease(%+v): %v", l, err)
			}
		}
	})
}

// leaseKeysOf reads the keys of lease id through r as strings.
func leaseKeysOf(t *testing.T, r ports.Reader, id int64) []string {
	t.Helper()
	keys, err := r.LeaseKeys(id)
	if err != nil {
		t.Fatalf("LeaseKeys(%d): %v", id, err)
	}
	var out []string
	for _, k := range keys {
		out = append(out, string(k))
	}
	return out
}

// wantLeaseKeys checks the keys of lease id read through r.
func wantLeaseKeys(t *testing.T, what string, r ports.Reader, id int64, want ...string) {
	t.Helper()
	if got := leaseKeysOf(t, r, id); fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Errorf("%s: LeaseKeys(%d) = %q, want %q", what, id, got, want)
	}
}

// wantNoLease checks that r has no lease id.
func wantNoLease(t *testing.T, what string, r ports.Reader, id int64) {
	t.Helper()
	if l, err := r.Lease(id); !errors.Is(err, domain.ErrLeaseNotFound) {
		t.Errorf("%s: Lease(%d) = %+v, %v, want ErrLeaseNotFound", what, id, l, err)
	}
}

// leaseTable renders every lease of v with its keys.
func leaseTable(t *testing.T, v ports.View) string {
	t.Helper()
	ls, err := v.Leases()
	if err != nil {
		t.Fatalf("Leases: %v", err)
	}
	s := ""
	for _, l := range ls {
		s += fmt.Sprintf("%d ttl %d rem %d: %q\n", l.ID, l.TTL, l.RemainingTTL, leaseKeysOf(t, v, l.ID))
	}
	return s
}

// viewLeaseTable renders the leases through a fresh View.
func viewLeaseTable(t *testing.T, be ports.Backend) string {
	t.Helper()
	v := be.View()
	defer v.End()
	return leaseTable(t, v)
}

func (s suite) testLeases(t *testing.T) {
	be := s.newBackend(t)
	h0, _, _, err := be.Hash(0)
	if err != nil {
		t.Fatal(err)
	}
	if got := viewLeaseTable(t, be); got != "" {
		t.Errorf("fresh store has leases:\n%s", got)
	}
	putLeases(t, be,
		domain.Lease{ID: 300, TTL: 60},
		domain.Lease{ID: 5, TTL: 10, RemainingTTL: 4},
		domain.Lease{ID: domain.MaxLeaseID, TTL: 1},
		domain.Lease{ID: 256, TTL: 20},
		domain.Lease{ID: 1, TTL: 30},
	)
	want := fmt.Sprintf("1 ttl 30 rem 0: []\n5 ttl 10 rem 4: []\n256 ttl 20 rem 0: []\n300 ttl 60 rem 0: []\n%d ttl 1 rem 0: []\n", domain.MaxLeaseID)
	if got := viewLeaseTable(t, be); got != want {
		t.Errorf("Leases in ID order:\n got %s\nwant %s", got, want)
	}
	t.Run("Lease", func(t *testing.T) {
		v := be.View()
		defer v.End()
		if l, err := v.Lease(5); err != nil || l != (domain.Lease{ID: 5, TTL: 10, RemainingTTL: 4}) {
			t.Errorf("Lease(5) = %+v, %v", l, err)
		}
	})
	t.Run("NoRevision", func(t *testing.T) {
		if st := be.Stats(); st.Rev != 1 || st.Keys != 0 {
			t.Errorf("Stats = %+v, want Rev 1: leases are not revisions", st)
		}
		if h, _, _, err := be.Hash(0); err != nil || h != h0 {
			t.Errorf("Hash = %x, %v, want %x: leases are not in the hash", h, err, h0)
		}
	})
	t.Run("Replace", func(t *testing.T) {
		putLeases(t, be, domain.Lease{ID: 300, TTL: 60, RemainingTTL: 12})
		v := be.View()
		defer v.End()
		if l, err := v.Lease(300); err != nil || l != (domain.Lease{ID: 300, TTL: 60, RemainingTTL: 12}) {
			t.Errorf("replaced Lease(300) = %+v, %v", l, err)
		}
		if ls, _ := v.Leases(); len(ls) != 5 {
			t.Errorf("Leases after a replace = %+v, want 5", ls)
		}
	})
	t.Run("ErrLeaseNotFound", func(t *testing.T) {
		v := be.View()
		defer v.End()
		for _, id := range []int64{0, 2, 4, 6, 257, domain.MaxLeaseID + 1} {
			wantNoLease(t, "View", v, id)
			wantLeaseKeys(t, "View", v, id)
		}
		b, err := be.Begin()
		if err != nil {
			t.Fatal(err)
		}
		wantNoLease(t, "Batch", b, 2)
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("InvalidID", func(t *testing.T) {
		b, err := be.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []int64{0, -1} {
			if err := b.PutLease(domain.Lease{ID: id, TTL: 5}); !errors.Is(err, domain.ErrInvalidArgument) {
				t.Errorf("PutLease(ID %d) = %v, want ErrInvalidArgument", id, err)
			}
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		batch(t, be, func(b ports.Batch) {
			for _, id := range []int64{5, 300, 2} { // 2 does not exist: no error
				if err := b.DeleteLease(id); err != nil {
					t.Errorf("DeleteLease(%d): %v", id, err)
				}
			}
		})
		want := fmt.Sprintf("1 ttl 30 rem 0: []\n256 ttl 20 rem 0: []\n%d ttl 1 rem 0: []\n", domain.MaxLeaseID)
		if got := viewLeaseTable(t, be); got != want {
			t.Errorf("Leases after DeleteLease:\n got %s\nwant %s", got, want)
		}
	})
}

func (s suite) testLeaseAttach(t *testing.T) {
	be := s.newBackend(t)
	putLeases(t, be, domain.Lease{ID: 1, TTL: 10}, domain.Lease{ID: 2, TTL: 10}, domain.Lease{ID: 3, TTL: 10})
	steps := []struct {
		name string
		revs [][]op
		want [3][]string // the keys of leases 1, 2 and 3
	}{
		{
			name: "AttachOnPut",
			revs: [][]op{{putL("a", "1", 1), putL("b", "1", 1), putL("c", "1", 2), put("d", "1")}},
			want: [3][]string{{"a", "b"}, {"c"}, nil},
		},
		{
			name: "SameLease",
			revs: [][]op{{putL("a", "2", 1)}},
			want: [3][]string{{"a", "b"}, {"c"}, nil},
		},
		{
			name: "MoveToAnotherLease",
			revs: [][]op{{putL("b", "2", 2)}},
			want: [3][]string{{"a"}, {"b", "c"}, nil},
		},
		{
			name: "PutWithoutLeaseDetaches",
			revs: [][]op{{put("a", "3")}},
			want: [3][]string{nil, {"b", "c"}, nil},
		},
		{
			name: "DeleteDetaches",
			revs: [][]op{{del("c", "")}},
			want: [3][]string{nil, {"b"}, nil},
		},
		{
			name: "DeleteRangeOfPrefix",
			revs: [][]op{
				{putL("p/1", "1", 3), putL("p/2", "1", 3), putL("p/3", "1", 1), putL("q", "1", 3)},
				{del("p/", "p0")},
			},
			want: [3][]string{nil, {"b"}, {"q"}},
		},
		{
			name: "RecreatedKeyAttachesAnew",
			revs: [][]op{{putL("p/1", "2", 1), put("p/2", "2"), putL("c", "2", 3)}},
			want: [3][]string{{"p/1"}, {"b"}, {"c", "q"}},
		},
		{
			name: "PutDeletePutInOneRevision",
			revs: [][]op{{putL("x", "1", 2), del("x", ""), putL("x", "2", 3)}},
			want: [3][]string{{"p/1"}, {"b"}, {"c", "q", "x"}},
		},
		{
			name: "DeleteThenPutWithoutLease",
			revs: [][]op{{del("x", ""), put("x", "3")}, {del("", "\x00")}, {putL("q", "2", 1)}},
			want: [3][]string{{"q"}, nil, nil},
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			write(t, be, st.revs...)
			v := be.View()
			defer v.End()
			for i, want := range st.want {
				wantLeaseKeys(t, "View", v, int64(i+1), want...)
				for _, k := range want { // the record agrees
					res := rangeOf(t, v, k, "", ports.RangeOptions{})
					if len(res.KVs) != 1 || res.KVs[0].Lease != int64(i+1) {
						t.Errorf("Range(%q) = %s, want lease %d", k, fmtKVs(res.KVs), i+1)
					}
				}
			}
		})
	}
}

func (s suite) testLeaseBatch(t *testing.T) {
	be := s.newBackend(t)
	putLeases(t, be, domain.Lease{ID: 1, TTL: 10})
	write(t, be, []op{putL("k1", "1", 1)})
	before := be.View()
	defer before.End()
	b, err := be.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.PutLease(domain.Lease{ID: 2, TTL: 20}); err != nil {
		t.Fatal(err)
	}
	if err := b.PutLease(domain.Lease{ID: 1, TTL: 10, RemainingTTL: 7}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"k2", "k1", "k0"} {
		if err := b.Put([]byte(k), []byte("2"), 2); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.PutLease(domain.Lease{ID: 3, TTL: 30}); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteLease(3); err != nil {
		t.Fatal(err)
	}
	t.Run("BatchSeesItsWrites", func(t *testing.T) {
		if l, err := b.Lease(2); err != nil || l != (domain.Lease{ID: 2, TTL: 20}) {
			t.Errorf("Batch.Lease(2) = %+v, %v", l, err)
		}
		if l, err := b.Lease(1); err != nil || l.RemainingTTL != 7 {
			t.Errorf("Batch.Lease(1) = %+v, %v, want RemainingTTL 7", l, err)
		}
		wantNoLease(t, "Batch", b, 3)
		wantLeaseKeys(t, "Batch", b, 1)
		wantLeaseKeys(t, "Batch", b, 2, "k0", "k1", "k2")
	})
	t.Run("ViewDuringBatch", func(t *testing.T) {
		v := be.View()
		defer v.End()
		wantNoLease(t, "View", v, 2)
		wantLeaseKeys(t, "View", v, 1, "k1")
		if l, err := v.Lease(1); err != nil || l.RemainingTTL != 0 {
			t.Errorf("View.Lease(1) = %+v, %v, want RemainingTTL 0", l, err)
		}
	})
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lease(1); err == nil {
		t.Error("Lease after Commit: no error")
	}
	if _, err := b.LeaseKeys(1); err == nil {
		t.Error("LeaseKeys after Commit: no error")
	}
	if err := b.PutLease(domain.Lease{ID: 4, TTL: 1}); err == nil {
		t.Error("PutLease after Commit: no error")
	}
	if err := b.DeleteLease(1); err == nil {
		t.Error("DeleteLease after Commit: no error")
	}
	t.Run("ViewOpenedBeforeCommit", func(t *testing.T) {
		if got, want := leaseTable(t, before), "1 ttl 10 rem 0: [\"k1\"]\n"; got != want {
			t.Errorf("old View:\n got %s\nwant %s", got, want)
		}
		wantNoLease(t, "old View", before, 2)
	})
	t.Run("ViewAfterCommit", func(t *testing.T) {
		want := "1 ttl 10 rem 7: []\n2 ttl 20 rem 0: [\"k0\" \"k1\" \"k2\"]\n"
		if got := viewLeaseTable(t, be); got != want {
			t.Errorf("new View:\n got %s\nwant %s", got, want)
		}
	})
}

// testLeaseRevoke deletes a lease the way a revoke does, and a lease whose
// keys are still attached.
func (s suite) testLeaseRevoke(t *testing.T) {
	be := s.newBackend(t)
	putLeases(t, be, domain.Lease{ID: 1, TTL: 10}, domain.Lease{ID: 2, TTL: 10})
	write(t, be, []op{putL("a", "1", 1), putL("b", "1", 1), putL("c", "1", 2)})
	t.Run("Revoke", func(t *testing.T) {
		batch(t, be, func(b ports.Batch) {
			keys, err := b.LeaseKeys(1)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				if _, err := b.DeleteRange(k, nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.DeleteLease(1); err != nil {
				t.Fatal(err)
			}
			wantNoLease(t, "Batch", b, 1)
			wantLeaseKeys(t, "Batch", b, 1)
		})
		if got, want := viewLeaseTable(t, be), "2 ttl 10 rem 0: [\"c\"]\n"; got != want {
			t.Errorf("after revoke:\n got %s\nwant %s", got, want)
		}
		if res := viewRange(t, be, "", "\x00", ports.RangeOptions{}); res.Count != 1 {
			t.Errorf("keys after revoke: %s", fmtKVs(res.KVs))
		}
	})
	t.Run("KeysStillAttached", func(t *testing.T) {
		// A DeleteLease whose keys were not deleted detaches them: the
		// lease, granted again, has no keys until a put attaches one.
		batch(t, be, func(b ports.Batch) {
			if err := b.DeleteLease(2); err != nil {
				t.Fatal(err)
			}
			if err := b.PutLease(domain.Lease{ID: 2, TTL: 5}); err != nil {
				t.Fatal(err)
			}
			wantLeaseKeys(t, "Batch", b, 2)
		})
		if got, want := viewLeaseTable(t, be), "2 ttl 5 rem 0: []\n"; got != want {
			t.Errorf("after DeleteLease and PutLease:\n got %s\nwant %s", got, want)
		}
		write(t, be, []op{putL("c", "2", 2), putL("d", "1", 2)})
		if got, want := viewLeaseTable(t, be), "2 ttl 5 rem 0: [\"c\" \"d\"]\n"; got != want {
			t.Errorf("after a put with the same lease:\n got %s\nwant %s", got, want)
		}
	})
	t.Run("AttachedToMissingLease", func(t *testing.T) {
		// The caller checks that a lease exists before a put; the keys of
		// a lease that does not exist are none.
		write(t, be, []op{putL("e", "1", 9)})
		v := be.View()
		defer v.End()
		wantNoLease(t, "View", v, 9)
		wantLeaseKeys(t, "View", v, 9)
	})
}

func (s suite) testLeaseKeysOrder(t *testing.T) {
	be := s.newBackend(t)
	putLeases(t, be, domain.Lease{ID: 1, TTL: 1}, domain.Lease{ID: 2, TTL: 1}, domain.Lease{ID: 256, TTL: 1})
	keys := []string{"b", "\xff", "a\x00b", "\x00", "a", "ab", "a/b", "\x00\x00", "ключ"}
	var ops []op
	for i, k := range keys {
		ops = append(ops, putL(k, "v", 1), putL(fmt.Sprintf("other%d", i), "v", []int64{2, 256}[i%2]))
	}
	write(t, be, ops)
	want := []string{"\x00", "\x00\x00", "a", "a\x00b", "a/b", "ab", "b", "\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87", "\xff"}
	t.Run("View", func(t *testing.T) {
		v := be.View()
		defer v.End()
		wantLeaseKeys(t, "View", v, 1, want...)
		got, err := v.LeaseKeys(1)
		if err != nil {
			t.Fatal(err)
		}
		second := string(got[1])
		got[0] = append(got[0], "appended"...)
		if string(got[1]) != second {
			t.Errorf("an append to one key changed the next: %q", got[1])
		}
		for _, k := range got {
			for i := range k {
				k[i] = 'z'
			}
		}
		wantLeaseKeys(t, "after changing the returned keys", v, 1, want...)
	})
	t.Run("Batch", func(t *testing.T) {
		// The keys a Batch returns and the key given to Put are copies.
		want := []string{"m", "other0", "other2", "other4", "other6", "other8"}
		key := []byte("m")
		batch(t, be, func(b ports.Batch) {
			if err := b.Put(key, []byte("v"), 2); err != nil {
				t.Fatal(err)
			}
			key[0] = 'n'
			got, err := b.LeaseKeys(2)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range got {
				copy(k, "zzzzzz")
			}
			wantLeaseKeys(t, "Batch", b, 2, want...)
		})
		v := be.View()
		defer v.End()
		wantLeaseKeys(t, "after the batch", v, 2, want...)
		wantLeaseKeys(t, "after the batch", v, 256, "other1", "other3", "other5", "other7")
	})
}

func (s suite) testLeaseCompact(t *testing.T) {
	be := s.newBackend(t)
	putLeases(t, be, domain.Lease{ID: 1, TTL: 10, RemainingTTL: 3})
	write(t, be, []op{putL("a", "1", 1), putL("b", "1", 1)}, []op{putL("a", "2", 1)}, []op{del("b", "")})
	rev, _ := write(t, be, []op{putL("c", "1", 1)})
	compact(t, be, rev)
	if got, want := viewLeaseTable(t, be), "1 ttl 10 rem 3: [\"a\" \"c\"]\n"; got != want {
		t.Errorf("after compaction:\n got %s\nwant %s", got, want)
	}
	write(t, be, []op{put("a", "3")}, []op{del("c", "")})
	if got, want := viewLeaseTable(t, be), "1 ttl 10 rem 3: []\n"; got != want {
		t.Errorf("detach after compaction:\n got %s\nwant %s", got, want)
	}
}

func (s suite) testLeaseSnapshot(t *testing.T) {
	a := s.newBackend(t)
	putLeases(t, a, domain.Lease{ID: 1, TTL: 10, RemainingTTL: 4}, domain.Lease{ID: 2, TTL: 20}, domain.Lease{ID: 3, TTL: 30})
	write(t, a, []op{putL("k\x00\xff", "1", 1), putL("a", "1", 2), putL("b", "1", 2), put("c", "1")}, []op{putL("c", "2", 1)})
	want := viewLeaseTable(t, a)
	snap, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	putLeases(t, a, domain.Lease{ID: 4, TTL: 40}) // not in the snapshot
	write(t, a, []op{putL("d", "1", 4)})
	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	snap.Release()

	b := s.newBackend(t)
	putLeases(t, b, domain.Lease{ID: 2, TTL: 99}, domain.Lease{ID: 9, TTL: 9})
	write(t, b, []op{putL("junk", "1", 9), putL("a", "1", 2)})
	if err := b.Restore(&buf); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got := viewLeaseTable(t, b); got != want {
		t.Errorf("restored leases:\n got %s\nwant %s", got, want)
	}
	// The restored store moves keys between leases as the original does.
	write(t, b, []op{putL("a", "2", 1), put("c", "3")}, []op{del("b", "")})
	want = "1 ttl 10 rem 4: [\"a\" \"k\\x00\\xff\"]\n2 ttl 20 rem 0: []\n3 ttl 30 rem 0: []\n"
	if got := viewLeaseTable(t, b); got != want {
		t.Errorf("writes after Restore:\n got %s\nwant %s", got, want)
	}
}
