package watch_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/watch"
	"github.com/cairnkv/cairn/internal/ports/portstest"
)

// BenchmarkFanOut publishes revisions that change one key, watched by one
// watcher, while idle watchers of other keys wait: half of them watch one
// key (as locks do), half a prefix (as service discovery does). A publish
// must cost the same whatever their number. It reports the time from a
// publish to its delivery. The idle watchers are polled ones (Poll), parked
// as those of a gRPC stream are; a waiting one (Next) parks the same way.
func BenchmarkFanOut(b *testing.B) {
	for _, idle := range []int{0, 1000, 10000, 100000} {
		b.Run(fmt.Sprintf("idle=%d", idle), func(b *testing.B) {
			hub := watch.NewHub(watch.HubConfig{MaxWatchers: idle + 10}, 1)
			defer hub.Close()
			svc := watch.New(watch.Config{}, hub, portstest.NewBackend(), portstest.NewProposer(portstest.NewBackend()))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			for i := 0; i < idle; i++ {
				req := watch.Request{Key: []byte(fmt.Sprintf("idle/%06d", i)), Serializable: true}
				if i%2 == 1 {
					req.Key = append(req.Key, '/')
					req.RangeEnd = domain.PrefixEnd(req.Key)
				}
				w, err := svc.Watch(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				defer w.Close()
				w.OnReady(func() {})
				if msgs, err := w.Poll(); err != nil || len(msgs) > 0 {
					b.Fatalf("idle watcher: %v %v", msgs, err)
				}
			}
			hot, err := svc.Watch(ctx, watch.Request{Key: []byte("hot"), Serializable: true})
			if err != nil {
				b.Fatal(err)
			}
			defer hot.Close()
			var lat time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rev := int64(i + 2)
				start := time.Now()
				hub.Publish(rev, []domain.Event{{Type: domain.EventPut, Kv: domain.KeyValue{Key: []byte("hot"), Value: []byte("v"), ModRevision: rev}}})
				msgs, err := hot.Next(ctx)
				if err != nil || len(msgs) != 1 || msgs[0].Revision != rev {
					b.Fatalf("revision %d: %v %v", rev, msgs, err)
				}
				lat += time.Since(start)
			}
			b.ReportMetric(float64(lat.Microseconds())/float64(b.N), "µs/delivery")
		})
	}
}
