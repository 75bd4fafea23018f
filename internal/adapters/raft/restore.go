package raft

import (
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	hraft "github.com/hashicorp/raft"
	"github.com/rs/zerolog"

	"github.com/cairnkv/cairn/internal/domain"
)

// RestoredClusterID derives the ID of a cluster restored from a snapshot
// file whose SHA-256 is sum into the members peers. It is deterministic,
// so that every member restored from the same file with the same initial
// cluster computes the same ID, and differs from ClusterID(peers): a
// cluster restored onto the peer URLs of the one it was copied from still
// gets a new ID.
func RestoredClusterID(peers []Peer, sum []byte) uint64 {
	parts := make([]string, len(peers))
	for i, p := range peers {
		parts[i] = p.Name + "=" + p.PeerURL
	}
	sort.Strings(parts)
	h := fnv.New64a()
	h.Write([]byte("restored\x00"))
	h.Write([]byte(strings.Join(parts, ",")))
	h.Write([]byte{0})
	h.Write(sum)
	id := h.Sum64() & domain.MaxLeaseID
	if id == 0 {
		id = 1
	}
	return id
}

// BootstrapWithState writes, offline, the Raft state of the member name of
// a new cluster of peers whose store starts as state (a whole store, as
// the state machine's snapshots hold it) into dir, the directory New
// takes as Config.DataDir, which must hold no Raft state. New then starts
// the member from it like any restart, without Config.Bootstrap.
//
// It bootstraps the cluster as New does (hashicorp/raft's BootstrapCluster
// in the log: term 1, the configuration as entry 1), then takes the first
// snapshot at entry 1 with state as its data, and compacts the log up to
// it, as hashicorp/raft does after a snapshot. The snapshot is what makes
// the restored store part of the replicated state: a member added later
// is sent the snapshot (the log no longer starts at 1), and a member whose
// store is rebuilt (bolt.Backend.Rebuilt) restores it. The store's
// applied index stays 0: entry 1, a configuration, changes nothing in it.
func BootstrapWithState(dir, name string, peers []Peer, state io.Reader) (err error) {
	var servers []hraft.Server
	for _, p := range peers {
		addr, err := hostPort(p.PeerURL)
		if err != nil {
			return err
		}
		servers = append(servers, hraft.Server{ID: hraft.ServerID(p.Name), Address: hraft.ServerAddress(addr), Suffrage: hraft.Voter})
	}
	conf := hraft.Configuration{Servers: servers}
	rc := hraft.DefaultConfig()
	rc.LocalID = hraft.ServerID(name)
	if !slices.ContainsFunc(servers, func(s hraft.Server) bool { return s.ID == rc.LocalID }) {
		return fmt.Errorf("raft: bootstrap: %q is not one of the peers", name)
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("raft: data dir: %w", err)
	}
	st, err := openStores(dir)
	if err != nil {
		return fmt.Errorf("raft: %w", err)
	}
	defer func() {
		if cerr := st.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("raft: close log store: %w", cerr)
		}
	}()
	snaps, err := hraft.NewFileSnapshotStoreWithLogger(dir, 1, newHCLog(zerolog.Nop()))
	if err != nil {
		return fmt.Errorf("raft: open snapshot store: %w", err)
	}
	// The transport only encodes the peers' addresses into the snapshot's
	// metadata, as the real one does; nothing is sent.
	_, trans := hraft.NewInmemTransport("")
	defer trans.Close()
	if err := hraft.BootstrapCluster(rc, st.log, st.stable, snaps, trans, conf); err != nil {
		return fmt.Errorf("raft: bootstrap: %w", err)
	}
	sink, err := snaps.Create(hraft.SnapshotVersionMax, 1, 1, conf, 1, trans)
	if err != nil {
		return fmt.Errorf("raft: create snapshot: %w", err)
	}
	if _, err := io.Copy(sink, state); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("raft: write snapshot: %w", err)
	}
	if err := sink.Close(); err != nil { // fsyncs the file and the directory
		return fmt.Errorf("raft: write snapshot: %w", err)
	}
	if err := st.log.DeleteRange(1, 1); err != nil {
		return fmt.Errorf("raft: compact log: %w", err)
	}
	return nil
}
