package app

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The cluster benchmarks run three members in this process and talk to
// them over HTTP with keep-alive connections, as clients would:
//
//	go test -run XXX -bench Cluster -benchtime 3s ./internal/app/

var benchClient = &http.Client{Transport: &http.Transport{
	MaxIdleConns:        1024,
	MaxIdleConnsPerHost: 1024,
	IdleConnTimeout:     time.Minute,
}, Timeout: 30 * time.Second}

func benchDo(b *testing.B, method, url string, body string) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	resp, err := benchClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("%s %s: %d", method, url, resp.StatusCode)
	}
}

// runClients spreads b.N requests over clients goroutines, each sending to
// the members in turn, and reports requests per second and latency.
func runClients(b *testing.B, ms []*member, clients int, op func(b *testing.B, url string, i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	lat := make([][]time.Duration, clients)
	b.ResetTimer()
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				t0 := time.Now()
				op(b, ms[(c+i)%len(ms)].URL, i)
				lat[c] = append(lat[c], time.Since(t0))
			}
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	if p := percentile(all, 0.50); p > 0 {
		b.ReportMetric(float64(p.Microseconds()), "p50-µs")
		b.ReportMetric(float64(percentile(all, 0.99).Microseconds()), "p99-µs")
	}
}

func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*q)]
}

func BenchmarkCluster_Put(b *testing.B) {
	ms := startCluster(b, 3)
	value := strings.Repeat("v", 256)
	for _, clients := range []int{1, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			runClients(b, ms, clients, func(b *testing.B, url string, i int) {
				benchDo(b, http.MethodPut, fmt.Sprintf("%s/v1/kv/bench/%08d", url, i%10000), value)
			})
		})
	}
}

func BenchmarkCluster_Get(b *testing.B) {
	ms := startCluster(b, 3)
	for i := 0; i < 1000; i++ {
		mustPut(b, ms[0].URL, fmt.Sprintf("bench/%04d", i), strings.Repeat("v", 256))
	}
	for _, mode := range []string{"linearizable", "serializable"} {
		for _, clients := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/clients=%d", mode, clients), func(b *testing.B) {
				q := ""
				if mode == "serializable" {
					q = "?serializable=true"
				}
				runClients(b, ms, clients, func(b *testing.B, url string, i int) {
					benchDo(b, http.MethodGet, fmt.Sprintf("%s/v1/kv/bench/%04d%s", url, i%1000, q), "")
				})
			})
		}
	}
}
