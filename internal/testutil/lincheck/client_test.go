package lincheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	read := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	cases := []struct {
		name   string
		kind   Kind
		status int
		body   string
		err    error
		want   Outcome
		reason string
	}{
		{name: "write 200", kind: Write, status: 200, body: `{}`, want: OK},
		{name: "read 200", kind: Read, status: 200, body: `v`, want: OK},
		{name: "read 404", kind: Read, status: 404, body: `{"error":{"code":"key_not_found"}}`, want: OK},
		{name: "write 404", kind: Write, status: 404, body: `{"error":{"code":"key_not_found"}}`, want: Unknown, reason: "404 {\"error\":{\"code\":\"key_not_found\"}}"},
		{name: "write 503", kind: Write, status: 503, body: `{"error":{"code":"no_leader"}}`, want: Failed, reason: "503 no_leader"},
		{name: "read 503", kind: Read, status: 503, body: `{"error":{"code":"no_leader"}}`, want: Failed, reason: "503 no_leader"},
		{name: "cas 504", kind: CAS, status: 504, body: `{"error":{"code":"timeout"}}`, want: Unknown, reason: "504 timeout"},
		{name: "read 504", kind: Read, status: 504, body: `{"error":{"code":"timeout"}}`, want: Failed, reason: "504 timeout"},
		{name: "write never sent", kind: Write, err: fmt.Errorf("put: %w", dial), want: Failed, reason: "connection refused"},
		{name: "write connection broken", kind: Write, err: fmt.Errorf("put: %w", read), want: Unknown, reason: "connection broken"},
		{name: "cas client timeout", kind: CAS, err: errors.New("Get: context deadline exceeded (Client.Timeout exceeded while awaiting headers)"), want: Unknown, reason: "client timeout"},
		{name: "read client timeout", kind: Read, err: errors.New("(Client.Timeout exceeded)"), want: Failed, reason: "client timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, note := Classify(tc.kind, tc.status, []byte(tc.body), tc.err)
			if got != tc.want {
				t.Errorf("outcome %d (%q), want %d", got, note, tc.want)
			}
			if r := Reason(note); note != "" && r != tc.reason {
				t.Errorf("reason %q (note %q), want %q", r, note, tc.reason)
			}
		})
	}
}

// register is a fake member: a linearizable store of registers with a
// revision, as Cairn answers the three requests of a Client. It calls
// stop once it has served limit requests.
type register struct {
	mu       sync.Mutex
	rev      int64
	vals     map[string]string
	revOf    map[string]int64 // value → the revision that wrote it
	writes   int
	requests int
	lossyN   int // requests the lossy member served
	limit    int
	stop     func()
}

// handler serves requests; a lossy one answers every third request it
// serves 504, after applying it when it is a write.
func (s *register) handler(lossy bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.requests++; s.requests == s.limit {
			s.stop()
		}
		key, isKV := strings.CutPrefix(r.URL.Path, "/v1/kv/")
		put := func(key, v string) {
			s.rev++
			s.vals[key], s.revOf[v] = v, s.rev
			s.writes++
		}
		if lossy {
			s.lossyN++
		}
		answer := func(v any) {
			if lossy && s.lossyN%3 == 0 {
				w.WriteHeader(http.StatusGatewayTimeout)
				_, _ = w.Write([]byte(`{"error":{"code":"timeout","message":"x"}}`))
				return
			}
			_ = json.NewEncoder(w).Encode(v)
		}
		header := func() map[string]any { return map[string]any{"revision": s.rev} }
		switch {
		case isKV && r.Method == http.MethodGet:
			v, ok := s.vals[key]
			if !ok {
				w.WriteHeader(http.StatusNotFound)
				_, _ = w.Write([]byte(`{"error":{"code":"key_not_found","message":"x"}}`))
				return
			}
			_, _ = w.Write([]byte(v))
		case isKV && r.Method == http.MethodPut:
			put(key, string(body))
			answer(map[string]any{"header": header()})
		case r.URL.Path == "/v1/txn":
			var tx struct {
				Compare []struct{ Key, Value string }
				Success []struct{ Put struct{ Key, Value string } }
			}
			if err := json.Unmarshal(body, &tx); err != nil || len(tx.Compare) != 1 || len(tx.Success) != 1 {
				http.Error(w, fmt.Sprint(err), http.StatusBadRequest)
				return
			}
			k := tx.Compare[0].Key
			if cur, ok := s.vals[k]; ok && cur == tx.Compare[0].Value {
				put(k, tx.Success[0].Put.Value)
				answer(map[string]any{"header": header(), "succeeded": true, "responses": []any{map[string]any{"put": map[string]any{}}}})
				return
			}
			var kvs []any
			if cur, ok := s.vals[k]; ok {
				kvs = append(kvs, map[string]any{"key": k, "value": cur})
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"header": header(), "succeeded": false,
				"responses": []any{map[string]any{"get": map[string]any{"kvs": kvs}}}})
		default:
			http.NotFound(w, r)
		}
	}
}

// Three clients against one fake store through three "members": one
// answers well, one answers some requests 504 (after applying a write),
// and one refuses connections; a fourth client sends to the first member
// only, a fifth to the lossy one only (so that every outcome shows up,
// whichever members the others settle on). The history is linearizable,
// every outcome is classified, and each completed write carries the
// revision that wrote it.
func TestClient_Run(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := &register{vals: map[string]string{}, revOf: map[string]int64{}, limit: 300, stop: cancel}
	good := httptest.NewServer(store.handler(false))
	defer good.Close()
	lossy := httptest.NewServer(store.handler(true))
	defer lossy.Close()
	refused := httptest.NewServer(http.NotFoundHandler())
	refused.Close()

	var counter atomic.Int64
	hc := &http.Client{Timeout: 5 * time.Second}
	start := time.Now()
	clients := make([]*Client, 5)
	var wg sync.WaitGroup
	for i := range clients {
		var pinned []int
		switch i {
		case 3:
			pinned = []int{0}
		case 4:
			pinned = []int{1}
		}
		clients[i] = NewClient(Config{
			ID: i, URLs: []string{good.URL, lossy.URL, refused.URL}, Members: pinned, HTTP: hc,
			Rand: rand.New(rand.NewPCG(1, uint64(i))), Start: start, Counter: &counter,
			Keys: KeySpace{Prefix: "t/", OpsPerEpoch: 100, PerEpoch: 2},
		})
		wg.Go(func() { clients[i].Run(ctx) })
	}
	wg.Wait()

	var ops []*Op
	count := map[Outcome]int{}
	for _, c := range clients {
		ops = append(ops, c.Ops()...)
		if c.Sent() < len(c.Ops()) {
			t.Errorf("client sent %d requests, recorded %d ops", c.Sent(), len(c.Ops()))
		}
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	for _, o := range ops {
		count[o.Outcome]++
		if o.Wrote() && o.Revision != store.revOf[o.Value] {
			t.Errorf("%v: revision %d, want %d", o, o.Revision, store.revOf[o.Value])
		}
		if o.Outcome == Unknown && o.Return != OpenEnd {
			t.Errorf("%v: unknown with an end", o)
		}
		if o.Client == 3 && o.Member != 0 || o.Client == 4 && o.Member != 1 {
			t.Errorf("%v: clients 3 and 4 send to members 0 and 1 only", o)
		}
	}
	if count[OK] == 0 || count[Unknown] == 0 || count[Failed] == 0 {
		t.Errorf("outcomes %v: want some of each", count)
	}
	byKey, keys := ByKey(ops)
	if len(keys) < 4 {
		t.Errorf("%d keys: want the ops spread over epochs", len(keys))
	}
	if n := Check(t, byKey, 10*time.Second); n != 0 {
		t.Errorf("%d keys not linearizable", n)
	}
}
