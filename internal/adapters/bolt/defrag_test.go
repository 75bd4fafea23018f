package bolt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cairnkv/cairn/internal/adapters/bolt"
	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
)

// twins are two stores that get the same batches: one is defragmented,
// the other is the reference. mu serializes the batches (and lets a
// test hook act between two of them).
type twins struct {
	mu        sync.Mutex
	be, ref   *bolt.Backend
	n         int // batches so far
	compacted int64
}

func newTwins(t *testing.T, cfg bolt.Config) *twins {
	t.Helper()
	w := &twins{}
	var err error
	if w.be, err = bolt.Open(filepath.Join(t.TempDir(), "state.db"), cfg); err != nil {
		t.Fatal(err)
	}
	if w.ref, err = bolt.Open(filepath.Join(t.TempDir(), "state.db"), bolt.Config{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, b := range []*bolt.Backend{w.be, w.ref} {
			if err := b.Close(); err != nil {
				t.Error(err)
			}
		}
	})
	return w
}

// apply runs fn in a batch of each store.
func (w *twins) apply(fn func(b ports.Batch) error) error {
	for _, s := range []*bolt.Backend{w.be, w.ref} {
		b, err := s.Begin()
		if err != nil {
			return err
		}
		if err := fn(b); err != nil {
			return err
		}
		if err := b.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// batch writes the next batch of a history that puts, overwrites and
// deletes keys, uses leases and members and, every compactEvery batches
// (0: never), compacts.
func (w *twins) batch(compactEvery int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	i := w.n
	w.n++
	return w.apply(func(b ports.Batch) error {
		for j := range 4 {
			k := fmt.Appendf(nil, "k/%04d", (i*7+j*131)%600)
			var lease int64
			if j == 3 && i%5 == 0 {
				lease = int64(i + 1)
				if err := b.PutLease(domain.Lease{ID: lease, TTL: 60, RemainingTTL: int64(i % 60)}); err != nil {
					return err
				}
			}
			if err := b.Put(k, bytes.Repeat(fmt.Appendf(nil, "%d.%d;", i, j), 8), lease); err != nil {
				return err
			}
			b.EndRevision()
		}
		if i%6 == 5 {
			if _, err := b.DeleteRange(fmt.Appendf(nil, "k/%02d", i%60), fmt.Appendf(nil, "k/%02d", i%60+1)); err != nil {
				return err
			}
			b.EndRevision()
		}
		if i%40 == 0 {
			if err := b.PutMember(domain.Member{ID: uint64(i%3 + 1), Name: fmt.Sprintf("n%d", i%3+1), PeerURL: fmt.Sprint(i)}); err != nil {
				return err
			}
		}
		if compactEvery > 0 && i%compactEvery == compactEvery-1 {
			rev := b.Rev() - 30
			if rev > b.CompactRev() {
				if err := b.Compact(rev); err != nil {
					return err
				}
			}
		}
		b.SetApplied(uint64(i+1), 1)
		return nil
	})
}

// compact compacts both stores at their revision minus keep, between two
// batches.
func (w *twins) compact(keep int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.apply(func(b ports.Batch) error { return b.Compact(b.Rev() - keep) })
}

// writeUntil writes batches in a goroutine until stop is closed, and
// returns a channel that gets the writer's error (or nil) when it ends.
func (w *twins) writeUntil(stop <-chan struct{}, compactEvery int) <-chan error {
	errc := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				errc <- nil
				return
			default:
			}
			if err := w.batch(compactEvery); err != nil {
				errc <- err
				return
			}
		}
	}()
	return errc
}

// checkSame checks that be reads as ref does: the figures, the members,
// the lease table, every key at a sample of revisions, and the hash at
// every revision both keep.
func checkSame(t *testing.T, what string, be, ref *bolt.Backend) {
	t.Helper()
	if got, want := digest(t, be), digest(t, ref); got != want {
		t.Fatalf("%s: the store reads\n%.3000s\nwant\n%.3000s", what, got, want)
	}
	if got, want := leaseTable(t, be), leaseTable(t, ref); got != want {
		t.Fatalf("%s: lease table\n%s\nwant\n%s", what, got, want)
	}
	st := be.Stats()
	for rev := max(st.CompactRev, 1); rev <= st.Rev; rev++ {
		h1, _, _, err1 := be.Hash(rev)
		h2, _, _, err2 := ref.Hash(rev)
		if err1 != nil || err2 != nil || h1 != h2 {
			t.Fatalf("%s: hash at %d: %x (%v), want %x (%v)", what, rev, h1, err1, h2, err2)
		}
	}
}

// digest describes what a caller reads from be, as render does, but at
// ten revisions only.
func digest(t *testing.T, be ports.Backend) string {
	t.Helper()
	idx, term := be.Applied()
	ms, err := be.Members()
	if err != nil {
		t.Fatal(err)
	}
	st := be.Stats()
	var s strings.Builder
	fmt.Fprintf(&s, "applied %d/%d cluster %d members %+v rev %d compact %d keys %d\n",
		idx, term, be.ClusterID(), ms, st.Rev, st.CompactRev, st.Keys)
	v := be.View()
	defer v.End()
	from := max(v.CompactRev(), 1)
	for i := range int64(10) {
		rev := from + (v.Rev()-from)*i/9
		res, err := v.Range([]byte{0}, []byte{0}, ports.RangeOptions{Rev: rev})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&s, "@%d %d:", rev, res.Count)
		for _, kv := range res.KVs {
			fmt.Fprintf(&s, " %q=%q/%d/%d/%d/%d", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease)
		}
		s.WriteString("\n")
	}
	return s.String()
}

// fill writes n batches to the twins.
func fill(t *testing.T, w *twins, n, compactEvery int) {
	t.Helper()
	for range n {
		if err := w.batch(compactEvery); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBackend_Defragment(t *testing.T) {
	t.Run("Shrinks", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.db")
		be, err := bolt.Open(path, bolt.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = be.Close() }()
		val := bytes.Repeat([]byte("v"), 300)
		for i := range 20 {
			commit(t, be, func(b ports.Batch) error {
				for j := range 250 {
					if err := b.Put(fmt.Appendf(nil, "key/%02d/%03d", i, j), val, 0); err != nil {
						return err
					}
				}
				b.EndRevision()
				return nil
			})
		}
		commit(t, be, func(b ports.Batch) error {
			if _, err := b.DeleteRange([]byte("key/02"), []byte("key/99")); err != nil {
				return err
			}
			b.EndRevision()
			return b.Compact(b.Rev())
		})
		want := digest(t, be)
		h, rev, _, err := be.Hash(0)
		if err != nil {
			t.Fatal(err)
		}
		before := be.Stats()
		st, err := be.Defragment(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		after := be.Stats()
		t.Logf("%+v; in use before %d", st, before.DBSizeInUse)
		if st.SizeBefore != before.DBSize || st.SizeAfter != after.DBSize || st.SizeAfter > st.SizeBefore/5 {
			t.Errorf("sizes %+v; Stats before %d, after %d", st, before.DBSize, after.DBSize)
		}
		if st.Pause <= 0 || st.Took < st.Pause {
			t.Errorf("took %v, pause %v", st.Took, st.Pause)
		}
		if got := digest(t, be); got != want {
			t.Errorf("after defragment:\n%.3000s\nwant\n%.3000s", got, want)
		}
		if h2, _, _, err := be.Hash(rev); err != nil || h2 != h {
			t.Errorf("hash at %d: %x (%v), want %x", rev, h2, err, h)
		}
		if _, err := os.Stat(path + ".defrag"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the copy is still there: %v", err)
		}
		// Writes go on in the new file, and a reopen reads the new file.
		commit(t, be, func(b ports.Batch) error { return b.Put([]byte("after"), []byte("x"), 0) })
		want = digest(t, be)
		if err := be.Close(); err != nil {
			t.Fatal(err)
		}
		if be, err = bolt.Open(path, bolt.Config{}); err != nil {
			t.Fatal(err)
		}
		if got := digest(t, be); got != want {
			t.Errorf("after reopen:\n%.3000s\nwant\n%.3000s", got, want)
		}
	})

	t.Run("UnderWrites", func(t *testing.T) {
		// A writer commits all along, and compacts every 25 batches; the
		// hook compacts too, between two chunks of the first pass, and
		// opens Views and a Snapshot that stay open across the switch.
		w := newTwins(t, bolt.Config{})
		fill(t, w, 300, 0)
		type pinned struct {
			v, ref ports.View
		}
		var views []pinned
		var snap ports.Snapshot
		var snapHash uint32
		t.Cleanup(func() { // before the stores close, however the test ends
			for _, p := range views {
				p.v.End()
				p.ref.End()
			}
			if snap != nil {
				snap.Release()
			}
		})
		chunks := 0
		w.be.SetDefragHook(2<<10, func(phase string) {
			if phase != "copy" {
				return
			}
			chunks++
			w.mu.Lock() // between two batches: both stores at the same revision
			defer w.mu.Unlock()
			switch chunks {
			case 2:
				if err := w.apply(func(b ports.Batch) error { return b.Compact(b.Rev() - 50) }); err != nil {
					t.Error(err)
				}
				views = append(views, pinned{w.be.View(), w.ref.View()})
			case 4:
				views = append(views, pinned{w.be.View(), w.ref.View()})
				var err error
				if snap, err = w.be.Snapshot(); err != nil {
					t.Error(err)
				}
				if snapHash, _, _, err = w.ref.Hash(0); err != nil {
					t.Error(err)
				}
			}
		})
		stop := make(chan struct{})
		errc := w.writeUntil(stop, 25)
		st, err := w.be.Defragment(context.Background())
		// A few more batches after the switch, then stop.
		fill(t, w, 20, 25)
		close(stop)
		if werr := <-errc; werr != nil {
			t.Fatal(werr)
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%+v, %d chunks, %d batches", st, chunks, w.n)
		if chunks < 4 || snap == nil {
			t.Fatalf("only %d chunks: the hook did not run", chunks)
		}
		checkSame(t, "after the switch", w.be, w.ref)
		// The Views opened before the switch read the old file.
		for i, p := range views {
			for _, rev := range []int64{0, p.v.CompactRev(), (p.v.CompactRev() + p.v.Rev()) / 2} {
				got, err1 := p.v.Range([]byte{0}, []byte{0}, ports.RangeOptions{Rev: rev})
				want, err2 := p.ref.Range([]byte{0}, []byte{0}, ports.RangeOptions{Rev: rev})
				if err1 != nil || err2 != nil || fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("view %d at %d: %v (%v), want %v (%v)", i, rev, got.Count, err1, want.Count, err2)
				}
			}
		}
		for _, p := range views {
			p.v.End()
			p.ref.End()
		}
		// So does the Snapshot.
		var buf bytes.Buffer
		if _, err := snap.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		restored := open(t)
		if err := restored.Restore(&buf); err != nil {
			t.Fatal(err)
		}
		if h, _, _, err := restored.Hash(0); err != nil || h != snapHash {
			t.Errorf("snapshot taken during the copy: hash %x (%v), want %x", h, err, snapHash)
		}
		// The file is what a restart reads.
		path := filepath.Join(t.TempDir(), "copy.db")
		copyTo(t, dbPath(t, w.be), path) // the writer has stopped
		reopened, err := bolt.Open(path, bolt.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = reopened.Close() }()
		checkSame(t, "reopened", reopened, w.ref)
	})

	t.Run("CompactionMidCopy", func(t *testing.T) {
		// Without a writer: compactions between chunks delete records
		// copied already and records not copied yet.
		w := newTwins(t, bolt.Config{})
		fill(t, w, 400, 0)
		calls := 0
		w.be.SetDefragHook(4<<10, func(phase string) {
			if phase == "copy" && calls < 6 {
				calls++
				if err := w.compact(int64(400 - 60*calls)); err != nil {
					t.Error(err)
				}
			}
		})
		if _, err := w.be.Defragment(context.Background()); err != nil {
			t.Fatal(err)
		}
		if calls < 6 {
			t.Fatalf("%d compactions during the copy", calls)
		}
		checkSame(t, "after the switch", w.be, w.ref)
	})

	t.Run("ErrConflict", func(t *testing.T) {
		be := open(t)
		putOne(t, be, "k", 1)
		var second error
		be.SetDefragHook(0, func(phase string) {
			if phase == "copy" && second == nil {
				_, second = be.Defragment(context.Background())
			}
		})
		if _, err := be.Defragment(context.Background()); err != nil {
			t.Fatal(err)
		}
		if !errors.Is(second, domain.ErrConflict) {
			t.Fatalf("a second defragmentation meanwhile: %v, want ErrConflict", second)
		}
	})

	t.Run("Cancelled", func(t *testing.T) {
		be := open(t)
		putOne(t, be, "k", 1)
		want := render(t, be)
		ctx, cancel := context.WithCancel(context.Background())
		be.SetDefragHook(0, func(string) { cancel() })
		if _, err := be.Defragment(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Defragment: %v, want context.Canceled", err)
		}
		if _, err := os.Stat(dbPath(t, be) + ".defrag"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the copy is still there: %v", err)
		}
		if got := render(t, be); got != want {
			t.Errorf("after a cancelled defragmentation:\n%s\nwant\n%s", got, want)
		}
		putOne(t, be, "k2", 2)
		if st := be.Stats(); st.Rev != 3 || st.Keys != 2 {
			t.Errorf("a write after a cancelled defragmentation: %+v", st)
		}
	})

	t.Run("ErrReplaced", func(t *testing.T) {
		// A Restore during the copy: the copy is of a store that is no
		// longer there.
		src := open(t)
		putOne(t, src, "restored", 7)
		snap, err := src.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := snap.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		snap.Release()
		be := open(t)
		putOne(t, be, "k", 1)
		be.SetDefragHook(0, func(phase string) {
			if phase == "copy" {
				if err := be.Restore(bytes.NewReader(buf.Bytes())); err != nil {
					t.Error(err)
				}
			}
		})
		if _, err := be.Defragment(context.Background()); !errors.Is(err, domain.ErrUnavailable) {
			t.Fatalf("Defragment: %v, want ErrUnavailable", err)
		}
		if got, want := render(t, be), render(t, src); got != want {
			t.Errorf("after the restore:\n%s\nwant\n%s", got, want)
		}
	})

	t.Run("LeftoverRemovedAtOpen", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.db")
		be, err := bolt.Open(path, bolt.Config{})
		if err != nil {
			t.Fatal(err)
		}
		putOne(t, be, "k", 1)
		want := render(t, be)
		if err := be.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+".defrag", []byte("half a copy"), 0o600); err != nil {
			t.Fatal(err)
		}
		if be, err = bolt.Open(path, bolt.Config{}); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = be.Close() }()
		if _, err := os.Stat(path + ".defrag"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the leftover copy is still there: %v", err)
		}
		if got := render(t, be); got != want {
			t.Errorf("after open:\n%s\nwant\n%s", got, want)
		}
	})
}

// dbPath returns the path of be's file.
func dbPath(t *testing.T, be *bolt.Backend) string {
	t.Helper()
	return bolt.Path(be)
}
