package bolt_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/cairnkv/cairn/internal/adapters/bolt"
	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
)

// leaseTable renders every lease with its keys, read through a fresh View.
func leaseTable(t *testing.T, be ports.Backend) string {
	t.Helper()
	v := be.View()
	defer v.End()
	ls, err := v.Leases()
	if err != nil {
		t.Fatal(err)
	}
	s := ""
	for _, l := range ls {
		keys, err := v.LeaseKeys(l.ID)
		if err != nil {
			t.Fatal(err)
		}
		s += fmt.Sprintf("%d ttl %d rem %d: %q\n", l.ID, l.TTL, l.RemainingTTL, keys)
	}
	return s
}

// TestBackend_ReopenLeases checks that the lease table survives a restart,
// and that the rebuilt index knows the lease of each key, so that puts and
// deletes after the restart detach keys from the right lease.
func TestBackend_ReopenLeases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	be, err := bolt.Open(path, bolt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	commit(t, be, func(b ports.Batch) error {
		for _, l := range []domain.Lease{{ID: 1, TTL: 10, RemainingTTL: 6}, {ID: 2, TTL: 20}, {ID: 3, TTL: 30}} {
			if err := b.PutLease(l); err != nil {
				return err
			}
		}
		for _, p := range []struct {
			key   string
			lease int64
		}{{"a", 1}, {"b", 1}, {"c", 2}, {"d", 0}, {"e", 3}, {"a", 1}, {"c", 2}} {
			if err := b.Put([]byte(p.key), []byte("v"), p.lease); err != nil {
				return err
			}
			b.EndRevision()
		}
		return nil
	})
	commit(t, be, func(b ports.Batch) error { return b.Compact(b.Rev()) })
	want := leaseTable(t, be)
	if want != "1 ttl 10 rem 6: [\"a\" \"b\"]\n2 ttl 20 rem 0: [\"c\"]\n3 ttl 30 rem 0: [\"e\"]\n" {
		t.Fatalf("before reopen:\n%s", want)
	}

	// Lease writes of a batch that never commits are rolled back by Close.
	b, err := be.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.PutLease(domain.Lease{ID: 4, TTL: 40}); err != nil {
		t.Fatal(err)
	}
	if err := b.Put([]byte("a"), []byte("w"), 4); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteLease(3); err != nil {
		t.Fatal(err)
	}
	if err := be.Close(); err != nil {
		t.Fatal(err)
	}

	be, err = bolt.Open(path, bolt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = be.Close() }()
	if got := leaseTable(t, be); got != want {
		t.Errorf("after reopen:\n got %s\nwant %s", got, want)
	}
	commit(t, be, func(b ports.Batch) error {
		if err := b.Put([]byte("a"), []byte("w"), 2); err != nil {
			return err
		}
		if err := b.Put([]byte("c"), []byte("w"), 0); err != nil {
			return err
		}
		_, err := b.DeleteRange([]byte("e"), nil)
		return err
	})
	if got, want := leaseTable(t, be), "1 ttl 10 rem 6: [\"b\"]\n2 ttl 20 rem 0: [\"a\"]\n3 ttl 30 rem 0: []\n"; got != want {
		t.Errorf("writes after reopen:\n got %s\nwant %s", got, want)
	}
}
