package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type statusBody struct {
	Name         string `json:"name"`
	LeaderName   string `json:"leader_name"`
	RaftTerm     uint64 `json:"raft_term"`
	AppliedIndex uint64 `json:"applied_index"`
	Revision     int64  `json:"revision"`
}

func status(t testing.TB, url string) (statusBody, bool) {
	t.Helper()
	resp, err := http.Get(url + "/v1/status")
	if err != nil {
		return statusBody{}, false
	}
	defer resp.Body.Close()
	var st statusBody
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return statusBody{}, false
	}
	return st, true
}

// leaderIndex returns the index in ms of the member all running members
// agree leads, waiting for one.
func leaderIndex(t testing.TB, ms []*member, timeout time.Duration) int {
	t.Helper()
	idx := -1
	waitFor(t, timeout, "an agreed leader", func() bool {
		leader := ""
		for _, m := range ms {
			if m.cancel == nil {
				continue
			}
			st, ok := status(t, m.URL)
			if !ok || st.LeaderName == "" || (leader != "" && st.LeaderName != leader) {
				return false
			}
			leader = st.LeaderName
		}
		for i, m := range ms {
			if m.cfg.Name == leader && m.cancel != nil {
				idx = i
				return true
			}
		}
		return false
	})
	return idx
}

// mustPut writes key and returns the revision of the write.
func mustPut(t testing.TB, url, key, value string) int64 {
	t.Helper()
	code, body := doIdempotent(t, http.MethodPut, url+"/v1/kv/"+key, value)
	if code != 200 {
		t.Fatalf("put %s via %s: %d %s", key, url, code, body)
	}
	var resp struct {
		Header struct {
			Revision int64 `json:"revision"`
		} `json:"header"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil || resp.Header.Revision == 0 {
		t.Fatalf("put %s: no revision in %s", key, body)
	}
	return resp.Header.Revision
}

// mustCreate writes key, which must not exist yet, and returns the
// revision of the write (see tryCreate).
func mustCreate(t testing.TB, url, key, value string) int64 {
	t.Helper()
	rev, err := tryCreate(t, http.DefaultClient, url+"/v1/kv/"+key, value)
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

// tryCreate puts value at keyURL (a /v1/kv/ URL without a query) if the
// key does not exist yet, and returns the revision of the write. Unlike a
// put's, the write is applied once even when it is sent again after a 503
// or 504, for tests that expect one event per write: a write sent again
// after an attempt that was applied answers 412, naming the revision of
// that attempt. It may run on any goroutine.
func tryCreate(t testing.TB, c *http.Client, keyURL, value string) (int64, error) {
	t.Helper()
	target := keyURL + "?if_mod_revision=0"
	attempts := 0
	code, body, _ := retryUnavailable(t, "PUT "+target, func() (int, string) {
		attempts++
		return requestWith(c, http.MethodPut, target, value)
	})
	var resp struct {
		Header struct {
			Revision int64 `json:"revision"`
		} `json:"header"`
		Kv *struct {
			Value       string `json:"value"`
			ModRevision int64  `json:"mod_revision"`
		} `json:"kv"`
	}
	err := json.Unmarshal([]byte(body), &resp)
	switch {
	case err == nil && code == http.StatusOK && resp.Header.Revision != 0:
		return resp.Header.Revision, nil
	case err == nil && code == http.StatusPreconditionFailed && attempts > 1 && resp.Kv != nil && resp.Kv.Value == value:
		t.Logf("PUT %s: an earlier attempt was applied, at revision %d", target, resp.Kv.ModRevision)
		return resp.Kv.ModRevision, nil
	}
	return 0, fmt.Errorf("PUT %s: %d %.300s", target, code, body)
}

// hashAt returns the member's history hash at rev (a serializable read).
func hashAt(t testing.TB, url string, rev int64) uint32 {
	t.Helper()
	code, body := do(t, http.MethodGet, fmt.Sprintf("%s/v1/maintenance/hash?revision=%d&serializable=true", url, rev), "")
	if code != 200 {
		t.Fatalf("hash via %s: %d %s", url, code, body)
	}
	var h struct {
		Hash uint32 `json:"hash"`
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatal(err)
	}
	return h.Hash
}

// waitCaughtUp waits until every running member has applied revision rev.
func waitCaughtUp(t testing.TB, ms []*member, rev int64) {
	t.Helper()
	for _, m := range ms {
		if m.cancel == nil {
			continue
		}
		waitFor(t, 20*time.Second, m.cfg.Name+" to catch up", func() bool {
			st, ok := status(t, m.URL)
			return ok && st.Revision >= rev
		})
	}
}

func TestCluster_Failover(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3)
	for i := 0; i < 30; i++ {
		mustPut(t, ms[i%3].URL, fmt.Sprintf("before/%02d", i), "v")
	}
	li := leaderIndex(t, ms, 10*time.Second)
	old := ms[li]
	term, _ := status(t, old.URL)
	start := time.Now()
	old.stop()
	var rest []*member
	for i, m := range ms {
		if i != li {
			rest = append(rest, m)
		}
	}
	ni := leaderIndex(t, rest, 10*time.Second)
	t.Logf("new leader %s after %v", rest[ni].cfg.Name, time.Since(start))
	if st, _ := status(t, rest[ni].URL); st.RaftTerm <= term.RaftTerm {
		t.Fatalf("new leader's term %d is not above the old %d", st.RaftTerm, term.RaftTerm)
	}
	var last int64
	for i := 0; i < 30; i++ {
		last = max(last, mustPut(t, rest[i%2].URL, fmt.Sprintf("after/%02d", i), "v"))
	}

	// The stopped member restarts from its data dir with the same flags
	// and catches up.
	restarted := startMember(t, old.cfg)
	ms[li] = restarted
	waitReady(t, restarted.URL, 20*time.Second)
	waitCaughtUp(t, ms, last)
	for _, m := range ms {
		code, body := do(t, http.MethodGet, m.URL+"/v1/kv/?prefix=true&count_only=true&serializable=true", "")
		if code != 200 || !strings.Contains(body, `"count":60`) {
			t.Fatalf("%s holds %s, want 60 keys", m.cfg.Name, body)
		}
	}
	want := hashAt(t, ms[0].URL, last)
	for _, m := range ms[1:] {
		if got := hashAt(t, m.URL, last); got != want {
			t.Fatalf("hash at %d: %s has %x, %s has %x", last, ms[0].cfg.Name, want, m.cfg.Name, got)
		}
	}
}

func TestCluster_SnapshotInstall(t *testing.T) {
	t.Parallel()
	peers := make([]Peer, 3)
	ports := make([]int, 3)
	for i := range peers {
		peers[i] = Peer{Name: fmt.Sprintf("s%d", i+1), URL: fmt.Sprintf("http://127.0.0.1:%d", freePort(t))}
		ports[i] = freePort(t)
	}
	ms := make([]*member, 3)
	for i := range ms {
		cfg := testConfig(t, peers[i].Name, t.TempDir(), ports[i], peers)
		cfg.SnapshotCount = 40
		cfg.SnapshotInterval = 50 * time.Millisecond
		ms[i] = startMember(t, cfg)
	}
	for _, m := range ms {
		waitReady(t, m.URL, 20*time.Second)
	}
	li := leaderIndex(t, ms, 10*time.Second)
	lagging := ms[(li+1)%3]
	lagging.stop()
	for i := 0; i < 200; i++ {
		mustPut(t, ms[li].URL, fmt.Sprintf("k/%03d", i), strings.Repeat("x", 100))
	}
	// The leader snapshots and truncates its log past what the lagging
	// member has, so the member can only catch up from a snapshot.
	snapDir := filepath.Join(ms[li].cfg.DataDir, "raft", "snapshots")
	waitFor(t, 20*time.Second, "a leader snapshot", func() bool {
		entries, _ := os.ReadDir(snapDir)
		return len(entries) > 0
	})
	var last int64
	for i := 200; i < 250; i++ {
		last = mustPut(t, ms[li].URL, fmt.Sprintf("k/%03d", i), "y")
	}
	restartAndCompare(t, ms, lagging, li, last, 250)
}

// restartAndCompare starts the stopped member old again in its place in
// ms, waits until every member applied revision last, and checks that it
// holds keys keys under k/ and the leader's (ms[li]) hash at last.
func restartAndCompare(t *testing.T, ms []*member, old *member, li int, last int64, keys int) *member {
	t.Helper()
	restarted := startMember(t, old.cfg)
	for i, m := range ms {
		if m == old {
			ms[i] = restarted
		}
	}
	waitCaughtUp(t, ms, last)
	code, body := do(t, http.MethodGet, restarted.URL+"/v1/kv/k/?prefix=true&count_only=true&serializable=true", "")
	if code != http.StatusOK || !strings.Contains(body, fmt.Sprintf(`"count":%d`, keys)) {
		t.Fatalf("restarted member holds %s, want %d keys", body, keys)
	}
	if a, b := hashAt(t, ms[li].URL, last), hashAt(t, restarted.URL, last); a != b {
		t.Fatalf("hash at %d: leader %x, restarted member %x", last, a, b)
	}
	return restarted
}

func TestCluster_NoQuorum(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3)
	waitCaughtUp(t, ms, mustPut(t, ms[0].URL, "k", "v"))
	ms[1].stop()
	ms[2].stop()
	req, _ := http.NewRequest(http.MethodPut, ms[0].URL+"/v1/kv/k2", strings.NewReader("v"))
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("write without quorum: %d, want 503 or 504", resp.StatusCode)
	}
	if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	t.Logf("write without quorum answered %d after %v", resp.StatusCode, time.Since(start))
	// A serializable read still answers from local state.
	if code, body := do(t, http.MethodGet, ms[0].URL+"/v1/kv/k?serializable=true&raw", ""); code != 200 || body != "v" {
		t.Fatalf("serializable read without quorum: %d %q", code, body)
	}
	// A linearizable one cannot.
	if code, _ := do(t, http.MethodGet, ms[0].URL+"/v1/kv/k", ""); code != 503 && code != 504 {
		t.Fatalf("linearizable read without quorum: %d, want 503 or 504", code)
	}
}

// metricValue scrapes one unlabelled metric from a member.
func metricValue(t testing.TB, url, name string) float64 {
	t.Helper()
	code, body := do(t, http.MethodGet, url+"/metrics", "")
	if code != 200 {
		t.Fatalf("metrics: %d", code)
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

// TestCluster_FollowerReadsShareRounds sends concurrent linearizable reads
// to a follower: they must share read index requests to the leader rather
// than make one each, and every one must see a write acknowledged before.
func TestCluster_FollowerReadsShareRounds(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3)
	li := leaderIndex(t, ms, 10*time.Second)
	follower := ms[(li+1)%3]
	mustPut(t, ms[li].URL, "k", "v")
	before := metricValue(t, follower.URL, "cairn_read_index_remote_rounds_total")
	const readers = 100
	errc := make(chan error, readers)
	for i := 0; i < readers; i++ {
		go func() {
			// Sent again on 503 and 504 should the leader change under load,
			// as a client would.
			code, body, _ := retryUnavailable(t, "read", func() (int, string) {
				return request(http.MethodGet, follower.URL+"/v1/kv/k?raw", "")
			})
			if code != 200 || body != "v" {
				errc <- fmt.Errorf("read: %d %q", code, body)
				return
			}
			errc <- nil
		}()
	}
	for i := 0; i < readers; i++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	rounds := metricValue(t, follower.URL, "cairn_read_index_remote_rounds_total") - before
	t.Logf("%d concurrent reads on a follower took %v read index requests to the leader", readers, rounds)
	if rounds >= readers {
		t.Fatalf("%v read index requests for %d reads: they are not shared", rounds, readers)
	}
}
