package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/snapfile"
)

// fetchSnapshot downloads GET /v1/maintenance/snapshot from url into a file
// and returns its path and revision.
func fetchSnapshot(t *testing.T, url string) (path string, rev int64) {
	t.Helper()
	resp, err := http.Get(url + "/v1/maintenance/snapshot")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("snapshot: %d %s", resp.StatusCode, b)
	}
	rev, err = strconv.ParseInt(resp.Header.Get("X-Cairn-Revision"), 10, 64)
	if err != nil {
		t.Fatalf("X-Cairn-Revision %q", resp.Header.Get("X-Cairn-Revision"))
	}
	path = filepath.Join(t.TempDir(), fmt.Sprintf("cairn-%d.snap", rev))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(f, resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if n != resp.ContentLength {
		t.Fatalf("%d bytes, Content-Length %d", n, resp.ContentLength)
	}
	return path, rev
}

// headerOf returns the "header" of a JSON answer.
func headerOf(t *testing.T, body string) (clusterID uint64, rev int64) {
	t.Helper()
	var out struct {
		Header struct {
			ClusterID uint64 `json:"cluster_id"`
			Revision  int64  `json:"revision"`
		} `json:"header"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return out.Header.ClusterID, out.Header.Revision
}

// kvsAt returns every kv at rev, as JSON (key, value, create and mod
// revision, version, lease), and the hash of the history up to rev.
func kvsAt(t *testing.T, url string, rev int64) (kvs string, hash uint32) {
	t.Helper()
	code, body := doIdempotent(t, http.MethodGet, fmt.Sprintf("%s/v1/kv/?prefix=true&revision=%d", url, rev), "")
	if code != http.StatusOK {
		t.Fatalf("range at %d: %d %s", rev, code, body)
	}
	var r struct {
		KVs   json.RawMessage `json:"kvs"`
		Count int64           `json:"count"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.Count == 0 {
		t.Fatalf("range at %d: %v %s", rev, err, body)
	}
	code, body = doIdempotent(t, http.MethodGet, fmt.Sprintf("%s/v1/maintenance/hash?revision=%d", url, rev), "")
	if code != http.StatusOK {
		t.Fatalf("hash at %d: %d %s", rev, code, body)
	}
	var h struct {
		Hash     uint32 `json:"hash"`
		Revision int64  `json:"revision"`
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil || h.Revision != rev {
		t.Fatalf("hash at %d: %v %s", rev, err, body)
	}
	return string(r.KVs), h.Hash
}

// TestSnapshot_RestoreNewCluster takes a snapshot from a follower of a
// 3-member cluster while a writer runs, restores it into the data dirs of
// a new 3-member cluster (one restore per member), starts that cluster
// with the members' names, data dirs and listen URLs only, and finds the
// history, the hash, the lease (which then expires) and the users of the
// snapshot, under a new cluster ID, with writes going on from there.
func TestSnapshot_RestoreNewCluster(t *testing.T) {
	t.Parallel()
	src := startClusterWith(t, 3, func(c *Config) { c.BcryptCost = 4 })
	li := leaderIndex(t, src, 10*time.Second)
	leader := src[li].URL

	// History: versions, a delete, a compaction, a lease, a user.
	for i := 0; i < 3; i++ {
		for _, k := range []string{"a", "b", "c"} {
			doIdempotent(t, http.MethodPut, leader+"/v1/kv/"+k, fmt.Sprintf("%s%d", k, i))
		}
	}
	doIdempotent(t, http.MethodDelete, leader+"/v1/kv/b", "")
	_, compactRev := headerOf(t, func() string { _, b := doIdempotent(t, http.MethodPut, leader+"/v1/kv/c", "c3"); return b }())
	if code, body := doIdempotent(t, http.MethodPost, leader+"/v1/compact", fmt.Sprintf(`{"revision":%d}`, compactRev)); code != http.StatusOK {
		t.Fatalf("compact: %d %s", code, body)
	}
	doIdempotent(t, http.MethodPut, leader+"/v1/kv/b", "b-again")
	if code, body := doIdempotent(t, http.MethodPost, leader+"/v1/auth/users", `{"name":"alice","password":"pw"}`); code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("add user: %d %s", code, body)
	}
	const leaseID, leaseTTL = 7007, 4
	if code, body := doIdempotent(t, http.MethodPost, leader+"/v1/leases", fmt.Sprintf(`{"id":%d,"ttl":%d}`, leaseID, leaseTTL)); code != http.StatusCreated {
		t.Fatalf("grant: %d %s", code, body)
	}
	if code, body := doIdempotent(t, http.MethodPut, fmt.Sprintf("%s/v1/kv/lease/k?lease=%d", leader, leaseID), "held"); code != http.StatusOK {
		t.Fatalf("put with lease: %d %s", code, body)
	}
	_, body := do(t, http.MethodGet, leader+"/v1/status", "")
	srcCluster, _ := headerOf(t, body)

	// A writer, through every member, before, during and after the snapshot.
	var wrote atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if code, _ := request(http.MethodPut, fmt.Sprintf("%s/v1/kv/w/%d", src[i%3].URL, i%50), strconv.Itoa(i)); code == http.StatusOK {
				wrote.Add(1)
			}
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	waitFor(t, 10*time.Second, "writes before the snapshot", func() bool { return wrote.Load() >= 20 })
	follower := -1
	waitFor(t, 10*time.Second, "a follower that knows the leader", func() bool {
		follower = currentFollower(t, src)
		return follower >= 0
	})
	file, rev := fetchSnapshot(t, src[follower].URL)
	before := wrote.Load()
	waitFor(t, 10*time.Second, "writes after the snapshot", func() bool { return wrote.Load() >= before+20 })
	close(stop)
	wg.Wait()
	t.Logf("snapshot of %s at revision %d; %d writes in all", src[follower].cfg.Name, rev, wrote.Load())

	// What the source holds at the snapshot's revision (and before).
	revs := []int64{compactRev, (compactRev + rev) / 2, rev}
	wantKVs, wantHash := map[int64]string{}, map[int64]uint32{}
	for _, r := range revs {
		wantKVs[r], wantHash[r] = kvsAt(t, leader, r)
	}
	for _, m := range src {
		m.stop() // the new cluster runs on other ports; free the CPU
	}

	// Three restores, one per member of the new cluster.
	peers := make([]Peer, 3)
	for i := range peers {
		peers[i] = Peer{Name: fmt.Sprintf("r%d", i+1), URL: fmt.Sprintf("http://127.0.0.1:%d", freePort(t))}
	}
	dirs := make([]string, 3)
	var clusterID uint64
	for i, p := range peers {
		dirs[i] = filepath.Join(t.TempDir(), p.Name+".cairn")
		res, err := Restore(file, RestoreConfig{Name: p.Name, DataDir: dirs[i], InitialCluster: peers, InitialAdvertisePeerURL: p.URL})
		if err != nil {
			t.Fatalf("restore %s: %v", p.Name, err)
		}
		if res.Revision != rev {
			t.Fatalf("restored revision %d, want %d", res.Revision, rev)
		}
		if i > 0 && res.ClusterID != clusterID {
			t.Fatalf("%s's cluster ID %d, %s's %d: not the same", p.Name, res.ClusterID, peers[0].Name, clusterID)
		}
		clusterID = res.ClusterID
	}
	if clusterID == srcCluster {
		t.Fatalf("the new cluster has the source's ID %d", srcCluster)
	}
	// Started like a restart: name, data dir and listen URLs (no
	// --initial-cluster: the default, this member alone, is ignored).
	dst := make([]*member, 3)
	for i, p := range peers {
		cfg := testConfig(t, p.Name, dirs[i], freePort(t), peers)
		cfg.InitialCluster = []Peer{{Name: p.Name, URL: p.URL}}
		dst[i] = startMember(t, cfg)
	}
	for _, m := range dst {
		waitReady(t, m.URL, 20*time.Second)
	}
	nl := dst[leaderIndex(t, dst, 10*time.Second)].URL

	// The lease first, while it still lives: its TTL counts from the new
	// leader's start.
	code, body := do(t, http.MethodGet, fmt.Sprintf("%s/v1/leases/%d?keys=true", nl, leaseID), "")
	if code != http.StatusOK || !strings.Contains(body, `"lease/k"`) {
		t.Fatalf("the lease after the restore: %d %s", code, body)
	}
	for _, m := range dst {
		for _, r := range revs {
			kvs, h := kvsAt(t, m.URL, r)
			if kvs != wantKVs[r] {
				t.Fatalf("%s at %d:\n got %s\nwant %s", m.cfg.Name, r, kvs, wantKVs[r])
			}
			if h != wantHash[r] {
				t.Fatalf("%s: hash at %d is %x, the source's %x", m.cfg.Name, r, h, wantHash[r])
			}
		}
		code, body := do(t, http.MethodGet, m.URL+"/v1/cluster/members", "")
		if cid, _ := headerOf(t, body); code != http.StatusOK || cid != clusterID {
			t.Fatalf("%s: cluster ID %d, want %d: %s", m.cfg.Name, cid, clusterID, body)
		}
		for _, p := range peers {
			if !strings.Contains(body, p.URL) {
				t.Fatalf("%s: the members lack %s: %s", m.cfg.Name, p.URL, body)
			}
		}
	}
	// Writes go on after the snapshot's revision.
	code, body = doIdempotent(t, http.MethodPut, dst[2].URL+"/v1/kv/after", "restore")
	if _, r := headerOf(t, body); code != http.StatusOK || r <= rev {
		t.Fatalf("put on the new cluster: %d %s", code, body)
	}
	if code, body := doIdempotent(t, http.MethodGet, nl+"/v1/auth/users", ""); code != http.StatusOK || !strings.Contains(body, "alice") {
		t.Fatalf("users after the restore: %d %s", code, body)
	}
	// Nobody renews the lease: it expires, with its key.
	waitFor(t, 3*leaseTTL*time.Second, "the restored lease to expire", func() bool {
		code, _ := doIdempotent(t, http.MethodGet, nl+"/v1/kv/lease/k", "")
		return code == http.StatusNotFound
	})
	if code, body := doIdempotent(t, http.MethodGet, fmt.Sprintf("%s/v1/leases/%d", nl, leaseID), ""); code != http.StatusNotFound {
		t.Fatalf("the lease after its TTL: %d %s", code, body)
	}
}

// TestOpenAPI_Snapshot validates the snapshot's answers against the
// document.
func TestOpenAPI_Snapshot(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 1)
	doc := loadSpec(t)
	router := specRouter(t, doc, ms)
	rev := step(t, doc, router, ms, put("Put", "k", "v")).num(t, "header", "revision")
	runCases(t, doc, router, ms, []apiCase{
		{name: "Snapshot", method: http.MethodGet, target: "/v1/maintenance/snapshot", status: http.StatusOK, check: func(t *testing.T, r *apiResult) {
			h, sum, err := snapfile.Verify(bytes.NewReader(r.body))
			if err != nil || sum == nil {
				t.Fatalf("the answer is not a whole snapshot file: %v", err)
			}
			if h.Revision < rev || r.header.Get("X-Cairn-Revision") != strconv.FormatInt(h.Revision, 10) {
				t.Fatalf("revision %d in the file, %q in X-Cairn-Revision, want >= %d", h.Revision, r.header.Get("X-Cairn-Revision"), rev)
			}
			if got, want := r.header.Get("Content-Length"), strconv.Itoa(len(r.body)); got != want {
				t.Fatalf("Content-Length %s, body %s bytes", got, want)
			}
			if got, want := r.header.Get("Content-Disposition"), fmt.Sprintf(`attachment; filename="cairn-%d.snap"`, h.Revision); got != want {
				t.Fatalf("Content-Disposition %q, want %q", got, want)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/octet-stream" {
				t.Fatalf("Content-Type %q", ct)
			}
		}},
		{name: "SnapshotUnknownParam", method: http.MethodGet, target: "/v1/maintenance/snapshot?revision=1", status: http.StatusBadRequest,
			code: "invalid_argument", req: reqUnchecked},
	})
}
