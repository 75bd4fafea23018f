package app

import (
	"context"
	"strconv"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3election/v3electionpb"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
)

// campaignCall is the outcome of a Campaign run in the background.
type campaignCall struct {
	resp *v3electionpb.CampaignResponse
	err  error
}

// TestEtcdAPI_Election: etcd's v3election service against 3 members, each
// client on another member: Campaign, Leader, Observe, Proclaim and
// Resign, a second candidate that waits, and the same election as
// clientv3's concurrency.Election.
func TestEtcdAPI_Election(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3)
	cs := []*clientv3.Client{etcdClient(t, ms[0]), etcdClient(t, ms[1]), etcdClient(t, ms[2])}
	ecs := []v3electionpb.ElectionClient{
		v3electionpb.NewElectionClient(cs[0].ActiveConnection()),
		v3electionpb.NewElectionClient(cs[1].ActiveConnection()),
		v3electionpb.NewElectionClient(cs[2].ActiveConnection()),
	}
	ctx := etcdCtx(t)
	name := []byte("svc")

	if _, err := ecs[0].Leader(ctx, &v3electionpb.LeaderRequest{Name: name}); grpcstatus.Convert(err).Message() != concurrency.ErrElectionNoLeader.Error() {
		t.Fatalf("Leader of an election without one: %v, want etcd's %q", err, concurrency.ErrElectionNoLeader)
	}
	octx, stopObserving := context.WithCancel(ctx)
	defer stopObserving()
	obs, err := ecs[2].Observe(octx, &v3electionpb.LeaderRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	observed := func(want string) {
		t.Helper()
		r, err := obs.Recv()
		if err != nil {
			t.Fatalf("observe, waiting for %q: %v", want, err)
		}
		if string(r.Kv.Value) != want {
			t.Fatalf("observed %q, want %q", r.Kv.Value, want)
		}
	}
	leaderIs := func(c v3electionpb.ElectionClient, want string) {
		t.Helper()
		r, err := c.Leader(ctx, &v3electionpb.LeaderRequest{Name: name})
		if err != nil || string(r.Kv.Value) != want {
			t.Fatalf("Leader = %+v %v, want value %q", r, err, want)
		}
	}

	la := grantEtcdLease(t, cs[0], 30)
	a, err := ecs[0].Campaign(ctx, &v3electionpb.CampaignRequest{Name: name, Lease: int64(la), Value: []byte("a")})
	if err != nil {
		t.Fatal(err)
	}
	l := a.Leader
	if string(l.Name) != "svc" || l.Lease != int64(la) || l.Rev <= 0 || string(l.Key) != "svc/"+leaseHex(la) {
		t.Fatalf("leader key %+v", l)
	}
	observed("a")
	leaderIs(ecs[1], "a")

	lb := grantEtcdLease(t, cs[1], 30)
	second := make(chan campaignCall, 1)
	go func() {
		r, err := ecs[1].Campaign(ctx, &v3electionpb.CampaignRequest{Name: name, Lease: int64(lb), Value: []byte("b")})
		second <- campaignCall{r, err}
	}()
	waitQueueLen(t, cs[2], "svc", 2)
	notYet(t, second, "the second Campaign")

	if _, err := ecs[2].Proclaim(ctx, &v3electionpb.ProclaimRequest{Leader: l, Value: []byte("a2")}); err != nil {
		t.Fatal(err)
	}
	observed("a2")
	leaderIs(ecs[0], "a2")
	// clientv3's Election sees the same leader.
	s, err := concurrency.NewSession(cs[2], concurrency.WithTTL(30))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if r, err := concurrency.NewElection(s, "svc").Leader(ctx); err != nil || string(r.Kvs[0].Value) != "a2" {
		t.Fatalf("concurrency.Election.Leader = %+v %v", r, err)
	}
	// The waiting candidate's key does not lead.
	g, err := cs[1].Get(ctx, "svc/"+leaseHex(lb))
	if err != nil || len(g.Kvs) != 1 {
		t.Fatalf("the second candidate's key: %+v %v", g, err)
	}
	notLeader := &v3electionpb.LeaderKey{Name: name, Key: g.Kvs[0].Key, Rev: g.Kvs[0].CreateRevision, Lease: int64(lb)}
	if _, err := ecs[1].Proclaim(ctx, &v3electionpb.ProclaimRequest{Leader: notLeader, Value: []byte("x")}); grpcstatus.Convert(err).Message() != concurrency.ErrElectionNotLeader.Error() {
		t.Fatalf("Proclaim of a candidate that does not lead: %v, want etcd's %q", err, concurrency.ErrElectionNotLeader)
	}
	if _, err := ecs[0].Proclaim(ctx, &v3electionpb.ProclaimRequest{Value: []byte("x")}); grpcstatus.Code(err) != codes.InvalidArgument {
		t.Fatalf("Proclaim without a leader key: %v", err)
	}

	if _, err := ecs[1].Resign(ctx, &v3electionpb.ResignRequest{Leader: l}); err != nil {
		t.Fatal(err)
	}
	b := receiveCall(t, second, "the second Campaign")
	if b.err != nil || b.resp.Leader.Lease != int64(lb) || b.resp.Leader.Rev <= l.Rev {
		t.Fatalf("second Campaign: %+v %v", b.resp, b.err)
	}
	observed("b")
	leaderIs(ecs[2], "b")
	// A Resign the client retries is not an error, and changes nothing.
	if _, err := ecs[0].Resign(ctx, &v3electionpb.ResignRequest{Leader: l}); err != nil {
		t.Fatalf("second Resign: %v", err)
	}
	leaderIs(ecs[0], "b")
	// The leader's lease ends: the election has no leader, and the
	// observer waits for the next one.
	if _, err := cs[0].Revoke(ctx, lb); err != nil {
		t.Fatal(err)
	}
	if _, err := ecs[0].Campaign(ctx, &v3electionpb.CampaignRequest{Name: name, Value: []byte("c")}); err != nil {
		t.Fatal(err)
	}
	observed("c")
}

// leaseHex is a lease's ID as the queue keys write it.
func leaseHex(id clientv3.LeaseID) string { return strconv.FormatInt(int64(id), 16) }
