package app

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// BenchmarkWatch_Scale measures what idle watchers cost a member that
// runs as a process of its own (go build ./cmd/server), so that the
// figures are the server's alone, not its clients': it opens n watches on
// distinct keys, over etcd's gRPC Watch (many watches on a few streams of
// one connection) or as SSE streams over h2c (as many streams on an HTTP/2
// connection as the member allows: --max-concurrent-streams, default
// 1000, or CAIRN_WATCH_SCALE_STREAMS), then reports the member's RSS, Go heap, stacks and
// goroutines per watcher, the latency p50/p99 of an event (from just
// before a put to the event's arrival; one put at a time, to the key of a
// random watcher) and the puts per second of 16 clients writing keys that
// nobody watches, beside the same on that member before the watches were
// opened (puts/s-before-watches):
//
//	go test -run XXX -bench 'Watch_Scale/grpc' -benchtime 1x -timeout 30m ./internal/app/
//	go test -run XXX -bench 'Watch_Scale/sse/watchers=10000$' -benchtime 1x ./internal/app/
//
// Puts go through etcd's gRPC KV on the same port. The member's heartbeat
// interval is 60 s, so that idle SSE streams stay idle while measured.
// CAIRN_WATCH_SCALE_BIN=/path/to/cairn runs a given build of the member;
// CAIRN_WATCH_SCALE_ETCD=/path/to/etcd runs the gRPC cases against etcd
// instead (etcd 3.6.16 from ../shared/bench/compare.sh), for a side by
// side figure. It measures once, whatever -benchtime says.
func BenchmarkWatch_Scale(b *testing.B) {
	etcd := os.Getenv("CAIRN_WATCH_SCALE_ETCD")
	var bin string
	if etcd == "" {
		bin = buildServer(b, b.TempDir())
	}
	for _, transport := range []string{"grpc", "sse"} {
		if etcd != "" && transport != "grpc" {
			continue
		}
		for _, n := range []int{0, 1000, 10000, 100000} {
			b.Run(fmt.Sprintf("%s/watchers=%d", transport, n), func(b *testing.B) {
				b.ReportMetric(0, "ns/op")
				var srv *scaleServer
				if etcd != "" {
					srv = startEtcdProcess(b, etcd)
				} else {
					srv = startServerProcess(b, bin, n)
				}
				defer srv.stop()
				measureScale(b, srv, transport, n)
			})
		}
	}
}

// scaleServer is a member running as a process of its own.
type scaleServer struct {
	pid  int
	addr string // host:port of its client URL
	stop func()
}

// buildServer builds ./cmd/server in dir, unless CAIRN_WATCH_SCALE_BIN
// names a binary to run instead (an older build).
func buildServer(b *testing.B, dir string) string {
	if bin := os.Getenv("CAIRN_WATCH_SCALE_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(dir, "cairn")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/server").CombinedOutput(); err != nil {
		b.Fatalf("go build ./cmd/server: %v\n%s", err, out)
	}
	return bin
}

func startServerProcess(b *testing.B, bin string, n int) *scaleServer {
	cp, pp := freePort(b), freePort(b)
	curl, purl := fmt.Sprintf("http://127.0.0.1:%d", cp), fmt.Sprintf("http://127.0.0.1:%d", pp)
	args := []string{"--name", "n1", "--data-dir", filepath.Join(b.TempDir(), "data"),
		"--listen-client-urls", curl, "--advertise-client-urls", curl,
		"--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl, "--initial-cluster", "n1=" + purl,
		"--max-watchers", strconv.Itoa(n + 1000), "--watch-heartbeat-interval", "60s", "--log-level", "warn",
		"--enable-pprof"}
	if per := os.Getenv("CAIRN_WATCH_SCALE_STREAMS"); per != "" {
		// SSE streams per HTTP/2 connection; by default the member's
		// --max-concurrent-streams (1000; 250 in older builds).
		args = append(args, "--max-concurrent-streams", per)
	}
	return startProcess(b, bin, fmt.Sprintf("127.0.0.1:%d", cp), args...)
}

func startEtcdProcess(b *testing.B, bin string) *scaleServer {
	cp, pp := freePort(b), freePort(b)
	curl, purl := fmt.Sprintf("http://127.0.0.1:%d", cp), fmt.Sprintf("http://127.0.0.1:%d", pp)
	return startProcess(b, bin, fmt.Sprintf("127.0.0.1:%d", cp),
		"--name", "n1", "--data-dir", filepath.Join(b.TempDir(), "etcd"),
		"--listen-client-urls", curl, "--advertise-client-urls", curl,
		"--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl, "--initial-cluster", "n1="+purl,
		"--log-level", "warn", "--enable-pprof")
}

func startProcess(b *testing.B, bin, addr string, args ...string) *scaleServer {
	cmd := exec.Command(bin, args...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-exited:
			b.Fatalf("%s exited: %s", bin, logs.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			b.Fatalf("%s not ready: %s", bin, logs.String())
		}
	}
	return &scaleServer{pid: cmd.Process.Pid, addr: addr, stop: stop}
}

// gc makes the member collect its garbage (through its heap profile, with
// ?gc=1), where it serves profiles: it reports whether it could.
func (s *scaleServer) gc() bool {
	resp, err := http.Get("http://" + s.addr + "/debug/pprof/heap?gc=1")
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// serverMem is what the member's process uses.
type serverMem struct {
	rss, heap, stack float64 // bytes
	goroutines       float64
}

func (s *scaleServer) mem(b *testing.B) serverMem {
	var m serverMem
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid))
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			m.rss = kb * 1024
		}
	}
	resp, err := http.Get("http://" + s.addr + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "go_memstats_heap_inuse_bytes":
			m.heap = v
		case "go_memstats_stack_inuse_bytes":
			m.stack = v
		case "go_goroutines":
			m.goroutines = v
		}
	}
	return m
}

// measureScale opens n watches on srv and reports the figures.
func measureScale(b *testing.B, srv *scaleServer, transport string, n int) {
	conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	kv := pb.NewKVClient(conn)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("warmup"), Value: []byte("v")}); err != nil {
		b.Fatal(err)
	}
	time.Sleep(time.Second) // let the process settle before the first sample
	idleRate := putRate(b, ctx, conn, 16, 3*time.Second)
	srv.gc()
	before := srv.mem(b)
	arrivals := make(chan scaleArrival, 1024)
	t0 := time.Now()
	if n > 0 {
		switch transport {
		case "grpc":
			openGRPCWatches(b, ctx, conn, n, arrivals)
		case "sse":
			openSSEWatches(b, ctx, srv.addr, n, arrivals)
		}
	}
	b.Logf("%d %s watches open in %v", n, transport, time.Since(t0).Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	after := srv.mem(b)
	if dir := os.Getenv("CAIRN_WATCH_SCALE_PROFILES"); dir != "" && n > 0 {
		// The member's heap and goroutine profiles, for go tool pprof.
		for _, p := range []string{"heap", "goroutine"} {
			resp, err := http.Get("http://" + srv.addr + "/debug/pprof/" + p + "?gc=1")
			if err != nil {
				b.Fatal(err)
			}
			f, _ := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%s-%d.pb.gz", p, transport, n)))
			_, _ = io.Copy(f, resp.Body)
			f.Close()
			resp.Body.Close()
		}
	}
	b.ReportMetric(after.rss/(1<<20), "rss-MiB")
	b.ReportMetric(after.heap/(1<<20), "heap-MiB")
	if n > 0 {
		per := func(a, b float64) float64 { return (a - b) / float64(n) }
		b.ReportMetric(per(after.rss, before.rss), "rss-B/watcher")
		b.ReportMetric(per(after.heap, before.heap), "heap-B/watcher")
		b.ReportMetric(per(after.stack, before.stack), "stack-B/watcher")
		b.ReportMetric(per(after.goroutines, before.goroutines), "goroutines/watcher")
		if srv.gc() {
			// After a collection: the heap its watchers hold, garbage aside.
			live := srv.mem(b)
			b.ReportMetric(per(live.heap, before.heap), "live-heap-B/watcher")
		}
		var lat []time.Duration
		for j := range 300 {
			i := (j * 7919) % n
			t0 := time.Now()
			if _, err := kv.Put(ctx, &pb.PutRequest{Key: []byte(scaleKey(i)), Value: []byte("v")}); err != nil {
				b.Fatal(err)
			}
		wait:
			for {
				select {
				case a := <-arrivals:
					if a.i == i {
						lat = append(lat, a.at.Sub(t0))
						break wait
					}
				case <-time.After(30 * time.Second):
					b.Fatalf("no event for watcher %d", i)
				}
			}
		}
		b.ReportMetric(float64(percentile(lat, 0.5).Microseconds()), "p50-µs")
		b.ReportMetric(float64(percentile(lat, 0.99).Microseconds()), "p99-µs")
	}
	// The same writes now, beside the rate without watchers measured
	// on the same member a moment before.
	rate := putRate(b, ctx, conn, 16, 3*time.Second)
	b.ReportMetric(rate, "puts/s")
	b.ReportMetric(idleRate, "puts/s-before-watches")
}

type scaleArrival struct {
	i  int
	at time.Time
}

func scaleKey(i int) string { return fmt.Sprintf("w/%06d", i) }

// putRate runs clients goroutines putting keys nobody watches for d and
// returns the puts per second.
func putRate(b *testing.B, ctx context.Context, conn *grpc.ClientConn, clients int, d time.Duration) float64 {
	kv := pb.NewKVClient(conn)
	var done atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	val := bytes.Repeat([]byte("v"), 256)
	for c := range clients {
		wg.Go(func() {
			for i := 0; time.Now().Before(end); i++ {
				if _, err := kv.Put(ctx, &pb.PutRequest{Key: fmt.Appendf(nil, "other/%d/%d", c, i%1000), Value: val}); err != nil {
					b.Error(err)
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(done.Load()) / d.Seconds()
}

// openGRPCWatches opens n watches of one key each, 10,000 to a stream (at
// least 4 streams), on one connection.
func openGRPCWatches(b *testing.B, ctx context.Context, conn *grpc.ClientConn, n int, arrivals chan<- scaleArrival) {
	streams := max(4, (n+9999)/10000)
	var created atomic.Int64
	for s := range streams {
		ws, err := pb.NewWatchClient(conn).Watch(ctx)
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			for {
				resp, err := ws.Recv()
				if err != nil {
					return
				}
				if resp.Created {
					created.Add(1)
				}
				if resp.Canceled {
					b.Errorf("watch %d canceled: %s", resp.WatchId, resp.CancelReason)
				}
				now := time.Now()
				for _, ev := range resp.Events {
					i, _ := strconv.Atoi(strings.TrimPrefix(string(ev.Kv.Key), "w/"))
					select {
					case arrivals <- scaleArrival{i, now}:
					default:
					}
				}
			}
		}()
		go func() {
			for i := s; i < n; i += streams {
				// At most 1,000 creates in flight on the stream.
				for int64(i)-created.Load() > 1000 {
					time.Sleep(time.Millisecond)
				}
				if err := ws.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{
					CreateRequest: &pb.WatchCreateRequest{Key: []byte(scaleKey(i))}}}); err != nil {
					return
				}
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Minute)
	for created.Load() < int64(n) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d watches created", created.Load(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// openSSEWatches opens n SSE watch streams over h2c, as many per
// connection as the server allows. It speaks HTTP/2 frames itself (one
// goroutine per connection), so that the client stays small beside the
// member.
func openSSEWatches(b *testing.B, ctx context.Context, addr string, n int, arrivals chan<- scaleArrival) {
	var opened atomic.Int64
	for i := 0; i < n; {
		c := dialH2(b, ctx, addr, &opened, arrivals)
		per := min(int(c.maxStreams), n-i)
		for j := range per {
			for int64(i+j)-opened.Load() > 1000 {
				time.Sleep(time.Millisecond)
			}
			c.open(b, i+j)
		}
		i += per
	}
	deadline := time.Now().Add(10 * time.Minute)
	for opened.Load() < int64(n) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d streams open", opened.Load(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// h2conn is a minimal HTTP/2 client connection for SSE streams.
type h2conn struct {
	addr       string
	maxStreams uint32

	mu      sync.Mutex // guards the writes and what follows
	bw      *bufio.Writer
	fr      *http2.Framer
	hbuf    bytes.Buffer
	henc    *hpack.Encoder
	nextID  uint32
	streams map[uint32]int
}

func dialH2(b *testing.B, ctx context.Context, addr string, opened *atomic.Int64, arrivals chan<- scaleArrival) *h2conn {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	go func() { <-ctx.Done(); nc.Close() }()
	c := &h2conn{addr: addr, bw: bufio.NewWriter(nc), nextID: 1, streams: map[uint32]int{}}
	c.fr = http2.NewFramer(c.bw, bufio.NewReader(nc))
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.henc = hpack.NewEncoder(&c.hbuf)
	c.bw.WriteString(http2.ClientPreface)
	c.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
	c.fr.WriteWindowUpdate(0, 1<<30)
	c.bw.Flush()
	settings := make(chan uint32, 1)
	go c.readLoop(b, settings, opened, arrivals)
	select {
	case c.maxStreams = <-settings:
	case <-time.After(10 * time.Second):
		b.Fatal("no HTTP/2 settings from the server")
	}
	return c
}

func (c *h2conn) open(b *testing.B, i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := c.nextID
	c.nextID += 2
	c.streams[id] = i
	c.hbuf.Reset()
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", c.addr},
		{":path", "/v1/watch/" + scaleKey(i)}, {"accept", "text/event-stream"}} {
		c.henc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hbuf.Bytes(),
		EndStream: true, EndHeaders: true}); err != nil {
		b.Error(err)
	}
	c.bw.Flush()
}

func (c *h2conn) readLoop(b *testing.B, settings chan<- uint32, opened *atomic.Int64, arrivals chan<- scaleArrival) {
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return
		}
		now := time.Now()
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if f.IsAck() {
				continue
			}
			max := uint32(250)
			if v, ok := f.Value(http2.SettingMaxConcurrentStreams); ok {
				max = v
			}
			select {
			case settings <- max:
			default:
			}
			c.mu.Lock()
			c.fr.WriteSettingsAck()
			c.bw.Flush()
			c.mu.Unlock()
		case *http2.PingFrame:
			if !f.IsAck() {
				c.mu.Lock()
				c.fr.WritePing(true, f.Data)
				c.bw.Flush()
				c.mu.Unlock()
			}
		case *http2.MetaHeadersFrame:
			if st := f.PseudoValue("status"); st != "200" {
				b.Errorf("stream %d: status %s", f.StreamID, st)
			}
		case *http2.DataFrame:
			data := f.Data()
			if len(data) == 0 {
				continue
			}
			c.mu.Lock()
			i := c.streams[f.StreamID]
			c.fr.WriteWindowUpdate(0, uint32(len(data)))
			c.fr.WriteWindowUpdate(f.StreamID, uint32(len(data)))
			c.bw.Flush()
			c.mu.Unlock()
			switch {
			case bytes.HasPrefix(data, []byte(": watching")):
				opened.Add(1)
			case bytes.Contains(data, []byte("event: events")):
				select {
				case arrivals <- scaleArrival{i, now}:
				default:
				}
			case bytes.Contains(data, []byte("event: error")):
				b.Errorf("stream %d: %s", f.StreamID, data)
			}
		case *http2.RSTStreamFrame:
			b.Errorf("stream %d reset: %v", f.StreamID, f.ErrCode)
		case *http2.GoAwayFrame:
			b.Errorf("goaway: %v", f.ErrCode)
			return
		}
	}
}
