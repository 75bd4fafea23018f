package bolt_test

import (
	"path/filepath"
	"testing"

	"github.com/cairnkv/cairn/internal/adapters/bolt"
	"github.com/cairnkv/cairn/internal/ports"
	"github.com/cairnkv/cairn/internal/ports/portstest"
)

// open opens a Backend in a temporary directory, closed at the end of the
// test.
func open(t testing.TB) *bolt.Backend {
	t.Helper()
	be, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), bolt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := be.Close(); err != nil {
			t.Error(err)
		}
	})
	return be
}

func TestBackend(t *testing.T) {
	portstest.RunBackendSuite(t, func(t *testing.T) ports.Backend { return open(t) })
}
