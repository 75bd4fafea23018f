package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/cairnkv/cairn/client"
)

// sseFake serves one scripted stream per connection and records the
// Last-Event-ID of each.
type sseFake struct {
	mu      sync.Mutex
	scripts []string // one per connection; "!" at the end: cut the connection
	lastIDs []string
}

func (s *sseFake) handler(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	n := len(s.lastIDs)
	s.lastIDs = append(s.lastIDs, r.Header.Get("Last-Event-ID"))
	script := "event: error\ndata: {\"error\":{\"code\":\"invalid_argument\",\"message\":\"script over\"}}\n\n"
	if n < len(s.scripts) {
		script = s.scripts[n]
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Cairn-Revision", "100") // far off: the opening comment must win
	w.WriteHeader(http.StatusOK)
	cut := strings.HasSuffix(script, "!")
	fmt.Fprint(w, strings.TrimSuffix(script, "!"))
	http.NewResponseController(w).Flush()
	if cut {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
	}
}

func sseEvents(rev int64, keys ...string) string {
	var evs []string
	for _, k := range keys {
		evs = append(evs, fmt.Sprintf(`{"type":"PUT","kv":{"key":%q,"value":"dg==","create_revision":%d,"mod_revision":%d,"version":1,"lease":0}}`,
			b64(k), rev, rev))
	}
	return fmt.Sprintf(`{"header":{"cluster_id":1,"member_id":1,"revision":%d,"raft_term":1},"events":[%s]}`, rev, strings.Join(evs, ","))
}

func b64(s string) string {
	const enc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	var b strings.Builder
	in := []byte(s)
	for len(in) >= 3 {
		n := uint(in[0])<<16 | uint(in[1])<<8 | uint(in[2])
		b.WriteString(string([]byte{enc[n>>18&63], enc[n>>12&63], enc[n>>6&63], enc[n&63]}))
		in = in[3:]
	}
	switch len(in) {
	case 1:
		n := uint(in[0]) << 16
		b.WriteString(string([]byte{enc[n>>18&63], enc[n>>12&63], '=', '='}))
	case 2:
		n := uint(in[0])<<16 | uint(in[1])<<8
		b.WriteString(string([]byte{enc[n>>18&63], enc[n>>12&63], enc[n>>6&63], '='}))
	}
	return b.String()
}

// TestWatch_ResumeSplitRevision: a connection breaks in the middle of a
// revision sent in parts; the parts received are dropped and the whole
// revision comes again from the next connection, resumed after the last
// complete revision.
func TestWatch_ResumeSplitRevision(t *testing.T) {
	s := &sseFake{scripts: []string{
		// 1: only the opening comment, then the connection breaks: the
		// resume point is the comment's start, not X-Cairn-Revision.
		": watching from revision 5\n\n!",
		// 2: revision 5 whole, then two parts of revision 6 without the id.
		": watching from revision 5\n\n" +
			"id: 5\nevent: events\ndata: " + sseEvents(5, "a") + "\n\n" +
			": heartbeat\n\n" +
			"event: events\ndata: " + sseEvents(6, "b1", "b2") + "\n\n" +
			"event: events\r\ndata: " + sseEvents(6, "b3") + "\r\n\r\n!",
		// 3: resumed after 5: revision 6 in three parts, a progress event,
		// then revision 8 (7 changed nothing in the range).
		": watching from revision 6\n\n" +
			"event: events\ndata: " + sseEvents(6, "b1", "b2") + "\n\n" +
			"event: events\ndata: " + sseEvents(6, "b3") + "\n\n" +
			"id: 6\nevent: events\ndata: " + sseEvents(6, "b4") + "\n\n" +
			"event: progress\ndata: {\"header\":{\"revision\":7}}\n\n" +
			"id: 8\nevent: events\ndata: " + sseEvents(8, "c") + "\n\n!",
		// 4: resumed after 8, then the history is gone.
		"event: error\ndata: {\"error\":{\"code\":\"compacted\",\"message\":\"gone\",\"compact_revision\":20}}\n\n",
	}}
	f := newFake(t, s.handler)
	c := newClient(t, []string{f.URL})
	ctx := testCtx(t)
	wch := c.Watch(ctx, "k", client.WithPrefix())
	var got []string
	for wr := range wch {
		switch {
		case wr.Err != nil:
			if !errors.Is(wr.Err, client.ErrCompacted) || wr.CompactRevision != 20 {
				t.Fatalf("final error %v (compact revision %d)", wr.Err, wr.CompactRevision)
			}
			got = append(got, "compacted")
		case wr.IsProgressNotify():
			got = append(got, fmt.Sprintf("progress@%d", wr.Header.Revision))
		default:
			var keys []string
			for _, ev := range wr.Events {
				keys = append(keys, string(ev.Kv.Key))
			}
			got = append(got, fmt.Sprintf("%d:%s", wr.Header.Revision, strings.Join(keys, "+")))
		}
	}
	want := "5:a 6:b1+b2+b3+b4 progress@7 8:c compacted"
	if strings.Join(got, " ") != want {
		t.Fatalf("delivered %q, want %q", strings.Join(got, " "), want)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ids := strings.Join(s.lastIDs, ","); ids != ",4,5,8" {
		t.Fatalf("Last-Event-IDs %q, want \",4,5,8\"", ids)
	}
}

// TestWatch_StopsOnRefusal: a watch the member refuses (400) ends with
// the error; one it cannot serve now (503) is retried.
func TestWatch_StopsOnRefusal(t *testing.T) {
	ctx := testCtx(t)
	c := newClient(t, endpoints)
	wr, ok := <-c.Watch(ctx, "k", client.WithPrefix(), client.WithFromKey())
	if !ok || !errors.Is(wr.Err, client.ErrInvalidArgument) {
		t.Fatalf("got %+v %v", wr, ok)
	}
	busy := newFake(t, answer(http.StatusServiceUnavailable, "unavailable", map[string]string{"Retry-After": "1"}))
	c = newClient(t, []string{busy.URL, shared.URL})
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	now, err := c.Get(ctx, "wr/k", client.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	c = newClient(t, []string{busy.URL, shared.URL})
	wch := c.Watch(wctx, "wr/k", client.WithRev(now.Header.Revision+1))
	if _, err := c.Put(ctx, "wr/k", "v"); err != nil {
		t.Fatal(err)
	}
	if wr := nextEvents(t, wch); len(wr.Events) != 1 {
		t.Fatalf("got %+v", wr)
	}
}
