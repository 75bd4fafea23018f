package app

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/testutil/lincheck"
)

// A Jepsen-style linearizability test: concurrent clients read, write and
// compare-and-swap registers through random members while the leader is
// stopped and restarted, cut off from the majority, and a follower is cut
// off; the history is then checked per key with porcupine against a
// register model. The clients, the outcomes of their requests (after "What
// a client may assume" in README.md), the model and the report are those of
// package lincheck.

const (
	linClients      = 6
	linOpsPerEpoch  = 600 // ops before the clients move on to fresh keys
	linKeysPerEpoch = 3   // so each key sees about 200 ops
	linClientWait   = 2 * time.Second
)

// linFault is one fault, from its injection until the cluster had an
// agreed leader again with every member running and connected.
type linFault struct {
	what       string
	start, end int64
}

func TestCluster_Linearizable(t *testing.T) {
	t.Parallel()
	runFor := 12 * time.Second
	if os.Getenv("CAIRN_SOAK") != "" {
		runFor = 2 * time.Minute
		if d, err := time.ParseDuration(os.Getenv("CAIRN_SOAK")); err == nil {
			runFor = d
		}
	}
	ms := startCluster(t, 3)
	urls := make([]string, len(ms))
	for i, m := range ms {
		urls[i] = m.URL // a restarted member keeps its URL
	}
	leaderIndex(t, ms, 10*time.Second)

	start := time.Now()
	now := func() int64 { return int64(time.Since(start)) }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var counter atomic.Int64
	clients := make([]*lincheck.Client, linClients)
	hcs := make([]*http.Client, linClients)
	var wg sync.WaitGroup
	for i := range clients {
		hcs[i] = &http.Client{Timeout: linClientWait, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
		c := lincheck.NewClient(lincheck.Config{
			ID: i, URLs: urls, HTTP: hcs[i], Start: start, Counter: &counter,
			Rand: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i))),
			Keys: lincheck.KeySpace{Prefix: "lin/", OpsPerEpoch: linOpsPerEpoch, PerEpoch: linKeysPerEpoch},
		})
		clients[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Run(ctx)
		}()
	}

	// The faults, one after another, each with an agreed leader before
	// the next; the clients keep going throughout.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 99))
	hold := func() { time.Sleep(time.Duration(600+rng.IntN(600)) * time.Millisecond) }
	var faults []linFault
	others := func(i int) []*member {
		var out []*member
		for j, m := range ms {
			if j != i {
				out = append(out, m)
			}
		}
		return out
	}
	time.Sleep(500 * time.Millisecond) // some history before the first fault
	// Every kind of fault at least once, however slow the machine makes
	// each of them.
	for i := 0; time.Since(start) < runFor || i < 3; i++ {
		li := leaderIndex(t, ms, 10*time.Second)
		f := linFault{start: now()}
		switch i % 3 {
		case 0:
			old := ms[li]
			f.what = "stop leader " + old.cfg.Name
			old.stop()
			leaderIndex(t, ms, 10*time.Second) // among the two running
			hold()
			ms[li] = startMember(t, old.cfg)
			waitReady(t, ms[li].URL, 20*time.Second)
		case 1:
			f.what = "cut off leader " + ms[li].cfg.Name
			partition(t, ms, ms[li])
			leaderIndex(t, others(li), 10*time.Second)
			hold()
			partition(t, ms)
		case 2:
			fi := (li + 1 + rng.IntN(2)) % 3
			f.what = "cut off follower " + ms[fi].cfg.Name
			partition(t, ms, ms[fi])
			hold()
			partition(t, ms)
		}
		leaderIndex(t, ms, 20*time.Second)
		for _, m := range ms {
			waitReady(t, m.URL, 20*time.Second)
		}
		f.end = now()
		faults = append(faults, f)
		time.Sleep(time.Duration(200+rng.IntN(300)) * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // a quiet tail
	cancel()
	wg.Wait()
	clientsDone := now()

	// Gather the history.
	var ops []*lincheck.Op
	sent := 0
	reasons := map[string]int{}
	for i, c := range clients {
		ops = append(ops, c.Ops()...)
		sent += c.Sent()
		for r, n := range c.Reasons() {
			reasons[r] += n
		}
		hcs[i].CloseIdleConnections()
	}
	byKey, keys := lincheck.ByKey(ops)

	// A final linearizable read of every key, part of the history.
	final := &http.Client{Timeout: 10 * time.Second}
	for i, k := range keys {
		var op *lincheck.Op
		waitFor(t, 30*time.Second, "a final read of "+k, func() bool {
			op = &lincheck.Op{Client: linClients, Member: i % len(urls), Key: k, Kind: lincheck.Read, Call: now()}
			resp, err := final.Get(urls[op.Member] + "/v1/kv/" + k + "?raw")
			if err != nil {
				return false
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			op.Return = now()
			switch {
			case err != nil:
				return false
			case resp.StatusCode == http.StatusOK:
				op.Read = string(b)
			case resp.StatusCode != http.StatusNotFound:
				return false
			}
			return true
		})
		byKey[k] = append(byKey[k], op)
		// No acknowledged write is lost: the last value is one that was
		// written by an op that completed or whose outcome is unknown.
		acked := false
		for _, o := range byKey[k] {
			if o.Wrote() {
				acked = true
			}
		}
		if acked && op.Read == "" {
			t.Errorf("key %s: writes were acknowledged but a final read finds it empty", k)
		}
	}

	// Counts.
	type tally struct{ ok, unknown, failed, inFault int }
	counts := map[lincheck.Kind]*tally{lincheck.Read: {}, lincheck.Write: {}, lincheck.CAS: {}}
	inFault := func(o *lincheck.Op) bool {
		for _, f := range faults {
			if o.Call <= f.end && o.Return >= f.start {
				return true
			}
		}
		return false
	}
	casSwapped := 0
	for _, o := range ops {
		c := counts[o.Kind]
		switch o.Outcome {
		case lincheck.OK:
			c.ok++
			if inFault(o) {
				c.inFault++
			}
			if o.Swapped {
				casSwapped++
			}
		case lincheck.Unknown:
			c.unknown++
		case lincheck.Failed:
			c.failed++
		}
	}
	var faultNames []string
	for _, f := range faults {
		faultNames = append(faultNames, fmt.Sprintf("%s [%.1fs-%.1fs]", f.what, float64(f.start)/1e9, float64(f.end)/1e9))
	}
	t.Logf("%.1fs of clients, %d requests, %d ops recorded on %d keys (at most %d per key); faults (%d): %s",
		float64(clientsDone)/1e9, sent, len(ops), len(keys), lincheck.MaxOps(byKey), len(faults), strings.Join(faultNames, ", "))
	for _, k := range []lincheck.Kind{lincheck.Read, lincheck.Write, lincheck.CAS} {
		c := counts[k]
		t.Logf("%-5s: %d ok (%d during faults), %d unknown outcome, %d not carried out", k, c.ok, c.inFault, c.unknown, c.failed)
	}
	t.Logf("cas: %d swapped, %d found another value", casSwapped, counts[lincheck.CAS].ok-casSwapped)
	var rs []string
	for r, n := range reasons {
		rs = append(rs, fmt.Sprintf("%s ×%d", r, n))
	}
	sort.Strings(rs)
	t.Logf("requests not completed: %s", strings.Join(rs, "; "))
	for _, k := range []lincheck.Kind{lincheck.Read, lincheck.Write, lincheck.CAS} {
		if counts[k].inFault == 0 {
			t.Errorf("no %s completed during the faults", k)
		}
	}
	if len(faults) < 3 {
		t.Errorf("only %d faults were injected", len(faults))
	}

	// Check each key.
	lincheck.Check(t, byKey, 30*time.Second)
}
