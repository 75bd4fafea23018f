package etcdapi

import (
	"errors"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/cairnkv/cairn/internal/domain"
)

// The dispatcher of a watch stream (watch.go): one goroutine that serves
// every watch of the stream.

// dispatch serves the stream's watches until the stream ends: the ready
// ones in the order they became ready (a watch with more to deliver goes
// to the back of the queue after each response, so that one catching up
// holds up none of the others), then the RequestProgress answers, then
// the progress notifications that are due. With progress_notify, a watch
// that waited ProgressNotifyInterval for a change gets a progress
// notification: the revision it has seen every change up to.
func (ws *watchStream) dispatch() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var queue []*watchEntry
	for {
		ws.qmu.Lock()
		queue, ws.queue = ws.queue, queue[:0]
		for _, e := range queue {
			e.queued = false
		}
		progress := ws.progress
		ws.progress = 0
		ws.qmu.Unlock()
		for i, e := range queue {
			if !ws.serve(e) {
				ws.qmu.Lock()
				ws.queue = append(ws.queue, queue[i:]...) // close ends them
				ws.qmu.Unlock()
				return
			}
			queue[i] = nil
		}
		for range progress {
			rev := ws.s.svc.Cluster.Revision()
			for e := range ws.live {
				rev = min(rev, e.watcher.Progress())
			}
			if !ws.send(ws.ctx, &pb.WatchResponse{Header: ws.s.header(rev), WatchId: progressWatchID}) {
				return
			}
		}
		now := time.Now()
		for e := ws.pHead; e != nil && !e.due.After(now); e = ws.pHead {
			if !ws.send(ws.ctx, &pb.WatchResponse{Header: ws.s.header(e.watcher.Progress()), WatchId: e.id}) {
				return
			}
			ws.pushProgress(e, now)
		}
		var due <-chan time.Time
		if ws.pHead != nil {
			timer.Reset(ws.pHead.due.Sub(now))
			due = timer.C
		}
		select {
		case <-ws.kick:
		case <-due:
		case <-ws.ctx.Done():
			return
		}
		timer.Stop()
	}
}

// serve polls the watch e and queues what it has, or ends it (canceled,
// denied, compacted). It reports false when the stream cannot go on.
func (ws *watchStream) serve(e *watchEntry) bool {
	s := ws.s
	ws.qmu.Lock()
	canceled, denied := e.canceled, e.denied
	e.canceled = nil
	ws.qmu.Unlock()
	if e.ended {
		if canceled != nil {
			close(canceled) // it ended meanwhile, and said so
		}
		return true
	}
	if !e.served {
		e.served = true
		ws.live[e] = struct{}{}
		if e.progress {
			ws.pushProgress(e, time.Now())
		}
	}
	switch {
	case canceled != nil:
		ws.end(e)
		ok := ws.send(ws.ctx, &pb.WatchResponse{Header: s.currentHeader(), WatchId: e.id, Canceled: true})
		close(canceled)
		return ok
	case denied:
		ws.release(e.id)
		ws.end(e)
		return ws.send(ws.ctx, &pb.WatchResponse{Header: s.currentHeader(), WatchId: e.id, Canceled: true,
			CancelReason: msgPermissionDenied})
	}
	msgs, err := e.watcher.Poll()
	var ce *domain.CompactedError
	switch {
	case err == nil && len(msgs) == 0:
		return true // waiting: the hub tells when to poll again
	case err == nil:
		if !ws.sendEvents(ws.ctx, e, msgs) {
			return false
		}
		if e.progress {
			ws.pushProgress(e, time.Now())
		}
		ws.enqueue(e) // there may be more
		return true
	case errors.As(err, &ce):
		ok := ws.send(ws.ctx, &pb.WatchResponse{Header: s.currentHeader(), WatchId: e.id, Canceled: true,
			CompactRevision: ce.CompactRevision})
		ws.release(e.id)
		ws.end(e)
		return ok
	default:
		// The member shuts down (or its store fails): the stream ends,
		// and the client resumes its watches elsewhere.
		ws.fail(err)
		return false
	}
}

// end closes the watch e; it is served no more.
func (ws *watchStream) end(e *watchEntry) {
	if e.ended {
		return
	}
	e.ended = true
	delete(ws.live, e)
	ws.unlinkProgress(e)
	e.watcher.Close()
}

// pushProgress (re)files e at the back of the progress list, due an
// interval after now. The list stays in the order of due times, since
// every watch is filed at now plus the same interval.
func (ws *watchStream) pushProgress(e *watchEntry, now time.Time) {
	ws.unlinkProgress(e)
	e.due = now.Add(ws.s.cfg.ProgressNotifyInterval)
	e.prev = ws.pTail
	if ws.pTail != nil {
		ws.pTail.next = e
	} else {
		ws.pHead = e
	}
	ws.pTail = e
}

func (ws *watchStream) unlinkProgress(e *watchEntry) {
	if e.prev == nil && ws.pHead != e {
		return // not filed
	}
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		ws.pHead = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		ws.pTail = e.prev
	}
	e.prev, e.next = nil, nil
}
