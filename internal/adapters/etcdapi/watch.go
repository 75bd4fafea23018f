package etcdapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

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

// watchStream is one Watch call. Its receiving goroutine (recvLoop)
// creates and cancels watches; one goroutine (dispatch) serves every
// watch of the stream: it polls the watches the hub says may have
// changes, sends the progress notifications and answers RequestProgress;
// one goroutine sends every response (sendLoop), since a gRPC stream takes
// one sender at a time. A watch costs no goroutine of its own, as in
// etcd, where one stream's watches share a channel and a send loop.
type watchStream struct {
	s      *Server
	ctx    context.Context
	cancel context.CancelFunc
	out    chan *pb.WatchResponse
	failc  chan error // the status the stream ends with (fail)

	// Guarded by mu: the watches by ID (nil while one is being created),
	// the next ID to try, and closed once the stream ends: from then on no
	// watch is added.
	mu      sync.Mutex
	watches map[int64]*watchEntry
	nextID  int64
	closed  bool
	wg      sync.WaitGroup

	// The dispatcher's work, guarded by qmu: the watches to serve, in the
	// order they became ready, and the RequestProgress calls to answer.
	// The hub calls ready (enqueue) with its own lock held: nothing is
	// asked of the hub or a watcher while qmu is held.
	qmu      sync.Mutex
	queue    []*watchEntry
	progress int
	kick     chan struct{} // there is work (capacity 1)

	// permitted reports whether the stream's user may still watch what
	// need describes (auth may be turned on at any time).
	permitted func(need auth.Need) bool

	// Owned by the dispatcher (and by close once it has returned): the
	// watches it serves, and those with progress_notify in the order of
	// their next notification (an intrusive list: head is due first).
	live  map[*watchEntry]struct{}
	pHead *watchEntry
	pTail *watchEntry
}

// watchEntry is one watch of a stream.
type watchEntry struct {
	id       int64
	watcher  *watch.Watcher
	progress bool // progress_notify
	fragment bool
	need     auth.Need // read on its range, checked again on auth changes

	// Guarded by the stream's qmu: started once Created is queued (only
	// then does the dispatcher see it); queued while in the queue; the
	// client canceled it (canceled is closed once Canceled is queued);
	// denied when an auth change took the user's read permission on the
	// range: the watch ends, canceled with the reason.
	started  bool
	queued   bool
	canceled chan struct{}
	denied   bool

	// Owned by the dispatcher: served once it is in live; ended once its
	// watcher is closed; the progress list's links and when its next
	// progress notification is due.
	served     bool
	ended      bool
	prev, next *watchEntry
	due        time.Time
}

// Watch serves one stream until the client closes it, the call's context
// ends or the server closes (Close). A send that fails ends it.
func (w watchServer) Watch(stream pb.Watch_WatchServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	ws := &watchStream{s: w.s, ctx: ctx, cancel: cancel, out: make(chan *pb.WatchResponse, 16),
		failc: make(chan error, 1), watches: map[int64]*watchEntry{}, kick: make(chan struct{}, 1),
		live: map[*watchEntry]struct{}{}}
	defer ws.close()
	defer ws.watchPermissions()()
	ws.wg.Add(1)
	go func() {
		defer ws.wg.Done()
		ws.dispatch()
	}()
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

// close ends the stream: it waits for the dispatcher, then closes every
// watch, served or not yet.
func (ws *watchStream) close() {
	ws.cancel()
	ws.mu.Lock()
	ws.closed = true
	ws.mu.Unlock()
	ws.wg.Wait()
	ws.mu.Lock()
	for _, e := range ws.watches {
		if e != nil {
			ws.end(e)
		}
	}
	ws.mu.Unlock()
	ws.qmu.Lock()
	queue := ws.queue
	ws.queue = nil
	ws.qmu.Unlock()
	for _, e := range queue {
		ws.end(e)
	}
	for e := range ws.live {
		ws.end(e)
	}
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
	e := &watchEntry{id: id, watcher: watcher, progress: r.ProgressNotify, fragment: r.Fragment,
		need: auth.Read(req.Key, req.RangeEnd)}
	watcher.OnReady(func() { ws.enqueue(e) })
	ws.mu.Lock()
	if ws.closed {
		ws.mu.Unlock()
		watcher.Close()
		return
	}
	ws.watches[id] = e
	ws.mu.Unlock()
	ws.checkPermission(e) // a change between the create's check and now
	// The dispatcher serves it once Created is queued (if the stream has
	// ended, close ends it).
	if ws.send(ws.ctx, &pb.WatchResponse{Header: s.header(rev), WatchId: id, Created: true}) {
		ws.qmu.Lock()
		e.started = true
		ws.enqueueLocked(e)
		ws.qmu.Unlock()
	}
}

// enqueue asks the dispatcher to serve e: poll it, or end it.
func (ws *watchStream) enqueue(e *watchEntry) {
	ws.qmu.Lock()
	ws.enqueueLocked(e)
	ws.qmu.Unlock()
}

func (ws *watchStream) enqueueLocked(e *watchEntry) {
	if !e.started || e.queued {
		return
	}
	e.queued = true
	ws.queue = append(ws.queue, e)
	select {
	case ws.kick <- struct{}{}:
	default:
	}
}

// watchPermissions ends, with auth on, each watch of the stream whose
// read permission an auth change takes from the stream's user (as a REST
// watch ends). It costs no goroutine, and one callback per stream: the
// checks run in the auth store's reload. The returned func stops it.
func (ws *watchStream) watchPermissions() (stop func()) {
	a := ws.s.svc.Auth
	if a == nil {
		ws.permitted = func(auth.Need) bool { return true }
		return func() {}
	}
	store, user := a.Store(), auth.UserFrom(ws.ctx)
	ws.permitted = func(need auth.Need) bool { return store.Check(user, need) == nil }
	return store.OnChange(func() {
		ws.mu.Lock()
		defer ws.mu.Unlock()
		for _, e := range ws.watches {
			if e != nil {
				ws.checkPermission(e)
			}
		}
	})
}

// checkPermission ends the watch e, canceled with the reason, if its
// user may no longer read its range.
func (ws *watchStream) checkPermission(e *watchEntry) {
	if !ws.permitted(e.need) {
		ws.qmu.Lock()
		e.denied = true
		ws.enqueueLocked(e)
		ws.qmu.Unlock()
	}
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
// the watch that was queued; it returns once that answer is queued, so
// that the next request of the stream comes after it.
func (ws *watchStream) cancelWatch(id int64) {
	ws.mu.Lock()
	e := ws.watches[id]
	delete(ws.watches, id)
	ws.mu.Unlock()
	if e == nil {
		return // unknown, or not yet created: etcd says nothing either
	}
	done := make(chan struct{})
	ws.qmu.Lock()
	e.canceled = done
	ws.enqueueLocked(e)
	ws.qmu.Unlock()
	select {
	case <-done:
	case <-ws.ctx.Done():
	}
}

// requestProgress asks the dispatcher for a RequestProgress answer: one
// response for every watch of the stream (watch ID -1) whose revision
// every watch has seen all the changes up to, sent after the events they
// had queued.
func (ws *watchStream) requestProgress() {
	ws.qmu.Lock()
	ws.progress++
	select {
	case ws.kick <- struct{}{}:
	default:
	}
	ws.qmu.Unlock()
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
