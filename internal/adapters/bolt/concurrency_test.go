package bolt_test

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
)

// TestBackend_ConcurrentViews runs readers against a writer that commits a
// revision per batch, writing all of k0..k9 with the revision as value, and
// compacts often. At any revision x a consistent reader sees the ten keys
// with value x, mod revision x and version x-1.
func TestBackend_ConcurrentViews(t *testing.T) {
	be := open(t)
	const keys, batches, readers = 10, 150, 4
	var done atomic.Bool
	var wg sync.WaitGroup
	for range readers {
		wg.Go(func() {
			for n := 0; !done.Load() || n < 20; n++ {
				if !checkView(t, be, keys) {
					return
				}
				if n%25 == 0 {
					if _, _, _, err := be.Hash(0); err != nil {
						t.Errorf("Hash: %v", err)
						return
					}
				}
			}
		})
	}
	for i := range batches {
		commit(t, be, func(b ports.Batch) error {
			val := []byte(strconv.FormatInt(b.Rev()+1, 10))
			for k := range keys {
				if err := b.Put([]byte("k"+strconv.Itoa(k)), val, 0); err != nil {
					return err
				}
			}
			b.EndRevision()
			if i%7 == 6 {
				return b.Compact(b.Rev() - 3)
			}
			return nil
		})
	}
	done.Store(true)
	wg.Wait()
	if st := be.Stats(); st.Rev != batches+1 || st.Keys != keys {
		t.Errorf("Stats = %+v", st)
	}
}

// checkView opens a View and checks several revisions in it, reading each
// twice while the writer goes on.
func checkView(t *testing.T, be ports.Backend, keys int) bool {
	v := be.View()
	defer v.End()
	r, c := v.Rev(), v.CompactRev()
	if r < 2 {
		return true
	}
	lo := max(c, 2)
	for range 2 {
		for _, x := range []int64{lo, (lo + r) / 2, r, 0} {
			res, err := v.Range([]byte("k"), []byte("l"), ports.RangeOptions{Rev: x})
			if err != nil {
				t.Errorf("view %d/%d: Range at %d: %v", r, c, x, err)
				return false
			}
			if x == 0 {
				x = r
			}
			if res.Count != int64(keys) || len(res.KVs) != keys {
				t.Errorf("view %d/%d: Range at %d: %d keys", r, c, x, res.Count)
				return false
			}
			for _, kv := range res.KVs {
				if string(kv.Value) != strconv.FormatInt(x, 10) || kv.ModRevision != x || kv.Version != x-1 || kv.CreateRevision != 2 {
					t.Errorf("view %d/%d: at %d: %q=%q c%d m%d v%d", r, c, x, kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Version)
					return false
				}
			}
		}
		if !checkEvents(t, v, lo, keys) {
			return false
		}
	}
	return true
}

// checkEvents reads the events of every revision from lo in v: each
// revision x from 2 on put k0..k9 with value x, and compaction keeps them
// all from the compact revision on.
func checkEvents(t *testing.T, v ports.View, lo int64, keys int) bool {
	r, c := v.Rev(), v.CompactRev()
	evs, next, err := v.Events(lo, r+5, []byte("k"), []byte("l"), 0, 0)
	if err != nil || next != r+1 || len(evs) != int(r-lo+1)*keys {
		t.Errorf("view %d/%d: Events from %d = %d events, next %d, %v", r, c, lo, len(evs), next, err)
		return false
	}
	for i, ev := range evs {
		x := lo + int64(i/keys)
		kv := ev.Kv
		if ev.Type != domain.EventPut || string(kv.Key) != "k"+strconv.Itoa(i%keys) || string(kv.Value) != strconv.FormatInt(x, 10) ||
			kv.ModRevision != x || kv.Version != x-1 || kv.CreateRevision != 2 {
			t.Errorf("view %d/%d: event %d: %v %q=%q c%d m%d v%d", r, c, i, ev.Type, kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Version)
			return false
		}
	}
	if _, _, err := v.Events(lo-1, r, []byte("k"), []byte("l"), 0, 0); c > 2 && !errors.Is(err, domain.ErrCompacted) {
		t.Errorf("view %d/%d: Events from %d: err = %v, want ErrCompacted", r, c, lo-1, err)
		return false
	}
	return true
}
