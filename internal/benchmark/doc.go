// Package benchmark is the engine of `cairnctl benchmark`: it loads a
// Cairn cluster through the public Go client (package client) and reports
// the throughput and the latencies, as etcd's tools/benchmark does for
// etcd.
//
// # Workloads
//
//   - Put: each request puts a key of the key space.
//   - Range: each request reads a key of the key space, or a fixed key or
//     range; linearizable or serializable.
//   - TxnPut: each request commits a transaction of Ops puts.
//   - Watch: watchers watch the key space while the clients put keys;
//     the latency is from the start of a put to its event at a watcher.
//   - LeaseKeepAlive: each client grants a lease, then each request
//     renews it once.
//
// # Keys, values, connections
//
// A run's keys are Config.KeySpaceSize keys of Config.KeySize bytes:
// Config.KeyPrefix, then the key's number in decimal, zero-padded
// ("00000042"), taken at random or in order (Config.SequentialKeys).
// Values are Config.ValSize bytes. All of them are built before the clock
// starts; a request's loop takes a slice of them, reads the clock before
// and after the request, and stores the latency in a slot of a
// preallocated array: the only allocations left are the client's (and
// Watch's values, which carry the time of their put).
//
// Config.Conns is the number of TCP connections, each one a client.Client
// over a transport of its own that holds at most one connection per
// member; Config.Clients goroutines share them (client i uses connection
// i mod Conns). Over HTTP/1.1, the default, a connection carries one
// request at a time, so that 64 clients over 8 connections keep at most 8
// requests in flight (the report says so in a note); with Config.HTTP2
// the clients' requests are multiplexed over the connections, as etcd's
// over gRPC. Connection i talks to endpoint i mod n first (fails over to
// the others), spreading the load over the members; Config.TargetLeader
// sends everything to the leader.
//
// # Reports
//
// Run returns a Report: the requests that succeeded and failed, the time,
// requests per second, the fastest, slowest, average and standard
// deviation of the latencies, their 10th to 99.9th percentiles, a
// histogram, and the errors by kind (the API's error code, or
// connection_refused, deadline_exceeded, ...). WriteText prints it for
// people, WriteJSON as a stable JSON document (see WriteJSON for its
// shape).
//
// # cairnctl benchmark
//
// The commands and their flags, with their defaults (etcd's, where etcd
// has the flag):
//
//	cairnctl benchmark put             Put{}
//	cairnctl benchmark range [KEY [END]] Range{Key: KEY, End: END}
//	    --consistency l|s  (l)         Range.Consistency (Linearizable, Serializable)
//	    --prefix                       Range.Prefix
//	    --limit N  (0)                 Range.Limit
//	    --count-only                   Range.CountOnly
//	cairnctl benchmark txn-put         TxnPut{}
//	    --txn-ops N  (1)               TxnPut.Ops
//	cairnctl benchmark watch           Watch{}
//	    --watchers N  (1)              Watch.Watchers
//	cairnctl benchmark lease-keepalive LeaseKeepAlive{}
//	    --ttl SECONDS  (60)            LeaseKeepAlive.TTL
//
//	every command:
//	    --conns N  (0: one per client) Config.Conns
//	    --clients N  (1)               Config.Clients
//	    --total N  (10000)             Config.Total
//	    --rate N  (0: no limit)        Config.Rate, requests per second
//	    --key-size N  (8)              Config.KeySize
//	    --key-prefix S  ("")           Config.KeyPrefix
//	    --key-space-size N  (1)        Config.KeySpaceSize
//	    --sequential-keys              Config.SequentialKeys
//	    --val-size N  (8)              Config.ValSize
//	    --http2                        Config.HTTP2
//	    --target-leader                Config.TargetLeader
//	global flags:
//	    --endpoints                    Config.Endpoints
//	    --user, --password             Config.Username, Config.Password
//	    --cacert, --cert, --key        Config.TLS (client.NewTLSConfig)
//	    --dial-timeout                 Config.DialTimeout
//	    --command-timeout              Config.RequestTimeout (each request)
//	    -w json                        Report.WriteJSON, else Report.WriteText
//
// For example, 100,000 keys of 256 bytes written by 64 clients, each on a
// connection of its own (HTTP/1.1), then by 64 clients multiplexed over 8
// HTTP/2 connections (without --http2, 8 connections keep only 8 requests
// in flight); then every key written in order, and read back (a read and
// the writes before it must share --key-size, --key-prefix and
// --key-space-size); then 100 watchers that see 1,000 puts a second:
//
//	cairnctl benchmark put --clients 64 --total 100000 --val-size 256 --key-space-size 100000
//	cairnctl benchmark put --conns 8 --clients 64 --http2 --total 100000 --val-size 256 --key-space-size 100000
//	cairnctl benchmark put --clients 64 --total 100000 --val-size 256 --key-space-size 100000 --sequential-keys
//	cairnctl benchmark range --clients 64 --total 200000 --key-space-size 100000 --consistency s
//	cairnctl benchmark watch --watchers 100 --clients 4 --rate 1000 --total 10000 --key-prefix bench/ --key-size 16 --val-size 64
//
// A command is this, with ctx ended by Ctrl-C (signal.NotifyContext), so
// that an interrupted run still prints what it measured:
//
//	var bar io.Writer // the progress bar, on a terminal only
//	if term.IsTerminal(int(os.Stderr.Fd())) {
//		bar = os.Stderr
//	}
//	rep, err := benchmark.Run(ctx, cfg, benchmark.Put{}, bar)
//	if rep == nil {
//		return err // it could not start: bad flags, no leader, a failed setup
//	}
//	if jsonOutput {
//		rep.WriteJSON(os.Stdout)
//	} else {
//		rep.WriteText(os.Stdout)
//	}
//	return err // ctx's error when interrupted
//
// Failed requests do not fail the command: they are in the report (etcd's
// benchmark exits 0 with errors too).
package benchmark
