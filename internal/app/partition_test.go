package app

import (
	"net/http"
	"testing"
	"time"
)

// partition cuts the members in side off from the others, both ways.
func partition(t *testing.T, ms []*member, side ...*member) {
	t.Helper()
	in := map[*member]bool{}
	for _, m := range side {
		in[m] = true
	}
	for _, m := range ms {
		var cut []string
		for _, o := range ms {
			if in[m] != in[o] {
				cut = append(cut, o.cfg.Name)
			}
		}
		if err := m.app.node.Partition(cut); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCluster_PartitionedLeader cuts the leader off from the majority:
// the majority elects a new leader and takes writes; the old leader must
// neither acknowledge a write nor serve a stale linearizable read, and
// after the partition heals it catches up.
func TestCluster_PartitionedLeader(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3)
	mustPut(t, ms[0].URL, "k", "v1")
	li := leaderIndex(t, ms, 10*time.Second)
	old := ms[li]
	var majority []*member
	for i, m := range ms {
		if i != li {
			majority = append(majority, m)
		}
	}
	partition(t, ms, old)
	ni := leaderIndex(t, majority, 10*time.Second)
	rev := mustPut(t, majority[ni].URL, "k", "v2")

	// The old leader cannot confirm its leadership: no stale read, and no
	// acknowledged write, whichever way it answers.
	code, body := do(t, http.MethodGet, old.URL+"/v1/kv/k?raw", "")
	if code == http.StatusOK {
		t.Fatalf("linearizable read on the cut-off old leader answered %q", body)
	}
	if code != http.StatusServiceUnavailable && code != http.StatusGatewayTimeout {
		t.Fatalf("linearizable read on the cut-off old leader: %d %s, want 503 or 504", code, body)
	}
	if code, body := do(t, http.MethodPut, old.URL+"/v1/kv/lost", "x"); code == http.StatusOK {
		t.Fatalf("the cut-off old leader acknowledged a write: %s", body)
	}
	// A serializable read is allowed to be stale, and is.
	if code, body := do(t, http.MethodGet, old.URL+"/v1/kv/k?raw&serializable=true", ""); code != 200 || body != "v1" {
		t.Fatalf("serializable read on the old leader: %d %q, want its stale v1", code, body)
	}

	partition(t, ms) // heal
	waitCaughtUp(t, ms, rev)
	waitReady(t, old.URL, 20*time.Second)
	// The old leader's return may cause one more election: reads are sent
	// again on 503 and 504 then.
	if code, body := doIdempotent(t, http.MethodGet, old.URL+"/v1/kv/k?raw", ""); code != 200 || body != "v2" {
		t.Fatalf("read on the old leader after healing: %d %q, want v2", code, body)
	}
	// The write the old leader took while cut off never reached a majority:
	// its log entry, if any, was replaced by the new leader's.
	if code, body := doIdempotent(t, http.MethodGet, old.URL+"/v1/kv/lost", ""); code != http.StatusNotFound {
		t.Fatalf("a write that never reached a majority exists after healing: %d %s", code, body)
	}
	st, _ := status(t, majority[ni].URL)
	want := hashAt(t, majority[ni].URL, st.Revision)
	waitCaughtUp(t, ms, st.Revision)
	for _, m := range ms {
		if got := hashAt(t, m.URL, st.Revision); got != want {
			t.Fatalf("hash at %d on %s = %x, want %x", st.Revision, m.cfg.Name, got, want)
		}
	}
}
