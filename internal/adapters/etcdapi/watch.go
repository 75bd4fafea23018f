package etcdapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/grpc/status"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/auth"
	"github.com/cairnkv/cairn/internal/domain/watch"
)

// progressWatchID is the watch ID of the answer to a RequestProgress: it
// is for every watch of the stream (clientv3's InvalidWatchID).
const progressWatchID = -1

// watchServer serves etcd's Watch service over the domain's watch
// service: one bidirectional stream carries many watches.
type watchServer struct {
	pb.UnimplementedWatchServer
	s *Server
}

// watchStream is one Watch call. Its receiving goroutine (Watch) creates
// and cancels watches; each watch has a goroutine of its own (run) that
// waits for its changes; one goroutine sends every response (sendLoop),
// since a gRPC stream takes one sender at a time.
type watchStream struct {
	s      *Server
	ctx    context.Context
	cancel context.CancelFunc
	out    chan *pb.WatchResponse
	failc  chan error // the status the stream ends with (fail)

	// Guarded by mu: the watches by ID (nil while one is being created),
	// the next ID to try, and closed once the stream ends: from then on no
	// goroutine is added to wg.
	mu      sync.Mutex
	watches map[int64]*watchEntry
	nextID  int64
	closed  bool
	wg      sync.WaitGroup
}

// watchEntry is one watch of a stream.
type watchEntry struct {
	id       int64
	watcher  *watch.Watcher
	progress bool // progress_notify
	fragment bool
	cancel   context.CancelFunc
	done     chan struct{}
	// denied is set when an auth change took the user's read permission
	// on the range: the watch ends, canceled with the reason.
	denied atomic.Bool

	// Guarded by mu: interrupt ends the current wait for changes early
	// (a RequestProgress asks where the watch stands); pending are the
	// requests waiting for its answer; exited, once run has returned.
	mu        sync.Mutex
	interrupt context.CancelFunc
	pending   []chan<- int64
	exited    bool
}

// Watch serves one stream until the client closes it, the call's context
// ends or the server closes (Close). A send that fails ends it.
func (w watchServer) Watch(stream pb.Watch_WatchServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	ws := &watchStream{s: w.s, ctx: ctx, cancel: cancel, out: make(chan *pb.WatchResponse, 16),
		failc: make(chan error, 1), watches: map[int64]*watchEntry{}}
	defer ws.close()
	sendErr := make(chan error, 1)
	go func() { sendErr <- ws.sendLoop(stream) }()
	recvErr := make(chan error, 1)
	go func() { recvErr <- ws.recvLoop(stream) }()
	for {
		select {
		case err := <-sendErr:
			return err
		case err := <-recvErr:
			if err != nil {
				return err
			}
			// The client closed its side: its watches go on, as with
			// etcd, until it ends the call.
			recvErr = nil
		case <-w.s.done:
			return w.s.toStatus(errStopped)
		case <-ctx.Done():
			select {
			case err := <-ws.failc:
				return err
			default:
				return ctx.Err()
			}
		}
	}
}

// fail ends the whole stream with err's status: the member cannot serve
// its watches (it shuts down, or serves as many watchers as it may).
// clientv3 then opens the stream again, on another member if need be,
// and resumes every watch where it stood, as after any broken stream.
func (ws *watchStream) fail(err error) {
	select {
	case ws.failc <- ws.s.toStatus(err):
	default:
	}
	ws.cancel()
}

// close ends every watch of the stream and waits for their goroutines.
func (ws *watchStream) close() {
	ws.cancel()
	ws.mu.Lock()
	ws.closed = true
	for _, e := range ws.watches {
		if e != nil {
			e.cancel()
		}
	}
	ws.mu.Unlock()
	ws.wg.Wait()
}

// goLocked runs f in a goroutine of the stream, unless the stream has
// ended. ws.mu must be held.
func (ws *watchStream) goLocked(f func()) bool {
	if ws.closed {
		return false
	}
	ws.wg.Add(1)
	go func() {
		defer ws.wg.Done()
		f()
	}()
	return true
}

func (ws *watchStream) sendLoop(stream pb.Watch_WatchServer) error {
	for {
		select {
		case resp := <-ws.out:
			if err := stream.Send(resp); err != nil {
				return err
			}
		case <-ws.ctx.Done():
			return nil
		}
	}
}

// send queues resp for the stream; it gives up when the stream ends.
func (ws *watchStream) send(ctx context.Context, resp *pb.WatchResponse) bool {
	select {
	case ws.out <- resp:
		return true
	case <-ctx.Done():
		return false
	}
}

func (ws *watchStream) recvLoop(stream pb.Watch_WatchServer) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch r := req.RequestUnion.(type) {
		case *pb.WatchRequest_CreateRequest:
			if r.CreateRequest != nil {
				ws.create(r.CreateRequest)
			}
		case *pb.WatchRequest_CancelRequest:
			if r.CancelRequest != nil {
				ws.cancelWatch(r.CancelRequest.WatchId)
			}
		case *pb.WatchRequest_ProgressRequest:
			ws.requestProgress()
		}
	}
}

// create opens a watch and answers Created, before any event of it; the
// creates of a stream are answered in the order they came (clientv3
// matches them so). A watch that cannot start is answered created and
// canceled, with the reason; one whose start revision is compacted gets
// its compact revision, then ends.
func (ws *watchStream) create(r *pb.WatchCreateRequest) {
	s := ws.s
	req := watch.Request{Key: r.Key, RangeEnd: r.RangeEnd, StartRevision: r.StartRevision, PrevKv: r.PrevKv}
	for _, f := range r.Filters {
		switch f {
		case pb.WatchCreateRequest_NOPUT:
			req.NoPut = true
		case pb.WatchCreateRequest_NODELETE:
			req.NoDelete = true
		}
	}
	id, err := ws.reserveID(r.WatchId)
	if err == nil {
		err = s.allow(ws.ctx, auth.Read(req.Key, req.RangeEnd))
	}
	var watcher *watch.Watcher
	if err == nil {
		watcher, err = s.svc.Watch.Watch(ws.ctx, req)
	}
	var ce *domain.CompactedError
	switch {
	case errors.As(err, &ce):
		ws.release(id)
		ws.send(ws.ctx, &pb.WatchResponse{Header: s.currentHeader(), WatchId: id, Created: true})
		ws.send(ws.ctx, &pb.WatchResponse{Header: s.currentHeader(), WatchId: id, Canceled: true,
			CompactRevision: ce.CompactRevision})
		return
	case errors.Is(err, domain.ErrUnavailable):
		ws.release(id)
		ws.fail(err)
		return
	case err != nil:
		ws.release(id)
		st, _ := status.FromError(s.toStatus(err))
		ws.send(ws.ctx, &pb.WatchResponse{Header: s.currentHeader(), WatchId: progressWatchID, Created: true,
			Canceled: true, CancelReason: st.Message()})
		return
	}
	// A watch from "now" tells the revision it starts after: clientv3
	// resumes there after a reconnection.
	rev := s.svc.Cluster.Revision()
	if r.StartRevision == 0 {
		rev = watcher.NextRevision() - 1
	}
	ctx, cancel := context.WithCancel(ws.ctx)
	e := &watchEntry{id: id, watcher: watcher, progress: r.ProgressNotify, fragment: r.Fragment,
		cancel: cancel, done: make(chan struct{})}
	unwatch := ws.watchPermission(e, auth.Read(req.Key, req.RangeEnd))
	created := make(chan bool, 1)
	ws.mu.Lock()
	ws.watches[id] = e
	started := ws.goLocked(func() {
		defer unwatch()
		if <-created {
			ws.run(ctx, e)
			return
		}
		cancel()
		close(e.done)
		watcher.Close()
	})
	ws.mu.Unlock()
	if !started {
		unwatch()
		cancel()
		watcher.Close()
		return
	}
	// Its goroutine starts delivering once Created is queued.
	created <- ws.send(ws.ctx, &pb.WatchResponse{Header: s.header(rev), WatchId: id, Created: true})
}

// watchPermission ends the watch e, with auth on, when an auth change
// takes from the stream's user what need describes (as a REST watch
// ends). It costs no goroutine: the check runs in the auth store's
// reload. The returned func stops it.
func (ws *watchStream) watchPermission(e *watchEntry, need auth.Need) func() {
	a := ws.s.svc.Auth
	if a == nil {
		return func() {}
	}
	store, user := a.Store(), auth.UserFrom(ws.ctx)
	check := func() {
		if store.Check(user, need) != nil {
			e.denied.Store(true)
			e.cancel()
		}
	}
	unregister := store.OnChange(check)
	check() // a change between the create's check and the registration
	return unregister
}

// reserveID takes the watch ID the client asked for, or the next free one
// (from 0, as etcd numbers them) when it asked for none.
func (ws *watchStream) reserveID(want int64) (int64, error) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if want != 0 {
		if _, taken := ws.watches[want]; taken || want < 0 {
			return progressWatchID, domain.InvalidArgument("watch id %d is in use on this stream", want)
		}
		ws.watches[want] = nil
		return want, nil
	}
	for {
		id := ws.nextID
		ws.nextID++
		if _, taken := ws.watches[id]; !taken {
			ws.watches[id] = nil
			return id, nil
		}
	}
}

func (ws *watchStream) release(id int64) {
	if id == progressWatchID {
		return
	}
	ws.mu.Lock()
	delete(ws.watches, id)
	ws.mu.Unlock()
}

// cancelWatch ends a watch and answers canceled, after every response of
// the watch that was queued: its goroutine has returned by then.
func (ws *watchStream) cancelWatch(id int64) {
	ws.mu.Lock()
	e := ws.watches[id]
	delete(ws.watches, id)
	ws.mu.Unlock()
	if e == nil {
		return // unknown, or not yet created: etcd says nothing either
	}
	e.cancel()
	<-e.done
	ws.send(ws.ctx, &pb.WatchResponse{Header: ws.s.currentHeader(), WatchId: id, Canceled: true})
}

// requestProgress answers a RequestProgress: one response for every watch
// of the stream (watch ID -1) whose revision every watch has seen all the
// changes up to. Each watch is asked where it stands; the answer is sent
// once all have answered, after the events they had queued.
func (ws *watchStream) requestProgress() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	var replies []chan int64
	for _, e := range ws.watches {
		if e == nil {
			continue
		}
		c := make(chan int64, 1)
		if e.ask(c) {
			replies = append(replies, c)
		}
	}
	ws.goLocked(func() {
		rev := ws.s.svc.Cluster.Revision()
		for _, c := range replies {
			select {
			case p := <-c:
				if p >= 0 {
					rev = min(rev, p)
				}
			case <-ws.ctx.Done():
				return
			}
		}
		ws.send(ws.ctx, &pb.WatchResponse{Header: ws.s.header(rev), WatchId: progressWatchID})
	})
}

// ask queues a progress question for the watch, and interrupts its wait
// so that it answers soon. It reports false for a watch that has ended.
func (e *watchEntry) ask(c chan<- int64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.exited {
		return false
	}
	e.pending = append(e.pending, c)
	if e.interrupt != nil {
		e.interrupt()
	}
	return true
}

// run delivers the watch's changes until ctx ends or the history it needs
// is compacted away (a response with the compact revision, canceled).
// With progress_notify, a watch that waited ProgressNotifyInterval for a
// change gets a progress notification: the revision it has seen every
// change up to.
func (ws *watchStream) run(ctx context.Context, e *watchEntry) {
	s := ws.s
	defer close(e.done)
	defer e.watcher.Close()
	defer func() {
		e.mu.Lock()
		e.exited = true
		for _, c := range e.pending {
			c <- -1
		}
		e.pending = nil
		e.mu.Unlock()
	}()
	for {
		wctx, cancel := context.WithTimeout(ctx, s.cfg.ProgressNotifyInterval)
		e.mu.Lock()
		e.interrupt = cancel
		if len(e.pending) > 0 {
			cancel()
		}
		e.mu.Unlock()
		msgs, err := e.watcher.Next(wctx)
		timedOut := errors.Is(wctx.Err(), context.DeadlineExceeded)
		cancel()
		e.mu.Lock()
		e.interrupt = nil
		pending := e.pending
		e.pending = nil
		e.mu.Unlock()

		var ce *domain.CompactedError
		switch {
		case err == nil:
			if !ws.sendEvents(ctx, e, msgs) {
				return
			}
		case ctx.Err() != nil:
			if e.denied.Load() {
				ws.release(e.id)
				ws.send(ws.ctx, &pb.WatchResponse{Header: s.currentHeader(), WatchId: e.id, Canceled: true,
					CancelReason: msgPermissionDenied})
			}
			return
		case errors.As(err, &ce):
			ws.send(ctx, &pb.WatchResponse{Header: s.currentHeader(), WatchId: e.id, Canceled: true,
				CompactRevision: ce.CompactRevision})
			ws.release(e.id)
			return
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
			if timedOut && e.progress && len(pending) == 0 {
				if !ws.send(ctx, &pb.WatchResponse{Header: s.header(e.watcher.Progress()), WatchId: e.id}) {
					return
				}
			}
		default:
			// The member shuts down (or its store fails): the stream
			// ends, and the client resumes its watches elsewhere.
			ws.fail(err)
			return
		}
		for _, c := range pending {
			c <- e.watcher.Progress()
		}
	}
}

// sendEvents queues the changes of one call of Next as one response
// whose header revision is where the watch stands (clientv3 resumes after
// it), split into fragments for a watch created with fragment.
func (ws *watchStream) sendEvents(ctx context.Context, e *watchEntry, msgs []watch.Message) bool {
	resp := &pb.WatchResponse{Header: ws.s.header(e.watcher.Progress()), WatchId: e.id}
	for _, m := range msgs {
		for i := range m.Events {
			resp.Events = append(resp.Events, eventOut(&m.Events[i]))
		}
	}
	if !e.fragment {
		return ws.send(ctx, resp)
	}
	for _, part := range fragments(resp, ws.s.cfg.MaxRequestBytes) {
		if !ws.send(ctx, part) {
			return false
		}
	}
	return true
}

// fragments splits resp into responses of at most limit bytes (but at
// least one event each); all but the last say Fragment, and clientv3
// joins them again.
func fragments(resp *pb.WatchResponse, limit int) []*pb.WatchResponse {
	if resp.Size() <= limit || len(resp.Events) < 2 {
		return []*pb.WatchResponse{resp}
	}
	var out []*pb.WatchResponse
	cur := &pb.WatchResponse{Header: resp.Header, WatchId: resp.WatchId}
	size := cur.Size()
	for _, ev := range resp.Events {
		n := ev.Size() + 8 // the field's tag and length
		if len(cur.Events) > 0 && size+n > limit {
			cur.Fragment = true
			out = append(out, cur)
			cur = &pb.WatchResponse{Header: resp.Header, WatchId: resp.WatchId}
			size = cur.Size()
		}
		cur.Events = append(cur.Events, ev)
		size += n
	}
	return append(out, cur)
}

func eventOut(ev *domain.Event) *mvccpb.Event {
	out := &mvccpb.Event{Kv: kvOut(&ev.Kv), PrevKv: kvOut(ev.PrevKv)}
	switch ev.Type {
	case domain.EventPut:
		out.Type = mvccpb.PUT
	case domain.EventDelete:
		out.Type = mvccpb.DELETE
	default:
		panic(fmt.Sprintf("etcdapi: event type %d", ev.Type))
	}
	return out
}
