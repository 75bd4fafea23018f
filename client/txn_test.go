package client_test

import (
	"errors"
	"testing"

	"github.com/cairnkv/cairn/client"
)

func TestTxn_Commit(t *testing.T) {
	c := newClient(t, endpoints)
	ctx := testCtx(t)
	c.Delete(ctx, "txn/", client.WithPrefix())
	r, err := c.Put(ctx, "txn/counter", "1")
	if err != nil {
		t.Fatal(err)
	}
	rev := r.Header.Revision

	t.Run("Succeeded", func(t *testing.T) {
		resp, err := c.Txn(ctx).
			If(client.Compare(client.ModRevision("txn/counter"), "=", rev),
				client.Compare(client.Value("txn/counter"), "=", "1"),
				client.Compare(client.Version("txn/counter"), ">", 0),
				client.Compare(client.CreateRevision("txn/absent"), "=", 0),
				client.Compare(client.LeaseCmp("txn/counter"), "=", client.NoLease)).
			Then(client.OpPut("txn/counter", "2", client.WithPrevKV()),
				client.OpPut("txn/bin\x00\xff", "\xff\x00"),
				client.OpGet("txn/", client.WithPrefix())).
			Else(client.OpGet("txn/counter")).
			Commit()
		if err != nil {
			t.Fatal(err)
		}
		if !resp.Succeeded || len(resp.Responses) != 3 || resp.Header.Revision != rev+1 {
			t.Fatalf("txn: %+v", resp)
		}
		if p := resp.Responses[0].Put; p == nil || p.PrevKv == nil || string(p.PrevKv.Value) != "1" {
			t.Fatalf("put result %+v", resp.Responses[0])
		}
		g := resp.Responses[2].Get
		if g == nil || g.Count != 2 || string(g.Kvs[0].Key) != "txn/bin\x00\xff" || string(g.Kvs[0].Value) != "\xff\x00" ||
			string(g.Kvs[1].Value) != "2" || g.Kvs[1].ModRevision != rev+1 {
			t.Fatalf("get result %+v", g)
		}
	})
	t.Run("Failed", func(t *testing.T) {
		resp, err := c.Txn(ctx).
			If(client.Compare(client.ModRevision("txn/counter"), "=", rev)).
			Then(client.OpPut("txn/counter", "stale")).
			Else(client.OpGet("txn/counter")).
			Commit()
		if err != nil {
			t.Fatal(err)
		}
		if resp.Succeeded || string(resp.Responses[0].Get.Kvs[0].Value) != "2" {
			t.Fatalf("txn: %+v", resp)
		}
	})
	t.Run("NestedAndDelete", func(t *testing.T) {
		resp, err := c.Txn(ctx).
			Then(client.OpTxn(
				[]client.Cmp{client.Compare(client.Value("txn/counter"), "!=", "2")},
				[]client.Op{client.OpPut("txn/never", "x")},
				[]client.Op{client.OpDelete("txn/bin", client.WithPrefix(), client.WithPrevKV())})).
			Commit()
		if err != nil {
			t.Fatal(err)
		}
		inner := resp.Responses[0].Txn
		if inner == nil || inner.Succeeded || inner.Responses[0].Delete == nil || inner.Responses[0].Delete.Deleted != 1 ||
			string(inner.Responses[0].Delete.PrevKvs[0].Key) != "txn/bin\x00\xff" {
			t.Fatalf("nested: %+v", inner)
		}
	})
	t.Run("RangeCompare", func(t *testing.T) {
		resp, err := c.Txn(ctx).
			If(client.Compare(client.Version("txn/"), ">", 0).WithPrefix()).
			Then(client.OpGet("txn/counter", client.WithCountOnly())).
			Commit()
		if err != nil || !resp.Succeeded || resp.Responses[0].Get.Count != 1 {
			t.Fatalf("range compare: %+v %v", resp, err)
		}
	})
	t.Run("ErrBadCompare", func(t *testing.T) {
		_, err := c.Txn(ctx).If(client.Compare(client.Version("k"), "~", 1)).Commit()
		if err == nil {
			t.Fatal("an unknown comparison was accepted")
		}
		_, err = c.Txn(ctx).If(client.Compare(client.Value("k"), "=", 3)).Commit()
		if err == nil {
			t.Fatal("a value compared with an int was accepted")
		}
		_, err = c.Txn(ctx).Then(client.OpPut("k", "v", client.WithIfModRevision(1))).Commit()
		if err == nil {
			t.Fatal("if_mod_revision in a txn was accepted")
		}
		_, err = c.Txn(ctx).Then().If().Commit()
		if err == nil {
			t.Fatal("If after Then was accepted")
		}
	})
	t.Run("ErrInvalidArgument", func(t *testing.T) {
		// The same key written twice in one branch.
		_, err := c.Txn(ctx).Then(client.OpPut("txn/x", "1"), client.OpPut("txn/x", "2")).Commit()
		if !errors.Is(err, client.ErrInvalidArgument) {
			t.Fatalf("got %v", err)
		}
	})
}
