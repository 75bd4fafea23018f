package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// EventType is the kind of a watch event.
type EventType string

// The kinds of watch events.
const (
	EventTypePut    EventType = "PUT"
	EventTypeDelete EventType = "DELETE"
)

// Event is one change of a key.
type Event struct {
	// Type is EventTypePut or EventTypeDelete.
	Type EventType
	// Kv is the key after the change. For a DELETE it has the key and the
	// delete's ModRevision only.
	Kv *KeyValue
	// PrevKv is the key before the change, with WithPrevKV (nil for a new
	// key, or when the history no longer has it).
	PrevKv *KeyValue
}

// IsCreate reports whether the event created the key.
func (e *Event) IsCreate() bool {
	return e.Type == EventTypePut && e.Kv.CreateRevision == e.Kv.ModRevision
}

// IsModify reports whether the event changed a key that existed.
func (e *Event) IsModify() bool {
	return e.Type == EventTypePut && e.Kv.CreateRevision != e.Kv.ModRevision
}

// WatchResponse is what a watch channel delivers: the changes of one
// revision, a progress notification, or a final error.
type WatchResponse struct {
	// Header.Revision is the revision of the events (or, for a progress
	// notification, the revision up to which nothing changed).
	Header ResponseHeader
	// Events are the changes of one revision, every one of them (a
	// revision that the member sent in several parts is put together
	// again).
	Events []*Event
	// CompactRevision is set with an ErrCompacted Err: the revision the
	// store is compacted at. Read the keys again, then watch from the
	// read's revision plus one.
	CompactRevision int64
	// Err, when set, ends the watch: the channel closes after this
	// response. It is an *Error: ErrCompacted when the start revision was
	// compacted away, ErrInvalidArgument for bad options, ...
	Err error

	progress bool
}

// IsProgressNotify reports whether the response is a progress
// notification (WithProgressNotify): no change in the watched range up to
// Header.Revision.
func (wr *WatchResponse) IsProgressNotify() bool { return wr.progress }

// WatchChan delivers the responses of a watch.
type WatchChan <-chan WatchResponse

// Watch streams the changes of key, or with WithPrefix, WithRange or
// WithFromKey of a range, over Server-Sent Events: one WatchResponse per
// revision, in revision order, each change exactly once. It starts after
// the current revision, or at WithRev(rev). Other options: WithPrevKV,
// WithFilterPut, WithFilterDelete, WithProgressNotify, WithSerializable.
//
// When the connection breaks, the member shuts down or goes silent for
// Config.WatchIdleTimeout, the watch resumes by itself on the next
// endpoint, after the last revision it delivered (Last-Event-ID): no gap,
// no duplicate. A response with Err ends the channel (ErrCompacted when
// the history it needs was compacted away). The channel closes when ctx
// ends or the client is closed; read it until then.
func (c *Client) Watch(ctx context.Context, key string, opts ...OpOption) WatchChan {
	op := newOp(opGet, key, "", opts)
	ch := make(chan WatchResponse)
	w := &watcher{c: c, op: op, key: key, ch: ch, resume: -1}
	if op.rev > 0 {
		w.resume = op.rev - 1
	}
	if !c.goBackground(func() { defer close(ch); w.run(ctx) }) {
		close(ch)
	}
	return ch
}

// watcher is the loop of one Watch.
type watcher struct {
	c   *Client
	op  Op
	key string
	ch  chan<- WatchResponse
	// resume is the last revision delivered whole (the Last-Event-ID of
	// the next connection); -1 until known.
	resume int64
	// resumeGuessed: resume comes from the X-Cairn-Revision of the answer,
	// to be replaced by the stream's opening comment.
	resumeGuessed bool
}

func (w *watcher) query() url.Values {
	op := &w.op
	q := url.Values{"encoding": {"base64"}}
	op.rangeQuery(q)
	setInt(q, "start_revision", op.rev)
	setBool(q, "prev_kv", op.prevKV)
	setBool(q, "progress_notify", op.progressNote)
	setBool(q, "serializable", op.serializable)
	var filters []string
	if op.filterPut {
		filters = append(filters, "noput")
	}
	if op.filterDelete {
		filters = append(filters, "nodelete")
	}
	if len(filters) > 0 {
		q.Set("filters", strings.Join(filters, ","))
	}
	return q
}

func (w *watcher) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(w.c.ctx, cancel)
	defer stop()
	failures := 0
	for ctx.Err() == nil {
		delivered, err := w.stream(ctx)
		if ctx.Err() != nil {
			return
		}
		var e *Error
		if errors.As(err, &e) && !retryableStatus(e.StatusCode) {
			w.send(ctx, WatchResponse{Header: e.Header, Err: e, CompactRevision: e.CompactRevision})
			return
		}
		// The stream ended or could not start: resume on the next member.
		w.c.rotate()
		if delivered {
			failures = 0
		}
		failures++
		if !sleepCtx(ctx, backoff(failures-1, w.c.cfg.MaxRetryWait)) {
			return
		}
	}
}

// retryableStatus reports the statuses after which a stream or a loop
// tries again: the member could not serve, not a refusal.
func retryableStatus(status int) bool {
	return status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout ||
		status == http.StatusBadGateway
}

// rotate moves the current endpoint to the next one.
func (c *Client) rotate() {
	idx := c.cur.Load()
	c.cur.CompareAndSwap(idx, idx+1)
}

// stream runs one connection of the watch until it ends. It reports
// whether it delivered anything, and why it ended: an *Error for an error
// event or answer, else a network error or io.EOF.
func (w *watcher) stream(ctx context.Context) (delivered bool, err error) {
	r := &request{method: http.MethodGet, path: keyPath("/v1/watch/", w.key), query: w.query(),
		header: http.Header{"Accept": {"text/event-stream"}}, idempotent: true, long: true, b64: true}
	if w.resume >= 0 {
		r.header.Set("Last-Event-ID", strconv.FormatInt(w.resume, 10))
	}
	resp, sse, closeStream, err := w.c.openStream(ctx, r)
	if err != nil {
		return false, err
	}
	defer closeStream()
	if w.resume < 0 {
		if rev, err := strconv.ParseInt(resp.header.Get("X-Cairn-Revision"), 10, 64); err == nil {
			w.resume, w.resumeGuessed = rev, true
		}
	}
	var pending []*Event // the parts of a revision whose id has not come yet
	for {
		m, err := sse.next()
		if err != nil {
			return delivered, err
		}
		switch {
		case m.isNote:
			// ": watching from revision N" opens the stream: the exact
			// start, better than the answer's revision.
			if rest, ok := strings.CutPrefix(m.comment, "watching from revision "); ok && (w.resume < 0 || w.resumeGuessed) {
				if n, err := strconv.ParseInt(strings.TrimSpace(rest), 10, 64); err == nil && n > 0 {
					w.resume, w.resumeGuessed = n-1, false
				}
			}
		case m.event == "events" || m.event == "":
			var msg struct {
				Header *headerJSON `json:"header"`
				Events []struct {
					Type   string  `json:"type"`
					Kv     kvJSON  `json:"kv"`
					PrevKv *kvJSON `json:"prev_kv"`
				} `json:"events"`
			}
			if err := decodeJSON(m.data, &msg); err != nil {
				return delivered, fmt.Errorf("cairn: watch: bad message from %s: %w", resp.endpoint, err)
			}
			for _, ev := range msg.Events {
				kv, err := ev.Kv.toKV(true)
				if err != nil {
					return delivered, err
				}
				prev, err := ev.PrevKv.toKV(true)
				if err != nil {
					return delivered, err
				}
				pending = append(pending, &Event{Type: EventType(ev.Type), Kv: kv, PrevKv: prev})
			}
			if !m.hasID {
				continue // more parts of this revision follow
			}
			rev, err := strconv.ParseInt(strings.TrimSpace(m.id), 10, 64)
			if err != nil {
				return delivered, fmt.Errorf("cairn: watch: bad id %q from %s", m.id, resp.endpoint)
			}
			evs := pending
			pending = nil
			if rev <= w.resume && !w.resumeGuessed {
				continue // delivered already (never expected)
			}
			w.resume, w.resumeGuessed = rev, false
			if !w.send(ctx, WatchResponse{Header: msg.Header.toHeader(), Events: evs}) {
				return delivered, ctx.Err()
			}
			delivered = true
		case m.event == "progress":
			var msg struct {
				Header *headerJSON `json:"header"`
			}
			if err := decodeJSON(m.data, &msg); err != nil || len(pending) > 0 {
				continue
			}
			h := msg.Header.toHeader()
			if h.Revision > w.resume {
				w.resume, w.resumeGuessed = h.Revision, false
			}
			if !w.send(ctx, WatchResponse{Header: h, progress: true}) {
				return delivered, ctx.Err()
			}
			delivered = true
		case m.event == "error":
			return delivered, sseError(resp.endpoint, m.data)
		}
	}
}

// send delivers wr unless ctx ends first.
func (w *watcher) send(ctx context.Context, wr WatchResponse) bool {
	select {
	case w.ch <- wr:
		return true
	case <-ctx.Done():
		return false
	}
}

// openStream opens a Server-Sent Events stream with r (with failover) and
// returns its answer, a reader of its messages and the function that
// closes it. The stream is closed by itself when it stays silent for
// Config.WatchIdleTimeout.
func (c *Client) openStream(ctx context.Context, r *request) (*response, *sseReader, func(), error) {
	sctx, cancel := context.WithCancel(ctx)
	resp, err := c.roundTrip(sctx, r, true)
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	body := newIdleBody(resp.stream.Body, c.cfg.WatchIdleTimeout, cancel)
	return resp, newSSEReader(body), func() { body.Close(); cancel() }, nil
}

// sseError turns the data of an "event: error" into an *Error with the
// status its code stands for.
func sseError(endpoint string, data []byte) error {
	var ej errorJSON
	if err := decodeJSON(data, &ej); err != nil || ej.Error == nil {
		return fmt.Errorf("cairn: bad error event from %s: %q", endpoint, data)
	}
	e := &Error{Code: ej.Error.Code, Message: ej.Error.Message, CompactRevision: ej.Error.CompactRevision,
		Endpoint: endpoint, StatusCode: statusOfCode(ej.Error.Code)}
	if ej.Header != nil {
		e.Header = ej.Header.toHeader()
	}
	return e
}

// statusOfCode is the HTTP status of an error code, for errors that come
// inside a stream.
func statusOfCode(code string) int {
	switch code {
	case "invalid_argument":
		return http.StatusBadRequest
	case "key_not_found", "lease_not_found", "not_found":
		return http.StatusNotFound
	case "compacted":
		return http.StatusGone
	case "precondition_failed":
		return http.StatusPreconditionFailed
	case "no_leader", "not_leader", "unavailable":
		return http.StatusServiceUnavailable
	case "timeout":
		return http.StatusGatewayTimeout
	case "unauthenticated":
		return http.StatusUnauthorized
	case "permission_denied":
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}
