package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The fault tests: a member whose disk stalls and a member whose clock
// jumps, injected through the failpoints of the test build
// (failpoint_test.go), while clients read, write and compare-and-swap
// through every member. At the end every acknowledged write must be on
// every member, the members must have the same revision and the same
// history hash, and the clients' history must be linearizable (package
// lincheck).
//
// Each run logs its seed as CAIRN_SEED=N (set it to replay the run's
// choices) and, last, one FAULT-SUMMARY line that e2e/fault-runs.sh
// tabulates. They run alone: their timings would suffer from a cluster
// next door. CAIRN_SOAK=1 repeats the faults five times. The traffic they
// run and the watch of elections are in faultload_test.go.

const (
	faultLinClients   = 4
	faultOpsPerEpoch  = 400 // ops before the lincheck clients move on to fresh keys
	faultKeysPerEpoch = 3
	faultClientWait   = 8 * time.Second // above a 5 s stall: fewer unknown outcomes
)

// faultSeed returns the seed of the test's random choices: CAIRN_SEED when
// it is set, to replay a run, and a fresh one otherwise. It logs it.
func faultSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CAIRN_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CAIRN_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("CAIRN_SEED=%d", seed)
	return seed
}

// faultRounds is how many times a test injects its faults: once, five
// times under CAIRN_SOAK.
func faultRounds() int {
	if os.Getenv("CAIRN_SOAK") != "" {
		return 5
	}
	return 1
}

// TestCluster_DiskStall stalls the disk of the leader for 2 to 5 seconds,
// then the disk of a follower: every durable write of the member (Raft log
// appends, its term and vote, the commits of the MVCC store) waits until
// the stall ends. Writes go on through every member throughout. No
// acknowledged write may be lost, every member must end with the same
// revision and hash, and the history must be linearizable. The test reports
// the elections each stall caused, how long the writers were held up and
// how soon writes flowed again.
//
// What to expect: the cluster keeps its leader. A leader whose disk
// stalls still sends heartbeats (from its replication goroutines), so no
// follower stands for election; but it commits nothing until its log
// append returns, or, when the first write to stall is a store commit, it
// applies nothing and its clients, waiting for their applies, send nothing
// new: every client waits out the stall. A follower whose disk stalls
// answers no AppendEntries meanwhile and the two others commit without it;
// a write through it (forwarded to the leader) is not held up, a
// linearizable read through it waits for its apply.
func TestCluster_DiskStall(t *testing.T) {
	seed := faultSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	begin := time.Now()
	c := newCluster(t, 3)
	c.leader()
	watch := watchLeaders(t, c)
	load := startFaultLoad(t, c, seed)
	load.waitAcked(20, begin, "before the first stall")
	<-time.After(time.Second) // some history before the fault

	var stalls []string
	elections := 0
	for round := range faultRounds() {
		for _, role := range []string{"leader", "follower"} {
			leader := c.leader()
			target := leader
			if role == "follower" {
				target = c.others(leader)[rng.IntN(2)]
			}
			d := time.Duration(2000+rng.IntN(3001)) * time.Millisecond
			var before stallStateJSON
			target.mustFailpoint(http.MethodGet, "disk-stall", "", &before)
			term := raftTerm(c.members)
			t0 := time.Now()
			target.stallDisk(d)
			<-time.After(d) // the length of the fault
			hits := target.unstallDisk()
			t1 := time.Now()
			flowing := load.waitAcked(5, t1, fmt.Sprintf("after the stall of %s's disk", target.name))
			gaps := load.ackGaps(t0, t1.Add(flowing))
			n, terms := watch.since(term)
			elections += n
			stalled := map[string]int64{}
			for site, h := range hits {
				stalled[site] = h - before.Hits[site]
			}
			t.Logf("round %d: stalled the disk of the %s %s for %v: writes stalled %v; the writer of each member held up at most: %s; 5 writes acknowledged through every member %v after the stall; elections: %s",
				round+1, role, target.name, d, stalled, gaps, dur(flowing), terms)
			stalls = append(stalls, fmt.Sprintf("%s:%v", role, d.Round(100*time.Millisecond)))
			// Which write stalls first depends on timing: a log append, or
			// a store commit (the clients then wait for its apply and send
			// nothing new to append). Either holds up the rest.
			if stalled["raft-log"]+stalled["raft-stable"]+stalled["state"] == 0 {
				t.Errorf("the stall of %s's disk held no write: %v", target.name, stalled)
			}
			<-time.After(time.Second) // some history between the faults
		}
	}
	<-time.After(300 * time.Millisecond) // a quiet tail
	res := load.finish()
	t.Logf("FAULT-SUMMARY fault=disk-stall seed=%d ok=%t linearizable=%t lincheck_ops=%d unknown=%d acked=%d lost=%d equal=%t rev=%d elections=%d faults=%s took=%v",
		seed, !t.Failed(), res.notLinearizable == 0, res.ops, res.unknown+res.writeUnknown, res.acked, res.lost, res.equal, res.rev,
		elections, strings.Join(stalls, ","), dur(time.Since(begin)))
}

// keptLease is a lease with a key, kept alive by a holder.
type keptLease struct {
	id  int64
	key string
	h   *holder
}

// keepLeases grants a lease of ttl seconds through each member, attaches
// a key to it and keeps it alive through the same member.
func keepLeases(t *testing.T, c *cluster, prefix string, ttl int64) []keptLease {
	t.Helper()
	var out []keptLease
	for _, m := range c.members {
		id := grantLeaseVia(t, m, ttl)
		key := fmt.Sprintf("%s%s/%x", prefix, m.name, id)
		putWithLease(t, m, key, "kept", id)
		out = append(out, keptLease{id: id, key: key, h: startHolder(t, m, id, 500*time.Millisecond)})
	}
	return out
}

// abandonedLease is a lease with a key that nobody keeps alive.
type abandonedLease struct {
	id                int64
	key               string
	sent, granted     time.Time // when the grant was asked for and answered
	termAtGrant       uint64
	grantedThrough    string
	ttl               int64
	expiredAfterGrant time.Duration // set by waitExpired: from the grant's answer to the last member without the key
}

func abandonLease(t *testing.T, c *cluster, m *member, prefix string, ttl int64) *abandonedLease {
	t.Helper()
	a := &abandonedLease{termAtGrant: raftTerm(c.members), grantedThrough: m.name, ttl: ttl, sent: time.Now()}
	a.id = grantLeaseVia(t, m, ttl)
	a.granted = time.Now()
	a.key = fmt.Sprintf("%s%x", prefix, a.id)
	putWithLease(t, m, a.key, "abandoned", a.id)
	// goneTimes takes a member without the key for one that dropped it:
	// wait until every member has applied the put.
	waitFor(t, 10*time.Second, fmt.Sprintf("%q on every member", a.key), func() error {
		for _, m := range c.members {
			if held, err := keyHeld(m, a.key, a.id); err != nil || !held {
				return fmt.Errorf("%s: %q held %t (%v)", m.name, a.key, held, err)
			}
		}
		return nil
	})
	return a
}

// waitExpired waits until the lease's key is gone from every member and
// checks that it went no sooner than the TTL after the grant was asked for,
// and no later than the TTL plus slack after its answer (unless the leader
// changed meanwhile, which restarts the countdown).
func (a *abandonedLease) waitExpired(t *testing.T, c *cluster, slack time.Duration, what string) {
	t.Helper()
	limit := time.Duration(a.ttl)*time.Second + slack
	gone := goneTimes(t, c.members, a.key, a.id, limit+10*time.Second)
	first, last := firstLast(gone)
	a.expiredAfterGrant = last.Sub(a.granted)
	if early := first.Sub(a.sent); early < time.Duration(a.ttl)*time.Second {
		t.Errorf("%s: lease %d of TTL %ds expired %v after its grant was asked for", what, a.id, a.ttl, dur(early))
	}
	checkUpperBound(t, c.members, a.termAtGrant, a.expiredAfterGrant, limit, what)
}

// settledLease waits until the key of a kept lease is held on every member
// or gone from every member (they apply a revoke at slightly different
// times), and reports which.
func settledLease(t *testing.T, c *cluster, k keptLease) (held bool) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("the members to agree on lease %d", k.id), func() error {
		n := 0
		for _, m := range c.members {
			h, err := keyHeld(m, k.key, k.id)
			if err != nil {
				return err
			}
			if h {
				n++
			}
		}
		if n != 0 && n != len(c.members) {
			return fmt.Errorf("%q is held on %d of %d members", k.key, n, len(c.members))
		}
		held = n == len(c.members)
		return nil
	})
	return held
}

// checkKept checks that every kept lease is alive, its key on every member,
// and that its holder never got an answer but 200 (or a retryable one).
func checkKept(t *testing.T, c *cluster, kept []keptLease, ttl int64, t0 time.Time, what string) {
	t.Helper()
	for _, k := range kept {
		t.Logf("%s: keepalives of lease %d through %s: %s", what, k.id, k.h.m.name, k.h.check(t, ttl, t0))
		for _, m := range c.members {
			held, err := keyHeld(m, k.key, k.id)
			if err != nil || !held {
				t.Errorf("%s: %s: lease %d kept alive lost its key %q (held %v, %v)", what, m.name, k.id, k.key, held, err)
			}
		}
	}
}

// TestCluster_ClockJump makes the clock of one member jump, forward and
// back, while leases are kept alive, abandoned leases count down, and
// clients write through every member. The jump moves the clock the
// member's lessor keeps its deadlines with (the failpoint clock-jump:
// time.Now() plus an offset, monotonic reading included, which is what a
// process resumed after a pause sees). Raft's own timers do not see it.
//
// A follower's clock jumps forward by J (10 to 30 s) and back: nothing
// may happen, since only the leader's lessor keeps deadlines. The leases
// kept alive stay, and a lease abandoned before the jumps expires on time.
//
// The leader's clock jumps forward by J: the time counts as passed, as it
// would after a pause of J. A lease abandoned just before expires at the
// lessor's next check (within 500 ms), TTL or not; a lease kept alive
// expires too unless a keepalive renews it before that check. etcd's
// lessor does the same. The test checks that whatever expires does so
// cleanly (the revoke goes through Raft, every member drops the key, the
// holder gets 404 lease_not_found) and that whatever survives is alive
// on every member, and reports which.
//
// The leader's clock then jumps back by J: the leases kept alive stay, and
// a lease abandoned just before the jump expires its TTL after its grant,
// not J later: the lessor's time never runs backwards
// (internal/domain/lease/steady.go).
func TestCluster_ClockJump(t *testing.T) {
	seed := faultSeed(t)
	rng := rand.New(rand.NewPCG(seed, 2))
	const ttl = 3
	slack := 1500 * time.Millisecond // the lessor's 500 ms rhythm, a revoke through Raft, polling
	begin := time.Now()
	c := newCluster(t, 3)
	c.leader()
	watch := watchLeaders(t, c)
	load := startFaultLoad(t, c, seed)
	load.waitAcked(20, begin, "before the first jump")
	<-time.After(time.Second) // some history before the fault
	term := raftTerm(c.members)

	var jumps []string
	early, keptExpired, keptTotal := 0, 0, 0
	for round := range faultRounds() {
		jump := time.Duration(10+rng.IntN(21)) * time.Second
		leader := c.leader()
		follower := c.others(leader)[rng.IntN(2)]

		// A follower's clock jumps forward, then back: nothing happens.
		kept := keepLeases(t, c, fmt.Sprintf("kept/%d/f/", round), ttl)
		t0 := time.Now()
		abandoned := abandonLease(t, c, follower, fmt.Sprintf("abandoned/%d/f/", round), ttl)
		follower.jumpClock(jump)
		<-time.After(time.Second)
		follower.jumpClock(-jump)
		abandoned.waitExpired(t, c, slack, "a lease abandoned across a follower's clock jumps")
		<-time.After(time.Second) // keepalives after the last jump
		checkKept(t, c, kept, ttl, t0, fmt.Sprintf("round %d, %s's clock +%v then back", round+1, follower.name, jump))
		t.Logf("round %d: follower %s's clock jumped +%v, then back: the abandoned lease expired %v after its grant (TTL %ds); the %d kept leases stayed",
			round+1, follower.name, jump, dur(abandoned.expiredAfterGrant), ttl, len(kept))
		jumps = append(jumps, fmt.Sprintf("follower:+%v,-%v", jump, jump))

		// The leader's clock jumps forward: a lease with less than the
		// jump to live expires at once, unless a keepalive renews it
		// before the lessor's next check.
		leader = c.leader()
		abandoned = abandonLease(t, c, leader, fmt.Sprintf("abandoned/%d/L/", round), ttl)
		// The grant woke the lessor: jump at a random point of its next
		// 500 ms wait, so that keepalives come before or after its check.
		<-time.After(time.Duration(rng.IntN(500)) * time.Millisecond)
		t1 := time.Now()
		leader.jumpClock(jump)
		gone := goneTimes(t, c.members, abandoned.key, abandoned.id, 10*time.Second)
		_, last := firstLast(gone)
		if last.Sub(t1) > slack {
			t.Errorf("round %d: a lease abandoned %v before the leader's clock jumped +%v was gone from every member only %v after the jump",
				round+1, dur(t1.Sub(abandoned.granted)), jump, dur(last.Sub(t1)))
		}
		<-time.After(time.Until(t1.Add(slack)))
		expired := 0
		for _, k := range kept {
			held := settledLease(t, c, k)
			n404, after := 0, 0
			for _, a := range k.h.snapshot() {
				switch {
				case a.status == http.StatusNotFound:
					n404++
				case a.ok() && a.sent.After(t1):
					after++
				}
			}
			switch {
			case held && n404 > 0:
				t.Errorf("lease %d is alive on every member, but its holder got 404", k.id)
			case !held:
				expired++
				k.h.halt()
				mustLeaseGone(t, leader, k.id)
			}
			t.Logf("round %d: leader %s's clock jumped +%v: lease %d, kept alive through %s: alive %t; keepalives after the jump: %d answered 200, %d 404",
				round+1, leader.name, jump, k.id, k.h.m.name, held, after, n404)
			k.h.halt()
		}
		early += 1 + expired
		keptExpired += expired
		keptTotal += len(kept)
		t.Logf("round %d: leader %s's clock jumped +%v: the abandoned lease (TTL %ds) was revoked on every member %v after the jump, %v after its grant; %d of the %d leases kept alive expired too",
			round+1, leader.name, jump, ttl, dur(last.Sub(t1)), dur(last.Sub(abandoned.granted)), expired, len(kept))

		// The leader's clock jumps back: a lease kept alive stays, and an
		// abandoned one expires on time, not J late.
		kept = keepLeases(t, c, fmt.Sprintf("kept/%d/l/", round), ttl)
		t2 := time.Now()
		abandoned = abandonLease(t, c, leader, fmt.Sprintf("abandoned/%d/l/", round), ttl)
		leader.jumpClock(-jump)
		abandoned.waitExpired(t, c, slack, "a lease abandoned before the leader's clock jumped back")
		<-time.After(time.Second)
		checkKept(t, c, kept, ttl, t2, fmt.Sprintf("round %d, leader %s's clock back by %v", round+1, leader.name, jump))
		for _, k := range kept {
			k.h.halt()
		}
		t.Logf("round %d: leader %s's clock jumped back by %v: the abandoned lease expired %v after its grant (TTL %ds); the %d kept leases stayed",
			round+1, leader.name, jump, dur(abandoned.expiredAfterGrant), ttl, len(kept))
		jumps = append(jumps, fmt.Sprintf("leader:+%v,-%v", jump, jump))
	}
	<-time.After(300 * time.Millisecond)
	res := load.finish()
	elections, terms := watch.since(term)
	t.Logf("elections during the test: %s", terms)
	t.Logf("FAULT-SUMMARY fault=clock-jump seed=%d ok=%t linearizable=%t lincheck_ops=%d unknown=%d acked=%d lost=%d equal=%t rev=%d elections=%d faults=%s expired_by_leader_jump=%d kept_expired=%d/%d took=%v",
		seed, !t.Failed(), res.notLinearizable == 0, res.ops, res.unknown+res.writeUnknown, res.acked, res.lost, res.equal, res.rev,
		elections, strings.Join(jumps, ","), early, keptExpired, keptTotal, dur(time.Since(begin)))
}
