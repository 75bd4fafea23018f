package election_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/domaintest"
	"github.com/cairnkv/cairn/internal/domain/election"
	"github.com/cairnkv/cairn/internal/domain/kv"
	"github.com/cairnkv/cairn/internal/domain/lease"
	"github.com/cairnkv/cairn/internal/domain/lock"
)

// env is a one-member world over in-memory fakes (package domaintest)
// with the election service on it.
type env struct {
	t      *testing.T
	kv     *kv.Service
	leases *lease.Service
	el     *election.Service
}

func newEnv(t *testing.T) *env {
	t.Helper()
	w := domaintest.NewWorld(t)
	e := &env{t: t, kv: w.KV, leases: w.Leases}
	e.el = election.New(lock.NewQueue(w.KV, w.Watches, w.Leases), w.KV, w.Watches)
	return e
}

func (e *env) grant() int64 {
	e.t.Helper()
	g, err := e.leases.Grant(context.Background(), 60, 0)
	if err != nil {
		e.t.Fatalf("grant: %v", err)
	}
	return g.Lease.ID
}

func (e *env) campaign(name, value string, leaseID int64) election.Leader {
	e.t.Helper()
	l, err := e.el.Campaign(context.Background(), []byte(name), []byte(value), leaseID, 0, lock.WaitForever)
	if err != nil {
		e.t.Fatalf("campaign %q for %q: %v", name, value, err)
	}
	return l
}

type outcome struct {
	l   election.Leader
	err error
}

func (e *env) campaignAsync(ctx context.Context, name, value string, leaseID int64) <-chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		l, err := e.el.Campaign(ctx, []byte(name), []byte(value), leaseID, 0, lock.WaitForever)
		ch <- outcome{l, err}
	}()
	return ch
}

func receive(t *testing.T, ch <-chan outcome) outcome {
	t.Helper()
	return domaintest.Receive(t, ch, "Campaign")
}

func pending(t *testing.T, ch <-chan outcome, who string) {
	t.Helper()
	domaintest.Pending(t, ch, who)
}

// leader returns "key=value" of the election's leader, or "" when none.
func (e *env) leader(name string) string {
	e.t.Helper()
	kv, _, err := e.el.Leader(context.Background(), []byte(name))
	if errors.Is(err, domain.ErrNotFound) {
		return ""
	}
	if err != nil {
		e.t.Fatalf("leader of %q: %v", name, err)
	}
	return fmt.Sprintf("%s=%s", kv.Key, kv.Value)
}

// candidates returns the number of candidates in the race.
func (e *env) candidates(name string) int {
	e.t.Helper()
	p := lock.Prefix([]byte(name))
	resp, _, err := e.kv.Range(context.Background(), domain.RangeRequest{Key: p, RangeEnd: append(p[:len(p)-1:len(p)-1], '0'), CountOnly: true})
	if err != nil {
		e.t.Fatal(err)
	}
	return int(resp.Count)
}

// waiting returns the Leader a candidate waiting with leaseID would get,
// read from its key in the race.
func (e *env) waiting(name string, leaseID int64) election.Leader {
	e.t.Helper()
	key := lock.Key([]byte(name), leaseID)
	resp, _, err := e.kv.Range(context.Background(), domain.RangeRequest{Key: key})
	if err != nil || len(resp.Kvs) != 1 {
		e.t.Fatalf("candidate key %q: %+v %v", key, resp, err)
	}
	return election.Leader{Name: []byte(name), Key: key, Rev: resp.Kvs[0].CreateRevision, Lease: leaseID}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func TestService_Campaign(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("ProclaimResign", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		aLease, bLease := e.grant(), e.grant()
		a := e.campaign("e", "a1", aLease)
		if string(a.Key) != string(lock.Key([]byte("e"), aLease)) || a.Rev <= 0 || a.Lease != aLease || string(a.Name) != "e" {
			t.Fatalf("leader = %+v", a)
		}
		if got, want := e.leader("e"), fmt.Sprintf("%s=a1", a.Key); got != want {
			t.Fatalf("leader = %q, want %q", got, want)
		}
		bch := e.campaignAsync(ctx, "e", "b1", bLease)
		waitFor(t, "the second candidate in the race", func() bool { return e.candidates("e") == 2 })
		pending(t, bch, "the second candidate")

		// Proclaim: the value changes, the key and rev do not.
		if err := e.el.Proclaim(ctx, a, []byte("a2")); err != nil {
			t.Fatalf("proclaim: %v", err)
		}
		kv, _, err := e.el.Leader(ctx, []byte("e"))
		if err != nil || string(kv.Key) != string(a.Key) || string(kv.Value) != "a2" || kv.CreateRevision != a.Rev {
			t.Fatalf("leader after proclaim = %+v %v, want %q=a2 created at %d", kv, err, a.Key, a.Rev)
		}
		if kv.Lease != aLease {
			t.Fatalf("proclaim changed the leader's lease to %d, want %d", kv.Lease, aLease)
		}
		pending(t, bch, "the second candidate after a proclaim")

		// A candidate that does not lead can neither proclaim nor resign.
		b := e.waiting("e", bLease)
		if err := e.el.Proclaim(ctx, b, []byte("b2")); !errors.Is(err, domain.ErrPreconditionFailed) {
			t.Fatalf("proclaim by a candidate that does not lead: %v, want ErrPreconditionFailed", err)
		}
		if _, err := e.el.Resign(ctx, b); !errors.Is(err, domain.ErrPreconditionFailed) {
			t.Fatalf("resign by a candidate that does not lead: %v, want ErrPreconditionFailed", err)
		}
		if got := e.leader("e"); got != fmt.Sprintf("%s=a2", a.Key) {
			t.Fatalf("leader = %q after the refused proclaim and resign", got)
		}

		// Resign: the next candidate leads.
		if _, err := e.el.Resign(ctx, a); err != nil {
			t.Fatalf("resign: %v", err)
		}
		o := receive(t, bch)
		if o.err != nil || string(o.l.Key) != string(b.Key) || o.l.Rev != b.Rev {
			t.Fatalf("second candidate = %+v %v, want to lead as %+v", o.l, o.err, b)
		}
		if got, want := e.leader("e"), fmt.Sprintf("%s=b1", b.Key); got != want {
			t.Fatalf("leader = %q, want %q", got, want)
		}
		// The old leader no longer leads.
		if err := e.el.Proclaim(ctx, a, []byte("a3")); !errors.Is(err, domain.ErrPreconditionFailed) {
			t.Fatalf("proclaim by the leader that resigned: %v, want ErrPreconditionFailed", err)
		}
		if _, err := e.el.Resign(ctx, a); !errors.Is(err, domain.ErrPreconditionFailed) {
			t.Fatalf("second resign: %v, want ErrPreconditionFailed", err)
		}
	})

	t.Run("LeaderLeaseRevoked", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		aLease := e.grant()
		a := e.campaign("e", "a", aLease)
		bch := e.campaignAsync(ctx, "e", "b", e.grant())
		waitFor(t, "the second candidate in the race", func() bool { return e.candidates("e") == 2 })
		if _, err := e.leases.Revoke(ctx, aLease); err != nil {
			t.Fatal(err)
		}
		if o := receive(t, bch); o.err != nil || o.l.Rev <= a.Rev {
			t.Fatalf("second candidate after the leader's lease went: %+v %v", o.l, o.err)
		}
		if err := e.el.Proclaim(ctx, a, []byte("x")); !errors.Is(err, domain.ErrPreconditionFailed) {
			t.Fatalf("proclaim by a leader whose lease went: %v, want ErrPreconditionFailed", err)
		}
	})

	t.Run("Timeout", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.campaign("e", "a", e.grant())
		bLease := e.grant()
		if _, err := e.el.Campaign(ctx, []byte("e"), []byte("b"), bLease, 0, 50*time.Millisecond); !errors.Is(err, domain.ErrLocked) {
			t.Fatalf("campaign past its wait: %v, want ErrLocked", err)
		}
		if n := e.candidates("e"); n != 1 {
			t.Fatalf("%d candidates after one gave up, want 1", n)
		}
	})

	// The wait bounds the race only: a candidate alone in it leads even
	// with a wait shorter than the writes that got it in.
	t.Run("ShortWaitUncontested", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		l, err := e.el.Campaign(ctx, []byte("e"), []byte("a"), 0, 30, time.Nanosecond)
		if err != nil || l.Lease == 0 {
			t.Fatalf("an uncontested campaign with a 1ns wait = %+v %v, want leadership", l, err)
		}
		if _, err := e.el.Campaign(ctx, []byte("e"), []byte("b"), 0, 30, 0); !errors.Is(err, domain.ErrInvalidArgument) {
			t.Fatalf("a campaign with no wait at all: %v, want invalid argument", err)
		}
	})

	t.Run("GrantedLease", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		l, err := e.el.Campaign(ctx, []byte("e"), []byte("a"), 0, 30, lock.WaitForever)
		if err != nil || l.Lease == 0 {
			t.Fatalf("campaign with a ttl = %+v %v", l, err)
		}
		// Given up: the lease it granted is revoked.
		tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if _, err := e.el.Campaign(tctx, []byte("e"), []byte("b"), 0, 30, lock.WaitForever); !errors.Is(err, domain.ErrLocked) {
			t.Fatalf("campaign with a ttl past its deadline: %v, want ErrLocked", err)
		}
		ls, _, err := e.leases.List(ctx, false)
		if err != nil || len(ls) != 1 || ls[0].ID != l.Lease {
			t.Fatalf("leases = %+v %v, want only the leader's %d", ls, err, l.Lease)
		}
	})

	// A candidate already in the race campaigns again with the same lease:
	// it keeps its place and its value is updated (package doc). The leader
	// doing so stays leader.
	t.Run("SameLeaseAgain", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		aLease := e.grant()
		a := e.campaign("e", "a1", aLease)
		again := e.campaign("e", "a2", aLease)
		if string(again.Key) != string(a.Key) || again.Rev != a.Rev {
			t.Fatalf("campaign again = %+v, want %+v", again, a)
		}
		if got := e.leader("e"); got != fmt.Sprintf("%s=a2", a.Key) {
			t.Fatalf("leader = %q, want the new value a2", got)
		}
	})

	t.Run("WaitingCandidateAgain", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		aLease, bLease := e.grant(), e.grant()
		a := e.campaign("e", "a", aLease)
		first := e.campaignAsync(ctx, "e", "b1", bLease)
		waitFor(t, "the second candidate in the race", func() bool { return e.candidates("e") == 2 })
		b := e.waiting("e", bLease)
		second := e.campaignAsync(ctx, "e", "b2", bLease)
		waitFor(t, "the second campaign to update the value", func() bool {
			select {
			case o := <-second:
				t.Fatalf("campaign again by a waiting candidate returned %+v %v, want it to keep its place and wait", o.l, o.err)
			default:
			}
			resp, _, err := e.kv.Range(ctx, domain.RangeRequest{Key: b.Key})
			return err == nil && len(resp.Kvs) == 1 && string(resp.Kvs[0].Value) == "b2"
		})
		if _, err := e.el.Resign(ctx, a); err != nil {
			t.Fatal(err)
		}
		for _, ch := range []<-chan outcome{first, second} {
			if o := receive(t, ch); o.err != nil || o.l.Rev != b.Rev {
				t.Fatalf("campaign = %+v %v, want to lead as %+v", o.l, o.err, b)
			}
		}
	})
}

// observed renders what an observer returns.
func observed(t *testing.T, o *election.Observer) string {
	t.Helper()
	s, err := next(o, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// next renders what an observer returns within timeout.
func next(o *election.Observer, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	kv, rev, err := o.Next(ctx)
	if err != nil {
		return "", fmt.Errorf("observe: %w", err)
	}
	if rev < kv.ModRevision {
		return "", fmt.Errorf("observed %q=%q at revision %d, before its mod revision %d", kv.Key, kv.Value, rev, kv.ModRevision)
	}
	return fmt.Sprintf("%s=%s", kv.Key, kv.Value), nil
}

// quiet checks that the observer has nothing more for a short while.
func quiet(t *testing.T, o *election.Observer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if kv, _, err := o.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("observer: got %q=%q %v, want nothing", kv.Key, kv.Value, err)
	}
}

func TestService_Observe(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	// The observer starts before there is a leader and reads after each
	// change.
	t.Run("EveryChange", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		o, err := e.el.Observe(ctx, []byte("e"))
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		quiet(t, o)
		aLease, bLease, cLease := e.grant(), e.grant(), e.grant()
		a := e.campaign("e", "a1", aLease)
		if got := observed(t, o); got != fmt.Sprintf("%s=a1", a.Key) {
			t.Fatalf("first leader observed = %q", got)
		}
		bch := e.campaignAsync(ctx, "e", "b", bLease)
		waitFor(t, "two candidates", func() bool { return e.candidates("e") == 2 })
		cch := e.campaignAsync(ctx, "e", "c", cLease)
		waitFor(t, "three candidates", func() bool { return e.candidates("e") == 3 })
		quiet(t, o) // other candidates joining change nothing
		if err := e.el.Proclaim(ctx, a, []byte("a2")); err != nil {
			t.Fatal(err)
		}
		if got := observed(t, o); got != fmt.Sprintf("%s=a2", a.Key) {
			t.Fatalf("after proclaim observed = %q", got)
		}
		if _, err := e.el.Resign(ctx, a); err != nil {
			t.Fatal(err)
		}
		b := receive(t, bch)
		if got := observed(t, o); got != fmt.Sprintf("%s=b", b.l.Key) {
			t.Fatalf("after resign observed = %q, want %q", got, b.l.Key)
		}
		if _, err := e.leases.Revoke(ctx, bLease); err != nil {
			t.Fatal(err)
		}
		c := receive(t, cch)
		if got := observed(t, o); got != fmt.Sprintf("%s=c", c.l.Key) {
			t.Fatalf("after the leader's lease went observed = %q, want %q", got, c.l.Key)
		}
		quiet(t, o)
	})

	// The observer starts while a candidate leads: it gets the leader first.
	t.Run("CurrentLeaderFirst", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		a := e.campaign("e", "a1", e.grant())
		o, err := e.el.Observe(ctx, []byte("e"))
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		if got := observed(t, o); got != fmt.Sprintf("%s=a1", a.Key) {
			t.Fatalf("observed first = %q", got)
		}
		quiet(t, o)
	})

	// Changes that happen before the observer reads them are all delivered,
	// in order: none is skipped because it came in the same batch as
	// another.
	t.Run("ChangesWhileNotReading", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		aLease, bLease := e.grant(), e.grant()
		a := e.campaign("e", "a1", aLease)
		o, err := e.el.Observe(ctx, []byte("e"))
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		bch := e.campaignAsync(ctx, "e", "b1", bLease)
		waitFor(t, "two candidates", func() bool { return e.candidates("e") == 2 })
		for _, v := range []string{"a2", "a3"} {
			if err := e.el.Proclaim(ctx, a, []byte(v)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.el.Resign(ctx, a); err != nil {
			t.Fatal(err)
		}
		b := receive(t, bch)
		var got []string
		for range 4 {
			s, err := next(o, time.Second)
			if err != nil {
				got = append(got, err.Error())
				break
			}
			got = append(got, s)
		}
		want := []string{
			fmt.Sprintf("%s=a1", a.Key), fmt.Sprintf("%s=a2", a.Key), fmt.Sprintf("%s=a3", a.Key), fmt.Sprintf("%s=b1", b.l.Key),
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("observed %q, want %q", got, want)
		}
	})
}
