package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestCluster_KillAllUnderWrites kills every member at once (kill -9)
// while clients write through all three, restarts them, and checks that
// every acknowledged write is on every member. The store's commits are not
// fsynced (the Raft log is the durable copy): a killed process leaves its
// writes in the kernel, and a restart resumes from them.
//
// It then plays a power cut: the members are killed again, and each
// store is torn and marked as written without fsync in an earlier boot, as
// a machine crash leaves it. Each member must rebuild its store from its
// Raft log, and hold every acknowledged write again.
func TestCluster_KillAllUnderWrites(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	c := newCluster(t, 3)
	log := newWriteLog()
	prefix := "dur/"

	round := func(what string, damage func(m *member)) {
		t.Helper()
		var wg sync.WaitGroup
		ctx, stop := context.WithCancel(context.Background())
		since := time.Now()
		for _, m := range c.members {
			wg.Go(func() { log.write(ctx, t, m, fmt.Sprintf("%s%s/%s/", prefix, what, m.name)) })
		}
		waitFor(t, 20*time.Second, "200 writes acknowledged "+what, func() error {
			if n, _ := log.ackedSince(since); n < 200 {
				return fmt.Errorf("%d writes acknowledged", n)
			}
			return nil
		})
		for _, m := range c.members { // all at once, writes in flight
			m.kill()
		}
		stop()
		wg.Wait()
		for _, m := range c.members {
			if damage != nil {
				damage(m)
			}
			m.start()
		}
		for _, m := range c.members {
			m.waitReady(30 * time.Second)
		}
		rev := c.waitConverged(20 * time.Second)
		log.mu.Lock()
		defer log.mu.Unlock()
		t.Logf("%s: %d acknowledged, %d unknown %v; every member at revision %d",
			what, len(log.acked), len(log.unknown), log.failures, rev)
		for _, m := range c.members {
			got, err := m.listPrefix(context.Background(), prefix, "&serializable=true")
			if err != nil {
				t.Fatal(err)
			}
			checkWrites(t, m.name+" after "+what, got, log.acked, log.unknown)
		}
		checkHashes(t, c.members, rev)
	}

	round("kill", nil)
	round("power-cut", func(m *member) {
		state := filepath.Join(m.dataDir, "state.db")
		if err := os.WriteFile(state, []byte("torn by a power cut"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(state+".unsynced", []byte("a boot before the power cut\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("test took %v", time.Since(begin))
}
