package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestWatch_ManyOnOneHTTP2Connection: a client that speaks HTTP/2 by prior
// knowledge (h2c) to a plain http:// URL carries 100 watch streams on a
// single TCP connection, and each stream gets its events.
func TestWatch_ManyOnOneHTTP2Connection(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 1)
	var dials atomic.Int32
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: p, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	const n = 100
	streams := make([]*sseStream, n)
	for i := range streams {
		resp, err := openWatch(t, c, fmt.Sprintf("%s/v1/watch/h2/%03d", ms[0].URL, i), nil, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ProtoMajor != 2 {
			t.Fatalf("watch %d: %s, want HTTP/2", i, resp.Proto)
		}
		streams[i] = newSSEStream(t, resp, 4)
	}
	for i := range streams {
		mustPut(t, ms[0].URL, fmt.Sprintf("h2/%03d", i), "v")
	}
	for i, s := range streams {
		ev, ok := s.nextMessage(10 * time.Second)
		if !ok || ev.Event != "events" || !strings.Contains(ev.Data, fmt.Sprintf(`"key":"h2/%03d"`, i)) {
			t.Fatalf("stream %d: %+v", i, ev)
		}
	}
	if d := dials.Load(); d != 1 {
		t.Fatalf("%d connections for %d watches, want 1", d, n)
	}
}
