package kv_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/kv"
	"github.com/cairnkv/cairn/internal/ports/portstest"
)

func newService(t *testing.T) (*kv.Service, *portstest.Proposer) {
	t.Helper()
	b := portstest.NewBackend()
	p := portstest.NewProposer(b)
	return kv.New(p, b), p
}

func put(t *testing.T, s *kv.Service, key, value string) int64 {
	t.Helper()
	res, err := s.Put(context.Background(), domain.PutRequest{Key: []byte(key), Value: []byte(value)}, nil)
	if err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
	return res.Revision
}

func get(t *testing.T, s *kv.Service, key string) *domain.KeyValue {
	t.Helper()
	resp, _, err := s.Range(context.Background(), domain.RangeRequest{Key: []byte(key)})
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil
	}
	return &resp.Kvs[0]
}

func i64(v int64) *int64 { return &v }

func TestService_Put(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		s, _ := newService(t)
		if rev := put(t, s, "a", "1"); rev != 2 {
			t.Fatalf("first write revision = %d, want 2", rev)
		}
		res, err := s.Put(ctx, domain.PutRequest{Key: []byte("a"), Value: []byte("2"), PrevKv: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Revision != 3 || res.PrevKv == nil || string(res.PrevKv.Value) != "1" {
			t.Fatalf("second put = %+v, want revision 3 with prev value 1", res)
		}
		kv := get(t, s, "a")
		if kv.Version != 2 || kv.CreateRevision != 2 || kv.ModRevision != 3 || string(kv.Value) != "2" {
			t.Fatalf("kv = %+v", kv)
		}
	})

	t.Run("IfModRevision", func(t *testing.T) {
		s, _ := newService(t)
		res, err := s.Put(ctx, domain.PutRequest{Key: []byte("c"), Value: []byte("1")}, i64(0))
		if err != nil || !res.Succeeded {
			t.Fatalf("create-if-absent: %+v %v", res, err)
		}
		res, err = s.Put(ctx, domain.PutRequest{Key: []byte("c"), Value: []byte("x")}, i64(0))
		if err != nil || res.Succeeded || res.Current == nil || string(res.Current.Value) != "1" {
			t.Fatalf("second create-if-absent = %+v %v, want failure with current kv", res, err)
		}
		if res.Revision != 2 {
			t.Fatalf("failed CAS revision = %d, want the unchanged 2", res.Revision)
		}
		res, err = s.Put(ctx, domain.PutRequest{Key: []byte("c"), Value: []byte("2")}, i64(2))
		if err != nil || !res.Succeeded || res.Revision != 3 {
			t.Fatalf("CAS at mod revision 2 = %+v %v", res, err)
		}
		res, err = s.Put(ctx, domain.PutRequest{Key: []byte("missing"), Value: []byte("2")}, i64(2))
		if err != nil || res.Succeeded || res.Current != nil {
			t.Fatalf("CAS on a missing key = %+v %v, want failure without kv", res, err)
		}
	})

	t.Run("IgnoreValue", func(t *testing.T) {
		s, _ := newService(t)
		put(t, s, "k", "keep")
		if _, err := s.Put(ctx, domain.PutRequest{Key: []byte("k"), IgnoreValue: true}, nil); err != nil {
			t.Fatal(err)
		}
		if kv := get(t, s, "k"); string(kv.Value) != "keep" || kv.Version != 2 {
			t.Fatalf("kv after ignore_value = %+v", kv)
		}
		_, err := s.Put(ctx, domain.PutRequest{Key: []byte("nope"), IgnoreValue: true}, nil)
		if !errors.Is(err, domain.ErrKeyNotFound) {
			t.Fatalf("ignore_value on a missing key: %v, want ErrKeyNotFound", err)
		}
	})

	t.Run("ErrLeaseNotFound", func(t *testing.T) {
		s, p := newService(t)
		_, err := s.Put(ctx, domain.PutRequest{Key: []byte("k"), Value: []byte("v"), Lease: 7}, nil)
		if !errors.Is(err, domain.ErrLeaseNotFound) {
			t.Fatalf("err = %v, want ErrLeaseNotFound", err)
		}
		if kv := get(t, s, "k"); kv != nil {
			t.Fatalf("a rejected put stored %+v", kv)
		}
		if v := p.Backend.View(); v.Rev() != 1 {
			t.Fatalf("a rejected put moved the revision to %d", v.Rev())
		}
	})

	t.Run("ErrInvalidArgument", func(t *testing.T) {
		s, p := newService(t)
		tests := []struct {
			name string
			req  domain.PutRequest
			cond *int64
			want string
		}{
			{name: "empty key", req: domain.PutRequest{}, want: "key is empty"},
			{name: "key too long", req: domain.PutRequest{Key: []byte(strings.Repeat("k", domain.MaxKeySize+1))}, want: "limit"},
			{name: "negative lease", req: domain.PutRequest{Key: []byte("k"), Lease: -1}, want: "lease"},
			{name: "lease too big", req: domain.PutRequest{Key: []byte("k"), Lease: domain.MaxLeaseID + 1}, want: "lease"},
			{name: "lease and ignore_lease", req: domain.PutRequest{Key: []byte("k"), Lease: 1, IgnoreLease: true}, want: "ignore_lease"},
			{name: "value and ignore_value", req: domain.PutRequest{Key: []byte("k"), Value: []byte("v"), IgnoreValue: true}, want: "ignore_value"},
			{name: "negative if_mod_revision", req: domain.PutRequest{Key: []byte("k")}, cond: i64(-1), want: "if_mod_revision"},
		}
		for _, tt := range tests {
			_, err := s.Put(ctx, tt.req, tt.cond)
			if !errors.Is(err, domain.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: err = %v, want an invalid argument mentioning %q", tt.name, err, tt.want)
			}
		}
		if len(p.Log) != 0 {
			t.Fatalf("invalid puts reached the log: %d commands", len(p.Log))
		}
	})

	t.Run("ErrIndeterminate", func(t *testing.T) {
		s, p := newService(t)
		p.ProposeErr = domain.ErrIndeterminate
		_, err := s.Put(ctx, domain.PutRequest{Key: []byte("k")}, nil)
		if !errors.Is(err, domain.ErrIndeterminate) {
			t.Fatalf("err = %v, want ErrIndeterminate", err)
		}
	})
}

func TestService_Range(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, p := newService(t)
	for _, kv := range []struct{ k, v string }{{"a", "3"}, {"b", "1"}, {"c", "2"}, {"d", "0"}} {
		put(t, s, kv.k, kv.v)
	}
	put(t, s, "b", "9") // rev 6: b has version 2
	tests := []struct {
		name      string
		req       domain.RangeRequest
		wantKeys  string
		wantCount int64
		wantMore  bool
	}{
		{name: "single", req: domain.RangeRequest{Key: []byte("b")}, wantKeys: "b", wantCount: 1},
		{name: "range", req: domain.RangeRequest{Key: []byte("b"), RangeEnd: []byte("d")}, wantKeys: "bc", wantCount: 2},
		{name: "from key", req: domain.RangeRequest{Key: []byte("b"), RangeEnd: []byte{0}}, wantKeys: "bcd", wantCount: 3},
		{name: "limit", req: domain.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, Limit: 2}, wantKeys: "ab", wantCount: 4, wantMore: true},
		{name: "descend", req: domain.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, SortOrder: domain.SortDescend}, wantKeys: "dcba", wantCount: 4},
		{name: "by value", req: domain.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, SortTarget: domain.SortByValue}, wantKeys: "dcab", wantCount: 4},
		{name: "by version desc, limit", req: domain.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, SortTarget: domain.SortByVersion, SortOrder: domain.SortDescend, Limit: 1}, wantKeys: "b", wantCount: 4, wantMore: true},
		{name: "by mod", req: domain.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, SortTarget: domain.SortByMod, SortOrder: domain.SortAscend}, wantKeys: "acdb", wantCount: 4},
		{name: "past revision", req: domain.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, Revision: 3}, wantKeys: "ab", wantCount: 2},
		{name: "min mod", req: domain.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, MinModRevision: 4}, wantKeys: "bcd", wantCount: 3},
		{name: "max create", req: domain.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, MaxCreateRevision: 3}, wantKeys: "ab", wantCount: 2},
		{name: "count only", req: domain.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}, CountOnly: true}, wantKeys: "", wantCount: 4},
		{name: "missing", req: domain.RangeRequest{Key: []byte("zz")}, wantKeys: "", wantCount: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _, err := s.Range(ctx, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			var keys string
			for _, kv := range resp.Kvs {
				keys += string(kv.Key)
			}
			if keys != tt.wantKeys || resp.Count != tt.wantCount || resp.More != tt.wantMore {
				t.Fatalf("got keys %q count %d more %v, want %q %d %v", keys, resp.Count, resp.More, tt.wantKeys, tt.wantCount, tt.wantMore)
			}
		})
	}

	t.Run("KeysOnly", func(t *testing.T) {
		resp, _, err := s.Range(ctx, domain.RangeRequest{Key: []byte("a"), KeysOnly: true})
		if err != nil || len(resp.Kvs) != 1 || resp.Kvs[0].Value != nil {
			t.Fatalf("keys only = %+v %v", resp, err)
		}
	})

	t.Run("Linearizable by default", func(t *testing.T) {
		before := p.Barriers
		if _, _, err := s.Range(ctx, domain.RangeRequest{Key: []byte("a")}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Range(ctx, domain.RangeRequest{Key: []byte("a"), Serializable: true}); err != nil {
			t.Fatal(err)
		}
		if got := p.Barriers - before; got != 1 {
			t.Fatalf("barriers = %d, want 1 (the serializable read skips it)", got)
		}
	})

	t.Run("ErrFutureRevision", func(t *testing.T) {
		_, _, err := s.Range(ctx, domain.RangeRequest{Key: []byte("a"), Revision: 100})
		if !errors.Is(err, domain.ErrFutureRevision) {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("ErrInvalidArgument", func(t *testing.T) {
		for _, req := range []domain.RangeRequest{
			{},
			{Key: []byte("b"), RangeEnd: []byte("a")},
			{Key: []byte("a"), Limit: -1},
			{Key: []byte("a"), Revision: -1},
			{Key: []byte("a"), MinModRevision: -1},
		} {
			if _, _, err := s.Range(ctx, req); !errors.Is(err, domain.ErrInvalidArgument) {
				t.Errorf("range %+v: err = %v, want invalid argument", req, err)
			}
		}
	})
}

func TestService_Compact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newService(t)
	put(t, s, "k", "1")
	put(t, s, "k", "2")
	put(t, s, "k", "3") // rev 4
	if _, err := s.Compact(ctx, 3); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Range(ctx, domain.RangeRequest{Key: []byte("k"), Revision: 2})
	var ce *domain.CompactedError
	if !errors.As(err, &ce) || ce.CompactRevision != 3 {
		t.Fatalf("read below the compaction: %v, want CompactedError at 3", err)
	}
	resp, _, err := s.Range(ctx, domain.RangeRequest{Key: []byte("k"), Revision: 3})
	if err != nil || string(resp.Kvs[0].Value) != "2" {
		t.Fatalf("read at the compaction point: %+v %v", resp, err)
	}
	if _, err := s.Compact(ctx, 3); !errors.Is(err, domain.ErrCompacted) {
		t.Fatalf("compacting again: %v, want ErrCompacted", err)
	}
	if _, err := s.Compact(ctx, 50); !errors.Is(err, domain.ErrFutureRevision) {
		t.Fatalf("compacting the future: %v, want ErrFutureRevision", err)
	}
	if _, err := s.Compact(ctx, 0); !errors.Is(err, domain.ErrInvalidArgument) {
		t.Fatalf("compacting 0: %v, want invalid argument", err)
	}
}

func TestService_Delete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newService(t)
	put(t, s, "p/1", "a")
	put(t, s, "p/2", "b")
	put(t, s, "q", "c")

	res, err := s.Delete(ctx, domain.DeleteRangeRequest{Key: []byte("q")}, i64(99))
	if err != nil || res.Succeeded || res.Current == nil {
		t.Fatalf("conditional delete with a wrong revision = %+v %v", res, err)
	}
	res, err = s.Delete(ctx, domain.DeleteRangeRequest{Key: []byte("p/"), RangeEnd: []byte("p0"), PrevKv: true}, nil)
	if err != nil || res.Deleted != 2 || len(res.PrevKvs) != 2 || res.Revision != 5 {
		t.Fatalf("prefix delete = %+v %v", res, err)
	}
	res, err = s.Delete(ctx, domain.DeleteRangeRequest{Key: []byte("nothing")}, nil)
	if err != nil || res.Deleted != 0 || res.Revision != 5 {
		t.Fatalf("deleting nothing = %+v %v, want 0 deleted at the unchanged revision", res, err)
	}
	put(t, s, "p/1", "again")
	if kv := get(t, s, "p/1"); kv.Version != 1 || kv.CreateRevision != 6 {
		t.Fatalf("re-created key = %+v, want a new generation", kv)
	}
	if _, err := s.Delete(ctx, domain.DeleteRangeRequest{Key: []byte("a"), RangeEnd: []byte("b")}, i64(1)); !errors.Is(err, domain.ErrInvalidArgument) {
		t.Fatalf("conditional range delete: %v, want invalid argument", err)
	}
}
