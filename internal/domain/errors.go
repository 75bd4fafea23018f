package domain

import (
	"errors"
	"fmt"
)

// The errors of the domain. Callers match them with errors.Is; the HTTP edge
// maps each to a status code and an error code in one table.
var (
	// ErrKeyNotFound: the key does not exist (at the revision read).
	ErrKeyNotFound = errors.New("kv: key not found")
	// ErrCompacted: the revision asked for was compacted away. A
	// *CompactedError carries the compact revision.
	ErrCompacted = errors.New("mvcc: required revision has been compacted")
	// ErrFutureRevision: the revision asked for is newer than the store.
	ErrFutureRevision = errors.New("mvcc: required revision is a future revision")
	// ErrLeaseNotFound: the lease does not exist.
	ErrLeaseNotFound = errors.New("lease: lease not found")
	// ErrLeaseExists: a lease with the requested ID exists already.
	ErrLeaseExists = errors.New("lease: lease already exists")
	// ErrConflict: the request conflicts with the state of the cluster (a
	// member addition that would cost the quorum, a name or address taken).
	ErrConflict = errors.New("conflict")
	// ErrLocked: the lock (or the leadership) was not acquired before the
	// timeout.
	ErrLocked = errors.New("lock: not acquired before the timeout")
	// ErrPreconditionFailed: a condition of the request did not hold (a
	// candidate that no longer leads proclaims or resigns).
	ErrPreconditionFailed = errors.New("precondition failed")
	// ErrNotFound: the thing asked for does not exist (an election without
	// a leader, a lock key that is not held).
	ErrNotFound = errors.New("not found")
	// ErrInvalidArgument: the request is malformed. An *InvalidArgumentError
	// says what is wrong.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNotLeader: this member is not the leader. A *NotLeaderError names
	// the leader when one is known.
	ErrNotLeader = errors.New("raft: not the leader")
	// ErrNoLeader: the cluster has no leader right now; retry later.
	ErrNoLeader = errors.New("raft: no leader")
	// ErrIndeterminate: the outcome of a write is unknown (the deadline
	// passed or leadership was lost after the write was proposed). It may
	// or may not have been applied.
	ErrIndeterminate = errors.New("raft: request timed out, outcome unknown")
	// ErrUnavailable: the member cannot serve the request now (shutting
	// down, or the leader could not be reached).
	ErrUnavailable = errors.New("unavailable")
	// ErrTooLarge: the request is larger than the configured limit.
	ErrTooLarge = errors.New("request too large")
)

// The reasons of some invalid arguments that a client may want to tell
// apart (etcd's API has an error of its own for each). An
// *InvalidArgumentError with one of them as its Reason is both
// ErrInvalidArgument and the reason (errors.Is).
var (
	// ErrTooManyOps: a txn has more compares or ops in a branch than
	// MaxTxnOps.
	ErrTooManyOps = errors.New("too many operations in txn request")
	// ErrDuplicateKey: a txn branch writes a key twice.
	ErrDuplicateKey = errors.New("duplicate key given in txn request")
)

// InvalidArgumentError says which argument of a request is wrong, and
// Reason, when set, which kind of mistake it is (ErrTooManyOps,
// ErrDuplicateKey).
type InvalidArgumentError struct {
	Msg    string
	Reason error
}

// InvalidArgument returns an *InvalidArgumentError with a formatted message.
func InvalidArgument(format string, args ...any) error {
	return &InvalidArgumentError{Msg: fmt.Sprintf(format, args...)}
}

func (e *InvalidArgumentError) Error() string { return e.Msg }

// Unwrap returns ErrInvalidArgument, and the Reason when there is one.
func (e *InvalidArgumentError) Unwrap() []error {
	if e.Reason == nil {
		return []error{ErrInvalidArgument}
	}
	return []error{ErrInvalidArgument, e.Reason}
}

// CompactedError is ErrCompacted with the revision the store is compacted at.
type CompactedError struct {
	CompactRevision int64
}

func (e *CompactedError) Error() string {
	return fmt.Sprintf("%v (compacted at %d)", ErrCompacted, e.CompactRevision)
}

// Unwrap returns ErrCompacted.
func (e *CompactedError) Unwrap() error { return ErrCompacted }

// NotLeaderError is ErrNotLeader with the leader this member knows of.
type NotLeaderError struct {
	LeaderID   string
	LeaderAddr string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" {
		return ErrNotLeader.Error()
	}
	return fmt.Sprintf("%v (leader is %s at %s)", ErrNotLeader, e.LeaderID, e.LeaderAddr)
}

// Unwrap returns ErrNotLeader.
func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }
