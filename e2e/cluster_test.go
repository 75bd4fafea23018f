package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

// The two heavy scenarios (failover, CAS counter) run alone; the light ones
// run in parallel after them. Two cores cannot take three clusters at full
// load without spurious elections.

// TestSingleMember_KillKeepsAcknowledgedWrites starts a member with nothing
// but a data directory and its ports, writes, kills it with SIGKILL and checks
// that every acknowledged write is there after a restart with the same
// command line.
func TestSingleMember_KillKeepsAcknowledgedWrites(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	hc := newHTTPClient(t)
	clientPort, peerPort := freePort(t), freePort(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	m := newMember(t, hc, "single", clientPort, []string{
		"--data-dir", dataDir,
		"--listen-client-urls", fmt.Sprintf("http://127.0.0.1:%d", clientPort),
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peerPort),
	})
	m.start()
	t.Logf("ready in %v", m.waitReady(15*time.Second))

	want := map[string]string{}
	for i := range 25 {
		key := fmt.Sprintf("single/%02d", i)
		want[key] = "value " + strconv.Itoa(i)
		m.mustPut([]byte(key), []byte(want[key]))
	}
	// Overwrite a few: the last acknowledged value is the one that must survive.
	for i := range 5 {
		key := fmt.Sprintf("single/%02d", i)
		want[key] = "second value " + strconv.Itoa(i)
		m.mustPut([]byte(key), []byte(want[key]))
	}
	before, err := m.status(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	m.kill()
	m.start()
	t.Logf("ready again after kill -9 in %v", m.waitReady(15*time.Second))

	after, err := m.status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if after.Revision != before.Revision {
		t.Errorf("revision after the restart = %d, want %d (the one before the kill)", after.Revision, before.Revision)
	}
	for _, query := range []string{"", "&serializable=true"} {
		got, err := m.listPrefix(context.Background(), "single/", query)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, want) {
			t.Errorf("after kill -9 and restart (query %q):\n got %v\nwant %v", query, got, want)
		}
	}
	m.mustPut([]byte("single/after"), []byte("still writable"))
	if st, err := m.status(context.Background()); err != nil || st.Revision != before.Revision+1 {
		t.Errorf("revision after one more put = %d (%v), want %d", st.Revision, err, before.Revision+1)
	}
	t.Logf("test took %v", time.Since(begin))
}

// writeLog records the writes of the writer goroutines and their outcomes.
type writeLog struct {
	mu       sync.Mutex
	acked    map[string]string // answered 200: must survive
	unknown  map[string]string // 5xx or no answer: may or may not be applied
	acks     []ack
	failures map[string]int // outcome → count, for the log
}

func newWriteLog() *writeLog {
	return &writeLog{acked: map[string]string{}, unknown: map[string]string{}, failures: map[string]int{}}
}

// ack is when an acknowledged write was sent and when its answer came.
type ack struct{ sent, answered time.Time }

// ackedSince returns how many writes sent after t0 were acknowledged and
// when the first answer to them came.
func (l *writeLog) ackedSince(t0 time.Time) (n int, first time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range l.acks {
		if a.sent.After(t0) {
			if n == 0 || a.answered.Before(first) {
				first = a.answered
			}
			n++
		}
	}
	return n, first
}

// write keeps writing distinct keys under prefix through m until ctx ends.
// Only a 4xx answer is an error: 5xx and transport errors are outcomes a
// client must expect during a failover, and are recorded as unknown.
func (l *writeLog) write(ctx context.Context, t *testing.T, m *member, prefix string) {
	for i := 0; ctx.Err() == nil; i++ {
		key := fmt.Sprintf("%s%05d", prefix, i)
		val := "value of " + key
		rctx, cancel := context.WithTimeout(ctx, 4*time.Second)
		sent := time.Now()
		r, err := m.put(rctx, []byte(key), []byte(val), "")
		cancel()
		l.mu.Lock()
		switch {
		case err == nil && r.status == http.StatusOK:
			l.acked[key] = val
			l.acks = append(l.acks, ack{sent: sent, answered: time.Now()})
		case err != nil || r.status >= 500:
			l.unknown[key] = val
			var outcome string
			var ue *url.Error
			switch {
			case ctx.Err() != nil:
				outcome = "cancelled when the writers stopped"
			case errors.As(err, &ue):
				outcome = "no answer: " + ue.Err.Error()
			case err != nil:
				outcome = "no answer: " + err.Error()
			default:
				outcome = strconv.Itoa(r.status) + " " + r.errorCode()
			}
			l.failures[outcome]++
		default:
			t.Errorf("%s: PUT %s: %v", m.name, key, r)
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		if err != nil || r.status != http.StatusOK {
			select { // do not spin while there is no leader
			case <-ctx.Done():
			case <-time.After(25 * time.Millisecond):
			}
		}
	}
}

// TestCluster_FailoverKeepsAcknowledgedWrites checks that a write through any
// member is visible at once through every member, then kills the leader with
// SIGKILL while writers keep writing through the two others, and checks that
// a new leader takes over within seconds, that the killed member catches up
// after a restart, and that no acknowledged write is lost on any member.
func TestCluster_FailoverKeepsAcknowledgedWrites(t *testing.T) {
	begin := time.Now()
	c := newCluster(t, 3)
	t.Logf("3 members ready in %v", time.Since(begin))
	failoverUnderWrites(t, c, failoverRun{prefix: "", writes: 30, maxFailover: 5 * time.Second,
		queries: []string{"", "&serializable=true"}, hashAtHalf: true})
	t.Logf("test took %v", time.Since(begin))
}

// failoverRun says what failoverUnderWrites checks.
type failoverRun struct {
	prefix      string        // of every key written
	writes      int           // acknowledged after the kill, and again after the restart
	maxFailover time.Duration // from the kill to a new leader (0: not checked)
	queries     []string      // read modes of the final check ("" linearizable)
	hashAtHalf  bool          // compare the hashes at half the final revision too
}

// failoverUnderWrites is the failover scenario: a write through any member
// is visible at once through every member; then clients write through the
// followers while the leader is killed (kill -9) and later restarted; every
// acknowledged write must be on every member, and the members must
// converge to the same revision and hash.
func failoverUnderWrites(t *testing.T, c *cluster, run failoverRun) {
	t.Helper()
	begin := time.Now()
	for _, w := range c.members {
		key, val := []byte(run.prefix+"visible/"+w.name), []byte("written through "+w.name)
		w.mustPut(key, val)
		for _, r := range c.members {
			kv, err := r.getKV(context.Background(), key, "")
			if err != nil {
				t.Fatalf("read through %s right after the write through %s: %v", r.name, w.name, err)
			}
			if got, _ := kv.value(); !bytes.Equal(got, val) {
				t.Errorf("read %q through %s right after the write through %s: got %q, want %q", key, r.name, w.name, got, val)
			}
		}
	}

	leader := c.leader()
	survivors := c.others(leader)
	log := newWriteLog()
	var wg sync.WaitGroup
	defer wg.Wait() // after stopWriters: no writer may outlive the test
	ctx, stopWriters := context.WithCancel(context.Background())
	defer stopWriters()
	for _, s := range survivors {
		wg.Go(func() { log.write(ctx, t, s, run.prefix+"w/"+s.name+"/") })
	}
	acked := func(what string, since time.Time, n int) {
		t.Helper()
		waitFor(t, 10*time.Second, fmt.Sprintf("%d writes acknowledged %s", n, what), func() error {
			if got, _ := log.ackedSince(since); got < n {
				return fmt.Errorf("%d writes acknowledged", got)
			}
			return nil
		})
	}
	acked("before the kill", begin, 20)

	killedAt := time.Now()
	leader.kill()
	waitFor(t, 10*time.Second, "a new leader", func() error {
		name := ""
		for _, s := range survivors {
			st, err := s.status(context.Background())
			if err != nil {
				return err
			}
			if st.LeaderName == "" || st.LeaderName == leader.name {
				return fmt.Errorf("%s: leader is %q", s.name, st.LeaderName)
			}
			if name != "" && st.LeaderName != name {
				return fmt.Errorf("the survivors follow %s and %s", name, st.LeaderName)
			}
			name = st.LeaderName
		}
		return nil
	})
	failover := time.Since(killedAt)
	t.Logf("leader %s killed; a new leader was elected %v later", leader.name, failover.Round(time.Millisecond))
	if run.maxFailover > 0 && failover > run.maxFailover {
		t.Errorf("failover took %v, want under %v with a 500ms election timeout", failover, run.maxFailover)
	}
	acked("after the kill", killedAt, run.writes)
	_, firstAck := log.ackedSince(killedAt)
	t.Logf("the first write sent after the kill was acknowledged %v after the kill", firstAck.Sub(killedAt).Round(time.Millisecond))

	restartedAt := time.Now()
	leader.start()
	t.Logf("%s ready %v after its restart", leader.name, leader.waitReady(15*time.Second).Round(time.Millisecond))
	acked("after the restart", restartedAt, run.writes)
	stopWriters()
	wg.Wait()

	rev := c.waitConverged(10 * time.Second)
	log.mu.Lock()
	defer log.mu.Unlock()
	t.Logf("writes: %d acknowledged, %d unknown %v; every member at revision %d",
		len(log.acked), len(log.unknown), log.failures, rev)
	for _, m := range c.members {
		for _, query := range run.queries {
			got, err := m.listPrefix(context.Background(), run.prefix+"w/", query)
			if err != nil {
				t.Fatal(err)
			}
			checkWrites(t, m.name+" (query "+strconv.Quote(query)+")", got, log.acked, log.unknown)
		}
	}
	if run.hashAtHalf {
		checkHashes(t, c.members, rev/2, rev)
	} else {
		checkHashes(t, c.members, rev)
	}
}

// checkWrites checks that got holds every acknowledged write with its value,
// and nothing else but writes whose outcome is unknown.
func checkWrites(t *testing.T, who string, got, acked, unknown map[string]string) {
	t.Helper()
	lost := 0
	for k, v := range acked {
		if got[k] != v {
			lost++
			if lost <= 10 {
				t.Errorf("%s: acknowledged write %q = %q is lost (got %q)", who, k, v, got[k])
			}
		}
	}
	if lost > 0 {
		t.Errorf("%s: %d of %d acknowledged writes lost", who, lost, len(acked))
	}
	for k, v := range got {
		if _, ok := acked[k]; ok {
			continue
		}
		if want, ok := unknown[k]; !ok || v != want {
			t.Errorf("%s: %q = %q was never written", who, k, v)
		}
	}
}

// checkHashes checks that every member has the same history hash at each
// revision.
func checkHashes(t *testing.T, ms []*member, revs ...int64) {
	t.Helper()
	for _, rev := range revs {
		var first hashJSON
		for i, m := range ms {
			h, err := m.hash(rev)
			if err != nil {
				t.Fatal(err)
			}
			if h.Revision != rev {
				t.Errorf("%s: hash at revision %d answered for revision %d", m.name, rev, h.Revision)
			}
			if i == 0 {
				first = h
				continue
			}
			if h.Hash != first.Hash || h.CompactRevision != first.CompactRevision {
				t.Errorf("hash at revision %d: %s has %d (compacted at %d), %s has %d (compacted at %d)",
					rev, ms[0].name, first.Hash, first.CompactRevision, m.name, h.Hash, h.CompactRevision)
			}
		}
	}
}

// TestCluster_CASCounter has 20 clients, spread over the three members,
// increment one counter with GET then PUT ?if_mod_revision. The final value
// must be the number of swaps that were acknowledged, and the acknowledged
// swaps must have written 1, 2, 3, ... each exactly once.
func TestCluster_CASCounter(t *testing.T) {
	begin := time.Now()
	c := newCluster(t, 3)
	key := []byte("cas/counter")
	if r, err := c.members[0].call(http.MethodPut, keyPath(key)+"?if_mod_revision=0", []byte("0")); err != nil || r.status != http.StatusOK {
		t.Fatalf("creating the counter: %v %v", r, err)
	}

	startTerm := c.term()
	const clients, target = 20, 300
	var (
		successes, unknowns, conflicts, reads atomic.Int64
		mu                                    sync.Mutex
		written                               = map[int64]int{} // value → acknowledged swaps that wrote it
		outcomes                              = map[string]int{}
	)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	runStart := time.Now()
	var wg sync.WaitGroup
	for i := range clients {
		m := c.members[i%len(c.members)]
		wg.Go(func() {
			for successes.Load() < target && ctx.Err() == nil {
				reads.Add(1)
				kv, err := m.getKV(ctx, key, "")
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("client %d: %v", i, err)
					}
					return
				}
				raw, _ := kv.value()
				n, err := strconv.ParseInt(string(raw), 10, 64)
				if err != nil {
					t.Errorf("client %d: counter value %q: %v", i, raw, err)
					return
				}
				q := "?if_mod_revision=" + strconv.FormatInt(kv.ModRevision, 10)
				r, err := m.put(ctx, key, []byte(strconv.FormatInt(n+1, 10)), q)
				switch {
				case err == nil && r.status == http.StatusOK:
					successes.Add(1)
					mu.Lock()
					written[n+1]++
					mu.Unlock()
				case err == nil && r.status == http.StatusPreconditionFailed:
					// Someone else won; the answer carries the current
					// kv. Read again.
					conflicts.Add(1)
					var pf struct {
						Kv *kvJSON `json:"kv"`
					}
					if err := json.Unmarshal(r.body, &pf); err != nil || pf.Kv == nil || pf.Kv.ModRevision <= kv.ModRevision {
						t.Errorf("client %d: PUT %s%s: 412 without a newer current kv: %v", i, key, q, r)
						return
					}
				case err != nil || r.status == http.StatusServiceUnavailable || r.status == http.StatusGatewayTimeout:
					// The swap may or may not have happened: count it
					// as unknown and assume nothing.
					unknowns.Add(1)
					outcome := "transport error"
					if err == nil {
						outcome = r.String()
					}
					mu.Lock()
					outcomes[outcome]++
					mu.Unlock()
				default:
					t.Errorf("client %d: PUT %s%s: %v", i, key, q, r)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(runStart)
	if ctx.Err() != nil {
		t.Errorf("only %d swaps succeeded within %v", successes.Load(), 60*time.Second)
	}

	kv, err := c.members[1].getKV(context.Background(), key, "")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := kv.value()
	final, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		t.Fatalf("final counter %q: %v", raw, err)
	}
	s, u := successes.Load(), unknowns.Load()
	t.Logf("%d clients: %d swaps succeeded, %d conflicts (412), %d unknown %v, %d reads in %v (%.0f swaps/s); counter = %d",
		clients, s, conflicts.Load(), u, outcomes, reads.Load(), elapsed.Round(time.Millisecond), float64(s)/elapsed.Seconds(), final)
	if final < s || final > s+u {
		t.Errorf("counter = %d, want between %d (successes) and %d (successes + unknown outcomes)", final, s, s+u)
	}
	if endTerm := c.term(); u != 0 && endTerm == startTerm {
		t.Errorf("%d swaps had an unknown outcome %v, want none: no member failed and the leader did not change (term %d)", u, outcomes, endTerm)
	} else if u != 0 {
		// A loaded machine can make a leader miss its lease: a write in
		// flight then has an unknown outcome, as README says.
		t.Logf("%d swaps had an unknown outcome: the leader changed (term %d to %d)", u, startTerm, endTerm)
	}
	mu.Lock()
	defer mu.Unlock()
	for v, n := range written {
		if n > 1 {
			t.Errorf("%d acknowledged swaps all wrote %d: a lost update", n, v)
		}
		if v < 1 || v > final {
			t.Errorf("an acknowledged swap wrote %d, outside 1..%d", v, final)
		}
	}
	if u == 0 && int64(len(written)) != final {
		t.Errorf("acknowledged swaps wrote %d distinct values, want %d (1..%d)", len(written), final, final)
	}
	checkHashes(t, c.members, c.waitConverged(10*time.Second))
	t.Logf("test took %v", time.Since(begin))
}

// term returns the highest Raft term a member reports.
func (c *cluster) term() uint64 {
	c.t.Helper()
	var term uint64
	for _, m := range c.members {
		if st, err := m.status(context.Background()); err == nil {
			term = max(term, st.RaftTerm)
		}
	}
	return term
}

// putEventually stores value under key through m, retrying 503, 504 and
// transport errors (the value is the same each time, so a write that was
// applied twice does no harm), and returns how long it took.
func putEventually(t *testing.T, m *member, key, value string) time.Duration {
	t.Helper()
	return waitFor(t, 10*time.Second, fmt.Sprintf("PUT %q through %s", key, m.name), func() error {
		r, err := m.call(http.MethodPut, keyPath([]byte(key)), []byte(value))
		switch {
		case err != nil:
			return err
		case r.status == http.StatusServiceUnavailable || r.status == http.StatusGatewayTimeout:
			return fmt.Errorf("%s: %v", m.name, r)
		case r.status != http.StatusOK:
			t.Fatalf("%s: PUT %q: %v", m.name, key, r)
		}
		return nil
	})
}

// TestCluster_RollingRestart stops each member in turn with SIGTERM, writes
// through the two others while it is down, restarts it with the same command
// line and writes through it; at the end every member has every write.
func TestCluster_RollingRestart(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	c := newCluster(t, 3)
	want := map[string]string{}
	put := func(m *member, key string) time.Duration {
		want[key] = "value of " + key + " through " + m.name
		return putEventually(t, m, key, want[key])
	}
	for i := range 5 {
		put(c.members[i%3], fmt.Sprintf("roll/before/%d", i))
	}
	for round, m := range c.members {
		wasLeader := c.leader() == m
		took := m.stop()
		others := c.others(m)
		var worst time.Duration
		for i := range 10 {
			worst = max(worst, put(others[i%2], fmt.Sprintf("roll/%d/down/%d", round, i)))
		}
		t.Logf("%s (leader: %v) stopped with SIGTERM in %v; slowest write while it was down took %v",
			m.name, wasLeader, took.Round(time.Millisecond), worst.Round(time.Millisecond))
		m.start()
		m.waitReady(15 * time.Second)
		for i := range 5 {
			put(m, fmt.Sprintf("roll/%d/up/%d", round, i))
		}
		// Through the restarted member, a linearizable read sees a write
		// just made through another.
		key := fmt.Sprintf("roll/%d/check", round)
		put(others[0], key)
		kv, err := m.getKV(context.Background(), []byte(key), "")
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := kv.value(); string(got) != want[key] {
			t.Errorf("%s after its restart: %q = %q, want %q", m.name, key, got, want[key])
		}
	}
	rev := c.waitConverged(10 * time.Second)
	for _, m := range c.members {
		for _, query := range []string{"", "&serializable=true"} {
			got, err := m.listPrefix(context.Background(), "roll/", query)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, want) {
				t.Errorf("%s (query %q) after the rolling restart: %d keys, want %d; missing or different: %v",
					m.name, query, len(got), len(want), diffKeys(got, want))
			}
		}
	}
	checkHashes(t, c.members, rev)
	t.Logf("test took %v", time.Since(begin))
}

// diffKeys returns the keys whose values differ between got and want.
func diffKeys(got, want map[string]string) []string {
	var out []string
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			out = append(out, k)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// TestCluster_KeyAndValueBytes writes keys and values that are hard to carry
// in a URL or in JSON through a follower and reads them back through both
// followers: ?raw gives the value's exact bytes, the JSON uses key_base64 /
// value_base64 for what is not valid UTF-8, and ?encoding=base64 gives
// everything in base64.
func TestCluster_KeyAndValueBytes(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	c := newCluster(t, 3)
	followers := c.others(c.leader())
	via, other := followers[0], followers[1]

	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	cases := []struct {
		name       string
		key, value string
	}{
		{name: "NUL", key: "enc/nul\x00key", value: "v\x00al\x00"},
		{name: "invalid UTF-8", key: "enc/\xff\xfe\xfd", value: "\xff\x00\x80 bytes"},
		{name: "spaces", key: "enc/with spaces  and\ttab", value: "  a value with spaces  "},
		{name: "slashes", key: "enc/a/b/c/", value: "slashes"},
		{name: "dots and double slash", key: "enc/x/../y//z/./", value: "not a path"},
		{name: "non-ASCII", key: "enc/ключ/日本語/🪨", value: "значение ✓ 🪨"},
		{name: "URL specials", key: "enc/q?a=1&b=2#frag+plus;semi", value: "?&=#+"},
		{name: "percent", key: "enc/100%/%41%2F", value: "%41 stays %41"},
		{name: "empty value", key: "enc/empty", value: ""},
		{name: "every byte", key: "enc/all-bytes", value: string(all)},
		{name: "JSON value", key: "enc/json", value: `{"a": [1, "two", null], "b": "\u00e9"}`},
		{name: "newlines", key: "enc/line\nbreak\r\n", value: "line one\nline two\r\n"},
	}
	want := map[string]string{}
	for _, tc := range cases {
		r, err := via.call(http.MethodPut, keyPath([]byte(tc.key)), []byte(tc.value))
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("%s: PUT %q through %s: %v %v", tc.name, tc.key, via.name, r, err)
		}
		want[tc.key] = tc.value
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := []byte(tc.key)
			// The exact bytes with ?raw, through the follower that wrote.
			r, err := via.call(http.MethodGet, keyPath(key)+"?raw", nil)
			switch {
			case err != nil:
				t.Fatal(err)
			case r.status != http.StatusOK:
				t.Fatalf("GET ?raw through %s: %v", via.name, r)
			case !bytes.Equal(r.body, []byte(tc.value)):
				t.Errorf("GET ?raw through %s: %q, want %q", via.name, r.body, tc.value)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/octet-stream" {
				t.Errorf("GET ?raw: Content-Type %q, want application/octet-stream", ct)
			}

			// JSON through the other follower: plain strings for valid
			// UTF-8, the _base64 fields otherwise.
			kv, err := other.getKV(context.Background(), key, "")
			if err != nil {
				t.Fatal(err)
			}
			checkTextField(t, "key", kv.Key, kv.KeyBase64, tc.key)
			checkTextField(t, "value", kv.Value, kv.ValueBase64, tc.value)

			// ?encoding=base64: everything base64 under the plain names.
			kv, err = other.getKV(context.Background(), key, "?encoding=base64")
			if err != nil {
				t.Fatal(err)
			}
			if kv.KeyBase64 != nil || kv.ValueBase64 != nil || kv.Key == nil || kv.Value == nil {
				t.Fatalf("?encoding=base64: want key and value only, got %+v", kv)
			}
			if k, err := base64.StdEncoding.DecodeString(*kv.Key); err != nil || string(k) != tc.key {
				t.Errorf("?encoding=base64: key %q decodes to %q (%v), want %q", *kv.Key, k, err, tc.key)
			}
			if v, err := base64.StdEncoding.DecodeString(*kv.Value); err != nil || string(v) != tc.value {
				t.Errorf("?encoding=base64: value %q decodes to %q (%v), want %q", *kv.Value, v, err, tc.value)
			}
		})
	}

	// A listing gives every key exactly once, with its value.
	got, err := other.listPrefix(context.Background(), "enc/", "")
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Errorf("listing enc/ through %s: keys that differ: %q", other.name, diffKeys(got, want))
	}

	// A '/' escaped as %2F is a '/' of the key: both spellings name one key.
	if r, err := via.call(http.MethodPut, "/v1/kv/enc2/escaped%2Fslash", []byte("one key")); err != nil || r.status != http.StatusOK {
		t.Fatalf("PUT with %%2F: %v %v", r, err)
	}
	r, err := other.call(http.MethodGet, "/v1/kv/enc2/escaped/slash?raw", nil)
	if err != nil || r.status != http.StatusOK || string(r.body) != "one key" {
		t.Errorf("GET enc2/escaped/slash after PUT enc2/escaped%%2Fslash: %v %v, want 200 \"one key\"", r, err)
	}
	t.Logf("test took %v", time.Since(begin))
}

// checkTextField checks that a key or value is sent as a plain string when it
// is valid UTF-8 and under name_base64 otherwise, and that it decodes to want.
func checkTextField(t *testing.T, name string, plain, b64 *string, want string) {
	t.Helper()
	if utf8.ValidString(want) {
		if b64 != nil || plain == nil {
			t.Errorf("%s %q is valid UTF-8: want it as a plain %q string, got %s=%v %s_base64=%v", name, want, name, name, plain != nil, name, b64 != nil)
			return
		}
		if *plain != want {
			t.Errorf("%s = %q, want %q", name, *plain, want)
		}
		return
	}
	if plain != nil || b64 == nil {
		t.Errorf("%s %q is not valid UTF-8: want it as %s_base64, got %s=%v %s_base64=%v", name, want, name, name, plain != nil, name, b64 != nil)
		return
	}
	if got, err := base64.StdEncoding.DecodeString(*b64); err != nil || string(got) != want {
		t.Errorf("%s_base64 %q decodes to %q (%v), want %q", name, *b64, got, err, want)
	}
}
