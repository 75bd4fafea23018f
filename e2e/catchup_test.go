package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// TestCluster_CatchUpAfterDowntime takes a follower away, writes through the
// leader while it is gone for long enough that hashicorp/raft's replication
// backoff alone would make the leader wait seconds between two tries
// (10 ms doubling per failure, up to 10 s), brings it back and measures how
// long it takes to apply every entry the leader had committed by then.
//
//   - killed: the peer transport keeps dialling a peer that is down instead
//     of failing at once, so the follower gets its entries as soon as it
//     listens (before that: 4.8 s after 26 s down);
//   - frozen (SIGSTOP): the connection stays open and the RPC in flight is
//     answered when it resumes.
func TestCluster_CatchUpAfterDowntime(t *testing.T) {
	t.Parallel()
	down := 25 * time.Second
	if os.Getenv("CAIRN_SOAK") != "" {
		down = 2 * time.Minute
	}
	for _, how := range []string{"killed", "frozen"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			c := newCluster(t, 3)
			leader := c.leader()
			f := c.others(leader)[0]
			if how == "killed" {
				f.kill()
			} else {
				f.pause()
				defer func() { // if the test fails before it resumes it
					if f.paused() {
						f.resume()
					}
				}()
			}

			ctx, cancel := context.WithTimeout(context.Background(), down+time.Minute)
			defer cancel()
			writes := 0
			for end := time.Now().Add(down); time.Now().Before(end); writes++ {
				key := []byte(fmt.Sprintf("catchup/%05d", writes))
				if _, err := leader.put(ctx, key, []byte("v"), ""); err != nil {
					t.Fatalf("put through the leader while %s is %s: %v", f.name, how, err)
				}
				time.Sleep(20 * time.Millisecond) // a steady trickle, not a flood
			}
			st, err := leader.status(ctx)
			if err != nil {
				t.Fatal(err)
			}

			back := time.Now()
			if how == "killed" {
				f.start()
			} else {
				f.resume()
			}
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
			t.Logf("%s %s for %v (%d writes): caught up %v after it came back (a restart includes the process start)",
				f.name, how, down, writes, took.Round(time.Millisecond))
			// The bound leaves room for a loaded machine.
			if limit := 3 * time.Second; time.Since(back) > limit {
				t.Errorf("%s caught up %v after it came back, want under %v", f.name, took, limit)
			}
			rev := c.waitConverged(10 * time.Second)
			checkHashes(t, c.members, rev)
		})
	}
}
