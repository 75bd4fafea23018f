package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/watch"
)

// The watch benchmarks run members in this process and watch them over
// HTTP (Server-Sent Events), as clients would:
//
//	go test -run XXX -bench Watch -benchtime 2000x ./internal/app/
//
// BenchmarkWatch_Memory measures once, whatever -benchtime says: its
// figures are the custom metrics, not ns/op.

// BenchmarkWatch_Latency measures how long a change takes to reach a
// watcher: from just before the put is sent (to the leader) to the event's
// arrival at a stream on each of the three members. One put at a time, so
// that nothing queues.
func BenchmarkWatch_Latency(b *testing.B) {
	ms := startCluster(b, 3)
	li := leaderIndex(b, ms, 10*time.Second)
	client := sseClient(b)
	type arrival struct {
		member, i int
		at        time.Time
	}
	arrivals := make(chan arrival, 3*64)
	for mi, m := range ms {
		resp, err := openWatch(b, client, m.URL+"/v1/watch/lat/?prefix=true", nil, time.Hour)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("watch %s: %v %v", m.URL, resp, err)
		}
		opened := make(chan struct{})
		go readSSE(resp.Body, func(ev sseEvent) bool {
			if ev.IsComment {
				if _, ok := watchingFrom(ev); ok {
					close(opened)
				}
				return true
			}
			now := time.Now()
			var d watchData
			if err := json.Unmarshal([]byte(ev.Data), &d); err != nil || ev.Event != "events" {
				return false
			}
			for _, e := range d.Events {
				i, _ := strconv.Atoi(strings.TrimPrefix(e.Kv.Key, "lat/"))
				arrivals <- arrival{mi, i, now}
			}
			return true
		})
		<-opened
	}
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 30 * time.Second}
	var leader, follower, put []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := putRev(c, fmt.Sprintf("%s/v1/kv/lat/%d", ms[li].URL, i), "v"); err != nil {
			b.Fatal(err)
		}
		put = append(put, time.Since(t0))
		for range 3 {
			select {
			case a := <-arrivals:
				if a.i != i {
					b.Fatalf("member %d got the put #%d while #%d was expected", a.member, a.i, i)
				}
				if a.member == li {
					leader = append(leader, a.at.Sub(t0))
				} else {
					follower = append(follower, a.at.Sub(t0))
				}
			case <-time.After(10 * time.Second):
				b.Fatalf("put #%d did not reach every watcher", i)
			}
		}
	}
	b.StopTimer()
	all := append(append([]time.Duration(nil), leader...), follower...)
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	b.ReportMetric(us(percentile(all, 0.50)), "p50-µs")
	b.ReportMetric(us(percentile(all, 0.99)), "p99-µs")
	b.ReportMetric(us(percentile(leader, 0.50)), "leader-p50-µs")
	b.ReportMetric(us(percentile(follower, 0.50)), "follower-p50-µs")
	b.ReportMetric(us(percentile(follower, 0.99)), "follower-p99-µs")
	b.ReportMetric(us(percentile(put, 0.50)), "put-p50-µs")
}

// BenchmarkWatch_Memory opens many idle streams on one member and reports
// what each costs the process (client and server together: both live
// here), in heap and goroutine stacks, and how long one change takes to
// reach all of them. The bare-sse cases are the same number of idle
// event-stream connections to a trivial handler: the cost of HTTP alone.
func BenchmarkWatch_Memory(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("watchers=%d", n), func(b *testing.B) {
			ms := startCluster(b, 1)
			url := ms[0].URL
			mustPut(b, url, "mem/k", "v0")
			measureStreams(b, n, url+"/v1/watch/mem/k", func() {
				mustPut(b, url, "mem/k", "v")
			})
			waitFor(b, 10*time.Second, "the watchers to be released", func() bool {
				return ms[0].app.hub.Stats().Watchers == 0
			})
		})
		b.Run(fmt.Sprintf("bare-sse=%d", n), func(b *testing.B) {
			changed := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, ": watching from revision 1\n\n")
				w.(http.Flusher).Flush()
				select {
				case <-changed:
					io.WriteString(w, "id: 2\nevent: events\ndata: {}\n\n")
					w.(http.Flusher).Flush()
					<-r.Context().Done()
				case <-r.Context().Done():
				}
			}))
			defer srv.Close()
			measureStreams(b, n, srv.URL, func() { close(changed) })
		})
	}
}

// measureStreams opens n streams on url, reports their cost, calls change
// and reports how long its event took to reach every stream, then closes
// them.
func measureStreams(b *testing.B, n int, url string, change func()) {
	b.Helper()
	b.ReportMetric(0, "ns/op")
	client := sseClient(b)
	before := memNow()
	got := make(chan time.Time, n)
	var bodies []io.Closer
	var wg sync.WaitGroup
	for range n {
		bodies = append(bodies, openTimedStream(b, client, url, time.Minute, got, &wg))
	}
	after := memNow()
	b.ReportMetric(float64(after.heap-before.heap)/float64(n), "heap-B/watcher")
	b.ReportMetric(float64(after.stack-before.stack)/float64(n), "stack-B/watcher")
	b.ReportMetric(float64(after.goroutines-before.goroutines)/float64(n), "goroutines/watcher")
	t0 := time.Now()
	change()
	var last time.Time
	for range n {
		select {
		case last = <-got:
		case <-time.After(30 * time.Second):
			b.Fatal("a change did not reach every stream")
		}
	}
	b.ReportMetric(float64(last.Sub(t0).Microseconds()), "fanout-µs")
	for _, c := range bodies {
		c.Close()
	}
	wg.Wait()
	client.Transport.(*http.Transport).CloseIdleConnections()
}

// openTimedStream opens a watch stream on url, reads it in a goroutine of
// wg that sends the arrival time of each message to got, and returns once
// the stream is open; closing what it returns ends the stream.
func openTimedStream(b *testing.B, client *http.Client, url string, timeout time.Duration, got chan<- time.Time, wg *sync.WaitGroup) io.Closer {
	b.Helper()
	resp, err := openWatch(b, client, url, nil, timeout)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("watch %s: %v %v", url, resp, err)
	}
	opened := make(chan struct{})
	wg.Go(func() {
		readSSE(resp.Body, func(ev sseEvent) bool {
			if ev.IsComment {
				if _, ok := watchingFrom(ev); ok {
					close(opened)
				}
				return true
			}
			got <- time.Now()
			return true
		})
	})
	<-opened
	return resp.Body
}

type memSample struct {
	heap, stack uint64
	goroutines  int
}

func memNow() memSample {
	runtime.GC()
	var st runtime.MemStats
	runtime.ReadMemStats(&st)
	return memSample{heap: st.HeapAlloc, stack: st.StackInuse, goroutines: runtime.NumGoroutine()}
}

// BenchmarkWatch_Publish measures the hub's Publish, which the state
// machine calls after every applied batch, for one put per revision: with
// an empty ring, and with a full one (65536 events), where every Publish
// evicts the oldest revision.
func BenchmarkWatch_Publish(b *testing.B) {
	for _, prefill := range []int{0, 1 << 16} {
		b.Run(fmt.Sprintf("ring=%d", prefill), func(b *testing.B) {
			h := watch.NewHub(watch.HubConfig{}, 0)
			var rev int64
			publish := func() {
				rev++
				h.Publish(rev, []domain.Event{{Type: domain.EventPut, Kv: domain.KeyValue{Key: []byte("k"), Value: []byte("v"), ModRevision: rev}}})
			}
			for range prefill {
				publish()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				publish()
			}
		})
	}
}

// BenchmarkWatch_EventLatency opens n watch streams on distinct keys of one
// member, over HTTP/2 (h2c: many streams share a connection), then changes
// the key of one random watcher at a time and reports, from just before the
// put to the event's arrival, the p50 and p99 latency, and the cost of a
// watcher (client and server, both in this process).
func BenchmarkWatch_EventLatency(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("watchers=%d", n), func(b *testing.B) {
			b.ReportMetric(0, "ns/op")
			ms := startClusterWith(b, 1, func(c *Config) { c.MaxWatchers = n + 10 })
			url := ms[0].URL
			p := new(http.Protocols)
			p.SetUnencryptedHTTP2(true)
			tr := &http.Transport{Protocols: p}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			before := memNow()
			arrived := make([]chan time.Time, n)
			var wg sync.WaitGroup
			var bodies []io.Closer
			for i := range n {
				arrived[i] = make(chan time.Time, 1)
				bodies = append(bodies, openTimedStream(b, client, fmt.Sprintf("%s/v1/watch/lat/%05d", url, i), 10*time.Minute, arrived[i], &wg))
			}
			after := memNow()
			b.ReportMetric(float64(after.heap-before.heap)/float64(n), "heap-B/watcher")
			b.ReportMetric(float64(after.stack-before.stack)/float64(n), "stack-B/watcher")
			var lat []time.Duration
			for j := 0; j < 300; j++ {
				i := (j * 7919) % n
				t0 := time.Now()
				mustPut(b, url, fmt.Sprintf("lat/%05d", i), "v")
				select {
				case at := <-arrived[i]:
					lat = append(lat, at.Sub(t0))
				case <-time.After(30 * time.Second):
					b.Fatalf("no event for watcher %d", i)
				}
			}
			b.ReportMetric(float64(percentile(lat, 0.5).Microseconds()), "p50-µs")
			b.ReportMetric(float64(percentile(lat, 0.99).Microseconds()), "p99-µs")
			for _, c := range bodies {
				c.Close()
			}
			wg.Wait()
		})
	}
}
