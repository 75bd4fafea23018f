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
	return startClusterWith(t, n, nil)
}

// startClusterWith is startCluster with a hook that adjusts each member's
// configuration.
func startClusterWith(t testing.TB, n int, adjust func(*Config)) []*member {
	t.Helper()
	return startClusterOf(t, n, "http", http.DefaultClient, adjust)
}

// startClusterOf starts n members whose peer URLs have the scheme given,
// adjust (when set) changes each configuration last, and waits until
// every member answers /readyz through client.
func startClusterOf(t testing.TB, n int, scheme string, client *http.Client, adjust func(*Config)) []*member {
	t.Helper()
	peers := make([]Peer, n)
	ports := make([]int, n)
	for i := range peers {
		peers[i] = Peer{Name: fmt.Sprintf("n%d", i+1), URL: fmt.Sprintf("%s://127.0.0.1:%d", scheme, freePort(t))}
		ports[i] = freePort(t)
	}
	ms := make([]*member, n)
	for i := range ms {
		cfg := testConfig(t, peers[i].Name, t.TempDir(), ports[i], peers)
		if adjust != nil {
			adjust(&cfg)
		}
		ms[i] = startMember(t, cfg)
	}
	for _, m := range ms {
		waitReadyWith(t, client, m.URL, 20*time.Second)
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
	waitReadyWith(t, http.DefaultClient, url, timeout)
}

// waitReadyWith is waitReady through the client c.
func waitReadyWith(t testing.TB, c *http.Client, url string, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, url+" to be ready", func() bool {
		code, _ := requestWith(c, http.MethodGet, url+"/readyz", "")
		return code == http.StatusOK
	})
}

// do sends a request and returns the status and body.
func do(t testing.TB, method, url, body string) (int, string) {
	t.Helper()
	code, resp := request(method, url, body)
	if code == 0 {
		t.Fatalf("%s %s: %s", method, url, resp)
	}
	return code, resp
}

// request is do for a goroutine other than the test's: it returns status 0
// and the error's text when no answer came.
func request(method, url, body string) (int, string) {
	return requestWith(http.DefaultClient, method, url, body)
}

// requestWith is request through the client c.
func requestWith(c *http.Client, method, url, body string) (int, string) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err.Error()
	}
	return resp.StatusCode, string(b)
}

// doIdempotent is do for a request that may be sent again (a read, or a
// put of a fixed value): it retries 503 and 504 as retryUnavailable does.
func doIdempotent(t testing.TB, method, url, body string) (int, string) {
	t.Helper()
	code, resp, _ := retryUnavailable(t, method+" "+url, func() (int, string) { return do(t, method, url, body) })
	return code, resp
}

// retryUnavailable calls send again while it answers 503 (no leader) or 504
// (outcome unknown), as a client would, for up to 30 seconds, so that a
// leader change caused by a loaded machine does not fail a test that is not
// about leader changes. It returns the last answer, and whether a 504 came
// before it: a write may then have been applied more than once, which the
// caller must tolerate (a put of a fixed value does). It may run on any
// goroutine whose send does not fail the test.
func retryUnavailable(t testing.TB, what string, send func() (int, string)) (code int, body string, unknown bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body = send()
		if code != http.StatusServiceUnavailable && code != http.StatusGatewayTimeout || time.Now().After(deadline) {
			return code, body, unknown
		}
		unknown = unknown || code == http.StatusGatewayTimeout
		t.Logf("%s: %d, retrying: %.200s", what, code, body)
		time.Sleep(100 * time.Millisecond)
	}
}
