package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The election tests with client processes: the candidates are the lock
// client of lockclient/main.go in --mode election (one Session each, kept
// alive in the background, as an application would), so that kill -9 of a
// candidate is real. The observer is the test itself, reading
// GET /v1/elections/{name}/observe as Server-Sent Events.

// leaderLine is a LEADER line of a candidate process: it leads with value
// since rev (the create revision of its leader key).
type leaderLine struct {
	proc  int // index of the process
	value string
	rev   int64
	at    time.Time // when the test read the line
}

// leaderLines parses the process's stdout: LEADER lines only (a candidate
// killed while leading prints nothing else).
func (p *lockProc) leaderLines(proc int) ([]leaderLine, error) {
	var out []leaderLine
	for _, l := range p.output() {
		f := strings.Fields(l.text)
		if len(f) != 3 || f[0] != "LEADER" {
			return nil, fmt.Errorf("%s: unexpected line %q", p.name, l.text)
		}
		rev, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil || rev <= 0 {
			return nil, fmt.Errorf("%s: line %q: want LEADER <value> <rev>", p.name, l.text)
		}
		out = append(out, leaderLine{proc: proc, value: f[1], rev: rev, at: l.at})
	}
	return out, nil
}

// waitNewLeader waits until exactly one of the processes ps[i], i in
// among, has printed a LEADER line and returns it. It fails the test if one
// of them exits, prints something else, or if two lead, or after timeout.
func waitNewLeader(t *testing.T, ps []*lockProc, among []int, timeout time.Duration) leaderLine {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var found []leaderLine
		for _, i := range among {
			ls, err := ps[i].leaderLines(i)
			if err != nil {
				t.Fatal(err)
			}
			if len(ls) > 1 {
				t.Fatalf("%s printed LEADER %d times", ps[i].name, len(ls))
			}
			found = append(found, ls...)
			if !ps[i].running() {
				t.Fatalf("%s exited (%v): %s", ps[i].name, ps[i].err, ps[i].stderrText())
			}
		}
		switch {
		case len(found) == 1:
			return found[0]
		case len(found) > 1:
			t.Fatalf("two candidates lead at once: %+v", found)
		case time.Now().After(deadline):
			t.Fatalf("no candidate among %v printed LEADER within %v", among, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// observedLeader is one `leader` message of an observe stream.
type observedLeader struct {
	value, key string
	create     int64     // the leader key's create revision
	rev        int64     // the message's id: the revision of the change
	at         time.Time // when the test read it
}

// electionObserver reads an observe stream in the background.
type electionObserver struct {
	conn *sseConn
	done chan struct{} // closed when the reading ends; err is set by then

	mu   sync.Mutex
	seen []observedLeader
	err  error
}

// observeElection opens GET /v1/elections/{name}/observe through m and
// records every leader message until the test ends.
func observeElection(t *testing.T, c *cluster, m *member, name string) *electionObserver {
	t.Helper()
	conn, err := openSSE(streamClient(c), m, "/v1/elections/"+name+"/observe", nil)
	if err != nil {
		t.Fatal(err)
	}
	o := &electionObserver{conn: conn, done: make(chan struct{})}
	go o.read()
	t.Cleanup(func() {
		conn.close()
		<-o.done
	})
	return o
}

func (o *electionObserver) read() {
	defer close(o.done)
	fail := func(err error) {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.err = err
	}
	for {
		// A heartbeat comes every 200 ms (lockArgs): streamIdle without
		// a line is a stalled stream.
		msg, err := o.conn.next(streamIdle, time.Now().Add(time.Hour))
		if err != nil {
			fail(err)
			return
		}
		at := time.Now()
		if msg.event != "leader" {
			fail(fmt.Errorf("observer: event %q: %s", msg.event, msg.data))
			return
		}
		var kv electionKVJSON
		if err := json.Unmarshal([]byte(msg.data), &kv); err != nil {
			fail(fmt.Errorf("observer: %v in %s", err, msg.data))
			return
		}
		k, kerr := kv.Kv.key()
		v, verr := kv.Kv.value()
		rev, rerr := strconv.ParseInt(msg.id, 10, 64)
		if err := errors.Join(kerr, verr, rerr); err != nil || !msg.hasID {
			fail(fmt.Errorf("observer: message id %q, data %s: %v", msg.id, msg.data, err))
			return
		}
		o.mu.Lock()
		o.seen = append(o.seen, observedLeader{value: string(v), key: string(k), create: kv.Kv.CreateRevision, rev: rev, at: at})
		o.mu.Unlock()
	}
}

// observed returns the messages so far, and the error that ended the
// stream (nil while it runs).
func (o *electionObserver) observed() ([]observedLeader, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]observedLeader(nil), o.seen...), o.err
}

// TestElectionProc_LeaderKilled is the issue, with candidate processes:
// three candidates (values c0, c1, c2, session TTL 3 s), each through a
// different member first. kill -9 of the leader's process makes another
// candidate lead within the TTL plus a little (and not before the killed
// one's lease can have expired); kill -9 of that one makes the third lead.
// An observer, through a member, sees exactly these three leaders in order,
// each once, at increasing revisions, and GET /v1/elections/{name} shows
// the last one through every member.
func TestElectionProc_LeaderKilled(t *testing.T) {
	begin := time.Now()
	const ttl = 3
	const name = "proc/election"
	c := newCluster(t, 3, lockArgs...)
	obs := observeElection(t, c, c.members[1], name)

	started := time.Now()
	ps := make([]*lockProc, 3)
	for i := range ps {
		ps[i] = startLockClient(t, fmt.Sprintf("c%d", i),
			"--mode", "election",
			"--endpoints", endpointsFrom(c, i),
			"--name", name,
			"--value", fmt.Sprintf("c%d", i),
			"--ttl", strconv.Itoa(ttl),
			"--timeout", "60s")
	}
	alive := []int{0, 1, 2}
	leaders := []leaderLine{waitNewLeader(t, ps, alive, 15*time.Second)}
	t.Logf("%s leads (rev %d) %v after the candidates were started",
		ps[leaders[0].proc].name, leaders[0].rev, leaders[0].at.Sub(started).Round(time.Millisecond))
	// Every candidate is in the race before the leader dies.
	waitFor(t, 10*time.Second, "3 candidates", func() error {
		got, err := c.members[0].listPrefix(context.Background(), name+"/", "")
		if err != nil {
			return err
		}
		if len(got) != 3 {
			return fmt.Errorf("%d candidates: %v", len(got), got)
		}
		return nil
	})

	var tooks []time.Duration
	for round := range 2 {
		cur := leaders[len(leaders)-1]
		// The leader and the others still agree: one leader.
		if l := waitNewLeader(t, ps, alive, 0); l.proc != cur.proc {
			t.Fatalf("%s leads, want %s", ps[l.proc].name, ps[cur.proc].name)
		}
		killed := time.Now()
		ps[cur.proc].kill()
		alive = removeProc(alive, cur.proc)
		next := waitNewLeader(t, ps, alive, ttl*time.Second+10*time.Second)
		took := next.at.Sub(killed)
		if next.at.Before(killed) {
			t.Fatalf("%s led (rev %d) before %s was killed", ps[next.proc].name, next.rev, ps[cur.proc].name)
		}
		tooks = append(tooks, took)
		t.Logf("kill -9 #%d: %s leads (rev %d) %v after kill -9 of %s (session TTL %ds, renewed every %ds)",
			round+1, ps[next.proc].name, next.rev, took.Round(time.Millisecond), ps[cur.proc].name, ttl, max(ttl/3, 1))
		if limit := ttl*time.Second + 1500*time.Millisecond; took > limit {
			t.Errorf("%s leads %v after kill -9 of %s, want within %v", ps[next.proc].name, took, ps[cur.proc].name, limit)
		}
		// The killed leader renewed its lease every TTL/3 until it died:
		// the lease cannot have expired much sooner than 2/3 of the TTL
		// after the kill.
		if early := ttl*time.Second*2/3 - 300*time.Millisecond; took < early {
			t.Errorf("%s leads %v after kill -9 of %s: sooner than its lease (ttl %ds) can have expired",
				ps[next.proc].name, took, ps[cur.proc].name, ttl)
		}
		if next.rev <= cur.rev {
			t.Errorf("%s leads at rev %d after %s at rev %d: want a later candidate", ps[next.proc].name, next.rev, ps[cur.proc].name, cur.rev)
		}
		leaders = append(leaders, next)
	}
	last := leaders[len(leaders)-1]

	// GET the election: the last leader, through every member.
	var lastKey string
	for _, m := range c.members {
		var cur electionKVJSON
		if err := m.getJSON(context.Background(), "/v1/elections/"+name, &cur); err != nil {
			t.Fatal(err)
		}
		k, _ := cur.Kv.key()
		v, _ := cur.Kv.value()
		if string(v) != last.value || cur.Kv.CreateRevision != last.rev {
			t.Errorf("GET the election through %s: %q = %q (create rev %d), want %s's value %q at rev %d",
				m.name, k, v, cur.Kv.CreateRevision, ps[last.proc].name, last.value, last.rev)
		}
		lastKey = string(k)
	}

	// The observer saw exactly the three leaders, in order, each once.
	waitFor(t, 5*time.Second, "the observer to see 3 leaders", func() error {
		seen, err := obs.observed()
		if err != nil {
			return fmt.Errorf("the observe stream ended after %d messages: %v", len(seen), err)
		}
		if len(seen) < len(leaders) {
			return fmt.Errorf("%d leaders observed", len(seen))
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond) // nothing more may come
	seen, err := obs.observed()
	if err != nil {
		t.Fatalf("the observe stream ended: %v", err)
	}
	var render []string
	for _, s := range seen {
		render = append(render, fmt.Sprintf("%s %s (create %d) @%d", s.value, s.key, s.create, s.rev))
	}
	if len(seen) != len(leaders) {
		t.Fatalf("observed %d leaders, want %d: %q", len(seen), len(leaders), render)
	}
	keys := map[string]bool{}
	var lags []string
	for i, s := range seen {
		l := leaders[i]
		if s.value != l.value || s.create != l.rev {
			t.Errorf("observed leader #%d: %s, want %s (create rev %d); observed %q", i+1, render[i], l.value, l.rev, render)
		}
		if keys[s.key] {
			t.Errorf("observed leader #%d: key %s seen before: %q", i+1, s.key, render)
		}
		keys[s.key] = true
		if s.rev < s.create {
			t.Errorf("observed leader #%d at revision %d, before its key was created (%d)", i+1, s.rev, s.create)
		}
		if i > 0 && (s.rev <= seen[i-1].rev || s.create <= seen[i-1].create) {
			t.Errorf("observed leader #%d: %s after %s: want increasing revisions", i+1, render[i], render[i-1])
		}
		lags = append(lags, fmt.Sprintf("%s %+v", s.value, s.at.Sub(l.at).Round(time.Millisecond)))
	}
	if seen[len(seen)-1].key != lastKey {
		t.Errorf("the last observed leader is %s, GET the election says %s", seen[len(seen)-1].key, lastKey)
	}
	if !ps[last.proc].running() {
		t.Errorf("%s, the last leader, exited: %v: %s", ps[last.proc].name, ps[last.proc].err, ps[last.proc].stderrText())
	}
	t.Logf("leaders %s, %s, %s; observed %q; observer message vs LEADER line: %s; takeovers after kill -9: %v, %v; test took %v",
		leaders[0].value, leaders[1].value, leaders[2].value, render, strings.Join(lags, ", "),
		tooks[0].Round(time.Millisecond), tooks[1].Round(time.Millisecond), time.Since(begin).Round(time.Millisecond))
}

// remove returns s without the element v.
func removeProc(s []int, v int) []int {
	var out []int
	for _, x := range s {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}
