package app

import (
	"bytes"
	"context"
	"encoding/json"
	etcdversion "go.etcd.io/etcd/api/v3/version"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// etcdctlVersion is the etcdctl the compatibility test runs: built from
// the Go module proxy (never downloaded as a binary).
const etcdctlVersion = "v3.6.16"

var etcdctlOnce struct {
	sync.Once
	path string
	err  error
}

// etcdctlPath returns etcd's etcdctl, building it on first use into the
// user's cache directory (CAIRN_ETCDCTL names a binary to use instead).
// The test is skipped when it cannot be built (no module proxy).
func etcdctlPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CAIRN_ETCDCTL"); p != "" {
		return p
	}
	etcdctlOnce.Do(func() {
		dir, err := os.UserCacheDir()
		if err != nil {
			dir = os.TempDir()
		}
		dir = filepath.Join(dir, "cairn-test", "etcdctl-"+etcdctlVersion)
		bin := filepath.Join(dir, "etcdctl")
		if _, err := os.Stat(bin); err == nil {
			etcdctlOnce.path = bin
			return
		}
		etcdctlOnce.path, etcdctlOnce.err = buildEtcdctl(dir, bin)
	})
	if etcdctlOnce.err != nil {
		t.Skipf("etcdctl %s could not be built from the Go module proxy (set CAIRN_ETCDCTL to a binary to run this test): %v",
			etcdctlVersion, etcdctlOnce.err)
	}
	return etcdctlOnce.path
}

// buildEtcdctl builds etcdctl in a module of its own (etcdctl's go.mod has
// replace directives, so `go install …@version` refuses it) and moves it
// into place whole.
func buildEtcdctl(dir, bin string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	mod, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(mod)
	if err := os.WriteFile(filepath.Join(mod, "go.mod"), []byte("module etcdctlbuild\n\ngo 1.26\n"), 0o644); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tmp := filepath.Join(mod, "etcdctl")
	for _, args := range [][]string{
		{"get", "go.etcd.io/etcd/etcdctl/v3@" + etcdctlVersion},
		{"build", "-o", tmp, "go.etcd.io/etcd/etcdctl/v3"},
	} {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = mod
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", &buildError{args: args, out: out, err: err}
		}
	}
	return bin, os.Rename(tmp, bin)
}

type buildError struct {
	args []string
	out  []byte
	err  error
}

func (e *buildError) Error() string {
	out := strings.TrimSpace(string(e.out))
	if len(out) > 500 {
		out = out[len(out)-500:]
	}
	return "go " + strings.Join(e.args, " ") + ": " + e.err.Error() + ": " + out
}

// etcdctlRunner runs etcdctl against a cluster.
type etcdctlRunner struct {
	t         *testing.T
	bin       string
	endpoints string
}

func (r etcdctlRunner) cmd(ctx context.Context, stdin string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, r.bin, append([]string{"--endpoints=" + r.endpoints, "--command-timeout=20s"}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	return cmd
}

// run runs etcdctl and returns its standard output; it fails the test
// when etcdctl fails.
func (r etcdctlRunner) run(stdin string, args ...string) string {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := r.cmd(ctx, stdin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		r.t.Fatalf("etcdctl %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

func wantOutput(t *testing.T, what, got, want string) {
	t.Helper()
	if strings.TrimSpace(got) != strings.TrimSpace(want) {
		t.Fatalf("%s:\n got: %q\nwant: %q", what, got, want)
	}
}

// TestEtcdctl: etcd's own etcdctl against a 3-member Cairn, through etcd's
// gRPC API on the client port.
func TestEtcdctl(t *testing.T) {
	t.Parallel()
	bin := etcdctlPath(t)
	ms := startCluster(t, 3)
	urls := make([]string, len(ms))
	for i, m := range ms {
		urls[i] = m.URL
	}
	r := etcdctlRunner{t: t, bin: bin, endpoints: strings.Join(urls, ",")}
	one := etcdctlRunner{t: t, bin: bin, endpoints: ms[2].URL}

	wantOutput(t, "put", r.run("", "put", "foo", "bar"), "OK")
	r.run("", "put", "foo/1", "one")
	r.run("", "put", "foo/2", "two")
	wantOutput(t, "get", r.run("", "get", "foo"), "foo\nbar")
	wantOutput(t, "get --prefix", one.run("", "get", "foo/", "--prefix"), "foo/1\none\nfoo/2\ntwo")
	wantOutput(t, "get --prefix --keys-only --limit", r.run("", "get", "foo", "--prefix", "--keys-only", "--limit=2"), "foo\n\nfoo/1")

	var got struct {
		Header struct {
			ClusterID uint64 `json:"cluster_id"`
			MemberID  uint64 `json:"member_id"`
			Revision  int64  `json:"revision"`
			RaftTerm  uint64 `json:"raft_term"`
		} `json:"header"`
		Kvs []struct {
			Key         []byte `json:"key"`
			Value       []byte `json:"value"`
			ModRevision int64  `json:"mod_revision"`
		} `json:"kvs"`
		Count int64 `json:"count"`
	}
	if err := json.Unmarshal([]byte(r.run("", "get", "foo", "-w", "json")), &got); err != nil {
		t.Fatal(err)
	}
	if got.Header.ClusterID == 0 || got.Header.MemberID == 0 || got.Header.RaftTerm == 0 || got.Count != 1 ||
		string(got.Kvs[0].Value) != "bar" {
		t.Fatalf("get -w json: %+v", got)
	}
	firstRev := got.Kvs[0].ModRevision
	r.run("", "put", "foo", "baz")
	wantOutput(t, "get --rev", r.run("", "get", "foo", "--rev="+itoa64(firstRev)), "foo\nbar")

	wantOutput(t, "del", r.run("", "del", "foo/2"), "1")
	wantOutput(t, "txn", r.run("value(\"foo\") = \"baz\"\n\nput foo qux\n\nput foo nope\n\n", "txn"), "SUCCESS\n\nOK")
	wantOutput(t, "txn failure", r.run("value(\"foo\") = \"baz\"\n\nput foo nope\n\nget foo\n\n", "txn"), "FAILURE\n\nfoo\nqux")

	t.Run("watch", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var out lockedBuffer
		cmd := one.cmd(ctx, "", "watch", "w/", "--prefix")
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		// The watch is up once a put made after it shows: put until one does.
		waitFor(t, 15*time.Second, "etcdctl watch to print a put", func() bool {
			r.run("", "put", "w/ready", "1")
			return strings.Contains(out.String(), "w/ready")
		})
		r.run("", "put", "w/a", "1")
		r.run("", "del", "w/a")
		waitFor(t, 15*time.Second, "etcdctl watch to print the delete", func() bool {
			return strings.Contains(out.String(), "PUT\nw/a\n1\nDELETE\nw/a\n")
		})
	})

	t.Run("lease", func(t *testing.T) {
		out := r.run("", "lease", "grant", "60")
		fields := strings.Fields(out) // lease 1c8e… granted with TTL(60s)
		if len(fields) < 2 || !strings.Contains(out, "granted with TTL(60s)") {
			t.Fatalf("lease grant: %q", out)
		}
		id := fields[1]
		r.run("", "put", "leased", "v", "--lease="+id)
		if out := r.run("", "lease", "keep-alive", "--once", id); !strings.Contains(out, "keepalived with TTL(60)") {
			t.Fatalf("keep-alive: %q", out)
		}
		if out := one.run("", "lease", "timetolive", id, "--keys"); !strings.Contains(out, "granted with TTL(60s)") || !strings.Contains(out, "attached keys([leased])") {
			t.Fatalf("timetolive: %q", out)
		}
		if out := r.run("", "lease", "list"); !strings.Contains(out, id) {
			t.Fatalf("lease list: %q", out)
		}
		wantOutput(t, "lease revoke", r.run("", "lease", "revoke", id), "lease "+id+" revoked")
		wantOutput(t, "get a revoked lease's key", r.run("", "get", "leased"), "")
		if out := r.run("", "lease", "timetolive", id); !strings.Contains(out, "already expired") {
			t.Fatalf("timetolive of a revoked lease: %q", out)
		}
	})

	t.Run("cluster", func(t *testing.T) {
		out := r.run("", "member", "list")
		for i, m := range ms {
			if !strings.Contains(out, "n"+itoa64(int64(i+1))) || !strings.Contains(out, m.URL) {
				t.Fatalf("member list has no n%d at %s:\n%s", i+1, m.URL, out)
			}
		}
		if n := strings.Count(out, ", started, "); n != 3 {
			t.Fatalf("member list: %d started members:\n%s", n, out)
		}
		st := one.run("", "endpoint", "status", "--cluster", "-w", "json")
		var sts []struct {
			Endpoint string `json:"Endpoint"`
			Status   struct {
				Leader  uint64 `json:"leader"`
				Version string `json:"version"`
			} `json:"Status"`
		}
		if err := json.Unmarshal([]byte(st), &sts); err != nil || len(sts) != 3 {
			t.Fatalf("endpoint status --cluster: %v\n%s", err, st)
		}
		for _, s := range sts {
			if s.Status.Leader == 0 || s.Status.Leader != sts[0].Status.Leader || s.Status.Version != etcdversion.Version {
				t.Fatalf("endpoint status: %+v", sts)
			}
		}
		if out := one.run("", "endpoint", "health", "--cluster"); strings.Count(out, "is healthy") != 3 {
			t.Fatalf("endpoint health --cluster:\n%s", out)
		}
		hashes := one.run("", "endpoint", "hashkv", "--cluster", "-w", "json")
		var hs []struct {
			HashKV struct {
				Hash uint32 `json:"hash"`
			} `json:"HashKV"`
		}
		if err := json.Unmarshal([]byte(hashes), &hs); err != nil || len(hs) != 3 || hs[0].HashKV.Hash != hs[1].HashKV.Hash || hs[1].HashKV.Hash != hs[2].HashKV.Hash {
			t.Fatalf("endpoint hashkv --cluster: %v\n%s", err, hashes)
		}
	})

	t.Run("maintenance", func(t *testing.T) {
		rev := r.run("", "put", "c", "1", "-w", "json")
		var pr struct {
			Header struct {
				Revision int64 `json:"revision"`
			} `json:"header"`
		}
		if err := json.Unmarshal([]byte(rev), &pr); err != nil {
			t.Fatal(err)
		}
		wantOutput(t, "compaction", r.run("", "compaction", itoa64(pr.Header.Revision)), "compacted revision "+itoa64(pr.Header.Revision))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var errb bytes.Buffer
		cmd := r.cmd(ctx, "", "get", "foo", "--rev="+itoa64(firstRev))
		cmd.Stderr = &errb
		if err := cmd.Run(); err == nil || !strings.Contains(errb.String(), "required revision has been compacted") {
			t.Fatalf("get below the compaction: %v %s", err, errb.String())
		}
		if out := one.run("", "defrag"); !strings.Contains(out, "Finished defragmenting") {
			t.Fatalf("defrag: %q", out)
		}
		file := filepath.Join(t.TempDir(), "snap.db")
		if out := one.run("", "snapshot", "save", file); !strings.Contains(out, "Snapshot saved at "+file) {
			t.Fatalf("snapshot save: %q", out)
		}
		if fi, err := os.Stat(file); err != nil || fi.Size()%512 != 32 {
			t.Fatalf("snapshot file: %v %v", fi, err)
		}
		wantOutput(t, "alarm list", r.run("", "alarm", "list"), "")
	})
}

// lockedBuffer is a bytes.Buffer that a process writes while the test
// reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// TestEtcdctl_Auth: users, roles and permissions made with etcdctl, auth
// turned on and off with it, and what a user may do then.
func TestEtcdctl_Auth(t *testing.T) {
	t.Parallel()
	bin := etcdctlPath(t)
	ms := startClusterWith(t, 1, func(c *Config) { c.BcryptCost = 4 })
	r := etcdctlRunner{t: t, bin: bin, endpoints: ms[0].URL}
	root := func(args ...string) string { return r.run("", append([]string{"--user=root:rootpw"}, args...)...) }
	wantOutput(t, "user add", r.run("", "user", "add", "root", "--new-user-password=rootpw"), "User root created")
	wantOutput(t, "role add", r.run("", "role", "add", "root"), "Role root created")
	wantOutput(t, "grant-role", r.run("", "user", "grant-role", "root", "root"), "Role root is granted to user root")
	r.run("", "user", "add", "alice", "--new-user-password=alicepw")
	r.run("", "role", "add", "app")
	wantOutput(t, "grant-permission", r.run("", "role", "grant-permission", "app", "readwrite", "app/", "--prefix=true"), "Role app updated")
	r.run("", "user", "grant-role", "alice", "app")
	wantOutput(t, "auth enable", r.run("", "auth", "enable"), "Authentication Enabled")

	alice := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := r.cmd(ctx, "", append([]string{"--user=alice:alicepw"}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := alice("put", "app/x", "1"); err != nil || strings.TrimSpace(out) != "OK" {
		t.Fatalf("alice puts in app/: %v %s", err, out)
	}
	if out, err := alice("put", "other", "1"); err == nil || !strings.Contains(out, "permission denied") {
		t.Fatalf("alice puts outside app/: %v %s", err, out)
	}
	if out, err := alice("user", "list"); err == nil || !strings.Contains(out, "permission denied") {
		t.Fatalf("alice lists users: %v %s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := r.cmd(ctx, "", "get", "app/x").CombinedOutput(); err == nil || !strings.Contains(string(out), "user name is empty") {
		t.Fatalf("no user: %v %s", err, out)
	}
	wantOutput(t, "user list", root("user", "list"), "alice\nroot")
	if out := root("role", "get", "app"); !strings.Contains(out, "KV Read:") || !strings.Contains(out, "[app/, app0) (prefix app/)") {
		t.Fatalf("role get: %q", out)
	}
	if out := root("user", "get", "alice"); !strings.Contains(out, "Roles: app") {
		t.Fatalf("user get: %q", out)
	}
	if out := root("auth", "status"); !strings.Contains(out, "Authentication Status: true") {
		t.Fatalf("auth status: %q", out)
	}
	wantOutput(t, "auth disable", root("auth", "disable"), "Authentication Disabled")
	wantOutput(t, "get without a user", r.run("", "get", "app/x"), "app/x\n1")
}
