package benchmark

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cairnkv/cairn/client"
)

// Workload is what the clients of a run send: Put, Range, TxnPut, Watch or
// LeaseKeepAlive. Its exported fields are its options; zero values mean
// the defaults.
type Workload interface {
	// Name is the workload's name in reports, which is also its cairnctl
	// verb: "put", "range", "txn-put", "watch", "lease-keepalive".
	Name() string
	// withDefaults returns the workload with its defaults filled in, or an
	// error for options that make no sense (with cfg's).
	withDefaults(cfg *Config) (Workload, error)
	// start sets up what the workload needs before the clock starts.
	start(ctx context.Context, r *run) (*driver, error)
}

// requestFunc sends request number n of the run.
type requestFunc func(ctx context.Context, n int) error

// driver is a started workload.
type driver struct {
	// newRequester sets client id up (a lease to keep alive) and returns
	// its request function.
	newRequester func(ctx context.Context, id int, c *client.Client) (requestFunc, error)
	// finish, when set, runs once the requests are done and completes the
	// report (Watch waits for its events and puts their latencies in it).
	finish func(ctx context.Context, rep *Report)
	// cleanup, when set, undoes the setup (revokes leases, ends watches)
	// within ctx.
	cleanup func(ctx context.Context)
}

// Put puts a key of the key space with a value of Config.ValSize bytes,
// each request: etcd's "benchmark put".
type Put struct{}

// Name returns "put".
func (Put) Name() string { return "put" }

func (w Put) withDefaults(*Config) (Workload, error) { return w, nil }

func (Put) start(_ context.Context, r *run) (*driver, error) {
	return &driver{newRequester: func(_ context.Context, id int, c *client.Client) (requestFunc, error) {
		keys := r.picker(id)
		val := r.value
		return func(ctx context.Context, n int) error {
			_, err := c.Put(ctx, keys.pick(n), val)
			return err
		}, nil
	}}, nil
}

// Consistency is the consistency of a read: etcd's --consistency flag.
type Consistency string

// The consistencies of reads.
const (
	// Linearizable reads see every write acknowledged before they
	// started: the member confirms with the leader first.
	Linearizable Consistency = "l"
	// Serializable reads are served from the member's own store, which
	// may lag behind the leader.
	Serializable Consistency = "s"
)

// Range reads, each request, one key of the key space, or with Key the
// same key or range every time: etcd's "benchmark range".
type Range struct {
	// Key is the key to read; "" reads a key of the key space each
	// request (write them first, or the reads of missing keys count as
	// key_not_found errors).
	Key string `json:"key,omitempty"`
	// End makes the read a range [Key, End); Prefix, the keys that start
	// with Key ("" and Prefix: every key).
	End    string `json:"end,omitempty"`
	Prefix bool   `json:"prefix,omitempty"`
	// Consistency is Linearizable (the default) or Serializable.
	Consistency Consistency `json:"consistency"`
	// Limit caps the keys each read returns (0: no limit); CountOnly
	// returns their count only.
	Limit     int64 `json:"limit,omitempty"`
	CountOnly bool  `json:"count_only,omitempty"`
}

// Name returns "range".
func (Range) Name() string { return "range" }

func (w Range) withDefaults(*Config) (Workload, error) {
	switch w.Consistency {
	case "":
		w.Consistency = Linearizable
	case Linearizable, Serializable:
	default:
		return w, fmt.Errorf("benchmark: consistency %q: want %q (linearizable) or %q (serializable)",
			w.Consistency, Linearizable, Serializable)
	}
	if w.End != "" && w.Prefix {
		return w, errors.New("benchmark: range: an end and a prefix exclude each other")
	}
	if w.Key == "" && w.End == "" && (w.Limit != 0 || w.CountOnly) && !w.Prefix {
		return w, errors.New("benchmark: range: a limit or count-only needs a range (an end, or a prefix)")
	}
	if w.Limit < 0 {
		return w, fmt.Errorf("benchmark: range: limit %d: want a positive number (0: none)", w.Limit)
	}
	return w, nil
}

// opts returns the options of every read.
func (w Range) opts() []client.OpOption {
	var opts []client.OpOption
	if w.Consistency == Serializable {
		opts = append(opts, client.WithSerializable())
	}
	if w.End != "" {
		opts = append(opts, client.WithRange(w.End))
	}
	if w.Prefix {
		opts = append(opts, client.WithPrefix())
	}
	if w.Limit > 0 {
		opts = append(opts, client.WithLimit(w.Limit))
	}
	if w.CountOnly {
		opts = append(opts, client.WithCountOnly())
	}
	return opts
}

func (w Range) start(_ context.Context, r *run) (*driver, error) {
	opts := w.opts()
	fixed := w.Key != "" || w.End != "" || w.Prefix
	return &driver{newRequester: func(_ context.Context, id int, c *client.Client) (requestFunc, error) {
		if fixed {
			key := w.Key
			return func(ctx context.Context, _ int) error {
				_, err := c.Get(ctx, key, opts...)
				return err
			}, nil
		}
		keys := r.picker(id)
		return func(ctx context.Context, n int) error {
			_, err := c.Get(ctx, keys.pick(n), opts...)
			return err
		}, nil
	}}, nil
}

// TxnPut commits, each request, a transaction without compares that puts
// Ops keys of the key space: etcd's "benchmark txn-put".
type TxnPut struct {
	// Ops is the number of puts in each transaction (default 1).
	Ops int `json:"ops"`
}

// Name returns "txn-put".
func (TxnPut) Name() string { return "txn-put" }

func (w TxnPut) withDefaults(cfg *Config) (Workload, error) {
	if w.Ops == 0 {
		w.Ops = 1
	}
	if w.Ops < 0 {
		return w, fmt.Errorf("benchmark: txn-put: %d ops: want a positive number", w.Ops)
	}
	if w.Ops > cfg.KeySpaceSize {
		return w, fmt.Errorf("benchmark: txn-put: %d ops in a key space of %d keys: a txn may not put a key twice; raise --key-space-size", w.Ops, cfg.KeySpaceSize)
	}
	return w, nil
}

func (w TxnPut) start(_ context.Context, r *run) (*driver, error) {
	return &driver{newRequester: func(_ context.Context, id int, c *client.Client) (requestFunc, error) {
		keys := r.picker(id)
		val := r.value
		ops := make([]client.Op, w.Ops)
		ks := make([]string, w.Ops)
		return func(ctx context.Context, n int) error {
			keys.pickDistinct(ks, n)
			for j, k := range ks {
				ops[j] = client.OpPut(k, val)
			}
			_, err := c.Txn(ctx).Then(ops...).Commit()
			return err
		}, nil
	}}, nil
}

// LeaseKeepAlive renews a lease, each request: every client grants a
// lease of its own before the clock starts, renews it with KeepAliveOnce
// and revokes it at the end: etcd's "benchmark lease-keepalive".
type LeaseKeepAlive struct {
	// TTL is the leases' time to live, in seconds (default 60).
	TTL int64 `json:"ttl"`
}

// Name returns "lease-keepalive".
func (LeaseKeepAlive) Name() string { return "lease-keepalive" }

func (w LeaseKeepAlive) withDefaults(*Config) (Workload, error) {
	if w.TTL == 0 {
		w.TTL = 60
	}
	if w.TTL < 0 {
		return w, fmt.Errorf("benchmark: lease-keepalive: TTL %d: want a positive number of seconds", w.TTL)
	}
	return w, nil
}

func (w LeaseKeepAlive) start(_ context.Context, r *run) (*driver, error) {
	leases := make([]client.LeaseID, r.cfg.Clients)
	clients := make([]*client.Client, r.cfg.Clients)
	return &driver{
		newRequester: func(ctx context.Context, id int, c *client.Client) (requestFunc, error) {
			g, err := c.Grant(ctx, w.TTL)
			if err != nil {
				return nil, fmt.Errorf("benchmark: grant a lease: %w", err)
			}
			leases[id], clients[id] = g.ID, c
			return func(ctx context.Context, _ int) error {
				_, err := c.KeepAliveOnce(ctx, g.ID)
				return err
			}, nil
		},
		cleanup: func(ctx context.Context) {
			// Best effort: a lease left behind expires a TTL later.
			for i, id := range leases {
				if id != 0 {
					ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
					_, _ = clients[i].Revoke(ctx, id)
					cancel()
				}
			}
		},
	}, nil
}
