package http

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/watch"
	"github.com/cairnkv/cairn/internal/ports/portstest"
)

// chanWriter hands each log line written by the server's goroutines to the test.
type chanWriter struct {
	ch chan []byte
}

func (b chanWriter) Write(p []byte) (int, error) {
	b.ch <- append([]byte(nil), p...)
	return len(p), nil
}

func TestServer_SlowRequestWarning(t *testing.T) {
	t.Parallel()
	logs := chanWriter{ch: make(chan []byte, 100)}
	b := portstest.NewBackend()
	ws := watch.New(watch.Config{}, watch.NewHub(watch.HubConfig{}, 1), b, portstest.NewProposer(b))
	k := &fakeKV{RangeFn: func(context.Context, domain.RangeRequest) (domain.RangeResponse, int64, error) {
		return domain.RangeResponse{Kvs: []domain.KeyValue{{Key: []byte("a"), Value: []byte("1")}}, Count: 1}, 9, nil
	}}
	// Every request takes longer than a nanosecond.
	s := New(Config{Logger: zerolog.New(logs).Level(zerolog.WarnLevel), WarnRequestDuration: time.Nanosecond},
		Services{KV: k, Cluster: fakeCluster{}, Hasher: fakeHasher{}, Watch: ws})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)

	resp, err := http.Get(ts.URL + "/v1/kv/a")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var line map[string]any
	select {
	case raw := <-logs.ch:
		if err := json.Unmarshal(bytes.TrimSpace(raw), &line); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no warning for a slow request")
	}
	msg, _ := line["message"].(string)
	if line["level"] != "warn" || line["route"] != "/v1/kv/*" || line["method"] != "GET" || line["status"] != 200.0 ||
		!bytes.HasPrefix([]byte(msg), []byte("request took ")) || !bytes.HasSuffix([]byte(msg), []byte(", expected under 1ns")) {
		t.Fatalf("warning: %v", line)
	}
	if _, ok := line["req_id"]; !ok {
		t.Fatalf("warning without the request ID: %v", line)
	}
}

func TestWaitsByDesign(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		method, url string
		route       string
		contentType string
		want        bool
	}{
		{name: "Get", method: "GET", url: "/v1/kv/a", route: "/v1/kv/*"},
		{name: "Put", method: "PUT", url: "/v1/kv/a", route: "/v1/kv/*"},
		{name: "Txn", method: "POST", url: "/v1/txn", route: "/v1/txn"},
		{name: "LockStatus", method: "GET", url: "/v1/locks/x", route: "/v1/locks/*"},
		{name: "LongPoll", method: "GET", url: "/v1/kv/a?wait=true", route: "/v1/kv/*", want: true},
		{name: "Watch", method: "GET", url: "/v1/watch/a", route: "/v1/watch/*", want: true},
		{name: "Stream", method: "GET", url: "/v1/elections/e/observe", route: "/v1/elections/*", contentType: "text/event-stream", want: true},
		{name: "Lock", method: "POST", url: "/v1/locks/x", route: "/v1/locks/*", want: true},
		{name: "Snapshot", method: "GET", url: "/v1/maintenance/snapshot", route: "/v1/maintenance/snapshot", want: true},
		{name: "Promote", method: "POST", url: "/v1/cluster/members/1/promote", route: "/v1/cluster/members/{id}/promote", want: true},
		{name: "Authenticate", method: "POST", url: "/v1/auth/authenticate", route: "/v1/auth/authenticate", want: true},
		{name: "Profile", method: "GET", url: "/debug/pprof/profile", route: "/debug/pprof/profile", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.contentType != "" {
				h.Set("Content-Type", tt.contentType)
			}
			r := httptest.NewRequest(tt.method, tt.url, nil)
			if got := waitsByDesign(h, r, tt.route); got != tt.want {
				t.Fatalf("waitsByDesign = %v, want %v", got, tt.want)
			}
		})
	}
}
