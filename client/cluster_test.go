package client_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cairnkv/cairn/client"
)

// TestClient_Membership adds a learner (one that is not started: a
// learner counts for no quorum), fails to promote it, removes it, and
// hands leadership over, on a 3-member cluster.
func TestClient_Membership(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3)
	c := newClient(t, urls(ms))
	ctx := testCtx(t)

	list, err := c.MemberList(ctx)
	if err != nil || len(list.Members) != 3 {
		t.Fatalf("MemberList = %+v, %v", list, err)
	}
	peer := fmt.Sprintf("http://127.0.0.1:%d", mustFreePort())
	t.Run("Add", func(t *testing.T) {
		add, err := c.MemberAdd(ctx, "n4", peer, client.WithLearner(), client.WithClientURLs("http://127.0.0.1:1"))
		if err != nil {
			t.Fatal(err)
		}
		if add.Member.Name != "n4" || !add.Member.IsLearner || add.Member.ID == 0 || add.Member.PeerAddr != peer {
			t.Fatalf("added %+v", add.Member)
		}
		if len(add.Members) != 4 || add.Header.ClusterID == 0 {
			t.Fatalf("answer %+v", add)
		}
		// The same member again changes nothing.
		again, err := c.MemberAdd(ctx, "n4", peer, client.WithLearner())
		if err != nil || again.Member.ID != add.Member.ID {
			t.Fatalf("added again: %+v, %v", again, err)
		}
	})
	t.Run("ErrConflict", func(t *testing.T) {
		// n1's name at another address.
		_, err := c.MemberAdd(ctx, "n1", fmt.Sprintf("http://127.0.0.1:%d", mustFreePort()), client.WithLearner())
		if !errors.Is(err, client.ErrConflict) {
			t.Fatalf("MemberAdd of a taken name: %v", err)
		}
	})
	var learner uint64
	list, _ = c.MemberList(ctx)
	for _, m := range list.Members {
		if m.Name == "n4" {
			learner = m.ID
		}
	}
	t.Run("PromoteNotCaughtUp", func(t *testing.T) {
		_, err := c.MemberPromote(ctx, learner)
		if !errors.Is(err, client.ErrPreconditionFailed) {
			t.Fatalf("MemberPromote of a learner that is not started: %v", err)
		}
	})
	t.Run("Remove", func(t *testing.T) {
		rm, err := c.MemberRemove(ctx, learner)
		if err != nil || len(rm.Members) != 3 {
			t.Fatalf("MemberRemove = %+v, %v", rm, err)
		}
		if _, err := c.MemberRemove(ctx, learner); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("MemberRemove again: %v", err)
		}
	})
	t.Run("MoveLeader", func(t *testing.T) {
		st, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var to uint64
		for _, m := range list.Members {
			if m.ID != st.Leader && !m.IsLearner {
				to = m.ID
				break
			}
		}
		mv, err := c.MoveLeader(ctx, to)
		if err != nil || mv.Leader != to {
			t.Fatalf("MoveLeader(%d) = %+v, %v", to, mv, err)
		}
		waitFor(t, 10*time.Second, "the new leader in the member list", func() bool {
			l, err := c.MemberList(ctx)
			if err != nil {
				return false
			}
			for _, m := range l.Members {
				if m.IsLeader {
					return m.ID == to
				}
			}
			return false
		})
		if _, err := c.MoveLeader(ctx, 12345); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("MoveLeader to no member: %v", err)
		}
	})
}
