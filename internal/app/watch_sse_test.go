package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Helpers of the watch tests: an SSE client that reads streams as a
// browser or curl -N would, decoding, and cluster set-up.

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

// putRev puts value at url and returns the revision of the write.
func putRev(c *http.Client, url, value string) (int64, error) {
	req, err := http.NewRequest(http.MethodPut, url, strings.NewReader(value))
	if err != nil {
		return 0, err
	}
	return revOf(c.Do(req))
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
