package e2e

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3election/v3electionpb"
	"go.uber.org/zap"
)

// TestEtcdConcurrency_LeaderKill: Go programs on etcd's clientv3 and its
// concurrency package (Session, Mutex, Election, STM), and on the v3lock
// service, run against 3 member processes while the leader is killed
// with SIGKILL and started again. Afterwards:
//
//   - the counter incremented under the lock (by Mutex and v3lock holders,
//     each increment guarded by the holder's key) equals the number of
//     increments applied: no two holders ever overlapped;
//   - the same for the counter incremented by election leaders;
//   - the STM transfers kept the sum of the accounts;
//   - every acknowledged write is there, and every write found was
//     acknowledged or had an unknown outcome;
//   - candidates that campaign at the end get exactly one leader, which
//     every member and an observer agree on.
func TestEtcdConcurrency_LeaderKill(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	eps := make([]string, len(c.members))
	for i, m := range c.members {
		eps[i] = m.clientURL
	}
	newClient := func() *clientv3.Client {
		cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.Close() })
		return cli
	}
	admin := newClient()

	const accounts, balance = 5, 100
	for i := range accounts {
		mustEtcd(t, "initial balance", func(ctx context.Context) error {
			_, err := admin.Put(ctx, stmAccounts+strconv.Itoa(i), strconv.Itoa(balance))
			return err
		})
	}

	stopCtx, stop := context.WithCancel(context.Background())
	defer stop()
	mutexes, elections, stms, plains := newLedger(), newLedger(), newLedger(), newLedger()
	var values sync.Map // every value a candidate campaigned or proclaimed with
	var wg sync.WaitGroup
	spawn := func(id string, led *ledger, run func(w *worker)) {
		w := &worker{id: id, cli: newClient(), led: led, stop: stopCtx}
		wg.Go(func() { run(w) })
	}
	for i := range 3 {
		spawn(fmt.Sprintf("mutex%d", i), mutexes, (*worker).runMutex)
		spawn(fmt.Sprintf("cand%d", i), elections, func(w *worker) { w.runCampaign(&values) })
	}
	spawn("v3lock", mutexes, (*worker).runV3Lock)
	for i := range 2 {
		spawn(fmt.Sprintf("stm%d", i), stms, func(w *worker) { w.runSTM(accounts) })
	}
	spawn("plain", plains, (*worker).runPlain)
	obs := startObserver(t, newClient(), stopCtx)

	progress := func(what string, n int) {
		t.Helper()
		base := map[*ledger]int{}
		for _, l := range []*ledger{mutexes, elections, stms, plains} {
			base[l] = l.count()
		}
		waitFor(t, 90*time.Second, what, func() error {
			for name, l := range map[string]*ledger{"mutex": mutexes, "election": elections, "stm": stms, "put": plains} {
				if got := l.count() - base[l]; got < n {
					return fmt.Errorf("%d acknowledged %s writes of %d", got, name, n)
				}
			}
			return nil
		})
	}
	progress("every workload to make progress", 10)
	leader := c.leader()
	t.Logf("killing the leader %s with SIGKILL", leader.name)
	leader.kill()
	progress("every workload to go on without the killed leader", 10)
	leader.start()
	leader.waitReady(30 * time.Second)
	progress("every workload to go on with the member back", 3)
	stop()
	waitGroup(t, &wg, 2*time.Minute, "the workers to stop")
	obs.wait(t)

	for name, l := range map[string]*ledger{"mutex": mutexes, "election": elections, "stm": stms, "put": plains} {
		for _, err := range l.errs {
			t.Errorf("%s workload: %v", name, err)
		}
		t.Logf("%s: %d acknowledged, %d unknown, %d retries, %d sessions lost", name, len(l.acked), len(l.unknown), l.retries.Load(), l.lost.Load())
	}
	c.waitConverged(30 * time.Second)

	checkCounter(t, admin, "mutex", mutexCounter, mutexMarks, mutexes)
	checkCounter(t, admin, "election", electionCount, electionMarks, elections)
	checkSTM(t, admin, accounts, balance, stms)
	checkMarkers(t, admin, "put", plainPrefix, plains)
	checkOneLeader(t, c, eps, &values, obs)
}

// mustEtcd runs a call until it succeeds, retrying what may be retried,
// for up to 30 seconds.
func mustEtcd(t *testing.T, what string, call func(ctx context.Context) error) {
	t.Helper()
	waitFor(t, 30*time.Second, what, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		err := call(ctx)
		if err != nil && !etcdRetryable(err) {
			t.Fatalf("%s: %v", what, err)
		}
		return err
	})
}

// readPrefix reads every key under prefix, linearizably, with retries.
func readPrefix(t *testing.T, cli *clientv3.Client, prefix string) map[string]string {
	t.Helper()
	out := map[string]string{}
	mustEtcd(t, "read "+prefix, func(ctx context.Context) error {
		g, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
		if err != nil {
			return err
		}
		for _, kv := range g.Kvs {
			out[string(kv.Key)] = string(kv.Value)
		}
		return nil
	})
	return out
}

// checkMarkers checks that every acknowledged write of led is under
// prefix with its value, and that every key there was acknowledged or had
// an unknown outcome. It returns what it found.
func checkMarkers(t *testing.T, cli *clientv3.Client, name, prefix string, led *ledger) map[string]string {
	t.Helper()
	found := readPrefix(t, cli, prefix)
	for k, v := range led.acked {
		if got, ok := found[k]; !ok {
			t.Errorf("%s: the acknowledged write %q is lost", name, k)
		} else if v != "" && got != v {
			t.Errorf("%s: %q holds %q, acknowledged with %q", name, k, got, v)
		}
	}
	applied := 0
	for k := range found {
		_, ok := led.acked[k]
		switch {
		case !ok && led.unknown[k]:
			applied++
		case !ok:
			t.Errorf("%s: %q was written, but never by a client", name, k)
		}
	}
	t.Logf("%s: %d acknowledged writes found; of %d with an unknown outcome, %d were applied", name, len(led.acked), len(led.unknown), applied)
	return found
}

// checkCounter checks a counter incremented under a lock: it equals the
// number of increments applied (their markers), and the markers hold
// 1, 2, … n: each increment saw all those before it. Two holders at once
// would have written the same value twice.
func checkCounter(t *testing.T, cli *clientv3.Client, name, counter, marks string, led *ledger) {
	t.Helper()
	found := checkMarkers(t, cli, name, marks, led)
	var got string
	mustEtcd(t, "read "+counter, func(ctx context.Context) error {
		g, err := cli.Get(ctx, counter)
		if err == nil && len(g.Kvs) == 1 {
			got = string(g.Kvs[0].Value)
		}
		return err
	})
	if got != strconv.Itoa(len(found)) {
		t.Errorf("%s: the counter is %q after %d increments (%d acknowledged)", name, got, len(found), len(led.acked))
	}
	values := make([]int, 0, len(found))
	for _, v := range found {
		n, _ := strconv.Atoi(v)
		values = append(values, n)
	}
	sort.Ints(values)
	for i, v := range values {
		if v != i+1 {
			t.Errorf("%s: the increments wrote %v, want 1…%d each once", name, values, len(values))
			break
		}
	}
	t.Logf("%s: counter %s after %d increments", name, got, len(found))
}

// checkSTM checks the accounts: their sum is what it was, none is
// negative, and the transfers' markers are those acknowledged (or of
// unknown outcome).
func checkSTM(t *testing.T, cli *clientv3.Client, accounts, balance int, led *ledger) {
	t.Helper()
	checkMarkers(t, cli, "stm", stmMarks, led)
	sum := 0
	for k, v := range readPrefix(t, cli, stmAccounts) {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			t.Errorf("stm: account %q holds %q", k, v)
		}
		sum += n
	}
	if sum != accounts*balance {
		t.Errorf("stm: the accounts sum to %d, want %d", sum, accounts*balance)
	}
}

// observer follows the election with clientv3's Election.Observe,
// starting it again when its channel closes (its member went away).
type observer struct {
	mu   sync.Mutex
	seen []string
	done chan struct{}
}

func startObserver(t *testing.T, cli *clientv3.Client, stop context.Context) *observer {
	o := &observer{done: make(chan struct{})}
	go func() {
		defer close(o.done)
		for stop.Err() == nil {
			s, err := concurrency.NewSession(cli, concurrency.WithTTL(sessionTTL), concurrency.WithContext(stop))
			if err != nil {
				select { // a back-off: no leader for a moment
				case <-time.After(50 * time.Millisecond):
				case <-stop.Done():
				}
				continue
			}
			for r := range concurrency.NewElection(s, electionName).Observe(stop) {
				o.mu.Lock()
				o.seen = append(o.seen, string(r.Kvs[0].Value))
				o.mu.Unlock()
			}
			closeSession(s)
		}
	}()
	return o
}

func (o *observer) values() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.seen...)
}

func (o *observer) wait(t *testing.T) {
	t.Helper()
	select {
	case <-o.done:
	case <-time.After(time.Minute):
		t.Fatal("the observer did not stop")
	}
}

// checkOneLeader checks what the observer saw during the run (values of
// candidates only), then has three candidates, each through another
// member's v3election service, campaign at once: exactly one leads, every
// member names it, and a new observer sees its value.
func checkOneLeader(t *testing.T, c *cluster, eps []string, values *sync.Map, o *observer) {
	t.Helper()
	seen := o.values()
	if len(seen) == 0 {
		t.Error("election: the observer saw no leader")
	}
	for _, v := range seen {
		if _, ok := values.Load(v); !ok {
			t.Errorf("election: the observer saw %q, a value no candidate had", v)
		}
	}
	t.Logf("election: the observer saw %d leaders and values", len(seen))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type won struct {
		i    int
		resp *v3electionpb.CampaignResponse
		err  error
	}
	wins := make(chan won, len(eps))
	var clients []*clientv3.Client
	for i, ep := range eps {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		clients = append(clients, cli)
		var lease clientv3.LeaseID
		mustEtcd(t, "grant", func(ctx context.Context) error {
			g, err := cli.Grant(ctx, 30)
			if err == nil {
				lease = g.ID
			}
			return err
		})
		go func() {
			ec := v3electionpb.NewElectionClient(cli.ActiveConnection())
			r, err := ec.Campaign(ctx, &v3electionpb.CampaignRequest{Name: []byte(electionName), Lease: int64(lease), Value: []byte("final-" + strconv.Itoa(i))})
			wins <- won{i, r, err}
		}()
	}
	var w won
	select {
	case w = <-wins:
	case <-ctx.Done():
		t.Fatal("election: no final candidate leads")
	}
	if w.err != nil {
		t.Fatalf("election: final campaign %d: %v", w.i, w.err)
	}
	want := "final-" + strconv.Itoa(w.i)
	for i, cli := range clients {
		ec := v3electionpb.NewElectionClient(cli.ActiveConnection())
		var got string
		mustEtcd(t, "leader", func(ctx context.Context) error {
			r, err := ec.Leader(ctx, &v3electionpb.LeaderRequest{Name: []byte(electionName)})
			if err == nil {
				got = string(r.Kv.Value)
			}
			return err
		})
		if got != want {
			t.Errorf("election: member %d names the leader %q, the winner is %q", i, got, want)
		}
	}
	// The others wait: their keys join the queue behind the winner.
	waitFor(t, 30*time.Second, "the other final candidates to queue behind the winner", func() error {
		qctx, qcancel := context.WithTimeout(ctx, opTimeout)
		defer qcancel()
		g, err := clients[0].Get(qctx, electionName+"/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
		if err != nil {
			return err
		}
		var keys []string
		for _, kv := range g.Kvs {
			keys = append(keys, string(kv.Key))
		}
		if len(keys) != len(eps) || keys[0] != string(w.resp.Leader.Key) {
			return fmt.Errorf("the queue is %s, want the winner %q first and the %d others behind it", strings.Join(keys, " "), w.resp.Leader.Key, len(eps)-1)
		}
		return nil
	})
	select {
	case other := <-wins:
		t.Errorf("election: candidate %d leads too (%+v %v)", other.i, other.resp, other.err)
	default:
	}
	octx, ocancel := context.WithTimeout(ctx, 20*time.Second)
	defer ocancel()
	s, err := concurrency.NewSession(clients[1], concurrency.WithContext(octx))
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := <-concurrency.NewElection(s, electionName).Observe(octx); !ok || string(r.Kvs[0].Value) != want {
		t.Errorf("election: an observer sees %+v (%v), want %q", r, ok, want)
	}
}

// waitGroup waits for wg, failing the test after timeout.
func waitGroup(t *testing.T, wg *sync.WaitGroup, timeout time.Duration, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		t.Fatalf("timed out waiting for %s", what)
	}
}
