package watch

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
)

// The errors of watching. Both wrap domain.ErrUnavailable: the client may
// retry, on this member later or on another one.
var (
	// ErrClosed: the member is shutting down.
	ErrClosed = fmt.Errorf("%w: watch: member is shutting down", domain.ErrUnavailable)
	// ErrTooManyWatchers: the member serves as many watchers as it may.
	ErrTooManyWatchers = fmt.Errorf("%w: watch: too many watchers on this member", domain.ErrUnavailable)
)

// Config bounds the watch service. Zero values mean the defaults.
type Config struct {
	// MaxEvents is the most events one call of Next returns (default
	// 1000), and MaxBytes the most bytes of keys and values (default 4
	// MiB); a revision is never split, so one revision may exceed them.
	MaxEvents int
	MaxBytes  int
}

// Request describes what to watch.
type Request struct {
	// Key and RangeEnd select the keys, with the range forms of a
	// RangeRequest.
	Key, RangeEnd []byte
	// StartRevision is the first revision to report; 0 means the next
	// revision after the start point.
	StartRevision int64
	// PrevKv adds each key's previous version to its events.
	PrevKv bool
	// NoPut and NoDelete filter out puts and deletes.
	NoPut, NoDelete bool
	// Serializable starts from this member's state without first making
	// sure it has applied every write acknowledged before the request.
	Serializable bool
}

// Message is the changes of one revision that a watcher sees.
type Message struct {
	Revision int64
	Events   []domain.Event
}

// Service opens watchers.
type Service struct {
	hub      *Hub
	backend  ports.Backend
	proposer ports.Proposer
	cfg      Config
}

// New returns a watch service over hub, reading history from b and
// ordering starts after p's read barrier.
func New(cfg Config, hub *Hub, b ports.Backend, p ports.Proposer) *Service {
	if cfg.MaxEvents <= 0 {
		cfg.MaxEvents = 1000
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 4 << 20
	}
	return &Service{hub: hub, backend: b, proposer: p, cfg: cfg}
}

// Hub returns the service's hub.
func (s *Service) Hub() *Hub { return s.hub }

// Done is closed when the member starts shutting down (the hub is closed).
func (s *Service) Done() <-chan struct{} { return s.hub.Done() }

// Watch opens a watcher. Unless req.Serializable is set it first waits for
// a read barrier, so that a watcher started without a revision misses no
// write acknowledged before the call. It returns a *domain.CompactedError
// when the start revision is not above the compact revision, ErrTooManyWatchers at the limit,
// an invalid argument, or the barrier's error. The watcher must be closed.
func (s *Service) Watch(ctx context.Context, req Request) (*Watcher, error) {
	if err := domain.ValidateKeyRange(req.Key, req.RangeEnd); err != nil {
		return nil, err
	}
	if req.StartRevision < 0 {
		return nil, domain.InvalidArgument("start_revision must be >= 0")
	}
	if !req.Serializable {
		if err := s.proposer.ReadBarrier(ctx); err != nil {
			return nil, err
		}
	}
	if err := s.hub.register(); err != nil {
		return nil, err
	}
	v := s.backend.View()
	rev, compactRev := v.Rev(), v.CompactRev()
	v.End()
	start := req.StartRevision
	if start == 0 {
		start = rev + 1
	}
	if compactRev > 0 && start <= compactRev {
		// The store's history is complete only above the compact revision:
		// compaction keeps what is visible at it, not every change made at
		// it (a delete at the compact revision is gone).
		s.hub.unregister()
		return nil, &domain.CompactedError{CompactRevision: compactRev}
	}
	return &Watcher{s: s, req: req, next: start}, nil
}

// Watcher delivers the changes of its range in revision order, each
// exactly once. It is used by one goroutine.
type Watcher struct {
	s      *Service
	req    Request
	next   int64 // first revision not yet delivered
	synced bool  // the last changes came from the ring
	closed bool

	// Guarded by the hub's mu: parked while filed in the hub's index;
	// wakeFrom, once woken, the first revision with a change it may want
	// (0: none known). The hub signals wake (Next; made by its first
	// call) or calls ready (Poll; set by OnReady) when it wakes the
	// watcher.
	parked   bool
	wakeFrom int64
	wake     chan struct{}
	ready    func()
}

// Close releases the watcher.
func (w *Watcher) Close() {
	if !w.closed {
		w.closed = true
		h := w.s.hub
		h.mu.Lock()
		h.unpark(w)
		h.mu.Unlock()
		h.unregister()
	}
}

// NextRevision returns the first revision the watcher has not delivered:
// where it stands in the history (it may be in the future).
func (w *Watcher) NextRevision() int64 { return w.next }

// Progress returns the revision up to which the watcher has seen every
// change of its range: at most the latest revision, also for a watcher
// that starts in the future.
func (w *Watcher) Progress() int64 {
	h := w.s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	next := w.next
	switch {
	case w.parked:
		// Every revision published while it waits was checked against
		// it and had nothing for it.
		next = max(next, h.rev+1)
	case w.wakeFrom > 0:
		next = max(next, w.wakeFrom)
	}
	return min(next-1, h.rev)
}

// match reports whether ev is in the watcher's range and passes its
// filters.
func (w *Watcher) match(ev *domain.Event) bool {
	if ev.Type == domain.EventPut && w.req.NoPut || ev.Type == domain.EventDelete && w.req.NoDelete {
		return false
	}
	k := ev.Kv.Key
	switch end := w.req.RangeEnd; {
	case len(end) == 0:
		return bytes.Equal(k, w.req.Key)
	case bytes.Equal(end, []byte{0}):
		return bytes.Compare(k, w.req.Key) >= 0
	default:
		return bytes.Compare(k, w.req.Key) >= 0 && bytes.Compare(k, end) < 0
	}
}

// Next waits for the next changes of the watcher's range and returns them,
// one Message per revision, at most about Config.MaxEvents events. It
// returns the context's error when ctx ends first (the watcher stays
// usable), a *domain.CompactedError when the changes it still has to
// deliver were compacted away before it could read them, and ErrClosed
// when the member shuts down. A watcher given OnReady is not waited for
// with Next but with Poll.
func (w *Watcher) Next(ctx context.Context) ([]Message, error) {
	h := w.s.hub
	if w.wake == nil {
		w.wake = make(chan struct{}, 1)
	}
	for {
		msgs, err := w.poll()
		if err != nil || len(msgs) > 0 {
			return msgs, err
		}
		// Caught up and parked: sleep until a publish concerns this
		// watcher.
		select {
		case <-w.wake:
		case <-h.done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		h.mu.Lock()
		if w.parked {
			// Not woken: no revision published while it slept had a
			// change for it.
			h.unpark(w)
			w.next = max(w.next, h.rev+1)
		}
		select { // a signal that came after the context ended
		case <-w.wake:
		default:
		}
		h.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
}

// OnReady makes the watcher one that is polled (Poll) rather than waited
// for (Next): once Poll has found nothing, the hub calls ready when a
// change may concern the watcher, when the store was replaced, or when the
// member shuts down; the caller then polls again. ready is called once per
// wait, with the hub's lock held: it must be quick, must not block and
// must not call the watcher or the hub. This lets one goroutine serve many
// watchers (etcd's watch streams). It must be called before the first
// Poll.
func (w *Watcher) OnReady(ready func()) { w.ready = ready }

// Poll returns the watcher's next changes, as Next does, but never waits:
// when there are none yet it returns none and no error, and the watcher's
// ready function (OnReady) tells when to poll again. Its errors are
// Next's, but for those of a context.
func (w *Watcher) Poll() ([]Message, error) { return w.poll() }

// poll returns the watcher's next changes from the ring or the store; when
// it is caught up it files the watcher in the hub's index (parked) and
// returns none. A watcher still parked is not woken yet: none either.
func (w *Watcher) poll() ([]Message, error) {
	h := w.s.hub
	for {
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			return nil, ErrClosed
		}
		if w.parked {
			h.mu.Unlock()
			return nil, nil
		}
		if w.wakeFrom > 0 {
			// Woken by a change at wakeFrom: the revisions before it had
			// none for this watcher.
			w.next = max(w.next, w.wakeFrom)
			w.wakeFrom = 0
		}
		cur := h.rev
		if w.next > cur {
			h.park(w)
			h.mu.Unlock()
			return nil, nil
		}
		msgs, next, ok := h.fromRing(w, w.next, w.s.cfg.MaxEvents, w.s.cfg.MaxBytes)
		if !ok {
			h.catchingUp++
			if w.synced {
				// It kept up with the ring and fell out of it: a slow
				// reader, now served from the store.
				h.slow++
			}
		}
		w.synced = ok
		h.mu.Unlock()
		if !ok {
			var err error
			msgs, next, err = w.fromStore(cur)
			h.mu.Lock()
			h.catchingUp--
			h.mu.Unlock()
			if err != nil {
				return nil, err
			}
		}
		w.next = next
		if len(msgs) > 0 {
			if w.req.PrevKv {
				w.fillPrev(msgs)
			}
			return msgs, nil
		}
	}
}

// fromStore reads the watcher's changes up to rev from the store's history.
func (w *Watcher) fromStore(rev int64) ([]Message, int64, error) {
	v := w.s.backend.View()
	defer v.End()
	if c := v.CompactRev(); c > 0 && w.next <= c {
		return nil, 0, &domain.CompactedError{CompactRevision: c}
	}
	events, next, err := v.Events(w.next, rev, w.req.Key, w.req.RangeEnd, w.s.cfg.MaxEvents, w.s.cfg.MaxBytes)
	if err != nil {
		var ce *domain.CompactedError
		if errors.As(err, &ce) {
			return nil, 0, err
		}
		return nil, 0, fmt.Errorf("watch: read history from %d: %w", w.next, err)
	}
	var msgs []Message
	for _, ev := range events {
		if !w.match(&ev) {
			continue
		}
		if n := len(msgs); n > 0 && msgs[n-1].Revision == ev.Kv.ModRevision {
			msgs[n-1].Events = append(msgs[n-1].Events, ev)
		} else {
			msgs = append(msgs, Message{Revision: ev.Kv.ModRevision, Events: []domain.Event{ev}})
		}
	}
	return msgs, next, nil
}

// fillPrev adds the previous version of each key to its events, where the
// history still has it.
func (w *Watcher) fillPrev(msgs []Message) {
	v := w.s.backend.View()
	defer v.End()
	for i := range msgs {
		for j := range msgs[i].Events {
			ev := &msgs[i].Events[j]
			rr, err := v.Range(ev.Kv.Key, nil, ports.RangeOptions{Rev: ev.Kv.ModRevision - 1})
			if err == nil && len(rr.KVs) == 1 {
				prev := rr.KVs[0]
				ev.PrevKv = &prev
			}
		}
	}
}
