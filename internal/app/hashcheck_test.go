package app

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	boltadapter "github.com/cairnkv/cairn/internal/adapters/bolt"
	raftadapter "github.com/cairnkv/cairn/internal/adapters/raft"
)

// TestCluster_HashCheckReportsADivergedFollower writes a record straight
// into one follower's store, as a lost write, a bad disk or a bug in apply
// would, and checks that the follower's hash check against the leader says
// so, in its metrics, while the other follower still matches.
func TestCluster_HashCheckReportsADivergedFollower(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3)
	leader := ms[leaderIndex(t, ms, 10*time.Second)]
	for i := range 5 {
		if code, body := doIdempotent(t, http.MethodPut, fmt.Sprintf("%s/v1/kv/hc/%d", leader.URL, i), "v"); code != http.StatusOK {
			t.Fatalf("put: %d %s", code, body)
		}
	}
	var followers []*member
	for _, m := range ms {
		if m != leader {
			followers = append(followers, m)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Both followers match once they have applied what the leader has.
	for _, f := range followers {
		checkUntil(t, ctx, f, raftadapter.HashMatch)
	}

	// The bad follower gets a record no other member has, written into its
	// store while it is stopped, as a bad disk or a bug in apply would.
	bad := followers[0]
	bad.stop()
	b, err := boltadapter.Open(filepath.Join(bad.cfg.DataDir, "state.db"), boltadapter.Config{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := b.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := batch.Put([]byte("hc/0"), []byte("not what the leader wrote"), 0); err != nil {
		t.Fatal(err)
	}
	batch.EndRevision()
	if err := batch.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	bad = startMember(t, bad.cfg)
	waitReady(t, bad.URL, 20*time.Second)
	followers[0] = bad
	// The leader gets ahead of the bad follower's extra revision.
	for i := range 3 {
		if code, body := doIdempotent(t, http.MethodPut, fmt.Sprintf("%s/v1/kv/hc/after/%d", leader.URL, i), "v"); code != http.StatusOK {
			t.Fatalf("put: %d %s", code, body)
		}
	}
	c := checkUntil(t, ctx, bad, raftadapter.HashMismatch)
	t.Logf("diverged follower: %+v", c)
	checkUntil(t, ctx, followers[1], raftadapter.HashMatch)

	// The member's own periodic check may have found it too.
	_, metrics := do(t, http.MethodGet, bad.URL+"/metrics", "")
	var mismatches float64
	for _, l := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(l, "cairn_hash_check_mismatches_total "); ok {
			mismatches, _ = strconv.ParseFloat(v, 64)
		}
	}
	if mismatches < 1 {
		t.Errorf("metrics of the diverged follower: cairn_hash_check_mismatches_total %v, want at least 1:\n%s", mismatches, grepLines(metrics, "cairn_hash"))
	}

	// Its own check after its start asked the leader for the corruption
	// check of every member: the leader, with the other follower on its
	// side, raised CORRUPT for the bad one, and every member refuses
	// writes, naming it, until the alarm is cleared.
	badID := strconv.FormatUint(raftadapter.MemberID(bad.cfg.Name), 10)
	waitFor(t, 15*time.Second, "the CORRUPT alarm for "+bad.cfg.Name, func() bool {
		_, body := do(t, http.MethodGet, followers[1].URL+"/v1/maintenance/alarms", "")
		return strings.Contains(body, `{"member_id":`+badID+`,"alarm":"CORRUPT"}`)
	})
	for _, m := range append(ms, bad) {
		if m.cancel == nil {
			continue
		}
		code, body := do(t, http.MethodPut, m.URL+"/v1/kv/hc/refused", "v")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, `"corrupt"`) || !strings.Contains(body, badID) {
			t.Errorf("write through %s under CORRUPT: %d %s, want 503 corrupt naming %s", m.cfg.Name, code, body, badID)
		}
	}
	if code, body := do(t, http.MethodDelete, leader.URL+"/v1/maintenance/alarms?alarm=CORRUPT", ""); code != http.StatusOK || !strings.Contains(body, `"alarms":[]`) {
		t.Fatalf("clear CORRUPT: %d %s", code, body)
	}
	if code, body := doIdempotent(t, http.MethodPut, leader.URL+"/v1/kv/hc/after/clear", "v"); code != http.StatusOK {
		t.Fatalf("put after the alarm was cleared: %d %s", code, body)
	}
}

// checkUntil runs m's hash check until it gives want (skipped checks are
// tried again: the leader may be behind) and returns it.
func checkUntil(t *testing.T, ctx context.Context, m *member, want raftadapter.HashCheckOutcome) raftadapter.HashCheck {
	t.Helper()
	var last raftadapter.HashCheck
	waitFor(t, 15*time.Second, fmt.Sprintf("%s's hash check to give %s", m.cfg.Name, want), func() bool {
		c, err := m.app.node.CheckHash(ctx)
		if err != nil {
			t.Fatalf("%s: hash check: %v", m.cfg.Name, err)
		}
		last = c
		if c.Outcome != raftadapter.HashSkipped && c.Outcome != want {
			t.Fatalf("%s: hash check gave %+v, want %s", m.cfg.Name, c, want)
		}
		return c.Outcome == want
	})
	return last
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
