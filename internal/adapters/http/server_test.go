package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/kv"
	"github.com/cairnkv/cairn/internal/domain/watch"
	"github.com/cairnkv/cairn/internal/ports/portstest"
)

// fakeKV is a KVService whose behaviour each test sets.
type fakeKV struct {
	RangeFn   func(ctx context.Context, req domain.RangeRequest) (domain.RangeResponse, int64, error)
	PutFn     func(ctx context.Context, req domain.PutRequest, cond *int64) (kv.PutResult, error)
	DeleteFn  func(ctx context.Context, req domain.DeleteRangeRequest, cond *int64) (kv.DeleteResult, error)
	TxnFn     func(ctx context.Context, req domain.TxnRequest) (domain.TxnResponse, int64, error)
	CompactFn func(ctx context.Context, rev int64) (int64, error)
}

func (f *fakeKV) Range(ctx context.Context, req domain.RangeRequest) (domain.RangeResponse, int64, error) {
	return f.RangeFn(ctx, req)
}
func (f *fakeKV) Put(ctx context.Context, req domain.PutRequest, cond *int64) (kv.PutResult, error) {
	return f.PutFn(ctx, req, cond)
}
func (f *fakeKV) Delete(ctx context.Context, req domain.DeleteRangeRequest, cond *int64) (kv.DeleteResult, error) {
	return f.DeleteFn(ctx, req, cond)
}
func (f *fakeKV) Txn(ctx context.Context, req domain.TxnRequest) (domain.TxnResponse, int64, error) {
	return f.TxnFn(ctx, req)
}
func (f *fakeKV) Compact(ctx context.Context, rev int64) (int64, error) { return f.CompactFn(ctx, rev) }

type fakeCluster struct{}

func (fakeCluster) Header() domain.Header {
	return domain.Header{ClusterID: 1, MemberID: 2, RaftTerm: 3}
}
func (fakeCluster) Status() domain.Status { return domain.Status{Revision: 9} }
func (fakeCluster) Ready() error          { return domain.ErrNoLeader }
func (fakeCluster) Members() ([]domain.ClusterMember, error) {
	return nil, nil
}
func (fakeCluster) AddMember(_ context.Context, m domain.Member, _ bool) (domain.Member, error) {
	return m, nil
}
func (fakeCluster) RemoveMember(context.Context, uint64) error  { return nil }
func (fakeCluster) PromoteMember(context.Context, uint64) error { return nil }

func (fakeCluster) TransferLeadership(context.Context, uint64) error { return nil }
func (fakeCluster) Revision() int64                                  { return 9 }
func (fakeCluster) IsLeader() bool                                   { return true }
func (fakeCluster) LeaderPeerURL(context.Context) (string, error) {
	return "", domain.ErrNoLeader
}
func (fakeCluster) PeerTransport() http.RoundTripper  { return http.DefaultTransport }
func (fakeCluster) ReadBarrier(context.Context) error { return nil }
func (fakeCluster) ProposeEncoded(context.Context, string, []byte) ([]byte, error) {
	return nil, domain.ErrNotLeader
}
func (fakeCluster) LeaderReadIndex(context.Context) (uint64, error) { return 0, domain.ErrNotLeader }

type fakeHasher struct{}

func (fakeHasher) Hash(int64) (uint32, int64, int64, error) { return 7, 9, 0, nil }

func newTestServer(t *testing.T, k *fakeKV) *httptest.Server {
	t.Helper()
	b := portstest.NewBackend()
	ws := watch.New(watch.Config{}, watch.NewHub(watch.HubConfig{}, 1), b, portstest.NewProposer(b))
	s := New(Config{MaxRequestBytes: 1024, Logger: zerolog.New(zerolog.NewTestWriter(t))},
		Services{KV: k, Cluster: fakeCluster{}, Hasher: fakeHasher{}, Watch: ws})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

func send(t *testing.T, method, url, body string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(data, &m)
	return resp, m
}

func errorCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// TestServer_ErrorTable checks the status and code of every domain error.
func TestServer_ErrorTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		status     int
		code       string
		retryAfter bool
	}{
		{name: "invalid", err: domain.InvalidArgument("bad"), status: 400, code: "invalid_argument"},
		{name: "future revision", err: fmt.Errorf("range: %w", domain.ErrFutureRevision), status: 400, code: "invalid_argument"},
		{name: "conflict", err: fmt.Errorf("add: %w", domain.ErrConflict), status: 409, code: "conflict"},
		{name: "key not found", err: domain.ErrKeyNotFound, status: 404, code: "key_not_found"},
		{name: "lease not found", err: fmt.Errorf("put: %w", domain.ErrLeaseNotFound), status: 404, code: "lease_not_found"},
		{name: "compacted", err: &domain.CompactedError{CompactRevision: 4}, status: 410, code: "compacted"},
		{name: "too large", err: domain.ErrTooLarge, status: 413, code: "request_too_large"},
		{name: "no leader", err: domain.ErrNoLeader, status: 503, code: "no_leader", retryAfter: true},
		{name: "not leader", err: &domain.NotLeaderError{LeaderID: "n2"}, status: 503, code: "not_leader", retryAfter: true},
		{name: "unavailable", err: domain.ErrUnavailable, status: 503, code: "unavailable", retryAfter: true},
		{name: "indeterminate", err: fmt.Errorf("put: %w", domain.ErrIndeterminate), status: 504, code: "timeout"},
		{name: "deadline", err: context.DeadlineExceeded, status: 504, code: "timeout"},
		{name: "internal", err: errors.New("disk on fire"), status: 500, code: "internal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, &fakeKV{RangeFn: func(context.Context, domain.RangeRequest) (domain.RangeResponse, int64, error) {
				return domain.RangeResponse{}, 0, tt.err
			}})
			resp, body := send(t, http.MethodGet, ts.URL+"/v1/kv/k", "")
			if resp.StatusCode != tt.status || errorCode(body) != tt.code {
				t.Fatalf("got %d %q, want %d %q (body %v)", resp.StatusCode, errorCode(body), tt.status, tt.code, body)
			}
			if got := resp.Header.Get("Retry-After") != ""; got != tt.retryAfter {
				t.Fatalf("Retry-After present = %v, want %v", got, tt.retryAfter)
			}
			if tt.status == 500 && strings.Contains(fmt.Sprint(body), "disk on fire") {
				t.Fatal("an internal error's details reached the client")
			}
			if tt.code == "compacted" {
				e := body["error"].(map[string]any)
				if e["compact_revision"] != float64(4) {
					t.Fatalf("compact_revision = %v, want 4", e["compact_revision"])
				}
			}
		})
	}
}

func TestServer_Put(t *testing.T) {
	t.Parallel()
	var got domain.PutRequest
	var gotCond *int64
	k := &fakeKV{PutFn: func(_ context.Context, req domain.PutRequest, cond *int64) (kv.PutResult, error) {
		got, gotCond = req, cond
		return kv.PutResult{Revision: 5, Succeeded: true}, nil
	}}
	ts := newTestServer(t, k)

	t.Run("OK", func(t *testing.T) {
		resp, body := send(t, http.MethodPut, ts.URL+"/v1/kv/dir/a%20b%00%FF?prev_kv=true&if_mod_revision=0", "{\"json\": true}")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d %v", resp.StatusCode, body)
		}
		if string(got.Key) != "dir/a b\x00\xff" || string(got.Value) != "{\"json\": true}" || !got.PrevKv {
			t.Fatalf("put request = %+v", got)
		}
		if gotCond == nil || *gotCond != 0 {
			t.Fatalf("if_mod_revision = %v, want 0", gotCond)
		}
		if resp.Header.Get("X-Cairn-Revision") != "5" {
			t.Fatalf("X-Cairn-Revision = %q", resp.Header.Get("X-Cairn-Revision"))
		}
		h := body["header"].(map[string]any)
		if h["revision"] != float64(5) || h["member_id"] != float64(2) || h["cluster_id"] != float64(1) || h["raft_term"] != float64(3) {
			t.Fatalf("header = %v", h)
		}
	})

	t.Run("BadInput", func(t *testing.T) {
		tests := []struct {
			name, url, body string
			status          int
		}{
			{name: "unknown param", url: "/v1/kv/k?bogus=1", status: 400},
			{name: "bad bool", url: "/v1/kv/k?prev_kv=maybe", status: 400},
			{name: "bad int", url: "/v1/kv/k?lease=-3", status: 400},
			{name: "repeated param", url: "/v1/kv/k?lease=1&lease=2", status: 400},
			{name: "bad encoding", url: "/v1/kv/k?encoding=rot13", status: 400},
			{name: "too large", url: "/v1/kv/k", body: strings.Repeat("x", 2000), status: 413},
		}
		for _, tt := range tests {
			got = domain.PutRequest{}
			resp, body := send(t, http.MethodPut, ts.URL+tt.url, tt.body)
			if resp.StatusCode != tt.status {
				t.Errorf("%s: status %d, want %d (%v)", tt.name, resp.StatusCode, tt.status, body)
			}
			if msg, _ := body["error"].(map[string]any)["message"].(string); msg == "" {
				t.Errorf("%s: no error message", tt.name)
			}
			if got.Key != nil {
				t.Errorf("%s: the request reached the service", tt.name)
			}
		}
	})

	t.Run("PreconditionFailed", func(t *testing.T) {
		k.PutFn = func(context.Context, domain.PutRequest, *int64) (kv.PutResult, error) {
			return kv.PutResult{Revision: 8, Current: &domain.KeyValue{Key: []byte("k"), Value: []byte("v"), ModRevision: 7}}, nil
		}
		resp, body := send(t, http.MethodPut, ts.URL+"/v1/kv/k?if_mod_revision=3", "x")
		if resp.StatusCode != 412 || errorCode(body) != "precondition_failed" {
			t.Fatalf("got %d %v", resp.StatusCode, body)
		}
		if kvm := body["kv"].(map[string]any); kvm["mod_revision"] != float64(7) || kvm["value"] != "v" {
			t.Fatalf("kv = %v", kvm)
		}
	})
}

func TestServer_Get(t *testing.T) {
	t.Parallel()
	var got domain.RangeRequest
	kvs := []domain.KeyValue{{Key: []byte("a\xff"), Value: []byte("v\x00"), CreateRevision: 2, ModRevision: 3, Version: 2}}
	ts := newTestServer(t, &fakeKV{RangeFn: func(_ context.Context, req domain.RangeRequest) (domain.RangeResponse, int64, error) {
		got = req
		if string(req.Key) == "missing" {
			return domain.RangeResponse{}, 4, nil
		}
		return domain.RangeResponse{Kvs: kvs, Count: 1}, 4, nil
	}})

	t.Run("NotFound", func(t *testing.T) {
		resp, body := send(t, http.MethodGet, ts.URL+"/v1/kv/missing", "")
		if resp.StatusCode != 404 || errorCode(body) != "key_not_found" {
			t.Fatalf("got %d %v", resp.StatusCode, body)
		}
	})
	t.Run("Base64 for invalid UTF-8", func(t *testing.T) {
		_, body := send(t, http.MethodGet, ts.URL+"/v1/kv/x", "")
		kv := body["kvs"].([]any)[0].(map[string]any)
		if kv["key_base64"] != "Yf8=" || kv["value"] != "v\x00" || kv["key"] != nil {
			t.Fatalf("kv = %v", kv)
		}
		_, body = send(t, http.MethodGet, ts.URL+"/v1/kv/x?encoding=base64", "")
		kv = body["kvs"].([]any)[0].(map[string]any)
		if kv["key"] != "Yf8=" || kv["value"] != "dgA=" {
			t.Fatalf("kv with encoding=base64 = %v", kv)
		}
	})
	t.Run("Accept", func(t *testing.T) {
		tests := []struct {
			accept string
			raw    bool
		}{
			{accept: "application/octet-stream", raw: true},
			{accept: "application/octet-stream;q=0.5, text/plain", raw: true},
			{accept: "application/octet-stream;q=0", raw: false},
			{accept: "application/json, application/octet-stream", raw: false},
			{accept: "*/*", raw: false},
		}
		for _, tt := range tests {
			req, _ := http.NewRequest(http.MethodGet, ts.URL+"/v1/kv/x", nil)
			req.Header.Set("Accept", tt.accept)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("Content-Type") == "application/octet-stream"; got != tt.raw {
				t.Errorf("Accept %q: raw = %v, want %v", tt.accept, got, tt.raw)
			}
		}
	})
	t.Run("Raw", func(t *testing.T) {
		resp, err := http.Get(ts.URL + "/v1/kv/x?raw")
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(data) != "v\x00" || resp.Header.Get("Content-Type") != "application/octet-stream" || resp.Header.Get("X-Cairn-Mod-Revision") != "3" {
			t.Fatalf("raw = %q %v", data, resp.Header)
		}
	})
	t.Run("Range forms", func(t *testing.T) {
		tests := []struct {
			query   string
			wantEnd string
		}{
			{query: "?prefix=true", wantEnd: "p0"},
			{query: "?from_key=true", wantEnd: "\x00"},
			{query: "?range_end=q", wantEnd: "q"},
		}
		for _, tt := range tests {
			send(t, http.MethodGet, ts.URL+"/v1/kv/p/"+tt.query, "")
			if string(got.RangeEnd) != tt.wantEnd || string(got.Key) != "p/" {
				t.Errorf("%s: key %q end %q, want end %q", tt.query, got.Key, got.RangeEnd, tt.wantEnd)
			}
		}
		resp, _ := send(t, http.MethodGet, ts.URL+"/v1/kv/p?prefix=true&from_key=true", "")
		if resp.StatusCode != 400 {
			t.Errorf("prefix with from_key: %d, want 400", resp.StatusCode)
		}
		for _, q := range []string{"?prefix=true&raw", "?raw&count_only=true", "?raw&keys_only=true"} {
			resp, _ = send(t, http.MethodGet, ts.URL+"/v1/kv/p"+q, "")
			if resp.StatusCode != 400 {
				t.Errorf("%s: %d, want 400", q, resp.StatusCode)
			}
		}
		send(t, http.MethodGet, ts.URL+"/v1/kv/?prefix=true&sort_order=descend&sort_target=mod&limit=3&serializable=true", "")
		if len(got.Key) != 0 || string(got.RangeEnd) != "\x00" || got.SortOrder != domain.SortDescend || got.SortTarget != domain.SortByMod || got.Limit != 3 || !got.Serializable {
			t.Errorf("list all keys request = %+v", got)
		}
	})
}

func TestServer_Txn(t *testing.T) {
	t.Parallel()
	var got domain.TxnRequest
	ts := newTestServer(t, &fakeKV{TxnFn: func(_ context.Context, req domain.TxnRequest) (domain.TxnResponse, int64, error) {
		got = req
		return domain.TxnResponse{Succeeded: true, Responses: []domain.OpResponse{{Put: &domain.PutResponse{}}}}, 6, nil
	}})
	resp, body := send(t, http.MethodPost, ts.URL+"/v1/txn?encoding=base64",
		`{"compare":[{"key":"YQ==","target":"mod_revision","result":"less","mod_revision":4}],"success":[{"put":{"key":"Yg==","value":"AP8="}}]}`)
	if resp.StatusCode != 200 || body["succeeded"] != true {
		t.Fatalf("got %d %v", resp.StatusCode, body)
	}
	if string(got.Compare[0].Key) != "a" || got.Compare[0].ModRevision != 4 || got.Compare[0].Result != domain.CompareLess ||
		string(got.Success[0].Put.Key) != "b" || string(got.Success[0].Put.Value) != "\x00\xff" {
		t.Fatalf("txn request = %+v", got)
	}
	bad := []struct{ name, body string }{
		{name: "malformed", body: `{"compare":[`},
		{name: "unknown field", body: `{"compare":[],"extra":1}`},
		{name: "wrong type", body: `{"success":[{"put":{"key":1}}]}`},
		{name: "trailing data", body: `{} {}`},
		{name: "empty", body: ``},
		{name: "bad target", body: `{"compare":[{"key":"a","target":"size","result":"equal"}]}`},
		{name: "missing compare value", body: `{"compare":[{"key":"a","target":"version","result":"equal"}]}`},
		{name: "two ops in one", body: `{"success":[{"put":{"key":"a"},"get":{"key":"a"}}]}`},
		{name: "missing key", body: `{"success":[{"get":{}}]}`},
		{name: "key and key_base64", body: `{"success":[{"get":{"key":"a","key_base64":"YQ=="}}]}`},
		{name: "bad base64", body: `{"success":[{"get":{"key_base64":"!!"}}]}`},
	}
	for _, tt := range bad {
		got = domain.TxnRequest{}
		resp, body := send(t, http.MethodPost, ts.URL+"/v1/txn", tt.body)
		if resp.StatusCode != 400 || errorCode(body) != "invalid_argument" {
			t.Errorf("%s: got %d %v, want 400 invalid_argument", tt.name, resp.StatusCode, body)
		}
		if got.Success != nil || got.Compare != nil {
			t.Errorf("%s: the txn reached the service", tt.name)
		}
	}
}

func TestServer_Routing(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &fakeKV{})
	resp, body := send(t, http.MethodGet, ts.URL+"/v2/nothing", "")
	if resp.StatusCode != 404 || errorCode(body) != "not_found" {
		t.Fatalf("unknown route: %d %v", resp.StatusCode, body)
	}
	resp, body = send(t, http.MethodPatch, ts.URL+"/v1/kv/k", "")
	if resp.StatusCode != 405 || errorCode(body) != "method_not_allowed" {
		t.Fatalf("wrong method: %d %v", resp.StatusCode, body)
	}
	if allow := resp.Header.Values("Allow"); strings.Join(allow, ",") != "GET,PUT,DELETE" {
		t.Fatalf("Allow = %v, want GET, PUT, DELETE", allow)
	}
	resp, body = send(t, http.MethodGet, ts.URL+"/readyz", "")
	if resp.StatusCode != 503 || errorCode(body) != "no_leader" {
		t.Fatalf("readyz without a leader: %d %v", resp.StatusCode, body)
	}
	resp, _ = send(t, http.MethodGet, ts.URL+"/healthz", "")
	if resp.StatusCode != 200 {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
}
