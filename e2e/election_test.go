package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// TestElection_CandidateDies: three candidates, each with its own
// lease kept alive; the leader's process dies (its keepalives stop) and the
// next candidate leads within the TTL plus a little; it resigns and the
// third leads. An observer sees every change of leader and value, in order.
func TestElection_CandidateDies(t *testing.T) {
	const ttl = 3
	const name = "election/e"
	c := newCluster(t, 3, lockArgs...)
	obs, err := openSSE(streamClient(c), c.members[2], "/v1/elections/"+name+"/observe", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer obs.close()

	cands := make([]*lockClient, 3)
	for i := range cands {
		ms := []*member{c.members[i], c.members[(i+1)%3], c.members[(i+2)%3]}
		cands[i] = newLockClient(t, fmt.Sprintf("candidate %d", i), ttl, 500*time.Millisecond, ms...)
	}
	type campaigned struct {
		leader electionLeaderJSON
		r      reply
		err    error
		at     time.Time
	}
	campaign := func(i int) <-chan campaigned {
		ch := make(chan campaigned, 1)
		go func() {
			body := fmt.Sprintf(`{"value": "v%d", "lease": %d}`, i, cands[i].lease)
			r, err := c.members[i].doWith(context.Background(), cands[i].hc, http.MethodPost, "/v1/elections/"+name+"/campaign", []byte(body))
			out := campaigned{r: r, err: err, at: time.Now()}
			if err == nil && r.status == http.StatusOK {
				var resp struct {
					Leader electionLeaderJSON `json:"leader"`
				}
				out.err = json.Unmarshal(r.body, &resp)
				out.leader = resp.Leader
			}
			ch <- out
		}()
		return ch
	}
	won := func(ch <-chan campaigned, i int, timeout time.Duration) campaigned {
		t.Helper()
		select {
		case o := <-ch:
			if o.err != nil || o.r.status != http.StatusOK {
				t.Fatalf("candidate %d: campaign: %v %v", i, o.r, o.err)
			}
			if o.leader.Key != lockKey(name, cands[i].lease) || o.leader.Lease != cands[i].lease || o.leader.Rev <= 0 {
				t.Fatalf("candidate %d won as %+v", i, o.leader)
			}
			return o
		case <-time.After(timeout):
			t.Fatalf("candidate %d did not win within %v", i, timeout)
			return campaigned{}
		}
	}
	candidates := func(n int) {
		t.Helper()
		waitFor(t, 5*time.Second, fmt.Sprintf("%d candidates", n), func() error {
			got, err := c.members[0].listPrefix(context.Background(), name+"/", "")
			if err != nil {
				return err
			}
			if len(got) != n {
				return fmt.Errorf("%d candidates: %v", len(got), got)
			}
			return nil
		})
	}

	c0 := won(campaign(0), 0, 5*time.Second)
	ch1 := campaign(1)
	candidates(2)
	ch2 := campaign(2)
	candidates(3)

	// The leader proclaims a new value through another member.
	proclaim := func(m *member, l electionLeaderJSON, value string) reply {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"leader": l, "value": value})
		r, err := m.call(http.MethodPost, "/v1/elections/"+name+"/proclaim", body)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := proclaim(c.members[1], c0.leader, "v0b"); r.status != http.StatusOK {
		t.Fatalf("proclaim by the leader: %v", r)
	}
	// A candidate that does not lead cannot proclaim or resign.
	kv1, err := c.members[0].getKV(context.Background(), []byte(lockKey(name, cands[1].lease)), "")
	if err != nil {
		t.Fatal(err)
	}
	not := electionLeaderJSON{Name: name, Key: lockKey(name, cands[1].lease), Rev: kv1.CreateRevision, Lease: cands[1].lease}
	if r := proclaim(c.members[2], not, "nope"); r.status != http.StatusPreconditionFailed || r.errorCode() != "precondition_failed" {
		t.Fatalf("proclaim by a candidate that does not lead: %v, want 412", r)
	}
	resignBody, _ := json.Marshal(map[string]any{"leader": not})
	if r, err := c.members[0].call(http.MethodPost, "/v1/elections/"+name+"/resign", resignBody); err != nil || r.status != http.StatusPreconditionFailed {
		t.Fatalf("resign by a candidate that does not lead: %v %v, want 412", r, err)
	}

	// The leader's process dies.
	last := cands[0].halt()
	c1 := won(ch1, 1, ttl*time.Second+5*time.Second)
	checkTakeover(t, "candidate 1 leads", last, c1.at, ttl)
	select {
	case o := <-ch2:
		t.Fatalf("candidate 2 won while candidate 1 leads: %v %v", o.r, o.err)
	default:
	}

	// Candidate 1 resigns: candidate 2 leads.
	resignBody, _ = json.Marshal(map[string]any{"leader": c1.leader})
	if r, err := c.members[2].call(http.MethodPost, "/v1/elections/"+name+"/resign", resignBody); err != nil || r.status != http.StatusOK {
		t.Fatalf("resign by the leader: %v %v", r, err)
	}
	c2 := won(ch2, 2, 5*time.Second)
	var cur electionKVJSON
	if err := c.members[0].getJSON(context.Background(), "/v1/elections/"+name, &cur); err != nil {
		t.Fatal(err)
	}
	if k, _ := cur.Kv.key(); string(k) != c2.leader.Key {
		t.Fatalf("GET the election: leader %q, want %q", k, c2.leader.Key)
	}

	// The observer saw every change, in order.
	want := []string{
		c0.leader.Key + "=v0", c0.leader.Key + "=v0b", c1.leader.Key + "=v1", c2.leader.Key + "=v2",
	}
	var got []string
	var prevRev int64
	for len(got) < len(want) {
		msg, err := obs.next(streamIdle, time.Now().Add(10*time.Second))
		if err != nil {
			t.Fatalf("observer after %q: %v", got, err)
		}
		if msg.event != "leader" {
			t.Fatalf("observer: event %q: %s", msg.event, msg.data)
		}
		var kv electionKVJSON
		if err := json.Unmarshal([]byte(msg.data), &kv); err != nil {
			t.Fatalf("observer: %v in %s", err, msg.data)
		}
		k, _ := kv.Kv.key()
		v, _ := kv.Kv.value()
		rev, err := strconv.ParseInt(msg.id, 10, 64)
		if err != nil || rev <= prevRev {
			t.Fatalf("observer: id %q after revision %d", msg.id, prevRev)
		}
		prevRev = rev
		got = append(got, string(k)+"="+string(v))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("observed %q, want %q", got, want)
	}
}

type electionLeaderJSON struct {
	Name  string `json:"name"`
	Key   string `json:"key"`
	Rev   int64  `json:"rev"`
	Lease int64  `json:"lease"`
}

type electionKVJSON struct {
	Header headerJSON `json:"header"`
	Kv     kvJSON     `json:"kv"`
}
