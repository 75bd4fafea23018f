package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cairnkv/cairn/client"
	"github.com/cairnkv/cairn/internal/adapters/raft"
	"github.com/cairnkv/cairn/internal/app"
	"github.com/cairnkv/cairn/internal/testutil/freeport"
	"github.com/cairnkv/cairn/internal/testutil/testlog"
)

// newClient returns a client of the cluster, closed when the test ends.
func newClient(t *testing.T, c *cluster) *client.Client {
	t.Helper()
	urls := make([]string, len(c.members))
	for i, m := range c.members {
		urls[i] = m.URL
	}
	cl, err := client.New(client.Config{Endpoints: urls})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// clusterID returns the ID of the cluster.
func clusterID(t *testing.T, cl *client.Client) uint64 {
	t.Helper()
	resp, err := cl.MemberList(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.ClusterID
}

// memberID is the ID of the member name, as cairnctl prints it.
func memberID(t *testing.T, cl *client.Client, name string) string {
	t.Helper()
	resp, err := cl.MemberList(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range resp.Members {
		if m.Name == name {
			return fmt.Sprintf("%x", m.ID)
		}
	}
	t.Fatalf("no member %s in %+v", name, resp.Members)
	return ""
}

// TestMember_Golden grows a 1-member cluster by a learner, promotes it,
// and removes it.
func TestMember_Golden(t *testing.T) {
	c := startCluster(t, 1, nil)
	cl := newClient(t, c)
	n1 := c.members[0]
	n2Peer := fmt.Sprintf("http://127.0.0.1:%d", freeport.MustGet())
	n := newNormalizer(c).replace(n2Peer, "<n2-peer>").replace(strings.TrimPrefix(n2Peer, "http://"), "<n2-peer-addr>").
		replace(fmt.Sprintf("%x", clusterID(t, cl)), "<cluster-id>")
	n2ID := fmt.Sprintf("%x", raft.MemberID("n2")) // derived from the name
	var n2 *member
	startN2 := func(t *testing.T) {
		w := testlog.Writer(t)
		cfg := memberConfig("n2", filepath.Join(t.TempDir(), "n2"), []app.Peer{{Name: "n1", URL: n1.PeerURL}, {Name: "n2", URL: n2Peer}})
		cfg.InitialClusterState = "existing"
		var err error
		if n2, err = startMember(cfg, zerolog.New(w).Level(zerolog.WarnLevel)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n2.stop)
		n.replace(n2.URL, "<n2>")
		if err := waitReady(n2.URL, 20*time.Second); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 20*time.Second, "n2 to catch up and be promoted", func() bool {
			_, err := cl.MemberPromote(t.Context(), raft.MemberID("n2"))
			return err == nil
		})
		// The listing that follows shows n2 started once its own record
		// (its client URLs) is committed: it publishes it through the
		// leader after it starts, independently of the promotion.
		waitFor(t, 20*time.Second, "n2 to publish its client URLs", func() bool {
			ml, err := cl.MemberList(t.Context())
			if err != nil {
				return false
			}
			for _, m := range ml.Members {
				if m.Name == "n2" && len(m.ClientURLs) > 0 {
					return true
				}
			}
			return false
		})
	}
	golden(t, c, n, "member", []step{
		{args: []string{"member", "list"}},
		{args: []string{"member", "add", "n2", "--peer-urls", n2Peer, "--learner"}},
		{args: []string{"-w", "table", "member", "list"}},
		{args: []string{"member", "promote", n2ID}},
		{args: []string{"member", "promote", n2ID}, before: startN2},
		{args: []string{"member", "list"}},
		{args: []string{"-w", "table", "member", "list"}},
		{args: []string{"member", "remove", n2ID}},
		{args: []string{"member", "list"}},
		{args: []string{"member", "remove", n2ID}},
		{args: []string{"member", "add", "n1", "--peer-urls", "http://127.0.0.1:1"}},
		{args: []string{"member", "add", "n3"}},
		{args: []string{"member", "remove", "not-hex"}},
		{args: []string{"member", "promote"}},
	})
}

func TestMember_JSON(t *testing.T) {
	c := sharedCluster(t)
	var list struct {
		Header struct {
			ClusterID uint64 `json:"cluster_id"`
		} `json:"header"`
		Members []struct {
			ID         uint64   `json:"id"`
			Name       string   `json:"name"`
			PeerAddr   string   `json:"peer_addr"`
			ClientURLs []string `json:"client_urls"`
			IsLearner  bool     `json:"is_learner"`
			IsLeader   bool     `json:"is_leader"`
		} `json:"members"`
	}
	decode(t, c.mustCtl(t, "-w", "json", "member", "list"), &list)
	leaders := 0
	for i, m := range list.Members {
		want := c.members[i]
		if m.Name != want.name || m.PeerAddr != want.PeerURL || len(m.ClientURLs) != 1 || m.ClientURLs[0] != want.URL || m.IsLearner || m.ID == 0 {
			t.Errorf("member %d: %+v, want %s at %s", i, m, want.name, want.URL)
		}
		if m.IsLeader {
			leaders++
		}
	}
	if len(list.Members) != 3 || leaders != 1 || list.Header.ClusterID == 0 {
		t.Fatalf("member list -w json: %+v", list)
	}
	// A learner added and removed: the JSON of add and remove.
	var add struct {
		Member struct {
			ID        uint64 `json:"id"`
			Name      string `json:"name"`
			IsLearner bool   `json:"is_learner"`
		} `json:"member"`
		Members []any `json:"members"`
	}
	peer := fmt.Sprintf("http://127.0.0.1:%d", freeport.MustGet())
	decode(t, c.mustCtl(t, "-w", "json", "member", "add", "n9", "--peer-urls", peer, "--learner"), &add)
	if add.Member.Name != "n9" || !add.Member.IsLearner || len(add.Members) != 4 {
		t.Fatalf("member add -w json: %+v", add)
	}
	var rm struct {
		Members []any `json:"members"`
	}
	decode(t, c.mustCtl(t, "-w", "json", "member", "remove", fmt.Sprintf("%x", add.Member.ID)), &rm)
	if len(rm.Members) != 3 {
		t.Fatalf("member remove -w json: %+v", rm)
	}
	if _, err := newClient(t, c).MemberRemove(t.Context(), add.Member.ID); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("the learner is still there: %v", err)
	}
}
