package bolt_test

import (
	"errors"
	"testing"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/domaintest"
	"github.com/cairnkv/cairn/internal/ports"
)

// TestApply_PoisonCommands applies, on the real store, the commands an
// older leader let into the log. Some of them made bbolt fail (a member
// record with an empty name: "key required"; a key longer than bbolt's
// keys, through its lease_keys row) and every member panicked on them, at
// every restart. Now each is a rejection, the same on two stores, and the
// store goes on.
func TestApply_PoisonCommands(t *testing.T) {
	t.Parallel()
	a, b := open(t), open(t)
	run := func(be ports.Backend, cmd domain.Command) domain.Result { return domaintest.ApplyOne(t, be, cmd) }
	grant := domain.Command{Type: domain.CmdLeaseGrant, Grant: &domain.Lease{ID: domaintest.CraftedLease, TTL: 60}}
	for _, be := range []ports.Backend{a, b} {
		if res := run(be, grant); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	for _, tt := range domaintest.CraftedCommands() {
		t.Run(tt.Name, func(t *testing.T) {
			ra, rb := run(a, tt.Cmd), run(b, tt.Cmd)
			if !errors.Is(ra.Err, domain.ErrInvalidArgument) {
				t.Fatalf("Apply: err %v, want invalid argument", ra.Err)
			}
			if ra.Err.Error() != rb.Err.Error() || ra.Revision != rb.Revision {
				t.Fatalf("two stores disagree: %v at %d, %v at %d", ra.Err, ra.Revision, rb.Err, rb.Revision)
			}
		})
	}
	put := domain.Command{Type: domain.CmdTxn, Txn: &domain.TxnRequest{Success: []domain.Op{
		{Put: &domain.PutRequest{Key: []byte("after"), Value: []byte("v"), Lease: domaintest.CraftedLease}},
	}}}
	for _, be := range []ports.Backend{a, b} {
		if res := run(be, put); res.Err != nil || res.Revision != 2 {
			t.Fatalf("put after the rejections: %+v", res)
		}
	}
	ha, ra, _, errA := a.Hash(0)
	hb, rb, _, errB := b.Hash(0)
	if errA != nil || errB != nil || ha != hb || ra != rb {
		t.Fatalf("stores differ: %x@%d %v, %x@%d %v", ha, ra, errA, hb, rb, errB)
	}
	if ms, err := a.Members(); err != nil || len(ms) != 0 {
		t.Fatalf("members = %+v %v, want none", ms, err)
	}
}
