package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3lock/v3lockpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The clientv3 workloads of etcd_concurrency_test.go. Each worker loops
// until the stop context ends, retries what etcd's clients may retry
// (Unavailable, no leader, timeouts: the outcome of a write is then
// unknown) and records every write it makes under a key of its own (a
// marker) in the same txn, so that the test can tell, at the end, which
// writes were applied: acknowledged ones must all be, unknown ones may
// be, and nothing else may.

// Keys of the workloads.
const (
	mutexName     = "/e2e/mutex"
	mutexCounter  = "/e2e/mutex-counter"
	mutexMarks    = "/e2e/mutex-marks/"
	electionName  = "/e2e/election"
	electionCount = "/e2e/election-counter"
	electionMarks = "/e2e/election-marks/"
	stmAccounts   = "/e2e/accounts/"
	stmMarks      = "/e2e/stm-marks/"
	plainPrefix   = "/e2e/plain/"
	sessionTTL    = 10 // seconds: well above a failover
	opTimeout     = 10 * time.Second
)

// ledger records the outcome of a workload's writes, by marker key.
type ledger struct {
	mu      sync.Mutex
	acked   map[string]string // marker -> value written with it
	unknown map[string]bool
	errs    []error // errors no client may retry: the test fails
	retries atomic.Int64
	lost    atomic.Int64 // sessions that ended under a worker
}

func newLedger() *ledger { return &ledger{acked: map[string]string{}, unknown: map[string]bool{}} }

func (l *ledger) ack(marker, value string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acked[marker] = value
}

func (l *ledger) maybe(marker string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unknown[marker] = true
}

func (l *ledger) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, err)
}

// count is how many writes were acknowledged.
func (l *ledger) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// etcdRetryable reports whether a client may try err's call again: the
// member it reached is gone or has no leader, the outcome is unknown, or
// our own deadline passed. For a write it means the outcome is unknown.
func etcdRetryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code() == codes.Unavailable || ee.Code() == codes.DeadlineExceeded
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	return false
}

// sessionGone reports whether err says the session's lease is no more.
func sessionGone(err error) bool {
	return errors.Is(err, rpctypes.ErrLeaseNotFound) || errors.Is(err, concurrency.ErrSessionExpired)
}

// worker is what every workload shares: its client, ledger and stop.
type worker struct {
	id   string
	cli  *clientv3.Client
	led  *ledger
	stop context.Context
	seq  int
}

// opCtx bounds one call; it ends early when the test stops the worker.
func (w *worker) opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(w.stop, opTimeout)
}

// done reports whether the worker should stop.
func (w *worker) done() bool { return w.stop.Err() != nil }

// check records err unless it may be retried; it reports whether the
// worker may go on. Before a retry it backs off a little (a cluster
// without a leader answers at once).
func (w *worker) check(what string, err error) bool {
	if err == nil || etcdRetryable(err) || w.done() {
		if err != nil {
			w.led.retries.Add(1)
			w.backoff()
		}
		return true
	}
	w.led.fail(fmt.Errorf("%s: %s: %w", w.id, what, err))
	return false
}

// backoff waits before a retry, or until the worker is stopped.
func (w *worker) backoff() {
	select {
	case <-time.After(time.Duration(20+rand.IntN(30)) * time.Millisecond):
	case <-w.stop.Done():
	}
}

// session opens a session, retrying until it works or the worker stops.
func (w *worker) session() *concurrency.Session {
	for !w.done() {
		// The grant is bounded by the stop: the session's context is also
		// the life of its keep-alives.
		s, err := concurrency.NewSession(w.cli, concurrency.WithTTL(sessionTTL), concurrency.WithContext(w.stop))
		if err == nil {
			return s
		}
		if !w.check("new session", err) {
			return nil
		}
	}
	return nil
}

// settle runs a write whose repetition is harmless (a delete, a guarded
// delete) until it is acknowledged, for up to a minute, whatever the
// stop: a holder must let go.
func (w *worker) settle(what string, write func(ctx context.Context) error) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		err := write(ctx)
		cancel()
		if err == nil || !etcdRetryable(err) {
			if err != nil {
				w.led.fail(fmt.Errorf("%s: %s: %w", w.id, what, err))
			}
			return
		}
		w.led.retries.Add(1)
		time.Sleep(50 * time.Millisecond) // a back-off: the cluster may have no leader yet
	}
	w.led.fail(fmt.Errorf("%s: %s: not acknowledged within a minute", w.id, what))
}

// guardedIncrement reads counter and, in one txn guarded by guard (the
// caller still holds the lock or leads), writes it one higher and a new
// marker. It returns false when the guard failed (the caller lost the
// lock) or the read did not succeed.
func (w *worker) guardedIncrement(counter, marks string, guard clientv3.Cmp) (ok bool) {
	ctx, cancel := w.opCtx()
	defer cancel()
	g, err := w.cli.Get(ctx, counter)
	if err != nil {
		w.check("read "+counter, err)
		return false
	}
	n := 0
	if len(g.Kvs) == 1 {
		if n, err = strconv.Atoi(string(g.Kvs[0].Value)); err != nil {
			w.led.fail(fmt.Errorf("%s: %s holds %q", w.id, counter, g.Kvs[0].Value))
			return false
		}
	}
	w.seq++
	marker := fmt.Sprintf("%s%s-%d", marks, w.id, w.seq)
	value := strconv.Itoa(n + 1)
	r, err := w.cli.Txn(ctx).If(guard).Then(clientv3.OpPut(counter, value), clientv3.OpPut(marker, value)).Commit()
	switch {
	case err != nil:
		w.led.maybe(marker)
		w.check("increment "+counter, err)
		return false
	case !r.Succeeded:
		return false
	}
	w.led.ack(marker, value)
	return true
}

// runMutex takes clientv3's Mutex, increments the counter under it, and
// unlocks, until stopped. After a write whose outcome is unknown it
// unlocks before anything else: that write, if it is ever applied, is
// applied before the unlock, while the lock was still held.
func (w *worker) runMutex() {
	for !w.done() {
		s := w.session()
		if s == nil {
			return
		}
		m := concurrency.NewMutex(s, mutexName)
		for !w.done() {
			ctx, cancel := w.opCtx()
			err := m.Lock(ctx)
			cancel()
			if sessionGone(err) {
				w.led.lost.Add(1)
				break
			}
			if err != nil {
				if !w.check("lock", err) {
					return
				}
				continue
			}
			w.guardedIncrement(mutexCounter, mutexMarks, m.IsOwner())
			key := m.Key()
			w.settle("unlock", func(ctx context.Context) error { _, err := w.cli.Delete(ctx, key); return err })
		}
		closeSession(s)
	}
}

// runV3Lock does what runMutex does through etcd's v3lock service, on the
// same lock: the two kinds of holder exclude each other.
func (w *worker) runV3Lock() {
	lc := v3lockpb.NewLockClient(w.cli.ActiveConnection())
	for !w.done() {
		s := w.session()
		if s == nil {
			return
		}
		for !w.done() {
			ctx, cancel := w.opCtx()
			r, err := lc.Lock(ctx, &v3lockpb.LockRequest{Name: []byte(mutexName), Lease: int64(s.Lease())})
			cancel()
			if err != nil {
				if errors.Is(rpctypes.Error(err), rpctypes.ErrLeaseNotFound) {
					w.led.lost.Add(1)
					break
				}
				if !w.check("v3lock lock", err) {
					return
				}
				continue
			}
			key := string(r.Key)
			w.guardedIncrement(mutexCounter, mutexMarks, clientv3.Compare(clientv3.CreateRevision(key), ">", 0))
			w.settle("v3lock unlock", func(ctx context.Context) error {
				_, err := lc.Unlock(ctx, &v3lockpb.UnlockRequest{Key: []byte(key)})
				return err
			})
		}
		closeSession(s)
	}
}

// runCampaign campaigns with clientv3's Election, increments the election
// counter while it leads (guarded by its leader key), proclaims a new
// value and resigns, until stopped.
func (w *worker) runCampaign(values *sync.Map) {
	for !w.done() {
		s := w.session()
		if s == nil {
			return
		}
		e := concurrency.NewElection(s, electionName)
		for !w.done() {
			w.seq++
			value := fmt.Sprintf("%s-%d", w.id, w.seq)
			values.Store(value, true)
			ctx, cancel := w.opCtx()
			err := e.Campaign(ctx, value)
			cancel()
			if sessionGone(err) {
				w.led.lost.Add(1)
				break
			}
			if err != nil {
				if !w.check("campaign", err) {
					return
				}
				continue
			}
			key, rev := e.Key(), e.Rev()
			guard := clientv3.Compare(clientv3.CreateRevision(key), "=", rev)
			if w.guardedIncrement(electionCount, electionMarks, guard) {
				proclaimed := value + "-p"
				values.Store(proclaimed, true)
				ctx, cancel := w.opCtx()
				err := e.Proclaim(ctx, proclaimed)
				cancel()
				if err != nil && !errors.Is(err, concurrency.ErrElectionNotLeader) {
					w.check("proclaim", err)
				}
			}
			// Resign is a guarded delete; clientv3's Resign forgets the key
			// even when it fails, so it is retried here as what it is.
			w.settle("resign", func(ctx context.Context) error {
				_, err := w.cli.Txn(ctx).If(guard).Then(clientv3.OpDelete(key)).Commit()
				return err
			})
		}
		closeSession(s)
	}
}

// runSTM moves random amounts between the accounts in STM transactions;
// each writes its marker, so that the test finds the transfers applied.
func (w *worker) runSTM(accounts int) {
	for !w.done() {
		from, to := rand.IntN(accounts), rand.IntN(accounts-1)
		if to >= from {
			to++
		}
		amount := 1 + rand.IntN(10)
		w.seq++
		marker := fmt.Sprintf("%s%s-%d", stmMarks, w.id, w.seq)
		ctx, cancel := w.opCtx()
		_, err := concurrency.NewSTM(w.cli, func(s concurrency.STM) error {
			fk, tk := stmAccounts+strconv.Itoa(from), stmAccounts+strconv.Itoa(to)
			f, ferr := strconv.Atoi(s.Get(fk))
			t, terr := strconv.Atoi(s.Get(tk))
			if ferr != nil || terr != nil {
				return fmt.Errorf("accounts %q and %q hold %q and %q", fk, tk, s.Get(fk), s.Get(tk))
			}
			moved := min(amount, f)
			s.Put(fk, strconv.Itoa(f-moved))
			s.Put(tk, strconv.Itoa(t+moved))
			s.Put(marker, strconv.Itoa(moved))
			return nil
		}, concurrency.WithAbortContext(ctx))
		cancel()
		if err != nil {
			w.led.maybe(marker)
			if !w.check("stm", err) {
				return
			}
			continue
		}
		w.led.ack(marker, "")
	}
}

// runPlain puts keys of its own, one after the other.
func (w *worker) runPlain() {
	for !w.done() {
		w.seq++
		key := fmt.Sprintf("%s%s-%d", plainPrefix, w.id, w.seq)
		ctx, cancel := w.opCtx()
		_, err := w.cli.Put(ctx, key, strconv.Itoa(w.seq))
		cancel()
		if err != nil {
			w.led.maybe(key)
			if !w.check("put", err) {
				return
			}
			continue
		}
		w.led.ack(key, strconv.Itoa(w.seq))
	}
}

// closeSession revokes a session's lease, on a deadline of its own (an
// expiry takes over if it fails).
func closeSession(s *concurrency.Session) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.Orphan()
	_, _ = s.Client().Revoke(ctx, s.Lease())
}
