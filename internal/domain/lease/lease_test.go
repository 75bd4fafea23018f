package lease_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/lease"
	"github.com/cairnkv/cairn/internal/ports"
	"github.com/cairnkv/cairn/internal/ports/portstest"
)

type env struct {
	t      *testing.T
	clock  *portstest.Clock
	p      *portstest.Proposer
	lessor *lease.Lessor
	svc    *lease.Service
	cancel context.CancelFunc
	done   chan struct{}
}

func newEnv(t *testing.T, cfg lease.Config) *env {
	t.Helper()
	b := portstest.NewBackend()
	p := portstest.NewProposer(b)
	clock := portstest.NewClock()
	if cfg.Extend == 0 {
		cfg.Extend = time.Second
	}
	l := lease.NewLessor(cfg, clock, p, b, func(err error) { t.Errorf("lessor: %v", err) })
	e := &env{t: t, clock: clock, p: p, lessor: l, svc: lease.NewService(l, p, b)}
	if err := l.Promote(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan struct{})
	go func() { defer close(e.done); l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-e.done })
	return e
}

func (e *env) grant(ttl int64) int64 {
	e.t.Helper()
	g, err := e.svc.Grant(context.Background(), ttl, 0)
	if err != nil {
		e.t.Fatalf("grant: %v", err)
	}
	return g.Lease.ID
}

func (e *env) put(key string, leaseID int64) {
	e.t.Helper()
	res, err := e.p.Propose(context.Background(), domain.Command{Type: domain.CmdTxn, Txn: &domain.TxnRequest{Success: []domain.Op{
		{Put: &domain.PutRequest{Key: []byte(key), Value: []byte("v"), Lease: leaseID}},
	}}})
	if err != nil || res.Err != nil {
		e.t.Fatalf("put %s: %v %v", key, err, res.Err)
	}
}

func (e *env) exists(key string) bool {
	v := e.p.Backend.View()
	defer v.End()
	rr, err := v.Range([]byte(key), nil, portsAll)
	if err != nil {
		e.t.Fatal(err)
	}
	return rr.Count == 1
}

// advance moves the fake clock once the lessor's loop waits on it, and
// waits until the loop has handled the new time (its next wait).
func (e *env) advance(d time.Duration) {
	e.t.Helper()
	waitFor(e.t, func() bool { return e.clock.Waiters() > 0 })
	e.clock.Advance(d)
	waitFor(e.t, func() bool { return e.clock.Waiters() > 0 })
}

// within waits for cond, moving the fake clock on by a millisecond per
// poll for at most budget of fake time, and fails the test when cond does
// not hold by then.
func (e *env) within(budget time.Duration, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for nudged := time.Duration(0); !cond(); {
		if nudged >= budget && time.Now().After(deadline) {
			e.t.Fatalf("timed out, the clock nudged %v past the last advance", nudged)
		}
		if nudged < budget {
			e.clock.Advance(time.Millisecond)
			nudged += time.Millisecond
		}
		time.Sleep(time.Millisecond)
	}
}

// eventually waits for cond, which advance has made due, moving the fake
// clock on by a millisecond per poll, at most the lessor loop's longest
// sleep (500 ms) and a margin in all. A loop that read the clock just
// before advance moved it has set its next timer from the new time, and a
// fake clock cannot tell that timer from the one a parked loop waits on;
// the nudges wake it, and the budget keeps a late expiry a failure.
func (e *env) eventually(cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for nudged := time.Duration(0); !cond(); {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out, the clock nudged %v past the last advance", nudged)
		}
		if nudged < 600*time.Millisecond {
			e.clock.Advance(time.Millisecond)
			nudged += time.Millisecond
		}
		time.Sleep(time.Millisecond)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLessor_Expiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lease.Config{})
	id := e.grant(5)
	e.put("svc/a", id)
	e.put("svc/b", id)
	e.advance(4 * time.Second)
	if !e.exists("svc/a") {
		t.Fatal("the key went before its lease's TTL")
	}
	e.advance(2 * time.Second)
	e.eventually(func() bool { return !e.exists("svc/a") && !e.exists("svc/b") })
	if _, err := e.svc.KeepAlive(context.Background(), id); !errors.Is(err, domain.ErrLeaseNotFound) {
		t.Fatalf("keepalive of an expired lease: %v", err)
	}
	if st := e.lessor.Stats(); st.Expired != 1 || st.Leases != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestLessor_KeepAlive(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lease.Config{})
	id := e.grant(3)
	e.put("k", id)
	for i := 0; i < 10; i++ {
		e.advance(2 * time.Second)
		ttl, err := e.svc.KeepAlive(context.Background(), id)
		if err != nil || ttl != 3 {
			t.Fatalf("keepalive %d: %d %v", i, ttl, err)
		}
	}
	if !e.exists("k") {
		t.Fatal("a lease kept alive expired")
	}
	st, err := e.svc.TimeToLive(context.Background(), id, true)
	if err != nil || st.TTL != 3 || st.GrantedTTL != 3 || len(st.Keys) != 1 {
		t.Fatalf("time to live = %+v %v", st, err)
	}
}

func TestLessor_MinTTL(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lease.Config{MinTTL: 4, MaxTTL: 100})
	g, err := e.svc.Grant(context.Background(), 1, 0)
	if err != nil || g.Lease.TTL != 4 || g.Requested != 1 {
		t.Fatalf("short grant = %+v %v, want raised to 4", g, err)
	}
	for _, ttl := range []int64{0, -1, 101} {
		if _, err := e.svc.Grant(context.Background(), ttl, 0); !errors.Is(err, domain.ErrInvalidArgument) {
			t.Errorf("ttl %d: %v, want invalid argument", ttl, err)
		}
	}
	if _, err := e.svc.Grant(context.Background(), 10, 77); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Grant(context.Background(), 10, 77); !errors.Is(err, domain.ErrLeaseExists) {
		t.Fatalf("second grant of id 77: %v, want ErrLeaseExists", err)
	}
}

func TestLessor_Revoke(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lease.Config{})
	id := e.grant(60)
	e.put("a", id)
	e.put("b", id)
	e.put("c", 0)
	rev, err := e.svc.Revoke(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if e.exists("a") || e.exists("b") || !e.exists("c") {
		t.Fatal("revoke deleted the wrong keys")
	}
	v := e.p.Backend.View()
	rr, _ := v.Range([]byte("a"), nil, portsAt(rev-1))
	v.End()
	if rr.Count != 1 {
		t.Fatal("the keys were not deleted in one revision")
	}
	if _, err := e.svc.Revoke(context.Background(), id); !errors.Is(err, domain.ErrLeaseNotFound) {
		t.Fatalf("second revoke: %v", err)
	}
}

// TestLessor_LeaderChange checks the countdown after a leader change: a
// new leader starts from the checkpointed remaining TTL plus the
// extension, never from less; and repeated leader changes do not keep a
// dead holder's lease alive for ever.
func TestLessor_LeaderChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lease.Config{CheckpointInterval: time.Second, Extend: time.Second})
	id := e.grant(10)
	e.put("k", id)
	for i := 0; i < 20 && e.exists("k"); i++ {
		e.advance(3 * time.Second) // a checkpoint records the remaining TTL
		e.lessor.Demote()
		if err := e.lessor.Promote(); err != nil { // a new leader takes over
			t.Fatal(err)
		}
		rem, _, err := e.lessor.Remaining(id)
		if err == nil && rem > 10 {
			t.Fatalf("after a leader change the lease has %ds left, more than its TTL", rem)
		}
	}
	e.eventually(func() bool { return !e.exists("k") })
}

func TestLessor_ManyExpireTogether(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lease.Config{RevokeBatch: 100})
	ids := make([]int64, 1000)
	for i := range ids {
		ids[i] = e.grant(5)
	}
	e.advance(6 * time.Second)
	e.eventually(func() bool { return e.lessor.Stats().Expired == int64(len(ids)) })
	v := e.p.Backend.View()
	leases, _ := v.Leases()
	v.End()
	if len(leases) != 0 {
		t.Fatalf("%d leases left after they all expired", len(leases))
	}
}

func TestLessor_NotPrimary(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lease.Config{})
	id := e.grant(5)
	e.lessor.Demote()
	if _, err := e.svc.KeepAlive(context.Background(), id); !errors.Is(err, domain.ErrNotLeader) {
		t.Fatalf("keepalive on a follower: %v", err)
	}
	e.advance(10 * time.Second)
	if st := e.lessor.Stats(); st.Expired != 0 {
		t.Fatal("a demoted lessor expired a lease")
	}
}

var portsAll = ports.RangeOptions{}

func portsAt(rev int64) ports.RangeOptions { return ports.RangeOptions{Rev: rev} }

// failingProposer fails every Propose at once while fail is set, as a
// member that has lost its quorum's attention may, and counts the failures.
type failingProposer struct {
	*portstest.Proposer
	fail     atomic.Bool
	failures atomic.Int64
}

func (f *failingProposer) Propose(ctx context.Context, cmd domain.Command) (domain.Result, error) {
	if f.fail.Load() {
		f.failures.Add(1)
		return domain.Result{}, domain.ErrUnavailable
	}
	return f.Proposer.Propose(ctx, cmd)
}

// TestLessor_FailedRevokeBacksOff: a revoke of expired leases that fails is
// retried after a doubling backoff on the lessor's clock, not in a busy
// loop; the lease is revoked once proposals work again; and the lessor
// stops at once when its context ends while revokes fail.
func TestLessor_FailedRevokeBacksOff(t *testing.T) {
	t.Parallel()
	b := portstest.NewBackend()
	p := &failingProposer{Proposer: portstest.NewProposer(b)}
	clock := portstest.NewClock()
	var reported atomic.Int64
	l := lease.NewLessor(lease.Config{Extend: time.Second}, clock, p, b, func(error) { reported.Add(1) })
	svc := lease.NewService(l, p, b)
	if err := l.Promote(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("the lessor did not stop")
		}
	})
	e := &env{t: t, clock: clock, p: p.Proposer}

	g, err := svc.Grant(context.Background(), 5, 0)
	if err != nil {
		t.Fatal(err)
	}
	p.fail.Store(true)
	e.advance(6 * time.Second)
	// The grant woke the lessor, which may have read the clock just before
	// it moved, and a fake clock cannot tell the wait it abandoned from a
	// live one: then it sleeps its usual 500 ms first. Move on until the
	// first revoke attempt.
	for i := 0; p.failures.Load() == 0; i++ {
		if i == 20 {
			t.Fatal("no revoke attempt of the expired lease")
		}
		e.advance(500 * time.Millisecond)
	}
	if n := p.failures.Load(); n != 1 {
		t.Fatalf("%d revoke attempts before the clock moved on, want 1 then a wait", n)
	}
	// The backoff doubles: 50ms, then 100ms. The loop may set its backoff
	// timer just after the clock moves (the fake clock counts the timers
	// it abandoned as waiters too), so the second attempt is awaited with
	// nudges of at most 60 ms of fake time: a 50 ms backoff fires within
	// them, a 100 ms one cannot, so a third attempt would still be caught.
	e.advance(50 * time.Millisecond)
	e.within(60*time.Millisecond, func() bool { return p.failures.Load() >= 2 })
	if n := p.failures.Load(); n != 2 {
		t.Fatalf("%d attempts after the first backoff, want 2", n)
	}
	e.advance(50 * time.Millisecond)
	if n := p.failures.Load(); n != 2 {
		t.Fatalf("%d attempts half-way through the second backoff, want still 2", n)
	}
	if reported.Load() == 0 {
		t.Fatal("the failed revokes were not reported")
	}
	p.fail.Store(false)
	e.advance(time.Second)
	e.eventually(func() bool { return l.Stats().Expired == 1 })
	if _, err := svc.TimeToLive(context.Background(), g.Lease.ID, false); !errors.Is(err, domain.ErrLeaseNotFound) {
		t.Fatalf("the lease after its revoke went through: %v, want not found", err)
	}

	// Shutdown while revokes keep failing.
	if _, err := svc.Grant(context.Background(), 5, 0); err != nil {
		t.Fatal(err)
	}
	p.fail.Store(true)
	e.advance(6 * time.Second)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the lessor did not stop while its revokes failed")
	}
}

// deposedProposer is a proposer whose member has lost leadership without
// knowing it yet: its read barrier (the confirmation by a quorum) fails.
type deposedProposer struct {
	*portstest.Proposer
	deposed atomic.Bool
}

func (d *deposedProposer) ReadBarrier(ctx context.Context) error {
	if d.deposed.Load() {
		return domain.ErrNotLeader
	}
	return d.Proposer.ReadBarrier(ctx)
}

// TestLessor_RenewNeedsConfirmedLeadership: a keepalive answered by a leader
// that another member has replaced (one resuming from a pause, say) must not
// be reported as a renewal: the real leader's countdown did not restart.
func TestLessor_RenewNeedsConfirmedLeadership(t *testing.T) {
	t.Parallel()
	b := portstest.NewBackend()
	p := &deposedProposer{Proposer: portstest.NewProposer(b)}
	l := lease.NewLessor(lease.Config{Extend: time.Second}, portstest.NewClock(), p, b, nil)
	svc := lease.NewService(l, p, b)
	if err := l.Promote(); err != nil {
		t.Fatal(err)
	}
	g, err := svc.Grant(context.Background(), 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.KeepAlive(context.Background(), g.Lease.ID); err != nil {
		t.Fatalf("keepalive on a confirmed leader: %v", err)
	}
	p.deposed.Store(true)
	if _, err := svc.KeepAlive(context.Background(), g.Lease.ID); !errors.Is(err, domain.ErrNotLeader) {
		t.Fatalf("keepalive on a deposed leader: %v, want not leader", err)
	}
	if n := l.Stats().KeepAlives; n != 1 {
		t.Fatalf("%d keepalives counted, want 1 (the confirmed one)", n)
	}
}
