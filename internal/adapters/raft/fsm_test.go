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
