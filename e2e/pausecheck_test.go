package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/testutil/lincheck"
)

// The checks of pause_test.go: what the writers of distinct keys were
// told, and what every member stores at the end, now and in its history.

// ackedWrite is a write answered 200, and the revision of its answer.
type ackedWrite struct {
	value string
	rev   int64
}

// ackLog records the writes of distinct keys, each written once with a
// value of its own, by outcome.
type ackLog struct {
	mu       sync.Mutex
	acked    map[string]ackedWrite
	unknown  map[string]string // may or may not be applied
	failed   map[string]string // not carried out: must not be applied
	outcomes map[string]int    // why not acknowledged → count
}

func newAckLog() *ackLog {
	return &ackLog{acked: map[string]ackedWrite{}, unknown: map[string]string{}, failed: map[string]string{}, outcomes: map[string]int{}}
}

// write writes distinct keys under prefix through m until ctx ends; a write
// under way then completes (within 4 s). The outcomes are lincheck's; a 4xx
// answer fails the test.
func (l *ackLog) write(ctx context.Context, t *testing.T, hc *http.Client, m *member, prefix string) {
	for i := 0; ctx.Err() == nil; i++ {
		key := fmt.Sprintf("%s%05d", prefix, i)
		val := "value of " + key
		rctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
		r, err := m.doWith(rctx, hc, http.MethodPut, keyPath([]byte(key)), []byte(val))
		cancel()
		if err == nil && r.status >= 400 && r.status < 500 {
			t.Errorf("%s: PUT %s: %v", m.name, key, r)
			return
		}
		outcome, note := lincheck.Classify(lincheck.Write, r.status, r.body, err)
		l.mu.Lock()
		switch outcome {
		case lincheck.OK:
			var pr struct {
				Header headerJSON `json:"header"`
			}
			if err := json.Unmarshal(r.body, &pr); err != nil || pr.Header.Revision == 0 {
				t.Errorf("%s: PUT %s: no header revision in %v (%v)", m.name, key, r, err)
			}
			l.acked[key] = ackedWrite{value: val, rev: pr.Header.Revision}
		case lincheck.Unknown:
			l.unknown[key] = val
			l.outcomes[lincheck.Reason(note)]++
		case lincheck.Failed:
			l.failed[key] = val
			l.outcomes[lincheck.Reason(note)]++
		}
		l.mu.Unlock()
		if outcome == lincheck.Failed {
			select { // do not spin while there is no leader
			case <-ctx.Done():
			case <-time.After(25 * time.Millisecond):
			}
		}
	}
}

// pauseWriters maps each register value to the op that wrote it, or tried
// to (every value is written once).
func pauseWriters(ops []*lincheck.Op) map[string]*lincheck.Op {
	w := map[string]*lincheck.Op{}
	for _, o := range ops {
		if o.Kind != lincheck.Read {
			w[o.Key+"\x00"+o.Value] = o
		}
	}
	return w
}

// checkPauseValue checks one stored value of a key under pausePrefix, at
// mod_revision mod: it was written by a write that may have been applied,
// and by an acknowledged one at the revision of its answer.
func checkPauseValue(key, value string, mod int64, writers map[string]*lincheck.Op, acks *ackLog) error {
	switch {
	case key == pauseEndKey:
		return nil
	case strings.HasPrefix(key, pauseAckPrefix):
		if a, ok := acks.acked[key]; ok {
			if value != a.value || mod != a.rev {
				return fmt.Errorf("%q = %q at mod_revision %d, but the write of %q was acknowledged at revision %d", key, value, mod, a.value, a.rev)
			}
			return nil
		}
		if v, ok := acks.unknown[key]; ok && v == value {
			return nil
		}
		if v, ok := acks.failed[key]; ok && v == value {
			return fmt.Errorf("%q = %q at mod_revision %d, but its write was not carried out", key, value, mod)
		}
		return fmt.Errorf("%q = %q at mod_revision %d was never written", key, value, mod)
	}
	o := writers[key+"\x00"+value]
	switch {
	case o == nil:
		return fmt.Errorf("%q = %q at mod_revision %d was never written", key, value, mod)
	case o.Wrote() && o.Revision != mod:
		return fmt.Errorf("%q = %q at mod_revision %d, but its write was acknowledged at revision %d: %v", key, value, mod, o.Revision, o)
	case o.Wrote(), o.Outcome == lincheck.Unknown:
		return nil
	}
	return fmt.Errorf("%q = %q at mod_revision %d, from an op that did not write it: %v", key, value, mod, o)
}

// checkPauseStore checks what m stores under pausePrefix now (query is
// appended to the listing): every acknowledged distinct write, once, at the
// revision of its answer, and nothing that was never written; each current
// register value at the revision of its write's answer.
func checkPauseStore(t *testing.T, m *member, query string, writers map[string]*lincheck.Op, acks *ackLog) {
	t.Helper()
	who := m.name + " (query " + strconv.Quote(query) + ")"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rr rangeJSON
	if err := m.getJSON(ctx, keyPath([]byte(pausePrefix))+"?prefix=true"+query, &rr); err != nil {
		t.Fatal(err)
	}
	acks.mu.Lock()
	defer acks.mu.Unlock()
	got := map[string]string{}
	bad := 0
	for _, kv := range rr.Kvs {
		k, _ := kv.key()
		v, _ := kv.value()
		key, value := string(k), string(v)
		if strings.HasPrefix(key, pauseAckPrefix) {
			got[key] = value
			if kv.Version != 1 || kv.CreateRevision != kv.ModRevision {
				t.Errorf("%s: %q written once has version %d, create_revision %d, mod_revision %d", who, key, kv.Version, kv.CreateRevision, kv.ModRevision)
			}
		}
		if err := checkPauseValue(key, value, kv.ModRevision, writers, acks); err != nil {
			if bad++; bad <= 10 {
				t.Errorf("%s: %v", who, err)
			}
		}
	}
	if bad > 10 {
		t.Errorf("%s: %d stored values are wrong", who, bad)
	}
	acked := make(map[string]string, len(acks.acked))
	for k, a := range acks.acked {
		acked[k] = a.value
	}
	checkWrites(t, who, got, acked, acks.unknown)
}

// checkPauseHistories reads the whole history under pausePrefix on each
// member with a watch from revision 1 to the end key, checks that the three
// are the same event for event, and that every acknowledged write is in it
// at the revision of its answer, and only values that were written.
func checkPauseHistories(t *testing.T, c *cluster, writers map[string]*lincheck.Op, acks *ackLog) {
	t.Helper()
	hc := streamClient(c)
	var ref *watchClient
	for _, m := range c.members {
		w := newWatchClient("the history on "+m.name, hc, pausePrefix, 1, pauseEndKey)
		if err := w.connect(m); err != nil {
			t.Fatal(err)
		}
		err := w.readToEnd(30 * time.Second)
		w.disconnect()
		if err != nil {
			t.Fatal(err)
		}
		if ref == nil {
			ref = w
			continue
		}
		checkHistory(t, w, ref.events)
	}

	acks.mu.Lock()
	defer acks.mu.Unlock()
	seen := map[string]int64{} // key and value → mod_revision
	bad := 0
	for _, e := range ref.events {
		if e.typ != "PUT" {
			bad++
			t.Errorf("%s: %v: nothing deletes under %q", ref.name, e, pausePrefix)
			continue
		}
		seen[e.key+"\x00"+e.value] = e.mod
		if err := checkPauseValue(e.key, e.value, e.mod, writers, acks); err != nil {
			if bad++; bad <= 10 {
				t.Errorf("%s: %v", ref.name, err)
			}
		}
	}
	missing := 0
	for k, a := range acks.acked {
		if _, ok := seen[k+"\x00"+a.value]; !ok {
			if missing++; missing <= 10 {
				t.Errorf("%s: the acknowledged write %q = %q (revision %d) is not in the history", ref.name, k, a.value, a.rev)
			}
		}
	}
	acked := 0
	for _, o := range writers {
		if !o.Wrote() {
			continue
		}
		acked++
		if o.Revision == 0 {
			t.Errorf("%v: answered 200 without a header revision", o)
		}
		if _, ok := seen[o.Key+"\x00"+o.Value]; !ok {
			if missing++; missing <= 10 {
				t.Errorf("%s: the acknowledged %v is not in the history", ref.name, o)
			}
		}
	}
	if bad+missing > 10 {
		t.Errorf("%s: %d wrong events, %d acknowledged writes missing", ref.name, bad, missing)
	}
	t.Logf("the history under %q: %d events up to revision %d on every member; %d acknowledged register writes and %d distinct writes in it at the revision of their answer",
		pausePrefix, len(ref.events), ref.lastID, acked, len(acks.acked))
}

// pauseConverge waits until every member reports the same revision and
// applied index, and returns that revision and how long it took. Unlike
// cluster.waitConverged it does not stop the test at the deadline: it
// fails it and returns the lowest revision, so that the checks that follow
// show how the members differ.
func pauseConverge(t *testing.T, c *cluster, timeout time.Duration) (int64, time.Duration) {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var sts []statusJSON
		var err error
		for _, m := range c.members {
			st, e := m.status(context.Background())
			if e != nil {
				err = e
				break
			}
			sts = append(sts, st)
		}
		if err == nil {
			low, same := sts[0].Revision, true
			for _, st := range sts[1:] {
				low = min(low, st.Revision)
				same = same && st.Revision == sts[0].Revision && st.AppliedIndex == sts[0].AppliedIndex
			}
			if same {
				return low, time.Since(start)
			}
			if time.Since(start) > timeout {
				var desc []string
				for _, st := range sts {
					desc = append(desc, fmt.Sprintf("%s at revision %d, applied index %d", st.Name, st.Revision, st.AppliedIndex))
				}
				t.Errorf("the members did not converge within %v: %s", timeout, strings.Join(desc, "; "))
				return low, time.Since(start)
			}
		} else if time.Since(start) > timeout {
			t.Fatalf("the members did not converge within %v: %v", timeout, err)
		}
		<-tick.C
	}
}
