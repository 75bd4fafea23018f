package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	etcdversion "go.etcd.io/etcd/api/v3/version"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The JSON of etcd's gateway, as a client that is not Go would read it:
// bytes in base64 ([]byte decodes it), 64-bit integers as strings (a
// number in their place would not decode into these string fields).
type (
	gwHeader struct {
		ClusterID string `json:"cluster_id"`
		MemberID  string `json:"member_id"`
		Revision  string `json:"revision"`
		RaftTerm  string `json:"raft_term"`
	}
	gwKV struct {
		Key            []byte `json:"key"`
		Value          []byte `json:"value"`
		CreateRevision string `json:"create_revision"`
		ModRevision    string `json:"mod_revision"`
		Version        string `json:"version"`
		Lease          string `json:"lease"`
	}
	gwRange struct {
		Header gwHeader `json:"header"`
		Kvs    []gwKV   `json:"kvs"`
		More   bool     `json:"more"`
		Count  string   `json:"count"`
	}
	gwError struct {
		Error   string `json:"error"`
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
)

// gwPost sends a gateway request as curl -X POST -d sends it and returns
// the status and body. Every gateway call is a POST.
func gwPost(t *testing.T, url, path, body string) (int, string) {
	t.Helper()
	return do(t, http.MethodPost, url+path, body)
}

// gwOK is gwPost for a call that must succeed, decoded into out; it
// retries while the member answers 503 (no leader yet, on a loaded
// machine): only for calls that may be sent again.
func gwOK(t *testing.T, url, path, body string, out any) {
	t.Helper()
	code, resp := doIdempotent(t, http.MethodPost, url+path, body)
	if code != http.StatusOK {
		t.Fatalf("POST %s %s: %d %s", path, body, code, resp)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(resp), out); err != nil {
			t.Fatalf("POST %s: %v in %s", path, err, resp)
		}
	}
}

// gwFail is gwPost for a call that must fail with status and gRPC code,
// in etcd's error JSON.
func gwFail(t *testing.T, url, path, body string, status, code int, msg string) {
	t.Helper()
	got, resp := doIdempotent(t, http.MethodPost, url+path, body)
	var e gwError
	if err := json.Unmarshal([]byte(resp), &e); err != nil {
		t.Fatalf("POST %s %s: %d %q: not the error JSON: %v", path, body, got, resp, err)
	}
	if got != status || e.Code != code || !strings.Contains(e.Message, msg) || e.Error != e.Message {
		t.Fatalf("POST %s %s: %d %s, want %d, code %d, %q", path, body, got, resp, status, code, msg)
	}
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return n
}

// TestEtcdGateway_KV: etcd's JSON gateway on the client port, as curl
// uses it (etcd's documentation's requests): put, range, txn, delete,
// compaction, and etcd's errors with the status grpc-gateway maps.
func TestEtcdGateway_KV(t *testing.T) {
	t.Parallel()
	url := startCluster(t, 1)[0].URL

	var put struct {
		Header gwHeader `json:"header"`
	}
	gwOK(t, url, "/v3/kv/put", fmt.Sprintf(`{"key":%q,"value":%q}`, b64("foo"), b64("bar")), &put)
	if put.Header.ClusterID == "" || put.Header.MemberID == "" || put.Header.RaftTerm == "" || mustInt(t, put.Header.Revision) < 2 {
		t.Fatalf("put header: %+v", put.Header)
	}
	rev1 := mustInt(t, put.Header.Revision)

	var r gwRange
	gwOK(t, url, "/v3/kv/range", `{"key":"Zm9v"}`, &r)
	if len(r.Kvs) != 1 || string(r.Kvs[0].Key) != "foo" || string(r.Kvs[0].Value) != "bar" || r.Count != "1" ||
		mustInt(t, r.Kvs[0].ModRevision) != rev1 || r.Kvs[0].Version != "1" || r.Header.Revision != put.Header.Revision {
		t.Fatalf("range: %+v", r)
	}
	t.Run("ZeroFieldsLeftOut", func(t *testing.T) {
		// etcd's marshaler: proto names, and no field at its zero value.
		_, body := gwPost(t, url, "/v3/kv/range", `{"key":"Zm9v","serializable":true}`)
		if !strings.Contains(body, `"create_revision":"`) || strings.Contains(body, `"lease"`) || strings.Contains(body, `"more"`) {
			t.Fatalf("range JSON: %s", body)
		}
	})

	for _, k := range []string{"a/1", "a/2", "a/3"} {
		gwOK(t, url, "/v3/kv/put", fmt.Sprintf(`{"key":%q,"value":%q}`, b64(k), b64("v"+k)), nil)
	}
	t.Run("Prefix", func(t *testing.T) {
		var r gwRange
		gwOK(t, url, "/v3/kv/range", fmt.Sprintf(`{"key":%q,"range_end":%q,"limit":"2"}`, b64("a/"), b64("a0")), &r)
		if len(r.Kvs) != 2 || !r.More || r.Count != "3" || string(r.Kvs[1].Key) != "a/2" {
			t.Fatalf("prefix, limit 2: %+v", r)
		}
		// The JSON names (rangeEnd, keysOnly) are accepted too, as protojson does.
		var ko gwRange
		gwOK(t, url, "/v3/kv/range", fmt.Sprintf(`{"key":%q,"rangeEnd":%q,"keysOnly":true}`, b64("a/"), b64("a0")), &ko)
		if len(ko.Kvs) != 3 || ko.Kvs[0].Value != nil || ko.More {
			t.Fatalf("prefix, keys only: %+v", ko)
		}
	})

	t.Run("Txn", func(t *testing.T) {
		txn := fmt.Sprintf(`{"compare":[{"key":%q,"target":"VALUE","result":"EQUAL","value":%q}],
			"success":[{"request_put":{"key":%q,"value":%q}},{"request_range":{"key":%q}}],
			"failure":[{"request_range":{"key":%q}}]}`, b64("foo"), b64("bar"), b64("foo"), b64("baz"), b64("foo"), b64("foo"))
		type txnResponse struct {
			Header    gwHeader `json:"header"`
			Succeeded bool     `json:"succeeded"`
			Responses []struct {
				ResponsePut   *struct{} `json:"response_put"`
				ResponseRange *gwRange  `json:"response_range"`
			} `json:"responses"`
		}
		var tr txnResponse
		gwOK(t, url, "/v3/kv/txn", txn, &tr)
		if !tr.Succeeded || len(tr.Responses) != 2 || tr.Responses[0].ResponsePut == nil ||
			tr.Responses[1].ResponseRange == nil || string(tr.Responses[1].ResponseRange.Kvs[0].Value) != "baz" {
			t.Fatalf("txn: %+v", tr)
		}
		tr = txnResponse{}
		gwOK(t, url, "/v3/kv/txn", txn, &tr) // the value is baz now: the failure branch
		if tr.Succeeded || len(tr.Responses) != 1 || tr.Responses[0].ResponseRange == nil {
			t.Fatalf("txn again: %+v", tr)
		}
	})

	var del struct {
		Header  gwHeader `json:"header"`
		Deleted string   `json:"deleted"`
		PrevKvs []gwKV   `json:"prev_kvs"`
	}
	gwOK(t, url, "/v3/kv/deleterange", fmt.Sprintf(`{"key":%q,"prev_kv":true}`, b64("a/1")), &del)
	if del.Deleted != "1" || len(del.PrevKvs) != 1 || string(del.PrevKvs[0].Value) != "va/1" {
		t.Fatalf("deleterange: %+v", del)
	}

	t.Run("Compaction", func(t *testing.T) {
		at := mustInt(t, del.Header.Revision)
		gwOK(t, url, "/v3/kv/compaction", fmt.Sprintf(`{"revision":"%d","physical":true}`, at), nil)
		gwFail(t, url, "/v3/kv/range", fmt.Sprintf(`{"key":"Zm9v","revision":"%d"}`, rev1),
			http.StatusBadRequest, 11, "etcdserver: mvcc: required revision has been compacted")
		gwFail(t, url, "/v3/kv/range", fmt.Sprintf(`{"key":"Zm9v","revision":"%d"}`, at+1000),
			http.StatusBadRequest, 11, "etcdserver: mvcc: required revision is a future revision")
	})

	t.Run("Errors", func(t *testing.T) {
		gwFail(t, url, "/v3/kv/range", `{"key":`, http.StatusBadRequest, 3, "")
		gwFail(t, url, "/v3/kv/range", `{"key":"not base64!"}`, http.StatusBadRequest, 3, "")
		gwFail(t, url, "/v3/kv/put", `{"value":"YmFy"}`, http.StatusBadRequest, 3, "etcdserver: key is not provided")
		gwFail(t, url, "/v3/lease/revoke", `{"ID":"12345"}`, http.StatusNotFound, 5, "etcdserver: requested lease not found")
		gwFail(t, url, "/v3/kv/nope", `{}`, http.StatusNotFound, 5, "")
		gwFail(t, url, "/v3/cluster/member/update", `{"ID":"1","peerURLs":["http://127.0.0.1:1"]}`, http.StatusNotImplemented, 12, "")
		// A GET of a POST route: grpc-gateway's answer.
		code, _ := do(t, http.MethodGet, url+"/v3/kv/range", "")
		if code != http.StatusMethodNotAllowed && code != http.StatusNotImplemented && code != http.StatusNotFound {
			t.Fatalf("GET /v3/kv/range: %d", code)
		}
	})
}

// TestEtcdGateway_ClusterAndStatus: member list and status, as etcd's
// gateway answers them.
func TestEtcdGateway_ClusterAndStatus(t *testing.T) {
	t.Parallel()
	m := startCluster(t, 1)[0]
	var ml struct {
		Header  gwHeader `json:"header"`
		Members []struct {
			ID         string   `json:"ID"`
			Name       string   `json:"name"`
			PeerURLs   []string `json:"peerURLs"`
			ClientURLs []string `json:"clientURLs"`
		} `json:"members"`
	}
	gwOK(t, m.URL, "/v3/cluster/member/list", `{"linearizable":true}`, &ml)
	if len(ml.Members) != 1 || ml.Members[0].Name != "n1" || ml.Members[0].ID != ml.Header.MemberID ||
		len(ml.Members[0].ClientURLs) != 1 || ml.Members[0].ClientURLs[0] != m.URL {
		t.Fatalf("member list: %+v", ml)
	}
	var st struct {
		Header   gwHeader `json:"header"`
		Version  string   `json:"version"`
		DbSize   string   `json:"dbSize"`
		Leader   string   `json:"leader"`
		RaftTerm string   `json:"raftTerm"`
	}
	gwOK(t, m.URL, "/v3/maintenance/status", `{}`, &st)
	if st.Version != etcdversion.Version || st.Leader != st.Header.MemberID || mustInt(t, st.DbSize) <= 0 {
		t.Fatalf("status: %+v", st)
	}
}

// gwStream opens a gateway stream (POST body, as curl -d sends it: the
// whole body at once) and returns a reader of its newline-delimited
// answers, each {"result": …} or {"error": …}. The stream ends with ctx.
func gwStream(t *testing.T, ctx context.Context, url, path, body string) *json.Decoder {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s", path, resp.Status)
	}
	return json.NewDecoder(bufio.NewReader(resp.Body))
}

type gwWatchResult struct {
	Result struct {
		Header          gwHeader `json:"header"`
		WatchID         string   `json:"watch_id"`
		Created         bool     `json:"created"`
		Canceled        bool     `json:"canceled"`
		CompactRevision string   `json:"compact_revision"`
		Events          []struct {
			Type string `json:"type"`
			Kv   gwKV   `json:"kv"`
		} `json:"events"`
	} `json:"result"`
	Error *gwError `json:"error"`
}

// TestEtcdGateway_Watch: a put shows up on an open /v3/watch stream, one
// JSON object per line; the watch goes on after the request body ends
// (as curl sends it), and a watch from a compacted revision is canceled
// with the compact revision.
func TestEtcdGateway_Watch(t *testing.T) {
	t.Parallel()
	url := startCluster(t, 1)[0].URL
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	dec := gwStream(t, ctx, url, "/v3/watch", fmt.Sprintf(`{"create_request":{"key":%q,"prev_kv":true}}`, b64("w")))
	var created gwWatchResult
	if err := dec.Decode(&created); err != nil || !created.Result.Created || created.Error != nil {
		t.Fatalf("created: %+v %v", created, err)
	}
	var put struct {
		Header gwHeader `json:"header"`
	}
	gwOK(t, url, "/v3/kv/put", fmt.Sprintf(`{"key":%q,"value":%q}`, b64("w"), b64("1")), &put)
	gwOK(t, url, "/v3/kv/put", fmt.Sprintf(`{"key":%q,"value":%q}`, b64("other"), b64("x")), nil)
	gwOK(t, url, "/v3/kv/deleterange", fmt.Sprintf(`{"key":%q}`, b64("w")), nil)
	var events []string
	for len(events) < 2 {
		var ev gwWatchResult
		if err := dec.Decode(&ev); err != nil || ev.Error != nil {
			t.Fatalf("watch: %+v %v", ev, err)
		}
		for _, e := range ev.Result.Events {
			// PUT is the enum's zero: left out, as etcd's gateway does.
			events = append(events, fmt.Sprintf("%s %s=%s@%s", e.Type, e.Kv.Key, e.Kv.Value, e.Kv.ModRevision))
		}
	}
	want := []string{" w=1@" + put.Header.Revision, fmt.Sprintf("DELETE w=@%d", mustInt(t, put.Header.Revision)+2)}
	if strings.Join(events, ",") != strings.Join(want, ",") {
		t.Fatalf("events %q, want %q", events, want)
	}

	t.Run("Compacted", func(t *testing.T) {
		rev := mustInt(t, put.Header.Revision)
		gwOK(t, url, "/v3/kv/compaction", fmt.Sprintf(`{"revision":"%d"}`, rev+1), nil)
		dec := gwStream(t, ctx, url, "/v3/watch", fmt.Sprintf(`{"create_request":{"key":%q,"start_revision":"%d"}}`, b64("w"), rev))
		var got []gwWatchResult
		for len(got) < 2 {
			var r gwWatchResult
			if err := dec.Decode(&r); err != nil {
				t.Fatalf("after %+v: %v", got, err)
			}
			got = append(got, r)
		}
		if !got[0].Result.Created || !got[1].Result.Canceled || mustInt(t, got[1].Result.CompactRevision) != rev+1 {
			t.Fatalf("watch from a compacted revision: %+v", got)
		}
	})
}

// TestEtcdGateway_Lease: grant, keep-alive (a stream of one answer per
// request), time-to-live with keys, the list, revoke.
func TestEtcdGateway_Lease(t *testing.T) {
	t.Parallel()
	url := startCluster(t, 1)[0].URL
	var g struct {
		Header gwHeader `json:"header"`
		ID     string   `json:"ID"`
		TTL    string   `json:"TTL"`
	}
	gwOK(t, url, "/v3/lease/grant", `{"TTL":"60"}`, &g)
	if g.TTL != "60" || mustInt(t, g.ID) <= 0 {
		t.Fatalf("grant: %+v", g)
	}
	gwOK(t, url, "/v3/kv/put", fmt.Sprintf(`{"key":%q,"value":%q,"lease":%q}`, b64("l"), b64("1"), g.ID), nil)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dec := gwStream(t, ctx, url, "/v3/lease/keepalive", fmt.Sprintf(`{"ID":%q}`, g.ID))
	var ka struct {
		Result struct {
			ID  string `json:"ID"`
			TTL string `json:"TTL"`
		} `json:"result"`
		Error *gwError `json:"error"`
	}
	if err := dec.Decode(&ka); err != nil || ka.Error != nil || ka.Result.ID != g.ID || ka.Result.TTL != "60" {
		t.Fatalf("keepalive: %+v %v", ka, err)
	}

	var ttl struct {
		ID         string   `json:"ID"`
		TTL        string   `json:"TTL"`
		GrantedTTL string   `json:"grantedTTL"`
		Keys       [][]byte `json:"keys"`
	}
	gwOK(t, url, "/v3/lease/timetolive", fmt.Sprintf(`{"ID":%q,"keys":true}`, g.ID), &ttl)
	if ttl.GrantedTTL != "60" || mustInt(t, ttl.TTL) <= 0 || len(ttl.Keys) != 1 || string(ttl.Keys[0]) != "l" {
		t.Fatalf("timetolive: %+v", ttl)
	}
	var ls struct {
		Leases []struct {
			ID string `json:"ID"`
		} `json:"leases"`
	}
	gwOK(t, url, "/v3/lease/leases", `{}`, &ls)
	if len(ls.Leases) != 1 || ls.Leases[0].ID != g.ID {
		t.Fatalf("leases: %+v", ls)
	}
	gwOK(t, url, "/v3/lease/revoke", fmt.Sprintf(`{"ID":%q}`, g.ID), nil)
	var gone struct {
		TTL string `json:"TTL"`
	}
	gwOK(t, url, "/v3/lease/timetolive", fmt.Sprintf(`{"ID":%q}`, g.ID), &gone)
	if gone.TTL != "-1" {
		t.Fatalf("timetolive of a revoked lease: %+v", gone)
	}
	var r gwRange
	gwOK(t, url, "/v3/kv/range", fmt.Sprintf(`{"key":%q}`, b64("l")), &r)
	if len(r.Kvs) != 0 {
		t.Fatalf("the lease's key outlived it: %+v", r)
	}
}

// TestEtcdGateway_BenchLoad: the requests ../shared/bench/compare.sh
// sends to etcd's gateway (httpload: POST, Content-Type application/json,
// base64 keys and 256-byte values), from concurrent clients: the same
// load can drive Cairn's /v3 gateway.
func TestEtcdGateway_BenchLoad(t *testing.T) {
	t.Parallel()
	url := startCluster(t, 1)[0].URL
	value := b64(strings.Repeat("v", 256))
	bodies := []struct{ path, body string }{
		{"/v3/kv/put", `{"key":"%s","value":"` + value + `"}`},
		{"/v3/kv/range", `{"key":"%s"}`},
		{"/v3/kv/range", `{"key":"%s","serializable":true}`},
	}
	const workers, each = 8, 20
	errc := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := range each {
				key := b64(fmt.Sprintf("key%08d", (w*each+i)%50))
				for _, b := range bodies {
					code, resp, _ := retryUnavailable(t, b.path, func() (int, string) {
						req, err := http.NewRequest(http.MethodPost, url+b.path, strings.NewReader(fmt.Sprintf(b.body, key)))
						if err != nil {
							return 0, err.Error()
						}
						req.Header.Set("Content-Type", "application/json")
						return requestDo(req)
					})
					if code != http.StatusOK {
						errc <- fmt.Errorf("POST %s: %d %s", b.path, code, resp)
						return
					}
				}
			}
			errc <- nil
		}()
	}
	for range workers {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	var r gwRange
	gwOK(t, url, "/v3/kv/range", fmt.Sprintf(`{"key":%q,"range_end":%q,"count_only":true}`, b64("key"), b64("kez")), &r)
	if r.Count != "50" {
		t.Fatalf("count: %+v", r)
	}
}

// requestDo sends req through the default client and returns the status
// and body (status 0 and the error's text when no answer came).
func requestDo(req *http.Request) (int, string) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err.Error()
	}
	return resp.StatusCode, string(b)
}

// TestEtcdGateway_ShutdownEndsStreams: a member that stops ends the
// gateway's open watch and keep-alive streams (with an error line, as
// etcd's gateway ends a failed stream) instead of waiting for them.
func TestEtcdGateway_ShutdownEndsStreams(t *testing.T) {
	t.Parallel()
	m := startCluster(t, 1)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dec := gwStream(t, ctx, m.URL, "/v3/watch", fmt.Sprintf(`{"create_request":{"key":%q}}`, b64("w")))
	var created gwWatchResult
	if err := dec.Decode(&created); err != nil || !created.Result.Created {
		t.Fatalf("created: %+v %v", created, err)
	}
	m.stop() // fails the test if the member does not stop
	var last gwWatchResult
	err := dec.Decode(&last)
	if err == nil && (last.Error == nil || last.Error.Code != 14) {
		t.Fatalf("the stream's last line: %+v", last)
	}
}
