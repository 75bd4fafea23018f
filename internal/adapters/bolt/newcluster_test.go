package bolt_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/cairnkv/cairn/internal/adapters/bolt"
	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
)

func TestResetForNewCluster(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		src := open(t)
		commit(t, src, func(b ports.Batch) error {
			if err := b.PutLease(domain.Lease{ID: 5, TTL: 30, RemainingTTL: 12}); err != nil {
				return err
			}
			if err := b.Put([]byte("a"), []byte("1"), 5); err != nil {
				return err
			}
			b.EndRevision()
			if err := b.Put([]byte("a"), []byte("2"), 0); err != nil {
				return err
			}
			if err := b.Put([]byte("b"), []byte("3"), 5); err != nil {
				return err
			}
			b.EndRevision()
			if err := b.PutMember(domain.Member{ID: 1, Name: "old", PeerURL: "http://old:2380"}); err != nil {
				return err
			}
			if err := b.SetClusterID(42); err != nil {
				return err
			}
			if err := b.PutAuthState(domain.AuthState{Enabled: true, Revision: 3, Users: []domain.AuthUser{{Name: "root", Roles: []string{"root"}}}}); err != nil {
				return err
			}
			b.SetApplied(1000, 7)
			return nil
		})
		snap, err := src.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "state.db")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := snap.WriteTo(f); err != nil {
			t.Fatal(err)
		}
		snap.Release()
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}

		// An alarm raised in the source cluster (alarms.go's bucket).
		db, err := bbolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bbolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("alarms"))
			if err != nil {
				return err
			}
			return b.Put([]byte("\x00\x00\x00\x00\x00\x00\x00\x01\x02"), nil)
		})
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}

		rev, err := bolt.ResetForNewCluster(path, 77)
		if err != nil {
			t.Fatal(err)
		}
		db, err = bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		_ = db.View(func(tx *bbolt.Tx) error {
			if tx.Bucket([]byte("alarms")) != nil {
				t.Error("the alarms of the source are still there")
			}
			return nil
		})
		db.Close()
		if want := src.Stats().Rev; rev != want {
			t.Fatalf("rev %d, want %d", rev, want)
		}
		if _, err := os.Stat(path + ".unsynced"); !os.IsNotExist(err) {
			t.Fatalf("a marker of unsynced commits is left: %v", err)
		}
		be, err := bolt.Open(path, bolt.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer be.Close()
		if idx, term := be.Applied(); idx != 0 || term != 0 {
			t.Errorf("applied %d/%d, want 0/0", idx, term)
		}
		if id := be.ClusterID(); id != 77 {
			t.Errorf("cluster ID %d, want 77", id)
		}
		if ms, err := be.Members(); err != nil || len(ms) != 0 {
			t.Errorf("members %+v, %v: want none", ms, err)
		}
		// Everything else is the source's: the same history, hash, leases
		// and auth state.
		want := strings.SplitN(render(t, src), "\n", 2)[1]
		if got := strings.SplitN(render(t, be), "\n", 2)[1]; got != want {
			t.Errorf("history differs:\n got %s\nwant %s", got, want)
		}
		for r := int64(1); r <= rev; r++ {
			h1, _, _, _ := src.Hash(r)
			h2, _, _, _ := be.Hash(r)
			if h1 != h2 {
				t.Errorf("hash at %d: %x, source %x", r, h2, h1)
			}
		}
		v := be.View()
		ls, err := v.Leases()
		v.End()
		if err != nil || len(ls) != 1 || ls[0] != (domain.Lease{ID: 5, TTL: 30, RemainingTTL: 12}) {
			t.Errorf("leases %+v, %v", ls, err)
		}
		if as, err := be.AuthState(); err != nil || !as.Enabled || len(as.Users) != 1 {
			t.Errorf("auth state %+v, %v", as, err)
		}
	})
	t.Run("NotCairn", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "other.db")
		db, err := bbolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("other")); return err }); err != nil {
			t.Fatal(err)
		}
		db.Close()
		_, err = bolt.ResetForNewCluster(path, 77)
		if err == nil || !strings.Contains(err.Error(), "not a Cairn store") {
			t.Fatalf("error %v, want not a Cairn store", err)
		}
	})
}
