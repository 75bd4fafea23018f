package http

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/watch"
	"github.com/cairnkv/cairn/internal/ports/portstest"
)

// logLines hands the server's log lines to a test, decoded.
type logLines struct{ ch chan []byte }

func (l logLines) Write(p []byte) (int, error) {
	l.ch <- append([]byte(nil), p...)
	return len(p), nil
}

// next returns the next line whose message is msg, skipping others.
func (l logLines) next(t *testing.T, msg string) map[string]any {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case raw := <-l.ch:
			var line map[string]any
			if err := json.Unmarshal(bytes.TrimSpace(raw), &line); err != nil {
				t.Fatalf("%s: %v", raw, err)
			}
			if line["message"] == msg {
				return line
			}
		case <-timeout:
			t.Fatalf("no %q line", msg)
		}
	}
}

// requestCount is the cairn_http_requests_total of route, method, code.
func requestCount(t *testing.T, s *Server, route, method, code string) float64 {
	t.Helper()
	var m dto.Metric
	if err := s.metrics.requests.WithLabelValues(route, method, code).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// newLoggedServer is a server whose log lines (from debug up) and metrics
// the test reads, with k behind its KV calls.
func newLoggedServer(t *testing.T, k *fakeKV) (*Server, logLines) {
	t.Helper()
	logs := logLines{ch: make(chan []byte, 100)}
	b := portstest.NewBackend()
	ws := watch.New(watch.Config{}, watch.NewHub(watch.HubConfig{}, 1), b, portstest.NewProposer(b))
	s := New(Config{Logger: zerolog.New(logs).Level(zerolog.DebugLevel).With().Str("component", "http").Logger()},
		Services{KV: k, Cluster: fakeCluster{}, Hasher: fakeHasher{}, Watch: ws})
	return s, logs
}

func TestMiddleware_AccessLog(t *testing.T) {
	t.Parallel()
	s, logs := newLoggedServer(t, &fakeKV{RangeFn: func(context.Context, domain.RangeRequest) (domain.RangeResponse, int64, error) {
		return domain.RangeResponse{Kvs: []domain.KeyValue{{Key: []byte("a"), Value: []byte("1")}}, Count: 1}, 9, nil
	}})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)

	resp, err := http.Get(ts.URL + "/v1/kv/a?raw")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Header.Get("X-Request-Id")
	if len(id) != 20 {
		t.Fatalf("X-Request-Id = %q, want an xid", id)
	}
	line := logs.next(t, "request")
	want := map[string]any{"level": "info", "component": "http", "req_id": id, "method": "GET", "path": "/v1/kv/a",
		"status": 200.0, "size": 1.0}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("access log %s = %v, want %v (%v)", k, line[k], v, line)
		}
	}
	if _, ok := line["duration"].(float64); !ok {
		t.Errorf("access log without a duration: %v", line)
	}
	if n := requestCount(t, s, "/v1/kv/*", "GET", "200"); n != 1 {
		t.Errorf("requests{/v1/kv/*,GET,200} = %v, want 1", n)
	}

	// A request ID per request.
	resp, err = http.Get(ts.URL + "/nowhere")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if id2 := resp.Header.Get("X-Request-Id"); id2 == id || len(id2) != 20 {
		t.Fatalf("second X-Request-Id = %q (first %q)", id2, id)
	}
	if line := logs.next(t, "request"); line["status"] != 404.0 || line["req_id"] != resp.Header.Get("X-Request-Id") {
		t.Fatalf("access log of a 404: %v", line)
	}
	if n := requestCount(t, s, "unmatched", "GET", "404"); n != 1 {
		t.Errorf("requests{unmatched,GET,404} = %v, want 1", n)
	}
}

// TestMiddleware_Panic: a handler's panic is a 500 in the API's error body,
// logged with the request's ID and stack, and counted and logged as a 500.
func TestMiddleware_Panic(t *testing.T) {
	t.Parallel()
	s, logs := newLoggedServer(t, &fakeKV{RangeFn: func(context.Context, domain.RangeRequest) (domain.RangeResponse, int64, error) {
		panic("disk on fire")
	}})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)

	resp, body := send(t, http.MethodGet, ts.URL+"/v1/kv/a", "")
	if resp.StatusCode != 500 || errorCode(body) != "internal" || strings.Contains(body["error"].(map[string]any)["message"].(string), "fire") {
		t.Fatalf("got %d %v", resp.StatusCode, body)
	}
	id := resp.Header.Get("X-Request-Id")
	line := logs.next(t, "handler panicked")
	if line["level"] != "error" || line["req_id"] != id || line["panic"] != "disk on fire" || !strings.Contains(line["stack"].(string), "goroutine") {
		t.Fatalf("panic log: %v", line)
	}
	if line := logs.next(t, "request"); line["status"] != 500.0 || line["req_id"] != id {
		t.Fatalf("access log of a panic: %v", line)
	}
	if n := requestCount(t, s, "/v1/kv/*", "GET", "500"); n != 1 {
		t.Errorf("requests{/v1/kv/*,GET,500} = %v, want 1", n)
	}
}

// TestMiddleware_AbortHandler: http.ErrAbortHandler goes on to net/http
// (which drops the connection quietly), after the access log line.
func TestMiddleware_AbortHandler(t *testing.T) {
	t.Parallel()
	s, logs := newLoggedServer(t, &fakeKV{RangeFn: func(context.Context, domain.RangeRequest) (domain.RangeResponse, int64, error) {
		panic(http.ErrAbortHandler)
	}})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	if resp, err := http.Get(ts.URL + "/v1/kv/a"); err == nil {
		resp.Body.Close()
		t.Fatalf("an aborted request was answered %d", resp.StatusCode)
	}
	if line := logs.next(t, "request"); line["path"] != "/v1/kv/a" || line["status"] != 0.0 {
		t.Fatalf("access log of an aborted request: %v", line)
	}
}

// TestMiddleware_ErrorLog: writeError logs a server error with the
// request's ID.
func TestMiddleware_ErrorLog(t *testing.T) {
	t.Parallel()
	s, logs := newLoggedServer(t, &fakeKV{RangeFn: func(context.Context, domain.RangeRequest) (domain.RangeResponse, int64, error) {
		return domain.RangeResponse{}, 0, errors.New("disk on fire")
	}})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	resp, _ := send(t, http.MethodGet, ts.URL+"/v1/kv/a", "")
	line := logs.next(t, "request failed")
	if line["level"] != "error" || line["req_id"] != resp.Header.Get("X-Request-Id") || line["code"] != "internal" ||
		line["error"] != "disk on fire" || line["component"] != "http" {
		t.Fatalf("error log: %v", line)
	}
}

// TestMiddleware_Peer: the members' API has the same middleware, logging
// with listener=peer.
func TestMiddleware_Peer(t *testing.T) {
	t.Parallel()
	s, logs := newLoggedServer(t, &fakeKV{})
	ts := httptest.NewServer(s.PeerHandler())
	t.Cleanup(ts.Close)
	resp, _ := send(t, http.MethodGet, ts.URL+"/v1/status", "")
	id := resp.Header.Get("X-Request-Id")
	if line := logs.next(t, "request"); line["listener"] != "peer" || line["req_id"] != id || line["path"] != "/v1/status" || id == "" {
		t.Fatalf("peer access log: %v (X-Request-Id %q)", line, id)
	}
	if n := requestCount(t, s, "/v1/status", "GET", "200"); n != 1 {
		t.Errorf("requests{/v1/status,GET,200} = %v, want 1", n)
	}
}

// TestMiddleware_Watch: a watch stream, which the middleware serves
// without the router, streams through its writer (Flush) and counts under
// its route.
func TestMiddleware_Watch(t *testing.T) {
	t.Parallel()
	s, logs := newLoggedServer(t, &fakeKV{})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	resp, err := http.Get(ts.URL + "/v1/watch/a?progress_notify")
	if err != nil {
		t.Fatal(err)
	}
	first, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(first, ": watching from revision") {
		t.Fatalf("first line %q, %v", first, err)
	}
	if resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("headers: %v", resp.Header)
	}
	resp.Body.Close()
	if line := logs.next(t, "request"); line["path"] != "/v1/watch/a" || line["status"] != 200.0 {
		t.Fatalf("access log of a watch: %v", line)
	}
	if n := requestCount(t, s, "/v1/watch/*", "GET", "200"); n != 1 {
		t.Errorf("requests{/v1/watch/*,GET,200} = %v, want 1", n)
	}
	// Other methods are the router's: 405 with the allowed ones.
	resp, body := send(t, http.MethodPost, ts.URL+"/v1/watch/a", "")
	if resp.StatusCode != 405 || errorCode(body) != "method_not_allowed" || resp.Header.Get("Allow") != "GET" {
		t.Fatalf("POST /v1/watch/a: %d %v %v", resp.StatusCode, body, resp.Header)
	}
	// As the router's route does, a watch refuses a body over the limit.
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/v1/watch/a", strings.NewReader(strings.Repeat("x", 2<<20)))
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("watch with a large body: %d", resp.StatusCode)
	}
}

func TestResponseWriter(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	w := &responseWriter{ResponseWriter: rec}
	var _ http.Flusher = w
	if err := http.NewResponseController(w).Flush(); err != nil || !rec.Flushed {
		t.Fatalf("Flush: %v, flushed %v", err, rec.Flushed)
	}
	_, _ = w.Write([]byte("abc"))
	w.WriteHeader(http.StatusTeapot) // too late: the status was 200
	_, _ = w.Write([]byte("de"))
	if w.status != 200 || w.size != 5 {
		t.Fatalf("status %d size %d, want 200 5", w.status, w.size)
	}
	// What the writer does not have, ResponseController finds beneath it.
	if err := http.NewResponseController(w).SetWriteDeadline(time.Time{}); !errors.Is(err, http.ErrNotSupported) {
		t.Fatalf("SetWriteDeadline on a recorder: %v, want ErrNotSupported (reached through Unwrap)", err)
	}
}
