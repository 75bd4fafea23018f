// Command lockclient is the lock client that the e2e tests run as separate
// processes (see ../lockproc_test.go). It uses only the public Go client
// (client and client/concurrency), as an application would.
//
// It holds one Session (one lease, kept alive in the background) for its
// whole life and takes the lock --name --iterations times, each time with a
// new Mutex over that session: after an Unlock its next Lock creates a new
// key at the back of the queue, so it waits behind every process that was
// already waiting (the lock is fair; the lease has nothing to do with it).
//
// Under the lock it increments the counter --counter-key only if the fence
// it holds is newer than the last one written to --fence-key, in one txn:
//
//	if value(fence-key) < my fence (20-digit zero-padded decimal)
//	   and mod_revision(counter-key) == the one just read
//	then put counter-key = counter+1, fence-key = my fence
//
// It prints, on stdout, one line per acquisition as soon as it holds the
// lock:
//
//	LOCKED <fence>
//
// then, with --hold, sleeps that long (the kill -9 test kills it then),
// and once the increment is done, just before it unlocks:
//
//	HELD <fence> <start_ns> <end_ns>
//
// where start and end are wall-clock times (Unix nanoseconds) taken right
// after Lock returned and right before Unlock is sent: the interval during
// which it held the lock for sure. It exits 0 when every iteration is done,
// and 1 with a message on stderr at the first error (a refused fenced
// increment is an error).
//
// With --mode election (the default is --mode lock, all of the above) it
// is instead a candidate of the election --name (see ../electionproc_test.go):
// over one Session (TTL --ttl, kept alive in the background) it campaigns
// with the value --value and, as soon as it leads, prints
//
//	LEADER <value> <rev>
//
// where rev is the create revision of its leader key. It then holds the
// leadership, keeping its session alive, until it is killed; with --hold,
// only that long: then it resigns, prints
//
//	RESIGNED <value> <rev>
//
// and exits 0. It exits 1 with a message on stderr if the session's lease
// is lost while it leads, or if --timeout passes first (campaigning or
// leading). --iterations, --counter-key and --fence-key do not apply.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/cairnkv/cairn/client"
	"github.com/cairnkv/cairn/client/concurrency"
)

type options struct {
	mode       string
	endpoints  []string
	name       string
	iterations int
	ttl        int64
	counterKey string
	fenceKey   string
	id         string
	hold       time.Duration
	timeout    time.Duration
	value      string
}

func main() {
	var o options
	var endpoints string
	flag.StringVar(&o.mode, "mode", "lock", "lock: take the lock --iterations times; election: campaign in the election --name")
	flag.StringVar(&endpoints, "endpoints", "", "comma-separated client URLs of the members; the first is the one used first")
	flag.StringVar(&o.name, "name", "e2e/lock", "the lock's name (election mode: the election's)")
	flag.IntVar(&o.iterations, "iterations", 1, "how many times to take the lock")
	flag.Int64Var(&o.ttl, "ttl", 5, "TTL of the session's lease, in seconds")
	flag.StringVar(&o.counterKey, "counter-key", "e2e/counter", "the shared counter (a decimal; missing means 0)")
	flag.StringVar(&o.fenceKey, "fence-key", "e2e/fence", "the newest fence written (20-digit zero-padded decimal); it must exist")
	flag.StringVar(&o.id, "id", strconv.Itoa(os.Getpid()), "this process's name in messages")
	flag.DurationVar(&o.hold, "hold", 0, "how long to hold the lock each time before the increment (election mode: to lead before resigning; 0: until killed)")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up (exit 1) after this long")
	flag.StringVar(&o.value, "value", "", "election mode: the value to proclaim (no white space; default: --id)")
	flag.Parse()
	for _, ep := range strings.Split(endpoints, ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			o.endpoints = append(o.endpoints, ep)
		}
	}
	if o.value == "" {
		o.value = o.id
	}
	if len(o.endpoints) == 0 || o.iterations < 0 || flag.NArg() != 0 ||
		(o.mode != "lock" && o.mode != "election") ||
		(o.mode == "election" && strings.ContainsFunc(o.value, unicode.IsSpace)) {
		fmt.Fprintln(os.Stderr, "usage: lockclient --endpoints URL[,URL...] [--mode lock|election] [flags]")
		flag.PrintDefaults()
		os.Exit(2)
	}
	runMode := run
	if o.mode == "election" {
		runMode = runElection
	}
	if err := runMode(o); err != nil {
		fmt.Fprintf(os.Stderr, "lockclient %s: %v\n", o.id, err)
		os.Exit(1)
	}
}

func run(o options) error {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	c, err := client.New(client.Config{Endpoints: o.endpoints})
	if err != nil {
		return err
	}
	defer c.Close()
	s, err := concurrency.NewSession(ctx, c, concurrency.WithTTL(o.ttl))
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	defer s.Close()
	for i := range o.iterations {
		if err := iteration(ctx, c, s, o); err != nil {
			return fmt.Errorf("iteration %d: %w", i, err)
		}
	}
	return nil
}

func iteration(ctx context.Context, c *client.Client, s *concurrency.Session, o options) error {
	select {
	case <-s.Done():
		return errors.New("the session's lease was lost")
	default:
	}
	m := concurrency.NewMutex(s, o.name)
	if err := m.Lock(ctx); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	start := time.Now().UnixNano()
	fence := m.Fence()
	fmt.Printf("LOCKED %d\n", fence)
	if o.hold > 0 {
		select {
		case <-time.After(o.hold):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := increment(ctx, c, o, fence); err != nil {
		return fmt.Errorf("fence %d: %w", fence, err)
	}
	end := time.Now().UnixNano()
	fmt.Printf("HELD %d %d %d\n", fence, start, end)
	if err := m.Unlock(ctx); err != nil {
		return fmt.Errorf("unlock (fence %d): %w", fence, err)
	}
	return nil
}

// runElection is --mode election: campaign, print LEADER, hold the
// leadership until killed (or for --hold, then resign).
func runElection(o options) error {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	c, err := client.New(client.Config{Endpoints: o.endpoints})
	if err != nil {
		return err
	}
	defer c.Close()
	s, err := concurrency.NewSession(ctx, c, concurrency.WithTTL(o.ttl))
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	defer s.Close()
	e := concurrency.NewElection(s, o.name)
	if err := e.Campaign(ctx, o.value); err != nil {
		return fmt.Errorf("campaign: %w", err)
	}
	rev := e.Rev()
	fmt.Printf("LEADER %s %d\n", o.value, rev)
	var hold <-chan time.Time
	if o.hold > 0 {
		t := time.NewTimer(o.hold)
		defer t.Stop()
		hold = t.C
	}
	select {
	case <-hold:
	case <-s.Done():
		return fmt.Errorf("the session's lease was lost while leading (rev %d)", rev)
	case <-ctx.Done():
		return fmt.Errorf("still leading (rev %d) at the timeout: %w", rev, ctx.Err())
	}
	if err := e.Resign(ctx); err != nil {
		return fmt.Errorf("resign (rev %d): %w", rev, err)
	}
	fmt.Printf("RESIGNED %s %d\n", o.value, rev)
	return nil
}

// pad renders a fence so that values compare as numbers.
func pad(fence int64) string { return fmt.Sprintf("%020d", fence) }

// increment reads the counter and writes counter+1 and the fence in one
// txn that holds only if the stored fence is older than this one and the
// counter did not change since it was read. A txn whose outcome is unknown
// (a broken connection, a 504) is settled by reading the fence key: this
// fence is ours alone, so finding it there means the txn was applied;
// otherwise nothing was, and the txn is sent again.
func increment(ctx context.Context, c *client.Client, o options, fence int64) error {
	mine := pad(fence)
	for attempt := 1; ; attempt++ {
		n, modRev := 0, int64(0)
		g, err := c.Get(ctx, o.counterKey)
		switch {
		case errors.Is(err, client.ErrKeyNotFound): // 0, never written
		case err != nil:
			return fmt.Errorf("read the counter: %w", err)
		case len(g.Kvs) == 1:
			modRev = g.Kvs[0].ModRevision
			if n, err = strconv.Atoi(string(g.Kvs[0].Value)); err != nil {
				return fmt.Errorf("the counter %q: %w", g.Kvs[0].Value, err)
			}
		default:
			return fmt.Errorf("read the counter: %d kvs", len(g.Kvs))
		}
		resp, err := c.Txn(ctx).
			If(client.Compare(client.Value(o.fenceKey), "<", mine),
				client.Compare(client.ModRevision(o.counterKey), "=", modRev)).
			Then(client.OpPut(o.counterKey, strconv.Itoa(n+1)), client.OpPut(o.fenceKey, mine)).
			Else(client.OpGet(o.fenceKey), client.OpGet(o.counterKey)).
			Commit()
		switch {
		case err == nil && resp.Succeeded:
			return nil
		case err == nil:
			return fmt.Errorf("the fenced increment was refused (counter read %d at mod revision %d); now %s", n, modRev, elseKVs(resp))
		case errors.Is(err, client.ErrIndeterminate) && attempt < 5 && ctx.Err() == nil:
			f, gerr := c.Get(ctx, o.fenceKey)
			if gerr != nil && !errors.Is(gerr, client.ErrKeyNotFound) {
				return fmt.Errorf("txn: %w; then reading the fence: %w", err, gerr)
			}
			if gerr == nil && len(f.Kvs) == 1 && string(f.Kvs[0].Value) == mine {
				return nil
			}
			fmt.Fprintf(os.Stderr, "lockclient %s: txn (attempt %d): %v: not applied, sending it again\n", o.id, attempt, err)
		default:
			return fmt.Errorf("txn: %w", err)
		}
	}
}

// elseKVs renders the keys the Else branch of a refused txn read.
func elseKVs(resp *client.TxnResponse) string {
	var parts []string
	for _, r := range resp.Responses {
		if r == nil || r.Get == nil {
			continue
		}
		if len(r.Get.Kvs) == 0 {
			parts = append(parts, "(missing key)")
		}
		for _, kv := range r.Get.Kvs {
			parts = append(parts, kv.String())
		}
	}
	return strings.Join(parts, ", ")
}
