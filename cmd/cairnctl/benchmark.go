package main

import (
	"context"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/cairnkv/cairn/internal/benchmark"
)

// benchmark: the flags of `cairnctl benchmark`, wired to the engine in
// internal/benchmark (its doc.go lists them with their defaults).

type benchFlags struct {
	conns, clients, total            int
	rate                             float64
	keySize, valSize, keySpaceSize   int
	keyPrefix                        string
	sequentialKeys, http2, targetLdr bool
}

func (f *benchFlags) register(fs *pflag.FlagSet) {
	fs.IntVar(&f.conns, "conns", 0, "TCP connections the clients share (0: one per client)")
	fs.IntVar(&f.clients, "clients", 1, "goroutines sending requests, one at a time each")
	fs.IntVar(&f.total, "total", benchmark.DefaultTotal, "requests to send (for watch: puts)")
	fs.Float64Var(&f.rate, "rate", 0, "requests per second over all the clients (0: as fast as they go)")
	fs.IntVar(&f.keySize, "key-size", benchmark.DefaultKeySize, "bytes of every key")
	fs.IntVar(&f.valSize, "val-size", benchmark.DefaultValSize, "bytes of every value")
	fs.IntVar(&f.keySpaceSize, "key-space-size", benchmark.DefaultKeySpaceSize, "distinct keys")
	fs.StringVar(&f.keyPrefix, "key-prefix", "", "what every key starts with")
	fs.BoolVar(&f.sequentialKeys, "sequential-keys", false, "take the keys in order instead of at random")
	fs.BoolVar(&f.http2, "http2", false, "speak HTTP/2 (h2c on http://): the clients' requests share the connections")
	fs.BoolVar(&f.targetLdr, "target-leader", false, "send every request to the leader")
}

// benchConfig returns the engine's configuration: the flags, and the global
// flags for the cluster.
func (c *cli) benchConfig(f *benchFlags) (benchmark.Config, error) {
	cfg := benchmark.Config{
		Endpoints: c.g.endpoints, TargetLeader: f.targetLdr,
		DialTimeout: c.g.dialTimeout, RequestTimeout: c.g.commandTimeout,
		Conns: f.conns, Clients: f.clients, HTTP2: f.http2, Total: f.total, Rate: f.rate,
		KeySize: f.keySize, KeyPrefix: f.keyPrefix, KeySpaceSize: f.keySpaceSize, SequentialKeys: f.sequentialKeys,
		ValSize: f.valSize,
	}
	var err error
	if cfg.TLS, err = c.tlsConfig(); err != nil {
		return cfg, err
	}
	cfg.Username, cfg.Password, err = c.credentials()
	return cfg, err
}

const benchmarkLong = `Loads the cluster of --endpoints with one kind of request, as etcd's
benchmark tool does, and reports the requests per second and the
latencies: average, percentiles, a histogram, and the errors by kind
(failed requests do not fail the command). A progress bar is drawn on
stderr when it is a terminal; -w json prints the report as JSON. Ctrl-C
stops the run and prints what it measured.

Over HTTP/1.1 (the default) a connection carries one request at a time:
--clients above --conns queue for a connection. --http2 multiplexes them,
as etcd's clients do over gRPC.`

func (c *cli) benchmarkCommand() *cobra.Command {
	var f benchFlags
	var rng benchmark.Range
	var consistency string
	var txn benchmark.TxnPut
	var watch benchmark.Watch
	var lease benchmark.LeaseKeepAlive
	sub := func(use, short, example string, args cobra.PositionalArgs, workload func(args []string) benchmark.Workload) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Example: example, Args: args,
			RunE: func(cmd *cobra.Command, args []string) error {
				return c.runBenchmark(cmd.Context(), &f, workload(args))
			},
		}
	}
	rangeCmd := sub("range [<key> [<range_end>]]", "Benchmarks reads",
		`  cairnctl benchmark put --clients 64 --total 100000 --key-space-size 100000 --sequential-keys
  cairnctl benchmark range --clients 64 --total 200000 --key-space-size 100000 --consistency s
  cairnctl benchmark range foo --clients 16 --total 50000`,
		rangeArgs(0, 2, "at most a key and a range end"),
		func(args []string) benchmark.Workload {
			w := rng
			w.Consistency = benchmark.Consistency(consistency)
			if len(args) > 0 {
				w.Key = args[0]
			}
			if len(args) > 1 {
				w.End = args[1]
			}
			return w
		})
	rangeCmd.Long = `Each request reads a key of the key space (written first by benchmark put
with the same --key-size, --key-prefix and --key-space-size), or the key
or range given.`
	rangeCmd.Flags().StringVar(&consistency, "consistency", "l", "l: linearizable reads, s: serializable (the member's own state)")
	rangeCmd.Flags().BoolVar(&rng.Prefix, "prefix", false, "read every key that starts with <key>")
	rangeCmd.Flags().Int64Var(&rng.Limit, "limit", 0, "the most keys each read returns (0: no limit)")
	rangeCmd.Flags().BoolVar(&rng.CountOnly, "count-only", false, "read the number of keys only")

	txnCmd := sub("txn-put", "Benchmarks transactions of puts",
		"  cairnctl benchmark txn-put --clients 16 --total 20000 --txn-ops 4 --key-space-size 1000",
		exactArgs(0, "no arguments"), func([]string) benchmark.Workload { return txn })
	txnCmd.Flags().IntVar(&txn.Ops, "txn-ops", 1, "puts in each transaction")

	watchCmd := sub("watch", "Benchmarks the latency from a put to its event at watchers",
		"  cairnctl benchmark watch --watchers 100 --clients 4 --rate 1000 --total 10000 --key-prefix bench/ --key-size 16 --val-size 64",
		exactArgs(0, "no arguments"), func([]string) benchmark.Workload { return watch })
	watchCmd.Long = `Watchers watch the key space while the clients put keys of it; each event's
latency runs from the start of its put to its arrival at a watcher. Values
carry the put's time: --val-size 8 or more. Give the run a key space of its
own (--key-prefix).`
	watchCmd.Flags().IntVar(&watch.Watchers, "watchers", 1, "watches of the key space")

	leaseCmd := sub("lease-keepalive", "Benchmarks lease renewals",
		"  cairnctl benchmark lease-keepalive --clients 16 --total 50000",
		exactArgs(0, "no arguments"), func([]string) benchmark.Workload { return lease })
	leaseCmd.Flags().Int64Var(&lease.TTL, "ttl", 60, "the TTL of each client's lease, in seconds")

	cmd := group(&cobra.Command{
		Use:   "benchmark",
		Short: "Measures the throughput and latencies of the cluster",
		Long:  benchmarkLong,
	},
		sub("put", "Benchmarks puts",
			"  cairnctl benchmark put --clients 64 --total 100000 --val-size 256 --key-space-size 100000\n"+
				"  cairnctl benchmark put --conns 8 --clients 64 --http2 --total 100000 --val-size 256",
			exactArgs(0, "no arguments"), func([]string) benchmark.Workload { return benchmark.Put{} }),
		rangeCmd, txnCmd, watchCmd, leaseCmd)
	f.register(cmd.PersistentFlags())
	return cmd
}

// runBenchmark runs the workload w and prints its report, also when the
// run was interrupted.
func (c *cli) runBenchmark(ctx context.Context, f *benchFlags, w benchmark.Workload) error {
	cfg, err := c.benchConfig(f)
	if err != nil {
		return err
	}
	var bar io.Writer
	if e, ok := c.err.(*os.File); ok && term.IsTerminal(int(e.Fd())) {
		bar = e
	}
	rep, err := benchmark.Run(ctx, cfg, w, bar)
	if rep == nil {
		return err // it could not start
	}
	var werr error
	if c.p.format == formatJSON {
		werr = rep.WriteJSON(c.out)
	} else {
		werr = rep.WriteText(c.out)
	}
	if err != nil {
		return err // interrupted
	}
	return werr
}
