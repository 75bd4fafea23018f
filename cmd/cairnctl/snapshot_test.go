package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cairnkv/cairn/internal/testutil/freeport"
	"github.com/cairnkv/cairn/internal/testutil/testlog"
)

// TestSnapshot_Golden saves a snapshot, checks it, restores it into the
// data dir of a new member, and starts that member: it has the keys.
func TestSnapshot_Golden(t *testing.T) {
	c := startCluster(t, 1, nil)
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.snap")
	damaged := filepath.Join(dir, "damaged.snap")
	peer := fmt.Sprintf("http://127.0.0.1:%d", freeport.MustGet())
	n := newNormalizer(c).replace(dir, "<dir>").replace(peer, "<r1-peer>").
		rewrite(`\(\d+ bytes of store\)`, "(<n> bytes of store)")
	damage := func(t *testing.T) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0xff
		if err := os.WriteFile(damaged, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	golden(t, c, n, "snapshot", []step{
		{args: []string{"put", "a", "1"}},
		{args: []string{"put", "b", "2"}},
		{args: []string{"snapshot", "save", file}},
		{args: []string{"snapshot", "status", file}, cols: []string{"HASH", "REVISION", "TOTAL SIZE", "VERSION"}, mask: []string{"TOTAL SIZE"}},
		{args: []string{"-w", "table", "snapshot", "status", file}, mask: []string{"TOTAL SIZE"}},
		{args: []string{"snapshot", "restore", file, "--name", "r1", "--data-dir", filepath.Join(dir, "r1"),
			"--initial-cluster", "r1=" + peer, "--initial-advertise-peer-urls", peer}},
		{args: []string{"snapshot", "restore", file, "--name", "r1", "--data-dir", filepath.Join(dir, "r1"),
			"--initial-cluster", "r1=" + peer, "--initial-advertise-peer-urls", peer}},
		{args: []string{"snapshot", "status", damaged}, before: damage},
		{args: []string{"snapshot", "restore", damaged, "--data-dir", filepath.Join(dir, "r2")}},
		{args: []string{"snapshot", "restore", file, "--initial-cluster", "bad"}},
		{args: []string{"snapshot", "save", filepath.Join(dir, "no", "such", "dir", "x.snap")}},
		{args: []string{"snapshot", "status", filepath.Join(dir, "missing.snap")}},
	})
	if _, err := os.Stat(filepath.Join(dir, "r2")); err == nil {
		t.Fatal("a failed restore left a data dir")
	}

	// The restored member starts as a new one-member cluster, with the keys.
	cfg := memberConfig("r1", filepath.Join(dir, "r1"), nil)
	cfg.ListenPeerURL = peer
	m, err := startMember(cfg, zerolog.New(testlog.Writer(t)).Level(zerolog.WarnLevel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.stop)
	if err := waitReady(m.URL, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	restored := &cluster{members: []*member{m}}
	if out := restored.mustCtl(t, "get", "--prefix", ""); out != "a\n1\nb\n2\n" {
		t.Fatalf("the restored member has %q", out)
	}
}

func TestSnapshot_JSON(t *testing.T) {
	c := sharedCluster(t)
	file := filepath.Join(t.TempDir(), "s.snap")
	var saved struct {
		Path     string `json:"path"`
		Revision int64  `json:"revision"`
	}
	decode(t, c.mustCtl(t, "-w", "json", "snapshot", "save", file), &saved)
	if saved.Path != file || saved.Revision <= 0 {
		t.Fatalf("snapshot save -w json: %+v", saved)
	}
	if _, err := os.Stat(file + ".part"); err == nil {
		t.Fatal("snapshot save left its .part file")
	}
	var st struct {
		Hash      string `json:"hash"`
		Revision  int64  `json:"revision"`
		TotalSize int64  `json:"total_size"`
		Version   uint32 `json:"version"`
	}
	decode(t, c.mustCtl(t, "-w", "json", "snapshot", "status", file), &st)
	if len(st.Hash) != 64 || st.Revision != saved.Revision || st.TotalSize <= 0 || st.Version != 1 {
		t.Fatalf("snapshot status -w json: %+v", st)
	}
	var restored struct {
		DataDir   string `json:"data_dir"`
		Revision  int64  `json:"revision"`
		ClusterID uint64 `json:"cluster_id"`
	}
	dataDir := filepath.Join(t.TempDir(), "x")
	decode(t, c.mustCtl(t, "-w", "json", "snapshot", "restore", file, "--data-dir", dataDir), &restored)
	if restored.DataDir != dataDir || restored.Revision != saved.Revision || restored.ClusterID == 0 {
		t.Fatalf("snapshot restore -w json: %+v", restored)
	}
	if !strings.HasPrefix(c.mustCtl(t, "snapshot", "--help"), "Snapshots:") {
		t.Fatal("snapshot --help")
	}
}
