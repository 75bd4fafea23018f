package bolt_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/cairnkv/cairn/internal/adapters/bolt"
	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
	"github.com/cairnkv/cairn/internal/ports/portstest"
)

// wantAuthState checks the committed auth state of be.
func wantAuthState(t *testing.T, what string, be ports.Backend, want domain.AuthState) {
	t.Helper()
	got, err := be.AuthState()
	if err != nil {
		t.Fatalf("%s: AuthState: %v", what, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: AuthState\n got %+v\nwant %+v", what, got, want)
	}
}

// rawBolt runs fn in a write txn of the bbolt file at path, which no
// Backend has open.
func rawBolt(t *testing.T, path string, fn func(tx *bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// TestBackend_ReopenAuth checks that the auth state survives a restart and
// that a batch that never commits leaves it unchanged.
func TestBackend_ReopenAuth(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	be, err := bolt.Open(path, bolt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	commit(t, be, func(b ports.Batch) error { return b.PutAuthState(portstest.SampleAuthState()) })
	b, err := be.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.PutAuthState(domain.AuthState{Revision: 100}); err != nil {
		t.Fatal(err)
	}
	if err := be.Close(); err != nil { // rolls the batch back
		t.Fatal(err)
	}
	if _, err := be.AuthState(); err == nil {
		t.Error("AuthState of a closed backend: no error")
	}

	be, err = bolt.Open(path, bolt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = be.Close() }()
	wantAuthState(t, "after reopen", be, portstest.SampleAuthState())
	commit(t, be, func(b ports.Batch) error {
		s, err := b.AuthState()
		if err != nil {
			return err
		}
		s.Revision++
		s.Users = s.Users[:1]
		return b.PutAuthState(s)
	})
	want := portstest.SampleAuthState()
	want.Revision++
	want.Users = want.Users[:1]
	wantAuthState(t, "after a change following the reopen", be, want)
}

// TestBackend_AuthEncoding pins the stored form of the auth state: a change
// of it must come with a new version.
func TestBackend_AuthEncoding(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	be, err := bolt.Open(path, bolt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s := domain.AuthState{
		Enabled: true, Revision: 2, Epoch: 1, SigningKey: []byte{0, 0xff},
		Users: []domain.AuthUser{{Name: "root", PasswordHash: []byte("$2a"), Roles: []string{"root"}, PasswordRevision: 2}, {Name: "u"}},
		Roles: []domain.AuthRole{{Name: "r", Permissions: []domain.Permission{{Type: domain.PermReadWrite, Key: []byte("a"), RangeEnd: []byte{0}}, {Type: domain.PermRead, Key: []byte("k")}}}, {Name: "root"}},
	}
	commit(t, be, func(b ports.Batch) error { return b.PutAuthState(s) })
	if err := be.Close(); err != nil {
		t.Fatal(err)
	}
	const want = `{"version":1,"enabled":true,"revision":2,"epoch":1,"signing_key":"AP8=",` +
		`"users":[{"name":"root","password_hash":"JDJh","roles":["root"],"password_revision":2},{"name":"u","password_revision":0}],` +
		`"roles":[{"name":"r","permissions":[{"type":3,"key":"YQ==","range_end":"AA=="},{"type":1,"key":"aw=="}]},{"name":"root"}]}`
	rawBolt(t, path, func(tx *bbolt.Tx) error {
		if got := tx.Bucket([]byte("auth")).Get([]byte("state")); string(got) != want {
			t.Errorf("stored auth state:\n got %s\nwant %s", got, want)
		}
		return nil
	})
}

// TestBackend_AuthRefusesUnknown checks that a stored auth state of an
// unknown version, with an unknown field or trailing data, is an error,
// not a silently different state.
func TestBackend_AuthRefusesUnknown(t *testing.T) {
	for name, v := range map[string]string{
		"version 2":     `{"version":2,"revision":1}`,
		"version 0":     `{"revision":1}`,
		"unknown field": `{"version":1,"revision":1,"tokens":[]}`,
		"trailing data": `{"version":1,"revision":1}{}`,
		"not JSON":      "\x00",
		"bad base64":    `{"version":1,"signing_key":"!!"}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			be, err := bolt.Open(path, bolt.Config{})
			if err != nil {
				t.Fatal(err)
			}
			if err := be.Close(); err != nil {
				t.Fatal(err)
			}
			rawBolt(t, path, func(tx *bbolt.Tx) error { return tx.Bucket([]byte("auth")).Put([]byte("state"), []byte(v)) })
			be, err = bolt.Open(path, bolt.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = be.Close() }()
			if s, err := be.AuthState(); err == nil {
				t.Errorf("AuthState = %+v, want an error", s)
			}
			b, err := be.Begin()
			if err != nil {
				t.Fatal(err)
			}
			if s, err := b.AuthState(); err == nil {
				t.Errorf("Batch.AuthState = %+v, want an error", s)
			}
			if err := b.Commit(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestBackend_AuthOldFile checks that a database written before auth
// existed (no auth bucket) opens, reads the zero state and takes one, and
// that a snapshot of such a file restores over a store with an auth state.
func TestBackend_AuthOldFile(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "old.db")
	be, err := bolt.Open(old, bolt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	commit(t, be, func(b ports.Batch) error {
		if err := b.Put([]byte("a"), []byte("1"), 0); err != nil {
			return err
		}
		b.SetApplied(5, 1)
		return nil
	})
	if err := be.Close(); err != nil {
		t.Fatal(err)
	}
	rawBolt(t, old, func(tx *bbolt.Tx) error { return tx.DeleteBucket([]byte("auth")) })
	oldFile, err := os.ReadFile(old)
	if err != nil {
		t.Fatal(err)
	}

	// Restore of the old file over a store with an auth state.
	cur := open(t)
	commit(t, cur, func(b ports.Batch) error { return b.PutAuthState(portstest.SampleAuthState()) })
	if err := cur.Restore(bytes.NewReader(oldFile)); err != nil {
		t.Fatalf("Restore of a file without an auth bucket: %v", err)
	}
	wantAuthState(t, "restored from an old file", cur, domain.AuthState{})
	if idx, _ := cur.Applied(); idx != 5 {
		t.Errorf("Applied after Restore = %d, want 5", idx)
	}
	commit(t, cur, func(b ports.Batch) error { return b.PutAuthState(domain.AuthState{Revision: 1}) })
	wantAuthState(t, "written after the restore", cur, domain.AuthState{Revision: 1})

	// Open of the old file.
	be, err = bolt.Open(old, bolt.Config{})
	if err != nil {
		t.Fatalf("Open of a file without an auth bucket: %v", err)
	}
	defer func() { _ = be.Close() }()
	wantAuthState(t, "old file", be, domain.AuthState{})
	commit(t, be, func(b ports.Batch) error {
		s, err := b.AuthState()
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(s, domain.AuthState{}) {
			t.Errorf("Batch.AuthState of an old file = %+v", s)
		}
		return b.PutAuthState(portstest.SampleAuthState())
	})
	wantAuthState(t, "old file after a put", be, portstest.SampleAuthState())
}

// TestBackend_AuthConcurrent reads the committed auth state from several
// goroutines while batches replace it (run with -race): each read sees one
// committed state whole, and its memory is the reader's own.
func TestBackend_AuthConcurrent(t *testing.T) {
	be := open(t)
	stateAt := func(rev uint64) domain.AuthState {
		s := portstest.SampleAuthState()
		s.Revision = rev
		s.SigningKey[2] = byte(rev)
		return s
	}
	commit(t, be, func(b ports.Batch) error { return b.PutAuthState(stateAt(0)) })
	const writes = 50
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				s, err := be.AuthState()
				if err != nil {
					t.Error(err)
					return
				}
				if want := stateAt(s.Revision); !reflect.DeepEqual(s, want) {
					t.Errorf("AuthState at revision %d is not a committed state: %+v", s.Revision, s)
					return
				}
				s.SigningKey[2]++ // the caller's own copy
			}
		}()
	}
	for i := uint64(1); i <= writes; i++ {
		commit(t, be, func(b ports.Batch) error { return b.PutAuthState(stateAt(i)) })
	}
	close(stop)
	wg.Wait()
	wantAuthState(t, "last", be, stateAt(writes))
}
