package raft

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/apply"
	"github.com/cairnkv/cairn/internal/ports"
	"github.com/cairnkv/cairn/internal/ports/portstest"
)

func sampleTxn() *domain.TxnRequest {
	return &domain.TxnRequest{
		Compare: []domain.Compare{
			{Key: []byte("a"), Target: domain.CompareMod, Result: domain.CompareEqual, ModRevision: 7},
			{Key: []byte("b\x00\xff"), RangeEnd: []byte("c"), Target: domain.CompareValue, Result: domain.CompareNotEqual, Value: []byte("v")},
			{Key: []byte("l"), Target: domain.CompareLease, Result: domain.CompareGreater, Lease: 3},
			{Key: []byte("v"), Target: domain.CompareVersion, Result: domain.CompareLess, Version: 2},
			{Key: []byte("c"), Target: domain.CompareCreate, Result: domain.CompareEqual, CreateRevision: 1},
		},
		Success: []domain.Op{
			{Put: &domain.PutRequest{Key: []byte("k"), Value: []byte("value"), Lease: 9, PrevKv: true, IgnoreLease: true}},
			{Range: &domain.RangeRequest{Key: []byte("p"), RangeEnd: []byte("q"), Limit: 10, Revision: 4,
				SortOrder: domain.SortDescend, SortTarget: domain.SortByMod, KeysOnly: true, CountOnly: true,
				MinModRevision: 1, MaxModRevision: 2, MinCreateRevision: 3, MaxCreateRevision: 4}},
			{Delete: &domain.DeleteRangeRequest{Key: []byte("d"), RangeEnd: []byte{0}, PrevKv: true}},
			{Txn: &domain.TxnRequest{Failure: []domain.Op{{Put: &domain.PutRequest{Key: []byte("n"), IgnoreValue: true}}}}},
		},
		Failure: []domain.Op{{Range: &domain.RangeRequest{Key: []byte("a")}}},
	}
}

func TestCodec_CommandRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cmd  domain.Command
	}{
		{name: "txn", cmd: domain.Command{Type: domain.CmdTxn, Txn: sampleTxn()}},
		{name: "empty txn", cmd: domain.Command{Type: domain.CmdTxn, Txn: &domain.TxnRequest{}}},
		{name: "compact", cmd: domain.Command{Type: domain.CmdCompact, Compact: &domain.CompactRequest{Revision: 42}}},
		{name: "grant", cmd: domain.Command{Type: domain.CmdLeaseGrant, Grant: &domain.Lease{ID: 1<<53 - 1, TTL: 60}}},
		{name: "revoke", cmd: domain.Command{Type: domain.CmdLeaseRevoke, Revoke: []int64{1, 2, 3}}},
		{name: "checkpoint", cmd: domain.Command{Type: domain.CmdLeaseCheckpoint, Checkpoint: []domain.Lease{{ID: 7, RemainingTTL: 12}, {ID: 9}}}},
		{name: "member", cmd: domain.Command{Type: domain.CmdPublishMember, Member: &domain.PublishMember{
			Member:    domain.Member{ID: 5, Name: "n1", PeerURL: "http://127.0.0.1:2380", ClientURLs: []string{"http://a:1", "http://b:2"}},
			ClusterID: 77,
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := EncodeCommand(tt.cmd)
			if err != nil {
				t.Fatal(err)
			}
			got, skip, err := DecodeCommand(data)
			if err != nil || skip {
				t.Fatalf("decode: skip=%v err=%v", skip, err)
			}
			if !reflect.DeepEqual(got, tt.cmd) {
				t.Fatalf("round trip changed the command:\n got %+v\nwant %+v", got, tt.cmd)
			}
		})
	}
}

func TestCodec_UnknownTypes(t *testing.T) {
	t.Parallel()
	if _, skip, err := DecodeCommand([]byte{codecVersion, 0x80 | 0x33, 1, 2, 3}); err != nil || !skip {
		t.Fatalf("ignorable unknown type: skip=%v err=%v, want skip", skip, err)
	}
	if _, _, err := DecodeCommand([]byte{codecVersion, 0x33}); !errors.Is(err, errUnknownCommand) {
		t.Fatalf("unknown type: err=%v, want errUnknownCommand", err)
	}
	if _, _, err := DecodeCommand([]byte{9, byte(domain.CmdCompact), 2}); err == nil {
		t.Fatal("unknown version decoded without error")
	}
}

func TestCodec_Truncated(t *testing.T) {
	t.Parallel()
	data, err := EncodeCommand(domain.Command{Type: domain.CmdTxn, Txn: sampleTxn()})
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(data); n++ {
		if _, _, err := DecodeCommand(data[:n]); err == nil {
			t.Fatalf("decoding the first %d of %d bytes succeeded", n, len(data))
		}
	}
	if _, _, err := DecodeCommand(append(data, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
}

func TestCodec_ResultRoundTrip(t *testing.T) {
	t.Parallel()
	kv := domain.KeyValue{Key: []byte("k"), Value: []byte("v"), CreateRevision: 2, ModRevision: 3, Version: 2, Lease: 1}
	tests := []struct {
		name string
		res  domain.Result
	}{
		{name: "txn", res: domain.Result{Revision: 9, Txn: &domain.TxnResponse{Succeeded: true, Responses: []domain.OpResponse{
			{Range: &domain.RangeResponse{Kvs: []domain.KeyValue{kv}, Count: 4, More: true}},
			{Put: &domain.PutResponse{PrevKv: &kv}},
			{Put: &domain.PutResponse{}},
			{Delete: &domain.DeleteRangeResponse{Deleted: 2, PrevKvs: []domain.KeyValue{kv, kv}}},
			{Txn: &domain.TxnResponse{Responses: []domain.OpResponse{{Range: &domain.RangeResponse{}}}}},
		}}}},
		{name: "compacted", res: domain.Result{Revision: 3, Err: &domain.CompactedError{CompactRevision: 5}}},
		{name: "lease", res: domain.Result{Revision: 3, Err: domain.ErrLeaseNotFound}},
		{name: "lease exists", res: domain.Result{Revision: 3, Err: domain.ErrLeaseExists}},
		{name: "invalid", res: domain.Result{Revision: 3, Err: &domain.InvalidArgumentError{Msg: "bad"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeResult(EncodeResult(tt.res))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.res) {
				t.Fatalf("round trip changed the result:\n got %+v\nwant %+v", got, tt.res)
			}
		})
	}
}

// FuzzDecodeCommand checks that no input makes the decoder panic or
// allocate without bound, that what decodes re-encodes to the same command,
// and that whatever decodes, valid or not, is applied without a panic, and
// the same way on two stores: this is what a member does with an entry of
// its log, and the leader's side of forwarding takes any bytes. A command
// that Validate accepts is never refused by apply as invalid: the leader
// and apply enforce the same limits. The corpus in testdata/fuzz holds the
// crafted commands of issue 11.
func FuzzDecodeCommand(f *testing.F) {
	for _, cmd := range []domain.Command{
		{Type: domain.CmdTxn, Txn: sampleTxn()},
		{Type: domain.CmdCompact, Compact: &domain.CompactRequest{Revision: 1}},
		{Type: domain.CmdLeaseRevoke, Revoke: []int64{fuzzLease}},
	} {
		data, _ := EncodeCommand(cmd)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cmd, skip, err := DecodeCommand(data)
		if err != nil || skip {
			return
		}
		again, err := EncodeCommand(cmd)
		if err != nil {
			t.Fatalf("decoded command does not encode: %v", err)
		}
		cmd2, _, err := DecodeCommand(again)
		if err != nil || !reflect.DeepEqual(cmd, cmd2) {
			t.Fatalf("re-encoding changed the command: %v", err)
		}
		valid := cmd.Validate()
		a, b := fuzzStore(t), fuzzStore(t)
		ra, rb := fuzzApply(t, a, cmd), fuzzApply(t, b, cmd)
		if valid != nil && !errors.Is(ra.Err, domain.ErrInvalidArgument) {
			t.Fatalf("apply accepted a command Validate refuses (%v): %+v", valid, ra)
		}
		if valid == nil && errors.Is(ra.Err, domain.ErrInvalidArgument) {
			t.Fatalf("apply refused a valid command: %v", ra.Err)
		}
		if fmt.Sprint(ra.Err) != fmt.Sprint(rb.Err) || ra.Revision != rb.Revision {
			t.Fatalf("two stores disagree: %v at %d, %v at %d", ra.Err, ra.Revision, rb.Err, rb.Revision)
		}
		ha, _, _, _ := a.Hash(0)
		hb, _, _, _ := b.Hash(0)
		if ha != hb {
			t.Fatalf("two stores differ after the command: %x, %x", ha, hb)
		}
	})
}

// fuzzLease is the lease the fuzz stores hold, with key "k" attached.
const fuzzLease = 5

// fuzzStore returns an in-memory store with a little history: keys a, k
// (on lease fuzzLease) and z, and a compaction, so that commands can meet
// existing keys, leases and compacted revisions.
func fuzzStore(t *testing.T) ports.Backend {
	be := portstest.NewBackend()
	put := func(k string, lease int64) domain.Command {
		return domain.Command{Type: domain.CmdTxn, Txn: &domain.TxnRequest{Success: []domain.Op{
			{Put: &domain.PutRequest{Key: []byte(k), Value: []byte("v"), Lease: lease}},
		}}}
	}
	for _, cmd := range []domain.Command{
		{Type: domain.CmdLeaseGrant, Grant: &domain.Lease{ID: fuzzLease, TTL: 60}},
		put("a", 0), put("k", fuzzLease), put("a", 0), put("z", 0),
		{Type: domain.CmdCompact, Compact: &domain.CompactRequest{Revision: 3}},
	} {
		if res := fuzzApply(t, be, cmd); res.Err != nil {
			t.Fatalf("seed %v: %v", cmd.Type, res.Err)
		}
	}
	return be
}

func fuzzApply(t *testing.T, be ports.Backend, cmd domain.Command) domain.Result {
	b, err := be.Begin()
	if err != nil {
		t.Fatal(err)
	}
	res := apply.Apply(b, cmd)
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	return res
}
