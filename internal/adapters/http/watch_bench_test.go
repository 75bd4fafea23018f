package http

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/watch"
	"github.com/cairnkv/cairn/internal/ports/portstest"
)

// BenchmarkWatch_StreamCost measures what an SSE watch stream holds on
// the server (h2c, up to 1,000 streams on a connection, as a member runs
// them): its live heap and its goroutine's stack, idle and after it sent
// one event. The stack is the figure to watch: a handler's goroutine keeps
// the deepest stack it ever needed, 4 KiB or 8 KiB (see middleware).
//
//	go test -run XXX -bench Watch_StreamCost ./internal/adapters/http/
func BenchmarkWatch_StreamCost(b *testing.B) {
	const n = 4000
	backend := portstest.NewBackend()
	hub := watch.NewHub(watch.HubConfig{}, 1)
	ws := watch.New(watch.Config{}, hub, backend, portstest.NewProposer(backend))
	s := New(Config{Logger: zerolog.Nop()}, Services{KV: &fakeKV{}, Cluster: fakeCluster{}, Hasher: fakeHasher{}, Watch: ws})
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: s.Handler(), Protocols: protocols, HTTP2: &http.HTTP2Config{MaxConcurrentStreams: 1000}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	var opened, events atomic.Int64
	before := streamMem()
	for i := 0; i < n; i += 1000 {
		c := dialSSE(b, ln.Addr().String(), &opened, &events)
		for j := i; j < min(i+1000, n); j++ {
			c.open(b, fmt.Sprintf("/v1/watch/w/%d", j%10))
		}
	}
	waitCount(b, &opened, n)
	idle := streamMem()
	evs := make([]domain.Event, 10)
	for i := range evs {
		evs[i] = domain.Event{Type: domain.EventPut, Kv: domain.KeyValue{Key: fmt.Appendf(nil, "w/%d", i), Value: []byte("v"), ModRevision: 2}}
	}
	hub.Publish(2, evs)
	waitCount(b, &events, n)
	sent := streamMem()
	per := func(a, z float64) float64 { return (a - z) / n }
	b.ReportMetric(per(idle.heap, before.heap), "heap-B/stream")
	b.ReportMetric(per(idle.stack, before.stack), "stack-B/stream")
	b.ReportMetric(per(sent.heap, before.heap), "heap-B/stream-after-event")
	b.ReportMetric(per(sent.stack, before.stack), "stack-B/stream-after-event")
	b.ReportMetric(0, "ns/op")
}

type streamMemStats struct{ heap, stack float64 }

func streamMem() streamMemStats {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return streamMemStats{heap: float64(m.HeapAlloc), stack: float64(m.StackInuse)}
}

func waitCount(b *testing.B, c *atomic.Int64, n int) {
	deadline := time.Now().Add(time.Minute)
	for c.Load() < int64(n) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d", c.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// sseConn is a minimal HTTP/2 client connection for SSE streams: one
// goroutine per connection, so that the client stays small beside the
// server it measures.
type sseConn struct {
	mu     sync.Mutex
	addr   string
	bw     *bufio.Writer
	fr     *http2.Framer
	hbuf   bytes.Buffer
	henc   *hpack.Encoder
	nextID uint32
}

func dialSSE(b *testing.B, addr string, opened, events *atomic.Int64) *sseConn {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	c := &sseConn{addr: addr, bw: bufio.NewWriter(nc), nextID: 1}
	c.fr = http2.NewFramer(c.bw, bufio.NewReader(nc))
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.henc = hpack.NewEncoder(&c.hbuf)
	c.bw.WriteString(http2.ClientPreface)
	_ = c.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
	_ = c.fr.WriteWindowUpdate(0, 1<<30)
	_ = c.bw.Flush()
	go func() {
		for {
			f, err := c.fr.ReadFrame()
			if err != nil {
				return
			}
			c.mu.Lock()
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					_ = c.fr.WriteSettingsAck()
				}
			case *http2.PingFrame:
				if !f.IsAck() {
					_ = c.fr.WritePing(true, f.Data)
				}
			case *http2.DataFrame:
				if data := f.Data(); len(data) > 0 {
					_ = c.fr.WriteWindowUpdate(0, uint32(len(data)))
					_ = c.fr.WriteWindowUpdate(f.StreamID, uint32(len(data)))
					switch {
					case bytes.HasPrefix(data, []byte(": watching")):
						opened.Add(1)
					case bytes.Contains(data, []byte("event: events")):
						events.Add(1)
					}
				}
			case *http2.RSTStreamFrame:
				b.Errorf("stream %d reset: %v", f.StreamID, f.ErrCode)
			}
			_ = c.bw.Flush()
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *sseConn) open(b *testing.B, path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hbuf.Reset()
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", c.addr}, {":path", path}} {
		_ = c.henc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: c.nextID, BlockFragment: c.hbuf.Bytes(),
		EndStream: true, EndHeaders: true}); err != nil {
		b.Fatal(err)
	}
	c.nextID += 2
	_ = c.bw.Flush()
}
