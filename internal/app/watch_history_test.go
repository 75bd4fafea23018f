package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// The history model of TestWatch_ManyWatchers: what every watcher must
// receive, rebuilt from the answers of the writes.

// watchRecord is what one watcher of TestWatch_ManyWatchers received.
type watchRecord struct {
	url                     string
	start                   int64 // asked for; 0: from now
	prevKv, noPut, noDelete bool

	mu     sync.Mutex
	from   int64    // where the stream said it starts
	sums   []uint64 // one per event: a hash of its text
	texts  []string // the texts too, in the short mode
	revs   []int64  // one per event
	last   int64
	err    error
	ended  bool
	opened chan struct{} // closed at the opening line or the end
	closed chan struct{} // closed at the end
}

func (w *watchRecord) query() string {
	q := "?prefix=true"
	if w.start > 0 {
		q += fmt.Sprintf("&start_revision=%d", w.start)
	}
	if w.prevKv {
		q += "&prev_kv=true"
	}
	switch {
	case w.noPut:
		q += "&filters=noput"
	case w.noDelete:
		q += "&filters=nodelete"
	}
	return q
}

// consume reads the stream until the end marker, checking the protocol:
// the opening comment, then one message per revision with increasing ids.
func (w *watchRecord) consume(body io.Reader, isEnd func(*watchEvent) bool, keepText bool) {
	defer close(w.closed)
	first := true
	defer func() {
		if first {
			close(w.opened)
		}
	}()
	err := readSSE(body, func(ev sseEvent) bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		fail := func(format string, args ...any) bool {
			w.err = fmt.Errorf(format, args...)
			return false
		}
		if first {
			first = false
			defer close(w.opened)
			n, ok := watchingFrom(ev)
			if !ok || (w.start > 0 && n != w.start) {
				return fail("opening line %+v, asked to start at %d", ev, w.start)
			}
			w.from = n
			return true
		}
		if ev.IsComment {
			return true
		}
		var d watchData
		if err := json.Unmarshal([]byte(ev.Data), &d); err != nil || ev.Event != "events" {
			return fail("message %+v: %v", ev, err)
		}
		id, err := strconv.ParseInt(ev.ID, 10, 64)
		switch {
		case !ev.HasID || err != nil || id != d.Header.Revision:
			return fail("message id %q (%v) for header revision %d", ev.ID, ev.HasID, d.Header.Revision)
		case id <= w.last:
			return fail("revision %d after %d", id, w.last)
		case len(d.Events) == 0:
			return fail("message %d without events", id)
		}
		w.last = id
		for i := range d.Events {
			e := &d.Events[i]
			if e.Kv.ModRevision != id {
				return fail("message %d holds an event of revision %d", id, e.Kv.ModRevision)
			}
			text := e.String()
			w.sums = append(w.sums, textSum(text))
			w.revs = append(w.revs, id)
			if keepText {
				w.texts = append(w.texts, text)
			}
			w.ended = w.ended || isEnd(e)
		}
		return !w.ended
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.ended && w.err == nil {
		w.err = fmt.Errorf("the stream ended before the end marker (%v)", err)
	}
}

func textSum(s string) uint64 {
	h := uint64(14695981039346656037) // FNV-1a
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}

func sums(texts []string) []uint64 {
	out := make([]uint64, len(texts))
	for i, s := range texts {
		out[i] = textSum(s)
	}
	return out
}

// kvOp is one change a write made: a put, or a delete of a key or a range
// [key, end).
type kvOp struct {
	del       bool
	key, end  string
	value     string
	deleted   int64    // a delete's count in the answer
	prev      *watchKV // a put's prev_kv in the answer, when checkPrev
	checkPrev bool
}

// histEvent is one event of the history the model rebuilds.
type histEvent struct {
	watchEvent
	rev int64
}

// history records the writes of a test by the revision their answers gave,
// and rebuilds from them, in revision order, the exact events a watcher
// must see, with each key's previous version.
type history struct {
	t       testing.TB
	mu      sync.Mutex
	writes  map[int64][]kvOp
	unknown atomic.Int64 // attempts whose outcome is unknown (504, no answer)
	failed  atomic.Int64 // writes that never answered 200
}

func newHistory(t testing.TB) *history { return &history{t: t, writes: map[int64][]kvOp{}} }

// do sends one write (a txn or a single put or delete) made of ops and
// records what it changed. A write is sent again on 503 and 504, as a
// client would (the leader may change under load): an attempt that was
// applied all the same leaves a revision no answer names, which events
// reads back from the store.
func (h *history) do(c *http.Client, req *http.Request, ops []kvOp, txn bool) error {
	code, body, _ := retryUnavailable(h.t, req.Method+" "+req.URL.String(), func() (int, string) {
		if req.GetBody != nil {
			req.Body, _ = req.GetBody()
		}
		resp, err := c.Do(req)
		if err != nil {
			h.unknown.Add(1)
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode == http.StatusGatewayTimeout {
			h.unknown.Add(1)
		}
		if err != nil {
			return 0, err.Error()
		}
		return resp.StatusCode, string(b)
	})
	b := []byte(body)
	if code != http.StatusOK {
		h.failed.Add(1)
		return fmt.Errorf("%s %s: %d %s", req.Method, req.URL, code, b)
	}
	var a struct {
		Header struct {
			Revision int64 `json:"revision"`
		} `json:"header"`
		PrevKv    *watchKV `json:"prev_kv"`
		Deleted   int64    `json:"deleted"`
		Responses []struct {
			Delete *struct {
				Deleted int64 `json:"deleted"`
			} `json:"delete"`
		} `json:"responses"`
	}
	if err := json.Unmarshal(b, &a); err != nil || a.Header.Revision == 0 {
		return fmt.Errorf("%s %s: answer %s: %v", req.Method, req.URL, b, err)
	}
	var done []kvOp
	for i, op := range ops {
		switch {
		case !txn && op.del:
			op.deleted = a.Deleted
		case !txn:
			op.prev, op.checkPrev = a.PrevKv, true
		case op.del:
			if i >= len(a.Responses) || a.Responses[i].Delete == nil {
				return fmt.Errorf("txn answer %s has no delete response #%d", b, i)
			}
			op.deleted = a.Responses[i].Delete.Deleted
		}
		if !op.del || op.deleted > 0 {
			done = append(done, op)
		}
	}
	if len(done) == 0 {
		return nil // nothing changed: the answer's revision is not this write's
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, dup := h.writes[a.Header.Revision]; dup {
		return fmt.Errorf("two writes answered with revision %d", a.Header.Revision)
	}
	h.writes[a.Header.Revision] = done
	return nil
}

// last returns the revision of the last write recorded.
func (h *history) last() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var rev int64
	for r := range h.writes {
		rev = max(rev, r)
	}
	return rev
}

func (h *history) put(c *http.Client, url, key, value string) error {
	req, _ := http.NewRequest(http.MethodPut, url+"/v1/kv/"+key+"?prev_kv=true", strings.NewReader(value))
	return h.do(c, req, []kvOp{{key: key, value: value}}, false)
}

func (h *history) del(c *http.Client, url, key string, prefix bool) error {
	q, end := "", ""
	if prefix {
		q, end = "?prefix=true", key[:len(key)-1]+string(key[len(key)-1]+1)
	}
	req, _ := http.NewRequest(http.MethodDelete, url+"/v1/kv/"+key+q, nil)
	return h.do(c, req, []kvOp{{del: true, key: key, end: end}}, false)
}

// txn runs ops (puts and single-key deletes) as one txn.
func (h *history) txn(c *http.Client, url string, ops []kvOp) error {
	var parts []string
	for _, op := range ops {
		if op.del {
			parts = append(parts, fmt.Sprintf(`{"delete":{"key":%q}}`, op.key))
		} else {
			parts = append(parts, fmt.Sprintf(`{"put":{"key":%q,"value":%q}}`, op.key, op.value))
		}
	}
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/txn", strings.NewReader(`{"success":[`+strings.Join(parts, ",")+`]}`))
	req.Header.Set("Content-Type", "application/json")
	return h.do(c, req, ops, true)
}

// events replays the history up to revision to and returns its events.
// A revision no answer named (a write whose answer was lost) is read back
// from the store at that revision (GET with revision=R) and diffed
// against the model; its changes are then taken in key order.
func (h *history) events(t testing.TB, url string, to int64) []histEvent {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	state := map[string]watchKV{}
	var out []histEvent
	emit := func(rev int64, typ string, kv watchKV, key string) {
		ev := histEvent{rev: rev, watchEvent: watchEvent{Type: typ, Kv: kv}}
		if old, ok := state[key]; ok {
			ev.PrevKv = &old
		}
		out = append(out, ev)
	}
	gaps := 0
	for rev := int64(1); rev <= to; rev++ {
		ops, ok := h.writes[rev]
		if !ok {
			// A fresh store starts at revision 1, without a change.
			if ops = h.readBack(t, url, rev, state); len(ops) > 0 {
				gaps++
			}
		}
		for _, op := range ops {
			old, exists := state[op.key]
			switch {
			case !op.del:
				kv := watchKV{Key: op.key, Value: op.value, CreateRevision: rev, ModRevision: rev, Version: 1}
				if exists {
					kv.CreateRevision, kv.Version = old.CreateRevision, old.Version+1
				}
				if op.checkPrev && op.prev.String() != ev0(exists, old).String() {
					t.Errorf("history: the put at %d answered prev_kv %s, but before it the key was %s", rev, op.prev, ev0(exists, old))
				}
				emit(rev, "PUT", kv, op.key)
				state[op.key] = kv
			case op.end == "":
				if !exists {
					t.Errorf("history: the delete of %s at %d deleted %d, but the key did not exist", op.key, rev, op.deleted)
				}
				emit(rev, "DELETE", watchKV{Key: op.key, ModRevision: rev}, op.key)
				delete(state, op.key)
			default:
				var keys []string
				for k := range state {
					if k >= op.key && k < op.end {
						keys = append(keys, k)
					}
				}
				slices.Sort(keys)
				if int64(len(keys)) != op.deleted {
					t.Errorf("history: the range delete at %d deleted %d keys, the model had %d", rev, op.deleted, len(keys))
				}
				for _, k := range keys {
					emit(rev, "DELETE", watchKV{Key: k, ModRevision: rev}, k)
					delete(state, k)
				}
			}
		}
	}
	if gaps > 0 {
		t.Logf("history: %d revisions read back from the store (attempts without an answer: %d)", gaps, h.unknown.Load())
	}
	return out
}

func ev0(exists bool, kv watchKV) *watchKV {
	if !exists {
		return nil
	}
	return &kv
}

// readBack returns the changes made at rev, by comparing the whole store
// at rev with the model's state before it.
func (h *history) readBack(t testing.TB, url string, rev int64, state map[string]watchKV) []kvOp {
	t.Helper()
	// A read: retried on 503/504 like any idempotent request (a loaded
	// machine may be between leaders).
	code, body := doIdempotent(t, http.MethodGet, fmt.Sprintf("%s/v1/kv/?prefix=true&revision=%d", url, rev), "")
	if code != http.StatusOK {
		t.Fatalf("read back revision %d: %d %s", rev, code, body)
	}
	var r struct {
		Kvs []watchKV `json:"kvs"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	live := map[string]watchKV{}
	var ops []kvOp
	for _, kv := range r.Kvs {
		live[kv.Key] = kv
		if kv.ModRevision == rev {
			ops = append(ops, kvOp{key: kv.Key, value: kv.Value})
		} else if old, ok := state[kv.Key]; !ok || old != kv {
			t.Errorf("history: at %d the store has %s, the model %s", rev, kv.String(), ev0(ok, old))
		}
	}
	for k := range state {
		if _, ok := live[k]; !ok {
			ops = append(ops, kvOp{del: true, key: k, deleted: 1})
		}
	}
	slices.SortFunc(ops, func(a, b kvOp) int { return strings.Compare(a.key, b.key) })
	return ops
}
