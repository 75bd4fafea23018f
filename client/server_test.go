package client_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cairnkv/cairn/client"
	"github.com/cairnkv/cairn/internal/app"
	"github.com/cairnkv/cairn/internal/testutil/freeport"
	"github.com/cairnkv/cairn/internal/testutil/testlog"
)

// A small harness that runs real Cairn members in this process, after
// internal/app/harness_test.go.

// shared is the single member most tests (and the examples) use; it is
// started by TestMain. Its endpoints are in endpoints.
var (
	shared    *member
	endpoints []string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cairn-client-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	peer := app.Peer{Name: "shared", URL: fmt.Sprintf("http://127.0.0.1:%d", mustFreePort())}
	cfg := memberConfig("shared", dir, 0, []app.Peer{peer})
	// Small messages and quick progress events, to exercise the client's
	// handling of split revisions and progress notifications.
	cfg.MaxWatchEvents = 3
	cfg.WatchHeartbeat = 300 * time.Millisecond
	shared, err = newMember(cfg, zerolog.Nop())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	endpoints = []string{shared.URL}
	if err := waitReadyErr(shared.URL, 20*time.Second); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	shared.stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// member is one in-process Cairn member.
type member struct {
	cfg    app.Config
	app    *app.App
	cancel context.CancelFunc
	done   chan error
	URL    string
	once   sync.Once
}

func mustFreePort() int { return freeport.MustGet() }

// memberConfig returns the configuration of member name of a cluster of
// peers, with fast Raft timeouts; clientPort 0 picks a free port.
func memberConfig(name, dataDir string, clientPort int, peers []app.Peer) app.Config {
	c := app.Defaults()
	c.Name = name
	c.DataDir = dataDir
	c.ListenClientURLs = []string{fmt.Sprintf("http://127.0.0.1:%d", clientPort)}
	for _, p := range peers {
		if p.Name == name {
			c.ListenPeerURL = p.URL
		}
	}
	c.InitialCluster = peers
	c.HeartbeatInterval = 50 * time.Millisecond
	c.ElectionTimeout = 500 * time.Millisecond
	c.RequestTimeout = 3 * time.Second
	c.ShutdownTimeout = 5 * time.Second
	c.BcryptCost = 4 // the lowest: the tests log in, they do not measure bcrypt
	c.LogLevel = "warn"
	return c.WithDerivedDefaults()
}

func newMember(cfg app.Config, log zerolog.Logger) (*member, error) {
	a, err := app.New(cfg, log)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{cfg: cfg, app: a, cancel: cancel, done: make(chan error, 1), URL: a.ClientURL()}
	go func() { m.done <- a.Run(ctx) }()
	return m, nil
}

// stop shuts the member down gracefully (idempotent).
func (m *member) stop() {
	m.once.Do(func() {
		m.cancel()
		select {
		case <-m.done:
		case <-time.After(20 * time.Second):
		}
	})
}

// startCluster starts n members in temporary directories, waits until
// every one is ready, and stops them when the test ends.
func startCluster(t testing.TB, n int) []*member {
	t.Helper()
	peers := make([]app.Peer, n)
	for i := range peers {
		peers[i] = app.Peer{Name: fmt.Sprintf("n%d", i+1), URL: fmt.Sprintf("http://127.0.0.1:%d", mustFreePort())}
	}
	w := testlog.Writer(t) // before the members, so that it outlives them
	ms := make([]*member, n)
	for i := range ms {
		cfg := memberConfig(peers[i].Name, t.TempDir(), 0, peers)
		m, err := newMember(cfg, zerolog.New(w).Level(zerolog.WarnLevel).With().Str("member", cfg.Name).Logger())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.stop)
		ms[i] = m
	}
	for _, m := range ms {
		if err := waitReadyErr(m.URL, 20*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	return ms
}

func urls(ms []*member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.URL
	}
	return out
}

// waitReadyErr waits until the member at url answers /readyz with 200.
func waitReadyErr(url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v", url, timeout)
		}
		<-tick.C
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// newClient returns a client for eps, closed when the test ends.
func newClient(t testing.TB, eps []string, mod ...func(*client.Config)) *client.Client {
	t.Helper()
	cfg := client.Config{Endpoints: eps, RequestTimeout: 15 * time.Second}
	for _, f := range mod {
		f(&cfg)
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testCtx returns a context that ends with the test (or after a minute).
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// proxy is a TCP proxy in front of a member whose connections a test can
// cut, to break streams without the member's help.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

func newProxy(t testing.TB, targetURL string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: strings.TrimPrefix(targetURL, "http://")}
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			in.Close()
			out.Close()
			return
		}
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		go func() { io.Copy(out, in); out.Close() }()
		go func() { io.Copy(in, out); in.Close() }()
	}
}

// close stops accepting and cuts every connection: the clients see a
// broken connection, then refused ones.
func (p *proxy) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
