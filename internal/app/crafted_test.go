package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	raftadapter "github.com/cairnkv/cairn/internal/adapters/raft"
	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/domaintest"
)

// TestCluster_RefusesCraftedCommands replays issue 11 on a three-member
// cluster: each crafted command, proposed on a follower, forwarded to the
// leader's side of forwarding, and posted over the peer port by a member,
// is refused (400 invalid_argument over HTTP, domain.ErrInvalidArgument
// below), and so is a member record that would rewrite the leader's
// client URL. Afterwards the cluster is healthy: a write through a
// follower works, the members converge and their hashes are equal.
func TestCluster_RefusesCraftedCommands(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3)
	leader := ms[leaderIndex(t, ms, 10*time.Second)]
	var follower *member
	for _, m := range ms {
		if m != leader {
			follower = m
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	before := mustPut(t, follower.URL, "crafted/before", "v")

	peerBase, err := follower.app.node.LeaderPeerURL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	peer := &http.Client{Transport: follower.app.node.PeerTransport()}
	postPeer := func(data []byte) (int, string) {
		t.Helper()
		resp, err := peer.Post(peerBase+raftadapter.PathPropose, "application/octet-stream", bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e struct {
			Error struct{ Code string } `json:"error"`
		}
		body, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(body, &e)
		return resp.StatusCode, e.Error.Code
	}
	refused := func(what string, data []byte) {
		t.Helper()
		if code, errCode := postPeer(data); code != http.StatusBadRequest || errCode != "invalid_argument" {
			t.Errorf("%s over the peer port: %d %s, want 400 invalid_argument", what, code, errCode)
		}
		if _, err := leader.app.node.ProposeEncoded(ctx, follower.cfg.Name, data); !errors.Is(err, domain.ErrInvalidArgument) {
			t.Errorf("%s forwarded: %v, want invalid argument", what, err)
		}
	}
	for _, c := range domaintest.CraftedCommands() {
		data, err := raftadapter.EncodeCommand(c.Cmd)
		if err != nil {
			t.Fatal(err)
		}
		refused(c.Name, data)
		if _, err := follower.app.node.Propose(ctx, c.Cmd); !errors.Is(err, domain.ErrInvalidArgument) {
			t.Errorf("%s proposed on a follower: %v, want invalid argument", c.Name, err)
		}
	}
	refused("the issue's bytes", []byte{1, 3, 1, 0, 0, 0, 0})

	// The registry as it is: every member published its record (the
	// followers theirs through forwarding).
	members := func() map[string][]string {
		_, body := doIdempotent(t, http.MethodGet, leader.URL+"/v1/cluster/members", "")
		var out struct {
			Members []struct {
				Name       string   `json:"name"`
				ClientURLs []string `json:"client_urls"`
			} `json:"members"`
		}
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatal(err)
		}
		m := map[string][]string{}
		for _, x := range out.Members {
			m[x.Name] = x.ClientURLs
		}
		return m
	}
	reg := members()
	for _, m := range ms {
		if len(reg[m.cfg.Name]) == 0 || reg[m.cfg.Name][0] != m.URL {
			t.Fatalf("registry has %q for %s, want %s", reg[m.cfg.Name], m.cfg.Name, m.URL)
		}
	}
	record := func(m *member, clientURL string) []byte {
		data, err := raftadapter.EncodeCommand(domain.Command{Type: domain.CmdPublishMember, Member: &domain.PublishMember{
			Member: domain.Member{ID: raftadapter.MemberID(m.cfg.Name), Name: m.cfg.Name, PeerURL: m.cfg.InitialAdvertisePeerURL, ClientURLs: []string{clientURL}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	refused("the leader's record with another client URL", record(leader, "http://127.0.0.1:1"))
	for _, m := range ms {
		if m != leader && m != follower {
			refused("another follower's record", record(m, "http://127.0.0.1:1"))
		}
	}
	// Its own record, as it is: what a follower publishes at its start.
	if code, errCode := postPeer(record(follower, follower.URL)); code != http.StatusOK {
		t.Errorf("the follower's own record: %d %s, want 200", code, errCode)
	}

	after := mustPut(t, follower.URL, "crafted/after", "v")
	if after != before+1 {
		t.Errorf("put after the crafted commands is at revision %d, want %d: something else was applied", after, before+1)
	}
	waitCaughtUp(t, ms, after)
	want := hashAt(t, leader.URL, after)
	for _, m := range ms {
		if h := hashAt(t, m.URL, after); h != want {
			t.Errorf("%s has hash %x at %d, the leader %x", m.cfg.Name, h, after, want)
		}
	}
	got := members()
	for _, m := range ms {
		if len(got[m.cfg.Name]) != 1 || got[m.cfg.Name][0] != m.URL {
			t.Errorf("registry has %q for %s after the crafted records, want [%s]", got[m.cfg.Name], m.cfg.Name, m.URL)
		}
	}
}
