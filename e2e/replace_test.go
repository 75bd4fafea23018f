package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCluster_ReplaceMember is the replacement recipe of the README, end to
// end, on processes under a steady writer: a member dies; it is removed; a
// new member with an empty data dir joins as a learner (--join
// --join-as-learner) and catches up from a Raft snapshot, the log having
// been compacted past its start; it is promoted once caught up. No
// acknowledged write is lost and the hashes of the three members are equal.
// Then the leader is removed under the same load: it hands leadership over
// first, and no write waits longer than an election timeout (500 ms here).
func TestCluster_ReplaceMember(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3, "--snapshot-count", "200", "--snapshot-interval", "100ms")
	leader := c.leader()
	survivor, dead := c.others(leader)[0], c.others(leader)[1]

	log := newWriteLog()
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, stopWriters := context.WithCancel(context.Background())
	defer stopWriters()
	for _, m := range []*member{leader, survivor} {
		wg.Go(func() { log.write(ctx, t, m, "w/"+m.name+"/") })
	}
	waitAcked := func(n int, what string) {
		t.Helper()
		since := time.Now()
		waitFor(t, 30*time.Second, fmt.Sprintf("%d writes acknowledged %s", n, what), func() error {
			if got, _ := log.ackedSince(since); got < n {
				return fmt.Errorf("%d acknowledged", got)
			}
			return nil
		})
	}
	waitAcked(100, "before the member dies")
	dead.kill()
	waitAcked(50, "with a member dead")

	// 1. Remove the dead member.
	removeStart := time.Now()
	r := mustMemberCall(t, survivor, http.MethodDelete, dead.name, "")
	removed := time.Now()
	t.Logf("removed %s in %v: %s", dead.name, removed.Sub(removeStart).Round(time.Millisecond), r.body)
	if strings.Contains(string(r.body), `"name":"`+dead.name+`"`) {
		t.Fatalf("%s is still listed after its removal: %s", dead.name, r.body)
	}

	// The log has been compacted well past its start: a new member can only
	// catch up from a snapshot.
	snapIndex := waitSnapshot(t, leader, 1000)
	t.Logf("the leader's latest snapshot is at index %d (200 entries kept after it)", snapIndex)

	// 2. A new member with an empty data dir joins as a learner.
	n4 := newMember(t, c.hc, "n4", freePort(t), nil)
	n4.dataDir = filepath.Join(t.TempDir(), "n4")
	n4.args = []string{
		"--name", "n4", "--data-dir", n4.dataDir,
		"--listen-client-urls", n4.clientURL,
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", freePort(t)),
		"--join", survivor.clientURL, "--join-as-learner",
		"--log-level", logLevel(), "--log-format", "json",
		"--election-timeout", "500", "--heartbeat-interval", "50",
		"--snapshot-count", "200", "--snapshot-interval", "100ms",
	}
	n4.start()
	waitFor(t, 30*time.Second, "n4 to be listed as a learner", func() error {
		ms, err := members(survivor)
		if err != nil {
			return err
		}
		if m, ok := ms["n4"]; !ok || !m.IsLearner {
			return fmt.Errorf("members: %v", ms)
		}
		return nil
	})

	// 3. Promote it once it has caught up: 412 until then.
	promoted := 0
	waitFor(t, 60*time.Second, "n4's promotion", func() error {
		r, err := n4.memberCall(http.MethodPost, "n4", "/promote")
		switch {
		case err != nil:
			return err
		case r.status == http.StatusPreconditionFailed:
			return fmt.Errorf("not yet: %v", r)
		case r.status != http.StatusOK:
			return fmt.Errorf("promote: %v", r)
		}
		promoted++
		return nil
	})
	ms, err := members(leader)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := ms["n4"]; !ok || m.IsLearner || len(ms) != 3 {
		t.Fatalf("members after the promotion: %v", ms)
	}
	waitAcked(50, "with n4 a voter")

	// 4. Remove the leader under the same load: the writes through the
	// survivor must not stall.
	t0 := time.Now()
	mustMemberCall(t, survivor, http.MethodDelete, leader.name, "")
	took := time.Since(t0)
	waitAcked(50, "after the leader's removal")
	stopWriters()
	wg.Wait()
	gap, at := log.longestWait(t0, time.Now())
	t.Logf("leader %s removed through %s in %v; the longest wait of a write sent while it was removed: %v, from %v after the call",
		leader.name, survivor.name, took.Round(time.Millisecond), gap.Round(time.Millisecond), at.Sub(t0).Round(time.Millisecond))
	if gap >= 500*time.Millisecond {
		t.Errorf("a write waited %v while the leader was removed, want under the election timeout (500ms)", gap)
	}

	// Every acknowledged write is on every member of the new cluster, and
	// the old leader, removed, has all of them too up to its removal.
	final := []*member{survivor, n4}
	rev := c.waitConverged(20*time.Second, final...)
	log.mu.Lock()
	defer log.mu.Unlock()
	t.Logf("writes: %d acknowledged, %d unknown %v; survivor and n4 at revision %d", len(log.acked), len(log.unknown), log.failures, rev)
	for _, m := range final {
		got, err := m.listPrefix(context.Background(), "w/", "")
		if err != nil {
			t.Fatal(err)
		}
		checkWrites(t, m.name, got, log.acked, log.unknown)
	}
	checkHashes(t, final, rev)
	// The removed leader applied everything up to its removal: its hash,
	// read from its own store (it has no leader to ask), agrees at its own
	// revision.
	lst, err := leader.status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var old hashJSON
	if err := leader.getJSON(context.Background(), fmt.Sprintf("/v1/maintenance/hash?revision=%d&serializable=true", lst.Revision), &old); err != nil {
		t.Fatal(err)
	}
	if h, err := survivor.hash(lst.Revision); err != nil || h.Hash != old.Hash {
		t.Errorf("hash at revision %d: removed leader %d, survivor %d (%v)", lst.Revision, old.Hash, h.Hash, err)
	}
}

// memberCall sends a membership call (DELETE the member, or POST
// suffix "/promote") about the member called name to m.
func (m *member) memberCall(method, name, suffix string) (reply, error) {
	ms, err := members(m)
	if err != nil {
		return reply{}, err
	}
	target, ok := ms[name]
	if !ok {
		return reply{}, fmt.Errorf("%s does not list %s: %v", m.name, name, ms)
	}
	return m.call(method, "/v1/cluster/members/"+strconv.FormatUint(target.ID, 10)+suffix, nil)
}

func mustMemberCall(t *testing.T, m *member, method, name, suffix string) reply {
	t.Helper()
	var r reply
	waitFor(t, 20*time.Second, fmt.Sprintf("%s %s%s through %s", method, name, suffix, m.name), func() error {
		var err error
		if r, err = m.memberCall(method, name, suffix); err != nil {
			return err
		}
		if r.status != http.StatusOK {
			if r.status == http.StatusServiceUnavailable || r.status == http.StatusGatewayTimeout {
				return fmt.Errorf("%v", r)
			}
			t.Fatalf("%s %s%s through %s: %v", method, name, suffix, m.name, r)
		}
		return nil
	})
	return r
}

type memberInfo struct {
	ID        uint64 `json:"id"`
	Name      string `json:"name"`
	IsLearner bool   `json:"is_learner"`
}

// members returns the members m lists, by name.
func members(m *member) (map[string]memberInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out struct {
		Members []memberInfo `json:"members"`
	}
	if err := m.getJSON(ctx, "/v1/cluster/members", &out); err != nil {
		return nil, err
	}
	ms := map[string]memberInfo{}
	for _, x := range out.Members {
		ms[x.Name] = x
	}
	return ms, nil
}

// waitSnapshot waits until m has a Raft snapshot at an index above min,
// and returns that index.
func waitSnapshot(t *testing.T, m *member, min uint64) uint64 {
	t.Helper()
	var index uint64
	waitFor(t, 60*time.Second, fmt.Sprintf("a snapshot of %s above index %d", m.name, min), func() error {
		dirs, err := os.ReadDir(filepath.Join(m.dataDir, "raft", "snapshots"))
		if err != nil {
			return err
		}
		var names []string
		for _, d := range dirs {
			names = append(names, d.Name())
		}
		sort.Strings(names)
		for _, n := range names {
			data, err := os.ReadFile(filepath.Join(m.dataDir, "raft", "snapshots", n, "meta.json"))
			if err != nil {
				continue // being written
			}
			var meta struct{ Index uint64 }
			if json.Unmarshal(data, &meta) == nil && meta.Index > index {
				index = meta.Index
			}
		}
		if index <= min {
			return fmt.Errorf("latest snapshot at index %d", index)
		}
		return nil
	})
	return index
}

// longestWait returns the longest time an acknowledged write sent between
// from and to waited for its answer, or, if longer, the longest time
// between two answers in that window, and when the wait began.
func (l *writeLog) longestWait(from, to time.Time) (time.Duration, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var answers []time.Time
	var longest time.Duration
	var at time.Time
	for _, a := range l.acks {
		if a.sent.Before(from) || a.sent.After(to) {
			continue
		}
		answers = append(answers, a.answered)
		if d := a.answered.Sub(a.sent); d > longest {
			longest, at = d, a.sent
		}
	}
	sort.Slice(answers, func(i, j int) bool { return answers[i].Before(answers[j]) })
	for i := 1; i < len(answers); i++ {
		if d := answers[i].Sub(answers[i-1]); d > longest {
			longest, at = d, answers[i-1]
		}
	}
	return longest, at
}
