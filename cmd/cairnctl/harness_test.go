package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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

// A harness that runs real Cairn members in this process (after
// internal/app/harness_test.go), runs cairnctl against them, in this
// process through run() or as a process of the binary built once, and
// compares outputs with golden files.

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with this run's outputs")

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	flag.Parse()
	code := m.Run()
	if shared.c != nil {
		shared.c.stop()
	}
	if bin.dir != "" {
		os.RemoveAll(bin.dir)
	}
	return code
}

// member is one in-process Cairn member.
type member struct {
	name    string
	cfg     app.Config
	cancel  context.CancelFunc
	done    chan error
	URL     string // the client URL
	PeerURL string
	once    sync.Once
}

// stop shuts the member down gracefully (idempotent).
func (m *member) stop() {
	m.once.Do(func() {
		m.cancel()
		select {
		case <-m.done:
		case <-time.After(30 * time.Second):
		}
	})
}

// cluster is a cluster of in-process members.
type cluster struct {
	members []*member
}

// endpoints returns the members' client URLs, comma-separated, as
// --endpoints takes them.
func (c *cluster) endpoints() string {
	urls := make([]string, len(c.members))
	for i, m := range c.members {
		urls[i] = m.URL
	}
	return strings.Join(urls, ",")
}

func (c *cluster) stop() {
	for _, m := range c.members {
		m.stop()
	}
}

// memberConfig is the configuration of member name of a cluster of peers,
// with fast Raft timeouts.
func memberConfig(name, dataDir string, peers []app.Peer) app.Config {
	cfg := app.Defaults()
	cfg.Name = name
	cfg.DataDir = dataDir
	cfg.ListenClientURLs = []string{fmt.Sprintf("http://127.0.0.1:%d", freeport.MustGet())}
	for _, p := range peers {
		if p.Name == name {
			cfg.ListenPeerURL = p.URL
		}
	}
	cfg.InitialCluster = peers
	cfg.HeartbeatInterval = 50 * time.Millisecond
	cfg.ElectionTimeout = 500 * time.Millisecond
	cfg.RequestTimeout = 5 * time.Second
	cfg.ShutdownTimeout = 5 * time.Second
	cfg.BcryptCost = 4
	cfg.LogLevel = "warn"
	return cfg.WithDerivedDefaults()
}

// startMember starts a member with cfg; it logs to log.
func startMember(cfg app.Config, log zerolog.Logger) (*member, error) {
	a, err := app.New(cfg, log.With().Str("member", cfg.Name).Logger())
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{name: cfg.Name, cfg: cfg, cancel: cancel, done: make(chan error, 1), URL: a.ClientURL(), PeerURL: cfg.ListenPeerURL}
	go func() { m.done <- a.Run(ctx) }()
	return m, nil
}

// newCluster starts n members in directories under dir and waits until
// every one is ready; adjust, when set, changes each configuration.
func newCluster(n int, dir string, log zerolog.Logger, adjust func(*app.Config)) (*cluster, error) {
	peers := make([]app.Peer, n)
	for i := range peers {
		peers[i] = app.Peer{Name: fmt.Sprintf("n%d", i+1), URL: fmt.Sprintf("http://127.0.0.1:%d", freeport.MustGet())}
	}
	c := &cluster{}
	for _, p := range peers {
		cfg := memberConfig(p.Name, filepath.Join(dir, p.Name), peers)
		if adjust != nil {
			adjust(&cfg)
		}
		m, err := startMember(cfg, log)
		if err != nil {
			c.stop()
			return nil, err
		}
		c.members = append(c.members, m)
	}
	for _, m := range c.members {
		if err := waitReady(m.URL, 20*time.Second); err != nil {
			c.stop()
			return nil, err
		}
	}
	if err := waitPublished(c.members[0].URL, n, 20*time.Second); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// waitPublished waits until the member list, as the member at url has it,
// has n members that published their client URLs.
func waitPublished(url string, n int, timeout time.Duration) error {
	cl, err := client.New(client.Config{Endpoints: []string{url}})
	if err != nil {
		return err
	}
	defer cl.Close()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := cl.MemberList(context.Background())
		published := 0
		if err == nil {
			for _, m := range resp.Members {
				if len(m.ClientURLs) > 0 {
					published++
				}
			}
		}
		if published == n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d members published their client URLs after %v (%v)", published, n, timeout, err)
		}
		<-tick.C
	}
}

// startCluster starts a cluster of n members for the test, stopped when
// it ends.
func startCluster(t testing.TB, n int, adjust func(*app.Config)) *cluster {
	t.Helper()
	w := testlog.Writer(t) // before the members, so that it outlives them
	c, err := newCluster(n, t.TempDir(), zerolog.New(w).Level(zerolog.WarnLevel), adjust)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	return c
}

// shared is a 3-member cluster that the tests which only read and write
// keys of their own share; started at the first use, stopped by TestMain.
var shared struct {
	once sync.Once
	c    *cluster
	dir  string
	err  error
}

func sharedCluster(t testing.TB) *cluster {
	t.Helper()
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "cairnctl-shared-")
		if shared.err == nil {
			shared.c, shared.err = newCluster(3, shared.dir, zerolog.Nop(), nil)
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.c
}

// waitReady waits until the member at url answers /readyz with 200.
func waitReady(url string, timeout time.Duration) error {
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

// result is what a run of cairnctl printed, and its exit status.
type result struct {
	out, err string
	code     int
}

func (r result) String() string {
	return fmt.Sprintf("exit status %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.err)
}

// syncBuffer is a buffer that a run writes to while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// invocation is a run of cairnctl in this process.
type invocation struct {
	args  []string
	stdin string
	env   map[string]string
}

// start runs cairnctl in a goroutine; stop ends it as SIGINT would and
// returns what it printed.
func (inv invocation) start() (out, errOut *syncBuffer, stop func() result) {
	out, errOut = &syncBuffer{}, &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, inv.args, stdio{in: strings.NewReader(inv.stdin), out: out, err: errOut},
			func(name string) string { return inv.env[name] })
	}()
	return out, errOut, func() result {
		cancel()
		code := <-done
		return result{out: out.String(), err: errOut.String(), code: code}
	}
}

// run runs cairnctl in this process until it ends.
func (inv invocation) run() result {
	var out, errOut bytes.Buffer
	code := run(context.Background(), inv.args, stdio{in: strings.NewReader(inv.stdin), out: &out, err: &errOut},
		func(name string) string { return inv.env[name] })
	return result{out: out.String(), err: errOut.String(), code: code}
}

// ctl runs cairnctl in this process against the cluster (through
// CAIRNCTL_ENDPOINTS) and returns what it printed.
func (c *cluster) ctl(args ...string) result {
	return c.inv("", args...).run()
}

// inv is an invocation of cairnctl against the cluster.
func (c *cluster) inv(stdin string, args ...string) invocation {
	return invocation{args: args, stdin: stdin, env: map[string]string{"CAIRNCTL_ENDPOINTS": c.endpoints()}}
}

// mustCtl is ctl for a run that must succeed.
func (c *cluster) mustCtl(t testing.TB, args ...string) string {
	t.Helper()
	r := c.ctl(args...)
	if r.code != 0 {
		t.Fatalf("cairnctl %s: %s", strings.Join(args, " "), r)
	}
	return r.out
}

// bin is the cairnctl binary, built at the first use for the tests that
// run processes.
var bin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// binary returns the path of the cairnctl binary and the directory it is
// in (to put in PATH).
func binary(t testing.TB) string {
	t.Helper()
	bin.once.Do(func() {
		bin.dir, bin.err = os.MkdirTemp("", "cairnctl-bin-")
		if bin.err != nil {
			return
		}
		bin.path = filepath.Join(bin.dir, "cairnctl")
		goBin, err := exec.LookPath("go")
		if err != nil {
			bin.err = err
			return
		}
		cmd := exec.Command(goBin, "build", "-o", bin.path, ".")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		bin.err = cmd.Run()
	})
	if bin.err != nil {
		t.Fatalf("building cairnctl: %v", bin.err)
	}
	return bin.path
}
