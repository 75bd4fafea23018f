package raft

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hraft "github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
)

// Peer is a member of the initial cluster.
type Peer struct {
	Name    string
	PeerURL string // http://host:port, https:// with peer TLS
}

// Config configures a Node. Zero values mean the defaults.
type Config struct {
	// Name is this member's name and Raft server ID.
	Name string
	// DataDir holds the Raft log (wal/), term and vote (raft.db) and snapshots.
	DataDir string
	// BindAddr is the host:port the peer transport listens on.
	BindAddr string
	// AdvertisePeerURL is what the other members dial (http://host:port,
	// https:// with PeerTLS).
	AdvertisePeerURL string
	// ClientURLs are this member's advertised client URLs, published in the
	// member registry so that other members can forward to it.
	ClientURLs []string
	// InitialCluster is the static membership of a first start. With
	// Bootstrap false it is used only for the cluster ID.
	InitialCluster []Peer
	// Bootstrap makes a member without state bootstrap the initial cluster.
	// A member joining a running cluster does not bootstrap.
	Bootstrap bool
	// HeartbeatInterval is how often the leader contacts followers
	// (default 100ms); ElectionTimeout how long a follower waits for the
	// leader before it stands for election (default 1s).
	HeartbeatInterval time.Duration
	ElectionTimeout   time.Duration
	// ApplyTimeout caps how long a proposal waits (default 5s).
	ApplyTimeout time.Duration
	// SnapshotThreshold is the number of entries between snapshots
	// (default 10000).
	SnapshotThreshold uint64
	// SnapshotInterval is how often the threshold is checked (default
	// 10s; hashicorp/raft adds up to the same again as jitter).
	SnapshotInterval time.Duration
	// RestoreOnStart makes the node rebuild the store from its latest
	// snapshot and the log after it (the store was set aside as untrusted:
	// bolt.Backend.Rebuilt). Otherwise the store, which records the last
	// entry it applied, is used as it is.
	RestoreOnStart bool
	// TrailingLogs is the number of entries kept after a snapshot so that
	// slow followers can catch up from the log (default: the snapshot
	// threshold, at most 10240).
	TrailingLogs uint64
	// HashCheckInterval is how often the leader compares the stores of
	// every member (corruptcheck.go); a follower compares its own with the
	// leader's once it has caught up after its start (hashcheck.go). 0: no
	// check.
	HashCheckInterval time.Duration
	// Logger receives the node's and hashicorp/raft's logs.
	Logger zerolog.Logger
	// PeerTLS secures the peer port (nil: plain text); see PeerTLS.
	PeerTLS *PeerTLS
	// Registerer receives the node's metrics (nil: none).
	Registerer prometheus.Registerer
	// WarnApplyDuration is how long an apply batch may take before a
	// warning is logged (etcd's --warning-apply-duration; default 100ms,
	// negative: never).
	WarnApplyDuration time.Duration
	// Version is reported in Status.
	Version string
	// OnCommit, when set, receives the events of every committed batch of
	// entries, in revision order, and the store revision after it. It is
	// called in the apply path: it must not block.
	OnCommit func(rev int64, events []domain.Event)
	// OnRestore, when set, is called after a snapshot replaced the store,
	// with the store's new revision.
	OnRestore func(rev int64)
	// OnAuthChange, when set, is called after a committed batch of entries
	// that applied at least one auth change (CmdAuth, accepted or
	// refused), and after a snapshot replaced the store: the auth
	// configuration (Backend.AuthState) may have changed. It is called in
	// the apply path, before the entries count as applied: it must not
	// block.
	OnAuthChange func()
	// OnLeader, when set, is called when this member has become leader and
	// applied the log up to the start of its term; OnFollower when it
	// stops leading. They run on the node's leadership goroutine.
	OnLeader   func()
	OnFollower func()
}

func (c *Config) setDefaults() {
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = 100 * time.Millisecond
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = time.Second
	}
	if c.ApplyTimeout == 0 {
		c.ApplyTimeout = 5 * time.Second
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 10000
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = 10 * time.Second
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = min(c.SnapshotThreshold, 10240)
	}
}

// Node is one Raft member: it replicates commands into the store and
// serves linearizable read points. It implements ports.Proposer.
type Node struct {
	cfg       Config
	memberID  uint64
	clusterID atomic.Uint64
	backend   ports.Backend
	fsm       *fsm
	raft      *hraft.Raft
	stores    *stores    // the log (wal/) and raft.db; see stores.go
	logw      *logWriter // the log as Raft sees it: logs, the leader's appends in the background
	trans     *hraft.NetworkTransport
	stream    *tcpStreamLayer
	log       zerolog.Logger
	metrics   *metrics
	fwd       *forwarder
	hasState  bool
	removed   atomic.Pointer[string] // why this member is no longer one (removal.go)
	checkNow  chan struct{}          // a corruption check is asked for (corruptcheck.go)

	readyMu   sync.Mutex
	readyTerm uint64        // term whose start this member, as leader, has applied
	readyCh   chan struct{} // closed and replaced when readyTerm changes

	leaderReady  chan uint64               // terms whose start this leader applied
	readCh       chan chan readIndexResult // reads waiting for a leader round
	remoteReadCh chan chan readIndexResult // reads waiting for a follower round

	closeOnce sync.Once
	done      chan struct{}
	wg        sync.WaitGroup
}

var (
	_ ports.Proposer = (*Node)(nil)
	_ ports.Cluster  = (*Node)(nil)
)

// MemberID derives a member ID from a member name. IDs stay below 2^53 so
// that JavaScript clients can hold them.
func MemberID(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64() & domain.MaxLeaseID
}

// ClusterID derives the cluster ID from the initial cluster.
func ClusterID(peers []Peer) uint64 {
	parts := make([]string, len(peers))
	for i, p := range peers {
		parts[i] = p.Name + "=" + p.PeerURL
	}
	sort.Strings(parts)
	h := fnv.New64a()
	h.Write([]byte(strings.Join(parts, ",")))
	return h.Sum64() & domain.MaxLeaseID
}

// New starts a Raft member on the store b. A member with state in its data
// directory restarts from it; one without state bootstraps the initial
// cluster when cfg.Bootstrap is set and otherwise waits to be added.
func New(cfg Config, b ports.Backend) (*Node, error) {
	cfg.setDefaults()
	n := &Node{
		cfg:          cfg,
		memberID:     MemberID(cfg.Name),
		backend:      b,
		log:          cfg.Logger.With().Str("component", "raft").Logger(),
		readyCh:      make(chan struct{}),
		leaderReady:  make(chan uint64),
		readCh:       make(chan chan readIndexResult, 4096),
		remoteReadCh: make(chan chan readIndexResult, 4096),
		done:         make(chan struct{}),
		checkNow:     make(chan struct{}, 1),
	}
	n.clusterID.Store(b.ClusterID())
	n.fwd = newForwarder(n)

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("raft: data dir: %w", err)
	}
	st, err := openStores(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("raft: %w", err)
	}
	n.stores = st
	if st.moved > 0 {
		n.log.Info().Uint64("entries", st.moved).Msg("moved the Raft log from raft.db to wal/")
	}
	hlog := newHCLog(n.log)
	// One snapshot is kept: it is a whole copy of the store, and the
	// previous one is only removed once the new one is complete on disk.
	snaps, err := hraft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 1, hlog.Named("snapshot"))
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("raft: open snapshot store: %w", err)
	}
	advertise, err := hostPort(cfg.AdvertisePeerURL)
	if err != nil {
		st.Close()
		return nil, err
	}
	stream, err := newTCPStreamLayer(cfg.BindAddr, advertise, cfg.PeerTLS, cfg.Logger.With().Str("component", "peer").Logger())
	if err != nil {
		st.Close()
		return nil, err
	}
	n.stream = stream
	stream.setClusterID(n.knownClusterID)
	n.trans = hraft.NewNetworkTransportWithConfig(&hraft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: 4,
		Timeout: 10 * time.Second,
		Logger:  hlog.Named("transport"),
	})

	rc := hraft.DefaultConfig()
	rc.LocalID = hraft.ServerID(cfg.Name)
	rc.Logger = hlog
	// hashicorp/raft heartbeats every HeartbeatTimeout/10 and a follower
	// stands for election after HeartbeatTimeout without contact: etcd's
	// --election-timeout maps to both timeouts.
	rc.HeartbeatTimeout = cfg.ElectionTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.ElectionTimeout / 2
	// When idle, the leader tells followers the new commit index after
	// CommitTimeout: short, so that a linearizable read or a lock handoff
	// on a follower does not wait for the next heartbeat.
	rc.CommitTimeout = min(cfg.HeartbeatInterval/2, 10*time.Millisecond)
	rc.MaxAppendEntries = 256
	rc.BatchApplyCh = true
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.TrailingLogs = cfg.TrailingLogs
	rc.SnapshotInterval = cfg.SnapshotInterval
	// The store records its applied index: a restart needs no snapshot
	// restore, and entries already applied are skipped. A store that was
	// set aside is empty: the latest snapshot is restored into it, and the
	// log after the snapshot replayed.
	rc.NoSnapshotRestoreOnStart = !cfg.RestoreOnStart
	// A leader never removes itself (RemoveMember hands over first); were
	// it to, it would step down rather than leave a process without Raft.
	rc.ShutdownOnRemove = false

	n.metrics = newMetrics(cfg.Registerer, n, b)
	n.fsm = newFSM(b, n.metrics)
	n.fsm.onCommit, n.fsm.onRestore, n.fsm.onAuthChange = cfg.OnCommit, cfg.OnRestore, cfg.OnAuthChange
	n.fsm.log = n.log // says which entry it could not apply before it stops
	n.fwd.metrics = n.metrics

	hasState, err := hraft.HasExistingState(st.log, st.stable, snaps)
	if err != nil {
		n.closeStores()
		return nil, fmt.Errorf("raft: inspect state: %w", err)
	}
	n.hasState = hasState
	if !hasState && cfg.Bootstrap {
		var servers []hraft.Server
		for _, p := range cfg.InitialCluster {
			addr, err := hostPort(p.PeerURL)
			if err != nil {
				n.closeStores()
				return nil, err
			}
			servers = append(servers, hraft.Server{ID: hraft.ServerID(p.Name), Address: hraft.ServerAddress(addr), Suffrage: hraft.Voter})
		}
		if err := hraft.BootstrapCluster(rc, st.log, st.stable, snaps, serialTransport{NetworkTransport: n.trans}, hraft.Configuration{Servers: servers}); err != nil {
			n.closeStores()
			return nil, fmt.Errorf("raft: bootstrap: %w", err)
		}
	}
	// The last entries stay in memory: the leader reads each entry back
	// to send it to every follower, and a follower to apply it. Without
	// the cache every such read was a bbolt transaction.
	// The leader writes its log while it replicates (logwriter.go).
	n.logw = newLogWriter(timedLogStore{st.log, n.metrics.health()}, n.logWriteFailed)
	n.fsm.logDurable = n.logw.WaitDurable
	cached, err := hraft.NewLogCache(logCacheSize, n.logw)
	if err != nil {
		n.closeStores()
		return nil, err
	}
	// Heartbeats go through the main loop: see serialTransport.
	r, err := hraft.NewRaft(rc, n.fsm, cached, st.stable, snaps, serialTransport{NetworkTransport: n.trans, log: n.logw})
	if err != nil {
		n.closeStores()
		return nil, fmt.Errorf("raft: start: %w", err)
	}
	n.raft = r
	n.logw.setRaft(r)
	n.wg.Add(4)
	go n.runLeadership()
	go n.watchRemoval()
	go n.runRounds(n.readCh, n.leaderRound)
	go n.runRounds(n.remoteReadCh, n.followerRound)
	if cfg.HashCheckInterval > 0 {
		n.wg.Add(1)
		go n.runHashChecks(cfg.HashCheckInterval)
	}
	return n, nil
}

// logCacheSize is how many of the last log entries stay in memory: a few
// batches of MaxAppendEntries (256), enough for a follower that is a
// moment behind.
const logCacheSize = 1024

func (n *Node) closeStores() {
	if n.trans != nil {
		n.trans.Close()
	}
	if n.logw != nil {
		n.logw.Close()
	}
	if n.stores != nil {
		n.stores.Close()
	}
}

// logWriteFailed stops the member when the leader's log write in the
// background fails: the leader may have counted the entries already, so
// it cannot go on as if they were written, nor step down and forget them.
func (n *Node) logWriteFailed(err error) {
	n.log.Error().Err(err).Msg("cannot write the Raft log: stopping this member")
	panic(err)
}

// Close stops the member: it leaves the loops, shuts Raft down and closes
// the log store. The caller closes the backend afterwards.
func (n *Node) Close() error {
	var err error
	n.closeOnce.Do(func() {
		n.stream.mux.drainHTTP(peerDrainTimeout)
		n.handOver()
		close(n.done)
		n.fwd.close()
		// Raft's shutdown waits for its goroutines, some of which may wait
		// in Dial for a peer that is down.
		n.stream.stopDialing()
		if e := n.raft.Shutdown().Error(); e != nil {
			err = fmt.Errorf("raft: shutdown: %w", e)
		}
		n.wg.Wait()
		n.trans.Close()
		if e := n.logw.Close(); e != nil && err == nil {
			err = fmt.Errorf("raft: write log: %w", e)
		}
		if e := n.stores.Close(); e != nil && err == nil {
			err = fmt.Errorf("raft: close log store: %w", e)
		}
	})
	return err
}

// handOver transfers leadership to another voter before a graceful stop,
// so that the cluster does not wait an election timeout for a new leader.
func (n *Node) handOver() {
	if !n.IsLeader() {
		return
	}
	f := n.raft.GetConfiguration()
	if f.Error() != nil || len(f.Configuration().Servers) < 2 {
		return
	}
	if err := n.raft.LeadershipTransfer().Error(); err != nil {
		n.log.Warn().Err(err).Msg("leadership transfer before shutdown failed")
		return
	}
	n.log.Info().Str("to", n.Leader()).Msg("handed leadership over before shutdown")
}

// Partition cuts this member's Raft traffic to the peers with the given
// names, as a network partition would (nil heals it). It is for fault
// injection in tests; the peers must be cut off from this member too for a
// symmetric partition.
func (n *Node) Partition(peers []string) error {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	var addrs []string
	for _, s := range f.Configuration().Servers {
		for _, p := range peers {
			if string(s.ID) == p {
				addrs = append(addrs, string(s.Address))
			}
		}
	}
	n.stream.partition(addrs)
	return nil
}

// hostPort turns a peer URL (or a bare host:port) into host:port.
func hostPort(u string) (string, error) {
	s := strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")
	s = strings.TrimSuffix(s, "/")
	if s == "" || strings.ContainsAny(s, "/?#") {
		return "", fmt.Errorf("raft: bad peer URL %q", u)
	}
	return s, nil
}

// peerURL returns the URL of the peer port at addr (host:port): https with
// peer TLS.
func (n *Node) peerURL(addr string) string { return n.cfg.PeerTLS.scheme() + "://" + addr }

// HasState reports whether the member started from existing Raft state
// (a restart) rather than empty.
func (n *Node) HasState() bool { return n.hasState }

// IsLeader reports whether this member is the leader.
func (n *Node) IsLeader() bool { return n.raft.State() == hraft.Leader }

// Leader returns the leader's name, or "" when none is known.
func (n *Node) Leader() string {
	_, id := n.raft.LeaderWithID()
	return string(id)
}

// Header returns the cluster ID, this member's ID and the current term.
func (n *Node) Header() domain.Header {
	return domain.Header{ClusterID: n.knownClusterID(), MemberID: n.memberID, RaftTerm: n.raft.CurrentTerm()}
}

// knownClusterID returns the cluster ID: the one the store recorded, or,
// before it recorded one, the one a member bootstrapping a new cluster
// derives from the initial cluster (which its first leader records), and
// 0 for a member that joins before it applied that entry.
func (n *Node) knownClusterID() uint64 {
	cid := n.clusterID.Load()
	if cid == 0 {
		cid = n.backend.ClusterID()
		n.clusterID.Store(cid)
	}
	if cid == 0 && n.cfg.Bootstrap {
		cid = ClusterID(n.cfg.InitialCluster)
	}
	return cid
}

// Revision returns the store revision this member has applied.
func (n *Node) Revision() int64 { return n.fsm.rev.Load() }

// MemberID returns this member's ID.
func (n *Node) MemberID() uint64 { return n.memberID }

// AppliedIndex returns the last Raft index applied to the store.
func (n *Node) AppliedIndex() uint64 { return n.fsm.appliedIndex() }

// readyLag is how far behind the commit index a member may apply and still
// be ready.
const readyLag = 1000

// Ready reports whether the member can serve: it knows a leader and has
// applied every entry it knows to be committed.
func (n *Node) Ready() error {
	if why := n.removed.Load(); why != nil {
		return fmt.Errorf("%w: this member was removed from the cluster (%s)", domain.ErrUnavailable, *why)
	}
	leader := n.Leader()
	if leader == "" {
		return domain.ErrNoLeader
	}
	if leader != n.cfg.Name {
		// A follower serves writes by forwarding them to the leader; it
		// waits until it has the leader's record, which the leader
		// publishes in its term's first entry, so that it answers with
		// the new leader's client URL and has applied the start of its
		// term.
		if _, err := n.fwd.leaderURL(leader); err != nil {
			return fmt.Errorf("%w: %v", domain.ErrUnavailable, err)
		}
	}
	// Entries are always in flight under load; a member is catching up
	// (after a restart, or from a snapshot) when it is far behind.
	if applied, commit := n.fsm.appliedIndex(), n.raft.CommitIndex(); commit > applied+readyLag {
		return fmt.Errorf("%w: catching up: applied %d of %d committed entries", domain.ErrUnavailable, applied, commit)
	}
	return nil
}

// Status describes this member.
func (n *Node) Status() domain.Status {
	st := n.backend.Stats()
	leader := n.Leader()
	s := domain.Status{
		MemberID:        n.memberID,
		Name:            n.cfg.Name,
		LeaderName:      leader,
		RaftTerm:        n.raft.CurrentTerm(),
		RaftIndex:       n.raft.LastIndex(),
		CommitIndex:     n.raft.CommitIndex(),
		AppliedIndex:    n.fsm.appliedIndex(),
		Revision:        st.Rev,
		CompactRevision: st.CompactRev,
		DBSize:          st.DBSize,
		DBSizeInUse:     st.DBSizeInUse,
		Keys:            st.Keys,
		Version:         n.cfg.Version,
		Alarms:          n.backend.Alarms(),
	}
	if leader != "" {
		s.Leader = MemberID(leader)
	}
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		for _, srv := range f.Configuration().Servers {
			if string(srv.ID) == n.cfg.Name {
				s.IsLearner = srv.Suffrage != hraft.Voter
			}
		}
	}
	return s
}

// Members lists the members of the Raft configuration with what the
// registry knows of them.
func (n *Node) Members() ([]domain.ClusterMember, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("raft: configuration: %w", err)
	}
	reg, err := n.backend.Members()
	if err != nil {
		return nil, err
	}
	byName := make(map[string]domain.Member, len(reg))
	for _, m := range reg {
		byName[m.Name] = m
	}
	leader := n.Leader()
	var out []domain.ClusterMember
	for _, s := range f.Configuration().Servers {
		name := string(s.ID)
		m, ok := byName[name]
		if !ok {
			m = domain.Member{ID: MemberID(name), Name: name, PeerURL: n.peerURL(string(s.Address))}
		}
		out = append(out, domain.ClusterMember{Member: m, IsLeader: name == leader, IsLearner: s.Suffrage != hraft.Voter})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// timeout is the time a Raft call may take: the context's deadline, capped
// by the apply timeout.
func (n *Node) timeout(ctx context.Context) time.Duration {
	t := n.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		if d := time.Until(dl); d < t {
			t = d
		}
	}
	if t <= 0 {
		t = time.Millisecond
	}
	return t
}

// waitLeader waits until a leader is known, for at most four election
// timeouts (an election with a split vote or two) and the context, and
// returns its name.
func (n *Node) waitLeader(ctx context.Context) (string, error) {
	if l := n.Leader(); l != "" {
		return l, nil
	}
	deadline := time.NewTimer(4 * n.cfg.ElectionTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(n.cfg.HeartbeatInterval / 4)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if l := n.Leader(); l != "" {
				return l, nil
			}
		case <-deadline.C:
			return "", domain.ErrNoLeader
		case <-ctx.Done():
			return "", ctx.Err()
		case <-n.done:
			return "", domain.ErrUnavailable
		}
	}
}

// mapRaftError translates hashicorp/raft errors into domain errors.
func mapRaftError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, hraft.ErrNotLeader), errors.Is(err, hraft.ErrNotVoter):
		return domain.ErrNotLeader
	case errors.Is(err, hraft.ErrLeadershipLost), errors.Is(err, hraft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: %v", domain.ErrIndeterminate, err)
	case errors.Is(err, hraft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %v", domain.ErrIndeterminate, err)
	case errors.Is(err, hraft.ErrRaftShutdown):
		return fmt.Errorf("%w: %v", domain.ErrUnavailable, err)
	}
	return err
}
