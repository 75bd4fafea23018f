package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The watch tests run their clusters with a heartbeat comment every 200 ms,
// so that a stream that stalls shows within seconds, and with at most
// watchMaxEvents events per SSE message, so that the writers' multi-key
// revisions are split into several messages of which only the last has an
// id.
const watchMaxEvents = 3

var watchArgs = []string{
	"--watch-heartbeat-interval", "200ms",
	"--max-watch-events", strconv.Itoa(watchMaxEvents),
}

// streamIdle is how long a stream may send nothing at all, not even a
// heartbeat comment, before the test gives up on it: 25 heartbeats.
const streamIdle = 5 * time.Second

// streamClient returns a client for SSE streams: the cluster's transport
// (with its dial and response header timeouts) but no overall timeout,
// which would cut a long stream.
func streamClient(c *cluster) *http.Client {
	return &http.Client{Transport: c.hc.Transport, CheckRedirect: c.hc.CheckRedirect}
}

// errStreamEnded is the error of a stream that the server ended or that
// broke (the member died): the client may reconnect.
var errStreamEnded = errors.New("the stream ended")

// statusError is a stream request that was answered with another status
// than 200.
type statusError struct {
	member string
	status int
	body   string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s: watch: %d %s", e.member, e.status, strings.TrimSpace(e.body))
}

// sseConn is one open SSE response, read line by line like curl -N does.
type sseConn struct {
	member *member
	resp   *http.Response
	cancel context.CancelFunc
	lines  chan string // closed when the reading ends; err is set by then
	err    error

	comments, heartbeats int
}

// openSSE sends GET pathAndQuery to m with the given extra header and
// returns the stream once the answer's header has come. An answer other
// than 200 is a *statusError.
func openSSE(hc *http.Client, m *member, pathAndQuery string, header http.Header) (*sseConn, error) {
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.clientURL+pathAndQuery, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := hc.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("%s: %w", m.name, err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		cancel()
		return nil, &statusError{member: m.name, status: resp.StatusCode, body: string(body)}
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("%s: GET %s: Content-Type %q, want text/event-stream", m.name, pathAndQuery, ct)
	}
	s := &sseConn{member: m, resp: resp, cancel: cancel, lines: make(chan string)}
	go s.read(ctx)
	return s, nil
}

// read sends the stream's lines, without their "\n", to s.lines.
func (s *sseConn) read(ctx context.Context) {
	defer close(s.lines)
	br := bufio.NewReader(s.resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if line != "" {
				err = fmt.Errorf("a last line without its newline, %q: %w", line, err)
			}
			s.err = err
			return
		}
		select {
		case s.lines <- strings.TrimSuffix(line, "\n"):
		case <-ctx.Done():
			s.err = ctx.Err()
			return
		}
	}
}

// close ends the stream from the client's side, as a browser or curl does
// when it goes away, and waits for the reading goroutine to end.
func (s *sseConn) close() {
	s.cancel()
	s.resp.Body.Close()
	for range s.lines {
	}
}

// line returns the next line, failing when none comes within idle. When the
// stream ended, the error wraps errStreamEnded.
func (s *sseConn) line(idle time.Duration) (string, error) {
	timer := time.NewTimer(idle)
	defer timer.Stop()
	select {
	case l, ok := <-s.lines:
		if !ok {
			return "", fmt.Errorf("%s: %w: %v", s.member.name, errStreamEnded, s.err)
		}
		if strings.Contains(l, "\r") {
			return "", fmt.Errorf("%s: a line holds a carriage return, which ends an SSE line: %q", s.member.name, l)
		}
		return l, nil
	case <-timer.C:
		return "", fmt.Errorf("%s: nothing on the stream for %v, not even a heartbeat", s.member.name, idle)
	}
}

// sseMsg is one dispatched SSE message.
type sseMsg struct {
	id    string
	hasID bool
	event string
	data  string
}

// next returns the next message, skipping comments (heartbeats). It fails
// when no line comes within idle, or no message before deadline.
func (s *sseConn) next(idle time.Duration, deadline time.Time) (sseMsg, error) {
	var m sseMsg
	fields := 0
	for {
		wait := min(idle, time.Until(deadline))
		if wait <= 0 {
			return sseMsg{}, fmt.Errorf("%s: no message (but heartbeats) until the deadline", s.member.name)
		}
		l, err := s.line(wait)
		if err != nil {
			if time.Now().After(deadline) {
				return sseMsg{}, fmt.Errorf("%s: no message (but heartbeats) until the deadline", s.member.name)
			}
			return sseMsg{}, err
		}
		switch {
		case l == "":
			if fields > 0 {
				return m, nil
			}
		case l[0] == ':':
			s.comments++
			if l == ": heartbeat" {
				s.heartbeats++
			}
		default:
			fields++
			name, value, _ := strings.Cut(l, ":")
			value = strings.TrimPrefix(value, " ")
			switch name {
			case "id":
				m.id, m.hasID = value, true
			case "event":
				m.event = value
			case "data":
				if m.data != "" {
					m.data += "\n"
				}
				m.data += value
			default:
				return sseMsg{}, fmt.Errorf("%s: unexpected SSE field in %q", s.member.name, l)
			}
		}
	}
}

// wEvent is one watch event in a form that compares with ==.
type wEvent struct {
	rev                         int64
	typ                         string
	key, value                  string
	create, mod, version, lease int64
	hasPrev                     bool
	prevValue                   string
	prevMod                     int64
}

func (e wEvent) String() string {
	s := fmt.Sprintf("rev %d %s %q", e.rev, e.typ, e.key)
	if e.typ == "PUT" {
		s += fmt.Sprintf(" = %q (create %d, mod %d, version %d, lease %d)", e.value, e.create, e.mod, e.version, e.lease)
	} else {
		s += fmt.Sprintf(" (mod %d)", e.mod)
	}
	if e.hasPrev {
		s += fmt.Sprintf(" prev %q@%d", e.prevValue, e.prevMod)
	}
	return s
}

type watchEventJSON struct {
	Type   string  `json:"type"`
	Kv     kvJSON  `json:"kv"`
	PrevKv *kvJSON `json:"prev_kv"`
}

type watchDataJSON struct {
	Header headerJSON       `json:"header"`
	Events []watchEventJSON `json:"events"`
}

// parseWatchData decodes the data of an "events" message and checks what
// holds for every one: 1 to watchMaxEvents events, all of the header's
// revision.
func parseWatchData(data string) (int64, []wEvent, error) {
	var d watchDataJSON
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		return 0, nil, fmt.Errorf("data %q: %w", data, err)
	}
	rev := d.Header.Revision
	if n := len(d.Events); n < 1 || n > watchMaxEvents {
		return 0, nil, fmt.Errorf("%d events in one message, want 1 to %d (--max-watch-events): %s", n, watchMaxEvents, data)
	}
	out := make([]wEvent, 0, len(d.Events))
	for _, ev := range d.Events {
		key, err := ev.Kv.key()
		if err != nil {
			return 0, nil, fmt.Errorf("event key: %w in %s", err, data)
		}
		e := wEvent{rev: rev, typ: ev.Type, key: string(key), create: ev.Kv.CreateRevision,
			mod: ev.Kv.ModRevision, version: ev.Kv.Version, lease: ev.Kv.Lease}
		switch ev.Type {
		case "PUT":
			v, err := ev.Kv.value()
			if err != nil {
				return 0, nil, fmt.Errorf("PUT event value: %w in %s", err, data)
			}
			e.value = string(v)
		case "DELETE":
		default:
			return 0, nil, fmt.Errorf("event type %q in %s", ev.Type, data)
		}
		if ev.Kv.ModRevision != rev {
			return 0, nil, fmt.Errorf("an event with mod_revision %d in a message of revision %d: %s", ev.Kv.ModRevision, rev, data)
		}
		if ev.PrevKv != nil {
			pv, _ := ev.PrevKv.value()
			e.hasPrev, e.prevValue, e.prevMod = true, string(pv), ev.PrevKv.ModRevision
		}
		out = append(out, e)
	}
	return rev, out, nil
}

// watchClient is an SSE client that resumes like a browser's EventSource:
// it reconnects with the same URL and Last-Event-ID set to the last id it
// got. A message without an id (a part of a split revision) is kept aside
// until the part with the id comes; at a disconnection the parts without
// it are dropped, since the server sends the whole revision again.
type watchClient struct {
	name   string
	hc     *http.Client
	url    string // path and query, the same for every connection
	prefix string // every event's key has it
	endKey string // the watch is complete with the PUT of this key

	conn       *sseConn
	lastID     int64    // the last id received: every revision up to it is in events
	events     []wEvent // the complete revisions, in order
	pending    []wEvent // parts of revision pendingRev that came without an id
	pendingRev int64
	done       bool // the PUT of endKey is in events

	connects, drops, midRevisionDrops, splits int
	msgs                                      atomic.Int64 // messages read, for the test's goroutine
	heartbeats                                int          // on the connections already closed
	connectedTo                               []string
}

func newWatchClient(name string, hc *http.Client, prefix string, startRev int64, endKey string) *watchClient {
	return &watchClient{
		name: name, hc: hc, prefix: prefix, endKey: endKey,
		url: keyPath([]byte(prefix))[len("/v1/kv"):] + "?prefix=true&prev_kv=true&start_revision=" + strconv.FormatInt(startRev, 10),
	}
}

// connect opens the stream on m, with Last-Event-ID once there is one,
// retrying answers 503 and transport errors (a member without a leader, or
// one still starting) for up to 10 s.
func (w *watchClient) connect(m *member) error {
	if w.conn != nil {
		return fmt.Errorf("%s: connect: still connected to %s", w.name, w.conn.member.name)
	}
	h := http.Header{}
	if w.lastID > 0 {
		h.Set("Last-Event-ID", strconv.FormatInt(w.lastID, 10))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := openSSE(w.hc, m, "/v1/watch"+w.url, h)
		if err == nil {
			w.conn = conn
			w.connects++
			w.connectedTo = append(w.connectedTo, fmt.Sprintf("%s@%d", m.name, w.lastID))
			return nil
		}
		var se *statusError
		if errors.As(err, &se) && se.status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			return fmt.Errorf("%s: connecting to %s with Last-Event-ID %d: %w", w.name, m.name, w.lastID, err)
		}
		time.Sleep(50 * time.Millisecond) // a retry pace, as an EventSource's retry delay
	}
}

// disconnect closes the stream from the client's side.
func (w *watchClient) disconnect() {
	if w.conn == nil {
		return
	}
	w.conn.close()
	w.heartbeats += w.conn.heartbeats
	w.conn = nil
	w.drops++
	if len(w.pending) > 0 {
		w.midRevisionDrops++
		w.pending, w.pendingRev = nil, 0
	}
}

// msgTimeout bounds the wait for one message while the writer runs.
const msgTimeout = 10 * time.Second

// step reads one message, waiting until deadline at most, and checks it:
// an "events" message whose revision follows the last one (or continues a
// split revision), with every event under the prefix; an id, when there is
// one, equal to the revision. It returns whether the message had an id.
func (w *watchClient) step(deadline time.Time) (bool, error) {
	m, err := w.conn.next(streamIdle, deadline)
	if err != nil {
		return false, fmt.Errorf("%s: %w", w.name, err)
	}
	w.msgs.Add(1)
	if m.event != "events" {
		return false, fmt.Errorf("%s: %s sent event %q, want events: %s", w.name, w.conn.member.name, m.event, m.data)
	}
	rev, evs, err := parseWatchData(m.data)
	if err != nil {
		return false, fmt.Errorf("%s: %s: %w", w.name, w.conn.member.name, err)
	}
	switch {
	case len(w.pending) > 0 && rev != w.pendingRev:
		return false, fmt.Errorf("%s: %s: a message of revision %d after parts of revision %d without its last part (with the id)",
			w.name, w.conn.member.name, rev, w.pendingRev)
	case len(w.pending) == 0 && rev <= w.lastID:
		return false, fmt.Errorf("%s: %s: a message of revision %d after revision %d (Last-Event-ID sent: %s): duplicate or out of order",
			w.name, w.conn.member.name, rev, w.lastID, w.connectedTo[len(w.connectedTo)-1])
	}
	for _, e := range evs {
		if !strings.HasPrefix(e.key, w.prefix) {
			return false, fmt.Errorf("%s: %s: an event of key %q, outside the watched prefix %q", w.name, w.conn.member.name, e.key, w.prefix)
		}
	}
	w.pending, w.pendingRev = append(w.pending, evs...), rev
	if !m.hasID {
		if len(evs) != watchMaxEvents {
			return false, fmt.Errorf("%s: %s: a message without an id with %d events: only the last part of a split revision may have less than %d",
				w.name, w.conn.member.name, len(evs), watchMaxEvents)
		}
		return false, nil
	}
	if m.id != strconv.FormatInt(rev, 10) {
		return false, fmt.Errorf("%s: %s: id %q on a message of revision %d", w.name, w.conn.member.name, m.id, rev)
	}
	if len(w.pending) > len(evs) {
		w.splits++
	}
	for _, e := range w.pending {
		if e.typ == "PUT" && e.key == w.endKey {
			w.done = true
		}
	}
	w.events = append(w.events, w.pending...)
	w.lastID, w.pending, w.pendingRev = rev, nil, 0
	return true, nil
}

// read reads n messages.
func (w *watchClient) read(n int) error {
	for range n {
		if _, err := w.step(time.Now().Add(msgTimeout)); err != nil {
			return err
		}
	}
	return nil
}

// readToEnd reads until the PUT of the end key, for at most timeout.
func (w *watchClient) readToEnd(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !w.done {
		if _, err := w.step(deadline); err != nil {
			return fmt.Errorf("%w, waiting %v for the PUT of %q (last id %d)", err, timeout, w.endKey, w.lastID)
		}
	}
	return nil
}

// watchWriter changes keys under its prefix through the given members in
// turn, with puts, deletes, transactions of several puts and range deletes
// (revisions with several events), and writes keys outside the prefix.
type watchWriter struct {
	members []*member
	prefix  string

	acked atomic.Int64 // writes answered 200

	mu       sync.Mutex
	revs     []int64        // revisions made by acknowledged writes under the prefix
	failures map[string]int // outcome → count, for the log
}

func newWatchWriter(prefix string, members []*member) *watchWriter {
	return &watchWriter{members: members, prefix: prefix, failures: map[string]int{}}
}

// run writes until stop is closed; a request under way then is answered
// (or times out) first. Only a 4xx answer is an error; 5xx and transport
// errors are what a client sees from a dead member or during an election.
func (ww *watchWriter) run(stop <-chan struct{}, t *testing.T) {
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	for i := 0; !stopped(); i++ {
		m := ww.members[i%len(ww.members)]
		var method, path string
		var body []byte
		under := true // the write is under the prefix
		switch op := i % 10; {
		case op <= 5:
			method, path = http.MethodPut, keyPath([]byte(fmt.Sprintf("%sk/%02d", ww.prefix, i%16)))
			body = []byte(fmt.Sprintf("value %d through %s\nsecond line", i, m.name))
		case op == 6:
			method, path = http.MethodDelete, keyPath([]byte(fmt.Sprintf("%sk/%02d", ww.prefix, (i*7)%16)))
		case op == 7:
			// One revision of five puts: a message of 3 events without an
			// id, then one of 2 with it.
			var ops []string
			for j := range 5 {
				ops = append(ops, fmt.Sprintf(`{"put": {"key": %q, "value": "txn %d/%d"}}`, fmt.Sprintf("%sg/%d/%d", ww.prefix, i, j), i, j))
			}
			method, path = http.MethodPost, "/v1/txn"
			body = []byte(`{"success": [` + strings.Join(ops, ", ") + `]}`)
		case op == 8:
			method, path = http.MethodDelete, keyPath([]byte(ww.prefix+"g/"))+"?prefix=true"
		default:
			method, path, under = http.MethodPut, keyPath([]byte(fmt.Sprintf("outside-%s%d", ww.prefix, i))), false
			body = []byte("not watched")
		}
		rctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
		r, err := m.do(rctx, method, path, body)
		cancel()
		switch {
		case err == nil && r.status == http.StatusOK:
			ww.acked.Add(1)
			var out struct {
				Header  headerJSON `json:"header"`
				Deleted *int64     `json:"deleted"`
			}
			if err := json.Unmarshal(r.body, &out); err != nil {
				t.Errorf("%s: %s %s: %v in %s", m.name, method, path, err, r.body)
				return
			}
			if under && (out.Deleted == nil || *out.Deleted > 0) {
				ww.mu.Lock()
				ww.revs = append(ww.revs, out.Header.Revision)
				ww.mu.Unlock()
			}
		case err != nil || r.status >= 500:
			outcome := "no answer"
			if err == nil {
				outcome = strconv.Itoa(r.status) + " " + r.errorCode()
			}
			ww.mu.Lock()
			ww.failures[outcome]++
			ww.mu.Unlock()
			select { // do not spin on a dead member or while there is no leader
			case <-stop:
			case <-time.After(25 * time.Millisecond):
			}
		default:
			t.Errorf("%s: %s %s: %v", m.name, method, path, r)
			return
		}
	}
}

// start runs the writer in a goroutine and returns a function that stops
// it and waits for it.
func (ww *watchWriter) start(t *testing.T) (stop func()) {
	ch := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { ww.run(ch, t) })
	var once sync.Once
	stop = func() { once.Do(func() { close(ch); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// waitWrites waits until n more writes than now are acknowledged.
func (ww *watchWriter) waitWrites(t *testing.T, n int64) {
	t.Helper()
	target := ww.acked.Load() + n
	waitFor(t, 10*time.Second, fmt.Sprintf("%d more acknowledged writes", n), func() error {
		if got := ww.acked.Load(); got < target {
			return fmt.Errorf("%d of %d writes acknowledged", got, target)
		}
		return nil
	})
}

// checkHistory checks that the history a client put together equals the
// reference history, event for event.
func checkHistory(t *testing.T, got *watchClient, want []wEvent) {
	t.Helper()
	n := min(len(got.events), len(want))
	for i := range n {
		if got.events[i] != want[i] {
			lo := max(0, i-2)
			t.Errorf("%s (connections %v): event %d differs from the reference:\n got %v\nwant %v\n got around it: %v\nwant around it: %v",
				got.name, got.connectedTo, i, got.events[i], want[i], got.events[lo:min(len(got.events), i+3)], want[lo:min(len(want), i+3)])
			return
		}
	}
	if len(got.events) != len(want) {
		t.Errorf("%s (connections %v): %d events, the reference has %d; the first %d are equal; got after them: %v, want after them: %v",
			got.name, got.connectedTo, len(got.events), len(want), n, got.events[n:min(len(got.events), n+3)], want[n:min(len(want), n+3)])
	}
}

// referenceHistory reads the whole history from startRev to the end key
// with a fresh watcher on m, and checks it against the store: it contains
// every revision that an acknowledged write made, and replaying it gives
// what m lists under the prefix.
func referenceHistory(t *testing.T, hc *http.Client, m *member, prefix string, startRev int64, endKey string, ww *watchWriter) []wEvent {
	t.Helper()
	ref := newWatchClient("reference watcher on "+m.name, hc, prefix, startRev, endKey)
	if err := ref.connect(m); err != nil {
		t.Fatal(err)
	}
	err := ref.readToEnd(20 * time.Second)
	ref.disconnect()
	if err != nil {
		t.Fatal(err)
	}

	// Every key under the prefix is new since startRev, so each event's
	// prev_kv is the key's last PUT before it in the history, if any.
	revs := map[int64]bool{}
	state := map[string]string{}
	last := map[string]wEvent{}
	badPrev := 0
	for _, e := range ref.events {
		revs[e.rev] = true
		p, had := last[e.key]
		if e.hasPrev != had || had && (e.prevValue != p.value || e.prevMod != p.mod) {
			if badPrev++; badPrev <= 5 {
				t.Errorf("%s: %v: prev_kv wrong; the last change of the key before it was %v (present: %v)", ref.name, e, p, had)
			}
		}
		if e.typ == "PUT" {
			state[e.key] = e.value
			last[e.key] = e
		} else {
			delete(state, e.key)
			delete(last, e.key)
		}
	}
	ww.mu.Lock()
	missing := 0
	for _, r := range ww.revs {
		if !revs[r] {
			missing++
			if missing <= 5 {
				t.Errorf("%s: revision %d of an acknowledged write under %q is not in the history", ref.name, r, prefix)
			}
		}
	}
	nacked := len(ww.revs)
	ww.mu.Unlock()
	// At the end key's revision: a write whose answer never came may still
	// be applied after it.
	got, err := m.listPrefix(context.Background(), prefix, "&revision="+strconv.FormatInt(ref.lastID, 10))
	if err != nil {
		t.Fatal(err)
	}
	if d := diffKeys(got, state); len(d) > 0 {
		t.Errorf("%s: replaying the history from revision %d does not give what %s lists under %q at revision %d; keys that differ: %q",
			ref.name, startRev, m.name, prefix, ref.lastID, d)
	}
	t.Logf("reference history: %d events in %d revisions (%d split into several messages) from revision %d to %d; %d acknowledged writes under the prefix, %d missing",
		len(ref.events), len(revs), ref.splits, startRev, ref.lastID, nacked, missing)
	return ref.events
}

// TestWatch_ResumeAfterDisconnect has a writer change keys under a prefix
// through every member while an SSE client on a follower reads some
// messages, goes away and comes back with Last-Event-ID, several times and
// in several ways: after a number of messages, in the middle of a revision
// split into several messages, without reading anything, and after writes
// were made while it was away. What it put together must equal the history
// that a fresh watcher reads at the end.
func TestWatch_ResumeAfterDisconnect(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	c := newCluster(t, 3, watchArgs...)
	leader := c.leader()
	followers := c.others(leader)
	follower := followers[0]
	hc := streamClient(c)
	const prefix, endKey = "wr/", "wr/the-end"
	st, err := leader.status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	startRev := st.Revision + 1

	ww := newWatchWriter(prefix, c.members)
	stop := ww.start(t)
	cl := newWatchClient("client on "+follower.name, hc, prefix, startRev, endKey)
	defer cl.disconnect()
	ww.waitWrites(t, 20)

	const cycles = 8
	for i := range cycles {
		if err := cl.connect(follower); err != nil {
			t.Fatal(err)
		}
		switch i % 4 {
		case 0: // some messages, then go away
			if err := cl.read(5 + rand.IntN(30)); err != nil {
				t.Fatal(err)
			}
		case 1: // go away in the middle of a split revision
			for {
				hasID, err := cl.step(time.Now().Add(msgTimeout))
				if err != nil {
					t.Fatal(err)
				}
				if !hasID {
					break
				}
			}
		case 2: // go away and let the writer make changes meanwhile
			if err := cl.read(1 + rand.IntN(10)); err != nil {
				t.Fatal(err)
			}
			cl.disconnect()
			ww.waitWrites(t, 30)
		case 3: // go away before reading anything
		}
		cl.disconnect()
	}
	stop()
	putEventually(t, leader, endKey, "the end")
	if err := cl.connect(follower); err != nil {
		t.Fatal(err)
	}
	if err := cl.readToEnd(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	cl.disconnect()
	ww.mu.Lock()
	t.Logf("writer: %d writes acknowledged, failures %v", ww.acked.Load(), ww.failures)
	ww.mu.Unlock()
	t.Logf("%s: %d connections, %d events, %d split revisions, %d disconnections in the middle of a revision, %d heartbeats",
		cl.name, cl.connects, len(cl.events), cl.splits, cl.midRevisionDrops, cl.heartbeats)
	if cl.midRevisionDrops == 0 {
		t.Errorf("the client never went away in the middle of a split revision")
	}

	want := referenceHistory(t, hc, followers[1], prefix, startRev, endKey, ww)
	checkHistory(t, cl, want)
	t.Logf("test took %v", time.Since(begin))
}

// TestWatch_ResumeAfterMemberKilled kills, with SIGKILL, the member that SSE
// clients read from: one client resumes on another member with
// Last-Event-ID, the other waits for the killed member to restart and
// resumes there (reading what it missed from the store). Then it kills the
// leader while both clients stream from the followers: their streams must
// not end, and must go on delivering. Each client's history must equal the
// one a fresh watcher reads at the end.
func TestWatch_ResumeAfterMemberKilled(t *testing.T) {
	begin := time.Now()
	c := newCluster(t, 3, watchArgs...)
	leader := c.leader()
	followers := c.others(leader)
	victim, other := followers[0], followers[1]
	hc := streamClient(c)
	const prefix, endKey = "wk/", "wk/the-end"
	st, err := leader.status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	startRev := st.Revision + 1

	ww := newWatchWriter(prefix, c.members)
	stop := ww.start(t)
	moving := newWatchClient("client moving away", hc, prefix, startRev, endKey)
	waiting := newWatchClient("client waiting for its member", hc, prefix, startRev, endKey)
	defer moving.disconnect()
	defer waiting.disconnect()
	for _, cl := range []*watchClient{moving, waiting} {
		if err := cl.connect(victim); err != nil {
			t.Fatal(err)
		}
		if err := cl.read(20); err != nil {
			t.Fatal(err)
		}
	}

	// Kill the member under the clients' feet; they read what reached them,
	// then see the stream break.
	victim.kill()
	killedAt := time.Now()
	for _, cl := range []*watchClient{moving, waiting} {
		for {
			_, err := cl.step(time.Now().Add(msgTimeout))
			if errors.Is(err, errStreamEnded) {
				break
			}
			if err != nil {
				t.Fatalf("after %s was killed: %v", victim.name, err)
			}
		}
		cl.disconnect()
	}
	t.Logf("the streams of both clients ended %v after the kill of %s", time.Since(killedAt).Round(time.Millisecond), victim.name)
	if err := moving.connect(other); err != nil {
		t.Fatal(err)
	}
	if err := moving.read(20); err != nil {
		t.Fatal(err)
	}
	ww.waitWrites(t, 30)
	victim.start()
	t.Logf("%s ready %v after its restart", victim.name, victim.waitReady(15*time.Second).Round(time.Millisecond))
	if err := waiting.connect(victim); err != nil {
		t.Fatal(err)
	}
	if err := waiting.read(20); err != nil {
		t.Fatal(err)
	}

	// Both clients on the followers of the leader, then kill the leader.
	leader = c.leader()
	followers = c.others(leader)
	for i, cl := range []*watchClient{moving, waiting} {
		cl.disconnect()
		if err := cl.connect(followers[i]); err != nil {
			t.Fatal(err)
		}
	}
	type result struct {
		cl  *watchClient
		err error
	}
	results := make(chan result, 2)
	running := 0
	defer func() {
		// After a failure before the results were collected: end the
		// streams (the cancel is safe from this goroutine) and wait for
		// the readers, before the deferred disconnections.
		if running > 0 {
			moving.conn.cancel()
			waiting.conn.cancel()
			for range running {
				<-results
			}
		}
	}()
	for _, cl := range []*watchClient{moving, waiting} {
		running++
		connects := cl.connects
		go func() {
			err := cl.readToEnd(40 * time.Second)
			if err == nil && cl.connects != connects {
				err = fmt.Errorf("%s reconnected", cl.name)
			}
			results <- result{cl, err}
		}()
	}
	// From here until the results, only the goroutines above touch the
	// clients (but for their atomic message counts).
	before := [2]int64{moving.msgs.Load(), waiting.msgs.Load()}
	waitFor(t, 10*time.Second, "both clients to read 10 messages on the followers", func() error {
		if moving.msgs.Load() < before[0]+10 || waiting.msgs.Load() < before[1]+10 {
			return fmt.Errorf("%d and %d messages read", moving.msgs.Load()-before[0], waiting.msgs.Load()-before[1])
		}
		return nil
	})
	atKill := [2]int64{moving.msgs.Load(), waiting.msgs.Load()}
	leader.kill()
	killedAt = time.Now()
	ww.waitWrites(t, 30)
	t.Logf("leader %s killed; 30 writes acknowledged %v later", leader.name, time.Since(killedAt).Round(time.Millisecond))
	// The streams that were open on the followers deliver the writes made
	// under the new leader while the writer still runs.
	waitFor(t, 10*time.Second, "both clients to read 10 messages after the leader's kill", func() error {
		if moving.msgs.Load() < atKill[0]+10 || waiting.msgs.Load() < atKill[1]+10 {
			return fmt.Errorf("%d and %d messages read since the kill", moving.msgs.Load()-atKill[0], waiting.msgs.Load()-atKill[1])
		}
		return nil
	})
	stop()
	putEventually(t, followers[0], endKey, "the end")
	for ; running > 0; running-- {
		r := <-results // readToEnd is bounded: every client answers
		if r.err != nil {
			t.Errorf("while the leader was killed, the stream from a follower: %v", r.err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	for i, cl := range []*watchClient{moving, waiting} {
		t.Logf("%s: connections %v, %d events, %d split revisions, %d messages after the leader's kill",
			cl.name, cl.connectedTo, len(cl.events), cl.splits, cl.msgs.Load()-atKill[i])
	}
	ww.mu.Lock()
	t.Logf("writer: %d writes acknowledged, failures %v", ww.acked.Load(), ww.failures)
	ww.mu.Unlock()

	want := referenceHistory(t, hc, followers[1], prefix, startRev, endKey, ww)
	checkHistory(t, moving, want)
	checkHistory(t, waiting, want)
	t.Logf("test took %v", time.Since(begin))
}

// TestWatch_CurlLike reads a watch through a follower line by line, as
// curl -N shows it, and checks the exact framing: an opening comment, then
// blocks of id / event / data lines separated by blank lines, a split
// revision as parts without an id followed by one with it, and heartbeat
// comments when idle. A second stream resumed with Last-Event-ID starts
// with the first part of the next revision.
func TestWatch_CurlLike(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	c := newCluster(t, 3, watchArgs...)
	leader := c.leader()
	followers := c.others(leader)
	via, writer := followers[0], followers[1]
	hc := streamClient(c)

	conn, err := openSSE(hc, via, "/v1/watch/wc/?prefix=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.close()
	if cc := conn.resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("Cache-Control %q, want no-cache", cc)
	}
	headerRev, err := strconv.ParseInt(conn.resp.Header.Get("X-Cairn-Revision"), 10, 64)
	if err != nil {
		t.Errorf("X-Cairn-Revision %q: %v", conn.resp.Header.Get("X-Cairn-Revision"), err)
	}
	var lines []string // every line read, for the error messages
	line := func() string {
		t.Helper()
		l, err := conn.line(streamIdle)
		if err != nil {
			t.Fatalf("%v; the lines so far: %q", err, lines)
		}
		lines = append(lines, l)
		return l
	}
	if l, want := line(), fmt.Sprintf(": watching from revision %d", headerRev+1); l != want {
		t.Fatalf("first line %q, want %q", l, want)
	}
	if l := line(); l != "" {
		t.Fatalf("second line %q, want a blank line after the opening comment", l)
	}

	// Writes through the other follower: a value with line breaks, a
	// transaction of 7 puts (3 + 3 + 1 events), a write outside the
	// prefix, a range delete of the 7 keys, a last put.
	mustOK := func(method, path string, body []byte) int64 {
		t.Helper()
		r, err := writer.call(method, path, body)
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("%s %s through %s: %v %v", method, path, writer.name, r, err)
		}
		var out struct {
			Header headerJSON `json:"header"`
		}
		if err := json.Unmarshal(r.body, &out); err != nil {
			t.Fatal(err)
		}
		return out.Header.Revision
	}
	tricky := "line one\nline two\r\ndata: not a field\n\nid: 1\u2028end"
	revPut := mustOK(http.MethodPut, keyPath([]byte("wc/a")), []byte(tricky))
	var ops, txnKeys []string
	for j := range 7 {
		k := fmt.Sprintf("wc/t/%d", j)
		txnKeys = append(txnKeys, k)
		ops = append(ops, fmt.Sprintf(`{"put": {"key": %q, "value": "v%d"}}`, k, j))
	}
	revTxn := mustOK(http.MethodPost, "/v1/txn", []byte(`{"success": [`+strings.Join(ops, ", ")+`]}`))
	mustOK(http.MethodPut, keyPath([]byte("wd/outside")), []byte("not watched"))
	revDel := mustOK(http.MethodDelete, keyPath([]byte("wc/t/"))+"?prefix=true", nil)
	revLast := mustOK(http.MethodPut, keyPath([]byte("wc/z")), []byte("last"))

	// The blocks expected, in order; heartbeat comments may come between
	// any two. Each is the lines of one message and the keys of its events.
	type block struct {
		id   int64 // 0: no id line
		rev  int64
		typ  string
		keys []string
	}
	want := []block{
		{id: revPut, rev: revPut, typ: "PUT", keys: []string{"wc/a"}},
		{rev: revTxn, typ: "PUT", keys: txnKeys[0:3]},
		{rev: revTxn, typ: "PUT", keys: txnKeys[3:6]},
		{id: revTxn, rev: revTxn, typ: "PUT", keys: txnKeys[6:7]},
		{rev: revDel, typ: "DELETE", keys: txnKeys[0:3]},
		{rev: revDel, typ: "DELETE", keys: txnKeys[3:6]},
		{id: revDel, rev: revDel, typ: "DELETE", keys: txnKeys[6:7]},
		{id: revLast, rev: revLast, typ: "PUT", keys: []string{"wc/z"}},
	}
	heartbeats := 0
	readBlock := func(b block) {
		t.Helper()
		l := line()
		for idle := 0; l == ": heartbeat"; idle++ {
			if heartbeats++; idle == 50 {
				t.Fatalf("50 heartbeats (10 s) and no message of revision %d; lines: %q", b.rev, lines)
			}
			if l = line(); l != "" {
				t.Fatalf("%q after a heartbeat comment, want a blank line; lines: %q", l, lines)
			}
			l = line()
		}
		if b.id != 0 {
			if want := fmt.Sprintf("id: %d", b.id); l != want {
				t.Fatalf("line %q, want %q; lines: %q", l, want, lines)
			}
			l = line()
		}
		if l != "event: events" {
			t.Fatalf("line %q, want \"event: events\"; lines: %q", l, lines)
		}
		l = line()
		data, ok := strings.CutPrefix(l, "data: ")
		if !ok {
			t.Fatalf("line %q, want a data line; lines: %q", l, lines)
		}
		if l := line(); l != "" {
			t.Fatalf("line %q after the data line, want a blank line (the JSON on one line); lines: %q", l, lines)
		}
		rev, evs, err := parseWatchData(data)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, e := range evs {
			keys = append(keys, e.key)
			if e.typ != b.typ {
				t.Errorf("revision %d: a %s event, want %s: %s", rev, e.typ, b.typ, data)
			}
			if e.key == "wc/a" && e.value != tricky {
				t.Errorf("the value of wc/a came as %q, want %q", e.value, tricky)
			}
		}
		if rev != b.rev || strings.Join(keys, " ") != strings.Join(b.keys, " ") {
			t.Errorf("a message of revision %d with the keys %q, want revision %d with %q", rev, keys, b.rev, b.keys)
		}
	}
	for _, b := range want {
		readBlock(b)
	}
	// Nothing more but heartbeats: read two.
	for range 2 {
		if l := line(); l != ": heartbeat" {
			t.Fatalf("line %q once idle, want \": heartbeat\"; lines: %q", l, lines)
		}
		heartbeats++
		if l := line(); l != "" {
			t.Fatalf("line %q after a heartbeat, want a blank line", l)
		}
	}
	t.Logf("the stream through %s: %d lines, %d heartbeats", via.name, len(lines), heartbeats)

	// Resume after the put: the stream goes on with the first part of the
	// transaction.
	conn2, err := openSSE(hc, via, "/v1/watch/wc/?prefix=true", http.Header{"Last-Event-Id": {strconv.FormatInt(revPut, 10)}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.close()
	conn, lines = conn2, nil
	if l, want := line(), fmt.Sprintf(": watching from revision %d", revPut+1); l != want {
		t.Fatalf("resumed stream: first line %q, want %q", l, want)
	}
	if l := line(); l != "" {
		t.Fatalf("resumed stream: second line %q, want a blank line", l)
	}
	for _, b := range want[1:] {
		readBlock(b)
	}
	t.Logf("test took %v", time.Since(begin))
}
