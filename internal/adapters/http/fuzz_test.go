package http

// The fuzz targets in this file drive every JSON request decoder and every
// query parser of the API through the real chi handler, over the real
// domain services on in-memory fakes (domaintest.World), and check that no
// input makes a handler panic or answer 5xx, and that every 4xx carries the
// API's error body {"error":{"code","message"}}.
//
// Their seeds (the f.Add calls and testdata/fuzz/<Target>/) run as plain
// tests in the default suite. To fuzz one target, one core, for ten
// minutes:
//
//	go test ./internal/adapters/http -run '^$' -fuzz '^FuzzTxn$' -fuzztime 10m -parallel 1
//
// and all of them in turn:
//
//	for f in $(go test ./internal/adapters/http -list '^Fuzz' | grep ^Fuzz); do
//		go test ./internal/adapters/http -run '^$' -fuzz "^$f\$" -fuzztime 10m -parallel 1 || break
//	done
//
// A failing input is written to testdata/fuzz/<Target>/ and then runs with
// the seeds until it is fixed.

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cairnkv/cairn/internal/domain/domaintest"
	"github.com/cairnkv/cairn/internal/domain/election"
	"github.com/cairnkv/cairn/internal/domain/lock"
)

// fuzzDeadline bounds one fuzzed request: a lock or a campaign that waits,
// and a watch stream, end there.
const fuzzDeadline = 50 * time.Millisecond

// fuzzLimit is the body limit of the fuzzed server, small so that the
// fuzzer reaches it.
const fuzzLimit = 4096

// fuzzServer is one member's API over a fresh world of fakes, with some
// state the fuzzed requests can meet: keys a, b and dir/c, lease 100 (ttl
// 60), the lock "held" owned under lease 100, and the election "e" led by
// lease 100 (see fuzzSeedLeader). Every input gets a fresh one, so that a
// failure replays alone.
func fuzzServer(t *testing.T) http.Handler {
	t.Helper()
	w := domaintest.NewWorld(t)
	q := lock.NewQueue(w.KV, w.Watches, w.Leases)
	s := New(Config{MaxRequestBytes: fuzzLimit, Logger: zerolog.Nop(), WatchHeartbeat: 10 * time.Millisecond},
		Services{KV: w.KV, Cluster: fakeCluster{}, Hasher: fakeHasher{}, Watch: w.Watches, Lease: w.Leases,
			Lock: lock.New(q), Election: election.New(q, w.KV, w.Watches)})
	h := s.Handler()
	fuzzSetup(t, h, []fuzzStep{
		{http.MethodPut, "/v1/kv/a", "1"},
		{http.MethodPut, "/v1/kv/b", "2"},
		{http.MethodPut, "/v1/kv/dir/c", "\xff"},
		{http.MethodPost, "/v1/leases", `{"ttl":60,"id":100}`},
		{http.MethodPost, "/v1/locks/held?timeout=1s", `{"lease":100}`},
		{http.MethodPost, "/v1/elections/e/campaign?timeout=1s", `{"value":"v","lease":100}`},
	})
	return h
}

// fuzzStep is a request that sets up a fuzzed server's state.
type fuzzStep struct{ method, target, body string }

// fuzzSetup sends the steps to h, each of which must succeed.
func fuzzSetup(t *testing.T, h http.Handler, steps []fuzzStep) {
	t.Helper()
	for _, st := range steps {
		req := httptest.NewRequest(st.method, st.target, strings.NewReader(st.body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 300 {
			t.Fatalf("setup %s %s: %d %s", st.method, st.target, rec.Code, rec.Body)
		}
	}
}

// fuzzSeedLeader is the leader object of election "e" in fuzzServer.
const fuzzSeedLeader = `{"name":"e","key":"e/64","rev":6,"lease":100}`

// fuzzRequest sends one request, built from fuzzed parts, and checks the
// answer. path is the escaped path, query the raw query; an input that is
// not a request URI at all is skipped (net/http answers it 400 before any
// handler).
func fuzzRequest(t *testing.T, h http.Handler, method, path, query string, body []byte, contentType string) {
	t.Helper()
	header := http.Header{}
	if contentType != "" {
		header.Set("Content-Type", contentType)
	}
	fuzzRequestWith(t, h, method, path, query, body, header)
}

// fuzzRequestWith is fuzzRequest with any request headers; an input that
// is not a header value (a line break in it) is skipped too.
func fuzzRequestWith(t *testing.T, h http.Handler, method, path, query string, body []byte, header http.Header) {
	t.Helper()
	target := path
	if query != "" {
		target += "?" + query
	}
	u, err := url.ParseRequestURI(target)
	if err != nil || !strings.HasPrefix(u.Path, "/") || u.Host != "" || u.Opaque != "" {
		t.Skip()
	}
	for _, vs := range header {
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n") {
				t.Skip()
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), fuzzDeadline)
	defer cancel()
	req := httptest.NewRequest(method, "/", strings.NewReader(string(body))).WithContext(ctx)
	req.URL, req.RequestURI = u, target
	maps.Copy(req.Header, header)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	checkFuzzAnswer(t, method, target, ctx, rec)
}

// checkFuzzAnswer fails the test for a 5xx that the request's own deadline
// does not explain, and for an error answer without the API's error body.
func checkFuzzAnswer(t *testing.T, method, target string, ctx context.Context, rec *httptest.ResponseRecorder) {
	t.Helper()
	status := rec.Code
	timedOut := ctx.Err() != nil && (status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout)
	if status >= 500 && !timedOut {
		t.Fatalf("%s %q: %d %s", method, target, status, rec.Body)
	}
	if status < 400 {
		if ct := rec.Header().Get("Content-Type"); strings.HasPrefix(ct, "application/json") && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %q: %d with a body that is not JSON: %q", method, target, status, rec.Body)
		}
		return
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %q: %d with Content-Type %q", method, target, status, ct)
	}
	var e struct {
		Error *struct {
			Code    *string `json:"code"`
			Message *string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == nil || e.Error.Code == nil || e.Error.Message == nil ||
		*e.Error.Code == "" || *e.Error.Message == "" {
		t.Fatalf("%s %q: %d without the error body: %q", method, target, status, rec.Body)
	}
}

// pick returns one of choices by a fuzzed byte.
func pick(b byte, choices ...string) string { return choices[int(b)%len(choices)] }

// FuzzTxn fuzzes the body and query of POST /v1/txn.
func FuzzTxn(f *testing.F) {
	for _, s := range []struct{ query, body string }{
		{"", `{"compare":[{"key":"a","target":"value","result":"equal","value":"1"}],"success":[{"put":{"key":"x","value":"y","prev_kv":true}}],"failure":[{"get":{"key":"a"}}]}`},
		{"encoding=base64", `{"compare":[{"key":"YQ==","target":"mod_revision","result":"less","mod_revision":4}],"success":[{"put":{"key":"Yg==","value":"AP8="}}]}`},
		{"", `{"success":[{"get":{"key":"","from_key":true,"sort_order":"descend","sort_target":"value","limit":2,"keys_only":true}},{"delete":{"key":"dir/","prefix":true,"prev_kv":true}}]}`},
		{"", `{"compare":[{"key_base64":"/w==","range_end":"\u0000","target":"create_revision","result":"not_equal","create_revision":0}],"success":[{"txn":{"success":[{"txn":{"failure":[{"get":{"key":"a","count_only":true}}]}}]}}]}`},
		{"", `{"compare":[{"key":"a","target":"lease","result":"greater","lease":0},{"key":"b","target":"version","result":"equal","version":1}],"success":[{"put":{"key":"a","ignore_value":true,"ignore_lease":true}}]}`},
		{"", `{"success":[{"put":{"key":"l","value":"v","lease":100}},{"put":{"key":"m","value":"v","lease":7}}]}`},
		{"", `{"success":[{"get":{"key":"a","revision":2,"serializable":true,"min_mod_revision":1,"max_mod_revision":9,"min_create_revision":1,"max_create_revision":9}}]}`},
		{"", `{"success":[{"put":{"key":"a"}},{"put":{"key":"a"}}]}`},
		{"", `{} {}`},
		{"", "{\"success\":[{\"put\":{\"key\":\"\xff\",\"value\":\"v\"}}]}"},
		{"encoding=hex", `{}`},
	} {
		f.Add(s.query, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, query string, body []byte) {
		fuzzRequest(t, fuzzServer(t), http.MethodPost, "/v1/txn", query, body, "application/json")
	})
}

// FuzzCompact fuzzes the body of POST /v1/compact.
func FuzzCompact(f *testing.F) {
	for _, b := range []string{`{"revision":2}`, `{"revision":1000}`, `{"revision":-1}`, `{"revision":"2"}`, `{"revision":2,"physical":true}`, `{}`, `{"revision":2}x`} {
		f.Add("", []byte(b))
	}
	f.Fuzz(func(t *testing.T, query string, body []byte) {
		fuzzRequest(t, fuzzServer(t), http.MethodPost, "/v1/compact", query, body, "application/json")
	})
}

// FuzzLease fuzzes the lease calls: the grant body, the {id} of the lease
// paths and the queries of all of them. op picks the call.
func FuzzLease(f *testing.F) {
	f.Add(byte(0), "", "", []byte(`{"ttl":30}`))
	f.Add(byte(0), "", "", []byte(`{"ttl":30,"id":100}`))
	f.Add(byte(0), "", "", []byte(`{"ttl":9223372036854775807,"id":9223372036854775807}`))
	f.Add(byte(0), "", "", []byte(`{"ttl":-1}`))
	f.Add(byte(1), "", "serializable", []byte(nil))
	f.Add(byte(2), "100", "keys", []byte(nil))
	f.Add(byte(2), "100", "keys=maybe", []byte(nil))
	f.Add(byte(3), "100", "", []byte(nil))
	f.Add(byte(3), "0x64", "", []byte(`{}`))
	f.Add(byte(4), "100", "", []byte(nil))
	f.Add(byte(4), "99999999999999999999", "", []byte(nil))
	f.Fuzz(func(t *testing.T, op byte, id, query string, body []byte) {
		h := fuzzServer(t)
		switch op % 5 {
		case 0:
			fuzzRequest(t, h, http.MethodPost, "/v1/leases", query, body, "application/json")
		case 1:
			fuzzRequest(t, h, http.MethodGet, "/v1/leases", query, body, "")
		case 2:
			fuzzRequest(t, h, http.MethodGet, "/v1/leases/"+id, query, body, "")
		case 3:
			fuzzRequest(t, h, http.MethodPost, "/v1/leases/"+id+"/keepalive", query, body, "")
		case 4:
			fuzzRequest(t, h, http.MethodDelete, "/v1/leases/"+id, query, body, "")
		}
	})
}

// FuzzLock fuzzes the lock calls: the lock body, the name in the path and
// the queries (timeout, encoding, key). op picks the call.
func FuzzLock(f *testing.F) {
	f.Add(byte(0), "jobs/nightly", "timeout=0", []byte(`{"ttl":30}`))
	f.Add(byte(0), "held", "timeout=10ms", []byte(`{"lease":100}`))
	f.Add(byte(0), "held", "", []byte(`{"ttl":30}`))
	f.Add(byte(0), "%FF", "encoding=base64&timeout=1h", []byte(`{"ttl":30,"lease":100}`))
	f.Add(byte(0), "x", "timeout=-1s", []byte(`{"lease":999}`))
	f.Add(byte(1), "held", "encoding=base64", []byte(nil))
	f.Add(byte(2), "held", "key=held/64", []byte(nil))
	f.Add(byte(2), "held", "key=other", []byte(nil))
	f.Fuzz(func(t *testing.T, op byte, name, query string, body []byte) {
		h := fuzzServer(t)
		path := "/v1/locks/" + name
		switch op % 3 {
		case 0:
			fuzzRequest(t, h, http.MethodPost, path, query, body, "application/json")
		case 1:
			fuzzRequest(t, h, http.MethodGet, path, query, body, "")
		case 2:
			fuzzRequest(t, h, http.MethodDelete, path, query, body, "")
		}
	})
}

// FuzzElection fuzzes the election calls: the campaign, proclaim and
// resign bodies, the name in the path and the queries. op picks the call.
func FuzzElection(f *testing.F) {
	f.Add(byte(0), "svc", "timeout=10ms", []byte(`{"value":"a","ttl":30}`))
	f.Add(byte(0), "e", "timeout=10ms", []byte(`{"value_base64":"/w==","lease":100}`))
	f.Add(byte(0), "e", "timeout=0", []byte(`{"value":"a","ttl":30}`))
	f.Add(byte(1), "e", "", []byte(`{"leader":`+fuzzSeedLeader+`,"value":"new"}`))
	f.Add(byte(1), "e", "encoding=base64", []byte(`{"leader":{"key":"ZS82NA==","rev":6,"lease":100},"value":"bmV3"}`))
	f.Add(byte(1), "e", "", []byte(`{"leader":{"key":"e/64","rev":1,"lease":100},"value":"x"}`))
	f.Add(byte(2), "e", "", []byte(`{"leader":`+fuzzSeedLeader+`}`))
	f.Add(byte(2), "e", "", []byte(`{"leader":{"name":"f","key":"e/64","rev":6,"lease":100}}`))
	f.Add(byte(3), "e", "encoding=base64", []byte(nil))
	f.Add(byte(4), "e", "", []byte(nil))
	f.Fuzz(func(t *testing.T, op byte, name, query string, body []byte) {
		h := fuzzServer(t)
		path := "/v1/elections/" + name
		switch op % 5 {
		case 0:
			fuzzRequest(t, h, http.MethodPost, path+"/campaign", query, body, "application/json")
		case 1:
			fuzzRequest(t, h, http.MethodPost, path+"/proclaim", query, body, "application/json")
		case 2:
			fuzzRequest(t, h, http.MethodPost, path+"/resign", query, body, "application/json")
		case 3:
			fuzzRequest(t, h, http.MethodGet, path, query, body, "")
		case 4:
			fuzzRequest(t, h, http.MethodGet, path+"/observe", query, body, "")
		}
	})
}

// FuzzCluster fuzzes the cluster and maintenance calls: the add-member
// body, and the queries of status, members and hash.
func FuzzCluster(f *testing.F) {
	f.Add(byte(0), "", []byte(`{"name":"n4","peer_addr":"127.0.0.1:1","client_urls":["http://127.0.0.1:2"]}`))
	f.Add(byte(0), "", []byte(`{"name":"n4","peer_addr":"http://[::1]:1","learner":true}`))
	f.Add(byte(0), "", []byte(`{"name":"","peer_addr":""}`))
	f.Add(byte(1), "", []byte(nil))
	f.Add(byte(2), "", []byte(nil))
	f.Add(byte(3), "revision=5&serializable", []byte(nil))
	f.Add(byte(3), "revision=x", []byte(nil))
	f.Fuzz(func(t *testing.T, op byte, query string, body []byte) {
		h := fuzzServer(t)
		switch op % 5 {
		case 0:
			fuzzRequest(t, h, http.MethodPost, "/v1/cluster/members", query, body, "application/json")
		case 1:
			fuzzRequest(t, h, http.MethodGet, "/v1/cluster/members", query, body, "")
		case 2:
			fuzzRequest(t, h, http.MethodGet, "/v1/status", query, body, "")
		case 3:
			fuzzRequest(t, h, http.MethodGet, "/v1/maintenance/hash", query, body, "")
		case 4:
			fuzzRequest(t, h, http.MethodGet, "/healthz", query, body, "")
		}
	})
}

// FuzzKV fuzzes the key in the path and the query options of GET, PUT and
// DELETE /v1/kv/{key}: range forms, revisions and filters, sort, limit,
// encodings, conditions. op picks the method and the content type.
func FuzzKV(f *testing.F) {
	for _, s := range []struct {
		op         byte
		key, query string
		body       string
	}{
		{0, "a", "", ""},
		{0, "dir/", "prefix&sort_order=descend&sort_target=mod&limit=1&keys_only", ""},
		{0, "a", "range_end=c&count_only=true&serializable=1", ""},
		{0, "", "from_key&min_mod_revision=1&max_mod_revision=9&min_create_revision=1&max_create_revision=9", ""},
		{0, "dir/c", "raw", ""},
		{0, "%FF%FE", "encoding=base64&revision=3", ""},
		{0, "a", "revision=1000", ""},
		{0, "a", "limit=-1", ""},
		{0, "a", "prefix&from_key", ""},
		{1, "a", "prev_kv&if_mod_revision=0", "v"},
		{1, "a", "lease=100&encoding=base64&prev_kv", "v"},
		{1, "a", "ignore_value&ignore_lease", ""},
		{1, "new", "lease=7", "v"},
		{1, "a", "if_mod_revision=1", "x"},
		{2, "a", "prev_kv", ""},
		{2, "dir/", "prefix&if_mod_revision=3", ""},
		{2, "", "range_end=%00%01", ""},
		{3, "a", "q=%zz", ""},
		{0, "a", "wait&wait_revision=1&timeout=10ms", ""},
		{0, "dir/", "prefix&wait&timeout=1s", ""},
		{0, "a", "wait&limit=1", ""},
	} {
		f.Add(s.op, s.key, s.query, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, op byte, key, query string, body []byte) {
		h := fuzzServer(t)
		path := "/v1/kv/" + key
		switch op % 4 {
		case 0:
			fuzzRequest(t, h, http.MethodGet, path, query, body, "")
		case 1:
			fuzzRequest(t, h, http.MethodPut, path, query, body, pick(op/4, "application/octet-stream", "text/plain", "application/json", ""))
		case 2:
			fuzzRequest(t, h, http.MethodDelete, path, query, body, "")
		case 3:
			fuzzRequest(t, h, pick(op/4, http.MethodPost, http.MethodPatch, http.MethodHead), path, query, body, "")
		}
	})
}

// FuzzWatch fuzzes the key and the query options of GET /v1/watch/{key},
// and the Last-Event-ID header.
func FuzzWatch(f *testing.F) {
	f.Add("a", "", "")
	f.Add("dir/", "prefix&prev_kv&filters=noput,nodelete&progress_notify", "")
	f.Add("", "from_key&start_revision=1&encoding=base64", "")
	f.Add("a", "range_end=b&serializable", "3")
	f.Add("a", "start_revision=1000", "")
	f.Add("a", "filters=noput,,nodelete", "x")
	f.Fuzz(func(t *testing.T, key, query, lastEventID string) {
		h := fuzzServer(t)
		target := "/v1/watch/" + key
		if query != "" {
			target += "?" + query
		}
		u, err := url.ParseRequestURI(target)
		if err != nil || u.Host != "" || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
			t.Skip()
		}
		ctx, cancel := context.WithTimeout(context.Background(), fuzzDeadline)
		defer cancel()
		req := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
		req.URL, req.RequestURI = u, target
		if lastEventID != "" {
			req.Header.Set("Last-Event-ID", lastEventID)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkFuzzAnswer(t, http.MethodGet, target, ctx, rec)
	})
}

// fuzzAuthServer is fuzzServer's world with auth enabled: users root
// (password rootpw, role root) and alice (alicepw, readwrite on the prefix
// dir/), and token, a valid token of alice's.
func fuzzAuthServer(t *testing.T) (h http.Handler, token string) {
	t.Helper()
	w := domaintest.NewWorld(t)
	s := New(Config{MaxRequestBytes: fuzzLimit, Logger: zerolog.Nop(), WatchHeartbeat: 10 * time.Millisecond},
		Services{KV: w.KV, Cluster: fakeCluster{}, Hasher: fakeHasher{}, Watch: w.Watches, Lease: w.Leases, Auth: w.Auth})
	h = s.Handler()
	fuzzSetup(t, h, []fuzzStep{
		{http.MethodPut, "/v1/kv/dir/c", "v"},
		{http.MethodPost, "/v1/auth/users", `{"name":"root","password":"rootpw"}`},
		{http.MethodPost, "/v1/auth/roles", `{"name":"root"}`},
		{http.MethodPut, "/v1/auth/users/root/roles/root", ""},
		{http.MethodPost, "/v1/auth/users", `{"name":"alice","password":"alicepw"}`},
		{http.MethodPost, "/v1/auth/roles", `{"name":"app"}`},
		{http.MethodPost, "/v1/auth/roles/app/permissions", `{"key":"dir/","prefix":true,"permission":"readwrite"}`},
		{http.MethodPut, "/v1/auth/users/alice/roles/app", ""},
		{http.MethodPost, "/v1/auth/enable", ""},
	})
	token, _, err := w.Auth.Authenticate(context.Background(), "alice", "alicepw", "seed")
	if err != nil {
		t.Fatal(err)
	}
	return h, token
}

// FuzzAuth fuzzes what auth reads from a request: the Authorization header
// (Basic user names and passwords, tokens, schemes), the authenticate and
// user bodies, the user and role names of the paths, and the permission
// calls. op picks the call; "$TOKEN" in the header becomes a valid token.
func FuzzAuth(f *testing.F) {
	for _, s := range []struct {
		op          byte
		header      string
		name, query string
		body        string
	}{
		{0, "Basic YWxpY2U6YWxpY2Vwdw==", "", "", ""}, // alice:alicepw
		{0, "Basic cm9vdDpyb290cHc=", "", "", ""},     // root:rootpw
		{0, "Basic YWxpY2U6", "", "", ""},             // alice: (empty password)
		{0, "Basic !!!", "", "", ""},
		{0, "Basic Og==", "", "", ""}, // ":"
		{0, "Bearer $TOKEN", "", "", ""},
		{0, "$TOKEN", "", "", ""},
		{0, "Bearer cairn1.AAAA.AAAA", "", "", ""},
		{0, "Bearer cairn1.." + strings.Repeat("A", 600), "", "", ""},
		{0, "Digest x", "", "", ""},
		{1, "", "", "", `{"name":"alice","password":"alicepw"}`},
		{1, "", "", "", `{"name":"al/ice","password":"x"}`},
		{1, "", "", "", `{"name":"alice","password":"` + strings.Repeat("p", 100) + `"}`},
		{1, "", "", "", `{"name":"","password":""}`},
		{1, "", "", "x=1", `{"name":"alice"}`},
		{2, "Basic cm9vdDpyb290cHc=", "", "", `{"name":"bob","password":"b"}`},
		{2, "Basic cm9vdDpyb290cHc=", "", "", `{"name":"b\u0000b","password":"b"}`},
		{3, "Basic cm9vdDpyb290cHc=", "alice", "", ""},
		{3, "Basic cm9vdDpyb290cHc=", "%2Froot", "", ""},
		{4, "Basic cm9vdDpyb290cHc=", "app", "", `{"key":"a","range_end":"b","permission":"read"}`},
		{4, "Basic cm9vdDpyb290cHc=", "app", "", `{"key":"","from_key":true,"permission":"readwrite"}`},
		{4, "Basic cm9vdDpyb290cHc=", "app", "", `{"key_base64":"/w==","prefix":true,"permission":"write"}`},
		{4, "Basic cm9vdDpyb290cHc=", "app", "", `{"key":"b","range_end":"a","permission":"rw"}`},
		{5, "Basic cm9vdDpyb290cHc=", "app", "key=dir/&prefix=true", ""},
		{5, "Basic cm9vdDpyb290cHc=", "app", "key=a&range_end=", ""},
		{6, "Basic cm9vdDpyb290cHc=", "root", "", ""},
		{7, "Basic cm9vdDpyb290cHc=", "alice", "", `{"password":"new"}`},
	} {
		f.Add(s.op, s.header, s.name, s.query, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, op byte, header, name, query string, body []byte) {
		h, token := fuzzAuthServer(t)
		header = strings.ReplaceAll(header, "$TOKEN", token)
		var method, path string
		name = url.PathEscape(name)
		switch op % 8 {
		case 0:
			method, path = http.MethodGet, "/v1/kv/dir/c"
		case 1:
			method, path = http.MethodPost, "/v1/auth/authenticate"
		case 2:
			method, path = http.MethodPost, "/v1/auth/users"
		case 3:
			method, path = http.MethodGet, "/v1/auth/users/"+name
		case 4:
			method, path = http.MethodPost, "/v1/auth/roles/"+name+"/permissions"
		case 5:
			method, path = http.MethodDelete, "/v1/auth/roles/"+name+"/permissions"
		case 6:
			method, path = http.MethodDelete, "/v1/auth/users/"+name+"/roles/"+name
		case 7:
			method, path = http.MethodPost, "/v1/auth/users/"+name+"/password"
		}
		h2 := http.Header{}
		if header != "" {
			h2.Set("Authorization", header)
		}
		fuzzRequestWith(t, h, method, path, query, body, h2)
	})
}
