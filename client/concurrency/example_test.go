package concurrency_test

import (
	"context"
	"fmt"
	"log"

	"github.com/cairnkv/cairn/client"
	"github.com/cairnkv/cairn/client/concurrency"
)

// The examples run against the member that TestMain starts; endpoints
// holds its client URL.

func ExampleMutex() {
	c, err := client.New(client.Config{Endpoints: endpoints})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	s, err := concurrency.NewSession(ctx, c, concurrency.WithTTL(10))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close() // releases whatever the session holds

	m := concurrency.NewMutex(s, "example/jobs/nightly")
	if err := m.Lock(ctx); err != nil {
		log.Fatal(err)
	}
	// Guard writes with the lock: the txn fails if the lock was lost.
	resp, err := c.Txn(ctx).If(m.IsOwner()).Then(client.OpPut("example/jobs/nightly-report", "done")).Commit()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("written under the lock:", resp.Succeeded, "fence > 0:", m.Fence() > 0)
	if err := m.Unlock(ctx); err != nil {
		log.Fatal(err)
	}
	// Output: written under the lock: true fence > 0: true
}

func ExampleElection() {
	c, err := client.New(client.Config{Endpoints: endpoints})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	s, err := concurrency.NewSession(ctx, c, concurrency.WithTTL(10))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	e := concurrency.NewElection(s, "example/scheduler")
	if err := e.Campaign(ctx, "host-a:8080"); err != nil { // waits until it leads
		log.Fatal(err)
	}
	obs := e.Observe(ctx) // the current leader, then every change
	fmt.Printf("leader: %s\n", (<-obs).Kv.Value)
	if err := e.Proclaim(ctx, "host-a:9090"); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("leader: %s\n", (<-obs).Kv.Value)
	if err := e.Resign(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// leader: host-a:8080
	// leader: host-a:9090
}
