package app

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	boltadapter "github.com/cairnkv/cairn/internal/adapters/bolt"
	raftadapter "github.com/cairnkv/cairn/internal/adapters/raft"
	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/snapfile"
)

// RestoreConfig says which member of which new cluster a restore writes
// the data dir of. Its fields are the restore's flags, named as the
// server's.
type RestoreConfig struct {
	Name                    string // --name
	DataDir                 string // --data-dir, default "./<name>.cairn"
	InitialCluster          []Peer // --initial-cluster: the new cluster, this member included
	InitialAdvertisePeerURL string // --initial-advertise-peer-urls: this member's URL in InitialCluster
}

// RestoreResult is what a restore wrote.
type RestoreResult struct {
	DataDir   string
	Revision  int64  // the store revision of the snapshot
	ClusterID uint64 // the new cluster's ID
	DBSize    int64  // bytes of the store
}

// validate checks c as Config.Validate checks the same flags.
func (c RestoreConfig) validate() error {
	var errs []error
	bad := func(flagName, format string, a ...any) {
		errs = append(errs, fmt.Errorf("--%s: %s", flagName, fmt.Sprintf(format, a...)))
	}
	if err := domain.ValidateMemberName(c.Name); err != nil {
		bad("name", "%v", err)
	}
	if c.DataDir == "" {
		bad("data-dir", "must not be empty")
	}
	advOK := true
	if err := checkURL(c.InitialAdvertisePeerURL, true); err != nil {
		bad("initial-advertise-peer-urls", "%q: %v", c.InitialAdvertisePeerURL, err)
		advOK = false
	}
	names, urls := map[string]bool{}, map[string]string{}
	for _, p := range c.InitialCluster {
		if err := domain.ValidateMemberName(p.Name); err != nil {
			bad("initial-cluster", "%v", err)
		} else if names[p.Name] {
			bad("initial-cluster", "member %q is listed twice", p.Name)
		}
		names[p.Name] = true
		if err := checkURL(p.URL, true); err != nil {
			bad("initial-cluster", "%q: %v", p.URL, err)
			continue
		}
		key := canonicalURL(p.URL)
		if other, dup := urls[key]; dup {
			bad("initial-cluster", "members %q and %q have the same URL %q", other, p.Name, p.URL)
		}
		urls[key] = p.Name
		if p.Name == c.Name && advOK && key != canonicalURL(c.InitialAdvertisePeerURL) {
			bad("initial-cluster", "member %q has URL %q but --initial-advertise-peer-urls is %q",
				p.Name, p.URL, c.InitialAdvertisePeerURL)
		}
	}
	if c.Name != "" && !names[c.Name] {
		bad("initial-cluster", "member %q is not listed", c.Name)
	}
	return errors.Join(errs...)
}

// Restore writes the data dir of a member of a new cluster from the
// snapshot file at file (GET /v1/maintenance/snapshot), offline:
//
//  1. It refuses a data dir that exists and is not empty, and checks the
//     file's header (format, version) and length before it writes
//     anything.
//  2. In a temporary directory next to the data dir it writes state.db,
//     the snapshot's database, while it checks the file's SHA-256; then it
//     clears the member registry, resets the applied Raft entry to 0 and
//     records the new cluster's ID (bolt.ResetForNewCluster), and writes
//     raft/, bootstrapped with the initial cluster and a first Raft
//     snapshot of state.db (raft.BootstrapWithState).
//  3. It renames the temporary directory to the data dir once everything
//     in it is synced, and syncs the parent: a failure at any step leaves
//     no data dir behind.
//
// The new cluster's ID is derived from the initial cluster and the file's
// SHA-256, so every member restored from the same file with the same
// initial cluster gets the same one. The member then starts with its name,
// data dir and listen flags, like any restart.
func Restore(file string, cfg RestoreConfig) (res RestoreResult, err error) {
	if err := cfg.validate(); err != nil {
		return res, err
	}
	dir := filepath.Clean(cfg.DataDir)
	if err := checkFreeDataDir(dir); err != nil {
		return res, err
	}
	f, err := os.Open(file)
	if err != nil {
		return res, fmt.Errorf("snapshot restore: %w", err)
	}
	defer f.Close()
	r, err := snapfile.NewReader(f)
	if err != nil {
		return res, fmt.Errorf("snapshot restore: %s: %w", file, err)
	}
	hdr := r.Header()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		// A file that is too short or too long is refused before anything
		// is written (the checksum would refuse it at the end).
		switch want := snapfile.FileSize(hdr.Size); {
		case st.Size() < want:
			return res, fmt.Errorf("snapshot restore: %s: %w: %d bytes, its header announces %d", file, snapfile.ErrTruncated, st.Size(), want)
		case st.Size() > want:
			return res, fmt.Errorf("snapshot restore: %s: %w: %d bytes, its header announces %d", file, snapfile.ErrChecksum, st.Size(), want)
		}
	}

	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return res, fmt.Errorf("snapshot restore: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".restore-")
	if err != nil {
		return res, fmt.Errorf("snapshot restore: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(tmp)
		}
	}()
	statePath := filepath.Join(tmp, "state.db")
	if err := writeSynced(statePath, r); err != nil {
		if errors.Is(err, snapfile.ErrChecksum) || errors.Is(err, snapfile.ErrTruncated) {
			return res, fmt.Errorf("snapshot restore: %s: %w", file, err)
		}
		return res, fmt.Errorf("snapshot restore: write %s: %w", statePath, err)
	}
	peers := make([]raftadapter.Peer, len(cfg.InitialCluster))
	for i, p := range cfg.InitialCluster {
		peers[i] = raftadapter.Peer{Name: p.Name, PeerURL: canonicalURL(p.URL)}
	}
	res = RestoreResult{DataDir: dir, ClusterID: raftadapter.RestoredClusterID(peers, r.Sum()), DBSize: hdr.Size}
	if res.Revision, err = boltadapter.ResetForNewCluster(statePath, res.ClusterID); err != nil {
		return res, fmt.Errorf("snapshot restore: %s: %w", file, err)
	}
	if res.Revision != hdr.Revision {
		return res, fmt.Errorf("snapshot restore: %s: the database is at revision %d, its header says %d", file, res.Revision, hdr.Revision)
	}
	state, err := os.Open(statePath)
	if err != nil {
		return res, fmt.Errorf("snapshot restore: %w", err)
	}
	err = raftadapter.BootstrapWithState(filepath.Join(tmp, "raft"), cfg.Name, peers, state)
	state.Close()
	if err != nil {
		return res, fmt.Errorf("snapshot restore: %w", err)
	}
	for _, d := range []string{filepath.Join(tmp, "raft", "snapshots"), filepath.Join(tmp, "raft"), tmp} {
		if err := syncDir(d); err != nil {
			return res, fmt.Errorf("snapshot restore: sync %s: %w", d, err)
		}
	}
	// An empty directory at dir is replaced (os.Remove removes no other);
	// anything else was refused.
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return res, fmt.Errorf("snapshot restore: --data-dir: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return res, fmt.Errorf("snapshot restore: %w", err)
	}
	if err := syncDir(parent); err != nil {
		return res, fmt.Errorf("snapshot restore: sync %s: %w", parent, err)
	}
	return res, nil
}

// checkFreeDataDir refuses a data dir that exists and is not an empty
// directory.
func checkFreeDataDir(dir string) error {
	d, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("snapshot restore: --data-dir: %w", err)
	}
	defer d.Close()
	if st, err := d.Stat(); err != nil || !st.IsDir() {
		return fmt.Errorf("snapshot restore: --data-dir %s exists and is not a directory", dir)
	}
	names, err := d.Readdirnames(1)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("snapshot restore: --data-dir: %w", err)
	}
	if len(names) > 0 {
		return fmt.Errorf("snapshot restore: --data-dir %s exists and is not empty (it holds %s): "+
			"a restore writes the data dir of a new member; move the old one away, or give another --data-dir", dir, names[0])
	}
	return nil
}

// writeSynced writes r to a new file at path and fsyncs it.
func writeSynced(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir fsyncs the directory dir, so that the entries made in it are
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
