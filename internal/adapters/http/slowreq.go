package http

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// observeSlow warns, rate-limited, when a request took longer than the
// threshold (--warning-apply-duration): "request took 250ms, expected
// under 100ms", with its route, method, status and request ID (the access
// log's req_id). Requests that wait by design are left out.
func (m *httpMetrics) observeSlow(q *request, r *http.Request, route string, status int, d time.Duration) {
	if t := m.slow.Threshold(); t == 0 || d <= t || waitsByDesign(q.w.Header(), r, route) {
		return
	}
	m.slow.Observe(d, func(e *zerolog.Event) {
		e.Str("method", r.Method).Str("route", route).Int("status", status).Str("req_id", q.id)
	})
}

// waitsByDesign reports whether a request may take long when all is well:
// a stream (a watch, an observe), a long poll, a lock or a campaign that
// waits its turn, a snapshot download, a defragmentation, a membership
// change or a leader transfer, the auth calls (bcrypt is slow on purpose),
// a CPU profile.
func waitsByDesign(h http.Header, r *http.Request, route string) bool {
	if strings.HasPrefix(h.Get("Content-Type"), "text/event-stream") {
		return true
	}
	if wait, err := strconv.ParseBool(r.URL.Query().Get("wait")); err == nil && wait {
		return true
	}
	for _, p := range []string{"/v1/watch/", "/v1/elections/", "/v1/maintenance/", "/v1/cluster/", "/v1/auth/", "/debug/pprof/"} {
		if strings.HasPrefix(route, p) {
			return true
		}
	}
	if route == "/v3/*" { // etcd's JSON gateway: its streams, and the calls their /v1 twins make wait
		for _, p := range []string{"/v3/watch", "/v3/lease/keepalive", "/v3/maintenance/", "/v3/cluster/", "/v3/auth/"} {
			if strings.HasPrefix(r.URL.Path, p) {
				return true
			}
		}
	}
	return strings.HasPrefix(route, "/v1/locks/") && r.Method == http.MethodPost
}
