package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnkv/cairn/client"
)

func TestLock_Golden(t *testing.T) {
	c := sharedCluster(t)
	n := newNormalizer(c).rewrite(`lockg/([a-z]+)/[0-9a-f]+`, "lockg/$1/<lease>").rewrite(`(fence|rev)=[0-9]+`, "$1=<fence>")
	golden(t, c, n, "lock", []step{
		{args: []string{"lock", "lockg/a", "--", "sh", "-c", `echo "key=$CAIRN_LOCK_KEY fence=$CAIRN_LOCK_FENCE etcd=$ETCD_LOCK_KEY rev=$ETCD_LOCK_REV"`}},
		{args: []string{"lock", "lockg/a", "echo", "no", "dash", "needed"}},
		{args: []string{"lock", "lockg/a", "--", "sh", "-c", "echo failing >&2; exit 3"}},
		{args: []string{"lock", "lockg/a", "--", "sh", "-c", "kill -TERM $$"}},
		{args: []string{"lock", "lockg/a", "--", "/nonexistent/command"}},
		{args: []string{"lock"}},
		{args: []string{"lock", "--ttl", "0", "lockg/a"}},
	})
}

// TestLock_Hold: without a command, lock prints the key and holds the lock
// until interrupted; a second lock waits meanwhile, and gets it then.
func TestLock_Hold(t *testing.T) {
	c := sharedCluster(t)
	out, _, stopFirst := c.inv("", "lock", "lockhold/x").start()
	waitFor(t, 10*time.Second, "the first lock", func() bool { return strings.HasPrefix(out.String(), "lockhold/x/") })

	marker := filepath.Join(t.TempDir(), "ran")
	secondOut, _, stopSecond := c.inv("", "-w", "json", "lock", "lockhold/x", "--", "touch", marker).start()
	waitFor(t, 10*time.Second, "the second lock to wait in line", func() bool {
		return lockWaiters(t, c, "lockhold/x") == 1
	})
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the second lock ran its command while the first held the lock")
	}
	if r := stopFirst(); r.code != 0 || r.err != "" {
		t.Fatalf("the first lock, interrupted: %s", r)
	}
	waitFor(t, 10*time.Second, "the second lock's command", func() bool {
		_, err := os.Stat(marker)
		return err == nil
	})
	if r := stopSecond(); r.code != 0 {
		t.Fatalf("the second lock: %s (stdout %q)", r, secondOut.String())
	}
}

// lockWaiters returns the number of waiters of the lock name, which
// cairnctl has no verb for (etcdctl neither).
func lockWaiters(t *testing.T, c *cluster, name string) int {
	t.Helper()
	cl, err := client.New(client.Config{Endpoints: []string{c.members[0].URL}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	st, err := cl.LockStatus(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return len(st.Waiters)
}

// TestLock_Counter: two cairnctl processes each run, 5 times, a
// read-increment-write of a counter (two more cairnctl processes, with a
// pause between the read and the write) under lock: the counter ends at
// exactly 10, and the fences, appended to a file in lock order, grow.
func TestLock_Counter(t *testing.T) {
	c := sharedCluster(t)
	c.mustCtl(t, "del", "lockcounter/n") // left by an earlier run (-count)
	ctl := binary(t)
	dir := t.TempDir()
	fences := filepath.Join(dir, "fences")
	script := `v=$(cairnctl get --print-value-only lockcounter/n) || exit 1
sleep 0.05
cairnctl put lockcounter/n $((v+1)) >/dev/null || exit 1
echo "$CAIRN_LOCK_FENCE" >> ` + fences
	env := append(os.Environ(),
		"PATH="+filepath.Dir(ctl)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"CAIRNCTL_ENDPOINTS="+c.endpoints())
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for p := 0; p < 2; p++ {
		wg.Go(func() {
			for i := 0; i < 5; i++ {
				cmd := exec.Command(ctl, "lock", "lockcounter/lock", "--", "sh", "-c", script)
				cmd.Env = env
				if out, err := cmd.CombinedOutput(); err != nil {
					errs <- &exec.Error{Name: string(out), Err: err}
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := c.mustCtl(t, "get", "--print-value-only", "lockcounter/n"); got != "10\n" {
		t.Fatalf("counter = %q, want 10", got)
	}
	b, err := os.ReadFile(fences)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(b))
	if len(lines) != 10 {
		t.Fatalf("%d fences, want 10: %q", len(lines), lines)
	}
	last := int64(0)
	for _, l := range lines {
		f, err := strconv.ParseInt(l, 10, 64)
		if err != nil || f <= last {
			t.Fatalf("fences %q do not grow", lines)
		}
		last = f
	}
}

func TestLock_JSON(t *testing.T) {
	c := sharedCluster(t)
	out, _, stop := c.inv("", "-w", "json", "lock", "lockjson/x").start()
	waitFor(t, 10*time.Second, "the lock", func() bool { return strings.Contains(out.String(), "\n") })
	r := stop()
	var l struct {
		Key   string `json:"key"`
		Fence int64  `json:"fence"`
	}
	decode(t, r.out, &l)
	if !strings.HasPrefix(l.Key, "lockjson/x/") || l.Fence <= 0 {
		t.Fatalf("lock -w json: %+v", l)
	}
}
