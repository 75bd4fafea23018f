package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
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
	"syscall"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/testutil/freeport"
)

// serverBin and lockClientBin are the binaries that TestMain builds: the
// server and the lock client of lockproc_test.go. They are set once, before
// any test runs.
var serverBin, lockClientBin string

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	flag.Parse()
	dir, err := os.MkdirTemp("", "cairn-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	serverBin = filepath.Join(dir, "cairn-e2e-server")
	start := time.Now()
	if err := goBuild(serverBin, "github.com/cairnkv/cairn/cmd/server"); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the server:", err)
		return 1
	}
	lockClientBin = filepath.Join(dir, "cairn-e2e-lockclient")
	if err := goBuild(lockClientBin, "github.com/cairnkv/cairn/e2e/lockclient"); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the lock client:", err)
		return 1
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "e2e: built the server and the lock client in %v\n", time.Since(start).Round(time.Millisecond))
	}
	stopWatchdog := startWatchdog()
	defer stopWatchdog()
	code := m.Run()
	killAll() // normally none are left: each test kills its own
	return code
}

// goBuild builds the package pkg (./cmd/server, ./e2e/lockclient) into out
// without -race: the servers need speed, the race detector is for the test
// binary. It builds with the failpoints tag, so that faults_test.go can make
// a member's disk stall or its clock jump (package internal/failpoint; a
// failpoint that is not armed costs an atomic load). The go command puts its
// own GOROOT/bin first in the PATH of the test binary, so "go" is the
// toolchain under test.
func goBuild(out, pkg string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return err
	}
	cmd := exec.Command(goBin, "build", "-tags", "failpoints", "-o", out, pkg)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// live holds every server (and lock client) process still running, so that a
// test binary about to die of its -timeout can take them down with it.
var live = struct {
	sync.Mutex
	procs map[*os.Process]bool
}{procs: map[*os.Process]bool{}}

func killAll() {
	live.Lock()
	defer live.Unlock()
	for p := range live.procs {
		_ = p.Signal(syscall.SIGCONT) // in case it is paused
		_ = p.Kill()
	}
}

// startWatchdog kills every server shortly before the -timeout of go test
// panics: that panic ends the test binary without running any t.Cleanup, and
// would leave the servers running. (Ctrl-C needs no help: the servers share
// the test binary's process group and get the signal too.)
func startWatchdog() (stop func()) {
	f := flag.Lookup("test.timeout")
	if f == nil {
		return func() {}
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return func() {}
	}
	d, ok := g.Get().(time.Duration)
	if !ok || d <= 0 {
		return func() {}
	}
	margin := min(d/10, 5*time.Second)
	timer := time.AfterFunc(d-margin, func() {
		fmt.Fprintln(os.Stderr, "e2e: the test timeout is near: killing every server")
		killAll()
	})
	return func() { timer.Stop() }
}

// freePort returns a port of 127.0.0.1 that no other test binary will be
// given while this one runs (see package freeport).
func freePort(t testing.TB) int {
	t.Helper()
	p, err := freeport.Get()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// run is one life of a server process.
type run struct {
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the process has exited; err is set by then
	err      error         // what cmd.Wait returned
	expected atomic.Bool   // the harness asked it to exit
	paused   bool          // stopped with SIGSTOP (see member.pause); test goroutine only
}

func (r *run) running() bool {
	select {
	case <-r.exited:
		return false
	default:
		return true
	}
}

// member is one server process. It is driven from its test's goroutine only
// (start, kill, stop); its HTTP helpers may be used from any goroutine.
type member struct {
	t         testing.TB
	name      string
	args      []string // the same command line for every start
	clientURL string   // http://127.0.0.1:port (https:// with TLS)
	dataDir   string
	logPath   string
	hc        *http.Client

	failpointAddr string // 127.0.0.1:port of the failpoint control API (failpoint_test.go)

	cur    *run
	starts int
}

// newMember prepares a member (it does not start it). The process is killed
// when the test ends and its log is printed if the test failed.
func newMember(t testing.TB, hc *http.Client, name string, clientPort int, args []string) *member {
	t.Helper()
	logDir := t.TempDir() // removed after the cleanup below has killed the process
	m := &member{
		t:         t,
		name:      name,
		args:      args,
		clientURL: "http://127.0.0.1:" + strconv.Itoa(clientPort),
		logPath:   filepath.Join(logDir, name+".log"),
		hc:        hc,

		failpointAddr: "127.0.0.1:" + strconv.Itoa(freePort(t)),
	}
	t.Cleanup(func() {
		if m.cur != nil && m.cur.running() {
			m.cur.expected.Store(true)
			_ = m.cont(m.cur)
			_ = m.cur.cmd.Process.Kill()
			<-m.cur.exited
		}
		if t.Failed() {
			m.dumpLog()
		}
	})
	return m
}

// start starts the process with the member's command line. The server gets
// no CAIRN_* variables from the environment of the test, but the address of
// its failpoint control API.
func (m *member) start() {
	m.t.Helper()
	if m.cur != nil && m.cur.running() {
		m.t.Fatalf("%s: start: already running", m.name)
	}
	logf, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		m.t.Fatalf("%s: %v", m.name, err)
	}
	defer logf.Close() // the child has its own descriptor
	m.starts++
	fmt.Fprintf(logf, "=== e2e: start #%d at %s: %s %s\n", m.starts, time.Now().Format(time.RFC3339Nano),
		filepath.Base(serverBin), strings.Join(m.args, " "))

	cmd := exec.Command(serverBin, m.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CAIRN_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, failpointEnv+"="+m.failpointAddr)
	live.Lock()
	err = cmd.Start()
	if err == nil {
		live.procs[cmd.Process] = true
	}
	live.Unlock()
	if err != nil {
		m.t.Fatalf("%s: start: %v", m.name, err)
	}
	r := &run{cmd: cmd, exited: make(chan struct{})}
	go func() {
		r.err = cmd.Wait()
		live.Lock()
		delete(live.procs, cmd.Process)
		live.Unlock()
		if !r.expected.Load() {
			m.logf("=== e2e: UNEXPECTED EXIT at %s: %v", time.Now().Format(time.RFC3339Nano), cmd.ProcessState)
		}
		close(r.exited)
	}()
	m.cur = r
}

// kill sends SIGKILL and waits for the process to be gone. A paused process
// gets SIGCONT first.
func (m *member) kill() {
	m.t.Helper()
	r := m.mustRun("kill")
	r.expected.Store(true)
	if err := m.cont(r); err != nil {
		m.t.Errorf("%s: %v", m.name, err)
	}
	_ = r.cmd.Process.Kill()
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		m.t.Fatalf("%s: still running 10s after SIGKILL", m.name)
	}
	m.logf("=== e2e: killed with SIGKILL")
}

// stop sends SIGTERM, waits for the process to exit and returns how long that
// took. A server that needs more than 15 s, or exits with an error, fails the
// test. A paused process gets SIGCONT first.
func (m *member) stop() time.Duration {
	m.t.Helper()
	r := m.mustRun("stop")
	start := time.Now()
	r.expected.Store(true)
	if err := m.cont(r); err != nil {
		m.t.Errorf("%s: %v", m.name, err)
	}
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		m.t.Fatalf("%s: SIGTERM: %v", m.name, err)
	}
	select {
	case <-r.exited:
	case <-time.After(15 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
		m.t.Fatalf("%s: still running 15s after SIGTERM; killed", m.name)
	}
	took := time.Since(start)
	m.logf("=== e2e: stopped with SIGTERM in %v: %v", took, r.err)
	if r.err != nil {
		m.t.Errorf("%s: after SIGTERM the server exited with %v, want status 0", m.name, r.err)
	}
	return took
}

// pause freezes the process with SIGSTOP, as a long GC or VM pause or a
// debugger would: its sockets stay open and the kernel still accepts
// connections on them, but it neither answers nor sends anything, and its
// timers fire only when it is resumed. kill, stop and the end of the test
// resume it first.
//
// A frozen server shares the test binary's process group: if that group is
// orphaned meanwhile (the shell that started go test exits), the kernel
// sends it SIGHUP and it dies. Run pausing tests from a live shell, or in a
// session of their own (setsid, as pause-runs.sh does).
func (m *member) pause() {
	m.t.Helper()
	r := m.mustRun("pause")
	if r.paused {
		m.t.Fatalf("%s: pause: already paused", m.name)
	}
	if err := r.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		m.t.Fatalf("%s: SIGSTOP: %v", m.name, err)
	}
	r.paused = true
	m.logf("=== e2e: paused with SIGSTOP at %s", time.Now().Format(time.RFC3339Nano))
}

// resume sends SIGCONT to a paused process. It fails the test with Errorf,
// not Fatalf, so that it can run in a deferred call.
func (m *member) resume() {
	m.t.Helper()
	switch {
	case m.cur != nil && !m.cur.running() && m.cur.paused:
		m.t.Errorf("%s: resume: it exited while paused: %v", m.name, m.cur.err)
		return
	case m.cur == nil || !m.cur.running():
		m.t.Errorf("%s: resume: not running", m.name)
		return
	}
	if !m.cur.paused {
		m.t.Errorf("%s: resume: not paused", m.name)
		return
	}
	if err := m.cont(m.cur); err != nil {
		m.t.Errorf("%s: %v", m.name, err)
	}
}

// paused reports whether the process is paused.
func (m *member) paused() bool { return m.cur != nil && m.cur.running() && m.cur.paused }

// cont sends SIGCONT to r if it is paused.
func (m *member) cont(r *run) error {
	if !r.paused {
		return nil
	}
	if err := r.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		return fmt.Errorf("SIGCONT: %w", err)
	}
	r.paused = false
	m.logf("=== e2e: resumed with SIGCONT at %s", time.Now().Format(time.RFC3339Nano))
	return nil
}

func (m *member) mustRun(what string) *run {
	m.t.Helper()
	if m.cur == nil || !m.cur.running() {
		m.t.Fatalf("%s: %s: not running", m.name, what)
	}
	return m.cur
}

// logf appends a line of the test's own to the member's log.
func (m *member) logf(format string, a ...any) {
	f, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, format+"\n", a...)
}

// dumpLog prints the member's log (its last 64 KiB) to the test log.
func (m *member) dumpLog() {
	data, err := os.ReadFile(m.logPath)
	if err != nil {
		m.t.Logf("%s: no log: %v", m.name, err)
		return
	}
	const limit = 64 << 10
	if len(data) > limit {
		data = append([]byte("[...]"), data[len(data)-limit:]...)
	}
	m.t.Logf("---- log of %s (%s) ----\n%s---- end of %s ----", m.name, m.clientURL, data, m.name)
}

// logLevel is the servers' log level: warn keeps two cores free for the
// tests; CAIRN_E2E_LOG_LEVEL overrides it.
func logLevel() string {
	if l := os.Getenv("CAIRN_E2E_LOG_LEVEL"); l != "" {
		return l
	}
	return "warn"
}

// newHTTPClient returns a client with timeouts at every step. It does not
// follow redirects: a test sees what the server answered.
func newHTTPClient(t testing.TB) *http.Client {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConns:          128,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 15 * time.Second,
		DisableCompression:    true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// cluster is a set of members started together.
type cluster struct {
	t       testing.TB
	hc      *http.Client
	members []*member
}

// newCluster starts n members that bootstrap together with 50 ms heartbeats
// and a 500 ms election timeout, and waits until every one is ready. extra
// is appended to every member's command line.
func newCluster(t testing.TB, n int, extra ...string) *cluster {
	t.Helper()
	return newClusterOf(t, n, "http", newHTTPClient(t), func(string) []string { return extra })
}

// newClusterOf is newCluster with client and peer URLs of scheme (http or
// https), the test's HTTP client hc, and flags(name) appended to the
// command line of member name.
func newClusterOf(t testing.TB, n int, scheme string, hc *http.Client, flags func(name string) []string) *cluster {
	t.Helper()
	c := &cluster{t: t, hc: hc}
	clientPorts, peerURLs := make([]int, n), make([]string, n)
	initial := make([]string, n)
	for i := range n {
		clientPorts[i] = freePort(t)
		peerURLs[i] = fmt.Sprintf("%s://127.0.0.1:%d", scheme, freePort(t))
		initial[i] = fmt.Sprintf("n%d=%s", i+1, peerURLs[i])
	}
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		dataDir := filepath.Join(t.TempDir(), name)
		args := []string{
			"--name", name,
			"--data-dir", dataDir,
			"--listen-client-urls", fmt.Sprintf("%s://127.0.0.1:%d", scheme, clientPorts[i]),
			"--listen-peer-urls", peerURLs[i],
			"--initial-cluster", strings.Join(initial, ","),
			"--log-level", logLevel(),
			"--log-format", "json",
			"--election-timeout", "500",
			"--heartbeat-interval", "50",
		}
		args = append(args, flags(name)...)
		m := newMember(t, c.hc, name, clientPorts[i], args)
		m.clientURL = fmt.Sprintf("%s://127.0.0.1:%d", scheme, clientPorts[i])
		m.dataDir = dataDir
		c.members = append(c.members, m)
	}
	for _, m := range c.members {
		m.start()
	}
	for _, m := range c.members {
		m.waitReady(15 * time.Second)
	}
	return c
}

// others returns the members other than m.
func (c *cluster) others(m *member) []*member {
	var out []*member
	for _, o := range c.members {
		if o != m {
			out = append(out, o)
		}
	}
	return out
}

// byName returns the member called name, or nil.
func (c *cluster) byName(name string) *member {
	for _, m := range c.members {
		if m.name == name {
			return m
		}
	}
	return nil
}

// leader waits until every given member (all of them when none are given)
// names the same leader, one of the cluster's members, and returns it.
func (c *cluster) leader(among ...*member) *member {
	c.t.Helper()
	if len(among) == 0 {
		among = c.members
	}
	var leader *member
	waitFor(c.t, 10*time.Second, "the members to agree on a leader", func() error {
		name := ""
		for _, m := range among {
			st, err := m.status(context.Background())
			if err != nil {
				return err
			}
			switch {
			case st.LeaderName == "":
				return fmt.Errorf("%s has no leader", m.name)
			case name != "" && st.LeaderName != name:
				return fmt.Errorf("%s follows %s, another member follows %s", m.name, st.LeaderName, name)
			}
			name = st.LeaderName
		}
		if leader = c.byName(name); leader == nil {
			return fmt.Errorf("the leader %q is not a member of this cluster", name)
		}
		return nil
	})
	return leader
}

// waitConverged waits until the given members (all when none are given)
// report the same store revision and applied index, and returns the revision.
func (c *cluster) waitConverged(timeout time.Duration, among ...*member) int64 {
	c.t.Helper()
	if len(among) == 0 {
		among = c.members
	}
	var rev int64
	waitFor(c.t, timeout, "the members to reach the same revision", func() error {
		var first statusJSON
		for i, m := range among {
			st, err := m.status(context.Background())
			if err != nil {
				return err
			}
			if i == 0 {
				first = st
				continue
			}
			if st.Revision != first.Revision || st.AppliedIndex != first.AppliedIndex {
				return fmt.Errorf("%s is at revision %d (applied index %d), %s at %d (applied index %d)",
					m.name, st.Revision, st.AppliedIndex, among[0].name, first.Revision, first.AppliedIndex)
			}
		}
		rev = first.Revision
		return nil
	})
	return rev
}

// waitFor polls cond every 20 ms until it returns nil and returns how long
// that took. At the deadline it fails the test with cond's last error. Call it
// from the test's goroutine only.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() error) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s: %v", timeout, what, err)
		}
		<-tick.C
	}
}

// reply is an HTTP answer, read in full.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// errorCode returns the error code of an error answer, or "".
func (r reply) errorCode() string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Code
}

func (r reply) String() string {
	return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body))
}

// do sends one request to the member. pathAndQuery is sent as given: it must
// be escaped already (see keyPath).
func (m *member) do(ctx context.Context, method, pathAndQuery string, body []byte) (reply, error) {
	return m.doWith(ctx, m.hc, method, pathAndQuery, body)
}

// doWith is do through the given HTTP client (a client with connections of
// its own, as a separate client process would have).
func (m *member) doWith(ctx context.Context, hc *http.Client, method, pathAndQuery string, body []byte) (reply, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, m.clientURL+pathAndQuery, rd)
	if err != nil {
		return reply{}, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return reply{}, fmt.Errorf("%s: %w", m.name, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, fmt.Errorf("%s: reading the answer to %s %s: %w", m.name, method, pathAndQuery, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// call is do with a 10 s deadline.
func (m *member) call(method, pathAndQuery string, body []byte) (reply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return m.do(ctx, method, pathAndQuery, body)
}

// getJSON GETs path, wants 200 and decodes the body into v.
func (m *member) getJSON(ctx context.Context, pathAndQuery string, v any) error {
	r, err := m.do(ctx, http.MethodGet, pathAndQuery, nil)
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		return fmt.Errorf("%s: GET %s: %v", m.name, pathAndQuery, r)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		return fmt.Errorf("%s: GET %s: %w in %s", m.name, pathAndQuery, err, r.body)
	}
	return nil
}

// status returns the member's /v1/status (answered from its local state).
func (m *member) status(ctx context.Context) (statusJSON, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var st statusJSON
	err := m.getJSON(ctx, "/v1/status", &st)
	return st, err
}

// waitReady waits until /readyz answers 200.
func (m *member) waitReady(timeout time.Duration) time.Duration {
	m.t.Helper()
	return waitFor(m.t, timeout, m.name+" to be ready", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		r, err := m.do(ctx, http.MethodGet, "/readyz", nil)
		if err != nil {
			return err
		}
		if r.status != http.StatusOK {
			return fmt.Errorf("%s: /readyz: %v", m.name, r)
		}
		return nil
	})
}

// put stores value under key through the member; query is appended as is.
func (m *member) put(ctx context.Context, key, value []byte, query string) (reply, error) {
	return m.do(ctx, http.MethodPut, keyPath(key)+query, value)
}

// mustPut stores value under key and fails the test unless the answer is
// 200, retrying only while the cluster has no leader (503).
func (m *member) mustPut(key, value []byte) {
	m.t.Helper()
	waitFor(m.t, 10*time.Second, fmt.Sprintf("PUT %q through %s", key, m.name), func() error {
		r, err := m.call(http.MethodPut, keyPath(key), value)
		switch {
		case err != nil:
			return err
		case r.status == http.StatusServiceUnavailable:
			return fmt.Errorf("%s: %v", m.name, r)
		case r.status != http.StatusOK:
			m.t.Fatalf("%s: PUT %q: %v", m.name, key, r)
		}
		return nil
	})
}

// getKV reads one key (query appended as is) and returns its kv, or an error
// for any answer but 200 with exactly one kv.
func (m *member) getKV(ctx context.Context, key []byte, query string) (kvJSON, error) {
	var rr rangeJSON
	if err := m.getJSON(ctx, keyPath(key)+query, &rr); err != nil {
		return kvJSON{}, err
	}
	if len(rr.Kvs) != 1 || rr.Count != 1 {
		return kvJSON{}, fmt.Errorf("%s: GET %q: %d kvs, count %d, want one", m.name, key, len(rr.Kvs), rr.Count)
	}
	return rr.Kvs[0], nil
}

// listPrefix returns every key under prefix, and its value, as the member
// sees it; query is appended to ?prefix=true.
func (m *member) listPrefix(ctx context.Context, prefix, query string) (map[string]string, error) {
	var rr rangeJSON
	if err := m.getJSON(ctx, keyPath([]byte(prefix))+"?prefix=true"+query, &rr); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(rr.Kvs))
	for _, kv := range rr.Kvs {
		k, err := kv.key()
		if err != nil {
			return nil, err
		}
		v, err := kv.value()
		if err != nil {
			return nil, err
		}
		if _, dup := out[string(k)]; dup {
			return nil, fmt.Errorf("%s: key %q listed twice", m.name, k)
		}
		out[string(k)] = string(v)
	}
	if rr.More || int64(len(rr.Kvs)) != rr.Count {
		return nil, fmt.Errorf("%s: listing %q: %d kvs, count %d, more %v", m.name, prefix, len(rr.Kvs), rr.Count, rr.More)
	}
	return out, nil
}

// hash returns the member's /v1/maintenance/hash at rev.
func (m *member) hash(rev int64) (hashJSON, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var h hashJSON
	err := m.getJSON(ctx, "/v1/maintenance/hash?revision="+strconv.FormatInt(rev, 10), &h)
	return h, err
}

// keyPath returns /v1/kv/ and key, percent-encoding every byte that is not
// an unreserved URL character or '/'.
func keyPath(key []byte) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.WriteString("/v1/kv/")
	for _, c := range key {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == '/':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// The JSON shapes of ../shared/api.md that the tests read. They are written
// here again on purpose: the tests check the wire format, not the server's
// Go types.

type headerJSON struct {
	ClusterID uint64 `json:"cluster_id"`
	MemberID  uint64 `json:"member_id"`
	Revision  int64  `json:"revision"`
	RaftTerm  uint64 `json:"raft_term"`
}

type kvJSON struct {
	Key            *string `json:"key"`
	KeyBase64      *string `json:"key_base64"`
	Value          *string `json:"value"`
	ValueBase64    *string `json:"value_base64"`
	CreateRevision int64   `json:"create_revision"`
	ModRevision    int64   `json:"mod_revision"`
	Version        int64   `json:"version"`
	Lease          int64   `json:"lease"`
}

// key returns the key's bytes from whichever field carries it.
func (kv kvJSON) key() ([]byte, error) { return textField("key", kv.Key, kv.KeyBase64) }

// value returns the value's bytes from whichever field carries it.
func (kv kvJSON) value() ([]byte, error) { return textField("value", kv.Value, kv.ValueBase64) }

func textField(name string, plain, b64 *string) ([]byte, error) {
	switch {
	case plain != nil && b64 != nil:
		return nil, fmt.Errorf("both %s and %s_base64 are set", name, name)
	case plain != nil:
		return []byte(*plain), nil
	case b64 != nil:
		return base64.StdEncoding.DecodeString(*b64)
	default:
		return nil, errors.New("neither " + name + " nor " + name + "_base64 is set")
	}
}

type rangeJSON struct {
	Header headerJSON `json:"header"`
	Kvs    []kvJSON   `json:"kvs"`
	Count  int64      `json:"count"`
	More   bool       `json:"more"`
}

type statusJSON struct {
	Header       headerJSON `json:"header"`
	MemberID     uint64     `json:"member_id"`
	Name         string     `json:"name"`
	Leader       uint64     `json:"leader"`
	LeaderName   string     `json:"leader_name"`
	RaftTerm     uint64     `json:"raft_term"`
	RaftIndex    uint64     `json:"raft_index"`
	CommitIndex  uint64     `json:"commit_index"`
	AppliedIndex uint64     `json:"applied_index"`
	Revision     int64      `json:"revision"`
}

type hashJSON struct {
	Header          headerJSON `json:"header"`
	Hash            uint32     `json:"hash"`
	Revision        int64      `json:"revision"`
	CompactRevision int64      `json:"compact_revision"`
}
