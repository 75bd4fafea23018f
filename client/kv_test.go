package client_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cairnkv/cairn/client"
)

func TestClient_PutGet(t *testing.T) {
	c := newClient(t, endpoints)
	ctx := testCtx(t)
	tests := []struct {
		name  string
		key   string
		value string
	}{
		{name: "Plain", key: "rt/plain", value: "hello"},
		{name: "NUL", key: "rt/nul\x00key", value: "va\x00lue"},
		{name: "InvalidUTF8", key: "rt/\xff\xfe", value: "\xc3\x28\xa0\xa1"},
		{name: "Slashes", key: "rt/a/b//c/", value: "/"},
		{name: "LeadingSlash", key: "/rt/leading", value: "x"},
		{name: "Dots", key: "rt/../rt/./x/..", value: "dots"},
		{name: "URLSyntax", key: "rt/%2F?a=b&c#d +;", value: "%41"},
		{name: "Unicode", key: "rt/κλειδί/鍵", value: "τιμή"},
		{name: "EmptyValue", key: "rt/empty", value: ""},
		{name: "JSONValue", key: "rt/json", value: `{"a": [1, 2]}`},
		{name: "AllBytes", key: "rt/bytes", value: allBytes()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			put, err := c.Put(ctx, tt.key, tt.value)
			if err != nil {
				t.Fatalf("put: %v", err)
			}
			if put.Header.Revision == 0 {
				t.Fatalf("put: no revision in %+v", put.Header)
			}
			got, err := c.Get(ctx, tt.key)
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if len(got.Kvs) != 1 || got.Count != 1 {
				t.Fatalf("get: %d kvs, count %d", len(got.Kvs), got.Count)
			}
			kv := got.Kvs[0]
			if string(kv.Key) != tt.key || string(kv.Value) != tt.value {
				t.Fatalf("get: %q=%q, want %q=%q", kv.Key, kv.Value, tt.key, tt.value)
			}
			if kv.ModRevision != put.Header.Revision || kv.Version < 1 || kv.CreateRevision == 0 {
				t.Fatalf("get: metadata %v after a put at %d", kv, put.Header.Revision)
			}
		})
	}
	t.Run("ListAll", func(t *testing.T) {
		// Every key comes back as written from a range too, and a prefix
		// of bytes that are not UTF-8 works.
		got, err := c.Get(ctx, "", client.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		found := map[string]string{}
		for _, kv := range got.Kvs {
			found[string(kv.Key)] = string(kv.Value)
		}
		for _, tt := range tests {
			if v, ok := found[tt.key]; !ok || v != tt.value {
				t.Errorf("key %q: listed %v %q", tt.key, ok, v)
			}
		}
		bin, err := c.Get(ctx, "rt/\xff", client.WithPrefix())
		if err != nil || len(bin.Kvs) != 1 || string(bin.Kvs[0].Key) != "rt/\xff\xfe" {
			t.Fatalf("prefix rt/\\xff: %v %v", bin, err)
		}
	})
	t.Run("DeletePrefix", func(t *testing.T) {
		del, err := c.Delete(ctx, "rt/", client.WithPrefix(), client.WithPrevKV())
		if err != nil {
			t.Fatal(err)
		}
		if del.Deleted != int64(len(tests)-1) || len(del.PrevKvs) != len(tests)-1 { // one key starts with '/'
			t.Fatalf("deleted %d (%d prev kvs), want %d", del.Deleted, len(del.PrevKvs), len(tests)-1)
		}
		if _, err := c.Get(ctx, "rt/nul\x00key"); !errors.Is(err, client.ErrKeyNotFound) {
			t.Fatalf("get after delete: %v", err)
		}
	})
}

func allBytes() string {
	b := make([]byte, 512)
	for i := range b {
		b[i] = byte(i)
	}
	return string(b)
}

func TestClient_GetOptions(t *testing.T) {
	c := newClient(t, endpoints)
	ctx := testCtx(t)
	if _, err := c.Delete(ctx, "opt/", client.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	revs := map[string]int64{}
	for _, k := range []string{"opt/c", "opt/a", "opt/b", "opt/d"} {
		r, err := c.Put(ctx, k, strings.ToUpper(k[4:]))
		if err != nil {
			t.Fatal(err)
		}
		revs[k] = r.Header.Revision
	}
	if _, err := c.Put(ctx, "opt/a", "A2"); err != nil {
		t.Fatal(err)
	}
	keys := func(r *client.GetResponse) string {
		var s []string
		for _, kv := range r.Kvs {
			s = append(s, string(kv.Key)[4:])
		}
		return strings.Join(s, ",")
	}
	tests := []struct {
		name      string
		key       string
		opts      []client.OpOption
		wantKeys  string
		wantCount int64
		wantMore  bool
	}{
		{name: "Prefix", key: "opt/", opts: []client.OpOption{client.WithPrefix()}, wantKeys: "a,b,c,d", wantCount: 4},
		{name: "Range", key: "opt/b", opts: []client.OpOption{client.WithRange("opt/d")}, wantKeys: "b,c", wantCount: 2},
		{name: "FromKey", key: "opt/c", opts: []client.OpOption{client.WithFromKey(), client.WithLimit(2)}, wantKeys: "c,d", wantCount: -1}, // other tests' keys follow
		{name: "Limit", key: "opt/", opts: []client.OpOption{client.WithPrefix(), client.WithLimit(2)}, wantKeys: "a,b", wantCount: 4, wantMore: true},
		{name: "SortDescend", key: "opt/", opts: []client.OpOption{client.WithPrefix(), client.WithSort(client.SortByKey, client.SortDescend)}, wantKeys: "d,c,b,a", wantCount: 4},
		{name: "SortByMod", key: "opt/", opts: []client.OpOption{client.WithPrefix(), client.WithSort(client.SortByModRevision, client.SortAscend)}, wantKeys: "c,b,d,a", wantCount: 4},
		{name: "SortByCreate", key: "opt/", opts: []client.OpOption{client.WithPrefix(), client.WithSort(client.SortByCreateRevision, client.SortDescend)}, wantKeys: "d,b,a,c", wantCount: 4},
		{name: "CountOnly", key: "opt/", opts: []client.OpOption{client.WithPrefix(), client.WithCountOnly()}, wantKeys: "", wantCount: 4},
		{name: "MinModRev", key: "opt/", opts: []client.OpOption{client.WithPrefix(), client.WithMinModRev(revs["opt/b"])}, wantKeys: "a,b,d", wantCount: 3},
		{name: "MaxModRev", key: "opt/", opts: []client.OpOption{client.WithPrefix(), client.WithMaxModRev(revs["opt/b"])}, wantKeys: "b,c", wantCount: 2},
		{name: "MinCreateRev", key: "opt/", opts: []client.OpOption{client.WithPrefix(), client.WithMinCreateRev(revs["opt/b"])}, wantKeys: "b,d", wantCount: 2},
		{name: "MaxCreateRev", key: "opt/", opts: []client.OpOption{client.WithPrefix(), client.WithMaxCreateRev(revs["opt/a"])}, wantKeys: "a,c", wantCount: 2},
		{name: "PastRevision", key: "opt/", opts: []client.OpOption{client.WithPrefix(), client.WithRev(revs["opt/a"])}, wantKeys: "a,c", wantCount: 2},
		{name: "Serializable", key: "opt/", opts: []client.OpOption{client.WithPrefix(), client.WithSerializable()}, wantKeys: "a,b,c,d", wantCount: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Get(ctx, tt.key, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if keys(got) != tt.wantKeys || (tt.wantCount >= 0 && (got.Count != tt.wantCount || got.More != tt.wantMore)) {
				t.Fatalf("got keys %q count %d more %v, want %q %d %v", keys(got), got.Count, got.More, tt.wantKeys, tt.wantCount, tt.wantMore)
			}
		})
	}
	t.Run("KeysOnly", func(t *testing.T) {
		got, err := c.Get(ctx, "opt/", client.WithPrefix(), client.WithKeysOnly())
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range got.Kvs {
			if kv.Value != nil || kv.ModRevision == 0 {
				t.Fatalf("keys only: %v", kv)
			}
		}
	})
	t.Run("PastValue", func(t *testing.T) {
		got, err := c.Get(ctx, "opt/a", client.WithRev(revs["opt/a"]))
		if err != nil || string(got.Kvs[0].Value) != "A" {
			t.Fatalf("opt/a at %d: %v %v", revs["opt/a"], got, err)
		}
	})
}

func TestClient_PutOptions(t *testing.T) {
	c := newClient(t, endpoints)
	ctx := testCtx(t)
	t.Run("PrevKV", func(t *testing.T) {
		if _, err := c.Put(ctx, "popt/k", "v1"); err != nil {
			t.Fatal(err)
		}
		r, err := c.Put(ctx, "popt/k", "v2", client.WithPrevKV())
		if err != nil || r.PrevKv == nil || string(r.PrevKv.Value) != "v1" {
			t.Fatalf("prev kv: %+v %v", r, err)
		}
	})
	t.Run("LeaseAndIgnore", func(t *testing.T) {
		g, err := c.Grant(ctx, 60)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Revoke(ctx, g.ID)
		if _, err := c.Put(ctx, "popt/k", "", client.WithLease(g.ID), client.WithIgnoreValue()); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Put(ctx, "popt/k", "v3", client.WithIgnoreLease()); err != nil {
			t.Fatal(err)
		}
		got, err := c.Get(ctx, "popt/k")
		if err != nil || string(got.Kvs[0].Value) != "v3" || got.Kvs[0].Lease != g.ID {
			t.Fatalf("after ignore_value then ignore_lease: %v %v", got.Kvs, err)
		}
	})
	t.Run("ErrKeyNotFound", func(t *testing.T) {
		_, err := c.Put(ctx, "popt/missing", "x", client.WithIgnoreLease())
		if !errors.Is(err, client.ErrKeyNotFound) {
			t.Fatalf("ignore_lease on a missing key: %v", err)
		}
	})
}

func TestClient_CAS(t *testing.T) {
	c := newClient(t, endpoints)
	ctx := testCtx(t)
	c.Delete(ctx, "cas/k")
	t.Run("CreateIfAbsent", func(t *testing.T) {
		r, err := c.Put(ctx, "cas/k", "1", client.WithIfModRevision(0))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Put(ctx, "cas/k", "other", client.WithIfModRevision(0))
		var e *client.Error
		if !errors.Is(err, client.ErrPreconditionFailed) || !errors.As(err, &e) {
			t.Fatalf("second create: %v", err)
		}
		if e.StatusCode != 412 || e.Code != "precondition_failed" || e.KV == nil ||
			string(e.KV.Value) != "1" || e.KV.ModRevision != r.Header.Revision || e.Header.Revision < r.Header.Revision {
			t.Fatalf("412: %+v (kv %v)", e, e.KV)
		}
	})
	t.Run("Swap", func(t *testing.T) {
		cur, err := c.Get(ctx, "cas/k")
		if err != nil {
			t.Fatal(err)
		}
		rev := cur.Kvs[0].ModRevision
		if _, err := c.Put(ctx, "cas/k", "2", client.WithIfModRevision(rev)); err != nil {
			t.Fatal(err)
		}
		_, err = c.Put(ctx, "cas/k", "3", client.WithIfModRevision(rev))
		var e *client.Error
		if !errors.As(err, &e) || !errors.Is(err, client.ErrPreconditionFailed) || string(e.KV.Value) != "2" {
			t.Fatalf("stale swap: %v", err)
		}
	})
	t.Run("DeleteIfModRevision", func(t *testing.T) {
		cur, _ := c.Get(ctx, "cas/k")
		rev := cur.Kvs[0].ModRevision
		if _, err := c.Delete(ctx, "cas/k", client.WithIfModRevision(rev-1)); !errors.Is(err, client.ErrPreconditionFailed) {
			t.Fatalf("stale delete: %v", err)
		}
		d, err := c.Delete(ctx, "cas/k", client.WithIfModRevision(rev))
		if err != nil || d.Deleted != 1 {
			t.Fatalf("delete: %+v %v", d, err)
		}
		_, err = c.Put(ctx, "cas/k", "x", client.WithIfModRevision(rev))
		var e *client.Error
		if !errors.As(err, &e) || e.KV != nil {
			t.Fatalf("swap of a deleted key: %v (kv %v)", err, e)
		}
	})
}

func TestClient_Errors(t *testing.T) {
	c := newClient(t, endpoints)
	ctx := testCtx(t)
	tests := []struct {
		name   string
		call   func() error
		want   error
		status int
		code   string
	}{
		{name: "ErrKeyNotFound", call: func() error { _, err := c.Get(ctx, "err/missing"); return err },
			want: client.ErrKeyNotFound, status: 404, code: "key_not_found"},
		{name: "ErrLeaseNotFound", call: func() error { _, err := c.Put(ctx, "err/k", "v", client.WithLease(12345)); return err },
			want: client.ErrLeaseNotFound, status: 404, code: "lease_not_found"},
		{name: "ErrLeaseNotFoundKeepAlive", call: func() error { _, err := c.KeepAliveOnce(ctx, 12345); return err },
			want: client.ErrLeaseNotFound, status: 404, code: "lease_not_found"},
		{name: "ErrInvalidArgument", call: func() error {
			_, err := c.Get(ctx, "err/k", client.WithPrefix(), client.WithFromKey())
			return err
		}, want: client.ErrInvalidArgument, status: 400, code: "invalid_argument"},
		{name: "ErrInvalidArgumentFuture", call: func() error { _, err := c.Get(ctx, "err/k", client.WithRev(1<<40)); return err },
			want: client.ErrInvalidArgument, status: 400, code: "invalid_argument"},
		{name: "ErrRequestTooLarge", call: func() error { _, err := c.Put(ctx, "err/big", strings.Repeat("x", 2<<20)); return err },
			want: client.ErrRequestTooLarge, status: 413, code: "request_too_large"},
		{name: "ErrConflict", call: func() error {
			g, err := c.Grant(ctx, 60)
			if err != nil {
				return err
			}
			defer c.Revoke(ctx, g.ID)
			_, err = c.Grant(ctx, 60, client.WithLeaseID(g.ID))
			return err
		}, want: client.ErrConflict, status: 409, code: "conflict"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var e *client.Error
			if !errors.Is(err, tt.want) || !errors.As(err, &e) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if e.StatusCode != tt.status || e.Code != tt.code || e.Message == "" || e.Endpoint == "" {
				t.Fatalf("got %+v, want status %d code %s", e, tt.status, tt.code)
			}
			if errors.Is(err, client.ErrIndeterminate) || errors.Is(err, client.ErrNotFound) {
				t.Fatalf("%v matches a sentinel of another code", err)
			}
			wrapped := fmt.Errorf("outer: %w", err)
			if !errors.Is(wrapped, tt.want) {
				t.Fatalf("wrapped error does not match")
			}
		})
	}
	t.Run("KeyNotFoundHeader", func(t *testing.T) {
		_, err := c.Get(ctx, "err/missing")
		var e *client.Error
		if !errors.As(err, &e) || e.Header.Revision == 0 || e.Header.ClusterID == 0 {
			t.Fatalf("404 header: %+v", e)
		}
	})
}

func TestClient_Compact(t *testing.T) {
	ms := startCluster(t, 1)
	c := newClient(t, urls(ms))
	ctx := testCtx(t)
	r1, err := c.Put(ctx, "k", "v1")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := c.Put(ctx, "k", "v2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Compact(ctx, r2.Header.Revision); err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(ctx, "k", client.WithRev(r1.Header.Revision))
	var e *client.Error
	if !errors.Is(err, client.ErrCompacted) || !errors.As(err, &e) || e.CompactRevision != r2.Header.Revision || e.StatusCode != 410 {
		t.Fatalf("read below the compaction: %v", err)
	}
	if _, err := c.Compact(ctx, r2.Header.Revision); !errors.Is(err, client.ErrCompacted) {
		t.Fatalf("compact again: %v", err)
	}
	st, err := c.Status(ctx)
	if err != nil || st.CompactRevision != r2.Header.Revision || st.Revision < r2.Header.Revision || st.Name != "n1" || st.Endpoint != ms[0].URL {
		t.Fatalf("status: %+v %v", st, err)
	}

	t.Run("WatchCompacted", func(t *testing.T) {
		wch := c.Watch(ctx, "k", client.WithRev(r1.Header.Revision))
		wr, ok := <-wch
		if !ok || !errors.Is(wr.Err, client.ErrCompacted) || wr.CompactRevision != r2.Header.Revision {
			t.Fatalf("watch from a compacted revision: %+v %v", wr, ok)
		}
		if _, ok := <-wch; ok {
			t.Fatal("the channel stays open after the compacted error")
		}
	})
}

func TestClient_Status(t *testing.T) {
	c := newClient(t, endpoints)
	ctx := testCtx(t)
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Name != "shared" || st.LeaderName != "shared" || st.MemberID == 0 || st.Version == "" || st.Header.MemberID != st.MemberID {
		t.Fatalf("status %+v", st)
	}
	ml, err := c.MemberList(ctx)
	if err != nil || len(ml.Members) != 1 || !ml.Members[0].IsLeader || ml.Members[0].Name != "shared" {
		t.Fatalf("members %+v %v", ml, err)
	}
	if !bytes.Equal([]byte(ml.Members[0].ClientURLs[0]), []byte(shared.URL)) {
		t.Fatalf("client urls %v, want %s", ml.Members[0].ClientURLs, shared.URL)
	}
}
