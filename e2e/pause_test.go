package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/testutil/lincheck"
)

// The pause scenario: members frozen with SIGSTOP and resumed with SIGCONT
// while clients keep reading, writing and swapping through every member. A
// frozen leader wakes up believing it still leads, with its timers all due
// at once; a frozen follower wakes up with requests queued on its sockets.
// This is where hashicorp/raft's heartbeat fast path raced with the leader
// loop and members diverged.

const (
	// pauseClients register clients: the first pauseRoaming send each op to
	// a random member, the others are pinned to one member each, so that
	// some keep going while a member is frozen (a roaming client soon waits
	// on it).
	pauseClients   = 10
	pauseRoaming   = 4
	pausePrefix    = "pause/"
	pauseLinPrefix = pausePrefix + "lin/"
	pauseAckPrefix = pausePrefix + "acked/"
	pauseEndKey    = pausePrefix + "the-end"
	// pauseOpTimeout bounds each client op: longer than the longest pause,
	// so that a request queued on a frozen member is answered after it
	// resumes rather than given up.
	pauseOpTimeout = 3 * time.Second
	// pauseElection is the harness's election timeout (see newCluster).
	pauseElection = 500 * time.Millisecond
)

// pauseSettings is what the environment chooses for a run.
type pauseSettings struct {
	seed     uint64
	target   string        // leader, random or mixed (alternately the leader and a random member)
	faultFor time.Duration // how long the nemesis keeps pausing members
}

// pauseSettingsFromEnv reads CAIRN_SEED (default: the time), CAIRN_PAUSE_TARGET
// (default mixed) and CAIRN_SOAK (a duration, or anything for 2 minutes of
// faults instead of 16 s).
func pauseSettingsFromEnv(t *testing.T) pauseSettings {
	s := pauseSettings{seed: uint64(time.Now().UnixNano()), target: "mixed", faultFor: 16 * time.Second}
	if v := os.Getenv("CAIRN_SEED"); v != "" {
		seed, err := strconv.ParseUint(v, 0, 64)
		if err != nil {
			t.Fatalf("CAIRN_SEED=%q: %v", v, err)
		}
		s.seed = seed
	}
	switch v := os.Getenv("CAIRN_PAUSE_TARGET"); v {
	case "":
	case "leader", "random", "mixed":
		s.target = v
	default:
		t.Fatalf("CAIRN_PAUSE_TARGET=%q: want leader, random or mixed", v)
	}
	if v := os.Getenv("CAIRN_SOAK"); v != "" {
		s.faultFor = 2 * time.Minute
		if d, err := time.ParseDuration(v); err == nil {
			s.faultFor = d
		}
	}
	return s
}

// pauseEvent is one pause of the nemesis.
type pauseEvent struct {
	member   string
	leader   bool          // it was the leader when it was paused
	from, to time.Duration // since the start of the load
}

func (p pauseEvent) String() string {
	role := ""
	if p.leader {
		role = " (leader)"
	}
	return fmt.Sprintf("%s%s %.2fs+%.2fs", p.member, role, p.from.Seconds(), (p.to - p.from).Seconds())
}

// TestCluster_PauseLinearizable runs ten clients that read, write and
// compare-and-swap a few registers at a time through all three members
// (four through a random member per op, two pinned to each member), and a
// writer of distinct keys through each member, while a nemesis freezes one
// member every 1.5 to 3 s (the leader, a random member, or each in turn)
// for 1 to 3 election timeouts. After a quiet period it checks that:
//
//   - each register's history is linearizable (porcupine);
//   - every acknowledged write is on every member, and nothing that was
//     not carried out (503, never sent) is;
//   - the members converge to the same revision and applied index, with
//     equal history hashes;
//   - the mod_revision in each acknowledged write's answer is the one the
//     members store for that value: in the current kv, and in the complete
//     history that a watch from revision 1 replays on each member, which
//     must be the same on all three.
//
// CAIRN_SEED drives the nemesis's schedule and the clients' choices; which
// member leads is up to the cluster, so a replay repeats the schedule, not
// the exact interleaving. CAIRN_PAUSE_TARGET=leader|random|mixed chooses
// whom to pause. CAIRN_SOAK makes the faults last 2 minutes (or the
// duration it holds). pause-runs.sh runs it over many seeds.
func TestCluster_PauseLinearizable(t *testing.T) {
	begin := time.Now()
	cfg := pauseSettingsFromEnv(t)
	replay := fmt.Sprintf("CAIRN_SEED=%d CAIRN_PAUSE_TARGET=%s", cfg.seed, cfg.target)
	t.Logf("seed %d, pausing %s members for %v (replay with %s)", cfg.seed, cfg.target, cfg.faultFor, replay)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FAILED with seed %d; replay with %s go test -count=1 -run TestCluster_PauseLinearizable ./e2e/", cfg.seed, replay)
		}
	})

	c := newCluster(t, 3)
	urls := make([]string, len(c.members))
	for i, m := range c.members {
		urls[i] = m.clientURL
	}
	c.leader()

	// The load: the register clients and the writers of distinct keys.
	start := time.Now()
	ctx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopLoad()
	defer func() { // on a failure, before the load stops: a frozen member holds requests
		for _, m := range c.members {
			if m.paused() {
				m.resume()
			}
		}
	}()
	var counter atomic.Int64
	clients := make([]*lincheck.Client, pauseClients)
	hcs := make([]*http.Client, pauseClients)
	for i := range clients {
		hcs[i] = pauseHTTPClient()
		var pinned []int
		if i >= pauseRoaming {
			pinned = []int{i % len(urls)}
		}
		clients[i] = lincheck.NewClient(lincheck.Config{
			ID: i, URLs: urls, Members: pinned, HTTP: hcs[i], Start: start, Counter: &counter,
			Rand: rand.New(rand.NewPCG(cfg.seed, uint64(i))),
			Keys: lincheck.KeySpace{Prefix: pauseLinPrefix, OpsPerEpoch: 1000, PerEpoch: 4},
		})
		wg.Go(func() { clients[i].Run(ctx) })
	}
	acks := newAckLog()
	ackHC := pauseHTTPClient()
	for _, m := range c.members {
		wg.Go(func() { acks.write(ctx, t, ackHC, m, pauseAckPrefix+m.name+"/") })
	}
	waitFor(t, 10*time.Second, "the clients to begin 200 ops", func() error {
		if n := counter.Load(); n < 200 {
			return fmt.Errorf("%d ops begun", n)
		}
		return nil
	})

	// The nemesis: the same number of draws every round, whatever the
	// target, so that a seed gives the same schedule.
	nemesis := rand.New(rand.NewPCG(cfg.seed, 0xdead))
	var pauses []pauseEvent
	faultStart := time.Now()
	next := faultStart
	for i := 0; time.Since(faultStart) < cfg.faultFor; i++ {
		gap := 1500*time.Millisecond + time.Duration(nemesis.Int64N(int64(1500*time.Millisecond)))
		hold := pauseElection + time.Duration(nemesis.Int64N(int64(2*pauseElection)))
		pick := nemesis.IntN(len(c.members))
		time.Sleep(time.Until(next))
		var m *member
		isLeader := false
		if cfg.target == "leader" || cfg.target == "mixed" && i%2 == 0 {
			m, isLeader = c.leader(), true
		} else {
			m = c.members[pick]
			st, err := m.status(context.Background())
			isLeader = err == nil && st.LeaderName == m.name
		}
		next = time.Now().Add(gap)
		p := pauseEvent{member: m.name, leader: isLeader, from: time.Since(start)}
		m.pause()
		time.Sleep(hold)
		m.resume()
		p.to = time.Since(start)
		pauses = append(pauses, p)
	}
	// The quiet period: a leader that every member follows, then a second
	// of load without faults.
	c.leader()
	time.Sleep(time.Second)
	stopLoad()
	wg.Wait()
	loadFor := time.Since(start)

	// The history, with a final linearizable read of every register.
	var ops []*lincheck.Op
	sent := 0
	reasons := map[string]int{}
	for i, cl := range clients {
		ops = append(ops, cl.Ops()...)
		sent += cl.Sent()
		for r, n := range cl.Reasons() {
			reasons[r] += n
		}
		hcs[i].CloseIdleConnections()
	}
	ackHC.CloseIdleConnections()
	byKey, keys := lincheck.ByKey(ops)

	// The one-line summary, logged however the test ends from here on
	// (pause-runs.sh tabulates it).
	var rev int64
	var term uint64
	var converged time.Duration
	defer func() {
		count := map[lincheck.Outcome]int{}
		kinds := map[lincheck.Kind]int{}
		during := 0 // ops completed while a member was paused
		for _, o := range ops {
			count[o.Outcome]++
			if o.Outcome == lincheck.OK {
				kinds[o.Kind]++
				for _, p := range pauses {
					if o.Call < int64(p.to) && o.Return > int64(p.from) {
						during++
						break
					}
				}
			}
		}
		failedReads := sent - len(ops) // failed reads are not recorded
		leaderPauses := 0
		for _, p := range pauses {
			if p.leader {
				leaderPauses++
			}
		}
		var rs []string
		for r, n := range reasons {
			rs = append(rs, fmt.Sprintf("%s ×%d", r, n))
		}
		sort.Strings(rs)
		t.Logf("pauses: %v", pauses)
		t.Logf("register ops: %d reads, %d writes, %d cas completed (%d while a member was paused) on %d keys (at most %d ops on one); not completed: %s",
			kinds[lincheck.Read], kinds[lincheck.Write], kinds[lincheck.CAS], during, len(keys), lincheck.MaxOps(byKey), strings.Join(rs, "; "))
		acks.mu.Lock()
		t.Logf("distinct writes: %d acknowledged, %d unknown, %d not carried out %v", len(acks.acked), len(acks.unknown), len(acks.failed), acks.outcomes)
		acks.mu.Unlock()
		t.Logf("pause summary: seed=%d target=%s ops=%d ok=%d unknown=%d failed=%d pauses=%d (leader %d) term=%d revision=%d converged=%v load=%v test=%v",
			cfg.seed, cfg.target, sent, count[lincheck.OK], count[lincheck.Unknown], count[lincheck.Failed]+failedReads,
			len(pauses), leaderPauses, term, rev, converged.Round(time.Millisecond), loadFor.Round(time.Millisecond), time.Since(begin).Round(time.Millisecond))
	}()

	final := lincheck.NewClient(lincheck.Config{ID: pauseClients, URLs: urls, HTTP: c.hc, Start: start})
	for i, k := range keys {
		op := &lincheck.Op{Client: pauseClients, Member: i % len(urls), Key: k, Kind: lincheck.Read}
		waitFor(t, 20*time.Second, "a final read of "+k, func() error {
			final.Do(op)
			if op.Outcome != lincheck.OK {
				return fmt.Errorf("%v", op)
			}
			return nil
		})
		byKey[k] = append(byKey[k], op)
	}

	// Convergence: a last write, then every member at the same revision
	// and applied index, with the same history hash.
	putEventually(t, c.members[0], pauseEndKey, "end")
	rev, converged = pauseConverge(t, c, 15*time.Second)
	term = raftTerm(c.members) // how many elections the pauses caused, plus one
	checkHashes(t, c.members, rev/2, rev)

	// What each member stores, now and in its whole history.
	writers := pauseWriters(ops)
	for _, m := range c.members {
		for _, query := range []string{"", "&serializable=true"} {
			checkPauseStore(t, m, query, writers, acks)
		}
	}
	checkPauseHistories(t, c, writers, acks)

	// The registers' histories.
	lincheck.Check(t, byKey, 30*time.Second)

	if len(pauses) < 3 {
		t.Errorf("only %d pauses", len(pauses))
	}
	completed := map[lincheck.Kind]bool{}
	for _, o := range ops {
		completed[o.Kind] = completed[o.Kind] || o.Outcome == lincheck.OK
	}
	for _, k := range []lincheck.Kind{lincheck.Read, lincheck.Write, lincheck.CAS} {
		if !completed[k] {
			t.Errorf("no %s completed", k)
		}
	}
}

// pauseHTTPClient returns a client of its own connections whose timeout
// bounds each op.
func pauseHTTPClient() *http.Client {
	return &http.Client{
		Timeout: pauseOpTimeout,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 4,
			DisableCompression:  true,
		},
	}
}
