// Package e2e holds Cairn's multi-process tests, the fifth layer of the
// test pyramid (etcd tests/e2e, rqlite system_test/e2e).
//
// TestMain builds ./cmd/server once, without -race, into a temporary
// directory, and ./e2e/lockclient, the lock client that lockproc_test.go
// runs as separate processes. Each test then starts real server processes
// on 127.0.0.1 with their own data directories, talks to them over HTTP
// only, and kills them with SIGKILL or stops them with SIGTERM before
// restarting them with the same command line. Nothing here imports the
// server's packages: these tests see Cairn as a user does.
//
// The harness lives in process_test.go (processes, ports, HTTP client,
// polling) and the scenarios in cluster_test.go:
//
//   - a single member keeps every acknowledged write across kill -9;
//   - three members: writes are visible at once through every member, a
//     killed leader is replaced within seconds, and no acknowledged write is
//     lost while it is down or after it comes back;
//   - a compare-and-swap counter driven by 20 concurrent clients counts
//     exactly the swaps that succeeded;
//   - a rolling restart with SIGTERM keeps the cluster serving and loses
//     nothing;
//   - keys and values with NUL, invalid UTF-8, spaces, slashes and non-ASCII
//     bytes round-trip exactly through a follower.
//
// watch_test.go resumes SSE streams with Last-Event-ID after disconnects
// and after kill -9 of their member, and keeps them streaming through a
// leader kill, with no gap and no duplicate. lease_test.go keeps a lease
// alive through a leader kill, lets a dead holder's lease expire across
// one, and restarts the whole cluster. lock_test.go and election_test.go
// drive the lock and election HTTP API directly from goroutines (their
// HTTP-level client is in lockhttp_test.go); lockproc_test.go and
// electionproc_test.go run the Go client library in real client processes.
// Both kill holders, candidates and the leader, and check that no lock is
// lost or granted twice.
//
// pause_test.go (its checks in pausecheck_test.go) freezes members with
// SIGSTOP and resumes them with SIGCONT (member.pause and member.resume;
// kill, stop and the end of a test resume a frozen process first). Ten
// clients of package internal/testutil/lincheck read, write and
// compare-and-swap registers through every member, and a writer per member
// writes distinct keys, while a nemesis freezes the leader or a random
// member every 1.5 to 3 s for 1 to 3 election timeouts. After a quiet
// period it checks each register's history for
// linearizability with porcupine, that every acknowledged write is on
// every member at the mod_revision its answer gave (in the current kvs and
// in the whole history a watch from revision 1 replays, the same on every
// member), and that the members converge to equal revisions, applied
// indexes and hashes. CAIRN_SEED replays a run's schedule and client
// choices, CAIRN_PAUSE_TARGET=leader|random|mixed chooses whom to freeze,
// and pause-runs.sh runs it over many seeds, optionally under CPU load.
//
// tls_test.go runs three members with TLS and client certificate
// authentication on the client URLs and the peer port (certificates of
// package internal/testutil/testcerts), checks that plain HTTP, a missing
// client certificate and one of another CA are refused, and kills the
// leader with SIGKILL while clients write: no acknowledged write is lost,
// and the killed member catches up over peer TLS. A bad TLS file stops a
// server at once with an error that names the flag and the file.
//
// faults_test.go uses the failpoints of the test build (the server is
// built with -tags failpoints; failpoint_test.go arms them through each
// member's control API): it stalls the disk of the leader, then of a
// follower, for 2 to 5 s, and makes the clock of a follower, then of the
// leader, jump forward and back while leases are kept alive and others
// are abandoned. Clients of package lincheck and a writer per member run
// throughout; the history must be linearizable, no acknowledged write
// lost, and the members equal at the end. fault-runs.sh runs either test
// over many seeds and prints a table.
//
// defrag_test.go defragments a member's store (POST
// /v1/maintenance/defragment) while clients write to it, and reports their
// latency during it and the pause; and kills a follower with SIGKILL in the
// middle of its defragmentation: it restarts on its old file, with every
// acknowledged write and the same hash as the others.
//
// etcd_concurrency_test.go is the one test that speaks etcd's gRPC API:
// Go programs on clientv3 and its concurrency package (Session, Mutex,
// Election, STM) and on the v3lock service run while the leader is killed
// with SIGKILL and started again; the counters incremented under the lock
// and by election leaders count exactly the increments applied, the STM
// transfers keep the accounts' sum, no acknowledged write is lost, and
// candidates campaigning at the end get exactly one leader.
//
// The tests run in the normal suite and are kept short (about a minute
// and a half on two cores; CAIRN_SOAK=1 runs the issues' full scales).
// Every server process is killed when its test ends, and its log is
// printed only when the test fails. The servers log at
// warn level; CAIRN_E2E_LOG_LEVEL=info (or debug) makes them say more.
package e2e
