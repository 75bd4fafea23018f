package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnkv/cairn/client"
)

// deadEndpoint returns a URL nobody listens on.
func deadEndpoint() string { return fmt.Sprintf("http://127.0.0.1:%d", mustFreePort()) }

// fake is a member impostor that answers with handler and counts requests.
type fake struct {
	*httptest.Server
	calls atomic.Int32
}

func newFake(t testing.TB, handler http.HandlerFunc) *fake {
	f := &fake{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		handler(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

// hangUp drops the connection without an answer, after reading the
// request: a write sent into a connection that broke.
func hangUp(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

func answer(status int, code string, header map[string]string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"code":%q,"message":"from the fake"}}`, code)
	}
}

func TestFailover_DeadFirstEndpoint(t *testing.T) {
	ctx := testCtx(t)
	c := newClient(t, []string{deadEndpoint(), shared.URL})
	if _, err := c.Put(ctx, "fo/dead-first", "v"); err != nil {
		t.Fatalf("put with a dead first endpoint: %v", err)
	}
	if c.Endpoint() != shared.URL {
		t.Fatalf("current endpoint %s, want %s", c.Endpoint(), shared.URL)
	}
	got, err := c.Get(ctx, "fo/dead-first")
	if err != nil || string(got.Kvs[0].Value) != "v" {
		t.Fatalf("get: %v %v", got, err)
	}

	t.Run("WatchAndKeepAlive", func(t *testing.T) {
		c := newClient(t, []string{deadEndpoint(), shared.URL})
		g, err := c.Grant(ctx, 30)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Revoke(ctx, g.ID)
		c2 := newClient(t, []string{deadEndpoint(), deadEndpoint(), shared.URL})
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		wch := c2.Watch(wctx, "fo/w", client.WithRev(1))
		if _, err := c.Put(ctx, "fo/w", "x"); err != nil {
			t.Fatal(err)
		}
		if wr := nextEvents(t, wch); string(wr.Events[0].Kv.Value) != "x" {
			t.Fatalf("watch: %+v", wr)
		}
		if _, err := c2.KeepAliveOnce(ctx, g.ID); err != nil {
			t.Fatal(err)
		}
	})
}

func TestFailover_AllDead(t *testing.T) {
	c := newClient(t, []string{deadEndpoint(), deadEndpoint()}, func(c *client.Config) {
		c.MaxRetryWait = 20 * time.Millisecond
	})
	ctx := testCtx(t)
	_, err := c.Put(ctx, "k", "v")
	if err == nil || errors.Is(err, client.ErrIndeterminate) {
		t.Fatalf("a put that never left: %v (it must not be indeterminate)", err)
	}
	if !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("want the cause, got %v", err)
	}
}

func TestFailover_Indeterminate(t *testing.T) {
	ctx := testCtx(t)
	tests := []struct {
		name        string
		handler     http.HandlerFunc
		wantTimeout bool // an *Error with code timeout
	}{
		{name: "BrokenConnection", handler: hangUp},
		{name: "GatewayTimeout", handler: answer(http.StatusGatewayTimeout, "timeout", nil), wantTimeout: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.handler)
			c := newClient(t, []string{f.URL, shared.URL})
			key := "fo/indeterminate/" + tt.name

			// A write: not sent again, the outcome is unknown.
			_, err := c.Put(ctx, key, "v")
			if !errors.Is(err, client.ErrIndeterminate) {
				t.Fatalf("put: %v, want ErrIndeterminate", err)
			}
			if got := errors.Is(err, client.ErrTimeout); got != tt.wantTimeout {
				t.Fatalf("put: %v matches ErrTimeout: %v", err, got)
			}
			if _, err := c.Get(ctx, key); !errors.Is(err, client.ErrKeyNotFound) {
				t.Fatalf("the put was retried on the next member: %v", err)
			}
			c = newClient(t, []string{f.URL, shared.URL})
			_, err = c.Txn(ctx).Then(client.OpPut(key, "v")).Commit()
			if !errors.Is(err, client.ErrIndeterminate) {
				t.Fatalf("txn: %v", err)
			}

			// Reads, keepalives and read-only txns are sent again.
			c = newClient(t, []string{f.URL, shared.URL})
			if _, err := c.Get(ctx, key, client.WithPrefix()); err != nil {
				t.Fatalf("get: %v", err)
			}
			c = newClient(t, []string{f.URL, shared.URL})
			if _, err := c.Txn(ctx).Then(client.OpGet(key)).Commit(); err != nil {
				t.Fatalf("read-only txn: %v", err)
			}
		})
	}
	t.Run("ContextEndsAfterSending", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		c := newClient(t, []string{f.URL})
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		_, err := c.Put(short, "k", "v")
		var ie *client.IndeterminateError
		if !errors.Is(err, client.ErrIndeterminate) || !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &ie) {
			t.Fatalf("put: %v", err)
		}
		short2, cancel2 := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel2()
		_, err = c.Get(short2, "k")
		if errors.Is(err, client.ErrIndeterminate) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("get: %v", err)
		}
	})
}

func TestFailover_Unavailable(t *testing.T) {
	ctx := testCtx(t)
	t.Run("NextEndpoint", func(t *testing.T) {
		f := newFake(t, answer(http.StatusServiceUnavailable, "no_leader", map[string]string{"Retry-After": "1"}))
		c := newClient(t, []string{f.URL, shared.URL})
		if _, err := c.Put(ctx, "fo/unavailable", "v"); err != nil {
			t.Fatalf("a put refused with 503 is sent to the next member: %v", err)
		}
		if f.calls.Load() != 1 {
			t.Fatalf("fake called %d times", f.calls.Load())
		}
	})
	t.Run("RetryAfter", func(t *testing.T) {
		// One member that has no leader twice, then serves.
		var n atomic.Int32
		refuse := answer(http.StatusServiceUnavailable, "no_leader", map[string]string{"Retry-After": "1"})
		f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) <= 2 {
				refuse(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"header":{"cluster_id":1,"member_id":2,"revision":7,"raft_term":3}}`)
		})
		c := newClient(t, []string{f.URL}, func(c *client.Config) { c.MaxRetryWait = 100 * time.Millisecond })
		start := time.Now()
		r, err := c.Put(ctx, "k", "v")
		if err != nil || r.Header.Revision != 7 {
			t.Fatalf("put: %+v %v", r, err)
		}
		if d := time.Since(start); d < 200*time.Millisecond {
			t.Fatalf("two Retry-After waits (capped at 100ms) took %v", d)
		}
	})
	t.Run("GivesUp", func(t *testing.T) {
		f := newFake(t, answer(http.StatusServiceUnavailable, "unavailable", map[string]string{"Retry-After": "1"}))
		c := newClient(t, []string{f.URL}, func(c *client.Config) { c.MaxRetryWait = 10 * time.Millisecond })
		_, err := c.Put(ctx, "k", "v")
		var e *client.Error
		if !errors.Is(err, client.ErrUnavailable) || !errors.As(err, &e) || e.RetryAfter != time.Second {
			t.Fatalf("put: %v", err)
		}
	})
}

func TestFailover_KeepAliveConnections(t *testing.T) {
	// Requests reuse connections: many calls, few connections.
	var mu sync.Mutex
	conns := map[string]bool{}
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conns[r.RemoteAddr] = true
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"header":{"revision":1},"kvs":[],"count":0,"more":false}`)
	})
	c := newClient(t, []string{f.URL})
	ctx := testCtx(t)
	for range 20 {
		if _, err := c.Get(ctx, "k", client.WithPrefix()); err != nil {
			t.Fatal(err)
		}
	}
	if len(conns) != 1 {
		t.Fatalf("20 sequential requests used %d connections", len(conns))
	}
}

func TestNew_Errors(t *testing.T) {
	for _, eps := range [][]string{nil, {"ftp://x"}, {"http://"}, {"http://h:1/?q"}} {
		if _, err := client.New(client.Config{Endpoints: eps}); err == nil {
			t.Errorf("endpoints %q accepted", eps)
		}
	}
	c, err := client.New(client.Config{Endpoints: []string{"127.0.0.1:2379/"}})
	if err != nil || c.Endpoints()[0] != "http://127.0.0.1:2379" {
		t.Fatalf("host:port endpoint: %v %v", c, err)
	}
	c.Close()
}
