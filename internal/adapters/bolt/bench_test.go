package bolt_test

import (
	"bytes"
	"fmt"
	"testing"

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
