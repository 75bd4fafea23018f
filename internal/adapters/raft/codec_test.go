package raft

import (
	"errors"
	"reflect"
	"testing"

	"github.com/cairnkv/cairn/internal/domain"
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
// allocate without bound, and that what decodes re-encodes to the same
// command.
func FuzzDecodeCommand(f *testing.F) {
	for _, cmd := range []domain.Command{
		{Type: domain.CmdTxn, Txn: sampleTxn()},
		{Type: domain.CmdCompact, Compact: &domain.CompactRequest{Revision: 1}},
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
	})
}
