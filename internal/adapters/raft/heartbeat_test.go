package raft

import (
	"context"
	"io"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
	"github.com/rs/zerolog"

	"github.com/cairnkv/cairn/internal/ports/portstest"
)

// TestNode_NewerTermHeartbeatStopsTheLeaderBeforeItDispatches reproduces
// hashicorp/raft issue #695, the cause of the divergence under pauses: a
// leader that receives a heartbeat of a newer term and then a client entry
// must not append that entry with the newer term, which it does not lead.
//
// With hashicorp/raft's heartbeat fast path, the heartbeat raises the term
// on the transport's goroutine while the leader's main loop waits in its
// select; the loop then dispatches the next entry stamped with the new
// term. That is what a frozen leader does when it resumes with a new
// leader's heartbeat and forwarded proposals queued. The member here is a
// single voter so that the test controls every RPC it receives; the
// "new leader" is this test, speaking hashicorp/raft's wire protocol on the peer port.
func TestNode_NewerTermHeartbeatStopsTheLeaderBeforeItDispatches(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	addr := freeAddr(t)
	n := startNode(t, t.TempDir(), addr, portstest.NewBackend())
	defer n.Close()
	if err := n.ReadBarrier(ctx); err != nil {
		t.Fatal(err)
	}

	for round := 0; round < 8; round++ {
		// Leader again (after the usurper of the last round timed out) and
		// ready. A read barrier alone may give up first: it would ask the
		// usurper, which is in no configuration, until its retries end.
		for !n.IsLeader() {
			select {
			case <-ctx.Done():
				t.Fatalf("round %d: the member did not lead again", round)
			case <-time.After(10 * time.Millisecond):
			}
		}
		if err := n.ReadBarrier(ctx); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		term, before := n.raft.CurrentTerm(), n.raft.LastIndex()

		// The heartbeat of a leader of term+1, in the shape hashicorp/raft's
		// transport recognises as one (no previous entry, no entries, no
		// commit index).
		paddr := freeAddr(t)
		stream, err := newTCPStreamLayer(paddr, paddr, nil, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		peer := hraft.NewNetworkTransport(stream, 1, 5*time.Second, io.Discard)
		hb := hraft.AppendEntriesRequest{
			RPCHeader: hraft.RPCHeader{ProtocolVersion: hraft.ProtocolVersionMax, ID: []byte("usurper"), Addr: []byte(peer.LocalAddr())},
			Term:      term + 1,
		}
		var resp hraft.AppendEntriesResponse
		err = peer.AppendEntries("n1", hraft.ServerAddress(addr), &hb, &resp)
		peer.Close()
		if err != nil {
			t.Fatalf("round %d: heartbeat: %v", round, err)
		}
		if resp.Term != term+1 {
			t.Fatalf("round %d: heartbeat answered with term %d, want %d", round, resp.Term, term+1)
		}

		// A client entry right after: the member no longer leads term, and
		// it never led term+1.
		cmd, err := EncodeCommand(putCmd("k", "v"))
		if err != nil {
			t.Fatal(err)
		}
		if err := n.raft.Apply(cmd, 5*time.Second).Error(); err == nil {
			t.Fatalf("round %d: an entry was committed after a heartbeat of term %d", round, term+1)
		}
		for i := before + 1; i <= n.raft.LastIndex(); i++ {
			var e hraft.Log
			if err := n.stores.log.GetLog(i, &e); err != nil {
				t.Fatalf("round %d: entry %d: %v", round, i, err)
			}
			if e.Term == term+1 {
				t.Fatalf("round %d: entry %d (%v) carries term %d, led by another member: the logs can diverge at the same index and term",
					round, i, e.Type, e.Term)
			}
		}
		// The member times the usurper out, stands again and wins a later
		// term; the next round starts from there.
	}
}
