package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	boltadapter "github.com/cairnkv/cairn/internal/adapters/bolt"
	"github.com/cairnkv/cairn/internal/snapfile"
)

// snapshotFile writes a snapshot file of a small store (3 revisions after
// the first) and returns its path and the path of the bare store.
func snapshotFile(t *testing.T) (file, stateDB string) {
	t.Helper()
	dir := t.TempDir()
	stateDB = filepath.Join(dir, "state.db")
	be, err := boltadapter.Open(stateDB, boltadapter.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	b, err := be.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "c"} {
		if err := b.Put([]byte(k), []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
		b.EndRevision()
	}
	b.SetApplied(10, 2)
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	snap, err := be.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	var buf bytes.Buffer
	w, err := snapfile.NewWriter(&buf, snap.Rev(), snap.Size())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snap.WriteTo(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(dir, "backup.snap")
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return file, stateDB
}

// entries lists the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func restoreConfig(dir string) RestoreConfig {
	return RestoreConfig{Name: "n1", DataDir: dir, InitialAdvertisePeerURL: "http://127.0.0.1:12380", InitialCluster: []Peer{
		{Name: "n1", URL: "http://127.0.0.1:12380"}, {Name: "n2", URL: "http://127.0.0.1:22380"}, {Name: "n3", URL: "http://127.0.0.1:32380"},
	}}
}

func TestRestore_Refused(t *testing.T) {
	t.Parallel()
	file, stateDB := snapshotFile(t)
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	writeFile := func(t *testing.T, b []byte) string {
		p := filepath.Join(t.TempDir(), "in.snap")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	damaged := bytes.Clone(good)
	damaged[snapfile.HeaderSize+4096+100] ^= 0x40
	tests := []struct {
		name  string
		file  func(t *testing.T) string
		setup func(t *testing.T, dir string) // prepares the data dir
		want  error                          // errors.Is, when set
		msg   string
	}{
		{name: "Damaged", file: func(t *testing.T) string { return writeFile(t, damaged) },
			want: snapfile.ErrChecksum, msg: "damaged (checksum mismatch)"},
		{name: "Truncated", file: func(t *testing.T) string { return writeFile(t, good[:len(good)/2]) },
			want: snapfile.ErrTruncated, msg: "truncated"},
		{name: "TrailingData", file: func(t *testing.T) string { return writeFile(t, append(bytes.Clone(good), "x"...)) },
			want: snapfile.ErrChecksum},
		{name: "BareStateDB", file: func(*testing.T) string { return stateDB },
			want: snapfile.ErrNotSnapshot, msg: "it is a bare bbolt database (an etcd snapshot, or a Cairn state.db copied by hand?)"},
		{name: "Empty", file: func(t *testing.T) string { return writeFile(t, nil) },
			want: snapfile.ErrNotSnapshot, msg: "empty"},
		{name: "Missing", file: func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope.snap") },
			want: os.ErrNotExist},
		{name: "DataDirNotEmpty", file: func(*testing.T) string { return file },
			setup: func(t *testing.T, dir string) {
				if err := os.MkdirAll(filepath.Join(dir, "raft"), 0o700); err != nil {
					t.Fatal(err)
				}
			},
			msg: "exists and is not empty (it holds raft)"},
		{name: "DataDirIsAFile", file: func(*testing.T) string { return file },
			setup: func(t *testing.T, dir string) {
				if err := os.WriteFile(dir, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			},
			msg: "exists and is not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parent := t.TempDir()
			dir := filepath.Join(parent, "n1.cairn")
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			before := entries(t, parent)
			_, err := Restore(tt.file(t), restoreConfig(dir))
			if err == nil {
				t.Fatal("restore succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %q does not say %q", err, tt.msg)
			}
			t.Logf("refused: %v", err)
			// Nothing was left behind: no data dir, no temporary directory;
			// a data dir that was there is as it was.
			if got := entries(t, parent); strings.Join(got, " ") != strings.Join(before, " ") {
				t.Fatalf("the restore left %q in the parent (before: %q)", got, before)
			}
			if tt.name == "DataDirNotEmpty" {
				if got := entries(t, dir); strings.Join(got, " ") != "raft" {
					t.Fatalf("the data dir changed: %q", got)
				}
			}
		})
	}
	t.Run("BadFlags", func(t *testing.T) {
		t.Parallel()
		cfg := restoreConfig(filepath.Join(t.TempDir(), "d"))
		cfg.Name = "n9"
		if _, err := Restore(file, cfg); err == nil || !strings.Contains(err.Error(), `--initial-cluster: member "n9" is not listed`) {
			t.Fatalf("error %v", err)
		}
		cfg = restoreConfig(filepath.Join(t.TempDir(), "d"))
		cfg.InitialAdvertisePeerURL = "http://127.0.0.1:9"
		if _, err := Restore(file, cfg); err == nil || !strings.Contains(err.Error(), "--initial-advertise-peer-urls is") {
			t.Fatalf("error %v", err)
		}
	})
}

// TestSnapshotCommand_Restore runs the subcommand as the binary does and
// checks the data dir it writes: laid out as a stopped member's, with the
// same cluster ID for every member of the same file and cluster.
func TestSnapshotCommand_Restore(t *testing.T) {
	t.Parallel()
	file, _ := snapshotFile(t)
	parent := t.TempDir()
	run := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := SnapshotCommand(args, &out, &errOut)
		return out.String() + errOut.String(), err
	}
	cluster := "n1=http://127.0.0.1:12380,n2=http://127.0.0.1:22380"
	// An empty data dir is fine; the parent of one may be missing.
	if err := os.Mkdir(filepath.Join(parent, "n1"), 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := run("restore", file, "--name", "n1", "--data-dir", filepath.Join(parent, "n1"),
		"--initial-cluster", cluster, "--initial-advertise-peer-urls", "http://127.0.0.1:12380")
	if err != nil || !strings.Contains(out, "restored revision 4") {
		t.Fatalf("restore n1: %v\n%s", err, out)
	}
	out, err = run("restore", "--name", "n2", "--data-dir", filepath.Join(parent, "sub", "n2"),
		"--initial-cluster", cluster, "--initial-advertise-peer-urls", "http://127.0.0.1:22380", file)
	if err != nil {
		t.Fatalf("restore n2: %v\n%s", err, out)
	}

	var ids []uint64
	for _, dir := range []string{filepath.Join(parent, "n1"), filepath.Join(parent, "sub", "n2")} {
		if got := strings.Join(entries(t, dir), " "); got != "raft state.db" {
			t.Fatalf("%s holds %q, want raft and state.db (no marker of unsynced commits)", dir, got)
		}
		if got := strings.Join(entries(t, filepath.Join(dir, "raft")), " "); got != "raft.db snapshots wal" {
			t.Fatalf("%s/raft holds %q", dir, got)
		}
		snaps := entries(t, filepath.Join(dir, "raft", "snapshots"))
		if len(snaps) != 1 || !strings.HasPrefix(snaps[0], "1-1-") {
			t.Fatalf("Raft snapshots %q, want one at term 1, index 1", snaps)
		}
		be, err := boltadapter.Open(filepath.Join(dir, "state.db"), boltadapter.Config{})
		if err != nil {
			t.Fatal(err)
		}
		idx, term := be.Applied()
		ms, _ := be.Members()
		ids = append(ids, be.ClusterID())
		st := be.Stats()
		be.Close()
		if idx != 0 || term != 0 || len(ms) != 0 || st.Rev != 4 || st.Keys != 3 {
			t.Fatalf("%s: applied %d/%d, members %v, %+v", dir, idx, term, ms, st)
		}
	}
	if ids[0] != ids[1] || ids[0] == 0 {
		t.Fatalf("cluster IDs %v: not the same", ids)
	}
	// Another cluster from the same file gets another ID.
	other := filepath.Join(parent, "other")
	res, err := Restore(file, RestoreConfig{Name: "x", DataDir: other, InitialAdvertisePeerURL: "http://127.0.0.1:12380",
		InitialCluster: []Peer{{Name: "x", URL: "http://127.0.0.1:12380"}}})
	if err != nil || res.ClusterID == ids[0] {
		t.Fatalf("another cluster: %+v, %v", res, err)
	}

	if out, err := run("restore", "-h"); err != nil || !strings.Contains(out, "Usage: cairn snapshot restore FILE") || !strings.Contains(out, "-initial-cluster") {
		t.Fatalf("help: %v\n%s", err, out)
	}
	if _, err := run("restore"); err == nil || !strings.Contains(err.Error(), "which snapshot file") {
		t.Fatalf("no file: %v", err)
	}
	if _, err := run("restore", "a", "b"); err == nil || !strings.Contains(err.Error(), "one snapshot file, not 2") {
		t.Fatalf("two files: %v", err)
	}
	if _, err := run("save"); err == nil || !strings.Contains(err.Error(), `unknown subcommand "save"`) {
		t.Fatalf("unknown subcommand: %v", err)
	}
}

// TestRestore_AddMemberLater: a member added to a restored cluster gets
// the restored store (through the Raft snapshot the restore wrote), not
// only the entries written since.
func TestRestore_AddMemberLater(t *testing.T) {
	t.Parallel()
	file, _ := snapshotFile(t)
	peers := []Peer{
		{Name: "r1", URL: fmt.Sprintf("http://127.0.0.1:%d", freePort(t))},
		{Name: "r2", URL: fmt.Sprintf("http://127.0.0.1:%d", freePort(t))},
	}
	dir := filepath.Join(t.TempDir(), "r1")
	if _, err := Restore(file, RestoreConfig{Name: "r1", DataDir: dir, InitialCluster: peers[:1], InitialAdvertisePeerURL: peers[0].URL}); err != nil {
		t.Fatal(err)
	}
	r1 := startMember(t, testConfig(t, "r1", dir, freePort(t), peers[:1]))
	waitReady(t, r1.URL, 20*time.Second)
	if code, body := doIdempotent(t, http.MethodPut, r1.URL+"/v1/kv/d", "new"); code != http.StatusOK {
		t.Fatalf("put: %d %s", code, body)
	}
	cfg := testConfig(t, "r2", t.TempDir(), freePort(t), peers)
	cfg.InitialClusterState = "existing"
	r2 := startMember(t, cfg)
	body, _ := json.Marshal(map[string]any{"name": "r2", "peer_addr": peers[1].URL, "client_urls": []string{r2.URL}})
	if code, resp := doIdempotent(t, http.MethodPost, r1.URL+"/v1/cluster/members", string(body)); code != http.StatusCreated {
		t.Fatalf("add r2: %d %s", code, resp)
	}
	waitFor(t, 20*time.Second, "r2 to hold the restored keys and the new one", func() bool {
		code, body := request(http.MethodGet, r2.URL+"/v1/kv/?prefix=true&keys_only=true&serializable=true", "")
		return code == http.StatusOK && strings.Contains(body, `"count":4`)
	})
}
