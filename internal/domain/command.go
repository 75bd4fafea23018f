package domain

import "fmt"

// CommandType says what a replicated Command does.
type CommandType uint8

// The command types. Values are part of the Raft log format: never reuse or
// renumber one.
const (
	// CmdTxn applies a TxnRequest as one revision (puts and deletes are
	// single-op txns).
	CmdTxn CommandType = 1
	// CmdCompact drops history below a revision.
	CmdCompact CommandType = 2
	// CmdPublishMember records a member's name and URLs in the registry and,
	// from a new leader, marks the start of its term for linearizable reads.
	CmdPublishMember CommandType = 3
	// CmdLeaseGrant creates a lease.
	CmdLeaseGrant CommandType = 4
	// CmdLeaseRevoke revokes leases: each one's keys are deleted in one
	// revision of its own, then the lease is removed.
	CmdLeaseRevoke CommandType = 5
	// CmdLeaseCheckpoint records the remaining TTLs of leases, so that a
	// new leader does not restart their countdowns from the full TTL.
	CmdLeaseCheckpoint CommandType = 6
	// CmdAuth changes the auth configuration: users, roles, permissions,
	// enable and disable.
	CmdAuth CommandType = 7
	// CmdAlarm raises or clears alarms (NOSPACE, CORRUPT).
	CmdAlarm CommandType = 8
)

// String returns the command type's name, for logs.
func (t CommandType) String() string {
	switch t {
	case CmdTxn:
		return "txn"
	case CmdCompact:
		return "compact"
	case CmdPublishMember:
		return "publish_member"
	case CmdLeaseGrant:
		return "lease_grant"
	case CmdLeaseRevoke:
		return "lease_revoke"
	case CmdLeaseCheckpoint:
		return "lease_checkpoint"
	case CmdAuth:
		return "auth"
	case CmdAlarm:
		return "alarm"
	}
	return fmt.Sprintf("type_%d", uint8(t))
}

// Command is one entry of the replicated log. Everything the state machine
// needs to apply it is in the command: applying never reads a clock, a random
// source or local configuration.
type Command struct {
	Type       CommandType
	Txn        *TxnRequest
	Compact    *CompactRequest
	Member     *PublishMember
	Grant      *Lease  // CmdLeaseGrant: ID and TTL
	Revoke     []int64 // CmdLeaseRevoke: lease IDs
	Checkpoint []Lease // CmdLeaseCheckpoint: ID and RemainingTTL
	Auth       *AuthRequest
	Alarm      *AlarmRequest
}

// PublishMember records a member in the replicated registry. ClusterID is
// the proposer's idea of the cluster ID; it is stored only when the registry
// has none yet, so that the first leader fixes it for the cluster's life.
type PublishMember struct {
	Member    Member
	ClusterID uint64
}

// Result is what applying a Command produced. Revision is the store revision
// after the command (the new one when it wrote, else the current one). Err
// is a business rejection (for example ErrLeaseNotFound): the command changed
// nothing.
type Result struct {
	Revision int64
	Txn      *TxnResponse
	Err      error
	// Events are the changes the command made, in order, for watchers on
	// the member that applied it. They are not sent to other members.
	Events []Event
}
