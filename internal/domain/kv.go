package domain

import "bytes"

// KeyValue is one version of a key as the store keeps it.
//
// CreateRevision is the revision of the put that created the current
// generation of the key, ModRevision the revision of its last change and
// Version the number of puts since the key was created (1 for a new key).
// Lease is the ID of the lease the key is attached to, or 0.
type KeyValue struct {
	Key            []byte
	Value          []byte
	CreateRevision int64
	ModRevision    int64
	Version        int64
	Lease          int64
}

// Clone returns a deep copy of kv.
func (kv KeyValue) Clone() KeyValue {
	kv.Key = bytes.Clone(kv.Key)
	kv.Value = bytes.Clone(kv.Value)
	return kv
}

// EventType says what happened to a key.
type EventType uint8

// The event types.
const (
	EventPut EventType = iota + 1
	EventDelete
)

// String returns the wire name of the event type.
func (t EventType) String() string {
	switch t {
	case EventPut:
		return "PUT"
	case EventDelete:
		return "DELETE"
	}
	return "UNKNOWN"
}

// Event is one change of one key. For a delete, Kv holds the key and the
// revision of the delete and no value.
type Event struct {
	Type   EventType
	Kv     KeyValue
	PrevKv *KeyValue
}

// Lease is a time to live that keys can be attached to. TTL is the granted
// time to live in seconds. RemainingTTL, when not 0, is the remaining time
// to live the leader last checkpointed through Raft: a new leader counts
// down from it instead of from TTL.
type Lease struct {
	ID           int64
	TTL          int64
	RemainingTTL int64
}

// Header describes the member and state an answer comes from.
type Header struct {
	ClusterID uint64
	MemberID  uint64
	Revision  int64
	RaftTerm  uint64
}

// Member is one entry of the replicated member registry.
type Member struct {
	ID         uint64
	Name       string
	PeerURL    string
	ClientURLs []string
}

// Limits of a command. The leader refuses a command that breaks one before
// it proposes it, and apply refuses it too (see Command.Validate): they are
// part of the replicated state machine, not only of the API.
const (
	// MaxKeySize is the largest key, in bytes.
	MaxKeySize = 8 << 10
	// MaxTxnOps is the largest number of operations in one txn branch.
	MaxTxnOps = 128
	// MaxTxnDepth is how deep txns may nest (a txn op inside a txn is
	// depth 1).
	MaxTxnDepth = 8
	// MaxLeaseID is the largest lease ID, so that JavaScript clients can hold
	// every ID exactly (2^53 - 1).
	MaxLeaseID = 1<<53 - 1
	// MaxLeaseTTL is the longest lease, in seconds (one year).
	MaxLeaseTTL = 365 * 24 * 3600
	// MaxMemberNameSize is the longest member name, in bytes.
	MaxMemberNameSize = 255
)
