package apply_test

import (
	"errors"
	"testing"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/domaintest"
	"github.com/cairnkv/cairn/internal/ports/portstest"
)

// TestApply_RefusesInvalidCommands feeds apply the commands the leader
// refuses, as if an older version had let them into the log: each is a
// rejection that changes nothing, never a panic.
func TestApply_RefusesInvalidCommands(t *testing.T) {
	t.Parallel()
	be := portstest.NewBackend()
	domaintest.ApplyOne(t, be, domain.Command{Type: domain.CmdLeaseGrant, Grant: &domain.Lease{ID: domaintest.CraftedLease, TTL: 60}})
	domaintest.ApplyOne(t, be, domain.Command{Type: domain.CmdTxn, Txn: &domain.TxnRequest{Success: []domain.Op{
		{Put: &domain.PutRequest{Key: []byte("k"), Value: []byte("v")}},
	}}})
	hash, rev, _, err := be.Hash(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range domaintest.CraftedCommands() {
		t.Run(tt.Name, func(t *testing.T) {
			res := domaintest.ApplyOne(t, be, tt.Cmd)
			if !errors.Is(res.Err, domain.ErrInvalidArgument) {
				t.Fatalf("Apply: err %v, want invalid argument", res.Err)
			}
			if res.Revision != rev || len(res.Events) != 0 || res.Txn != nil {
				t.Fatalf("Apply of a rejected command = %+v, want revision %d and nothing else", res, rev)
			}
			if h, r, _, _ := be.Hash(0); h != hash || r != rev {
				t.Fatalf("store changed: hash %x rev %d, was %x rev %d", h, r, hash, rev)
			}
		})
	}
	ms, err := be.Members()
	if err != nil || len(ms) != 0 {
		t.Fatalf("members after rejected records = %+v %v", ms, err)
	}
}
