package raft

import (
	"bytes"
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
		{name: "alarm raise", cmd: domain.Command{Type: domain.CmdAlarm, Alarm: &domain.AlarmRequest{Activate: true, Alarm: domain.Alarm{MemberID: 1<<53 - 1, Type: domain.AlarmNoSpace}}}},
		{name: "alarm clear all", cmd: domain.Command{Type: domain.CmdAlarm, Alarm: &domain.AlarmRequest{}}},
		{name: "alarm clear corrupt", cmd: domain.Command{Type: domain.CmdAlarm, Alarm: &domain.AlarmRequest{Alarm: domain.Alarm{Type: domain.AlarmCorrupt}}}},
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

// sampleAuth returns a valid request of each auth operation, with the
// fields it uses.
func sampleAuth() []domain.AuthRequest {
	key := bytes.Repeat([]byte{0x00, 0xff, 0x7f, 0x80}, domain.SigningKeySize/4)
	hash := []byte("$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy")
	return []domain.AuthRequest{
		{Op: domain.AuthEnable, SigningKey: key},
		{Op: domain.AuthDisable},
		{Op: domain.AuthUserAdd, User: "alice", PasswordHash: hash},
		{Op: domain.AuthUserDelete, User: "alice"},
		{Op: domain.AuthUserPassword, User: "ålice", PasswordHash: hash},
		{Op: domain.AuthUserGrantRole, User: "alice", Role: "reader"},
		{Op: domain.AuthUserRevokeRole, User: "alice", Role: "reader"},
		{Op: domain.AuthRoleAdd, Role: "reader"},
		{Op: domain.AuthRoleDelete, Role: "reader"},
		{Op: domain.AuthRoleGrantPerm, Role: "reader", Perm: domain.Permission{Type: domain.PermReadWrite, Key: []byte("a\x00"), RangeEnd: []byte{0}}},
		{Op: domain.AuthRoleRevokePerm, Role: "reader", Perm: domain.Permission{Key: []byte("k\xff"), RangeEnd: []byte("l")}},
	}
}

func TestCodec_AuthRoundTrip(t *testing.T) {
	t.Parallel()
	reqs := sampleAuth()
	seen := map[domain.AuthOp]bool{}
	for _, r := range reqs {
		if err := r.Validate(); err != nil {
			t.Fatalf("sample %s is not valid: %v", r.Op, err)
		}
		seen[r.Op] = true
	}
	for op := domain.AuthEnable; op <= domain.AuthRoleRevokePerm; op++ {
		if !seen[op] {
			t.Errorf("no sample of auth operation %s", op)
		}
	}
	// Every field at once, and values the codec does not judge (apply
	// refuses them with a result): the codec carries them all.
	reqs = append(reqs,
		domain.AuthRequest{Op: domain.AuthRoleGrantPerm, User: "u", Role: "r", PasswordHash: []byte("$2b$x"),
			Perm: domain.Permission{Type: domain.PermWrite, Key: []byte("k"), RangeEnd: []byte("z")}, SigningKey: []byte{1, 2, 3}},
		domain.AuthRequest{},
		domain.AuthRequest{Op: 0xff, Perm: domain.Permission{Type: 0xff}},
		domain.AuthRequest{Op: domain.AuthUserAdd, User: string(bytes.Repeat([]byte("u"), 300)), PasswordHash: bytes.Repeat([]byte{0}, 200)},
	)
	for _, r := range reqs {
		t.Run(r.Op.String(), func(t *testing.T) {
			cmd := domain.Command{Type: domain.CmdAuth, Auth: &r}
			data, err := EncodeCommand(cmd)
			if err != nil {
				t.Fatal(err)
			}
			got, skip, err := DecodeCommand(data)
			if err != nil || skip {
				t.Fatalf("decode: skip=%v err=%v", skip, err)
			}
			if !reflect.DeepEqual(got, cmd) {
				t.Fatalf("round trip changed the command:\n got %+v\nwant %+v", *got.Auth, r)
			}
			for n := 0; n < len(data); n++ {
				if _, _, err := DecodeCommand(data[:n]); err == nil {
					t.Fatalf("decoding the first %d of %d bytes succeeded", n, len(data))
				}
			}
			if _, _, err := DecodeCommand(append(data, 0)); err == nil {
				t.Fatal("trailing byte accepted")
			}
		})
	}
}

// TestCodec_AuthLayout pins the encoding of an auth change: it is part of
// the Raft log format.
func TestCodec_AuthLayout(t *testing.T) {
	t.Parallel()
	data, err := EncodeCommand(domain.Command{Type: domain.CmdAuth, Auth: &domain.AuthRequest{
		Op: domain.AuthRoleGrantPerm, User: "u", Role: "ro", PasswordHash: []byte("$2"),
		Perm: domain.Permission{Type: domain.PermRead, Key: []byte("k"), RangeEnd: []byte{0}}, SigningKey: []byte{9},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{codecVersion, 7, 10, 1, 'u', 2, 'r', 'o', 2, '$', '2', 1, 1, 'k', 1, 0, 1, 9}
	if !bytes.Equal(data, want) {
		t.Fatalf("encoding = %v, want %v", data, want)
	}
	if data[1]&typeIgnorable != 0 {
		t.Fatal("CmdAuth is ignorable: a member that does not know it would skip an auth change")
	}
	if _, err := EncodeCommand(domain.Command{Type: domain.CmdAuth}); err == nil {
		t.Fatal("auth command without a request encoded")
	}
}

// TestCodec_AuthStrict checks that malformed auth payloads are refused.
func TestCodec_AuthStrict(t *testing.T) {
	t.Parallel()
	for name, data := range map[string][]byte{
		"no payload":                   {codecVersion, 7},
		"user longer than the input":   {codecVersion, 7, 3, 5, 'u'},
		"huge length":                  {codecVersion, 7, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"overlong varint":              {codecVersion, 7, 3, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01},
		"no signing key":               {codecVersion, 7, 2, 0, 0, 0, 0, 0, 0},
		"signing key past the end":     {codecVersion, 7, 1, 0, 0, 0, 0, 0, 0, 2, 1},
		"a byte after the signing key": {codecVersion, 7, 2, 0, 0, 0, 0, 0, 0, 0, 0},
	} {
		if cmd, _, err := DecodeCommand(data); err == nil {
			t.Errorf("%s: decoded %+v", name, cmd.Auth)
		}
	}
	// An older member, which knows no CmdAuth (nor anything newer), must
	// stop, not skip.
	if _, skip, err := DecodeCommand([]byte{codecVersion, byte(domain.CmdAlarm) + 1}); skip || !errors.Is(err, errUnknownCommand) {
		t.Fatalf("unknown non-ignorable type: skip=%v err=%v", skip, err)
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

// TestCodec_ResultSentinels checks that a rejection with a sentinel the
// HTTP edge maps (conflict, not found, precondition failed) reaches the
// forwarding member with its kind and its message.
func TestCodec_ResultSentinels(t *testing.T) {
	t.Parallel()
	for _, sentinel := range []error{domain.ErrConflict, domain.ErrNotFound, domain.ErrPreconditionFailed, domain.ErrNoSpace, domain.ErrCorrupt} {
		in := fmt.Errorf("user %q exists already: %w", "bob", sentinel)
		got, err := DecodeResult(EncodeResult(domain.Result{Revision: 4, Err: in}))
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(got.Err, sentinel) || got.Err.Error() != in.Error() || got.Revision != 4 {
			t.Fatalf("%v came back as %v (is %v: %v)", in, got.Err, sentinel, errors.Is(got.Err, sentinel))
		}
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
	for _, r := range sampleAuth() {
		data, _ := EncodeCommand(domain.Command{Type: domain.CmdAuth, Auth: &r})
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
		// The auth state is not in the hash (it makes no revision).
		sa, erra := a.AuthState()
		sb, errb := b.AuthState()
		if erra != nil || errb != nil || !reflect.DeepEqual(sa, sb) {
			t.Fatalf("two stores hold different auth states after the command: %+v %v, %+v %v", sa, erra, sb, errb)
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
