//go:build linux

package bolt

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// mappedKiB returns the resident KiB of the process's maps of path.
func mappedKiB(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	kib, in := 0, false
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			in = len(f) >= 6 && f[len(f)-1] == path
		case in && len(f) >= 2 && f[0] == "Rss:":
			n, _ := strconv.Atoi(f[1])
			kib += n
		}
	}
	return kib
}

// TestBackend_ReleaseMapped checks that the pages of the map stop counting
// in the RSS after a rebuild and after releaseMapped, and that every
// record reads back the same afterwards.
func TestBackend_ReleaseMapped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	be, err := Open(path, Config{Unsynced: true}) // small commits, no fsync each
	if err != nil {
		t.Fatal(err)
	}
	value := bytes.Repeat([]byte("v"), 256)
	const n = 20000 // about 7 MB
	for i := 0; i < n; i += 8 {
		bt, err := be.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for j := i; j < i+8; j++ {
			if err := bt.Put(fmt.Appendf(nil, "k/%05d", j), value, 0); err != nil {
				t.Fatal(err)
			}
			bt.EndRevision()
		}
		if err := bt.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string) {
		t.Helper()
		v := be.View()
		defer v.End()
		res, err := v.Range([]byte("k/"), []byte("k0"), rangeAt(0))
		if err != nil || len(res.KVs) != n {
			t.Fatalf("%s: %d keys, %v", when, len(res.KVs), err)
		}
		for i, kv := range res.KVs {
			if string(kv.Key) != fmt.Sprintf("k/%05d", i) || !bytes.Equal(kv.Value, value) {
				t.Fatalf("%s: key %d is %q=%q", when, i, kv.Key, kv.Value)
			}
		}
	}
	before := mappedKiB(t, path)
	releaseMapped(be.db)
	after := mappedKiB(t, path)
	t.Logf("resident map after the writes %d KiB, after releaseMapped %d KiB", before, after)
	if after > 64 {
		t.Errorf("resident map after releaseMapped: %d KiB, want at most 64", after)
	}
	check("after releaseMapped")
	if err := be.Close(); err != nil {
		t.Fatal(err)
	}
	if be, err = Open(path, Config{Unsynced: true}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = be.Close() }()
	if got := mappedKiB(t, path); got > 64 {
		t.Errorf("resident map after the rebuild: %d KiB, want at most 64", got)
	}
	check("after a reopen")
}
