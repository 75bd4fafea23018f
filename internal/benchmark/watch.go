package benchmark

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/cairnkv/cairn/client"
)

// Watch measures how long a change takes to reach watchers: Watchers
// watches of the key space are opened before the clock starts, then the
// clients put keys of it (Config.Total puts; Config.Rate paces them), and
// each event's latency runs from the start of its put to its arrival at
// a watcher. Every put is seen by every watcher: Report.Latency has
// Total × Watchers samples, and Report.Watch counts them.
//
// The first 8 bytes of each value carry the put's start time, so values
// must be 8 bytes or more (Config.ValSize). Puts of other writers in the
// key space would be taken for the benchmark's: give it a key space of its
// own (Config.KeyPrefix).
//
// The watches have connections of their own, spread over the endpoints
// like the clients': one per watch over HTTP/1.1, shared over HTTP/2.
// Before the clock starts, a 1-byte value is put on the first key of the
// key space until every watch has seen it: then they are all open.
type Watch struct {
	// Watchers is the number of watches (default 1).
	Watchers int `json:"watchers"`
}

// Name returns "watch".
func (Watch) Name() string { return "watch" }

// stampSize is the size of the put's start time at the start of a value.
const stampSize = 8

func (w Watch) withDefaults(cfg *Config) (Workload, error) {
	if w.Watchers == 0 {
		w.Watchers = 1
	}
	if w.Watchers < 0 {
		return w, fmt.Errorf("benchmark: watch: %d watchers: want a positive number", w.Watchers)
	}
	if cfg.ValSize < stampSize {
		return w, fmt.Errorf("benchmark: watch: values of %d bytes: want %d or more (they carry the put's time)",
			cfg.ValSize, stampSize)
	}
	return w, nil
}

func (w Watch) start(ctx context.Context, r *run) (*driver, error) {
	tr := r.newTransport(0, nil)
	var clients []*client.Client
	closeAll := func() {
		for _, c := range clients {
			c.Close()
		}
		tr.CloseIdleConnections()
	}
	for i := range min(len(r.cfg.Endpoints), w.Watchers) {
		c, err := r.newClient(endpointOrder(r.cfg.Endpoints, i, r.leader), tr)
		if err != nil {
			closeAll()
			return nil, err
		}
		clients = append(clients, c)
	}

	wctx, cancel := context.WithCancel(ctx)
	watchers := make([]*watcher, w.Watchers)
	for i := range watchers {
		wt := newWatcher(r.epoch, r.cfg.ValSize, r.cfg.Total)
		watchers[i] = wt
		go wt.run(clients[i%len(clients)].Watch(wctx, r.ks.first(), client.WithRange(r.ks.end())))
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			for _, wt := range watchers {
				<-wt.done
			}
			closeAll()
		})
	}
	if err := warmUp(ctx, r, watchers); err != nil {
		stop()
		return nil, err
	}

	return &driver{
		newRequester: func(_ context.Context, id int, c *client.Client) (requestFunc, error) {
			keys := r.picker(id)
			val := []byte(r.value)
			return func(ctx context.Context, n int) error {
				binary.BigEndian.PutUint64(val, uint64(time.Since(r.epoch)))
				_, err := c.Put(ctx, keys.pick(n), string(val))
				return err
			}, nil
		},
		finish: func(ctx context.Context, rep *Report) {
			waitEvents(ctx, watchers, rep.Succeeded, max(r.cfg.RequestTimeout, 5*time.Second))
			stop()
			w.report(r, watchers, rep)
		},
		cleanup: func(context.Context) { stop() },
	}, nil
}

// warmUp puts a short value (not a benchmark's) in the key space until
// every watcher has seen an event: their streams are open.
func warmUp(ctx context.Context, r *run, watchers []*watcher) error {
	c := r.conns[0]
	put := func() error {
		_, err := c.Put(ctx, r.ks.first(), "w")
		if err != nil {
			return fmt.Errorf("benchmark: watch: warm-up put: %w", err)
		}
		return nil
	}
	if err := put(); err != nil {
		return err
	}
	deadline := time.Now().Add(max(r.cfg.RequestTimeout, 5*time.Second))
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for i, wt := range watchers {
		for ready := false; !ready; {
			select {
			case <-wt.ready:
				ready = true
			case <-wt.done:
				if wt.err == nil {
					return fmt.Errorf("benchmark: watch %d closed", i)
				}
				return fmt.Errorf("benchmark: watch %d ended: %w", i, wt.err)
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
				if time.Now().After(deadline) {
					return fmt.Errorf("benchmark: watch %d saw no event in %v", i, max(r.cfg.RequestTimeout, 5*time.Second))
				}
				if err := put(); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// waitEvents waits until every watcher has received want events, ctx
// ends, or timeout passes without the last of them.
func waitEvents(ctx context.Context, watchers []*watcher, want int64, timeout time.Duration) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for _, wt := range watchers {
		select {
		case <-wt.expect(want):
		case <-wt.done:
		case <-ctx.Done():
			return
		case <-t.C:
			return
		}
	}
}

// report puts the events' latencies and counts in rep.
func (w Watch) report(r *run, watchers []*watcher, rep *Report) {
	var samples []int64
	var received int64
	last := r.start
	var errs errorCounts
	for _, wt := range watchers {
		samples = append(samples, wt.lat...)
		received += int64(len(wt.lat))
		if len(wt.lat) > 0 && wt.lastEvent.After(last) {
			last = wt.lastEvent
		}
		if wt.err != nil {
			errs.add(wt.err)
		}
	}
	expected := rep.Succeeded * int64(w.Watchers)
	rep.Latency = summarize(samples)
	if last.After(r.start) {
		rep.Elapsed = last.Sub(r.start)
		rep.RequestsPerSecond = float64(rep.Succeeded) / rep.Elapsed.Seconds()
	}
	rep.Watch = &WatchStats{Watchers: w.Watchers, Expected: expected, Received: received}
	if rep.Elapsed > 0 {
		rep.Watch.EventsPerSecond = float64(received) / rep.Elapsed.Seconds()
	}
	if missing := expected - received; missing > 0 && !rep.Interrupted {
		errs.add(&missingEventsError{missing: missing, expected: expected})
	}
	rep.Errors = combineErrors(rep.Errors, errs.list())
}

// missingEventsError reports events the watchers did not receive.
type missingEventsError struct{ missing, expected int64 }

func (e *missingEventsError) Error() string {
	return fmt.Sprintf("benchmark: watch: %d of %d events did not arrive", e.missing, e.expected)
}

// watcher receives the events of one watch and keeps their latencies.
type watcher struct {
	epoch   time.Time
	valSize int
	ready   chan struct{} // closed at the first event
	done    chan struct{} // closed when run returns

	// Written by run only; read once done is closed.
	lat       []int64
	lastEvent time.Time
	err       error // why the watch ended by itself

	mu      sync.Mutex
	count   int64
	want    int64         // 0: not known yet
	reached chan struct{} // closed once count reaches want
}

func newWatcher(epoch time.Time, valSize, total int) *watcher {
	return &watcher{epoch: epoch, valSize: valSize, lat: make([]int64, 0, min(total, 1<<16)),
		ready: make(chan struct{}), done: make(chan struct{}), reached: make(chan struct{})}
}

func (wt *watcher) run(ch client.WatchChan) {
	defer close(wt.done)
	opened := false
	for resp := range ch {
		if resp.Err != nil {
			wt.err = resp.Err
			continue // the channel closes next
		}
		now := time.Since(wt.epoch)
		for _, ev := range resp.Events {
			if !opened {
				close(wt.ready)
				opened = true
			}
			v := ev.Kv.Value
			if ev.Type != client.EventTypePut || len(v) != wt.valSize {
				continue // the warm-up put
			}
			wt.lat = append(wt.lat, int64(now-time.Duration(binary.BigEndian.Uint64(v))))
			wt.lastEvent = wt.epoch.Add(now)
			wt.mu.Lock()
			wt.count++
			if wt.want > 0 && wt.count == wt.want {
				close(wt.reached)
			}
			wt.mu.Unlock()
		}
	}
}

// expect sets the number of events the watcher is to receive and returns
// a channel closed once it has.
func (wt *watcher) expect(want int64) <-chan struct{} {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	if wt.want == 0 {
		wt.want = want
		if want == 0 || wt.count >= want {
			close(wt.reached)
		}
	}
	return wt.reached
}
