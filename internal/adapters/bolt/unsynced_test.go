package bolt_test

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairnkv/cairn/internal/adapters/bolt"
	"github.com/cairnkv/cairn/internal/ports"
)

// fakeBoot makes the boot id a file of the test's, and returns a function
// that plays a reboot (a new boot id).
func fakeBoot(t *testing.T) (reboot func()) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "boot_id")
	write := func(id string) {
		if err := os.WriteFile(f, []byte(id+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("boot-1")
	t.Cleanup(bolt.SetBootIDFile(f))
	return func() { write("boot-2") }
}

func copyTo(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func putOne(t *testing.T, be ports.Backend, key string, index uint64) {
	t.Helper()
	commit(t, be, func(b ports.Batch) error {
		if err := b.Put([]byte(key), []byte("v"), 0); err != nil {
			return err
		}
		b.EndRevision()
		b.SetApplied(index, 1)
		return nil
	})
}

// TestUnsynced_CleanCloseSyncs: unsynced commits leave a marker that a
// clean Close removes after its sync; the file then opens as trusted.
func TestUnsynced_CleanCloseSyncs(t *testing.T) {
	reboot := fakeBoot(t)
	path := filepath.Join(t.TempDir(), "state.db")
	be, err := bolt.Open(path, bolt.Config{Unsynced: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".unsynced"); err != nil {
		t.Fatalf("no marker while commits are unsynced: %v", err)
	}
	putOne(t, be, "a", 5)
	if err := be.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".unsynced"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the marker outlived a clean close: %v", err)
	}
	reboot() // synced before: a reboot changes nothing
	be, err = bolt.Open(path, bolt.Config{Unsynced: true})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	if be.Rebuilt() {
		t.Fatal("a store closed cleanly was not trusted")
	}
	if idx, _ := be.Applied(); idx != 5 {
		t.Fatalf("applied index %d after the reopen, want 5", idx)
	}
}

// TestUnsynced_ProcessCrashKeepsTheFile: after a crash of the process
// (the file as the kernel holds it, marker included, same boot) the store
// is trusted with every commit; after a reboot it is set aside.
func TestUnsynced_ProcessCrashKeepsTheFile(t *testing.T) {
	reboot := fakeBoot(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	be, err := bolt.Open(path, bolt.Config{Unsynced: true})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	putOne(t, be, "a", 7)
	// What a kill -9 leaves: the file and the marker, never closed.
	crashed := filepath.Join(t.TempDir(), "state.db")
	copyTo(t, path, crashed)
	copyTo(t, path+".unsynced", crashed+".unsynced")

	again, err := bolt.Open(crashed, bolt.Config{Unsynced: true})
	if err != nil {
		t.Fatal(err)
	}
	if again.Rebuilt() {
		t.Fatal("the store after a process crash in the same boot was not trusted")
	}
	if idx, _ := again.Applied(); idx != 7 {
		t.Fatalf("applied index %d after a process crash, want 7", idx)
	}
	// Crash again, then the machine restarts.
	copyTo(t, crashed, crashed+".copy")
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(crashed+".copy", crashed); err != nil {
		t.Fatal(err)
	}
	copyTo(t, path+".unsynced", crashed+".unsynced")
	reboot()
	rebuilt, err := bolt.Open(crashed, bolt.Config{Unsynced: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rebuilt.Close()
	if !rebuilt.Rebuilt() {
		t.Fatal("a store with unsynced commits before a reboot was trusted")
	}
	if idx, _ := rebuilt.Applied(); idx != 0 || rebuilt.Stats().Keys != 0 {
		t.Fatalf("the rebuilt store is not empty: applied %d, %d keys", idx, rebuilt.Stats().Keys)
	}
	if _, err := os.Stat(crashed + ".untrusted"); err != nil {
		t.Fatalf("the untrusted file was not kept aside: %v", err)
	}
}

// TestUnsynced_TornFileAfterReboot: a file torn by a power cut (here:
// garbage where its pages were) is never opened; the store starts empty.
func TestUnsynced_TornFileAfterReboot(t *testing.T) {
	reboot := fakeBoot(t)
	path := filepath.Join(t.TempDir(), "state.db")
	if err := os.WriteFile(path, []byte("torn by a power cut"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".unsynced", []byte("boot-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reboot()
	be, err := bolt.Open(path, bolt.Config{Unsynced: true})
	if err != nil {
		t.Fatalf("a torn file after a reboot stopped the start: %v", err)
	}
	defer be.Close()
	if !be.Rebuilt() {
		t.Fatal("not rebuilt")
	}
}
