package http

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/xid"
	"github.com/rs/zerolog"
)

// middleware is the one middleware in front of each router (the client
// API's and the members'): it gives the request an ID (the X-Request-Id
// header and the req_id of its log lines), authenticates it on the client
// API, turns a panic into a 500, and once the answer is written counts it
// (metrics.go), warns if it was slow (slowreq.go) and writes the access
// log line.
//
// A watch stream can stay open for days and a member serves 100,000 of
// them, so what a request holds while it runs is kept small: one request
// value, which is both the request's context (a single WithContext) and
// chi's routing context, records the answer through its own
// responseWriter, and logs through the listener's logger only when a line
// is written (no per-request logger).
//
// The stack matters as much: a handler's goroutine keeps the largest
// stack it ever needed (Go grows a 4 KiB stack to 8 KiB and would shrink
// it back only if less than a quarter were in use). So the watch streams
// are served without chi's tree search, whose recursion takes about 2 KiB,
// and the frames below a stream are kept few and small (watch.go).
type middleware struct {
	s    *Server
	next *chi.Mux
	log  zerolog.Logger // the listener's
	// client is the client API's: it authenticates (auth.go) and serves
	// GET /v1/watch/... itself (handleWatch), as next would.
	client bool
}

// The middleware is a chi.Routes, so that chi.Walk and Match see the
// routes of the router behind it.
var _ chi.Routes = (*middleware)(nil)

func (m *middleware) Routes() []chi.Route          { return m.next.Routes() }
func (m *middleware) Middlewares() chi.Middlewares { return m.next.Middlewares() }
func (m *middleware) Match(rctx *chi.Context, method, path string) bool {
	return m.next.Match(rctx, method, path)
}
func (m *middleware) Find(rctx *chi.Context, method, path string) string {
	return m.next.Find(rctx, method, path)
}

// watchRoute is the route of watch streams, for the metrics.
var watchRoute = []string{watchPrefix + "*"}

// request is what the middleware keeps of one request. It is the
// request's context: Value answers for chi's routing context and for
// itself, and asks the server's context for the rest.
type request struct {
	context.Context // the request's context from the server

	id    string          // the request ID, an xid as text
	user  string          // the authenticated user (auth.go), "" if none
	log   *zerolog.Logger // the listener's
	start time.Time
	w     responseWriter
	route chi.Context
}

// requestKey is the context key under which a request finds itself.
type requestKey struct{}

// Value returns the request for requestKey and chi's routing context for
// chi.RouteCtxKey; any other key is the server context's.
func (q *request) Value(key any) any {
	switch key {
	case requestKey{}:
		return q
	case chi.RouteCtxKey:
		return &q.route
	}
	return q.Context.Value(key)
}

// requestOf returns the middleware's state of r, or nil for a request
// that did not come through it.
func requestOf(r *http.Request) *request {
	q, _ := r.Context().Value(requestKey{}).(*request)
	return q
}

// userOf returns the user that authenticated r, "" if none did.
func userOf(r *http.Request) string {
	if q := requestOf(r); q != nil {
		return q.user
	}
	return ""
}

// logFor starts a line at level in r's log: the listener's logger with the
// request's req_id, built only now; nil, on which zerolog's methods do
// nothing, when the level is off.
func (s *Server) logFor(r *http.Request, level zerolog.Level) *zerolog.Event {
	if q := requestOf(r); q != nil {
		return q.log.WithLevel(level).Str("req_id", q.id)
	}
	return s.cfg.Logger.WithLevel(level)
}

func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q, r := m.begin(w, r)
	defer m.finish(q, r)
	if m.client && !m.s.authenticate(&q.w, r, q) {
		return
	}
	if m.client && r.Method == http.MethodGet && strings.HasPrefix(routePath(r), watchPrefix) {
		q.route.RoutePatterns = watchRoute
		m.s.handleWatch(&q.w, r)
		return
	}
	m.next.ServeHTTP(&q.w, r)
}

// begin makes the request's state and its context, and answers with its
// ID in X-Request-Id.
func (m *middleware) begin(w http.ResponseWriter, r *http.Request) (*request, *http.Request) {
	q := &request{Context: r.Context(), id: xid.New().String(), log: &m.log, start: time.Now()}
	q.w.ResponseWriter = w
	q.route.Routes = m.next
	w.Header().Set("X-Request-Id", q.id)
	return q, r.WithContext(q)
}

// routePath is the path that chi routes: the escaped one when the client
// escaped it otherwise than Go would.
func routePath(r *http.Request) string {
	if r.URL.RawPath != "" {
		return r.URL.RawPath
	}
	return r.URL.Path
}

// finish answers a panic with a 500 and logs it, then counts the request
// and writes the access log line. A handler that aborts on purpose
// (http.ErrAbortHandler) gets its access log line and its panic goes on
// to the server, as net/http expects.
func (m *middleware) finish(q *request, r *http.Request) {
	if v := recover(); v != nil {
		if v == http.ErrAbortHandler {
			m.accessLog(q, r)
			panic(v)
		}
		m.log.Error().Str("req_id", q.id).Str("panic", fmt.Sprint(v)).Bytes("stack", debug.Stack()).Msg("handler panicked")
		q.w.Header().Set("Content-Type", "application/json")
		q.w.WriteHeader(http.StatusInternalServerError)
		_ = json.NewEncoder(&q.w).Encode(errorJSON{Error: errorBody{Code: "internal", Message: "internal error; see the member's log"}})
	}
	m.s.metrics.observe(q, r)
	m.accessLog(q, r)
}

// accessLog writes the request's line: method, path, status (0 when the
// handler wrote nothing), bytes of body and duration.
func (m *middleware) accessLog(q *request, r *http.Request) {
	m.log.Info().
		Str("req_id", q.id).
		Str("method", r.Method).
		Str("path", r.URL.Path).
		Int("status", q.w.status).
		Int("size", q.w.size).
		Dur("duration", time.Since(q.start)).
		Msg("request")
}

// responseWriter records the status and size of an answer. Flush,
// FlushError and Unwrap reach the server's writer, so that streams
// (http.Flusher, http.ResponseController) work through it.
type responseWriter struct {
	http.ResponseWriter
	status int // the first status written; 0 if none yet
	size   int // bytes of body written
}

func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.size += n
	return n, err
}

// Flush sends what is buffered, and the header (200 unless written).
func (w *responseWriter) Flush() { _ = w.FlushError() }

// FlushError is Flush that says when the client is gone.
func (w *responseWriter) FlushError() error {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
