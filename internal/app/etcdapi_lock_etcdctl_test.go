package app

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3election/v3electionpb"
)

// The etcdctl lock and elect verbs against 3 members (they sit beside
// TestEtcdctl in etcdctl_test.go, with its runner). Both verbs run
// clientv3's concurrency recipes over KV, lease and watch; the tests check
// their effects through other members and through the v3lock/v3election
// view of the same queues.

// lockedCommand is an `etcdctl lock NAME -- sh -c …` whose command writes
// the lock key it was given to <dir>/<tag>.held, then waits until the test
// writes a line to the FIFO <dir>/<tag>.go.
type lockedCommand struct {
	t          *testing.T
	cmd        *exec.Cmd
	held, fifo string
	done       chan error
}

func startLocked(t *testing.T, r etcdctlRunner, ctx context.Context, dir, tag, name string) *lockedCommand {
	t.Helper()
	l := &lockedCommand{t: t, held: filepath.Join(dir, tag+".held"), fifo: filepath.Join(dir, tag+".go"), done: make(chan error, 1)}
	if err := syscall.Mkfifo(l.fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	script := `echo "$ETCD_LOCK_KEY" > "$1.tmp" && mv "$1.tmp" "$1" && read line < "$2"`
	l.cmd = r.cmd(ctx, "", "lock", name, "--", "sh", "-c", script, "sh", l.held, l.fifo)
	var out lockedBuffer
	l.cmd.Stdout, l.cmd.Stderr = &out, &out
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := l.cmd.Wait()
		if err != nil {
			err = fmt.Errorf("%w: %s", err, out.String())
		}
		l.done <- err
	}()
	t.Cleanup(func() { _ = l.cmd.Process.Kill() })
	return l
}

// key returns the lock key the command got, "" while it has not run.
func (l *lockedCommand) key() string {
	b, err := os.ReadFile(l.held)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// release lets the command end, and waits for etcdctl to exit.
func (l *lockedCommand) release() {
	l.t.Helper()
	wrote := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(l.fifo, os.O_WRONLY, 0) // blocks until the command reads
		if err == nil {
			_, err = f.WriteString("go\n")
			f.Close()
		}
		wrote <- err
	}()
	if err := receiveCall(l.t, wrote, "the command to read its FIFO"); err != nil {
		l.t.Fatal(err)
	}
	if err := receiveCall(l.t, l.done, "etcdctl lock"); err != nil {
		l.t.Fatalf("etcdctl lock: %v", err)
	}
}

// TestEtcdctl_Lock: `etcdctl lock NAME -- command` runs the command while
// it holds the lock; a second one, through another member, waits until
// the first command has ended and etcdctl has unlocked.
func TestEtcdctl_Lock(t *testing.T) {
	t.Parallel()
	bin := etcdctlPath(t)
	ms := startCluster(t, 3)
	on := func(m *member) etcdctlRunner { return etcdctlRunner{t: t, bin: bin, endpoints: m.URL} }
	c := etcdClient(t, ms[1])
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()

	first := startLocked(t, on(ms[0]), ctx, dir, "first", "ctl")
	waitFor(t, 30*time.Second, "the first command to run", func() bool { return first.key() != "" })
	k1 := first.key()
	if !strings.HasPrefix(k1, "ctl/") {
		t.Fatalf("ETCD_LOCK_KEY %q, want a key of the queue ctl/", k1)
	}
	if g, err := c.Get(etcdCtx(t), "ctl/", withPrefixFirstCreate()...); err != nil || len(g.Kvs) != 1 || string(g.Kvs[0].Key) != k1 {
		t.Fatalf("the queue while the first command runs: %+v %v", g, err)
	}

	second := startLocked(t, on(ms[2]), ctx, dir, "second", "ctl")
	waitQueueLen(t, c, "ctl", 2)
	if k := second.key(); k != "" {
		t.Fatalf("the second command ran (with %q) while the first holds the lock", k)
	}
	first.release()
	waitFor(t, 30*time.Second, "the second command to run", func() bool { return second.key() != "" })
	k2 := second.key()
	if k2 == k1 {
		t.Fatalf("both commands got the key %q", k1)
	}
	if g, err := c.Get(etcdCtx(t), "ctl/", withPrefixFirstCreate()...); err != nil || len(g.Kvs) != 1 || string(g.Kvs[0].Key) != k2 {
		t.Fatalf("the queue while the second command runs: %+v %v", g, err)
	}
	second.release()
	waitQueueLen(t, c, "ctl", 0)
}

// TestEtcdctl_Elect: `etcdctl elect NAME PROPOSAL` campaigns and holds
// leadership until interrupted, then resigns; `etcdctl elect -l NAME`
// prints each leader's proposal; the v3election service sees the same
// leader.
func TestEtcdctl_Elect(t *testing.T) {
	t.Parallel()
	bin := etcdctlPath(t)
	ms := startCluster(t, 3)
	on := func(m *member) etcdctlRunner { return etcdctlRunner{t: t, bin: bin, endpoints: m.URL} }
	c := etcdClient(t, ms[0])
	ec := v3electionpb.NewElectionClient(c.ActiveConnection())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := func(r etcdctlRunner, args ...string) (*exec.Cmd, *lockedBuffer, <-chan error) {
		var out lockedBuffer
		cmd := r.cmd(ctx, "", args...)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		return cmd, &out, done
	}
	leaderIs := func(want string) {
		t.Helper()
		r, err := ec.Leader(etcdCtx(t), &v3electionpb.LeaderRequest{Name: []byte("svc")})
		if err != nil || string(r.Kv.Value) != want {
			t.Fatalf("Leader = %+v %v, want %q", r, err, want)
		}
	}

	_, observed, _ := start(on(ms[1]), "elect", "-l", "svc")
	first, firstOut, firstDone := start(on(ms[0]), "elect", "svc", "p1")
	waitFor(t, 30*time.Second, "the first candidate to lead", func() bool { return strings.Contains(firstOut.String(), "\np1\n") })
	waitFor(t, 30*time.Second, "the observer to print p1", func() bool { return strings.Contains(observed.String(), "\np1\n") })
	leaderIs("p1")

	second, secondOut, secondDone := start(on(ms[2]), "elect", "svc", "p2")
	waitQueueLen(t, c, "svc", 2)
	if out := secondOut.String(); out != "" {
		t.Fatalf("the second candidate printed %q while the first leads", out)
	}
	leaderIs("p1")
	// Interrupted, the leader resigns and exits; the second one leads.
	if err := first.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := receiveCall(t, firstDone, "etcdctl elect p1"); err != nil {
		t.Fatalf("etcdctl elect p1: %v: %s", err, firstOut.String())
	}
	waitFor(t, 30*time.Second, "the second candidate to lead", func() bool { return strings.Contains(secondOut.String(), "\np2\n") })
	waitFor(t, 30*time.Second, "the observer to print p2", func() bool { return strings.Contains(observed.String(), "\np2\n") })
	leaderIs("p2")
	if out := observed.String(); strings.Index(out, "p1") > strings.Index(out, "p2") {
		t.Fatalf("the observer printed the leaders out of order: %q", out)
	}
	if err := second.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := receiveCall(t, secondDone, "etcdctl elect p2"); err != nil {
		t.Fatalf("etcdctl elect p2: %v: %s", err, secondOut.String())
	}
	waitQueueLen(t, c, "svc", 0)
}

// withPrefixFirstCreate reads a queue in order: its head first.
func withPrefixFirstCreate() []clientv3.OpOption {
	return []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend)}
}
