package watch

import (
	"bytes"
	"sort"
	"sync"

	"github.com/cairnkv/cairn/internal/domain"
)

// revEvents are the events of one revision.
type revEvents struct {
	rev    int64
	events []domain.Event
	bytes  int // keys and values, plus a fixed cost per event
}

func (re revEvents) size() int {
	n := 0
	for _, ev := range re.events {
		n += len(ev.Kv.Key) + len(ev.Kv.Value) + 64
	}
	return n
}

// Hub keeps the recent committed changes and wakes watchers when new ones
// arrive. Its methods are safe for concurrent use.
type Hub struct {
	maxEvents int
	maxBytes  int

	mu         sync.Mutex
	rev        int64       // latest published revision
	ring       []revEvents // recent revisions with events, ascending, from head on
	head       int         // index of the oldest live entry of ring
	ringEvents int
	ringBytes  int
	floor      int64 // every revision above floor is in the ring (if it had events)
	closed     bool
	done       chan struct{} // closed by Close

	watchers    int
	catchingUp  int
	slow        int64
	maxWatchers int

	// The watchers parked in Next, caught up with rev: a publish wakes
	// only those its events concern, found by key (a watcher of one key)
	// or among the range watchers. The others stay asleep and count as
	// caught up with every revision published while they sleep.
	keyParked    map[string]parkedSet
	prefixParked map[string]parkedSet  // by prefix: [p, PrefixEnd(p))
	rangeParked  map[*Watcher]struct{} // other ranges, checked one by one
	parked       int
	wakeups      int64
}

// HubConfig bounds a Hub. Zero values mean the defaults.
type HubConfig struct {
	// RingEvents is how many recent events the hub keeps in memory for
	// watchers that keep up (default 65536), and RingBytes how many bytes
	// of keys and values (default 64 MiB): whichever is reached first.
	RingEvents int
	RingBytes  int
	// MaxWatchers is the most watchers a member serves at once (default
	// 10000).
	MaxWatchers int
}

// NewHub returns a hub whose latest revision is rev.
func NewHub(cfg HubConfig, rev int64) *Hub {
	if cfg.RingEvents <= 0 {
		cfg.RingEvents = 1 << 16
	}
	if cfg.RingBytes <= 0 {
		cfg.RingBytes = 64 << 20
	}
	if cfg.MaxWatchers <= 0 {
		cfg.MaxWatchers = 10000
	}
	return &Hub{maxEvents: cfg.RingEvents, maxBytes: cfg.RingBytes, maxWatchers: cfg.MaxWatchers, rev: rev, floor: rev,
		done: make(chan struct{}), keyParked: map[string]parkedSet{},
		prefixParked: map[string]parkedSet{}, rangeParked: map[*Watcher]struct{}{}}
}

// parkedSet is the parked watchers of one key or prefix: most keys have
// one, which then costs no map of its own.
type parkedSet struct {
	one  *Watcher              // the only one, or nil
	many map[*Watcher]struct{} // when there were more at once
}

// each calls f for every watcher of the set; f may unpark them.
func (s parkedSet) each(f func(w *Watcher)) {
	if s.one != nil {
		f(s.one)
		return
	}
	for w := range s.many {
		f(w)
	}
}

// parkedIn returns the index a watcher is filed in, under its key (nil
// for the range watchers checked one by one). A range [p, PrefixEnd(p))
// holds exactly the keys that start with p: such watchers are found by
// looking up each prefix of a changed key.
func (h *Hub) parkedIn(w *Watcher) map[string]parkedSet {
	switch end := w.req.RangeEnd; {
	case len(end) == 0:
		return h.keyParked
	case bytes.Equal(end, domain.PrefixEnd(w.req.Key)):
		return h.prefixParked
	}
	return nil
}

// park files w, caught up with h.rev, as waiting for a change of its
// range. The caller holds h.mu.
func (h *Hub) park(w *Watcher) {
	w.parked, w.wakeFrom = true, 0
	h.parked++
	idx := h.parkedIn(w)
	if idx == nil {
		h.rangeParked[w] = struct{}{}
		return
	}
	switch ws, ok := idx[string(w.req.Key)]; {
	case !ok:
		idx[string(w.req.Key)] = parkedSet{one: w}
	case ws.many != nil:
		ws.many[w] = struct{}{}
	default:
		idx[string(w.req.Key)] = parkedSet{many: map[*Watcher]struct{}{ws.one: {}, w: {}}}
	}
}

// unpark takes w out of the index. The caller holds h.mu.
func (h *Hub) unpark(w *Watcher) {
	if !w.parked {
		return
	}
	w.parked = false
	h.parked--
	idx := h.parkedIn(w)
	if idx == nil {
		delete(h.rangeParked, w)
		return
	}
	ws := idx[string(w.req.Key)]
	if ws.many != nil {
		delete(ws.many, w)
		if len(ws.many) > 0 {
			return
		}
	} else if ws.one != w {
		return
	}
	delete(idx, string(w.req.Key))
}

// wake unparks w and tells it that its next change is at revision from
// (0: look from where it stands). The caller holds h.mu.
func (h *Hub) wake(w *Watcher, from int64) {
	h.unpark(w)
	h.wakeups++
	w.wakeFrom = from
	if w.ready != nil {
		w.ready()
		return
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// wakeConcerned wakes the parked watchers that ev concerns. The caller
// holds h.mu.
func (h *Hub) wakeConcerned(ev *domain.Event) {
	rev, key := ev.Kv.ModRevision, ev.Kv.Key
	concerned := func(w *Watcher) {
		if rev >= w.next && w.match(ev) {
			h.wake(w, rev)
		}
	}
	if ws, ok := h.keyParked[string(key)]; ok {
		ws.each(concerned)
	}
	if len(h.prefixParked) > 0 {
		for n := 0; n <= len(key); n++ {
			if ws, ok := h.prefixParked[string(key[:n])]; ok {
				ws.each(concerned)
			}
		}
	}
	for w := range h.rangeParked {
		if rev >= w.next && w.match(ev) {
			h.wake(w, rev)
		}
	}
}

// wakeAll wakes every parked watcher, to look from where it stands.
func (h *Hub) wakeAll() {
	wake := func(w *Watcher) { h.wake(w, 0) }
	for _, idx := range []map[string]parkedSet{h.keyParked, h.prefixParked} {
		for _, ws := range idx {
			ws.each(wake)
		}
	}
	for w := range h.rangeParked {
		h.wake(w, 0)
	}
}

// Publish records the events of a committed batch, whose last revision is
// rev, and wakes the watchers. events are in revision order; Publish keeps
// them (the caller must not change them). It never blocks on a watcher.
func (h *Hub) Publish(rev int64, events []domain.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || rev < h.rev {
		return
	}
	for i := 0; i < len(events); {
		r := events[i].Kv.ModRevision
		j := i
		for j < len(events) && events[j].Kv.ModRevision == r {
			j++
		}
		re := revEvents{rev: r, events: events[i:j:j]}
		re.bytes = re.size()
		h.ring = append(h.ring, re)
		h.ringEvents += j - i
		h.ringBytes += re.bytes
		i = j
	}
	// Evict whole revisions, oldest first; keep at least the newest one.
	// Eviction only moves the head; the slice is compacted once the dead
	// part outgrows the live one, so that publishing stays O(1) amortised.
	for (h.ringEvents > h.maxEvents || h.ringBytes > h.maxBytes) && len(h.ring)-h.head > 1 {
		old := &h.ring[h.head]
		h.ringEvents -= len(old.events)
		h.ringBytes -= old.bytes
		h.floor = old.rev
		*old = revEvents{}
		h.head++
	}
	if h.head > 1024 && h.head > len(h.ring)-h.head {
		n := copy(h.ring, h.ring[h.head:])
		clear(h.ring[n:])
		h.ring = h.ring[:n]
		h.head = 0
	}
	h.rev = rev
	if len(h.keyParked) > 0 || len(h.prefixParked) > 0 || len(h.rangeParked) > 0 {
		for i := range events {
			h.wakeConcerned(&events[i])
		}
	}
}

// Reset forgets the ring after the store was replaced (a snapshot was
// installed): the revisions up to rev are served from the store.
func (h *Hub) Reset(rev int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ring, h.head, h.ringEvents, h.ringBytes = nil, 0, 0, 0
	h.rev, h.floor = rev, rev
	// The revisions up to rev were not published: every watcher reads
	// them from the store.
	h.wakeAll()
}

// Close ends every watcher (Next and Poll return ErrClosed) and refuses
// new ones.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.done)
		h.wakeAll() // the polled watchers learn it from their ready
	}
}

// Done is closed when the hub is closed: the member is shutting down.
func (h *Hub) Done() <-chan struct{} { return h.done }

// Rev returns the latest published revision.
func (h *Hub) Rev() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rev
}

// Stats are figures about the hub's watchers.
type Stats struct {
	Watchers   int   // open watchers
	CatchingUp int   // watchers reading from the store right now
	Slow       int64 // times a watcher fell behind the ring
	RingEvents int   // events held in memory
	RingBytes  int   // their keys and values, approximately
	Parked     int   // watchers asleep until a change of their range
	Wakeups    int64 // times a publish woke a parked watcher
}

// Stats returns the hub's figures.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Stats{Watchers: h.watchers, CatchingUp: h.catchingUp, Slow: h.slow, RingEvents: h.ringEvents, RingBytes: h.ringBytes,
		Parked: h.parked, Wakeups: h.wakeups}
}

// register counts a new watcher, within the limit.
func (h *Hub) register() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	if h.watchers >= h.maxWatchers {
		return ErrTooManyWatchers
	}
	h.watchers++
	return nil
}

func (h *Hub) unregister() {
	h.mu.Lock()
	h.watchers--
	h.mu.Unlock()
}

// fromRing collects the events of revisions [from, rev] that match w from
// the ring, stopping after the revision at which limit events are reached.
// ok is false when the ring does not reach back to from: the caller must
// read the store. next is the first revision not scanned.
func (h *Hub) fromRing(w *Watcher, from int64, limit, maxBytes int) (msgs []Message, next int64, ok bool) {
	if from <= h.floor {
		return nil, from, false
	}
	live := h.ring[h.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].rev >= from })
	n, size := 0, 0
	next = h.rev + 1
	for ; i < len(live); i++ {
		re := live[i]
		var evs []domain.Event
		for _, ev := range re.events {
			if w.match(&ev) {
				evs = append(evs, ev)
				size += len(ev.Kv.Key) + len(ev.Kv.Value)
			}
		}
		if len(evs) > 0 {
			msgs = append(msgs, Message{Revision: re.rev, Events: evs})
			n += len(evs)
			if n >= limit || size >= maxBytes {
				next = re.rev + 1
				break
			}
		}
	}
	return msgs, next, true
}
