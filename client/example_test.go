package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/cairnkv/cairn/client"
)

// The examples run against the member that TestMain starts; endpoints
// holds its client URL (in production: the client URLs of the members,
// such as "http://10.0.0.1:2379").

func ExampleNew() {
	c, err := client.New(client.Config{
		Endpoints:      endpoints,
		RequestTimeout: 5 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	st, err := c.Status(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("leader:", st.LeaderName)
	// Output: leader: shared
}

func ExampleClient_Put() {
	c, err := client.New(client.Config{Endpoints: endpoints})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	// Keys and values are any bytes.
	if _, err := c.Put(ctx, "example/put/bin\x00\xff", "\x01\x02"); err != nil {
		log.Fatal(err)
	}
	resp, err := c.Put(ctx, "example/put/bin\x00\xff", "\x03", client.WithPrevKV())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("previous value: %q\n", resp.PrevKv.Value)
	// Output: previous value: "\x01\x02"
}

func ExampleClient_Get() {
	c, err := client.New(client.Config{Endpoints: endpoints})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	for _, k := range []string{"example/get/b", "example/get/a", "example/get/c"} {
		if _, err := c.Put(ctx, k, "value of "+k); err != nil {
			log.Fatal(err)
		}
	}
	resp, err := c.Get(ctx, "example/get/", client.WithPrefix(), client.WithLimit(2),
		client.WithSort(client.SortByKey, client.SortDescend))
	if err != nil {
		log.Fatal(err)
	}
	for _, kv := range resp.Kvs {
		fmt.Printf("%s = %s\n", kv.Key, kv.Value)
	}
	fmt.Println("count:", resp.Count, "more:", resp.More)

	// A single key that does not exist is an error.
	_, err = c.Get(ctx, "example/get/missing")
	fmt.Println(errors.Is(err, client.ErrKeyNotFound))
	// Output:
	// example/get/c = value of example/get/c
	// example/get/b = value of example/get/b
	// count: 3 more: true
	// true
}

func ExampleWithIfModRevision() {
	c, err := client.New(client.Config{Endpoints: endpoints})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	c.Delete(ctx, "example/cas")

	// Create only if absent.
	first, err := c.Put(ctx, "example/cas", "1", client.WithIfModRevision(0))
	if err != nil {
		log.Fatal(err)
	}
	// A stale swap fails, and the error carries the key as it is.
	if _, err := c.Put(ctx, "example/cas", "2", client.WithIfModRevision(first.Header.Revision)); err != nil {
		log.Fatal(err)
	}
	_, err = c.Put(ctx, "example/cas", "3", client.WithIfModRevision(first.Header.Revision))
	var e *client.Error
	if errors.Is(err, client.ErrPreconditionFailed) && errors.As(err, &e) {
		fmt.Printf("conflict: the value is now %q\n", e.KV.Value)
	}
	// Output: conflict: the value is now "2"
}

func ExampleClient_Txn() {
	c, err := client.New(client.Config{Endpoints: endpoints})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.Put(ctx, "example/txn/state", "ready"); err != nil {
		log.Fatal(err)
	}

	resp, err := c.Txn(ctx).
		If(client.Compare(client.Value("example/txn/state"), "=", "ready")).
		Then(client.OpPut("example/txn/state", "running"), client.OpGet("example/txn/state")).
		Else(client.OpGet("example/txn/state")).
		Commit()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("succeeded:", resp.Succeeded)
	fmt.Printf("state: %s\n", resp.Responses[1].Get.Kvs[0].Value)
	// Output:
	// succeeded: true
	// state: running
}

func ExampleClient_Watch() {
	c, err := client.New(client.Config{Endpoints: endpoints})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// List, then watch from the list's revision plus one: no change is
	// missed in between.
	list, err := c.Get(ctx, "example/watch/", client.WithPrefix())
	if err != nil {
		log.Fatal(err)
	}
	wch := c.Watch(ctx, "example/watch/", client.WithPrefix(), client.WithRev(list.Header.Revision+1))

	c.Put(ctx, "example/watch/a", "1")
	c.Delete(ctx, "example/watch/a")

	for n := 0; n < 2; {
		wr := <-wch
		if wr.Err != nil {
			log.Fatal(wr.Err) // e.g. ErrCompacted: list again
		}
		for _, ev := range wr.Events {
			fmt.Printf("%s %s\n", ev.Type, ev.Kv.Key)
			n++
		}
	}
	// Output:
	// PUT example/watch/a
	// DELETE example/watch/a
}

func ExampleClient_KeepAlive() {
	c, err := client.New(client.Config{Endpoints: endpoints})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Register a service instance for as long as this process lives.
	lease, err := c.Grant(ctx, 10)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Put(ctx, "example/services/api/10.0.0.7", "10.0.0.7:8080", client.WithLease(lease.ID)); err != nil {
		log.Fatal(err)
	}
	kach, err := c.KeepAlive(ctx, lease.ID)
	if err != nil {
		log.Fatal(err)
	}
	ka := <-kach
	fmt.Println("renewed for", ka.TTL, "seconds")

	// Deregister at once.
	if _, err := c.Revoke(ctx, lease.ID); err != nil {
		log.Fatal(err)
	}
	for range kach {
		// The channel closes: the lease is gone.
	}
	fmt.Println("deregistered")
	// Output:
	// renewed for 10 seconds
	// deregistered
}

func ExampleError() {
	c, err := client.New(client.Config{Endpoints: endpoints})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	_, err = c.Put(context.Background(), "example/error", "v", client.WithLease(42))
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.StatusCode, e.Code, errors.Is(err, client.ErrLeaseNotFound))
	}
	// A write whose outcome is unknown matches ErrIndeterminate: check
	// before writing again.
	if errors.Is(err, client.ErrIndeterminate) {
		fmt.Println("read the key before retrying")
	}
	// Output: 404 lease_not_found true
}
