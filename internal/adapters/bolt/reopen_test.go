package bolt_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/cairnkv/cairn/internal/adapters/bolt"
	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
)

// commit runs fn in a batch and commits it.
func commit(t testing.TB, be ports.Backend, fn func(b ports.Batch) error) {
	t.Helper()
	b, err := be.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := fn(b); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
}

// render describes everything a caller can read from be.
func render(t *testing.T, be ports.Backend) string {
	t.Helper()
	idx, term := be.Applied()
	ms, err := be.Members()
	if err != nil {
		t.Fatal(err)
	}
	st := be.Stats()
	h, _, _, err := be.Hash(0)
	if err != nil {
		t.Fatal(err)
	}
	s := fmt.Sprintf("applied %d/%d cluster %d members %+v rev %d compact %d keys %d hash %x\n",
		idx, term, be.ClusterID(), ms, st.Rev, st.CompactRev, st.Keys, h)
	v := be.View()
	defer v.End()
	for rev := max(v.CompactRev(), 1); rev <= v.Rev(); rev++ {
		res, err := v.Range([]byte{0}, []byte{0}, ports.RangeOptions{Rev: rev})
		if err != nil {
			t.Fatal(err)
		}
		s += fmt.Sprintf("@%d %d:", rev, res.Count)
		for _, kv := range res.KVs {
			s += fmt.Sprintf(" %q=%q/%d/%d/%d/%d", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease)
		}
		s += "\n"
	}
	return s
}

func TestBackend_Reopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	be, err := bolt.Open(path, bolt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		commit(t, be, func(b ports.Batch) error {
			for j := range 5 {
				if err := b.Put(fmt.Appendf(nil, "k%d", (i+j)%7), fmt.Appendf(nil, "v%d", i), int64(j)); err != nil {
					return err
				}
				b.EndRevision()
			}
			if i%3 == 0 {
				if _, err := b.DeleteRange([]byte("k2"), []byte("k4")); err != nil {
					return err
				}
				b.EndRevision()
			}
			if i == 12 {
				return b.Compact(b.Rev() - 10)
			}
			b.SetApplied(uint64(i+1), 2)
			return nil
		})
	}
	commit(t, be, func(b ports.Batch) error {
		if err := b.SetClusterID(77); err != nil {
			return err
		}
		return b.PutMember(domain.Member{ID: 1, Name: "n1", PeerURL: "http://n1:2380", ClientURLs: []string{"http://n1:2379"}})
	})
	want := render(t, be)

	// A batch that is never committed is rolled back by Close.
	b, err := be.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put([]byte("uncommitted"), []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	b.EndRevision()
	b.SetApplied(1000, 9)
	if err := be.Close(); err != nil {
		t.Fatal(err)
	}

	be, err = bolt.Open(path, bolt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = be.Close() }()
	if got := render(t, be); got != want {
		t.Errorf("after reopen:\n%s\nwant:\n%s", got, want)
	}
	rev := be.Stats().Rev
	commit(t, be, func(b ports.Batch) error { return b.Put([]byte("k0"), []byte("new"), 0) })
	v := be.View()
	defer v.End()
	res, err := v.Range([]byte("k0"), nil, ports.RangeOptions{})
	if err != nil || len(res.KVs) != 1 || res.KVs[0].ModRevision != rev+1 {
		t.Errorf("put after reopen: %+v, %v; want mod revision %d", res, err, rev+1)
	}
}
