package alarm_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/alarm"
	"github.com/cairnkv/cairn/internal/ports/portstest"
)

func put(key string) domain.Command {
	return domain.Command{Type: domain.CmdTxn, Txn: &domain.TxnRequest{Success: []domain.Op{{Put: &domain.PutRequest{Key: []byte(key), Value: []byte("v")}}}}}
}

func del(key string) domain.Command {
	return domain.Command{Type: domain.CmdTxn, Txn: &domain.TxnRequest{Success: []domain.Op{{Delete: &domain.DeleteRangeRequest{Key: []byte(key)}}}}}
}

// TestQuota: past the quota the monitor raises NOSPACE for its member,
// once; puts and grants are refused by apply, with a message that says
// what to do, while deletes, compaction and revokes go on; clearing the
// alarm while the store is still too big raises it again; once the store
// is small again, clearing it lets writes in.
func TestQuota(t *testing.T) {
	ctx := context.Background()
	be := portstest.NewBackend()
	p := portstest.NewProposer(be)
	svc := alarm.NewService(p, be)
	var size atomic.Int64
	size.Store(100)
	m := alarm.NewQuotaMonitor(alarm.QuotaConfig{MemberID: 7, Quota: 1000}, svc, size.Load, portstest.NewClock(), func(err error) { t.Error(err) })

	if err := m.Check(ctx); err != nil || len(be.Alarms()) != 0 {
		t.Fatalf("under the quota: %v, alarms %v", err, be.Alarms())
	}
	mustApply(t, p, put("a"), nil)
	size.Store(1001)
	for range 2 {
		if err := m.Check(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want := []domain.Alarm{{MemberID: 7, Type: domain.AlarmNoSpace}}
	if got := be.Alarms(); !slices.Equal(got, want) {
		t.Fatalf("past the quota: alarms %v, want %v", got, want)
	}
	if n := len(p.Log); n != 2 {
		t.Fatalf("%d commands proposed, want the put and one alarm", n)
	}

	res := mustApply(t, p, put("b"), domain.ErrNoSpace)
	if msg := res.Err.Error(); !strings.Contains(msg, "member 7") || !strings.Contains(msg, "DELETE /v1/maintenance/alarms") {
		t.Errorf("NOSPACE message %q does not name the member and say what to do", msg)
	}
	mustApply(t, p, domain.Command{Type: domain.CmdLeaseGrant, Grant: &domain.Lease{ID: 1, TTL: 10}}, domain.ErrNoSpace)
	mustApply(t, p, del("a"), nil)
	mustApply(t, p, domain.Command{Type: domain.CmdCompact, Compact: &domain.CompactRequest{Revision: be.View().Rev()}}, nil)

	if _, err := svc.Clear(ctx, domain.Alarm{}); err != nil {
		t.Fatal(err)
	}
	if err := m.Check(ctx); err != nil || len(be.Alarms()) != 1 {
		t.Fatalf("cleared while still past the quota: %v, alarms %v, want NOSPACE again", err, be.Alarms())
	}
	size.Store(500)
	left, err := svc.Clear(ctx, domain.Alarm{Type: domain.AlarmNoSpace})
	if err != nil || len(left) != 0 {
		t.Fatalf("clear: %v %v", left, err)
	}
	mustApply(t, p, put("c"), nil)
}

// TestCorruptGate: a CORRUPT alarm refuses every write, deletes included,
// and no read; NOSPACE lets deletes and read-only txns through.
func TestCorruptGate(t *testing.T) {
	corrupt := []domain.Alarm{{MemberID: 3, Type: domain.AlarmCorrupt}, {MemberID: 9, Type: domain.AlarmCorrupt}}
	noSpace := []domain.Alarm{{MemberID: 3, Type: domain.AlarmNoSpace}}
	read := domain.Command{Type: domain.CmdTxn, Txn: &domain.TxnRequest{Success: []domain.Op{{Range: &domain.RangeRequest{Key: []byte("a")}}}}}
	nested := domain.Command{Type: domain.CmdTxn, Txn: &domain.TxnRequest{Failure: []domain.Op{{Txn: put("x").Txn}}}}
	for _, c := range []struct {
		name   string
		alarms []domain.Alarm
		cmd    domain.Command
		want   error
	}{
		{"corrupt put", corrupt, put("a"), domain.ErrCorrupt},
		{"corrupt delete", corrupt, del("a"), domain.ErrCorrupt},
		{"corrupt read", corrupt, read, nil},
		{"corrupt revoke", corrupt, domain.Command{Type: domain.CmdLeaseRevoke, Revoke: []int64{1}}, nil},
		{"nospace nested put", noSpace, nested, domain.ErrNoSpace},
		{"nospace delete", noSpace, del("a"), nil},
		{"nospace read", noSpace, read, nil},
		{"nospace alarm", noSpace, domain.Command{Type: domain.CmdAlarm, Alarm: &domain.AlarmRequest{}}, nil},
	} {
		err := domain.AlarmGate(c.alarms, &c.cmd)
		if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if errors.Is(err, domain.ErrCorrupt) && !strings.Contains(err.Error(), "members 3, 9") {
			t.Errorf("%s: %q does not name members 3 and 9", c.name, err)
		}
	}
}

func mustApply(t *testing.T, p *portstest.Proposer, cmd domain.Command, want error) domain.Result {
	t.Helper()
	res, err := p.Propose(context.Background(), cmd)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res.Err, want) || (want == nil) != (res.Err == nil) {
		t.Fatalf("%s: %v, want %v", cmd.Type, res.Err, want)
	}
	return res
}
