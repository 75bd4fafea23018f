package http

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/kv"
)

// BenchmarkServer_Request measures a plain GET and PUT through the whole
// client handler (middleware, routing, handler, access log at info level
// into io.Discard), to compare the time and allocations per request:
//
//	go test -run XXX -bench Server_Request -benchmem ./internal/adapters/http/
func BenchmarkServer_Request(b *testing.B) {
	k := &fakeKV{
		RangeFn: func(context.Context, domain.RangeRequest) (domain.RangeResponse, int64, error) {
			return domain.RangeResponse{Kvs: []domain.KeyValue{{Key: []byte("a"), Value: []byte("1"), ModRevision: 9}}, Count: 1}, 9, nil
		},
		PutFn: func(context.Context, domain.PutRequest, *int64) (kv.PutResult, error) {
			return kv.PutResult{Revision: 9, Succeeded: true}, nil
		},
	}
	s := New(Config{Logger: zerolog.New(io.Discard)}, Services{KV: k, Cluster: fakeCluster{}, Hasher: fakeHasher{}})
	h := s.Handler()
	for _, bb := range []struct {
		name, method, body string
	}{
		{name: "Get", method: http.MethodGet},
		{name: "Put", method: http.MethodPut, body: "value"},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(bb.method, "/v1/kv/a", strings.NewReader(bb.body))
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}
