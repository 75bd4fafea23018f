package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestCluster_AutoCompaction: with periodic auto-compaction and a 2 s
// retention, the leader compacts on its own to a revision written about
// 2 s before, through Raft (every member reports the same compact
// revision), and counts it; history older than that is gone (410), newer
// history is kept.
func TestCluster_AutoCompaction(t *testing.T) {
	t.Parallel()
	ms := startClusterWith(t, 3, func(c *Config) { c.AutoCompactionRetention = "2s" })
	leader := ms[leaderIndex(t, ms, 10*time.Second)]
	first := mustPut(t, leader.URL, "ac/k", "v0")
	start := time.Now()
	var last int64
	for i := 1; time.Since(start) < 3500*time.Millisecond; i++ {
		last = mustPut(t, leader.URL, "ac/k", fmt.Sprintf("v%d", i))
		time.Sleep(50 * time.Millisecond) // a steady trickle of revisions over time
	}
	var compactRev int64
	waitFor(t, 10*time.Second, "an automatic compaction on every member", func() bool {
		var revs []int64
		for _, m := range ms {
			_, body := do(t, http.MethodGet, m.URL+"/v1/status", "")
			var st struct {
				CompactRevision int64 `json:"compact_revision"`
			}
			if json.Unmarshal([]byte(body), &st) != nil || st.CompactRevision == 0 {
				return false
			}
			revs = append(revs, st.CompactRevision)
		}
		compactRev = revs[0]
		return revs[0] == revs[1] && revs[1] == revs[2]
	})
	if compactRev < first || compactRev >= last {
		t.Fatalf("compacted to %d, want between the first write (%d) and the last (%d)", compactRev, first, last)
	}
	if code, body := do(t, http.MethodGet, fmt.Sprintf("%s/v1/kv/ac/k?revision=%d", leader.URL, first), ""); code != http.StatusGone {
		t.Errorf("read at revision %d, below the compaction: %d %s, want 410", first, code, body)
	}
	if code, body := do(t, http.MethodGet, fmt.Sprintf("%s/v1/kv/ac/k?revision=%d", leader.URL, last), ""); code != http.StatusOK {
		t.Errorf("read at the last revision %d: %d %s", last, code, body)
	}
	_, metrics := do(t, http.MethodGet, leader.URL+"/metrics", "")
	if !strings.Contains(metrics, `cairn_auto_compactions_total{outcome="ok"}`) {
		t.Errorf("the leader's metrics count no automatic compaction:\n%s", grepLines(metrics, "compaction"))
	}
}
