package domaintest

import (
	"bytes"

	"github.com/cairnkv/cairn/internal/domain"
)

// Crafted is a command that domain.Command.Validate refuses, as someone who
// can reach the forwarding endpoint could send it (issue 11).
type Crafted struct {
	Name string
	Cmd  domain.Command
}

// CraftedLease is the lease that the crafted put with a long key names: a
// test that grants it first makes that put reach the store's own limit
// (bbolt's key size, through the lease_keys row) without the validation.
const CraftedLease = 5

// CraftedCommands returns commands that break the limits of a command, one
// limit each. Each survives EncodeCommand and DecodeCommand unchanged, so
// that tests can send it as the bytes of a forwarded command, and each
// passed the forwarding endpoint and reached the log before validation
// existed: the first crashed every member, the negative revision too.
func CraftedCommands() []Crafted {
	put := func(key []byte, lease int64) domain.Op {
		return domain.Op{Put: &domain.PutRequest{Key: key, Value: []byte("v"), Lease: lease}}
	}
	txn := func(ops ...domain.Op) domain.Command {
		return domain.Command{Type: domain.CmdTxn, Txn: &domain.TxnRequest{Success: ops}}
	}
	deep := &domain.TxnRequest{Success: []domain.Op{put([]byte("deep"), 0)}}
	for i := 0; i < 12; i++ {
		deep = &domain.TxnRequest{Success: []domain.Op{{Txn: deep}}}
	}
	member := func(m domain.Member) domain.Command {
		return domain.Command{Type: domain.CmdPublishMember, Member: &domain.PublishMember{Member: m}}
	}
	return []Crafted{
		// The reproduction: printf '\x01\x03\x01\x00\x00\x00\x00'.
		{Name: "member with an empty name", Cmd: member(domain.Member{ID: 1})},
		{Name: "member name with a newline", Cmd: member(domain.Member{ID: 1, Name: "n\n1", PeerURL: "http://127.0.0.1:1"})},
		{Name: "member with a client URL that is not http", Cmd: member(domain.Member{ID: 1, Name: "n9",
			PeerURL: "http://127.0.0.1:1", ClientURLs: []string{"javascript:alert(1)"}})},
		{Name: "empty key", Cmd: txn(put(nil, 0))},
		{Name: "key of 9003 bytes", Cmd: txn(put(bytes.Repeat([]byte("k"), 9003), 0))},
		{Name: "key of 40000 bytes with a lease", Cmd: txn(put(bytes.Repeat([]byte("l"), 40000), CraftedLease))},
		{Name: "txn nested 12 deep", Cmd: domain.Command{Type: domain.CmdTxn, Txn: deep}},
		{Name: "same key twice in one txn", Cmd: txn(put([]byte("twice"), 0), put([]byte("twice"), 0))},
		{Name: "negative revision in a txn get", Cmd: txn(domain.Op{Range: &domain.RangeRequest{Key: []byte("k"), Revision: -1}})},
		{Name: "lease with a TTL of 2^62", Cmd: domain.Command{Type: domain.CmdLeaseGrant, Grant: &domain.Lease{ID: 7, TTL: 1 << 62}}},
		{Name: "lease ID 0", Cmd: domain.Command{Type: domain.CmdLeaseGrant, Grant: &domain.Lease{ID: 0, TTL: 10}}},
		{Name: "revoke of a negative lease ID", Cmd: domain.Command{Type: domain.CmdLeaseRevoke, Revoke: []int64{-1}}},
		{Name: "checkpoint with a negative TTL", Cmd: domain.Command{Type: domain.CmdLeaseCheckpoint, Checkpoint: []domain.Lease{{ID: 7, RemainingTTL: -5}}}},
		{Name: "compact at revision 0", Cmd: domain.Command{Type: domain.CmdCompact, Compact: &domain.CompactRequest{Revision: 0}}},
	}
}
