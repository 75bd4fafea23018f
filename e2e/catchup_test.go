package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// TestCluster_CatchUpAfterDowntime kills a follower, writes through the
// leader while it is down for long enough that hashicorp/raft's replication
// backoff alone would make the leader wait several seconds between two tries
// (10 ms doubling per failure, up to 10 s), restarts it and measures how long
// it takes to apply every entry the leader had committed when it came back.
// The peer transport keeps dialling a peer that is down instead of failing
// at once, so the follower gets its entries as soon as it listens.
func TestCluster_CatchUpAfterDowntime(t *testing.T) {
	t.Parallel()
	down := 25 * time.Second
	if os.Getenv("CAIRN_SOAK") != "" {
		down = 2 * time.Minute
	}
	c := newCluster(t, 3)
	leader := c.leader()
	f := c.others(leader)[0]
	f.kill()

	ctx, cancel := context.WithTimeout(context.Background(), down+time.Minute)
	defer cancel()
	writes := 0
	for end := time.Now().Add(down); time.Now().Before(end); writes++ {
		key := []byte(fmt.Sprintf("catchup/%05d", writes))
		if _, err := leader.put(ctx, key, []byte("v"), ""); err != nil {
			t.Fatalf("put through the leader while %s is down: %v", f.name, err)
		}
		time.Sleep(20 * time.Millisecond) // a steady trickle, not a flood
	}
	st, err := leader.status(ctx)
	if err != nil {
		t.Fatal(err)
	}

	restarted := time.Now()
	f.start()
	took := waitFor(t, 30*time.Second, f.name+" to apply what the leader had committed", func() error {
		fs, err := f.status(ctx)
		if err != nil {
			return err
		}
		if fs.AppliedIndex < st.CommitIndex {
			return fmt.Errorf("%s applied %d of %d", f.name, fs.AppliedIndex, st.CommitIndex)
		}
		return nil
	})
	t.Logf("%s down for %v (%d writes): caught up %v after its restart (process start included)",
		f.name, down, writes, took.Round(time.Millisecond))
	// Without the persistent dial this takes up to 10 s; the bound leaves
	// room for a loaded machine.
	if limit := 3 * time.Second; time.Since(restarted) > limit {
		t.Errorf("%s caught up %v after its restart, want under %v", f.name, took, limit)
	}
	rev := c.waitConverged(10 * time.Second)
	checkHashes(t, c.members, rev)
}
