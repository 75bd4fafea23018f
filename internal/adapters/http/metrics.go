package http

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairnkv/cairn/internal/domain/lease"
	"github.com/cairnkv/cairn/internal/domain/watch"
	"github.com/cairnkv/cairn/internal/slowlog"
)

type httpMetrics struct {
	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	errors        *prometheus.CounterVec
	watchStreams  prometheus.Gauge
	watchEvents   prometheus.Counter
	watchDuration prometheus.Histogram
	lockAcquired  prometheus.Counter
	lockTimeouts  prometheus.Counter
	lockWait      prometheus.Histogram
	electionsWon  prometheus.Counter
	slow          *slowlog.Warner // slow requests (slowreq.go)
}

func newHTTPMetrics(reg prometheus.Registerer, hub *watch.Hub, leases LeaseService) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cairn_http_request_duration_seconds", Help: "HTTP request latency by route and method.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"route", "method"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_http_errors_total", Help: "Error answers by error code.",
		}, []string{"code"}),
	}
	m.watchStreams = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "cairn_watch_streams", Help: "Open watch streams (SSE).",
	})
	m.watchEvents = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cairn_watch_events_sent_total", Help: "Events sent to watchers (streams and long polls).",
	})
	m.watchDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "cairn_watch_stream_duration_seconds", Help: "How long watch streams stayed open.",
		Buckets: prometheus.ExponentialBuckets(0.1, 4, 10),
	})
	m.lockAcquired = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cairn_lock_acquired_total", Help: "Locks acquired through this member.",
	})
	m.lockTimeouts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cairn_lock_timeouts_total", Help: "Lock requests that gave up at their timeout (423).",
	})
	m.lockWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "cairn_lock_wait_seconds", Help: "How long lock requests waited, acquired or not.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
	})
	m.electionsWon = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cairn_elections_won_total", Help: "Campaigns that won leadership through this member.",
	})
	if reg != nil {
		reg.MustRegister(m.requests, m.latency, m.errors, m.watchStreams, m.watchEvents, m.watchDuration,
			m.lockAcquired, m.lockTimeouts, m.lockWait, m.electionsWon)
		if leases != nil {
			ls := func(f func(lease.Stats) float64) func() float64 {
				return func() float64 { return f(leases.Stats()) }
			}
			reg.MustRegister(
				prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cairn_leases_tracked", Help: "Leases whose deadlines this member keeps (the leader's lessor)."},
					ls(func(s lease.Stats) float64 { return float64(s.Leases) })),
				prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cairn_lease_granted_total", Help: "Leases granted through this member."},
					ls(func(s lease.Stats) float64 { return float64(s.Granted) })),
				prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cairn_lease_revoked_total", Help: "Leases revoked by clients through this member."},
					ls(func(s lease.Stats) float64 { return float64(s.Revoked) })),
				prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cairn_lease_expired_total", Help: "Leases this member, as leader, revoked because they expired."},
					ls(func(s lease.Stats) float64 { return float64(s.Expired) })),
				prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cairn_lease_keepalives_total", Help: "Lease keepalives served by this member as leader."},
					ls(func(s lease.Stats) float64 { return float64(s.KeepAlives) })),
			)
		}
		if hub != nil {
			stat := func(f func(watch.Stats) float64) func() float64 {
				return func() float64 { return f(hub.Stats()) }
			}
			reg.MustRegister(
				prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cairn_watchers", Help: "Open watchers (streams and long polls)."},
					stat(func(s watch.Stats) float64 { return float64(s.Watchers) })),
				prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cairn_watchers_catching_up", Help: "Watchers reading history from the store right now."},
					stat(func(s watch.Stats) float64 { return float64(s.CatchingUp) })),
				prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cairn_watchers_slow_total", Help: "Times a watcher fell behind the in-memory ring and moved to the store."},
					stat(func(s watch.Stats) float64 { return float64(s.Slow) })),
				prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cairn_watchers_parked", Help: "Watchers caught up and asleep until a change of their keys."},
					stat(func(s watch.Stats) float64 { return float64(s.Parked) })),
				prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cairn_watch_wakeups_total", Help: "Times a change woke a parked watcher of its keys."},
					stat(func(s watch.Stats) float64 { return float64(s.Wakeups) })),
				prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cairn_watch_ring_events", Help: "Recent events held in memory for watchers."},
					stat(func(s watch.Stats) float64 { return float64(s.RingEvents) })),
				prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cairn_watch_ring_bytes", Help: "Bytes of keys and values held in memory for watchers (approximately)."},
					stat(func(s watch.Stats) float64 { return float64(s.RingBytes) })),
			)
		}
	}
	return m
}

// observe counts a finished request by route, method and status (200 when
// the handler wrote nothing, as net/http then answers), times it, and
// warns if it was slow (slowreq.go).
func (m *httpMetrics) observe(q *request, r *http.Request) {
	took := time.Since(q.start)
	route := q.route.RoutePattern()
	if route == "" {
		route = "unmatched"
	}
	status := q.w.status
	if status == 0 {
		status = http.StatusOK
	}
	m.requests.WithLabelValues(route, r.Method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route, r.Method).Observe(took.Seconds())
	m.observeSlow(q, r, route, status, took)
}
