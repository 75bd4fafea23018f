package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
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

type watchMessageJSON struct {
	Header headerJSON  `json:"header"`
	Events []eventJSON `json:"events"`
}

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
	q := newQuery(r, "prefix", "range_end", "from_key", "start_revision", "prev_kv", "filters",
		"progress_notify", "serializable", "encoding")
	key, err := keyFromPath(r, watchPrefix)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req := watch.Request{
		Key: key, RangeEnd: q.rangeEnd(key), StartRevision: q.int("start_revision"),
		PrevKv: q.bool("prev_kv"), Serializable: q.bool("serializable"),
	}
	q.watchFilters(&req)
	progress := q.bool("progress_notify")
	c := q.codec()
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		// A reconnecting EventSource resumes after the last revision it got.
		n, err := strconv.ParseInt(strings.TrimSpace(id), 10, 64)
		if err != nil || n < 0 {
			q.fail("Last-Event-ID must be a revision, not %q", id)
		}
		req.StartRevision = n + 1
	}
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	need := auth.Read(req.Key, req.RangeEnd)
	if !s.allow(w, r, need) {
		return
	}
	watcher, err := s.watch.Watch(r.Context(), req)
	var ce *domain.CompactedError
	if err != nil && !errors.As(err, &ce) {
		s.writeError(w, r, err)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.Header().Set("X-Cairn-Revision", strconv.FormatInt(s.cluster.Revision(), 10))
	w.WriteHeader(http.StatusOK)
	if err != nil {
		s.writeSSEError(w, err)
		_ = rc.Flush()
		return
	}
	defer watcher.Close()
	s.metrics.watchStreams.Inc()
	defer s.metrics.watchStreams.Dec()
	start := time.Now()
	defer func() { s.metrics.watchDuration.Observe(time.Since(start).Seconds()) }()

	// An opening comment lets a client know the stream is up.
	fmt.Fprintf(w, ": watching from revision %d\n\n", watcher.NextRevision())
	if rc.Flush() != nil {
		return
	}
	// The stream ends with a permission_denied event if an auth change
	// takes the user's read permission on the range while it runs.
	sctx, stop := s.streamContext(r, need)
	defer stop()
	// The stream polls its watcher, which says when it may have changes
	// (ready), and keeps one timer for the heartbeats: an idle stream
	// holds no context or timer of its own beyond these.
	ready := make(chan struct{}, 1)
	watcher.OnReady(func() {
		select {
		case ready <- struct{}{}:
		default:
		}
	})
	idle := time.NewTimer(s.cfg.WatchHeartbeat)
	defer idle.Stop()
	var buf bytes.Buffer
	for {
		msgs, err := watcher.Poll()
		buf.Reset()
		switch {
		case err == nil && len(msgs) == 0:
			select {
			case <-ready:
				continue
			case <-sctx.Done():
				if err := denied(sctx); err != nil {
					s.writeSSEError(w, err)
					_ = rc.Flush()
				}
				return // or the client went away
			case <-idle.C:
			}
			if progress {
				rev := watcher.Progress()
				data, _ := json.Marshal(progressJSON{Header: s.header(rev)})
				fmt.Fprintf(&buf, "event: progress\ndata: %s\n\n", data)
			} else {
				buf.WriteString(": heartbeat\n\n")
			}
		case err == nil:
			for _, m := range msgs {
				s.writeSSEMessage(&buf, c, m)
			}
		default:
			s.writeSSEError(w, err)
			_ = rc.Flush()
			return
		}
		if _, err := w.Write(buf.Bytes()); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
		idle.Reset(s.cfg.WatchHeartbeat)
	}
}

// writeSSEMessage writes the events of one revision. A revision with more
// events than the per-message limit is split; only its last part carries
// the id, so that a client resuming from Last-Event-ID never skips the
// rest of a revision.
func (s *Server) writeSSEMessage(buf *bytes.Buffer, c codec, m watch.Message) {
	limit := s.cfg.MaxWatchEvents
	evs := m.Events
	for len(evs) > 0 {
		n := min(len(evs), limit)
		data, _ := json.Marshal(watchMessageJSON{Header: s.header(m.Revision), Events: c.events(evs[:n])})
		evs = evs[n:]
		if len(evs) == 0 {
			fmt.Fprintf(buf, "id: %d\n", m.Revision)
		}
		fmt.Fprintf(buf, "event: events\ndata: %s\n\n", data)
		s.metrics.watchEvents.Add(float64(n))
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
