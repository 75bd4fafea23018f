package raft

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
	"github.com/cairnkv/cairn/internal/ports/portstest"
	"github.com/cairnkv/cairn/internal/testutil/freeport"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	p, err := freeport.Get()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", p)
}

func startNode(t *testing.T, dir, addr string, b ports.Backend) *Node {
	t.Helper()
	n, err := New(Config{
		Name: "n1", DataDir: dir, BindAddr: addr, AdvertisePeerURL: "http://" + addr,
		ClientURLs:     []string{"http://127.0.0.1:1"},
		InitialCluster: []Peer{{Name: "n1", PeerURL: "http://" + addr}},
		Bootstrap:      true, HeartbeatInterval: 20 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
	}, b)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func putCmd(key, value string) domain.Command {
	return domain.Command{Type: domain.CmdTxn, Txn: &domain.TxnRequest{Success: []domain.Op{
		{Put: &domain.PutRequest{Key: []byte(key), Value: []byte(value)}},
	}}}
}

func TestNode_SingleMember(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dir, addr := t.TempDir(), freeAddr(t)
	b := portstest.NewBackend()
	n := startNode(t, dir, addr, b)

	// ReadBarrier waits for the leader to be elected and ready.
	if err := n.ReadBarrier(ctx); err != nil {
		t.Fatalf("read barrier: %v", err)
	}
	var last domain.Result
	for i := 0; i < 20; i++ {
		res, err := n.Propose(ctx, putCmd(fmt.Sprintf("k%02d", i), "v"))
		if err != nil || res.Err != nil {
			t.Fatalf("propose %d: %v %v", i, err, res.Err)
		}
		last = res
	}
	if last.Revision != 21 {
		t.Fatalf("revision after 20 puts = %d, want 21", last.Revision)
	}
	if st := n.Status(); st.Name != "n1" || st.LeaderName != "n1" || st.Revision != 21 || st.AppliedIndex < 20 {
		t.Fatalf("status = %+v", st)
	}
	if h := n.Header(); h.ClusterID == 0 || h.MemberID != MemberID("n1") || h.RaftTerm == 0 {
		t.Fatalf("header = %+v", h)
	}
	ms, err := n.Members()
	if err != nil || len(ms) != 1 || !ms[0].IsLeader || ms[0].ClientURLs[0] != "http://127.0.0.1:1" {
		t.Fatalf("members = %+v %v", ms, err)
	}
	if _, err := n.ProposeEncoded(ctx, "n2", []byte{1, 99, 1}); !errors.Is(err, domain.ErrInvalidArgument) {
		t.Fatalf("garbage forwarded command: %v, want invalid argument", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	// A restart on the same data dir and store needs no bootstrap, applies
	// nothing twice and keeps serving.
	n = startNode(t, dir, addr, b)
	defer n.Close()
	if !n.HasState() {
		t.Fatal("restarted node reports no state")
	}
	if err := n.ReadBarrier(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := n.Propose(ctx, putCmd("after", "restart"))
	if err != nil || res.Revision != 22 {
		t.Fatalf("put after restart: revision %d err %v, want 22", res.Revision, err)
	}
}

func TestNode_ConcurrentReadsShareRounds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n := startNode(t, t.TempDir(), freeAddr(t), portstest.NewBackend())
	defer n.Close()
	if err := n.ReadBarrier(ctx); err != nil {
		t.Fatal(err)
	}
	const readers = 200
	errc := make(chan error, readers)
	for i := 0; i < readers; i++ {
		go func() { errc <- n.ReadBarrier(ctx) }()
	}
	for i := 0; i < readers; i++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	rounds := counterValue(t, n.metrics.readRounds)
	if rounds >= readers {
		t.Fatalf("%v confirmation rounds for %d concurrent reads: rounds are not shared", rounds, readers+1)
	}
	t.Logf("%d concurrent linearizable reads took %v rounds", readers+1, rounds)
}
