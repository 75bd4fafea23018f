package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/adapters/raft"
)

// memberURL is the URL of a member's membership call on the API at url.
func memberURL(url, name, suffix string) string {
	return fmt.Sprintf("%s/v1/cluster/members/%d%s", url, raft.MemberID(name), suffix)
}

// restart starts m again on its data dir, after stop.
func (m *member) restart(t *testing.T) *member {
	t.Helper()
	cfg := m.cfg
	cfg.InitialClusterState = "existing"
	return startMember(t, cfg)
}

// readyzSays waits until the member at url answers /readyz with a body
// that contains want.
func readyzSays(t *testing.T, url, want string, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, url+"/readyz to say "+want, func() bool {
		_, body := request(http.MethodGet, url+"/readyz", "")
		return strings.Contains(body, want)
	})
}

// TestCluster_Learner: a learner added through the API replicates and
// serves serializable reads, forwards writes, counts for no quorum (its
// one voter commits alone while it is down), cannot be promoted while it
// does not answer, and is promoted once it has caught up.
func TestCluster_Learner(t *testing.T) {
	t.Parallel()
	peers := []Peer{
		{Name: "n1", URL: fmt.Sprintf("http://127.0.0.1:%d", freePort(t))},
		{Name: "n2", URL: fmt.Sprintf("http://127.0.0.1:%d", freePort(t))},
	}
	n1 := startMember(t, testConfig(t, "n1", t.TempDir(), freePort(t), peers[:1]))
	waitReady(t, n1.URL, 20*time.Second)
	for i := range 50 {
		mustPut(t, n1.URL, fmt.Sprintf("before/%02d", i), "v")
	}
	// The learner is added before it is started: no quorum waits for it.
	body := fmt.Sprintf(`{"name":"n2","peer_addr":%q,"learner":true}`, peers[1].URL)
	if code, resp := do(t, http.MethodPost, n1.URL+"/v1/cluster/members", body); code != http.StatusCreated || !strings.Contains(resp, `"is_learner":true`) {
		t.Fatalf("add learner: %d %s", code, resp)
	}
	mustPut(t, n1.URL, "while/learner/down", "v")
	code, resp := do(t, http.MethodPost, memberURL(n1.URL, "n2", "/promote"), "")
	if code != http.StatusPreconditionFailed || !strings.Contains(resp, "does not answer") {
		t.Fatalf("promote a learner that is not started: %d %s, want 412 saying it does not answer", code, resp)
	}

	cfg := testConfig(t, "n2", t.TempDir(), freePort(t), peers)
	cfg.InitialClusterState = "existing"
	n2 := startMember(t, cfg)
	waitReady(t, n2.URL, 20*time.Second)
	waitFor(t, 10*time.Second, "the learner to apply what was written", func() bool {
		code, body := do(t, http.MethodGet, n2.URL+"/v1/kv/while/learner/down?serializable=true", "")
		return code == http.StatusOK && strings.Contains(body, `"key"`)
	})
	if st, ok := statusOf(t, n2.URL); !ok || !st.IsLearner {
		t.Fatalf("n2's status: %+v, want is_learner", st)
	}
	mustPut(t, n2.URL, "via/learner", "v") // forwarded to the leader
	if code, body := do(t, http.MethodGet, n2.URL+"/v1/kv/via/learner", ""); code != http.StatusOK || !strings.Contains(body, `"key"`) {
		t.Fatalf("linearizable read on the learner: %d %s", code, body)
	}

	// Down, the learner costs the voter nothing.
	n2.stop()
	mustPut(t, n1.URL, "learner/down/again", "v")
	if st, ok := statusOf(t, n1.URL); !ok || st.LeaderName != "n1" {
		t.Fatalf("n1 status with the learner down: %+v", st)
	}

	n2 = n2.restart(t)
	waitReady(t, n2.URL, 20*time.Second)
	code, resp, _ = retryUnavailable(t, "promote", func() (int, string) {
		return request(http.MethodPost, memberURL(n2.URL, "n2", "/promote"), "")
	})
	if code != http.StatusOK || strings.Contains(resp, `"is_learner":true`) {
		t.Fatalf("promote a learner that caught up, through itself: %d %s", code, resp)
	}
	waitFor(t, 10*time.Second, "n2 to see itself a voter", func() bool {
		st, ok := statusOf(t, n2.URL)
		return ok && !st.IsLearner
	})
	// A voter now: promoting again changes nothing; n1 alone is no quorum.
	if code, resp := do(t, http.MethodPost, memberURL(n1.URL, "n2", "/promote"), ""); code != http.StatusOK {
		t.Fatalf("promote a voter: %d %s", code, resp)
	}
	mustPut(t, n1.URL, "two/voters", "v")
}

// TestCluster_RemoveMember: the strict check refuses to remove a live
// member while another is down, and lets the one that is down go; the
// leader, removed through a follower, hands over first; the last voter
// cannot be removed; and removed members, whether they saw their removal
// or come back from before it, say so and do not disturb the leader.
func TestCluster_RemoveMember(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3)
	li := leaderIndex(t, ms, 10*time.Second)
	leader, f1, f2 := ms[li], ms[(li+1)%3], ms[(li+2)%3]
	mustPut(t, leader.URL, "k", "v")

	f2.stop()
	code, resp, _ := retryUnavailable(t, "remove", func() (int, string) {
		return request(http.MethodDelete, memberURL(f1.URL, f1.cfg.Name, ""), "")
	})
	if code != http.StatusConflict || !strings.Contains(resp, "without quorum") || !strings.Contains(resp, f2.cfg.Name) {
		t.Fatalf("remove a live member while another is down: %d %s, want 409 naming %s", code, resp, f2.cfg.Name)
	}
	code, resp, _ = retryUnavailable(t, "remove", func() (int, string) {
		return request(http.MethodDelete, memberURL(f1.URL, f2.cfg.Name, ""), "")
	})
	if code != http.StatusOK || strings.Contains(resp, `"name":"`+f2.cfg.Name+`"`) {
		t.Fatalf("remove the member that is down: %d %s", code, resp)
	}
	if code, resp := do(t, http.MethodDelete, memberURL(f1.URL, f2.cfg.Name, ""), ""); code != http.StatusNotFound {
		t.Fatalf("remove it again: %d %s, want 404", code, resp)
	}

	// The leader, through the follower: it hands over, then goes.
	code, resp, _ = retryUnavailable(t, "remove the leader", func() (int, string) {
		return request(http.MethodDelete, memberURL(f1.URL, leader.cfg.Name, ""), "")
	})
	if code != http.StatusOK || strings.Contains(resp, `"name":"`+leader.cfg.Name+`"`) {
		t.Fatalf("remove the leader: %d %s", code, resp)
	}
	mustPut(t, f1.URL, "after/removals", "v")
	if st, ok := statusOf(t, f1.URL); !ok || st.LeaderName != f1.cfg.Name {
		t.Fatalf("the member left: %+v, want it to lead", st)
	}
	code, resp = do(t, http.MethodDelete, memberURL(f1.URL, f1.cfg.Name, ""), "")
	if code != http.StatusConflict || !strings.Contains(resp, "only voter") {
		t.Fatalf("remove the last voter: %d %s", code, resp)
	}

	// The old leader saw nothing of its removal (replication to it stopped
	// first); the member that was down comes back with the old
	// configuration. Both learn from f1 that they are out, and f1 keeps
	// its term: their pre-votes are refused.
	term := mustStatus(t, f1.URL).RaftTerm
	f2 = f2.restart(t)
	readyzSays(t, leader.URL, "removed from the cluster", 20*time.Second)
	readyzSays(t, f2.URL, "removed from the cluster", 20*time.Second)
	if st := mustStatus(t, f1.URL); st.RaftTerm != term || st.LeaderName != f1.cfg.Name {
		t.Fatalf("f1 after the removed members came back: term %d leader %q, want term %d and itself", st.RaftTerm, st.LeaderName, term)
	}
	mustPut(t, f1.URL, "after/return", "v")
}

// statusOf reads a member's status, with is_learner.
func statusOf(t testing.TB, url string) (memberStatus, bool) {
	t.Helper()
	var st memberStatus
	code, body := request(http.MethodGet, url+"/v1/status", "")
	if code != http.StatusOK || json.Unmarshal([]byte(body), &st) != nil {
		return st, false
	}
	return st, true
}

func mustStatus(t testing.TB, url string) memberStatus {
	t.Helper()
	st, ok := statusOf(t, url)
	if !ok {
		t.Fatalf("status of %s", url)
	}
	return st
}

type memberStatus struct {
	LeaderName string `json:"leader_name"`
	RaftTerm   uint64 `json:"raft_term"`
	IsLearner  bool   `json:"is_learner"`
}
