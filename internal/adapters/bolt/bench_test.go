package bolt_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"github.com/cairnkv/cairn/internal/adapters/bolt"
	"github.com/cairnkv/cairn/internal/ports"
)

// BenchmarkBackend_Put writes 256-byte values over 10k keys, one revision
// per put and one commit (one fsync) per batch.
func BenchmarkBackend_Put(b *testing.B) {
	value := bytes.Repeat([]byte("v"), 256)
	keys := make([][]byte, 10000)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "k/%04d", i)
	}
	for _, size := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			be := open(b)
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				bt, err := be.Begin()
				if err != nil {
					b.Fatal(err)
				}
				for range size {
					if err := bt.Put(keys[n%len(keys)], value, 0); err != nil {
						b.Fatal(err)
					}
					bt.EndRevision()
					n++
				}
				if err := bt.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/put")
		})
	}
}

// BenchmarkBackend_Range reads one key, or a 100-key prefix, from a store
// of 10k keys with 256-byte values, through a View per read.
func BenchmarkBackend_Range(b *testing.B) {
	be := open(b)
	value := bytes.Repeat([]byte("v"), 256)
	commit(b, be, func(bt ports.Batch) error {
		for i := range 10000 {
			if err := bt.Put(fmt.Appendf(nil, "k/%04d", i), value, 0); err != nil {
				return err
			}
			bt.EndRevision()
		}
		return nil
	})
	b.Run("single", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			v := be.View()
			res, err := v.Range(fmt.Appendf(nil, "k/%04d", i%10000), nil, ports.RangeOptions{})
			v.End()
			if err != nil || len(res.KVs) != 1 {
				b.Fatal(res, err)
			}
			i += 7
		}
	})
	b.Run("prefix100", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			prefix := fmt.Appendf(nil, "k/%02d", i%100)
			end := bytes.Clone(prefix)
			end[len(end)-1]++
			v := be.View()
			res, err := v.Range(prefix, end, ports.RangeOptions{})
			v.End()
			if err != nil || len(res.KVs) != 100 {
				b.Fatal(len(res.KVs), err)
			}
			i += 7
		}
	})
}

// BenchmarkBackend_Events scans 1000 revisions of a store of 10k keys and
// 100k revisions (one put of a 256-byte value each, the keys spread over
// the revisions) for a prefix that matches 1% of the keys, about 10 events
// per scan, through a View per scan.
func BenchmarkBackend_Events(b *testing.B) {
	const keys, revs, window = 10000, 100000, 1000
	be := open(b)
	value := bytes.Repeat([]byte("v"), 256)
	for i := 0; i < revs; i += 1000 {
		commit(b, be, func(bt ports.Batch) error {
			for j := i; j < i+1000; j++ {
				if err := bt.Put(fmt.Appendf(nil, "k/%04d", j*7919%keys), value, 0); err != nil {
					return err
				}
				bt.EndRevision()
			}
			return nil
		})
	}
	prefix, end := []byte("k/00"), []byte("k/01")
	b.ReportAllocs()
	var n, events int
	for b.Loop() {
		from := 2 + int64(n*7907%(revs-window))
		v := be.View()
		evs, next, err := v.Events(from, from+window-1, prefix, end, 0, 0)
		v.End()
		if err != nil || next != from+window || len(evs) == 0 {
			b.Fatal(len(evs), next, err)
		}
		events += len(evs)
		n++
	}
	b.ReportMetric(float64(events)/float64(n), "events/op")
}

// BenchmarkBackend_Open opens (and closes) a store of n keys of 16 bytes
// with 256-byte values, one put each, written in order by batches of 1000
// as the load of scripts/space-compare.sh writes them: the time is the
// index rebuild, and the heap it leaves is the index (B/key, after a GC).
// With CAIRN_BENCH_COLD=1, run as root, the page cache is dropped before
// each open, as in the cold restart of scripts/space-compare.sh.
func BenchmarkBackend_Open(b *testing.B) {
	for _, n := range []int{100000, 1000000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "state.db")
			be, err := bolt.Open(path, bolt.Config{Unsynced: true})
			if err != nil {
				b.Fatal(err)
			}
			value := bytes.Repeat([]byte("v"), 256)
			for i := 0; i < n; i += 1000 {
				commit(b, be, func(bt ports.Batch) error {
					for j := i; j < min(i+1000, n); j++ {
						if err := bt.Put(fmt.Appendf(nil, "0123456789%06d", j), value, 0); err != nil {
							return err
						}
						bt.EndRevision()
					}
					return nil
				})
			}
			if err := be.Close(); err != nil {
				b.Fatal(err)
			}
			cold := os.Getenv("CAIRN_BENCH_COLD") == "1"
			var heap uint64
			for b.Loop() {
				if cold {
					b.StopTimer()
					dropCaches(b)
					b.StartTimer()
				}
				be, err := bolt.Open(path, bolt.Config{Unsynced: true})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				heap = heapInUse(be)
				if err := be.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(heap)/float64(n), "B/key")
		})
	}
}

// heapInUse returns the live heap after a GC, with be still reachable.
func heapInUse(be *bolt.Backend) uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(be)
	return ms.HeapAlloc
}

// dropCaches writes the dirty pages and drops the page cache (root only).
func dropCaches(b *testing.B) {
	syscall.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0); err != nil {
		b.Fatalf("CAIRN_BENCH_COLD needs root: %v", err)
	}
}
