package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The lease tests. The clusters run with the harness's 500 ms election
// timeout: the lessor of a new leader adds one election timeout to every
// countdown it restarts (leaseElection), and the shortest lease is 1 s.
//
// The two tests that kill the leader measure times against a TTL of 2 or 3
// seconds and run alone; the cluster restart test runs in parallel with the
// other light tests.

// leaseElection is the clusters' election timeout, which the lessor of a
// new leader adds to every countdown it restarts.
const leaseElection = 500 * time.Millisecond

// leaseArgs gives the watch streams a heartbeat, so that a stalled stream
// shows.
var leaseArgs = []string{"--watch-heartbeat-interval", "200ms"}

type leaseGrantJSON struct {
	Header headerJSON `json:"header"`
	ID     int64      `json:"id"`
	TTL    int64      `json:"ttl"`
}

type leaseTTLJSON struct {
	Header     headerJSON `json:"header"`
	ID         int64      `json:"id"`
	TTL        int64      `json:"ttl"`
	GrantedTTL int64      `json:"granted_ttl"`
	Keys       []struct {
		Key       *string `json:"key"`
		KeyBase64 *string `json:"key_base64"`
	} `json:"keys"`
}

// keys returns the lease's keys, sorted.
func (l leaseTTLJSON) keys() ([]string, error) {
	var out []string
	for _, k := range l.Keys {
		b, err := textField("key", k.Key, k.KeyBase64)
		if err != nil {
			return nil, err
		}
		out = append(out, string(b))
	}
	slices.Sort(out)
	return out, nil
}

// retryable reports whether an answer is one a client retries: no leader
// (503) or a timeout (504).
func retryable(r reply) bool {
	return r.status == http.StatusServiceUnavailable || r.status == http.StatusGatewayTimeout
}

// grantLeaseVia grants a lease of ttl seconds through m, retrying 503 and
// 504, and returns its ID. The answer must be 201 with the TTL asked for.
func grantLeaseVia(t *testing.T, m *member, ttl int64) int64 {
	t.Helper()
	var g leaseGrantJSON
	waitFor(t, 10*time.Second, "a lease grant through "+m.name, func() error {
		r, err := m.call(http.MethodPost, "/v1/leases", []byte(fmt.Sprintf(`{"ttl": %d}`, ttl)))
		switch {
		case err != nil:
			return err
		case retryable(r):
			return fmt.Errorf("%s: %v", m.name, r)
		case r.status != http.StatusCreated:
			t.Fatalf("%s: POST /v1/leases: %v, want 201", m.name, r)
		}
		if err := json.Unmarshal(r.body, &g); err != nil {
			t.Fatalf("%s: POST /v1/leases: %v in %s", m.name, err, r.body)
		}
		return nil
	})
	if g.ID <= 0 || g.TTL != ttl {
		t.Fatalf("%s: granted lease %d with ttl %d, want a positive id and ttl %d", m.name, g.ID, g.TTL, ttl)
	}
	return g.ID
}

// putWithLease stores value under key, attached to lease id, through m,
// retrying 503 and 504 (the same value each time), and returns the revision
// of the write.
func putWithLease(t *testing.T, m *member, key, value string, id int64) int64 {
	t.Helper()
	var out struct {
		Header headerJSON `json:"header"`
	}
	waitFor(t, 10*time.Second, fmt.Sprintf("PUT %q with lease %d through %s", key, id, m.name), func() error {
		r, err := m.call(http.MethodPut, keyPath([]byte(key))+"?lease="+strconv.FormatInt(id, 10), []byte(value))
		switch {
		case err != nil:
			return err
		case retryable(r):
			return fmt.Errorf("%s: %v", m.name, r)
		case r.status != http.StatusOK:
			t.Fatalf("%s: PUT %q with lease %d: %v", m.name, key, id, r)
		}
		return json.Unmarshal(r.body, &out)
	})
	return out.Header.Revision
}

// leaseTTL asks m for the lease (with its keys). It returns the answer's
// status with the decoded body for 200.
func leaseTTL(m *member, id int64) (leaseTTLJSON, reply, error) {
	var l leaseTTLJSON
	r, err := m.call(http.MethodGet, "/v1/leases/"+strconv.FormatInt(id, 10)+"?keys=true", nil)
	if err != nil {
		return l, r, err
	}
	if r.status == http.StatusOK {
		if err := json.Unmarshal(r.body, &l); err != nil {
			return l, r, fmt.Errorf("%s: GET lease %d: %w in %s", m.name, id, err, r.body)
		}
	}
	return l, r, nil
}

// mustLease waits (through 503 and 504) for m's answer on the lease, wants
// 200 with the granted TTL and the keys given, and returns it.
func mustLease(t *testing.T, m *member, id, granted int64, keys ...string) leaseTTLJSON {
	t.Helper()
	var l leaseTTLJSON
	waitFor(t, 10*time.Second, fmt.Sprintf("lease %d through %s", id, m.name), func() error {
		var r reply
		var err error
		l, r, err = leaseTTL(m, id)
		switch {
		case err != nil:
			return err
		case retryable(r):
			return fmt.Errorf("%s: %v", m.name, r)
		case r.status != http.StatusOK:
			t.Fatalf("%s: GET lease %d: %v, want 200", m.name, id, r)
		}
		return nil
	})
	got, err := l.keys()
	if err != nil {
		t.Fatalf("%s: lease %d: %v", m.name, id, err)
	}
	slices.Sort(keys)
	if l.ID != id || l.GrantedTTL != granted || !slices.Equal(got, keys) {
		t.Errorf("%s: lease %d: id %d, granted_ttl %d, keys %q; want granted_ttl %d, keys %q", m.name, id, l.ID, l.GrantedTTL, got, granted, keys)
	}
	return l
}

// mustLeaseListed waits (through 503 and 504) for m to list the leases
// (a linearizable read, which leaves the lessor alone) and wants id among
// them.
func mustLeaseListed(t *testing.T, m *member, id int64) {
	t.Helper()
	var list struct {
		Leases []struct {
			ID int64 `json:"id"`
		} `json:"leases"`
	}
	waitFor(t, 10*time.Second, "the leases listed by "+m.name, func() error {
		r, err := m.call(http.MethodGet, "/v1/leases", nil)
		switch {
		case err != nil:
			return err
		case retryable(r):
			return fmt.Errorf("%s: %v", m.name, r)
		case r.status != http.StatusOK:
			t.Fatalf("%s: GET /v1/leases: %v", m.name, r)
		}
		return json.Unmarshal(r.body, &list)
	})
	for _, l := range list.Leases {
		if l.ID == id {
			return
		}
	}
	t.Errorf("%s: lease %d is not listed: %v", m.name, id, list.Leases)
}

// mustLeaseGone waits (through 503 and 504) for m to answer 404
// lease_not_found for the lease, both to a GET and to a keepalive.
func mustLeaseGone(t *testing.T, m *member, id int64) {
	t.Helper()
	for _, req := range []struct{ method, path string }{
		{http.MethodGet, "/v1/leases/" + strconv.FormatInt(id, 10) + "?keys=true"},
		{http.MethodPost, "/v1/leases/" + strconv.FormatInt(id, 10) + "/keepalive"},
	} {
		waitFor(t, 10*time.Second, fmt.Sprintf("%s %s through %s", req.method, req.path, m.name), func() error {
			r, err := m.call(req.method, req.path, nil)
			switch {
			case err != nil:
				return err
			case retryable(r):
				return fmt.Errorf("%s: %v", m.name, r)
			case r.status != http.StatusNotFound || r.errorCode() != "lease_not_found":
				t.Errorf("%s: %s %s after the lease expired: %v, want 404 lease_not_found", m.name, req.method, req.path, r)
			}
			return nil
		})
	}
}

// keyHeld reads key on m alone (serializable): true when it exists attached
// to lease id, false when m answers 404 key_not_found. Any other answer,
// a key attached to another lease included, is an error.
func keyHeld(m *member, key string, id int64) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r, err := m.do(ctx, http.MethodGet, keyPath([]byte(key))+"?serializable=true", nil)
	if err != nil {
		return false, err
	}
	switch {
	case r.status == http.StatusNotFound && r.errorCode() == "key_not_found":
		return false, nil
	case r.status != http.StatusOK:
		return false, fmt.Errorf("%s: GET %q: %v", m.name, key, r)
	}
	var rr rangeJSON
	if err := json.Unmarshal(r.body, &rr); err != nil {
		return false, fmt.Errorf("%s: GET %q: %w in %s", m.name, key, err, r.body)
	}
	if len(rr.Kvs) != 1 || rr.Kvs[0].Lease != id {
		return false, fmt.Errorf("%s: GET %q: %s, want one kv with lease %d", m.name, key, r.body, id)
	}
	return true, nil
}

// goneTimes polls every member every 20 ms until key is gone from all of
// them and returns when each was first seen without it. A member that
// fails to answer is asked again; at the timeout the test fails.
func goneTimes(t *testing.T, ms []*member, key string, id int64, timeout time.Duration) map[string]time.Time {
	t.Helper()
	gone := map[string]time.Time{}
	errs := map[string]error{}
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, m := range ms {
			if _, ok := gone[m.name]; ok {
				continue
			}
			held, err := keyHeld(m, key, id)
			now := time.Now()
			switch {
			case err != nil:
				errs[m.name] = err
			case !held:
				gone[m.name] = now
			}
		}
		if len(gone) == len(ms) {
			return gone
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %q to be gone from every member: gone from %d of %d (%v after the start of the wait); last errors %v", timeout, key, len(gone), len(ms), since(gone, deadline.Add(-timeout)), errs)
		}
		<-tick.C
	}
}

// raftTerm returns the highest Raft term that the given members report
// (those that do not answer are left out).
func raftTerm(ms []*member) uint64 {
	var term uint64
	for _, m := range ms {
		if st, err := m.status(context.Background()); err == nil {
			term = max(term, st.RaftTerm)
		}
	}
	return term
}

// checkUpperBound fails the test when took exceeds limit, unless the Raft
// term moved from termBefore while the lease counted down: a new leader
// restarts every countdown, by design, so the bound no longer holds (the
// lease must still expire, which the caller has checked).
func checkUpperBound(t *testing.T, ms []*member, termBefore uint64, took, limit time.Duration, what string) {
	t.Helper()
	if took <= limit {
		return
	}
	if term := raftTerm(ms); term != termBefore {
		t.Logf("%s took %v, over %v, but the leader changed meanwhile (term %d, then %d), which restarts the countdown: not checked",
			what, dur(took), limit, termBefore, term)
		return
	}
	t.Errorf("%s took %v, want at most %v", what, dur(took), limit)
}

// since formats each member's time relative to t0, for the logs.
func since(ts map[string]time.Time, t0 time.Time) string {
	var out []string
	for name, at := range ts {
		out = append(out, name+" "+dur(at.Sub(t0)))
	}
	slices.Sort(out)
	return "[" + strings.Join(out, ", ") + "]"
}

// firstLast returns the earliest and the latest of the times.
func firstLast(ts map[string]time.Time) (first, last time.Time) {
	for _, ts := range ts {
		if first.IsZero() || ts.Before(first) {
			first = ts
		}
		if ts.After(last) {
			last = ts
		}
	}
	return first, last
}

// kaAttempt is one keepalive sent by a holder.
type kaAttempt struct {
	sent, answered time.Time
	status         int // 0: no answer
	ttl            int64
	err            error
}

func (a kaAttempt) ok() bool { return a.status == http.StatusOK }

func (a kaAttempt) outcome() string {
	switch {
	case a.err != nil:
		return "no answer"
	case a.ok():
		return "200"
	default:
		return strconv.Itoa(a.status)
	}
}

// holder keeps a lease alive as a client does: a keepalive every period
// through one member; a keepalive that fails (503, 504, no answer within
// the period) is simply tried again at the next tick.
type holder struct {
	m      *member
	id     int64
	period time.Duration

	stop chan struct{}
	done chan struct{}

	mu       sync.Mutex
	attempts []kaAttempt
}

func startHolder(t *testing.T, m *member, id int64, period time.Duration) *holder {
	h := &holder{m: m, id: id, period: period, stop: make(chan struct{}), done: make(chan struct{})}
	go h.run()
	t.Cleanup(func() { h.halt() })
	return h
}

func (h *holder) run() {
	defer close(h.done)
	tick := time.NewTicker(h.period)
	defer tick.Stop()
	path := "/v1/leases/" + strconv.FormatInt(h.id, 10) + "/keepalive"
	for {
		select {
		case <-h.stop:
			return
		case <-tick.C:
		}
		// At most one keepalive in flight: each has until the next tick.
		ctx, cancel := context.WithTimeout(context.Background(), h.period-50*time.Millisecond)
		a := kaAttempt{sent: time.Now()}
		r, err := h.m.do(ctx, http.MethodPost, path, nil)
		cancel()
		a.answered, a.status, a.err = time.Now(), r.status, err
		if err == nil && r.status == http.StatusOK {
			var out struct {
				TTL int64 `json:"ttl"`
			}
			if jerr := json.Unmarshal(r.body, &out); jerr != nil {
				a.err = fmt.Errorf("keepalive answer %s: %w", r.body, jerr)
			}
			a.ttl = out.TTL
		} else if err == nil && !retryable(r) {
			a.err = fmt.Errorf("%s: keepalive: %v", h.m.name, r)
		}
		h.mu.Lock()
		h.attempts = append(h.attempts, a)
		h.mu.Unlock()
	}
}

// halt stops the keepalives and returns once none is in flight: no renewal
// can happen after the time it returns.
func (h *holder) halt() time.Time {
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	<-h.done
	return time.Now()
}

// snapshot returns the attempts so far.
func (h *holder) snapshot() []kaAttempt {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.attempts)
}

// okSince returns the successful keepalives sent after t0.
func (h *holder) okSince(t0 time.Time) []kaAttempt {
	var out []kaAttempt
	for _, a := range h.snapshot() {
		if a.ok() && a.sent.After(t0) {
			out = append(out, a)
		}
	}
	return out
}

// lastOK returns the last successful keepalive.
func (h *holder) lastOK() (kaAttempt, bool) {
	as := h.snapshot()
	for i := len(as) - 1; i >= 0; i-- {
		if as[i].ok() {
			return as[i], true
		}
	}
	return kaAttempt{}, false
}

// check fails the test for any answer a holder must never get (a 404 while
// the lease is kept alive, a 4xx, a TTL other than the granted one), and
// returns a summary of the outcomes relative to t0.
func (h *holder) check(t *testing.T, ttl int64, t0 time.Time) string {
	t.Helper()
	counts := map[string]int{}
	var line []string
	for _, a := range h.snapshot() {
		counts[a.outcome()]++
		line = append(line, fmt.Sprintf("%+.1fs:%s", a.sent.Sub(t0).Seconds(), a.outcome()))
		switch {
		case a.ok() && a.ttl != ttl:
			t.Errorf("%s: keepalive answered ttl %d, want %d", h.m.name, a.ttl, ttl)
		case a.err != nil && a.status != 0:
			t.Errorf("%v (sent %v after the reference time)", a.err, a.sent.Sub(t0).Round(time.Millisecond))
		}
	}
	return fmt.Sprintf("%v [%s]", counts, strings.Join(line, " "))
}

// timedEvent is a watch event and when the watcher read it.
type timedEvent struct {
	wEvent
	at time.Time
}

// keyWatcher reads an SSE watch of one key in a goroutine.
type keyWatcher struct {
	conn   *sseConn
	events chan timedEvent
	done   chan struct{}
	err    error // set when done is closed
}

// watchKey watches key through m from startRev on. The stream is closed
// when the test ends.
func watchKey(t *testing.T, c *cluster, m *member, key string, startRev int64) *keyWatcher {
	t.Helper()
	path := "/v1/watch" + keyPath([]byte(key))[len("/v1/kv"):] + "?start_revision=" + strconv.FormatInt(startRev, 10)
	conn, err := openSSE(streamClient(c), m, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &keyWatcher{conn: conn, events: make(chan timedEvent, 64), done: make(chan struct{})}
	go w.read()
	t.Cleanup(func() {
		conn.cancel()
		<-w.done
		conn.close()
	})
	return w
}

func (w *keyWatcher) read() {
	defer close(w.done)
	for {
		msg, err := w.conn.next(streamIdle, time.Now().Add(time.Hour))
		if err != nil {
			w.err = err
			return
		}
		if msg.event != "events" {
			continue
		}
		_, evs, err := parseWatchData(msg.data)
		if err != nil {
			w.err = err
			return
		}
		now := time.Now()
		for _, e := range evs {
			w.events <- timedEvent{e, now} // the tests read far fewer than 64
		}
	}
}

// next returns the next event, waiting at most timeout.
func (w *keyWatcher) next(timeout time.Duration) (timedEvent, error) {
	select {
	case e := <-w.events:
		return e, nil
	case <-w.done:
		select {
		case e := <-w.events:
			return e, nil
		default:
		}
		return timedEvent{}, fmt.Errorf("the watch through %s ended: %w", w.conn.member.name, w.err)
	case <-time.After(timeout):
		return timedEvent{}, fmt.Errorf("no event from the watch through %s within %v", w.conn.member.name, timeout)
	}
}

// expectPutThenDelete reads the PUT of key with the lease at putRev, then
// its DELETE, and nothing in between, and returns the DELETE.
func (w *keyWatcher) expectPutThenDelete(t *testing.T, key string, id, putRev int64, timeout time.Duration) timedEvent {
	t.Helper()
	put, err := w.next(timeout)
	if err != nil {
		t.Fatal(err)
	}
	if put.typ != "PUT" || put.key != key || put.rev != putRev || put.lease != id {
		t.Errorf("first watch event %v, want the PUT of %q at revision %d with lease %d", put.wEvent, key, putRev, id)
	}
	del, err := w.next(timeout)
	if err != nil {
		t.Fatalf("waiting for the DELETE of %q: %v", key, err)
	}
	if del.typ != "DELETE" || del.key != key || del.rev <= putRev {
		t.Errorf("second watch event %v, want the DELETE of %q after revision %d", del.wEvent, key, putRev)
	}
	return del
}

// dur formats a duration for the logs.
func dur(d time.Duration) string { return d.Round(time.Millisecond).String() }

// TestLease_KeepAliveThroughLeaderKill keeps a 2 s lease alive every second
// through a follower while the leader is killed with SIGKILL: its key must
// stay on both survivors at every poll for 6 s. Once the keepalives stop,
// the key must be gone from every member (the killed one restarted) no
// sooner than 2 s after the last successful keepalive and within the TTL
// plus a few election timeouts, with a DELETE event for a watcher.
func TestLease_KeepAliveThroughLeaderKill(t *testing.T) {
	begin := time.Now()
	const ttl = 2
	const key = "lease/kept"
	c := newCluster(t, 3, leaseArgs...)
	leader := c.leader()
	survivors := c.others(leader)
	via, watchOn := survivors[0], survivors[1]

	id := grantLeaseVia(t, via, ttl)
	putRev := putWithLease(t, via, key, "held through "+via.name, id)
	w := watchKey(t, c, watchOn, key, putRev)
	mustLease(t, leader, id, ttl, key)

	h := startHolder(t, via, id, time.Second)
	waitFor(t, 5*time.Second, "two keepalives through "+via.name, func() error {
		if n := len(h.okSince(begin)); n < 2 {
			return fmt.Errorf("%d of %d keepalives answered 200", n, len(h.snapshot()))
		}
		return nil
	})

	leader.kill()
	killedAt := time.Now()
	// For 6 s, the key is on both survivors at every poll.
	const window = 6 * time.Second
	polls, readErrs := 0, 0
	var lastErr error
	for time.Since(killedAt) < window {
		for _, s := range survivors {
			held, err := keyHeld(s, key, id)
			switch {
			case err != nil:
				readErrs++
				lastErr = err
			case !held:
				t.Fatalf("%s: %q is gone %v after the kill of the leader %s, while a keepalive is sent every second: %s",
					s.name, key, dur(time.Since(killedAt)), leader.name, h.check(t, ttl, killedAt))
			}
			polls++
		}
		time.Sleep(50 * time.Millisecond)
	}
	if readErrs > polls/10 {
		t.Errorf("%d of %d serializable reads on the survivors failed, last: %v", readErrs, polls, lastErr)
	}
	newLeader := c.leader(survivors...)
	after := h.okSince(killedAt)
	if len(after) < 3 {
		t.Errorf("%d keepalives through %s answered 200 in the %v after the kill, want at least 3: %s", len(after), via.name, window, h.check(t, ttl, killedAt))
	} else {
		t.Logf("leader %s killed, %s leads now; the first keepalive answered 200 after the kill was sent %v after it; %d polls of the survivors, %d read errors",
			leader.name, newLeader.name, dur(after[0].sent.Sub(killedAt)), polls, readErrs)
	}

	// The killed member comes back and gets the key (it is a follower
	// now, and must not expire anything on its own).
	leader.start()
	leader.waitReady(15 * time.Second)
	waitFor(t, 10*time.Second, leader.name+" to hold the key again after its restart", func() error {
		held, err := keyHeld(leader, key, id)
		if err == nil && !held {
			err = fmt.Errorf("%s: %q is not there", leader.name, key)
		}
		return err
	})
	mustLease(t, leader, id, ttl, key)

	// The holder stops: the key is gone from every member TTL seconds
	// after the last renewal.
	termBefore := raftTerm(c.members)
	stoppedAt := h.halt()
	last, ok := h.lastOK()
	if !ok {
		t.Fatal("no keepalive succeeded")
	}
	gone := goneTimes(t, c.members, key, id, 15*time.Second)
	first, all := firstLast(gone)
	t.Logf("keepalives: %s", h.check(t, ttl, killedAt))
	t.Logf("key gone from the first member %v and from every member %v after the last successful keepalive was sent (%v after the holder stopped): %v",
		dur(first.Sub(last.sent)), dur(all.Sub(last.sent)), dur(all.Sub(stoppedAt)), since(gone, last.sent))
	if lo := ttl*time.Second - 50*time.Millisecond; first.Sub(last.sent) < lo {
		t.Errorf("the key was gone %v after the last successful keepalive was sent, want at least %v", dur(first.Sub(last.sent)), lo)
	}
	// The bound holds for the members that stayed up. The restarted one
	// only has to get there (goneTimes waited for it): hashicorp/raft's
	// replication to a member that was down can still be backing off.
	survivorGone := map[string]time.Time{}
	for _, m := range survivors {
		survivorGone[m.name] = gone[m.name]
	}
	_, allSurvivors := firstLast(survivorGone)
	checkUpperBound(t, c.members, termBefore, allSurvivors.Sub(stoppedAt), ttl*time.Second+3*leaseElection,
		"from the holder's stop to the key gone from every member that stayed up (bound: TTL + 3 election timeouts)")
	del := w.expectPutThenDelete(t, key, id, putRev, 10*time.Second)
	t.Logf("the watcher on %s read the DELETE (revision %d) %v after the last successful keepalive was sent",
		watchOn.name, del.rev, dur(del.at.Sub(last.sent)))
	for _, m := range c.members {
		mustLeaseGone(t, m, id)
	}
	t.Logf("test took %v", dur(time.Since(begin)))
}

// TestLease_HolderDiesAcrossLeaderKill lets a 3 s lease lapse: the holder
// stops its keepalives and the leader is killed with SIGKILL one second
// later. The new leader restarts the countdown (from the full TTL or a
// checkpoint, plus an election timeout): the key must be gone from the
// survivors within TTL + election + slack of the new leader's election,
// never sooner than TTL after the last keepalive, and stay gone on the
// killed member once it is back.
func TestLease_HolderDiesAcrossLeaderKill(t *testing.T) {
	begin := time.Now()
	const ttl = 3
	const key = "lease/lapsed"
	c := newCluster(t, 3, leaseArgs...)
	leader := c.leader()
	survivors := c.others(leader)
	via, watchOn := survivors[0], survivors[1]

	id := grantLeaseVia(t, via, ttl)
	putRev := putWithLease(t, via, key, "held through "+via.name, id)
	w := watchKey(t, c, watchOn, key, putRev)
	h := startHolder(t, via, id, time.Second)
	waitFor(t, 5*time.Second, "two keepalives through "+via.name, func() error {
		if n := len(h.okSince(begin)); n < 2 {
			return fmt.Errorf("%d of %d keepalives answered 200", n, len(h.snapshot()))
		}
		return nil
	})
	stoppedAt := h.halt()
	last, _ := h.lastOK()
	t.Logf("keepalives: %s", h.check(t, ttl, begin))

	time.Sleep(time.Until(stoppedAt.Add(time.Second))) // the scenario: the kill comes 1 s later
	for _, m := range c.members {
		if held, err := keyHeld(m, key, id); err != nil || !held {
			t.Fatalf("%s: %q held = %v (%v) 1 s after the last keepalive of a %d s lease", m.name, key, held, err, ttl)
		}
	}
	leader.kill()
	killedAt := time.Now()

	// Poll the survivors for the key and for the new leader.
	var elected time.Time
	var electedTerm uint64
	gone := map[string]time.Time{}
	errs := map[string]error{}
	deadline := killedAt.Add(15 * time.Second)
	for len(gone) < len(survivors) {
		if time.Now().After(deadline) {
			t.Fatalf("15 s after the kill: %q gone from %v after the kill, new leader elected: %v; last errors %v", key, since(gone, killedAt), !elected.IsZero(), errs)
		}
		if elected.IsZero() {
			var names []string
			var term uint64
			for _, s := range survivors {
				if st, err := s.status(context.Background()); err == nil && st.LeaderName != "" && st.LeaderName != leader.name {
					names = append(names, st.LeaderName)
					term = max(term, st.RaftTerm)
				}
			}
			if len(names) == 2 && names[0] == names[1] {
				elected, electedTerm = time.Now(), term
			}
		}
		for _, s := range survivors {
			if _, ok := gone[s.name]; ok {
				continue
			}
			held, err := keyHeld(s, key, id)
			now := time.Now()
			switch {
			case err != nil:
				errs[s.name] = err
			case !held:
				gone[s.name] = now
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if elected.IsZero() {
		c.leader(survivors...)
		elected, electedTerm = time.Now(), raftTerm(survivors)
	}
	first, all := firstLast(gone)
	t.Logf("leader %s killed %v after the last keepalive was sent; survivors agreed on a new leader %v after the kill", leader.name, dur(killedAt.Sub(last.sent)), dur(elected.Sub(killedAt)))
	t.Logf("key gone from the survivors %v after the last successful keepalive was sent (%v after the kill, %v after the new leader's election): %v",
		dur(all.Sub(last.sent)), dur(all.Sub(killedAt)), dur(all.Sub(elected)), since(gone, last.sent))
	if first.Sub(last.sent) < ttl*time.Second {
		t.Errorf("the key was gone %v after the last successful keepalive was sent, want at least the TTL, %ds", dur(first.Sub(last.sent)), ttl)
	}
	// The new leader counts down TTL + one election timeout from its
	// promotion, which comes right after its election; slack for the
	// revoke to be applied everywhere and for two loaded cores.
	checkUpperBound(t, survivors, electedTerm, all.Sub(elected), ttl*time.Second+leaseElection+time.Second,
		"from the new leader's election to the key gone from the survivors (bound: TTL + election timeout + 1 s)")
	del := w.expectPutThenDelete(t, key, id, putRev, 10*time.Second)
	t.Logf("the watcher on %s read the DELETE (revision %d) %v after the last keepalive was sent", watchOn.name, del.rev, dur(del.at.Sub(last.sent)))

	// The killed leader comes back: the key stays gone there too.
	leader.start()
	leader.waitReady(15 * time.Second)
	goneTimes(t, []*member{leader}, key, id, 10*time.Second)
	for _, m := range c.members {
		mustLeaseGone(t, m, id)
	}
	t.Logf("test took %v", dur(time.Since(begin)))
}

// TestLease_ClusterRestart stops every member of a cluster holding a 6 s
// lease with two keys and starts them all again: right after, the lease is
// there with its keys (never expired early: not before TTL seconds after
// the grant), and it does expire (within TTL + an election timeout + slack
// of the restart: never lives for ever). Two ways: SIGTERM right after the
// grant, so the new leader restarts the full countdown; and SIGKILL once
// the leader has checkpointed the remaining TTL (about 5 s after it started),
// so the new leader counts down from the checkpoint.
func TestLease_ClusterRestart(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"SIGTERM", "SIGKILL after a checkpoint"} {
		t.Run(strings.ReplaceAll(mode, " ", "_"), func(t *testing.T) {
			t.Parallel()
			testLeaseClusterRestart(t, mode != "SIGTERM")
		})
	}
}

func testLeaseClusterRestart(t *testing.T, killAfterCheckpoint bool) {
	begin := time.Now()
	const ttl = 6
	keys := []string{"lease/restart/a", "lease/restart/b"}
	c := newCluster(t, 3, leaseArgs...)
	leader := c.leader()
	via := c.others(leader)[0]

	grantSent := time.Now()
	id := grantLeaseVia(t, via, ttl)
	granted := time.Now()
	for i, k := range keys {
		putWithLease(t, c.members[i], k, "value of "+k, id)
	}
	c.waitConverged(10 * time.Second)

	if killAfterCheckpoint {
		// A checkpoint is a Raft entry of its own: nothing else is
		// written in this cluster, so the leader's applied index moves
		// when it records the remaining TTL (about 5 s after it started).
		st, err := leader.status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 15*time.Second, "the leader to checkpoint the lease", func() error {
			now, err := leader.status(context.Background())
			if err != nil {
				return err
			}
			if now.AppliedIndex == st.AppliedIndex {
				return fmt.Errorf("%s: applied index still %d", leader.name, now.AppliedIndex)
			}
			return nil
		})
		t.Logf("an entry (the checkpoint) was applied on the leader %v after the grant", dur(time.Since(granted)))
		for _, m := range c.members {
			m.kill()
		}
	} else {
		for _, m := range c.members {
			m.stop()
		}
	}
	downAt := time.Now()
	for _, m := range c.members {
		m.start()
	}
	for _, m := range c.members {
		m.waitReady(15 * time.Second)
	}
	readyAt := time.Now()
	termAtReady := raftTerm(c.members)
	t.Logf("members down %v after the grant (%v of the TTL left), all ready again %v later",
		dur(downAt.Sub(granted)), dur(granted.Add(ttl*time.Second).Sub(downAt)), dur(readyAt.Sub(downAt)))

	// Right after the restart the lease and its keys are there, unless
	// the TTL has passed since the grant (a restart that slow leaves
	// nothing to check here but the expiry).
	if since := time.Since(grantSent); since < ttl*time.Second {
		for _, m := range c.members {
			for _, k := range keys {
				if held, err := keyHeld(m, k, id); err != nil || !held {
					t.Errorf("%s: right after the restart, %v after the grant of a %d s lease: %q held = %v (%v)",
						m.name, dur(time.Since(grantSent)), ttl, k, held, err)
				}
			}
		}
		mustLeaseListed(t, c.members[1], id)
		// A GET of the lease makes the leader's lessor track a lease it
		// does not know yet: ask only in one of the two ways, so that the
		// other shows that the new leader takes over the countdown by
		// itself.
		if killAfterCheckpoint {
			l := mustLease(t, c.members[2], id, ttl, keys...)
			t.Logf("right after the restart the lease reports %d s remaining", l.TTL)
			if l.TTL < 1 || l.TTL > ttl+1 {
				t.Errorf("right after the restart the lease reports %d s remaining, want 1 to %d (TTL + an election timeout, rounded up)", l.TTL, ttl+1)
			}
		}
	} else {
		t.Logf("the restart ended %v after the grant, after the %d s TTL: the lease may be gone already", dur(since), ttl)
	}

	// And it expires.
	gone := map[string]time.Time{}
	for _, k := range keys {
		for name, at := range goneTimes(t, c.members, k, id, 20*time.Second) {
			if prev, ok := gone[name]; !ok || at.After(prev) {
				gone[name] = at
			}
		}
	}
	first, all := firstLast(gone)
	t.Logf("keys gone from every member %v after the grant, %v after the cluster was ready again",
		dur(all.Sub(grantSent)), dur(all.Sub(readyAt)))
	if first.Sub(grantSent) < ttl*time.Second {
		t.Errorf("a key was gone %v after the grant was sent, before the TTL of %ds", dur(first.Sub(grantSent)), ttl)
	}
	checkUpperBound(t, c.members, termAtReady, all.Sub(readyAt), ttl*time.Second+leaseElection+2*time.Second,
		"from the cluster ready again to the keys gone from every member (bound: TTL + election timeout + 2 s)")
	for _, m := range c.members {
		mustLeaseGone(t, m, id)
	}
	t.Logf("test took %v", dur(time.Since(begin)))
}
