package app

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestEtcdctl_MemberAdd: etcdctl adds a learner named in its peer URL
// (http://NAME@host:port: a Cairn member's name is its Raft ID and must be
// known when it is added), the member starts with the cluster it printed,
// catches up, and etcdctl promotes it. A peer URL without a name is
// refused with a message that says how to give one.
func TestEtcdctl_MemberAdd(t *testing.T) {
	t.Parallel()
	bin := etcdctlPath(t)
	ms := startCluster(t, 3)
	r := etcdctlRunner{t: t, bin: bin, endpoints: ms[0].URL + "," + ms[1].URL}
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := r.cmd(ctx, "", "member", "add", "n4", "--peer-urls="+peerURL).CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "NAME@host:port") {
		t.Fatalf("member add without a name in the URL: %v %s", err, out)
	}

	out := r.run("", "member", "add", "n4", "--peer-urls="+strings.Replace(peerURL, "://", "://n4@", 1), "--learner")
	var id uint64
	if _, err := fmt.Sscanf(strings.TrimSpace(out), "Member %x added as learner to cluster", &id); err != nil || id == 0 {
		t.Fatalf("member add: %v: %q", err, out)
	}
	for _, want := range []string{`ETCD_NAME="n4"`, "n4=" + peerURL, "n1=" + ms[0].cfg.ListenPeerURL} {
		if !strings.Contains(out, want) {
			t.Fatalf("member add printed no %q:\n%s", want, out)
		}
	}

	cfg := testConfig(t, "n4", t.TempDir(), freePort(t), append(append([]Peer(nil), ms[0].cfg.InitialCluster...), Peer{Name: "n4", URL: peerURL}))
	cfg.InitialClusterState = "existing"
	n4 := startMember(t, cfg)
	waitReady(t, n4.URL, 30*time.Second)
	// A learner is promoted once it has caught up: retry until then.
	hexID := fmt.Sprintf("%x", id)
	waitFor(t, 30*time.Second, "etcdctl to promote n4", func() bool {
		pctx, pcancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer pcancel()
		out, err := r.cmd(pctx, "", "member", "promote", hexID).CombinedOutput()
		return err == nil && strings.Contains(string(out), "promoted in cluster")
	})
	// n4 publishes its client URL once it runs, as an etcd member does.
	want := hexID + ", started, n4, " + peerURL + ", " + n4.URL + ", false"
	waitFor(t, 30*time.Second, "member list to show n4 as a started voter: "+want, func() bool {
		return strings.Contains(r.run("", "member", "list"), want)
	})
	wantOutput(t, "put through n4", etcdctlRunner{t: t, bin: bin, endpoints: n4.URL}.run("", "put", "via/n4", "1"), "OK")
}
