package app

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCluster_StoreRebuiltAfterMachineCrash plays what a power cut leaves
// on a member whose store commits are not fsynced: a torn state.db and a
// marker of unsynced commits from an earlier boot. The member must set the
// file aside and rebuild its store from its Raft snapshot and the log
// after it, and then hold every write with the leader's hash.
func TestCluster_StoreRebuiltAfterMachineCrash(t *testing.T) {
	t.Parallel()
	ms := startClusterWith(t, 3, func(c *Config) {
		c.SnapshotCount = 100
		c.SnapshotInterval = 100 * time.Millisecond
	})
	li := leaderIndex(t, ms, 10*time.Second)
	for i := 0; i < 400; i++ {
		mustPut(t, ms[li].URL, fmt.Sprintf("k/%03d", i), strings.Repeat("x", 100))
	}
	victim := ms[(li+1)%3]
	// The victim snapshots and truncates its own log: the rebuild needs
	// the snapshot.
	snapDir := filepath.Join(victim.cfg.DataDir, "raft", "snapshots")
	waitFor(t, 20*time.Second, "a snapshot on "+victim.cfg.Name, func() bool {
		entries, _ := os.ReadDir(snapDir)
		return len(entries) > 0
	})
	var last int64
	for i := 400; i < 450; i++ {
		last = mustPut(t, ms[li].URL, fmt.Sprintf("k/%03d", i), "y")
	}
	waitCaughtUp(t, ms, last)
	victim.stop()

	state := filepath.Join(victim.cfg.DataDir, "state.db")
	if err := os.WriteFile(state, []byte("torn by a power cut"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(state+".unsynced", []byte("a boot before the power cut\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	restartAndCompare(t, ms, victim, li, last, 450)
	if _, err := os.Stat(state + ".untrusted"); err != nil {
		t.Fatalf("the torn file was not kept aside: %v", err)
	}
}
