package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cairnkv/cairn/internal/testutil/freeport"
	"github.com/cairnkv/cairn/internal/testutil/testlog"
)

// member is one in-process Cairn member started by a test.
type member struct {
	t      testing.TB
	cfg    Config
	app    *App
	cancel context.CancelFunc
	done   chan error
	URL    string
}

// freePort returns a port of 127.0.0.1 reserved for this test binary (see
// package freeport for why not "127.0.0.1:0").
func freePort(t testing.TB) int {
	t.Helper()
	p, err := freeport.Get()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// testConfig returns the configuration of member name of a cluster whose
// peers are given, with fast Raft timeouts.
func testConfig(t testing.TB, name, dataDir string, clientPort int, peers []Peer) Config {
	c := Defaults()
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
	c.RequestTimeout = 5 * time.Second
	c.ShutdownTimeout = 5 * time.Second
	c.LogLevel = "warn"
	return c.WithDerivedDefaults()
}

// startMember starts a member with cfg and stops it when the test ends.
func startMember(t testing.TB, cfg Config) *member {
	t.Helper()
	w := testlog.Writer(t) // before the members, so that it outlives them
	level, _ := zerolog.ParseLevel(cfg.LogLevel)
	a, err := New(cfg, zerolog.New(w).Level(level).With().Str("member", cfg.Name).Logger())
	if err != nil {
		t.Fatalf("start %s: %v", cfg.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{t: t, cfg: cfg, app: a, cancel: cancel, done: make(chan error, 1), URL: a.ClientURL()}
	go func() { m.done <- a.Run(ctx) }()
	t.Cleanup(m.stop)
	return m
}

// stop shuts the member down gracefully (idempotent).
func (m *member) stop() {
	if m.cancel == nil {
		return
	}
	m.cancel()
	m.cancel = nil
	select {
	case err := <-m.done:
		if err != nil {
			m.t.Logf("member %s stopped: %v", m.cfg.Name, err)
		}
	case <-time.After(60 * time.Second): // a hang, not a slow disk
		buf := make([]byte, 1<<22)
		buf = buf[:runtime.Stack(buf, true)]
		m.t.Errorf("member %s did not stop in time; goroutines:\n%s", m.cfg.Name, buf)
	}
}

// startCluster starts n members in temporary directories and waits until
// every one of them is ready.
func startCluster(t testing.TB, n int) []*member {
	t.Helper()
	peers := make([]Peer, n)
	ports := make([]int, n)
	for i := range peers {
		peers[i] = Peer{Name: fmt.Sprintf("n%d", i+1), URL: fmt.Sprintf("http://127.0.0.1:%d", freePort(t))}
		ports[i] = freePort(t)
	}
	ms := make([]*member, n)
	for i := range ms {
		ms[i] = startMember(t, testConfig(t, peers[i].Name, t.TempDir(), ports[i], peers))
	}
	for _, m := range ms {
		waitReady(t, m.URL, 20*time.Second)
	}
	return ms
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

// waitReady waits until the member at url answers /readyz with 200.
func waitReady(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, url+" to be ready", func() bool {
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// do sends a request and returns the status and body.
func do(t testing.TB, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// doIdempotent is do for a write that may be sent again (a put of a fixed
// value): it retries 503 (no leader) and 504 (outcome unknown), as a client
// would, for up to 15 seconds, so that a leader change caused by a loaded
// machine does not fail a test that is not about leader changes.
func doIdempotent(t testing.TB, method, url, body string) (int, string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, resp := do(t, method, url, body)
		if code != http.StatusServiceUnavailable && code != http.StatusGatewayTimeout || time.Now().After(deadline) {
			return code, resp
		}
		t.Logf("%s %s: %d, retrying: %.200s", method, url, code, resp)
		time.Sleep(100 * time.Millisecond)
	}
}
