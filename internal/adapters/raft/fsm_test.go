package raft

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
	"github.com/cairnkv/cairn/internal/ports/portstest"
)

func putLog(t *testing.T, index uint64, key, value string) *hraft.Log {
	t.Helper()
	data, err := EncodeCommand(domain.Command{Type: domain.CmdTxn, Txn: &domain.TxnRequest{Success: []domain.Op{
		{Put: &domain.PutRequest{Key: []byte(key), Value: []byte(value)}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return &hraft.Log{Index: index, Term: 1, Type: hraft.LogCommand, Data: data}
}

func TestFSM_ApplyBatch(t *testing.T) {
	t.Parallel()
	b := portstest.NewBackend()
	f := newFSM(b, nil)
	logs := []*hraft.Log{
		putLog(t, 1, "a", "1"),
		{Index: 2, Term: 1, Type: hraft.LogConfiguration},
		putLog(t, 3, "b", "2"),
	}
	out := f.ApplyBatch(logs)
	if len(out) != 3 {
		t.Fatalf("%d responses for 3 entries", len(out))
	}
	if r, ok := out[2].(domain.Result); !ok || r.Revision != 3 {
		t.Fatalf("response of the second put = %#v, want revision 3", out[2])
	}
	if idx, term := b.Applied(); idx != 3 || term != 1 {
		t.Fatalf("applied = %d/%d, want 3/1", idx, term)
	}
	if f.appliedIndex() != 3 {
		t.Fatalf("fsm applied index = %d", f.appliedIndex())
	}

	// A replay after a restart hands entries that are already applied:
	// they must not be applied twice.
	out = f.ApplyBatch([]*hraft.Log{putLog(t, 3, "b", "replayed"), putLog(t, 4, "c", "3")})
	if out[0] != nil {
		t.Fatalf("replayed entry produced %#v", out[0])
	}
	v := b.View()
	defer v.End()
	rr, err := v.Range([]byte("b"), nil, portsRangeAll())
	if err != nil || len(rr.KVs) != 1 || string(rr.KVs[0].Value) != "2" || rr.KVs[0].Version != 1 {
		t.Fatalf("b after replay = %+v %v", rr, err)
	}
	if v.Rev() != 4 {
		t.Fatalf("revision = %d, want 4", v.Rev())
	}
}

func TestFSM_WaitApplied(t *testing.T) {
	t.Parallel()
	f := newFSM(portstest.NewBackend(), nil)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- f.waitApplied(ctx, 2)
	}()
	f.ApplyBatch([]*hraft.Log{putLog(t, 1, "a", "1")})
	select {
	case err := <-done:
		t.Fatalf("waitApplied(2) returned %v after index 1", err)
	default:
	}
	f.ApplyBatch([]*hraft.Log{putLog(t, 2, "a", "2")})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.waitApplied(ctx, 10); err == nil {
		t.Fatal("waitApplied with a cancelled context returned nil")
	}
}

type memSink struct {
	bytes.Buffer
	cancelled bool
}

func (s *memSink) ID() string    { return "test" }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }
func (s *memSink) Close() error  { return nil }

func TestFSM_SnapshotRestore(t *testing.T) {
	t.Parallel()
	src := newFSM(portstest.NewBackend(), nil)
	src.ApplyBatch([]*hraft.Log{putLog(t, 1, "a", "1"), putLog(t, 2, "b\x00", "2")})
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Writes after Snapshot() must not leak into the snapshot.
	src.ApplyBatch([]*hraft.Log{putLog(t, 3, "c", "3")})
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()

	dstBackend := portstest.NewBackend()
	dst := newFSM(dstBackend, nil)
	dst.ApplyBatch([]*hraft.Log{putLog(t, 1, "stale", "x")})
	if err := dst.Restore(io.NopCloser(&sink)); err != nil {
		t.Fatal(err)
	}
	if dst.appliedIndex() != 2 {
		t.Fatalf("applied after restore = %d, want 2", dst.appliedIndex())
	}
	v := dstBackend.View()
	defer v.End()
	rr, err := v.Range([]byte{0}, []byte{0}, portsRangeAll())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, kv := range rr.KVs {
		keys = append(keys, string(kv.Key))
	}
	if len(keys) != 2 || keys[0] != "a" || keys[1] != "b\x00" {
		t.Fatalf("keys after restore = %q, want [a b\\x00]", keys)
	}
}

func portsRangeAll() ports.RangeOptions { return ports.RangeOptions{} }

func authLog(t *testing.T, index uint64, r domain.AuthRequest) *hraft.Log {
	t.Helper()
	data, err := EncodeCommand(domain.Command{Type: domain.CmdAuth, Auth: &r})
	if err != nil {
		t.Fatal(err)
	}
	return &hraft.Log{Index: index, Term: 1, Type: hraft.LogCommand, Data: data}
}

// TestFSM_OnAuthChange checks that the hook runs once after each committed
// batch that applied an auth entry, accepted or refused, and after a
// restore; not for other entries, nor for an auth entry already applied.
func TestFSM_OnAuthChange(t *testing.T) {
	t.Parallel()
	b := portstest.NewBackend()
	f := newFSM(b, nil)
	calls := 0
	f.onAuthChange = func() {
		calls++
		// The batch is committed, but does not count as applied yet.
		if idx, _ := b.Applied(); idx <= f.appliedIndex() {
			t.Errorf("hook ran before the commit: store applied %d, fsm applied %d", idx, f.appliedIndex())
		}
		if _, err := b.AuthState(); err != nil {
			t.Errorf("AuthState in the hook: %v", err)
		}
	}
	step := func(what string, want int, logs ...*hraft.Log) {
		t.Helper()
		calls = 0
		f.ApplyBatch(logs)
		if calls != want {
			t.Errorf("%s: %d calls, want %d", what, calls, want)
		}
	}
	step("txn", 0, putLog(t, 1, "a", "1"))
	step("configuration entry", 0, &hraft.Log{Index: 2, Term: 1, Type: hraft.LogConfiguration})
	refused := domain.AuthRequest{Op: domain.AuthRoleAdd, Role: "a/b"} // Validate refuses the name
	step("refused auth entry", 1, authLog(t, 3, refused))
	calls = 0
	res := f.ApplyBatch([]*hraft.Log{authLog(t, 4, domain.AuthRequest{Op: domain.AuthRoleAdd, Role: "reader"})})
	if calls != 1 {
		t.Errorf("accepted auth entry: %d calls, want 1", calls)
	}
	if r, ok := res[0].(domain.Result); !ok || r.Err != nil {
		t.Errorf("role add result = %#v", res[0])
	}
	step("two auth entries and a txn in one batch", 1,
		authLog(t, 5, domain.AuthRequest{Op: domain.AuthRoleAdd, Role: "writer"}),
		putLog(t, 6, "b", "1"),
		authLog(t, 7, refused))
	step("replayed auth entry", 0, authLog(t, 7, refused))
	step("replayed auth entry and a new txn", 0, authLog(t, 7, refused), putLog(t, 8, "c", "1"))

	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	dst := newFSM(portstest.NewBackend(), nil)
	restored := 0
	dst.onAuthChange = func() { restored++ }
	if err := dst.Restore(io.NopCloser(&sink)); err != nil {
		t.Fatal(err)
	}
	if restored != 1 {
		t.Errorf("restore: %d calls, want 1", restored)
	}
}

// TestFSM_WaitsForTheLeadersLog: a batch is neither committed to the store
// nor answered before the leader's own append of its entries is durable
// (logWriter); the store would otherwise be ahead of the log after a crash.
func TestFSM_WaitsForTheLeadersLog(t *testing.T) {
	t.Parallel()
	b := portstest.NewBackend()
	f := newFSM(b, nil)
	release := make(chan struct{})
	asked := make(chan uint64, 1)
	f.logDurable = func(index uint64) error {
		asked <- index
		<-release
		return nil
	}
	done := make(chan []any, 1)
	go func() { done <- f.ApplyBatch([]*hraft.Log{putLog(t, 1, "a", "1"), putLog(t, 2, "b", "2")}) }()
	select {
	case idx := <-asked:
		if idx != 2 {
			t.Fatalf("waited for the log up to %d, want 2 (the batch's last entry)", idx)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ApplyBatch did not wait for the log")
	}
	select {
	case <-done:
		t.Fatal("ApplyBatch answered before the log was durable")
	default:
	}
	if idx, _ := b.Applied(); idx != 0 {
		t.Fatalf("store applied index %d before the log was durable, want 0", idx)
	}
	close(release)
	select {
	case out := <-done:
		if r, ok := out[1].(domain.Result); !ok || r.Revision != 3 {
			t.Fatalf("response = %#v, want revision 3", out[1])
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ApplyBatch did not return once the log was durable")
	}
	if idx, _ := b.Applied(); idx != 2 {
		t.Fatalf("store applied index %d, want 2", idx)
	}
}
