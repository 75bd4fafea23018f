package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSnapshot_BackupAndRestore is the recipe of the README as processes:
// a snapshot taken with GET /v1/maintenance/snapshot from a member that is
// then killed, `cairn snapshot restore` (refusing a damaged copy with exit
// status 1 and a message), and the restored member started with its name,
// data dir and listen URLs only, serving the keys at their revisions.
func TestSnapshot_BackupAndRestore(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1)
	src := c.members[0]
	for i := range 3 {
		src.mustPut([]byte("backup/k"), []byte(fmt.Sprintf("v%d", i)))
	}
	src.mustPut([]byte("backup/other"), []byte("x"))
	r, err := src.call("GET", "/v1/maintenance/snapshot", nil)
	if err != nil || r.status != 200 {
		t.Fatalf("snapshot: %v %v", r, err)
	}
	rev, _ := strconv.ParseInt(r.header.Get("X-Cairn-Revision"), 10, 64)
	want, err := src.hash(rev)
	if err != nil {
		t.Fatal(err)
	}
	src.kill() // the disaster
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.snap")
	damaged := filepath.Join(dir, "damaged.snap")
	bad := bytes.Clone(r.body)
	bad[len(bad)/2] ^= 1
	for p, b := range map[string][]byte{file: r.body, damaged: bad} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	peerURL := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	dataDir := filepath.Join(dir, "r1.cairn")
	restore := func(f string) (string, error) {
		cmd := exec.Command(serverBin, "snapshot", "restore", f, "--name", "r1", "--data-dir", dataDir,
			"--initial-cluster", "r1="+peerURL, "--initial-advertise-peer-urls", peerURL)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := restore(damaged)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(out, "snapshot is damaged (checksum mismatch)") {
		t.Fatalf("restore of a damaged file: %v\n%s", err, out)
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Fatalf("a failed restore left %s: %v", dataDir, err)
	}
	if out, err := restore(file); err != nil || !strings.Contains(out, fmt.Sprintf("restored revision %d", rev)) {
		t.Fatalf("restore: %v\n%s", err, out)
	}

	clientPort := freePort(t)
	m := newMember(t, c.hc, "r1", clientPort, []string{
		"--name", "r1", "--data-dir", dataDir,
		"--listen-client-urls", fmt.Sprintf("http://127.0.0.1:%d", clientPort), "--listen-peer-urls", peerURL,
		"--log-level", logLevel(), "--log-format", "json",
	})
	m.start()
	m.waitReady(15 * time.Second)
	got, err := m.hash(rev)
	if err != nil || got.Hash != want.Hash {
		t.Fatalf("hash at %d: %+v, %v; the source's %+v", rev, got, err, want)
	}
	kv, err := m.getKV(t.Context(), []byte("backup/k"), "")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := kv.value(); string(v) != "v2" || kv.Version != 3 {
		t.Fatalf("backup/k after the restore: %+v", kv)
	}
	m.mustPut([]byte("backup/after"), []byte("ok"))
	m.stop()
}
