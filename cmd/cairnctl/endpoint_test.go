package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/cairnkv/cairn/client"
	"github.com/cairnkv/cairn/internal/adapters/raft"
	"github.com/cairnkv/cairn/internal/testutil/freeport"
)

// leadBy moves leadership to the member name and waits until every member
// says so.
func leadBy(t *testing.T, c *cluster, name string) {
	t.Helper()
	cl := newClient(t, c)
	if _, err := cl.MoveLeader(t.Context(), raft.MemberID(name)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "every member to know the new leader", func() bool {
		for _, m := range c.members {
			one, err := client.New(client.Config{Endpoints: []string{m.URL}})
			if err != nil {
				t.Fatal(err)
			}
			st, err := one.Status(t.Context())
			one.Close()
			if err != nil || st.Leader != raft.MemberID(name) {
				return false
			}
		}
		return true
	})
}

// statusCols are the columns of endpoint status; statusMask those that
// change from run to run.
var (
	statusCols = []string{"ENDPOINT", "ID", "VERSION", "DB SIZE", "IN USE", "IS LEADER", "IS LEARNER", "RAFT TERM",
		"RAFT INDEX", "RAFT APPLIED INDEX", "ERRORS"}
	statusMask = []string{"DB SIZE", "IN USE", "RAFT TERM", "RAFT INDEX", "RAFT APPLIED INDEX"}
	hashCols   = []string{"ENDPOINT", "HASH", "REVISION", "COMPACT REVISION"}
)

// TestEndpoint_Golden: endpoint health, status and hashkv, move-leader
// and defrag, on a cluster of their own (its revisions and hashes are the
// same at every run).
func TestEndpoint_Golden(t *testing.T) {
	c := startCluster(t, 3, nil)
	n1, n2 := c.members[0], c.members[1]
	dead := fmt.Sprintf("http://127.0.0.1:%d", freeport.MustGet())
	n := newNormalizer(c).replace(dead, "<dead>").replace(dead[len("http://"):], "<dead-addr>").
		rewrite(`[0-9.]+ [kMG]?B -> [0-9.]+ [kMG]?B in \S+`, "<size> -> <size> in <took>")
	id := func(name string) string { return fmt.Sprintf("%x", raft.MemberID(name)) }
	golden(t, c, n, "endpoint", []step{
		{args: []string{"endpoint", "health"}, before: func(t *testing.T) { leadBy(t, c, "n1") }},
		{args: []string{"-w", "table", "endpoint", "health"}},
		{args: []string{"--endpoints", n1.URL, "endpoint", "health", "--cluster"}},
		{args: []string{"endpoint", "status"}, cols: statusCols, mask: statusMask},
		{args: []string{"--endpoints", n2.URL, "-w", "table", "endpoint", "status", "--cluster"}, mask: statusMask,
			before: func(t *testing.T) { leadBy(t, c, "n1") }},
		{args: []string{"put", "a", "1"}},
		{args: []string{"put", "b", "2"}},
		{args: []string{"endpoint", "hashkv", "--rev", "2"}, cols: hashCols},
		{args: []string{"-w", "table", "endpoint", "hashkv", "--cluster"}},
		{args: []string{"move-leader", id("n2")}, before: func(t *testing.T) { leadBy(t, c, "n1") }},
		{args: []string{"-w", "table", "endpoint", "status"}, mask: statusMask,
			before: func(t *testing.T) { leadBy(t, c, "n2") }},
		{args: []string{"move-leader", id("n2")}, before: func(t *testing.T) { leadBy(t, c, "n2") }},
		{args: []string{"--endpoints", n1.URL, "defrag"}},
		{args: []string{"defrag", "--cluster"}},
		// A member that does not answer.
		{args: []string{"--endpoints", n1.URL + "," + dead, "endpoint", "health"}},
		{args: []string{"--endpoints", n1.URL + "," + dead, "-w", "table", "endpoint", "health"}},
		{args: []string{"--endpoints", dead + "," + n1.URL, "endpoint", "status"}, cols: statusCols, mask: append([]string{"IS LEADER"}, statusMask...)},
		{args: []string{"--endpoints", dead + "," + n1.URL, "endpoint", "hashkv", "--rev", "2"}, cols: hashCols},
		{args: []string{"--endpoints", dead, "defrag"}},
		{args: []string{"move-leader", "12345"}},
		{args: []string{"move-leader"}},
		{args: []string{"endpoint", "hashkv", "--rev", "1000"}},
	})
}

func TestEndpoint_JSON(t *testing.T) {
	c := sharedCluster(t)
	var health []struct {
		Endpoint string `json:"endpoint"`
		Health   bool   `json:"health"`
		Took     string `json:"took"`
		Error    string `json:"error"`
	}
	decode(t, c.mustCtl(t, "-w", "json", "endpoint", "health", "--cluster"), &health)
	if len(health) != 3 {
		t.Fatalf("endpoint health -w json: %+v", health)
	}
	for i, h := range health {
		if h.Endpoint != c.members[i].URL || !h.Health || h.Error != "" {
			t.Fatalf("endpoint health -w json: %+v", health)
		}
		if _, err := time.ParseDuration(h.Took); err != nil {
			t.Fatalf("took %q: %v", h.Took, err)
		}
	}
	var status []struct {
		Endpoint string `json:"endpoint"`
		Status   struct {
			MemberID     uint64 `json:"member_id"`
			Name         string `json:"name"`
			Leader       uint64 `json:"leader"`
			RaftIndex    uint64 `json:"raft_index"`
			AppliedIndex uint64 `json:"applied_index"`
			DBSize       int64  `json:"db_size"`
			Version      string `json:"version"`
			Alarms       []any  `json:"alarms"`
		} `json:"status"`
	}
	decode(t, c.mustCtl(t, "-w", "json", "endpoint", "status"), &status)
	if len(status) != 3 {
		t.Fatalf("endpoint status -w json: %+v", status)
	}
	for i, s := range status {
		if s.Endpoint != c.members[i].URL || s.Status.Name != c.members[i].name || s.Status.MemberID != raft.MemberID(s.Status.Name) ||
			s.Status.Leader == 0 || s.Status.DBSize <= 0 || s.Status.Version == "" || s.Status.Alarms == nil {
			t.Fatalf("endpoint status -w json: %+v", status)
		}
	}
	rev := revision(t, c)
	var hashes []struct {
		Endpoint string `json:"endpoint"`
		Hash     struct {
			Hash     uint32 `json:"hash"`
			Revision int64  `json:"revision"`
		} `json:"hash"`
	}
	decode(t, c.mustCtl(t, "-w", "json", "endpoint", "hashkv", "--cluster", "--rev", fmt.Sprint(rev)), &hashes)
	if len(hashes) != 3 {
		t.Fatalf("endpoint hashkv -w json: %+v", hashes)
	}
	for _, h := range hashes {
		if h.Hash.Revision != rev || h.Hash.Hash != hashes[0].Hash.Hash || h.Hash.Hash == 0 {
			t.Fatalf("endpoint hashkv -w json at %d: %+v", rev, hashes)
		}
	}
	var defrag struct {
		Endpoint     string `json:"endpoint"`
		DBSizeBefore int64  `json:"db_size_before"`
		DBSizeAfter  int64  `json:"db_size_after"`
	}
	decode(t, c.mustCtl(t, "--endpoints", c.members[2].URL, "-w", "json", "defrag"), &defrag)
	if defrag.Endpoint != c.members[2].URL || defrag.DBSizeAfter <= 0 || defrag.DBSizeBefore <= 0 {
		t.Fatalf("defrag -w json: %+v", defrag)
	}
	var moved struct {
		Leader uint64 `json:"leader"`
	}
	to := raft.MemberID("n3")
	decode(t, c.mustCtl(t, "-w", "json", "move-leader", fmt.Sprintf("%x", to)), &moved)
	if moved.Leader != to {
		t.Fatalf("move-leader -w json: %+v", moved)
	}
}
