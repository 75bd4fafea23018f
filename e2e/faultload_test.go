package e2e

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/testutil/lincheck"
)

// The traffic and the watch of faults_test.go.

// faultLoad is the traffic a fault test runs while it injects faults:
// lincheck clients that read, write and cas registers through random
// members, and a writer of distinct keys through each member.
type faultLoad struct {
	t       *testing.T
	c       *cluster
	start   time.Time
	urls    []string
	counter atomic.Int64
	clients []*lincheck.Client
	hcs     []*http.Client
	writes  []*writeLog // one writer per member, in c.members' order

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startFaultLoad(t *testing.T, c *cluster, seed uint64) *faultLoad {
	l := &faultLoad{t: t, c: c, start: time.Now()}
	for _, m := range c.members {
		l.urls = append(l.urls, m.clientURL)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	for i := range faultLinClients {
		hc := &http.Client{Timeout: faultClientWait, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
		cl := lincheck.NewClient(lincheck.Config{
			ID: i, URLs: l.urls, HTTP: hc, Start: l.start, Counter: &l.counter,
			Rand: rand.New(rand.NewPCG(seed, uint64(100+i))),
			Keys: lincheck.KeySpace{Prefix: "lin/", OpsPerEpoch: faultOpsPerEpoch, PerEpoch: faultKeysPerEpoch},
		})
		l.clients, l.hcs = append(l.clients, cl), append(l.hcs, hc)
		l.wg.Go(func() { cl.Run(ctx) })
	}
	for _, m := range c.members {
		w := newWriteLog()
		l.writes = append(l.writes, w)
		l.wg.Go(func() { w.write(ctx, t, m, "w/"+m.name+"/") })
	}
	t.Cleanup(l.halt)
	return l
}

// halt stops the traffic and waits until no request is in flight.
func (l *faultLoad) halt() {
	l.cancel()
	l.wg.Wait()
	for _, hc := range l.hcs {
		hc.CloseIdleConnections()
	}
}

// waitAcked waits until the writer of every member has had n writes sent
// after t0 acknowledged, and returns how long that took.
func (l *faultLoad) waitAcked(n int, t0 time.Time, what string) time.Duration {
	l.t.Helper()
	return waitFor(l.t, 20*time.Second, fmt.Sprintf("%d writes acknowledged through every member %s", n, what), func() error {
		for i, w := range l.writes {
			if got, _ := w.ackedSince(t0); got < n {
				return fmt.Errorf("%d acknowledged through %s", got, l.c.members[i].name)
			}
		}
		return nil
	})
}

// ackGaps returns, for the writer of each member, the longest time in
// [from, to] without an answer to one of its acknowledged writes: how long
// a client of that member was held up ("n1 2.6s n2 12ms n3 2.6s").
func (l *faultLoad) ackGaps(from, to time.Time) string {
	var out []string
	for i, w := range l.writes {
		w.mu.Lock()
		var ats []time.Time
		for _, a := range w.acks {
			if !a.answered.Before(from) && !a.answered.After(to) {
				ats = append(ats, a.answered)
			}
		}
		w.mu.Unlock()
		slices.SortFunc(ats, func(a, b time.Time) int { return a.Compare(b) })
		gap, prev := time.Duration(0), from
		for _, at := range append(ats, to) {
			gap = max(gap, at.Sub(prev))
			prev = at
		}
		out = append(out, l.c.members[i].name+" "+dur(gap))
	}
	return strings.Join(out, ", ")
}

// faultResult is what finish found.
type faultResult struct {
	ops, keys, unknown int // lincheck ops recorded, keys, ops of unknown outcome
	notLinearizable    int // keys whose history is not linearizable
	acked, lost        int // acknowledged writes of the writers, and how many a member lacks
	writeUnknown       int // writes of the writers with an unknown outcome
	rev                int64
	equal              bool // every member at rev, with the same hash at rev and rev/2
}

// finish stops the traffic, waits for every member to reach the same
// revision and checks that no acknowledged write is missing on any member,
// that the members have the same history hash, and that the lincheck
// history (with a final read of every key) is linearizable.
func (l *faultLoad) finish() faultResult {
	t := l.t
	t.Helper()
	l.halt()
	var res faultResult
	res.rev = l.c.waitConverged(30 * time.Second)

	acked, unknown, failures := map[string]string{}, map[string]string{}, map[string]int{}
	for _, w := range l.writes {
		w.mu.Lock()
		maps.Copy(acked, w.acked)
		maps.Copy(unknown, w.unknown)
		for k, n := range w.failures {
			failures[k] += n
		}
		w.mu.Unlock()
	}
	t.Logf("writers: %d writes acknowledged, %d of unknown outcome %v", len(acked), len(unknown), failures)
	res.acked, res.writeUnknown = len(acked), len(unknown)
	for _, m := range l.c.members {
		for _, query := range []string{"", "&serializable=true"} {
			got, err := m.listPrefix(context.Background(), "w/", query)
			if err != nil {
				t.Fatal(err)
			}
			lost := 0
			for k, v := range acked {
				if got[k] != v {
					lost++
				}
			}
			res.lost = max(res.lost, lost)
			checkWrites(t, m.name+" (query "+strconv.Quote(query)+")", got, acked, unknown)
		}
	}
	checkHashes(t, l.c.members, res.rev/2, res.rev)
	res.equal = sameHashes(l.c.members, res.rev/2, res.rev)

	var ops []*lincheck.Op
	reasons := map[string]int{}
	for _, cl := range l.clients {
		ops = append(ops, cl.Ops()...)
		for r, n := range cl.Reasons() {
			reasons[r] += n
		}
	}
	byKey, keys := lincheck.ByKey(ops)
	now := func() int64 { return int64(time.Since(l.start)) }
	for i, k := range keys {
		m := l.c.members[i%len(l.c.members)]
		var op *lincheck.Op
		waitFor(t, 30*time.Second, "a final read of "+k, func() error {
			op = &lincheck.Op{Client: faultLinClients, Member: i % len(l.c.members), Key: k, Kind: lincheck.Read, Call: now()}
			r, err := m.call(http.MethodGet, "/v1/kv/"+k+"?raw", nil)
			op.Return = now()
			switch {
			case err != nil:
				return err
			case r.status == http.StatusOK:
				op.Read = string(r.body)
			case r.status != http.StatusNotFound:
				return fmt.Errorf("%s: GET %s: %v", m.name, k, r)
			}
			return nil
		})
		wrote := false
		for _, o := range byKey[k] {
			wrote = wrote || o.Wrote()
		}
		if wrote && op.Read == "" {
			t.Errorf("key %s: writes were acknowledged but a final read finds it empty", k)
			res.lost++
		}
		byKey[k] = append(byKey[k], op)
	}
	for _, o := range ops {
		if o.Outcome == lincheck.Unknown {
			res.unknown++
		}
	}
	res.ops, res.keys = len(ops), len(keys)
	t.Logf("lincheck: %d ops on %d keys (the longest history %d ops), %d of unknown outcome; failures and unknown outcomes %v",
		res.ops, res.keys, lincheck.MaxOps(byKey), res.unknown, reasons)
	res.notLinearizable = lincheck.Check(t, byKey, 30*time.Second)
	return res
}

// sameHashes reports whether every member has the same history hash at
// each revision (checkHashes says which differ).
func sameHashes(ms []*member, revs ...int64) bool {
	for _, rev := range revs {
		var first uint32
		for i, m := range ms {
			h, err := m.hash(rev)
			if err != nil || h.Revision != rev {
				return false
			}
			if i > 0 && h.Hash != first {
				return false
			}
			first = h.Hash
		}
	}
	return true
}

// leaderWatch polls every member's status and records each (leader, term)
// it reports, to count the elections a fault caused.
type leaderWatch struct {
	c    *cluster
	stop chan struct{}
	done chan struct{}

	mu    sync.Mutex
	terms map[uint64]string // every term seen, and the leader named in it ("" if none)
}

func watchLeaders(t *testing.T, c *cluster) *leaderWatch {
	w := &leaderWatch{c: c, stop: make(chan struct{}), done: make(chan struct{}), terms: map[uint64]string{}}
	go w.run()
	t.Cleanup(w.halt)
	return w
}

func (w *leaderWatch) run() {
	defer close(w.done)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, m := range w.c.members {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := m.status(ctx)
			cancel()
			if err != nil {
				continue
			}
			w.mu.Lock()
			if w.terms[st.RaftTerm] == "" {
				w.terms[st.RaftTerm] = st.LeaderName
			}
			w.mu.Unlock()
		}
		select {
		case <-w.stop:
			return
		case <-tick.C:
		}
	}
}

func (w *leaderWatch) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// since returns the terms seen above term, in order, with their leaders
// ("n2@4"), or "none".
func (w *leaderWatch) since(term uint64) (n int, desc string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var ts []uint64
	for t := range w.terms {
		if t > term {
			ts = append(ts, t)
		}
	}
	slices.Sort(ts)
	var parts []string
	for _, t := range ts {
		leader := w.terms[t]
		if leader == "" {
			leader = "no leader"
		}
		parts = append(parts, fmt.Sprintf("%s@%d", leader, t))
	}
	if len(parts) == 0 {
		return 0, "none"
	}
	return len(ts), strings.Join(parts, " ")
}
