package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests of this file run their lock clients as separate processes:
// ./lockclient, built by TestMain, which uses the public Go client (Session,
// Mutex with its fence, Txn) as an application would. kill -9 of a client
// is real: its keepalives stop because its process is gone.

// lockProc is one lock client process. Its stdout is read line by line as
// it comes, each line stamped with the time it arrived.
type lockProc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd

	mu     sync.Mutex
	lines  []procLine
	stderr bytes.Buffer
	poke   chan struct{} // a new line arrived, or stdout ended

	exited chan struct{} // closed once the process has exited; err is set by then
	err    error
}

type procLine struct {
	text string
	at   time.Time
}

// lockedWriter is a writer that the process's stderr copier and the test
// may use at the same time.
type lockedWriter struct{ p *lockProc }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.stderr.Write(b)
}

// startLockClient starts the lock client with args (and --id name). The
// process is killed when the test ends if it is still running; its stderr
// and the end of its stdout are printed if the test failed.
func startLockClient(t *testing.T, name string, args ...string) *lockProc {
	t.Helper()
	p := &lockProc{t: t, name: name, poke: make(chan struct{}, 1), exited: make(chan struct{})}
	p.cmd = exec.Command(lockClientBin, append([]string{"--id", name}, args...)...)
	p.cmd.Stderr = lockedWriter{p}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	live.Lock()
	err = p.cmd.Start()
	if err == nil {
		live.procs[p.cmd.Process] = true
	}
	live.Unlock()
	if err != nil {
		t.Fatalf("%s: start: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, procLine{text: sc.Text(), at: time.Now()})
			p.mu.Unlock()
			p.notify()
		}
		// Wait only once stdout is drained (see exec.Cmd.StdoutPipe).
		p.err = p.cmd.Wait()
		live.Lock()
		delete(live.procs, p.cmd.Process)
		live.Unlock()
		close(p.exited)
		p.notify()
	}()
	t.Cleanup(func() {
		if p.running() {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			p.dump()
		}
	})
	return p
}

func (p *lockProc) notify() {
	select {
	case p.poke <- struct{}{}:
	default:
	}
}

func (p *lockProc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// output returns the lines of stdout so far.
func (p *lockProc) output() []procLine {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.lines)
}

func (p *lockProc) stderrText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.TrimSpace(p.stderr.String())
}

// waitLine waits until the process prints a line that starts with prefix
// and returns the first one. It fails the test if the process exits first
// or timeout passes.
func (p *lockProc) waitLine(prefix string, timeout time.Duration) procLine {
	p.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		for _, l := range p.output() {
			if strings.HasPrefix(l.text, prefix) {
				return l
			}
		}
		if !p.running() {
			p.t.Fatalf("%s exited (%v) without printing %q: %s", p.name, p.err, prefix, p.stderrText())
		}
		select {
		case <-p.poke:
		case <-deadline.C:
			p.t.Fatalf("%s printed no %q line within %v", p.name, prefix, timeout)
		}
	}
}

// wait waits for the process to exit and returns an error unless it exited
// with status 0.
func (p *lockProc) wait(timeout time.Duration) error {
	select {
	case <-p.exited:
	case <-time.After(timeout):
		return fmt.Errorf("%s: still running after %v", p.name, timeout)
	}
	if p.err != nil {
		return fmt.Errorf("%s: %v: %s", p.name, p.err, p.stderrText())
	}
	return nil
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *lockProc) kill() {
	p.t.Helper()
	_ = p.cmd.Process.Kill()
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.t.Fatalf("%s: still running 10s after SIGKILL", p.name)
	}
}

func (p *lockProc) dump() {
	lines := p.output()
	const keep = 20
	if len(lines) > keep {
		lines = lines[len(lines)-keep:]
	}
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%s %s\n", l.at.Format("15:04:05.000000"), l.text)
	}
	p.t.Logf("---- lock client %s (exited: %v, %v) ----\nstderr: %s\nstdout (last %d lines):\n%s---- end of %s ----",
		p.name, !p.running(), p.err, p.stderrText(), len(lines), b.String(), p.name)
}

// heldInterval is a HELD line: the fence, and when the process held the
// lock for sure (wall clock, Unix ns).
type heldInterval struct {
	proc       string
	fence      int64
	start, end int64
}

// heldIntervals parses the process's HELD lines (and counts its LOCKED
// lines).
func (p *lockProc) heldIntervals() (held []heldInterval, locked int, err error) {
	for _, l := range p.output() {
		f := strings.Fields(l.text)
		switch {
		case len(f) == 2 && f[0] == "LOCKED":
			locked++
		case len(f) == 4 && f[0] == "HELD":
			h := heldInterval{proc: p.name}
			var errs [3]error
			h.fence, errs[0] = strconv.ParseInt(f[1], 10, 64)
			h.start, errs[1] = strconv.ParseInt(f[2], 10, 64)
			h.end, errs[2] = strconv.ParseInt(f[3], 10, 64)
			for _, e := range errs {
				if e != nil {
					return nil, 0, fmt.Errorf("%s: line %q: %w", p.name, l.text, e)
				}
			}
			if h.end < h.start {
				return nil, 0, fmt.Errorf("%s: line %q: ends before it starts", p.name, l.text)
			}
			held = append(held, h)
		default:
			return nil, 0, fmt.Errorf("%s: unexpected line %q", p.name, l.text)
		}
	}
	return held, locked, nil
}

// endpointsFrom lists the members' client URLs starting with members[i%n].
func endpointsFrom(c *cluster, i int) string {
	n := len(c.members)
	urls := make([]string, n)
	for k := range n {
		urls[k] = c.members[(i+k)%n].clientURL
	}
	return strings.Join(urls, ",")
}

// lockFence renders a fence as the lock client writes it to the fence key.
func lockFence(f int64) string { return fmt.Sprintf("%020d", f) }

// readKey reads a key's value through m.
func readKey(t *testing.T, m *member, key string) string {
	t.Helper()
	kv, err := m.getKV(context.Background(), []byte(key), "")
	if err != nil {
		t.Fatal(err)
	}
	v, err := kv.value()
	if err != nil {
		t.Fatal(err)
	}
	return string(v)
}

// TestLockProc_FencedCounter is the issue, with client processes: 10
// processes each take one lock many times, process i through member i%3
// first, and under the lock increment a shared counter only if the fence
// they hold is still the newest (a txn comparing the fence, and the
// counter's mod revision). Every process exits 0, the counter ends at
// processes × iterations, no two holders ever overlap, the fences strictly
// increase in the order the lock was held, and the fence key ends at the
// highest fence. The default is 10 × 20; CAIRN_SOAK=1 runs the 10 × 100 of
// the issue.
func TestLockProc_FencedCounter(t *testing.T) {
	begin := time.Now()
	procs, iterations := 10, 20
	budget := 90 * time.Second
	if os.Getenv("CAIRN_SOAK") != "" {
		iterations, budget = 100, 5*time.Minute
	}
	total := procs * iterations
	c := newCluster(t, 3, lockArgs...)
	const name, counterKey, fenceKey = "proc/lock", "proc/counter", "proc/fence"
	c.members[0].mustPut([]byte(counterKey), []byte("0"))
	c.members[0].mustPut([]byte(fenceKey), []byte(lockFence(0)))

	runStart := time.Now()
	ps := make([]*lockProc, procs)
	for i := range procs {
		ps[i] = startLockClient(t, fmt.Sprintf("p%d", i),
			"--endpoints", endpointsFrom(c, i),
			"--name", name,
			"--iterations", strconv.Itoa(iterations),
			"--ttl", "5",
			"--counter-key", counterKey,
			"--fence-key", fenceKey,
			"--timeout", budget.String())
	}
	deadline := time.Now().Add(budget + 10*time.Second)
	failed := false
	for _, p := range ps {
		if err := p.wait(time.Until(deadline)); err != nil {
			t.Error(err)
			if !failed {
				// One that failed while others wait could keep them
				// waiting for its lease's TTL; do not wait for them.
				failed = true
				for _, o := range ps {
					_ = o.cmd.Process.Kill()
				}
			}
		}
	}
	elapsed := time.Since(runStart)
	if failed {
		t.FailNow()
	}

	var held []heldInterval
	for _, p := range ps {
		h, locked, err := p.heldIntervals()
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != iterations || locked != iterations {
			t.Errorf("%s: %d HELD and %d LOCKED lines, want %d of each", p.name, len(h), locked, iterations)
		}
		held = append(held, h...)
	}
	slices.SortFunc(held, func(a, b heldInterval) int { return cmpInt64(a.start, b.start) })
	var gaps []time.Duration
	var maxFence int64
	var holds []time.Duration
	for k, h := range held {
		maxFence = max(maxFence, h.fence)
		holds = append(holds, time.Duration(h.end-h.start))
		if k == 0 {
			continue
		}
		prev := held[k-1]
		if h.start <= prev.end {
			t.Errorf("%s held the lock (fence %d) from %d while %s held it (fence %d) until %d: they overlap by %v",
				h.proc, h.fence, h.start, prev.proc, prev.fence, prev.end, time.Duration(prev.end-h.start+1))
		}
		if h.fence <= prev.fence {
			t.Errorf("%s got fence %d after %s got fence %d: fences must strictly increase", h.proc, h.fence, prev.proc, prev.fence)
		}
		gaps = append(gaps, time.Duration(h.start-prev.end))
	}
	if len(held) != total {
		t.Errorf("%d acquisitions, want %d", len(held), total)
	}
	for _, m := range c.members {
		waitFor(t, 5*time.Second, "the counter and the fence through "+m.name, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			got, err := m.listPrefix(ctx, "proc/", "")
			if err != nil {
				return err
			}
			if got[counterKey] != strconv.Itoa(total) || got[fenceKey] != lockFence(maxFence) {
				return fmt.Errorf("%s: counter %q, fence %q; want %d and %s", m.name, got[counterKey], got[fenceKey], total, lockFence(maxFence))
			}
			return nil
		})
	}
	// A holder whose fence is no longer the newest is refused, even the
	// last one.
	if err := incrementFenced(context.Background(), c.hc, c.members[1], counterKey, fenceKey, lockFence(maxFence)); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("a stale fence incremented the counter: %v", err)
	}
	// Every process closed its session: the lock is free.
	if st, err := lockStatus(c.members[2], name); err != nil || st.Owner != nil || len(st.Waiters) != 0 {
		t.Errorf("the lock after every process exited: [%s] %v, want free", st.queue(), err)
	}

	slices.Sort(gaps)
	slices.Sort(holds)
	pct := func(ds []time.Duration, q float64) time.Duration {
		if len(ds) == 0 {
			return 0
		}
		return ds[min(len(ds)-1, int(q*float64(len(ds))))].Round(10 * time.Microsecond)
	}
	var span time.Duration
	if len(held) > 0 {
		span = time.Duration(held[len(held)-1].end - held[0].start)
	}
	perAcq := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(max(len(held), 1)) }
	t.Logf("%d processes × %d iterations: %d acquisitions in %v from the first start to the last exit (%.1f ms each), "+
		"%v from the first acquisition to the last release (%.1f ms each); hand-over from one holder's end to the next "+
		"one's start (its unlock and the next grant): median %v, p99 %v, max %v; holds (a read and the fenced txn): "+
		"median %v, max %v; test took %v",
		procs, iterations, len(held), elapsed.Round(time.Millisecond), perAcq(elapsed), span.Round(time.Millisecond), perAcq(span),
		pct(gaps, 0.5), pct(gaps, 0.99), pct(gaps, 1), pct(holds, 0.5), pct(holds, 1), time.Since(begin).Round(time.Millisecond))
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestLockProc_HolderKilled: kill -9 of the process that holds a lock; the
// process waiting for it gets it within the holder's lease TTL plus a
// little, with a higher fence, and the killed holder's fence is refused
// from then on.
func TestLockProc_HolderKilled(t *testing.T) {
	const ttl = 3
	const name, counterKey, fenceKey = "kill/lock", "kill/counter", "kill/fence"
	c := newCluster(t, 3, lockArgs...)
	c.members[0].mustPut([]byte(counterKey), []byte("0"))
	c.members[0].mustPut([]byte(fenceKey), []byte(lockFence(0)))
	args := func(i int, more ...string) []string {
		return append([]string{
			"--endpoints", endpointsFrom(c, i),
			"--name", name,
			"--iterations", "1",
			"--counter-key", counterKey,
			"--fence-key", fenceKey,
			"--timeout", "60s",
		}, more...)
	}
	parseFence := func(l procLine) int64 {
		t.Helper()
		f, err := strconv.ParseInt(strings.TrimPrefix(l.text, "LOCKED "), 10, 64)
		if err != nil || f <= 0 {
			t.Fatalf("line %q: want LOCKED <fence>", l.text)
		}
		return f
	}

	a := startLockClient(t, "A", args(0, "--ttl", strconv.Itoa(ttl), "--hold", "60s")...)
	fenceA := parseFence(a.waitLine("LOCKED ", 15*time.Second))
	b := startLockClient(t, "B", args(1, "--ttl", "5")...)
	waitFor(t, 10*time.Second, "B to wait behind A", func() error {
		st, err := lockStatus(c.members[2], name)
		if err != nil {
			return err
		}
		if st.Owner == nil || st.Owner.Fence != fenceA || len(st.Waiters) != 1 {
			return fmt.Errorf("queue [%s]", st.queue())
		}
		return nil
	})
	// A, alive, keeps the lock past its lease's TTL: B waits.
	time.Sleep(ttl*time.Second + 500*time.Millisecond)
	if st, err := lockStatus(c.members[1], name); err != nil || st.Owner == nil || st.Owner.Fence != fenceA || len(st.Waiters) != 1 {
		t.Fatalf("%v after A took the lock: [%s] %v, want A's key then B's", ttl*time.Second+500*time.Millisecond, st.queue(), err)
	}

	killed := time.Now()
	a.kill()
	for _, l := range b.output() {
		if strings.HasPrefix(l.text, "LOCKED") && l.at.Before(killed) {
			t.Fatalf("B got the lock (%q) before A was killed", l.text)
		}
	}
	lb := b.waitLine("LOCKED ", ttl*time.Second+10*time.Second)
	fenceB := parseFence(lb)
	took := lb.at.Sub(killed)
	t.Logf("B got the lock %v after kill -9 of A (A's lease TTL %ds, renewed every %ds); fences A %d, B %d",
		took.Round(time.Millisecond), ttl, max(ttl/3, 1), fenceA, fenceB)
	if limit := ttl*time.Second + 1500*time.Millisecond; took > limit {
		t.Errorf("B got the lock %v after kill -9 of A, want within %v", took, limit)
	}
	// A renewed its lease every TTL/3 until it died: the lease cannot
	// have expired much sooner than 2/3 of the TTL after the kill.
	if early := ttl*time.Second*2/3 - 300*time.Millisecond; took < early {
		t.Errorf("B got the lock %v after kill -9 of A: sooner than A's lease (ttl %ds) can have expired", took, ttl)
	}
	if fenceB <= fenceA {
		t.Errorf("B got fence %d after A's %d, want a higher one", fenceB, fenceA)
	}
	if err := b.wait(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	if got := readKey(t, c.members[0], counterKey); got != "1" {
		t.Errorf("counter = %s, want 1 (B's increment only)", got)
	}
	if got := readKey(t, c.members[2], fenceKey); got != lockFence(fenceB) {
		t.Errorf("fence key = %s, want B's %s", got, lockFence(fenceB))
	}
	// Had A been paused rather than killed, its write would now be refused.
	if err := incrementFenced(context.Background(), c.hc, c.members[0], counterKey, fenceKey, lockFence(fenceA)); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("the killed holder's fence incremented the counter: %v", err)
	}
	if st, err := lockStatus(c.members[0], name); err != nil || st.Owner != nil || len(st.Waiters) != 0 {
		t.Errorf("the lock after B exited: [%s] %v, want free", st.queue(), err)
	}
}
