package bolt_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairnkv/cairn/internal/adapters/bolt"
)

// TestBackend_DefragmentCrash plays a kill -9 at each phase of a
// defragmentation under writes: at each, the hook copies the data
// directory as the process leaves it (every commit is in the kernel's page
// cache, so a copy of the files is what the next start finds), between
// two batches. Each copy must open as a whole store, without the
// defragmentation's leftover, holding every commit made before the
// "crash", with the marker of unsynced commits still trusted.
func TestBackend_DefragmentCrash(t *testing.T) {
	w := newTwins(t, bolt.Config{Unsynced: true})
	fill(t, w, 200, 0)
	dir := filepath.Dir(bolt.Path(w.be))
	type image struct {
		phase, dir string
		hash       uint32
		rev        int64
		applied    uint64
		copying    bool // the defragmentation's copy was there
	}
	var images []image
	take := func(phase string) {
		img := image{phase: phase, dir: t.TempDir()}
		var err error
		if img.hash, img.rev, _, err = w.be.Hash(0); err != nil {
			t.Error(err)
			return
		}
		img.applied, _ = w.be.Applied()
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Error(err)
			return
		}
		for _, e := range entries {
			copyTo(t, filepath.Join(dir, e.Name()), filepath.Join(img.dir, e.Name()))
			img.copying = img.copying || e.Name() == "state.db.defrag"
		}
		images = append(images, img)
	}
	seen := map[string]int{}
	w.be.SetDefragHook(4<<10, func(phase string) {
		seen[phase]++
		switch phase {
		case "copy", "caught-up":
			if seen[phase] > 3 {
				return
			}
			w.mu.Lock() // between two batches
			defer w.mu.Unlock()
			take(phase)
		default: // applies wait for the switch: no batch is open
			take(phase)
		}
	})
	stop := make(chan struct{})
	errc := w.writeUntil(stop, 30)
	_, err := w.be.Defragment(context.Background())
	close(stop)
	if werr := <-errc; werr != nil {
		t.Fatal(werr)
	}
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"copy": true, "caught-up": true, "before-rename": true, "after-rename": true}
	for _, img := range images {
		delete(want, img.phase)
		if img.copying != (img.phase != "after-rename") {
			t.Errorf("%s: the copy was there: %v", img.phase, img.copying)
		}
		path := filepath.Join(img.dir, "state.db")
		be, err := bolt.Open(path, bolt.Config{Unsynced: true})
		if err != nil {
			t.Fatalf("%s: %v", img.phase, err)
		}
		h, rev, _, err := be.Hash(0)
		applied, _ := be.Applied()
		if err != nil || be.Rebuilt() || h != img.hash || rev != img.rev || applied != img.applied {
			t.Errorf("%s: hash %x at %d (%v), applied %d, rebuilt %v; want %x at %d, applied %d",
				img.phase, h, rev, err, applied, be.Rebuilt(), img.hash, img.rev, img.applied)
		}
		if _, err := os.Stat(path + ".defrag"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: the leftover copy is still there: %v", img.phase, err)
		}
		if err := be.Close(); err != nil {
			t.Error(err)
		}
	}
	if len(want) > 0 {
		t.Errorf("no crash played at %v (hook calls %v)", want, seen)
	}
	checkSame(t, "after the switch", w.be, w.ref)
}
