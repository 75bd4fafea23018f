package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The watch tests talk to in-process members over HTTP, as clients would:
// Server-Sent Events streams for watchers, plain requests for writes.
// CAIRN_SOAK=1 runs the long versions (1,000 watchers and 10,000 writes;
// 5 s of writes against a slow reader); run those without -race.

func soakMode() bool { return os.Getenv("CAIRN_SOAK") == "1" }

// sseEvent is one thing read from an event stream: a comment line, or a
// message made of id, event and data fields.
type sseEvent struct {
	Comment   string // the comment's text (without ": ") when IsComment
	IsComment bool
	ID        string
	HasID     bool
	Event     string // "message" when the stream named none
	Data      string // the data lines, joined with "\n"
}

// readSSE parses an event stream and calls fn for every comment and every
// message, until fn returns false, the stream ends (nil) or fails.
func readSSE(r io.Reader, fn func(sseEvent) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4<<10), 64<<20)
	var cur sseEvent
	var data []string
	pending := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if pending {
				cur.Data = strings.Join(data, "\n")
				if cur.Event == "" {
					cur.Event = "message"
				}
				if !fn(cur) {
					return nil
				}
			}
			cur, data, pending = sseEvent{}, nil, false
		case line[0] == ':':
			if !fn(sseEvent{IsComment: true, Comment: strings.TrimPrefix(line[1:], " ")}) {
				return nil
			}
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				cur.ID, cur.HasID = value, true
			case "event":
				cur.Event = value
			case "data":
				data = append(data, value)
			}
			pending = true
		}
	}
	return sc.Err()
}

// sseStream is an open watch stream read by its own goroutine. Events wait
// in a channel of the capacity given to openSSE: with 0 the goroutine reads
// the socket only as fast as the test takes events, so TCP backpressure
// reaches the server.
type sseStream struct {
	t     testing.TB
	ch    chan sseEvent
	err   error // why the stream ended; read it after ch is closed
	close func()
}

// sseClient returns a client for streams: no overall timeout (a stream
// lasts), connections closed when the test ends.
func sseClient(t testing.TB) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// openWatch sends GET url (a /v1/watch/ URL) with the given headers and
// returns the response once its headers arrived. The request ends, at the
// latest, after timeout.
func openWatch(t testing.TB, c *http.Client, url string, header http.Header, timeout time.Duration) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
	})
	return resp, nil
}

// openSSE opens a watch stream that must answer 200 text/event-stream and
// reads it in a goroutine into a channel of capacity buffered.
func openSSE(t testing.TB, c *http.Client, url string, header http.Header, buffered int) *sseStream {
	t.Helper()
	resp, err := openWatch(t, c, url, header, 5*time.Minute)
	if err != nil {
		t.Fatalf("watch %s: %v", url, err)
	}
	return newSSEStream(t, resp, buffered)
}

// newSSEStream reads the event stream of resp.
func newSSEStream(t testing.TB, resp *http.Response, buffered int) *sseStream {
	t.Helper()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		t.Fatalf("watch %s: %d %s %s", resp.Request.URL, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	s := &sseStream{t: t, ch: make(chan sseEvent, buffered)}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(s.ch)
		s.err = readSSE(resp.Body, func(ev sseEvent) bool {
			select {
			case s.ch <- ev:
				return true
			case <-stop:
				return false
			}
		})
	}()
	var once sync.Once
	s.close = func() {
		once.Do(func() {
			close(stop)
			resp.Body.Close()
			<-done
		})
	}
	t.Cleanup(s.close)
	return s
}

// next returns the next comment or message, or false at the end of the
// stream. It fails the test after timeout.
func (s *sseStream) next(timeout time.Duration) (sseEvent, bool) {
	s.t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case ev, ok := <-s.ch:
		return ev, ok
	case <-timer.C:
		s.t.Fatalf("no event on the watch stream in %v", timeout)
		return sseEvent{}, false
	}
}

// nextMessage is next without the comments.
func (s *sseStream) nextMessage(timeout time.Duration) (sseEvent, bool) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ev, ok := s.next(time.Until(deadline))
		if !ok || !ev.IsComment {
			return ev, ok
		}
	}
}

// waitEnd waits until the stream ends and returns its read error.
func (s *sseStream) waitEnd(timeout time.Duration) error {
	s.t.Helper()
	for {
		ev, ok := s.next(timeout)
		if !ok {
			return s.err
		}
		if !ev.IsComment {
			s.t.Fatalf("after the last message: %+v", ev)
		}
	}
}

// watchKV, watchEvent and watchData are the JSON of a watch message.
type watchKV struct {
	Key            string `json:"key"`
	Value          string `json:"value"`
	CreateRevision int64  `json:"create_revision"`
	ModRevision    int64  `json:"mod_revision"`
	Version        int64  `json:"version"`
	Lease          int64  `json:"lease"`
}

// String is the kv as the tests compare it (hand-made: the soak formats
// millions of them).
func (kv *watchKV) String() string {
	if kv == nil {
		return "-"
	}
	b := make([]byte, 0, 64)
	b = append(b, kv.Key...)
	b = append(b, '=')
	b = strconv.AppendQuote(b, kv.Value)
	b = append(b, " c"...)
	b = strconv.AppendInt(b, kv.CreateRevision, 10)
	b = append(b, " m"...)
	b = strconv.AppendInt(b, kv.ModRevision, 10)
	b = append(b, " v"...)
	b = strconv.AppendInt(b, kv.Version, 10)
	b = append(b, " l"...)
	b = strconv.AppendInt(b, kv.Lease, 10)
	return string(b)
}

type watchEvent struct {
	Type   string   `json:"type"`
	Kv     watchKV  `json:"kv"`
	PrevKv *watchKV `json:"prev_kv"`
}

func (ev *watchEvent) String() string {
	return ev.Type + " " + ev.Kv.String() + " prev " + ev.PrevKv.String()
}

type watchData struct {
	Header struct {
		Revision int64 `json:"revision"`
	} `json:"header"`
	Events []watchEvent `json:"events"`
	Error  *struct {
		Code            string `json:"code"`
		Message         string `json:"message"`
		CompactRevision int64  `json:"compact_revision"`
	} `json:"error"`
}

func decodeWatch(t testing.TB, ev sseEvent) watchData {
	t.Helper()
	var d watchData
	if err := json.Unmarshal([]byte(ev.Data), &d); err != nil {
		t.Fatalf("watch message %q: %v", ev.Data, err)
	}
	return d
}

// watchingFrom parses the opening comment ": watching from revision N".
func watchingFrom(ev sseEvent) (int64, bool) {
	s, ok := strings.CutPrefix(ev.Comment, "watching from revision ")
	if !ev.IsComment || !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// fromLine returns the start revision of an opening line, if ev is one.
func fromLine(ev sseEvent) []int64 {
	if n, ok := watchingFrom(ev); ok {
		return []int64{n}
	}
	return nil
}

// expectPuts reads one message per revision in revs, each holding one PUT
// of key.
func expectPuts(t *testing.T, s *sseStream, key string, revs ...int64) {
	t.Helper()
	for _, rev := range revs {
		ev, ok := s.nextMessage(10 * time.Second)
		if !ok {
			t.Fatalf("stream ended (%v), want revision %d", s.err, rev)
		}
		d := decodeWatch(t, ev)
		if ev.Event != "events" || ev.ID != strconv.FormatInt(rev, 10) || d.Header.Revision != rev ||
			len(d.Events) != 1 || d.Events[0].Type != "PUT" || d.Events[0].Kv.Key != key || d.Events[0].Kv.ModRevision != rev {
			t.Fatalf("want a PUT of %s at %d, got %+v", key, rev, ev)
		}
	}
}

// expectError reads an error event with code and then the end of the
// stream, and returns the error's compact_revision.
func expectError(t *testing.T, s *sseStream, code string) int64 {
	t.Helper()
	ev, ok := s.nextMessage(10 * time.Second)
	if !ok {
		t.Fatalf("stream ended (%v), want an error event %s", s.err, code)
	}
	return checkError(t, s, ev, code)
}

// checkError checks that ev is an error event with code and that the
// stream ends after it.
func checkError(t *testing.T, s *sseStream, ev sseEvent, code string) int64 {
	t.Helper()
	d := decodeWatch(t, ev)
	if ev.Event != "error" || ev.HasID || d.Error == nil || d.Error.Code != code || d.Error.Message == "" || d.Header.Revision == 0 {
		t.Fatalf("want an error event %s (with a header, without an id), got %+v", code, ev)
	}
	if err := s.waitEnd(10 * time.Second); err != nil {
		t.Fatalf("after the error event the stream broke instead of ending: %v", err)
	}
	return d.Error.CompactRevision
}

// startWatchCluster is startCluster with a hook that adjusts each member's
// configuration.
func startWatchCluster(t testing.TB, n int, adjust func(*Config)) []*member {
	t.Helper()
	peers := make([]Peer, n)
	ports := make([]int, n)
	for i := range peers {
		peers[i] = Peer{Name: fmt.Sprintf("w%d", i+1), URL: fmt.Sprintf("http://127.0.0.1:%d", freePort(t))}
		ports[i] = freePort(t)
	}
	ms := make([]*member, n)
	for i := range ms {
		cfg := testConfig(t, peers[i].Name, t.TempDir(), ports[i], peers)
		if adjust != nil {
			adjust(&cfg)
		}
		ms[i] = startMember(t, cfg)
	}
	for _, m := range ms {
		waitReady(t, m.URL, 20*time.Second)
	}
	return ms
}

// putRev puts value at url and returns the revision of the write.
func putRev(c *http.Client, url, value string) (int64, error) {
	req, err := http.NewRequest(http.MethodPut, url, strings.NewReader(value))
	if err != nil {
		return 0, err
	}
	return revOf(c.Do(req))
}

// postRev posts a JSON body and returns the revision of the answer.
func postRev(c *http.Client, url, body string) (int64, error) {
	return revOf(c.Post(url, "application/json", strings.NewReader(body)))
}

func revOf(resp *http.Response, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%d %s", resp.StatusCode, b)
	}
	var v struct {
		Header struct {
			Revision int64 `json:"revision"`
		} `json:"header"`
	}
	if err := json.Unmarshal(b, &v); err != nil || v.Header.Revision == 0 {
		return 0, fmt.Errorf("no revision in %s", b)
	}
	return v.Header.Revision, nil
}

// heapAlloc returns the live heap after a collection.
func heapAlloc() uint64 {
	runtime.GC()
	var st runtime.MemStats
	runtime.ReadMemStats(&st)
	return st.HeapAlloc
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// ringBytes sums the hubs' ring sizes.
func ringBytes(ms []*member) uint64 {
	var n uint64
	for _, m := range ms {
		n += uint64(m.app.hub.Stats().RingBytes)
	}
	return n
}

func firstDiff[T comparable](a, b []T) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestWatch_ManyWatchers: many watchers on one prefix, spread over the
// three members, some with prev_kv, some with filters, some starting in
// the past, while writers put and delete keys through all three members.
// Every watcher must see exactly the events of the history (rebuilt from
// the writes' answers) that match its filters, in revision order, each
// once, with the right prev_kv.
func TestWatch_ManyWatchers(t *testing.T) {
	t.Parallel()
	watchers, writes, writers, timeout := 100, 2000, 16, time.Minute
	if soakMode() {
		watchers, writes, timeout = 1000, 10000, 10*time.Minute
	}
	ms := startCluster(t, 3)
	wc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	t.Cleanup(wc.Transport.(*http.Transport).CloseIdleConnections)
	h := newHistory()
	const keys = 40
	key := func(i int) string { return fmt.Sprintf("mw/k%02d", i%keys) }
	for i := range 20 {
		if err := h.put(wc, ms[i%3].URL, key(i), "init"); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.put(wc, ms[0].URL, "mw/~end/del", "x"); err != nil {
		t.Fatal(err)
	}
	r0 := h.last()
	// Restart the third member: its ring starts empty, so its watchers
	// that start in the past read the history from its store first.
	ms[2].stop()
	ms[2] = startMember(t, ms[2].cfg)
	waitReady(t, ms[2].URL, 20*time.Second)

	// Open the watchers, 32 at a time, each waiting for its opening line.
	began := time.Now()
	sc := sseClient(t)
	// The end marker is one txn that puts a key and deletes another, so
	// that every watcher, whatever its filters, sees it.
	isEnd := func(e *watchEvent) bool {
		return e.Type == "PUT" && e.Kv.Key == "mw/~end/put" || e.Type == "DELETE" && e.Kv.Key == "mw/~end/del"
	}
	recs := make([]*watchRecord, watchers)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := range recs {
		w := &watchRecord{url: ms[i%3].URL, prevKv: i%4 == 1 || i%4 == 2, noDelete: i%4 == 2, noPut: i%4 == 3,
			opened: make(chan struct{}), closed: make(chan struct{})}
		if i%5 == 0 {
			w.start = r0 - 10
		}
		recs[i] = w
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			resp, err := openWatch(t, sc, w.url+"/v1/watch/mw/"+w.query(), nil, timeout+time.Minute)
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
			if err != nil {
				w.err = err
				close(w.opened)
				close(w.closed)
				return
			}
			go w.consume(resp.Body, isEnd, !soakMode())
			select {
			case <-w.opened:
			case <-time.After(30 * time.Second):
			}
		})
	}
	wg.Wait()
	for i, w := range recs {
		w.mu.Lock()
		err, from := w.err, w.from
		w.mu.Unlock()
		if err != nil || from == 0 {
			t.Fatalf("watcher %d (%s%s) did not open: %v", i, w.url, w.query(), err)
		}
	}
	opened := time.Now()

	// The writers: puts, deletes, range deletes and txns in the prefix, and
	// a few puts outside it, through the three members in turn.
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	for wr := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(wr)))
			for i := range writes / writers {
				url := ms[(wr+i)%3].URL
				var err error
				switch p := rng.IntN(100); {
				case p < 55:
					err = h.put(wc, url, key(rng.IntN(keys)), fmt.Sprintf("w%d-%d", wr, i))
				case p < 75:
					err = h.del(wc, url, key(rng.IntN(keys)), false)
				case p < 77:
					err = h.del(wc, url, fmt.Sprintf("mw/k%d", rng.IntN(4)), true)
				case p < 90:
					var ops []kvOp
					for _, k := range rng.Perm(keys)[:2+rng.IntN(2)] {
						ops = append(ops, kvOp{del: rng.IntN(3) == 0, key: key(k), value: fmt.Sprintf("t%d-%d", wr, i)})
					}
					if rng.IntN(2) == 0 {
						ops = append(ops, kvOp{key: fmt.Sprintf("other/t%d", rng.IntN(5)), value: "o"})
					}
					// In key order, as a revision read back from the store.
					slices.SortFunc(ops, func(a, b kvOp) int { return strings.Compare(a.key, b.key) })
					err = h.txn(wc, url, ops)
				default:
					err = h.put(wc, url, fmt.Sprintf("other/k%d", rng.IntN(5)), "o")
				}
				if err != nil {
					t.Logf("write: %v", err)
				}
			}
		})
	}
	wg.Wait()
	wrote := time.Now()
	if err := h.txn(wc, ms[1].URL, []kvOp{{key: "mw/~end/put", value: "end"}, {del: true, key: "mw/~end/del"}}); err != nil {
		t.Fatal(err)
	}
	end := h.last() // the end marker's revision
	if n := h.unknown.Load(); n > int64(writes/100) {
		t.Errorf("%d of %d writes failed", n, writes)
	}

	// Every watcher must reach the end marker.
	deadline := time.After(timeout)
	for i, w := range recs {
		select {
		case <-w.closed:
		case <-deadline:
			w.mu.Lock()
			last := w.last
			w.mu.Unlock()
			t.Fatalf("watcher %d (%s%s) is stuck at revision %d of %d after %v", i, w.url, w.query(), last, end, timeout)
		}
	}
	received := time.Now()
	hist := h.events(t, ms[0].URL, end)
	total := 0
	for i, w := range recs {
		if w.err != nil {
			t.Errorf("watcher %d (%s%s): %v", i, w.url, w.query(), w.err)
			continue
		}
		var want []string
		for _, ev := range hist {
			if ev.rev < w.from || !strings.HasPrefix(ev.Kv.Key, "mw/") || w.noPut && ev.Type == "PUT" || w.noDelete && ev.Type == "DELETE" {
				continue
			}
			if !w.prevKv {
				ev.PrevKv = nil
			}
			want = append(want, ev.String())
		}
		total += len(w.sums)
		if j := firstDiff(w.sums, sums(want)); j < len(want) || len(w.sums) != len(want) {
			msg := fmt.Sprintf("watcher %d (%s%s, from %d) got %d events, want %d; first difference at #%d:", i, w.url, w.query(), w.from, len(w.sums), len(want), j)
			if j < len(want) {
				msg += "\n\twant " + want[j]
			}
			if j < len(w.revs) {
				msg += fmt.Sprintf("\n\tgot an event of revision %d", w.revs[j])
				if j < len(w.texts) {
					msg += ": " + w.texts[j]
				}
			}
			t.Error(msg)
		}
	}
	t.Logf("%d watchers, %d writes (%d revisions, %d events): watchers opened in %v, writes took %v (%.0f/s), the last watcher was done %v after the last write; %d events checked",
		watchers, writes, end, len(hist), opened.Sub(began), wrote.Sub(opened), float64(writes)/wrote.Sub(opened).Seconds(), received.Sub(wrote), total)
}

// watchRecord is what one watcher of TestWatch_ManyWatchers received.
type watchRecord struct {
	url                     string
	start                   int64 // asked for; 0: from now
	prevKv, noPut, noDelete bool

	mu     sync.Mutex
	from   int64    // where the stream said it starts
	sums   []uint64 // one per event: a hash of its text
	texts  []string // the texts too, in the short mode
	revs   []int64  // one per event
	last   int64
	err    error
	ended  bool
	opened chan struct{} // closed at the opening line or the end
	closed chan struct{} // closed at the end
}

func (w *watchRecord) query() string {
	q := "?prefix=true"
	if w.start > 0 {
		q += fmt.Sprintf("&start_revision=%d", w.start)
	}
	if w.prevKv {
		q += "&prev_kv=true"
	}
	switch {
	case w.noPut:
		q += "&filters=noput"
	case w.noDelete:
		q += "&filters=nodelete"
	}
	return q
}

// consume reads the stream until the end marker, checking the protocol:
// the opening comment, then one message per revision with increasing ids.
func (w *watchRecord) consume(body io.Reader, isEnd func(*watchEvent) bool, keepText bool) {
	defer close(w.closed)
	first := true
	defer func() {
		if first {
			close(w.opened)
		}
	}()
	err := readSSE(body, func(ev sseEvent) bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		fail := func(format string, args ...any) bool {
			w.err = fmt.Errorf(format, args...)
			return false
		}
		if first {
			first = false
			defer close(w.opened)
			n, ok := watchingFrom(ev)
			if !ok || (w.start > 0 && n != w.start) {
				return fail("opening line %+v, asked to start at %d", ev, w.start)
			}
			w.from = n
			return true
		}
		if ev.IsComment {
			return true
		}
		var d watchData
		if err := json.Unmarshal([]byte(ev.Data), &d); err != nil || ev.Event != "events" {
			return fail("message %+v: %v", ev, err)
		}
		id, err := strconv.ParseInt(ev.ID, 10, 64)
		switch {
		case !ev.HasID || err != nil || id != d.Header.Revision:
			return fail("message id %q (%v) for header revision %d", ev.ID, ev.HasID, d.Header.Revision)
		case id <= w.last:
			return fail("revision %d after %d", id, w.last)
		case len(d.Events) == 0:
			return fail("message %d without events", id)
		}
		w.last = id
		for i := range d.Events {
			e := &d.Events[i]
			if e.Kv.ModRevision != id {
				return fail("message %d holds an event of revision %d", id, e.Kv.ModRevision)
			}
			text := e.String()
			w.sums = append(w.sums, textSum(text))
			w.revs = append(w.revs, id)
			if keepText {
				w.texts = append(w.texts, text)
			}
			w.ended = w.ended || isEnd(e)
		}
		return !w.ended
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.ended && w.err == nil {
		w.err = fmt.Errorf("the stream ended before the end marker (%v)", err)
	}
}

func textSum(s string) uint64 {
	h := uint64(14695981039346656037) // FNV-1a
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}

func sums(texts []string) []uint64 {
	out := make([]uint64, len(texts))
	for i, s := range texts {
		out[i] = textSum(s)
	}
	return out
}

// kvOp is one change a write made: a put, or a delete of a key or a range
// [key, end).
type kvOp struct {
	del       bool
	key, end  string
	value     string
	deleted   int64    // a delete's count in the answer
	prev      *watchKV // a put's prev_kv in the answer, when checkPrev
	checkPrev bool
}

// histEvent is one event of the history the model rebuilds.
type histEvent struct {
	watchEvent
	rev int64
}

// history records the writes of a test by the revision their answers gave,
// and rebuilds from them, in revision order, the exact events a watcher
// must see, with each key's previous version.
type history struct {
	mu      sync.Mutex
	writes  map[int64][]kvOp
	unknown atomic.Int64 // writes whose outcome is unknown (no answer)
}

func newHistory() *history { return &history{writes: map[int64][]kvOp{}} }

// do sends one write (a txn or a single put or delete) made of ops and
// records what it changed.
func (h *history) do(c *http.Client, req *http.Request, ops []kvOp, txn bool) error {
	resp, err := c.Do(req)
	if err != nil {
		h.unknown.Add(1)
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		h.unknown.Add(1)
		return fmt.Errorf("%s %s: %d %s %v", req.Method, req.URL, resp.StatusCode, b, err)
	}
	var a struct {
		Header struct {
			Revision int64 `json:"revision"`
		} `json:"header"`
		PrevKv    *watchKV `json:"prev_kv"`
		Deleted   int64    `json:"deleted"`
		Responses []struct {
			Delete *struct {
				Deleted int64 `json:"deleted"`
			} `json:"delete"`
		} `json:"responses"`
	}
	if err := json.Unmarshal(b, &a); err != nil || a.Header.Revision == 0 {
		return fmt.Errorf("%s %s: answer %s: %v", req.Method, req.URL, b, err)
	}
	var done []kvOp
	for i, op := range ops {
		switch {
		case !txn && op.del:
			op.deleted = a.Deleted
		case !txn:
			op.prev, op.checkPrev = a.PrevKv, true
		case op.del:
			if i >= len(a.Responses) || a.Responses[i].Delete == nil {
				return fmt.Errorf("txn answer %s has no delete response #%d", b, i)
			}
			op.deleted = a.Responses[i].Delete.Deleted
		}
		if !op.del || op.deleted > 0 {
			done = append(done, op)
		}
	}
	if len(done) == 0 {
		return nil // nothing changed: the answer's revision is not this write's
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, dup := h.writes[a.Header.Revision]; dup {
		return fmt.Errorf("two writes answered with revision %d", a.Header.Revision)
	}
	h.writes[a.Header.Revision] = done
	return nil
}

// last returns the revision of the last write recorded.
func (h *history) last() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var rev int64
	for r := range h.writes {
		rev = max(rev, r)
	}
	return rev
}

func (h *history) put(c *http.Client, url, key, value string) error {
	req, _ := http.NewRequest(http.MethodPut, url+"/v1/kv/"+key+"?prev_kv=true", strings.NewReader(value))
	return h.do(c, req, []kvOp{{key: key, value: value}}, false)
}

func (h *history) del(c *http.Client, url, key string, prefix bool) error {
	q, end := "", ""
	if prefix {
		q, end = "?prefix=true", key[:len(key)-1]+string(key[len(key)-1]+1)
	}
	req, _ := http.NewRequest(http.MethodDelete, url+"/v1/kv/"+key+q, nil)
	return h.do(c, req, []kvOp{{del: true, key: key, end: end}}, false)
}

// txn runs ops (puts and single-key deletes) as one txn.
func (h *history) txn(c *http.Client, url string, ops []kvOp) error {
	var parts []string
	for _, op := range ops {
		if op.del {
			parts = append(parts, fmt.Sprintf(`{"delete":{"key":%q}}`, op.key))
		} else {
			parts = append(parts, fmt.Sprintf(`{"put":{"key":%q,"value":%q}}`, op.key, op.value))
		}
	}
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/txn", strings.NewReader(`{"success":[`+strings.Join(parts, ",")+`]}`))
	req.Header.Set("Content-Type", "application/json")
	return h.do(c, req, ops, true)
}

// events replays the history up to revision to and returns its events.
// A revision no answer named (a write whose answer was lost) is read back
// from the store at that revision (GET with revision=R) and diffed
// against the model; its changes are then taken in key order.
func (h *history) events(t testing.TB, url string, to int64) []histEvent {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	state := map[string]watchKV{}
	var out []histEvent
	emit := func(rev int64, typ string, kv watchKV, key string) {
		ev := histEvent{rev: rev, watchEvent: watchEvent{Type: typ, Kv: kv}}
		if old, ok := state[key]; ok {
			ev.PrevKv = &old
		}
		out = append(out, ev)
	}
	gaps := 0
	for rev := int64(1); rev <= to; rev++ {
		ops, ok := h.writes[rev]
		if !ok {
			// A fresh store starts at revision 1, without a change.
			if ops = h.readBack(t, url, rev, state); len(ops) > 0 {
				gaps++
			}
		}
		for _, op := range ops {
			old, exists := state[op.key]
			switch {
			case !op.del:
				kv := watchKV{Key: op.key, Value: op.value, CreateRevision: rev, ModRevision: rev, Version: 1}
				if exists {
					kv.CreateRevision, kv.Version = old.CreateRevision, old.Version+1
				}
				if op.checkPrev && op.prev.String() != ev0(exists, old).String() {
					t.Errorf("history: the put at %d answered prev_kv %s, but before it the key was %s", rev, op.prev, ev0(exists, old))
				}
				emit(rev, "PUT", kv, op.key)
				state[op.key] = kv
			case op.end == "":
				if !exists {
					t.Errorf("history: the delete of %s at %d deleted %d, but the key did not exist", op.key, rev, op.deleted)
				}
				emit(rev, "DELETE", watchKV{Key: op.key, ModRevision: rev}, op.key)
				delete(state, op.key)
			default:
				var keys []string
				for k := range state {
					if k >= op.key && k < op.end {
						keys = append(keys, k)
					}
				}
				slices.Sort(keys)
				if int64(len(keys)) != op.deleted {
					t.Errorf("history: the range delete at %d deleted %d keys, the model had %d", rev, op.deleted, len(keys))
				}
				for _, k := range keys {
					emit(rev, "DELETE", watchKV{Key: k, ModRevision: rev}, k)
					delete(state, k)
				}
			}
		}
	}
	if gaps > 0 {
		t.Logf("history: %d revisions read back from the store (writes without an answer: %d)", gaps, h.unknown.Load())
	}
	return out
}

func ev0(exists bool, kv watchKV) *watchKV {
	if !exists {
		return nil
	}
	return &kv
}

// readBack returns the changes made at rev, by comparing the whole store
// at rev with the model's state before it.
func (h *history) readBack(t testing.TB, url string, rev int64, state map[string]watchKV) []kvOp {
	t.Helper()
	code, body := do(t, http.MethodGet, fmt.Sprintf("%s/v1/kv/?prefix=true&revision=%d", url, rev), "")
	if code != http.StatusOK {
		t.Fatalf("read back revision %d: %d %s", rev, code, body)
	}
	var r struct {
		Kvs []watchKV `json:"kvs"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	live := map[string]watchKV{}
	var ops []kvOp
	for _, kv := range r.Kvs {
		live[kv.Key] = kv
		if kv.ModRevision == rev {
			ops = append(ops, kvOp{key: kv.Key, value: kv.Value})
		} else if old, ok := state[kv.Key]; !ok || old != kv {
			t.Errorf("history: at %d the store has %s, the model %s", rev, kv.String(), ev0(ok, old))
		}
	}
	for k := range state {
		if _, ok := live[k]; !ok {
			ops = append(ops, kvOp{del: true, key: k, deleted: 1})
		}
	}
	slices.SortFunc(ops, func(a, b kvOp) int { return strings.Compare(a.key, b.key) })
	return ops
}

// TestWatch_SlowReader: a stream whose client reads one event per second
// while writes go on at full speed must not slow the writes down nor make
// the member hold the backlog in memory; when the client speeds up it gets
// every event, once, in order.
func TestWatch_SlowReader(t *testing.T) {
	// Not parallel: it measures the process's heap.
	phase := 2 * time.Second
	if soakMode() {
		phase = 5 * time.Second
	}
	ms := startCluster(t, 3)
	m := ms[leaderIndex(t, ms, 10*time.Second)]
	wc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	t.Cleanup(wc.Transport.(*http.Transport).CloseIdleConnections)

	// The slow stream's events are big, so that the socket buffers fill
	// after a few hundred of them; bulk txns of small puts outside its
	// range churn the members' rings (65536 events) behind it.
	value := strings.Repeat("s", 16<<10)
	var bulk strings.Builder
	bulk.WriteString(`{"success":[`)
	for i := range 128 {
		if i > 0 {
			bulk.WriteString(",")
		}
		fmt.Fprintf(&bulk, `{"put":{"key":"bulk/%03d","value":"b"}}`, i)
	}
	bulk.WriteString(`]}`)
	ld := &slowLoad{}
	run := func(stop <-chan struct{}) {
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					url := ms[(w+i)%3].URL
					if w < 4 {
						t0 := time.Now()
						rev, err := putRev(wc, fmt.Sprintf("%s/v1/kv/slow/%d/%d", url, w, i), value)
						if err != nil {
							t.Errorf("put: %v", err)
							return
						}
						ld.put(rev, time.Since(t0))
					} else {
						if _, err := postRev(wc, url+"/v1/txn", bulk.String()); err != nil {
							t.Errorf("txn: %v", err)
							return
						}
						ld.txns.Add(1)
					}
				}
			})
		}
		wg.Wait()
	}

	// Without a watcher.
	stop := make(chan struct{})
	time.AfterFunc(phase, func() { close(stop) })
	start := time.Now()
	run(stop)
	rateA := float64(ld.puts.Load()) / time.Since(start).Seconds()
	latA, txnsA := percentile(ld.lat, 0.99), ld.txns.Load()
	base, baseRing := heapAlloc(), ringBytes(ms)
	sent0 := metricValue(t, m.URL, "cairn_watch_events_sent_total")

	// With the slow reader, reading one event per second through a small
	// client buffer, with no buffering between the socket and the test.
	rc := &http.Client{Transport: &http.Transport{ReadBufferSize: 4096}}
	t.Cleanup(rc.Transport.(*http.Transport).CloseIdleConnections)
	s := openSSE(t, rc, m.URL+"/v1/watch/slow/?prefix=true", nil, 0)
	ev, _ := s.next(10 * time.Second)
	from, ok := watchingFrom(ev)
	if !ok {
		t.Fatalf("first line of the stream: %+v", ev)
	}
	var got []int64
	read := func(timeout time.Duration) {
		t.Helper()
		ev, ok := s.nextMessage(timeout)
		if !ok {
			t.Fatalf("the slow stream ended: %v", s.err)
		}
		if ev.Event != "events" {
			t.Fatalf("slow stream: %+v", ev)
		}
		d := decodeWatch(t, ev)
		if ev.ID != strconv.FormatInt(d.Header.Revision, 10) || len(d.Events) != 1 {
			t.Fatalf("slow stream message id %q header %d with %d events", ev.ID, d.Header.Revision, len(d.Events))
		}
		e := d.Events[0]
		if e.Type != "PUT" || e.Kv.ModRevision != d.Header.Revision || len(e.Kv.Value) != len(value) || !strings.HasPrefix(e.Kv.Key, "slow/") {
			t.Fatalf("slow stream event at %d: %s %s %d bytes", d.Header.Revision, e.Type, e.Kv.Key, len(e.Kv.Value))
		}
		got = append(got, d.Header.Revision)
	}
	*ld = slowLoad{}
	stop = make(chan struct{})
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		run(stop)
	}()
	// The writes go on for the phase, and then until the member has
	// stopped feeding the stream (its socket is full) for a while.
	var mid, midRing uint64
	var sent float64
	start = time.Now()
	tick := time.NewTicker(time.Second)
	for {
		<-tick.C
		read(10 * time.Second)
		el := time.Since(start)
		if mid == 0 && el >= phase/2 {
			mid, midRing = heapAlloc(), ringBytes(ms)
		}
		sent = metricValue(t, m.URL, "cairn_watch_events_sent_total") - sent0
		if el >= phase && (float64(ld.puts.Load())-sent >= 100 || el >= 4*phase+10*time.Second) {
			break
		}
	}
	tick.Stop()
	close(stop)
	<-loaded
	elapsed := time.Since(start)
	end, endRing := heapAlloc(), ringBytes(ms)
	acked := ld.sorted()
	rateB := float64(len(acked)) / elapsed.Seconds()
	t.Logf("puts of 16 KiB: %.0f/s alone, %.0f/s for %v with the slow reader (p99 %v then %v, max %v); bulk txns of 128 puts: %d then %d",
		rateA, rateB, elapsed.Round(time.Millisecond), latA, percentile(ld.lat, 0.99), slices.Max(ld.lat), txnsA, ld.txns.Load())
	t.Logf("the slow reader read %d of %d events while writes ran; the member had put %v into the stream", len(got), len(acked), sent)
	t.Logf("heap: %.1f MiB before, %.1f MiB mid-way, %.1f MiB at the end (rings %.1f, %.1f, %.1f MiB); the reader's backlog: %.1f MiB",
		mib(base), mib(mid), mib(end), mib(baseRing), mib(midRing), mib(endRing), mib(uint64(len(acked)-len(got))*uint64(len(value))))
	if backlog := float64(len(acked)) - sent; backlog < 100 {
		if soakMode() {
			t.Errorf("the member put %v of %d events into the stream: no backpressure", sent, len(acked))
		} else {
			t.Logf("the socket never filled (slow writes, e.g. -race): backpressure not exercised")
		}
	}
	if rateB < rateA/2 {
		t.Errorf("puts ran at %.0f/s with the slow reader, %.0f/s without: the reader slows writes down", rateB, rateA)
	}
	// The member may hold its three rings (at most 65536 events / 64 MiB
	// each) but not the slow stream's backlog.
	if grow := int64(end) - int64(base) - (int64(endRing) - int64(baseRing)); grow > 96<<20 {
		t.Errorf("heap grew by %.1f MiB beyond the rings while a reader lagged", float64(grow)/(1<<20))
	}

	// The reader speeds up and gets everything, once, in order.
	catchUp := time.Now()
	for len(got) == 0 || got[len(got)-1] < acked[len(acked)-1] {
		read(30 * time.Second)
	}
	t.Logf("caught up on %d events in %v; heap after: %.1f MiB", len(got), time.Since(catchUp), mib(heapAlloc()))
	if got[0] < from {
		t.Fatalf("first event at %d, the stream started at %d", got[0], from)
	}
	if !slices.Equal(got, acked) {
		i := firstDiff(got, acked)
		t.Fatalf("the slow reader got %d events, want %d; first difference at #%d: %v vs %v",
			len(got), len(acked), i, got[i:min(i+3, len(got))], acked[i:min(i+3, len(acked))])
	}
	slow := metricValue(t, m.URL, "cairn_watchers_slow_total")
	churn := ld.txns.Load()*128 + int64(len(acked))
	t.Logf("cairn_watchers_slow_total = %v after %d events of churn", slow, churn)
	switch {
	case churn > 2*65536 && slow == 0:
		t.Errorf("the ring was overrun (%d events) but cairn_watchers_slow_total is 0", churn)
	case churn <= 2*65536:
		t.Logf("too few writes to overrun the ring for sure: exactly-once checked, not the slow path")
	}
}

// slowLoad counts the writes of TestWatch_SlowReader.
type slowLoad struct {
	mu   sync.Mutex
	revs []int64 // of the acknowledged puts
	lat  []time.Duration
	puts atomic.Int64
	txns atomic.Int64
}

func (l *slowLoad) put(rev int64, d time.Duration) {
	l.mu.Lock()
	l.revs = append(l.revs, rev)
	l.lat = append(l.lat, d)
	l.mu.Unlock()
	l.puts.Add(1)
}

func (l *slowLoad) sorted() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := slices.Clone(l.revs)
	slices.Sort(s)
	return s
}

// TestWatch_Compacted: a start at or below the compact revision gets an
// error event compacted with the compact revision, and the stream ends; a
// start above it streams the history, from the ring or, after a restart,
// from the store, and then the new changes.
func TestWatch_Compacted(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 1)
	m := ms[0]
	sc := sseClient(t)
	var revs []int64
	for i := range 20 {
		revs = append(revs, mustPut(t, m.URL, "c/k", fmt.Sprint(i)))
	}
	c := revs[9]
	if code, body := do(t, http.MethodPost, m.URL+"/v1/compact", fmt.Sprintf(`{"revision":%d}`, c)); code != 200 {
		t.Fatalf("compact: %d %s", code, body)
	}
	for _, q := range []string{
		fmt.Sprintf("?start_revision=%d", revs[0]),
		fmt.Sprintf("?start_revision=%d", c),
		fmt.Sprintf("?prefix=true&start_revision=%d&prev_kv=true", c-1),
	} {
		s := openSSE(t, sc, m.URL+"/v1/watch/c/k"+q, nil, 8)
		if got := expectError(t, s, "compacted"); got != c {
			t.Fatalf("watch %s: compact_revision %d, want %d", q, got, c)
		}
	}
	h := http.Header{"Last-Event-Id": {strconv.FormatInt(c-1, 10)}}
	if got := expectError(t, openSSE(t, sc, m.URL+"/v1/watch/c/k", h, 8), "compacted"); got != c {
		t.Fatalf("resume at %d: compact_revision %d, want %d", c, got, c)
	}
	code, body := do(t, http.MethodGet, fmt.Sprintf("%s/v1/kv/c/k?wait=true&wait_revision=%d&timeout=5s", m.URL, c-1), "")
	if code != http.StatusGone || !strings.Contains(body, `"compacted"`) || !strings.Contains(body, fmt.Sprintf(`"compact_revision":%d`, c)) {
		t.Fatalf("long poll from a compacted revision: %d %s", code, body)
	}

	// Above the compact revision: every change, with the previous version
	// (which compaction kept for the first of them).
	check := func(s *sseStream, want []int64) {
		t.Helper()
		for _, rev := range want {
			ev, _ := s.nextMessage(10 * time.Second)
			d := decodeWatch(t, ev)
			if ev.ID != strconv.FormatInt(rev, 10) || len(d.Events) != 1 {
				t.Fatalf("want revision %d, got %+v", rev, ev)
			}
			e := d.Events[0]
			i := slices.Index(revs, rev)
			if e.Kv.Value != fmt.Sprint(i) || e.Kv.Version != int64(i+1) || e.PrevKv == nil ||
				e.PrevKv.Value != fmt.Sprint(i-1) || e.PrevKv.ModRevision != revs[i-1] {
				t.Fatalf("event at %d: %s", rev, e.String())
			}
		}
	}
	s := openSSE(t, sc, fmt.Sprintf("%s/v1/watch/c/k?start_revision=%d&prev_kv=true", m.URL, c+1), nil, 64)
	check(s, revs[10:])
	s.close()

	// After a restart the member's ring is empty: the history comes from
	// the store, and the stream then moves on to the new changes.
	m.stop()
	m = startMember(t, m.cfg)
	waitReady(t, m.URL, 20*time.Second)
	s = openSSE(t, sc, fmt.Sprintf("%s/v1/watch/c/k?start_revision=%d&prev_kv=true", m.URL, c+1), nil, 64)
	check(s, revs[10:])
	revs = append(revs, mustPut(t, m.URL, "c/k", "20"))
	check(s, revs[20:])
	s = openSSE(t, sc, fmt.Sprintf("%s/v1/watch/c/k?start_revision=%d", m.URL, c), nil, 8)
	if got := expectError(t, s, "compacted"); got != c {
		t.Fatalf("after the restart: compact_revision %d, want %d", got, c)
	}
}

// TestWatch_FutureStart: a start revision the store has not reached yet
// waits for it, and for nothing before it; so does a long poll.
func TestWatch_FutureStart(t *testing.T) {
	t.Parallel()
	ms := startWatchCluster(t, 1, func(c *Config) { c.WatchHeartbeat = 100 * time.Millisecond })
	url := ms[0].URL
	sc := sseClient(t)
	cur := mustPut(t, url, "f/k", "0")
	start := cur + 3
	s := openSSE(t, sc, fmt.Sprintf("%s/v1/watch/f/k?start_revision=%d", url, start), nil, 8)
	if ev, _ := s.next(10 * time.Second); !slices.Equal(fromLine(ev), []int64{start}) {
		t.Fatalf("opening line %+v, want a start at %d", ev, start)
	}
	poll := make(chan [2]string, 1)
	go func() {
		resp, err := http.Get(fmt.Sprintf("%s/v1/kv/f/k?wait=true&wait_revision=%d&timeout=30s", url, start-1))
		if err != nil {
			poll <- [2]string{"", err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		poll <- [2]string{resp.Status, string(b)}
	}()
	for i := 1; i <= 3; i++ {
		if rev := mustPut(t, url, "f/k", fmt.Sprint(i)); rev != cur+int64(i) {
			t.Fatalf("put %d at revision %d, want %d (another writer?)", i, rev, cur+int64(i))
		}
	}
	// The first message is the start revision's: none of those before.
	expectPuts(t, s, "f/k", start)
	select {
	case p := <-poll:
		if p[0] != "200 OK" || !strings.Contains(p[1], fmt.Sprintf(`"mod_revision":%d`, start)) || strings.Contains(p[1], fmt.Sprintf(`"mod_revision":%d`, start-1)) {
			t.Fatalf("long poll after %d: %s %s", start-1, p[0], p[1])
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the long poll did not answer after the write it waited for")
	}
	// A long poll that sees nothing answers 204 with the revision to poll
	// after next.
	resp, err := http.Get(fmt.Sprintf("%s/v1/kv/f/other?wait=true&timeout=200ms", url))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("X-Cairn-Revision") != strconv.FormatInt(start, 10) {
		t.Fatalf("idle long poll: %d, X-Cairn-Revision %q, want 204 and %d", resp.StatusCode, resp.Header.Get("X-Cairn-Revision"), start)
	}

	// While it waits, a stream with progress_notify reports progress up to
	// the current revision: not up to the revision before its start, which
	// does not exist yet.
	t.Run("progress", func(t *testing.T) {
		p := openSSE(t, sc, fmt.Sprintf("%s/v1/watch/f/k?start_revision=%d&progress_notify=true", url, start+100), nil, 8)
		ev, _ := p.nextMessage(5 * time.Second)
		if ev.Event != "progress" {
			t.Fatalf("want a progress event, got %+v", ev)
		}
		if rev := decodeWatch(t, ev).Header.Revision; rev != start {
			t.Fatalf("progress event at revision %d, the store is at %d", rev, start)
		}
	})
}

// TestWatch_Shutdown: heartbeats and progress events keep idle streams
// alive; when a member stops its streams end cleanly (an error event
// unavailable, then the end of the stream), and a client resumes on
// another member with Last-Event-ID, without a gap or a duplicate.
func TestWatch_Shutdown(t *testing.T) {
	t.Parallel()
	ms := startWatchCluster(t, 3, func(c *Config) { c.WatchHeartbeat = 100 * time.Millisecond })
	a, b := ms[0], ms[1]
	sc := sseClient(t)
	idle := openSSE(t, sc, a.URL+"/v1/watch/sd/?prefix=true", nil, 64)
	for n := 0; n < 3; {
		if ev, _ := idle.next(5 * time.Second); ev.IsComment && ev.Comment == "heartbeat" {
			n++
		} else if _, ok := watchingFrom(ev); !ok {
			t.Fatalf("idle stream: %+v, want heartbeats", ev)
		}
	}
	progress := openSSE(t, sc, a.URL+"/v1/watch/sd/?prefix=true&progress_notify=true", nil, 64)
	nextProgress := func() int64 {
		t.Helper()
		ev, _ := progress.nextMessage(5 * time.Second)
		if ev.Event != "progress" || ev.HasID {
			t.Fatalf("want a progress event, got %+v", ev)
		}
		return decodeWatch(t, ev).Header.Revision
	}
	if st, _ := status(t, a.URL); nextProgress() != st.Revision {
		t.Fatalf("progress revision is not the current revision %d", st.Revision)
	}
	other := mustPut(t, b.URL, "elsewhere", "x") // outside the range
	waitCaughtUp(t, ms, other)
	for nextProgress() != other {
	}

	var revs []int64
	for i := range 5 {
		revs = append(revs, mustPut(t, ms[i%3].URL, fmt.Sprintf("sd/%d", i), "v"))
	}
	s := openSSE(t, sc, fmt.Sprintf("%s/v1/watch/sd/?prefix=true&start_revision=%d", a.URL, revs[0]), nil, 64)
	for i, rev := range revs {
		expectPuts(t, s, fmt.Sprintf("sd/%d", i), rev)
	}
	stopped := time.Now()
	a.stop()
	t.Logf("member stopped in %v with 3 streams open", time.Since(stopped))
	for _, st := range []*sseStream{idle, progress, s} {
		for {
			ev, ok := st.nextMessage(10 * time.Second)
			if !ok {
				t.Fatalf("stream ended (%v) without an error event", st.err)
			}
			if ev.Event != "progress" && ev.Event != "events" { // what was in flight
				checkError(t, st, ev, "unavailable")
				break
			}
		}
	}

	// Resume on another member: what happened while the stream was down,
	// from the revision after the last id.
	for i := 5; i < 8; i++ {
		revs = append(revs, mustPut(t, ms[1+i%2].URL, fmt.Sprintf("sd/%d", i), "v"))
	}
	r := openSSE(t, sc, b.URL+"/v1/watch/sd/?prefix=true", http.Header{"Last-Event-Id": {strconv.FormatInt(revs[4], 10)}}, 64)
	for i := 5; i < 8; i++ {
		expectPuts(t, r, fmt.Sprintf("sd/%d", i), revs[i])
	}
}

// TestWatch_Limits: past --max-watchers a member answers 503 unavailable
// with Retry-After; a revision with more events than --max-watch-events is
// split into several messages of which only the last has the id, and a
// stream resumed after that id goes on with the next revision.
func TestWatch_Limits(t *testing.T) {
	t.Parallel()
	ms := startWatchCluster(t, 1, func(c *Config) { c.MaxWatchers, c.MaxWatchEvents = 3, 2 })
	url := ms[0].URL
	sc := sseClient(t)

	s1 := openSSE(t, sc, url+"/v1/watch/l/?prefix=true", nil, 16)
	s1.next(10 * time.Second)
	var ops []string
	for i := range 5 {
		ops = append(ops, fmt.Sprintf(`{"put":{"key":"l/%d","value":"v%d"}}`, i, i))
	}
	code, body := do(t, http.MethodPost, url+"/v1/txn", `{"success":[`+strings.Join(ops, ",")+`]}`)
	if code != 200 {
		t.Fatalf("txn: %d %s", code, body)
	}
	var txn struct {
		Header struct {
			Revision int64 `json:"revision"`
		} `json:"header"`
	}
	json.Unmarshal([]byte(body), &txn)
	r := txn.Header.Revision
	readSplit := func(s *sseStream) {
		t.Helper()
		var keys []string
		for part, n := range []int{2, 2, 1} {
			ev, _ := s.nextMessage(10 * time.Second)
			d := decodeWatch(t, ev)
			last := part == 2
			if ev.Event != "events" || ev.HasID != last || (last && ev.ID != strconv.FormatInt(r, 10)) || d.Header.Revision != r || len(d.Events) != n {
				t.Fatalf("part %d of revision %d: %+v, want %d events and an id only on the last part", part+1, r, ev, n)
			}
			for _, e := range d.Events {
				keys = append(keys, e.Kv.Key)
			}
		}
		if want := []string{"l/0", "l/1", "l/2", "l/3", "l/4"}; !slices.Equal(keys, want) {
			t.Fatalf("the parts of revision %d hold %v, want %v", r, keys, want)
		}
	}
	readSplit(s1)
	// Resuming at the split revision gets all its parts again.
	s2 := openSSE(t, sc, url+"/v1/watch/l/?prefix=true", http.Header{"Last-Event-Id": {strconv.FormatInt(r-1, 10)}}, 16)
	readSplit(s2)
	s3 := openSSE(t, sc, url+"/v1/watch/l/?prefix=true", nil, 16)
	s3.next(10 * time.Second)
	if got := metricValue(t, url, "cairn_watchers"); got != 3 {
		t.Fatalf("cairn_watchers = %v with 3 streams open", got)
	}

	// A fourth watcher, stream or long poll, is refused.
	for _, path := range []string{"/v1/watch/l/?prefix=true", "/v1/kv/l/?prefix=true&wait=true&timeout=1s"} {
		resp, err := openWatch(t, sc, url+path, nil, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
			!strings.Contains(string(b), `"code":"unavailable"`) || !strings.Contains(string(b), "watchers") {
			t.Fatalf("%s past --max-watchers: %d Retry-After %q %s", path, resp.StatusCode, resp.Header.Get("Retry-After"), b)
		}
	}
	// Once a stream is closed, its slot is free again; the new stream
	// resumes after the split revision with the next one.
	s3.close()
	next := mustPut(t, url, "l/5", "v5")
	h := http.Header{"Last-Event-Id": {strconv.FormatInt(r, 10)}}
	var s4 *sseStream
	waitFor(t, 10*time.Second, "a free watcher slot", func() bool {
		resp, err := openWatch(t, sc, url+"/v1/watch/l/?prefix=true", h, time.Minute)
		if err != nil || resp.StatusCode != http.StatusOK {
			if resp != nil {
				resp.Body.Close()
			}
			return false
		}
		s4 = newSSEStream(t, resp, 16)
		return true
	})
	expectPuts(t, s4, "l/5", next)
}

// TestWatch_CatchUpMemory: a watcher that catches up on a history of big
// values (from the store: the member restarted, its ring is empty) must
// not make the member hold much more than a few of them at once. Soak
// only: big writes are too slow under -race.
func TestWatch_CatchUpMemory(t *testing.T) {
	if !soakMode() {
		t.Skip("CAIRN_SOAK=1 runs it")
	}
	ms := startCluster(t, 1)
	m := ms[0]
	big := strings.Repeat("x", 1<<20)
	var last int64
	for i := range 200 {
		last = mustPut(t, m.URL, fmt.Sprintf("big/%d", i%10), big)
	}
	m.stop()
	m = startMember(t, m.cfg)
	waitReady(t, m.URL, 20*time.Second)
	base := heapAlloc()
	s := openSSE(t, sseClient(t), m.URL+"/v1/watch/big/?prefix=true&start_revision=1", nil, 0)
	read := make(chan error, 1)
	go func() {
		for {
			ev, ok := <-s.ch
			if !ok {
				read <- fmt.Errorf("the stream ended: %v", s.err)
				return
			}
			if ev.Event == "events" && ev.ID == strconv.FormatInt(last, 10) {
				read <- nil
				return
			}
		}
	}()
	var peak uint64
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(time.Minute)
	for done := false; !done; {
		select {
		case err := <-read:
			if err != nil {
				t.Fatal(err)
			}
			done = true
		case <-tick.C:
			var st runtime.MemStats
			runtime.ReadMemStats(&st)
			peak = max(peak, st.HeapAlloc)
		case <-timeout:
			t.Fatal("the watcher did not catch up in a minute")
		}
	}
	t.Logf("heap %.1f MiB before, peak %.1f MiB while one watcher read 200 MiB of history", mib(base), mib(peak))
	if peak > base+64<<20 {
		t.Errorf("one catching-up watcher made the heap grow by %.0f MiB: its batches are bounded by --max-watch-events, not by bytes", mib(peak-base))
	}
}
