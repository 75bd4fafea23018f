package domain_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/domaintest"
)

func TestCommand_Validate(t *testing.T) {
	t.Parallel()
	t.Run("ErrInvalidArgument", func(t *testing.T) {
		t.Parallel()
		crafted := domaintest.CraftedCommands()
		crafted = append(crafted,
			domaintest.Crafted{Name: "txn without txn", Cmd: domain.Command{Type: domain.CmdTxn}},
			domaintest.Crafted{Name: "member without member", Cmd: domain.Command{Type: domain.CmdPublishMember}},
			domaintest.Crafted{Name: "grant without lease", Cmd: domain.Command{Type: domain.CmdLeaseGrant}},
			domaintest.Crafted{Name: "compact without revision", Cmd: domain.Command{Type: domain.CmdCompact}},
			domaintest.Crafted{Name: "unknown type", Cmd: domain.Command{Type: 99}},
			domaintest.Crafted{Name: "lease ID above 2^53", Cmd: domain.Command{Type: domain.CmdLeaseRevoke, Revoke: []int64{domain.MaxLeaseID + 1}}},
			domaintest.Crafted{Name: "TTL above a year", Cmd: domain.Command{Type: domain.CmdLeaseGrant, Grant: &domain.Lease{ID: 1, TTL: domain.MaxLeaseTTL + 1}}},
			domaintest.Crafted{Name: "op with two actions", Cmd: domain.Command{Type: domain.CmdTxn, Txn: &domain.TxnRequest{Success: []domain.Op{
				{Put: &domain.PutRequest{Key: []byte("a")}, Range: &domain.RangeRequest{Key: []byte("a")}},
			}}}},
		)
		for _, tt := range crafted {
			t.Run(tt.Name, func(t *testing.T) {
				err := tt.Cmd.Validate()
				var iae *domain.InvalidArgumentError
				if !errors.Is(err, domain.ErrInvalidArgument) || !errors.As(err, &iae) {
					t.Fatalf("Validate() = %v, want an *InvalidArgumentError", err)
				}
			})
		}
	})
	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		deep := &domain.TxnRequest{}
		for i := 0; i < domain.MaxTxnDepth; i++ {
			deep = &domain.TxnRequest{Success: []domain.Op{{Txn: deep}}}
		}
		tests := []struct {
			name string
			cmd  domain.Command
		}{
			{name: "put of a key at the limit", cmd: domain.Command{Type: domain.CmdTxn, Txn: &domain.TxnRequest{Success: []domain.Op{
				{Put: &domain.PutRequest{Key: []byte(strings.Repeat("k", domain.MaxKeySize)), Lease: domain.MaxLeaseID}},
			}}}},
			{name: "txn nested to the limit", cmd: domain.Command{Type: domain.CmdTxn, Txn: deep}},
			{name: "empty txn", cmd: domain.Command{Type: domain.CmdTxn, Txn: &domain.TxnRequest{}}},
			{name: "member", cmd: domain.Command{Type: domain.CmdPublishMember, Member: &domain.PublishMember{Member: domain.Member{
				ID: 3, Name: "n 1 é", PeerURL: "http://127.0.0.1:2380", ClientURLs: []string{"https://[::1]:2379/", "http://node-1.example:2379"},
			}, ClusterID: 9}}},
			{name: "member without client URLs", cmd: domain.Command{Type: domain.CmdPublishMember, Member: &domain.PublishMember{Member: domain.Member{
				Name: "n1", PeerURL: "http://127.0.0.1:2380",
			}}}},
			{name: "grant of a year", cmd: domain.Command{Type: domain.CmdLeaseGrant, Grant: &domain.Lease{ID: 1, TTL: domain.MaxLeaseTTL}}},
			{name: "revoke", cmd: domain.Command{Type: domain.CmdLeaseRevoke, Revoke: []int64{1, domain.MaxLeaseID}}},
			{name: "checkpoint that clears", cmd: domain.Command{Type: domain.CmdLeaseCheckpoint, Checkpoint: []domain.Lease{{ID: 1}}}},
			{name: "compact", cmd: domain.Command{Type: domain.CmdCompact, Compact: &domain.CompactRequest{Revision: 1}}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := tt.cmd.Validate(); err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
			})
		}
	})
}

func TestValidateMemberName(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "a\x00b", "tab\there", strings.Repeat("n", domain.MaxMemberNameSize+1), "\xff"} {
		if err := domain.ValidateMemberName(name); !errors.Is(err, domain.ErrInvalidArgument) {
			t.Errorf("ValidateMemberName(%q) = %v, want invalid argument", name, err)
		}
	}
	for _, name := range []string{"n1", "node one", strings.Repeat("n", domain.MaxMemberNameSize)} {
		if err := domain.ValidateMemberName(name); err != nil {
			t.Errorf("ValidateMemberName(%q) = %v", name, err)
		}
	}
}

// TestTxnRequest_Validate_Reasons: the txn limits that etcd's API reports
// with errors of their own are invalid arguments with a Reason.
func TestTxnRequest_Validate_Reasons(t *testing.T) {
	t.Parallel()
	put := func(k string) domain.Op { return domain.Op{Put: &domain.PutRequest{Key: []byte(k)}} }
	many := make([]domain.Op, domain.MaxTxnOps+1)
	for i := range many {
		many[i] = put(strings.Repeat("k", i+1))
	}
	tests := []struct {
		name   string
		txn    domain.TxnRequest
		reason error
	}{
		{name: "ErrTooManyOps", txn: domain.TxnRequest{Success: many}, reason: domain.ErrTooManyOps},
		{name: "ErrDuplicateKey", txn: domain.TxnRequest{Failure: []domain.Op{put("a"), put("a")}}, reason: domain.ErrDuplicateKey},
		{name: "ErrDuplicateKeyPutAndDelete", txn: domain.TxnRequest{Success: []domain.Op{
			put("b"), {Delete: &domain.DeleteRangeRequest{Key: []byte("a"), RangeEnd: []byte("c")}},
		}}, reason: domain.ErrDuplicateKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.txn.Validate()
			if !errors.Is(err, domain.ErrInvalidArgument) || !errors.Is(err, tt.reason) {
				t.Fatalf("Validate() = %v, want an invalid argument that is %v", err, tt.reason)
			}
		})
	}
}
