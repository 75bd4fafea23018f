package k8s

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/kubernetes"
	"go.uber.org/zap"

	storagetesting "k8s.io/apiserver/pkg/storage/testing"

	"github.com/cairnkv/cairn/internal/testutil/freeport"
)

// serverBin is the Cairn server the tests run, built once by TestMain from
// the repository this module sits in (../..).
var serverBin string

// members is how many members each Cairn cluster has: 1 by default (what
// Kubernetes' own tests give etcd), 3 with CAIRN_K8S_MEMBERS=3.
var members = 1

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	flag.Parse()
	if v := os.Getenv("CAIRN_K8S_MEMBERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || (n != 1 && n != 3) {
			fmt.Fprintf(os.Stderr, "k8s: CAIRN_K8S_MEMBERS=%q: want 1 or 3\n", v)
			return 2
		}
		members = n
	}
	dir, err := os.MkdirTemp("", "cairn-k8s-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "k8s:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	serverBin = filepath.Join(dir, "cairn-server")
	start := time.Now()
	// The server is built by the go command of the toolchain under test,
	// in the main module's directory (a package of another module cannot
	// be built from here), without -race: the servers need the speed.
	cmd := exec.Command("go", "build", "-o", serverBin, "./cmd/server")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "k8s: building the Cairn server:", err)
		return 1
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "k8s: built the Cairn server in %v; clusters of %d member(s)\n",
			time.Since(start).Round(time.Millisecond), members)
	}
	stop := startWatchdog()
	defer stop()
	code := m.Run()
	killAll()
	return code
}

// live holds every server process still running, so that a test binary
// about to die of its -timeout takes them down with it.
var live = struct {
	sync.Mutex
	procs map[*os.Process]bool
}{procs: map[*os.Process]bool{}}

func killAll() {
	live.Lock()
	defer live.Unlock()
	for p := range live.procs {
		_ = p.Kill()
	}
}

// startWatchdog kills every server shortly before go test's -timeout panics
// (a panic that runs no t.Cleanup).
func startWatchdog() (stop func()) {
	f := flag.Lookup("test.timeout")
	if f == nil {
		return func() {}
	}
	d, ok := f.Value.(flag.Getter).Get().(time.Duration)
	if !ok || d <= 0 {
		return func() {}
	}
	timer := time.AfterFunc(d-min(d/10, 5*time.Second), killAll)
	return func() { timer.Stop() }
}

// cairnOptions are the server settings a test may change.
type cairnOptions struct {
	// watchHeartbeat is --watch-heartbeat-interval: how often an idle
	// watch gets a progress notification (etcd's
	// --experimental-watch-progress-notify-interval). Zero: the default.
	watchHeartbeat time.Duration
}

// startCairn starts a fresh Cairn cluster of `members` processes on free
// ports of 127.0.0.1 with data directories under t.TempDir(), waits until
// every member is ready, and returns a Kubernetes etcd client on all of them,
// with the KV recorders the storage suites count calls with (what the
// apiserver's testserver.RunEtcd does for an embedded etcd). Everything is
// stopped when the test ends; a failed test gets the members' logs.
func startCairn(t testing.TB, opts cairnOptions) *kubernetes.Client {
	t.Helper()
	clientPorts, initial := make([]int, members), make([]string, members)
	peerURLs := make([]string, members)
	for i := range members {
		clientPorts[i] = port(t)
		peerURLs[i] = "http://127.0.0.1:" + strconv.Itoa(port(t))
		initial[i] = fmt.Sprintf("n%d=%s", i+1, peerURLs[i])
	}
	endpoints := make([]string, members)
	for i := range members {
		name := fmt.Sprintf("n%d", i+1)
		endpoints[i] = "http://127.0.0.1:" + strconv.Itoa(clientPorts[i])
		args := []string{
			"--name", name,
			"--data-dir", filepath.Join(t.TempDir(), name),
			"--listen-client-urls", endpoints[i],
			"--listen-peer-urls", peerURLs[i],
			"--log-level", "warn",
			// Elect sooner than the default 1s: a test starts a cluster.
			"--election-timeout", "500", "--heartbeat-interval", "50",
		}
		if members > 1 {
			args = append(args, "--initial-cluster", strings.Join(initial, ","))
		}
		if opts.watchHeartbeat > 0 {
			args = append(args, "--watch-heartbeat-interval", opts.watchHeartbeat.String())
		}
		startProcess(t, name, args)
	}
	for _, ep := range endpoints {
		waitReady(t, ep, 30*time.Second)
	}

	client, err := kubernetes.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 10 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	recorder := storagetesting.NewKubernetesRecorder(client.Kubernetes)
	client.KV = storagetesting.NewKVRecorder(client.KV, recorder)
	client.Kubernetes = recorder
	return client
}

func port(t testing.TB) int {
	t.Helper()
	p, err := freeport.Get()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startProcess starts one member; it is killed when the test ends.
func startProcess(t testing.TB, name string, args []string) {
	t.Helper()
	var logBuf syncBuffer
	cmd := exec.Command(serverBin, args...)
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CAIRN_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	live.Lock()
	err := cmd.Start()
	if err == nil {
		live.procs[cmd.Process] = true
	}
	live.Unlock()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		live.Lock()
		delete(live.procs, cmd.Process)
		live.Unlock()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("=== log of Cairn member %s (%s):\n%s", name, strings.Join(args, " "), logBuf.String())
		}
	})
}

func waitReady(t testing.TB, endpoint string, timeout time.Duration) {
	t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := hc.Get(endpoint + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("/readyz: %s", resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %v: %v", endpoint, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

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

// TestCairnServes is the harness's own check: a member starts, and the
// etcd client the storage tests use can write and read through it.
func TestCairnServes(t *testing.T) {
	c := startCairn(t, cairnOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	put, err := c.Client.Put(ctx, "harness", "ok")
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Client.Get(ctx, "harness")
	if err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "ok" || got.Header.Revision != put.Header.Revision {
		t.Fatalf("get after put: %v %v", got, err)
	}
}
