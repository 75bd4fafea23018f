package app

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/adapters/raft"
)

// TestCluster_MoveLeader: POST /v1/cluster/leader through a follower hands
// leadership to another follower, and answers once it leads (the member
// that answered already names it leader); writes go on. An unknown member
// is 404, a malformed body 400.
func TestCluster_MoveLeader(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3)
	li := leaderIndex(t, ms, 10*time.Second)
	via, target := ms[(li+1)%3], ms[(li+2)%3]
	body := fmt.Sprintf(`{"to":%d}`, raft.MemberID(target.cfg.Name))
	code, resp, _ := retryUnavailable(t, "move leader", func() (int, string) {
		return request(http.MethodPost, via.URL+"/v1/cluster/leader", body)
	})
	if code != http.StatusOK || !strings.Contains(resp, fmt.Sprintf(`"leader":%d`, raft.MemberID(target.cfg.Name))) {
		t.Fatalf("move leader: %d %s", code, resp)
	}
	// The old leader (which ran the transfer) answered once it saw the
	// target lead; every member agrees soon after.
	if st, ok := status(t, ms[li].URL); !ok || st.LeaderName != target.cfg.Name {
		t.Fatalf("the old leader names %q as leader right after the answer, want %s", st.LeaderName, target.cfg.Name)
	}
	if got := leaderIndex(t, ms, 10*time.Second); ms[got] != target {
		t.Fatalf("leader after the move: %s, want %s", ms[got].cfg.Name, target.cfg.Name)
	}
	mustPut(t, ms[li].URL, "after/move", "v")

	// To the leader itself: nothing to do.
	if code, resp := do(t, http.MethodPost, ms[li].URL+"/v1/cluster/leader", fmt.Sprintf(`{"to":%d}`, raft.MemberID(target.cfg.Name))); code != http.StatusOK {
		t.Fatalf("move to the current leader: %d %s", code, resp)
	}
	for _, c := range []struct {
		body, code string
		status     int
	}{
		{`{"to":12345}`, "not_found", http.StatusNotFound},
		{`{}`, "invalid_argument", http.StatusBadRequest},
		{`{"to":"n1"}`, "invalid_argument", http.StatusBadRequest},
	} {
		code, resp, _ := retryUnavailable(t, "move leader", func() (int, string) {
			return request(http.MethodPost, via.URL+"/v1/cluster/leader", c.body)
		})
		if code != c.status || !strings.Contains(resp, `"`+c.code+`"`) {
			t.Errorf("move leader %s: %d %s, want %d %s", c.body, code, resp, c.status, c.code)
		}
	}
}
