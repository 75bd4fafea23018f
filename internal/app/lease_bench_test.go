package app

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// BenchmarkLease_ManyExpire measures what many leases expiring together
// cost the other writes: a writer puts a key every 10 ms through a
// follower while 1,000 leases of 10 s with a key each are granted and then
// expire (TestLease_ManyExpireTogether checks that they all do). It
// measures once, whatever -benchtime says, on an idle machine:
//
//	go test -run XXX -bench Lease_ManyExpire ./internal/app/
//
// The goal is that the writer's p99 stays under 3 s while the
// leases expire; the benchmark fails when it does not.
func BenchmarkLease_ManyExpire(b *testing.B) {
	const n, ttl = 1000, 10
	b.ReportMetric(0, "ns/op")
	ms := startCluster(b, 3)
	li := leaderIndex(b, ms, 10*time.Second)
	leader := ms[li].URL

	w := startSteadyWriter(b, ms[(li+1)%3].URL)
	waitFor(b, 30*time.Second, "a baseline of writes", func() bool { return w.count() >= 50 })
	grantStart := time.Now()
	granted := grantMany(b, leader, n, ttl)
	firstExpiry := grantStart.Add(ttl * time.Second)
	waitFor(b, ttl*time.Second+granted+60*time.Second, "every key to expire", func() bool {
		code, body := request(http.MethodGet, leader+"/v1/kv/reg/?prefix=true&count_only=true&serializable=true", "")
		return code == 200 && strings.Contains(body, `"count":0`)
	})
	allGone := time.Now()
	writes := w.stop()

	var baseline, expiring []time.Duration
	for _, wr := range writes {
		switch {
		case wr.at.Before(grantStart):
			baseline = append(baseline, wr.latency)
		case !wr.at.Before(firstExpiry) && wr.at.Before(allGone):
			expiring = append(expiring, wr.latency)
		}
	}
	if granted > ttl*time.Second {
		b.Logf("the grants (%v) took longer than the TTL: expiries overlapped them", granted)
	}
	us := func(d time.Duration) float64 { return float64(d.Microseconds()) }
	b.ReportMetric(granted.Seconds(), "grant-s")
	b.ReportMetric(allGone.Sub(firstExpiry).Seconds(), "expiry-s")
	b.ReportMetric(us(percentile(baseline, 0.50)), "base-p50-µs")
	b.ReportMetric(us(percentile(baseline, 0.99)), "base-p99-µs")
	b.ReportMetric(us(percentile(expiring, 0.50)), "expiring-p50-µs")
	b.ReportMetric(us(percentile(expiring, 0.99)), "expiring-p99-µs")
	if p := percentile(expiring, 0.99); p > 3*time.Second {
		b.Errorf("writes stalled while %d leases expired: p99 %v (%d writes)", n, p, len(expiring))
	}
	b.Logf("%d leases granted in %v, gone %v after the first expiry", n, granted, allGone.Sub(firstExpiry))
}
