// Package failpoint injects faults into a test build of the server: a disk
// whose writes stall, and a clock that jumps. It is Cairn's small take on
// etcd's gofail.
//
// # Off in production
//
// The failpoints exist only in a binary built with the build tag
// failpoints:
//
//	go build -tags failpoints -o cairn-fp ./cmd/server
//
// Without the tag (every release and `go build ./...`), Enabled is the
// constant false, every hook is an empty function that the compiler inlines
// away, ClockOffset is the constant 0, and Serve refuses: no control
// endpoint exists and no code path differs from a build that never had
// failpoints. The raft adapter's log store even keeps its plain
// raft-boltdb type (see internal/adapters/raft/logstore.go).
//
// # The control API
//
// A member of a failpoints build started with CAIRN_FAILPOINT_ADDR set to
// a loopback address (127.0.0.1:PORT) serves a tiny HTTP API there; app
// starts it (see internal/app/failpoint.go). Each failpoint is a path:
//
//	PUT    /disk-stall   body "2s": every durable write waits 2 s, until DELETE;
//	                     body "3*2s": only the next 3 durable writes wait
//	DELETE /disk-stall   disarm, and release the writes waiting now
//	PUT    /clock-jump   body "+30s" or "-30s": the member's clock jumps by that
//	DELETE /clock-jump   the clock goes back to the system clock (a jump too)
//	PUT    /corrupt-store body "1": the next value put is stored corrupted
//	                     (its bits flipped) in this member's store only
//	DELETE /corrupt-store disarm
//	GET    /disk-stall, /clock-jump, /   the state, as JSON
//
// # Disk stall
//
// DiskStall is called before every durable write: the Raft log's appends
// and deletions (wal/) and the stable-store writes of raft.db
// (internal/adapters/raft)
// and the commit of every MVCC batch to state.db (internal/adapters/bolt).
// While disk-stall is armed, each such write waits for the delay before it
// goes on, as a write to a disk that hangs would. Snapshots are not
// stalled.
//
// # Clock jump
//
// ClockOffset is added to every reading of the clock that times Cairn's own
// deadlines: the ports.Clock that app gives the lessor (lease expiry,
// checkpoints; locks and elections expire through their leases). A jump
// moves time.Now()'s wall and monotonic readings together, which is what a
// process paused or a VM frozen or migrated sees when it resumes: its
// deadlines have all come closer by the length of the pause at once. A jump
// backwards, which a real monotonic clock never makes, checks that the
// lessor survives a clock that goes back.
//
// hashicorp/raft keeps its own timers (heartbeats, elections) on the
// runtime's clock; a jump does not reach them. A process pause, which
// freezes those too, is SIGSTOP's job (e2e/pause_test.go).
//
// A wall-clock step (NTP stepping the clock, `date -s`) is not a failpoint,
// because it changes nothing: Go's time.Now carries a monotonic reading, and
// Sub, Before and After, which Cairn's deadlines use, read it and ignore
// the wall clock. No Cairn code reads the wall clock for a decision (no
// Unix(), no times sent to another member or stored: a lease checkpoint is
// a remaining TTL, not a deadline). Only log timestamps would show a step.
// A Linux process cannot be given its own wall clock (time namespaces move
// CLOCK_MONOTONIC and CLOCK_BOOTTIME, not CLOCK_REALTIME), so an end-to-end
// test of that would have to step the machine's clock.
//
// The state is process-wide, like gofail's: every member in the process
// shares it. The tests that use it run one member per process (e2e).
package failpoint

// EnvAddr is the environment variable with the address of the control API.
const EnvAddr = "CAIRN_FAILPOINT_ADDR"

// The durable-write sites that DiskStall counts.
const (
	SiteRaftLog    = "raft-log"    // wal/: log appends and deletions
	SiteRaftStable = "raft-stable" // raft.db: the term and the vote
	SiteState      = "state"       // state.db: the commit of an MVCC batch
)
