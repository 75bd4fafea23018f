package kv_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports/portstest"
)

func cmp(key string, target domain.CompareTarget, result domain.CompareResult, v int64, value string) domain.Compare {
	c := domain.Compare{Key: []byte(key), Target: target, Result: result, Value: []byte(value)}
	switch target {
	case domain.CompareVersion:
		c.Version = v
	case domain.CompareCreate:
		c.CreateRevision = v
	case domain.CompareMod:
		c.ModRevision = v
	case domain.CompareLease:
		c.Lease = v
	}
	return c
}

func putOp(k, v string) domain.Op {
	return domain.Op{Put: &domain.PutRequest{Key: []byte(k), Value: []byte(v)}}
}

func getOp(k string) domain.Op { return domain.Op{Range: &domain.RangeRequest{Key: []byte(k)}} }

func TestService_Txn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newService(t)
	put(t, s, "x", "10") // rev 2: x version 1, create 2, mod 2

	compares := []struct {
		name string
		c    domain.Compare
		want bool
	}{
		{name: "value equal", c: cmp("x", domain.CompareValue, domain.CompareEqual, 0, "10"), want: true},
		{name: "value not equal", c: cmp("x", domain.CompareValue, domain.CompareNotEqual, 0, "10"), want: false},
		{name: "value greater", c: cmp("x", domain.CompareValue, domain.CompareGreater, 0, "09"), want: true},
		{name: "value less", c: cmp("x", domain.CompareValue, domain.CompareLess, 0, "09"), want: false},
		{name: "version equal", c: cmp("x", domain.CompareVersion, domain.CompareEqual, 1, ""), want: true},
		{name: "create greater", c: cmp("x", domain.CompareCreate, domain.CompareGreater, 1, ""), want: true},
		{name: "mod less", c: cmp("x", domain.CompareMod, domain.CompareLess, 2, ""), want: false},
		{name: "lease equal 0", c: cmp("x", domain.CompareLease, domain.CompareEqual, 0, ""), want: true},
		{name: "missing key version 0", c: cmp("nope", domain.CompareVersion, domain.CompareEqual, 0, ""), want: true},
		{name: "missing key value", c: cmp("nope", domain.CompareValue, domain.CompareEqual, 0, ""), want: false},
		{name: "range mod greater", c: domain.Compare{Key: []byte("a"), RangeEnd: []byte{0}, Target: domain.CompareMod, Result: domain.CompareGreater, ModRevision: 1}, want: true},
	}
	for _, tt := range compares {
		t.Run("Compare "+tt.name, func(t *testing.T) {
			resp, _, err := s.Txn(ctx, domain.TxnRequest{Compare: []domain.Compare{tt.c}})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Succeeded != tt.want {
				t.Fatalf("succeeded = %v, want %v", resp.Succeeded, tt.want)
			}
		})
	}

	t.Run("OneRevision", func(t *testing.T) {
		s, _ := newService(t)
		resp, rev, err := s.Txn(ctx, domain.TxnRequest{Success: []domain.Op{putOp("a", "1"), putOp("b", "2"), getOp("a")}})
		if err != nil {
			t.Fatal(err)
		}
		if rev != 2 {
			t.Fatalf("revision = %d, want 2 (one revision for the whole txn)", rev)
		}
		got := resp.Responses[2].Range
		if len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "1" || got.Kvs[0].ModRevision != 2 {
			t.Fatalf("a get after a put in the same txn = %+v, want the new value", got)
		}
	})

	t.Run("Nested", func(t *testing.T) {
		s, _ := newService(t)
		put(t, s, "flag", "on")
		resp, rev, err := s.Txn(ctx, domain.TxnRequest{
			Compare: []domain.Compare{cmp("flag", domain.CompareValue, domain.CompareEqual, 0, "off")},
			Failure: []domain.Op{
				putOp("outer", "1"),
				{Txn: &domain.TxnRequest{
					// Compares of nested txns see the state before the txn:
					// "outer" does not exist yet for this compare.
					Compare: []domain.Compare{cmp("outer", domain.CompareVersion, domain.CompareEqual, 0, "")},
					Success: []domain.Op{putOp("inner", "yes")},
					Failure: []domain.Op{putOp("inner", "no")},
				}},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Succeeded || !resp.Responses[1].Txn.Succeeded {
			t.Fatalf("outer succeeded=%v nested=%+v", resp.Succeeded, resp.Responses[1].Txn)
		}
		if kv := get(t, s, "inner"); kv == nil || string(kv.Value) != "yes" || kv.ModRevision != rev {
			t.Fatalf("inner = %+v, want yes at %d", kv, rev)
		}
	})

	t.Run("RejectionChangesNothing", func(t *testing.T) {
		s, p := newService(t)
		put(t, s, "k", "1")
		put(t, s, "k", "2")
		if _, err := s.Compact(ctx, 3); err != nil {
			t.Fatal(err)
		}
		_, _, err := s.Txn(ctx, domain.TxnRequest{Success: []domain.Op{
			putOp("new", "v"),
			{Range: &domain.RangeRequest{Key: []byte("k"), Revision: 2}},
		}})
		if !errors.Is(err, domain.ErrCompacted) {
			t.Fatalf("err = %v, want ErrCompacted", err)
		}
		_, _, err = s.Txn(ctx, domain.TxnRequest{Success: []domain.Op{
			putOp("new", "v"),
			{Put: &domain.PutRequest{Key: []byte("leased"), Lease: 5}},
		}})
		if !errors.Is(err, domain.ErrLeaseNotFound) {
			t.Fatalf("err = %v, want ErrLeaseNotFound", err)
		}
		if kv := get(t, s, "new"); kv != nil {
			t.Fatalf("a rejected txn wrote %+v", kv)
		}
		if v := p.Backend.View(); v.Rev() != 3 {
			t.Fatalf("revision = %d after rejected txns, want 3", v.Rev())
		}
	})

	t.Run("ErrInvalidArgument", func(t *testing.T) {
		s, p := newService(t)
		many := make([]domain.Op, domain.MaxTxnOps+1)
		for i := range many {
			many[i] = getOp("k")
		}
		deep := domain.TxnRequest{}
		for i := 0; i < 10; i++ {
			deep = domain.TxnRequest{Success: []domain.Op{{Txn: &deep}}}
		}
		tests := []struct {
			name string
			req  domain.TxnRequest
		}{
			{name: "same key put twice", req: domain.TxnRequest{Success: []domain.Op{putOp("a", "1"), putOp("a", "2")}}},
			{name: "put inside a delete", req: domain.TxnRequest{Success: []domain.Op{putOp("a/1", "1"), {Delete: &domain.DeleteRangeRequest{Key: []byte("a/"), RangeEnd: []byte("a0")}}}}},
			{name: "nested put of the same key", req: domain.TxnRequest{Success: []domain.Op{putOp("a", "1"), {Txn: &domain.TxnRequest{Failure: []domain.Op{putOp("a", "2")}}}}}},
			{name: "empty op", req: domain.TxnRequest{Success: []domain.Op{{}}}},
			{name: "two kinds in one op", req: domain.TxnRequest{Success: []domain.Op{{Put: putOp("a", "1").Put, Range: getOp("a").Range}}}},
			{name: "too many ops", req: domain.TxnRequest{Success: many}},
			{name: "too deep", req: deep},
			{name: "empty compare key", req: domain.TxnRequest{Compare: []domain.Compare{{Target: domain.CompareVersion}}}},
			{name: "bad compare target", req: domain.TxnRequest{Compare: []domain.Compare{{Key: []byte("a"), Target: 99}}}},
		}
		for _, tt := range tests {
			if _, _, err := s.Txn(ctx, tt.req); !errors.Is(err, domain.ErrInvalidArgument) {
				t.Errorf("%s: err = %v, want invalid argument", tt.name, err)
			}
		}
		if len(p.Log) != 0 {
			t.Fatalf("invalid txns reached the log: %d", len(p.Log))
		}
		// Both branches of a nested txn may write the same key: only one runs.
		ok := domain.TxnRequest{Success: []domain.Op{{Txn: &domain.TxnRequest{
			Success: []domain.Op{putOp("a", "1")}, Failure: []domain.Op{putOp("a", "2")},
		}}}}
		if _, _, err := s.Txn(ctx, ok); err != nil {
			t.Fatalf("same key in the two branches of a nested txn: %v", err)
		}
	})
}

// TestApply_Deterministic applies one command log to two fresh stores and
// checks that they end with the same history hash.
func TestApply_Deterministic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, p := newService(t)
	for i := 0; i < 50; i++ {
		k := string(rune('a' + i%7))
		put(t, s, k, string(rune('0'+i%10)))
		if i%11 == 0 {
			if _, err := s.Delete(ctx, domain.DeleteRangeRequest{Key: []byte("a"), RangeEnd: []byte("c")}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := s.Compact(ctx, 20); err != nil {
		t.Fatal(err)
	}
	replica := portstest.NewProposer(portstest.NewBackend())
	for _, cmd := range p.Log {
		if _, err := replica.Propose(ctx, cmd); err != nil {
			t.Fatal(err)
		}
	}
	h1, r1, c1, err1 := p.Backend.Hash(0)
	h2, r2, c2, err2 := replica.Backend.Hash(0)
	if err1 != nil || err2 != nil || h1 != h2 || r1 != r2 || c1 != c2 {
		t.Fatalf("replicas differ: (%x %d %d %v) vs (%x %d %d %v)", h1, r1, c1, err1, h2, r2, c2, err2)
	}
}
