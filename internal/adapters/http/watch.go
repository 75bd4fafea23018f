package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/auth"
	"github.com/cairnkv/cairn/internal/domain/watch"
)

// WatchService opens watchers; *watch.Service implements it.
type WatchService interface {
	Watch(ctx context.Context, req watch.Request) (*watch.Watcher, error)
	Hub() *watch.Hub
}

const watchPrefix = "/v1/watch/"

// Long polls wait at most this long (?timeout=).
const (
	defaultPollTimeout = 30 * time.Second
	maxPollTimeout     = 5 * time.Minute
)

type eventJSON struct {
	Type   string  `json:"type"`
	Kv     kvJSON  `json:"kv"`
	PrevKv *kvJSON `json:"prev_kv,omitempty"`
}

// watchMessageJSON is a watch message: the data of an SSE events message
// (written by codec.appendWatchMessage, watchjson.go) and a long poll's
// answer.
type watchMessageJSON struct {
	Header headerJSON  `json:"header"`
	Events []eventJSON `json:"events"`
}

// progressJSON is the data of an SSE progress event (written by
// appendProgress, watchjson.go).
type progressJSON struct {
	Header headerJSON `json:"header"`
}

func (c codec) events(evs []domain.Event) []eventJSON {
	out := make([]eventJSON, len(evs))
	for i := range evs {
		ev := &evs[i]
		out[i] = eventJSON{Type: ev.Type.String(), Kv: c.kv(&ev.Kv, ev.Type == domain.EventPut), PrevKv: c.kvPtr(ev.PrevKv)}
	}
	return out
}

// watchFilters parses filters=noput,nodelete.
func (q *query) watchFilters(req *watch.Request) {
	if !q.has("filters") {
		return
	}
	for _, f := range strings.Split(q.str("filters"), ",") {
		switch strings.TrimSpace(f) {
		case "noput":
			req.NoPut = true
		case "nodelete":
			req.NoDelete = true
		case "":
		default:
			q.fail("filters takes noput and nodelete, not %q", f)
		}
	}
}

// handleWatch streams the changes of a key or range as Server-Sent Events:
// one message per revision (id: the revision, event: events), a progress
// event or a heartbeat comment when idle, and an error event before the
// stream ends for a compacted start.
func (s *Server) handleWatch(w http.ResponseWriter, r *http.Request) {
	st := s.openWatch(w, r)
	if st == nil {
		return
	}
	defer st.close()
	if st.start(r) {
		st.run(r.Context().Done())
	}
}

// watchStream is an SSE watch stream while it runs: all that it holds
// between its messages, since a member serves up to 100,000 of them. The
// stream polls its watcher, which says when it may have changes (ready),
// and keeps one timer for the heartbeats; an auth change that takes the
// user's read permission wakes it too (denial). It holds no context,
// goroutine or buffer of its own: the messages are written straight to
// the response, which buffers them until the flush.
//
// Its methods keep their stack frames small, and the large ones (opening
// the watcher, encoding) return before the stream waits: the goroutine
// keeps the deepest stack it needed (see middleware).
type watchStream struct {
	s        *Server
	w        http.ResponseWriter
	watcher  *watch.Watcher
	need     auth.Need
	codec    codec
	progress bool
	started  time.Time
	ready    chan struct{}
	idle     *time.Timer
	denial   atomic.Pointer[error]
	stopAuth func()
}

// The headers of an event stream, shared by every stream: net/http copies
// a header map before it sends it and never changes its values.
var (
	sseContentType  = []string{"text/event-stream"}
	sseCacheControl = []string{"no-cache"}
	sseNoBuffering  = []string{"no"}
)

// openWatch checks the request and opens its watcher. It returns nil when
// it answered already: with an error, or with a stream that ends at once
// with an error event (a compacted start). Its frame is small: the stack
// below it is the deepest a stream's goroutine goes (opening a watcher
// reads the store and may wait for a read barrier).
func (s *Server) openWatch(w http.ResponseWriter, r *http.Request) *watchStream {
	st := &watchStream{s: s, w: w}
	req, err := st.parse(r)
	if err != nil {
		s.writeError(w, r, err)
		return nil
	}
	if !s.allow(w, r, st.need) {
		return nil
	}
	st.watcher, err = s.watch.Watch(r.Context(), req)
	var ce *domain.CompactedError
	switch {
	case errors.As(err, &ce):
		st.writeHeader()
		st.end(err)
		return nil
	case err != nil:
		s.writeError(w, r, err)
		return nil
	}
	return st
}

// parse reads the watch request from r, and the stream's options into st.
func (st *watchStream) parse(r *http.Request) (watch.Request, error) {
	if r.ContentLength > st.s.cfg.MaxRequestBytes {
		// As limitBodyTo answers (middleware serves watches itself).
		return watch.Request{}, &http.MaxBytesError{Limit: st.s.cfg.MaxRequestBytes}
	}
	q := newQuery(r, "prefix", "range_end", "from_key", "start_revision", "prev_kv", "filters",
		"progress_notify", "serializable", "encoding")
	key, err := keyFromPath(r, watchPrefix)
	if err != nil {
		return watch.Request{}, err
	}
	req := watch.Request{
		Key: key, RangeEnd: q.rangeEnd(key), StartRevision: q.int("start_revision"),
		PrevKv: q.bool("prev_kv"), Serializable: q.bool("serializable"),
	}
	q.watchFilters(&req)
	st.progress, st.codec = q.bool("progress_notify"), q.codec()
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		// A reconnecting EventSource resumes after the last revision it got.
		n, err := strconv.ParseInt(strings.TrimSpace(id), 10, 64)
		if err != nil || n < 0 {
			q.fail("Last-Event-ID must be a revision, not %q", id)
		}
		req.StartRevision = n + 1
	}
	st.need = auth.Read(req.Key, req.RangeEnd)
	return req, q.err
}

// writeHeader answers 200 with the headers of an event stream.
func (st *watchStream) writeHeader() {
	h := st.w.Header()
	h["Content-Type"] = sseContentType
	h["Cache-Control"] = sseCacheControl
	h["X-Accel-Buffering"] = sseNoBuffering
	h.Set("X-Cairn-Revision", strconv.FormatInt(st.s.cluster.Revision(), 10))
	st.w.WriteHeader(http.StatusOK)
}

// start sends the headers and an opening comment, which lets a client
// know the stream is up, and arms the stream. It reports whether the
// client is still there.
func (st *watchStream) start(r *http.Request) bool {
	st.started = time.Now()
	st.s.metrics.watchStreams.Inc()
	st.writeHeader()
	fmt.Fprintf(st.w, ": watching from revision %d\n\n", st.watcher.NextRevision())
	if st.flush() != nil {
		return false
	}
	st.ready = make(chan struct{}, 1)
	st.watcher.OnReady(st.wake)
	// The stream ends with a permission_denied event if an auth change
	// takes the user's read permission on the range while it runs.
	st.stopAuth = st.s.onDenied(r, st.deny, st.need)
	st.idle = time.NewTimer(st.s.cfg.WatchHeartbeat)
	return true
}

// flush sends what the stream wrote; it fails when the client is gone.
func (st *watchStream) flush() error { return http.NewResponseController(st.w).Flush() }

// wake tells the stream to look at its watcher (and its denial) again.
func (st *watchStream) wake() {
	select {
	case st.ready <- struct{}{}:
	default:
	}
}

// deny ends the stream with err, an auth error.
func (st *watchStream) deny(err error) {
	st.denial.Store(&err)
	st.wake()
}

// run writes the stream's messages until the watcher fails, the user loses
// the permission or done (the client is gone).
func (st *watchStream) run(done <-chan struct{}) {
	s, hb := st.s, st.s.cfg.WatchHeartbeat
	for {
		if err := st.denial.Load(); err != nil {
			st.end(*err)
			return
		}
		msgs, err := st.watcher.Poll()
		switch {
		case err != nil:
			st.end(err)
			return
		case len(msgs) > 0:
			err = s.writeSSEMessages(st.w, st.codec, msgs)
		default:
			select {
			case <-st.ready:
				continue
			case <-done:
				return
			case <-st.idle.C:
			}
			err = st.heartbeat()
		}
		if err != nil || st.flush() != nil {
			return
		}
		st.idle.Reset(hb)
	}
}

// heartbeat writes a progress event (progress_notify) or a heartbeat
// comment.
func (st *watchStream) heartbeat() error {
	if !st.progress {
		_, err := io.WriteString(st.w, ": heartbeat\n\n")
		return err
	}
	bp := sseBuffers.Get().(*[]byte)
	defer putSSEBuffer(bp)
	buf := append((*bp)[:0], "event: progress\ndata: "...)
	buf = appendProgress(buf, st.s.header(st.watcher.Progress()))
	*bp = append(buf, "\n\n"...)
	_, err := st.w.Write(*bp)
	return err
}

// end writes err as the stream's last event.
func (st *watchStream) end(err error) {
	st.s.writeSSEError(st.w, err)
	_ = st.flush()
}

// close releases what the stream holds.
func (st *watchStream) close() {
	if st.idle != nil {
		st.idle.Stop()
	}
	if st.stopAuth != nil {
		st.stopAuth()
	}
	st.watcher.Close()
	if !st.started.IsZero() {
		st.s.metrics.watchStreams.Dec()
		st.s.metrics.watchDuration.Observe(time.Since(st.started).Seconds())
	}
}

// writeSSEMessages writes the events of msgs, one message per revision.
func (s *Server) writeSSEMessages(w io.Writer, c codec, msgs []watch.Message) error {
	for _, m := range msgs {
		if err := s.writeSSEMessage(w, c, m); err != nil {
			return err
		}
	}
	return nil
}

// writeSSEMessage writes the events of one revision. A revision with more
// events than the per-message limit is split; only its last part carries
// the id, so that a client resuming from Last-Event-ID never skips the
// rest of a revision.
func (s *Server) writeSSEMessage(w io.Writer, c codec, m watch.Message) error {
	bp := sseBuffers.Get().(*[]byte)
	defer putSSEBuffer(bp)
	limit := s.cfg.MaxWatchEvents
	evs := m.Events
	for len(evs) > 0 {
		n := min(len(evs), limit)
		buf := (*bp)[:0]
		if n == len(evs) {
			buf = append(buf, "id: "...)
			buf = strconv.AppendInt(buf, m.Revision, 10)
			buf = append(buf, '\n')
		}
		buf = append(buf, "event: events\ndata: "...)
		buf = c.appendWatchMessage(buf, s.header(m.Revision), evs[:n])
		buf = append(buf, "\n\n"...)
		*bp = buf
		evs = evs[n:]
		if _, err := w.Write(buf); err != nil {
			return err
		}
		s.metrics.watchEvents.Add(float64(n))
	}
	return nil
}

// sseBuffers hold the messages of streams while they are put together,
// for all streams: a stream keeps none while it waits.
var sseBuffers = sync.Pool{New: func() any { return new([]byte) }}

// putSSEBuffer returns a buffer to sseBuffers, unless it grew large.
func putSSEBuffer(bp *[]byte) {
	if cap(*bp) <= 64<<10 {
		sseBuffers.Put(bp)
	}
}

// writeSSEError ends a stream with an error event in the API's error body.
func (s *Server) writeSSEError(w http.ResponseWriter, err error) {
	status, code := statusOf(err)
	body := errorJSON{Error: errorBody{Code: code, Message: err.Error()}}
	var ce *domain.CompactedError
	if errors.As(err, &ce) {
		body.Error.CompactRevision = ce.CompactRevision
	}
	if status == http.StatusInternalServerError {
		body.Error.Message = "internal error; see the member's log"
	}
	rev := s.cluster.Revision()
	h := s.header(rev)
	body.Header = &h
	data, _ := json.Marshal(body)
	fmt.Fprintf(w, "event: error\ndata: %s\n\n", data)
}

// handleWait is the long poll of GET /v1/kv/...?wait=true: it answers with
// the changes of the key or range after wait_revision as soon as there are
// some, or 204 at the timeout.
func (s *Server) handleWait(w http.ResponseWriter, r *http.Request, q *query, key, end []byte, c codec) {
	req := watch.Request{Key: key, RangeEnd: end, Serializable: q.bool("serializable")}
	if q.has("wait_revision") {
		req.StartRevision = q.int("wait_revision") + 1
	}
	timeout := defaultPollTimeout
	if q.has("timeout") {
		d, err := time.ParseDuration(q.str("timeout"))
		if err != nil || d <= 0 || d > maxPollTimeout {
			q.fail("timeout must be a duration between 0 and %v, like 30s, not %q", maxPollTimeout, q.str("timeout"))
		}
		timeout = d
	}
	for _, p := range []string{"limit", "revision", "sort_order", "sort_target", "keys_only", "count_only", "raw",
		"min_mod_revision", "max_mod_revision", "min_create_revision", "max_create_revision"} {
		if q.has(p) {
			q.fail("wait excludes %s", p)
		}
	}
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	need := auth.Read(key, end)
	if !s.allow(w, r, need) {
		return
	}
	watcher, err := s.watch.Watch(r.Context(), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer watcher.Close()
	sctx, stop := s.streamContext(r, need)
	defer stop()
	ctx, cancel := context.WithTimeout(sctx, timeout)
	defer cancel()
	msgs, err := watcher.Next(ctx)
	switch {
	case err == nil:
	case denied(sctx) != nil:
		s.writeError(w, r, denied(sctx))
		return
	case errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil:
		// Nothing changed up to here: the revision to wait after next.
		rev := min(watcher.Progress(), s.cluster.Revision())
		w.Header().Set("X-Cairn-Revision", strconv.FormatInt(rev, 10))
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		s.writeError(w, r, err)
		return
	}
	rev := msgs[len(msgs)-1].Revision
	out := watchMessageJSON{Header: s.header(rev)}
	for _, m := range msgs {
		out.Events = append(out.Events, c.events(m.Events)...)
		s.metrics.watchEvents.Add(float64(len(m.Events)))
	}
	s.writeJSON(w, http.StatusOK, rev, out)
}
