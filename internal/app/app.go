package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	gometrics "github.com/armon/go-metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	boltadapter "github.com/cairnkv/cairn/internal/adapters/bolt"
	"github.com/cairnkv/cairn/internal/adapters/etcdapi"
	httpadapter "github.com/cairnkv/cairn/internal/adapters/http"
	"github.com/cairnkv/cairn/internal/adapters/password"
	raftadapter "github.com/cairnkv/cairn/internal/adapters/raft"
	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/auth"
	"github.com/cairnkv/cairn/internal/domain/election"
	"github.com/cairnkv/cairn/internal/domain/kv"
	"github.com/cairnkv/cairn/internal/domain/lease"
	"github.com/cairnkv/cairn/internal/domain/lock"
	"github.com/cairnkv/cairn/internal/domain/watch"
	"github.com/cairnkv/cairn/internal/failpoint"
	"github.com/cairnkv/cairn/internal/ports"
)

// Version is the server's version, reported by /v1/status.
const Version = "0.1.0"

// App is one running Cairn member: store, Raft node and HTTP API.
type App struct {
	cfg       Config
	log       zerolog.Logger
	registry  *prometheus.Registry
	backend   *boltadapter.Backend
	hub       *watch.Hub
	lessor    *lease.Lessor
	space     *space // quota, alarms, auto-compaction (space.go)
	authStore *auth.Store
	runCancel context.CancelFunc
	runDone   chan struct{}
	node      *raftadapter.Node
	listeners []net.Listener
	// grpcListeners[i] has the gRPC connections of listeners[i] on a
	// plain http:// URL (nil over TLS): served by etcd's API directly.
	grpcListeners []net.Listener
	servers       []*http.Server
	etcd          *etcdapi.Server  // etcd's gRPC API, on the client port beside REST (grpcmux.go)
	gateway       *etcdapi.Gateway // etcd's JSON gateway over it, under /v3/ on the REST router
	clientURL     string
	tls           memberTLS

	failpoints *failpoint.Server // nil unless a failpoints build asked for it

	closeOnce sync.Once
	closeErr  error
}

// New opens the member's store, starts its Raft node and binds its client
// listeners. Serving starts with Run.
func New(cfg Config, log zerolog.Logger) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tlsc, err := loadTLS(cfg, log)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: log, registry: prometheus.NewRegistry(), tls: tlsc}
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exportRaftMetrics(a.registry, log)

	// Bind the client listeners first: a port 0 becomes a real port that
	// is then advertised.
	advertised := cfg.AdvertiseClientURLs
	for i, addr := range cfg.ClientAddrs() {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			a.closeListeners()
			return nil, fmt.Errorf("listen on %s: %w", addr, err)
		}
		ln = tlsc.listener(cfg.ListenClientURLs[i], ln)
		var grpcLn net.Listener // gRPC on grpc-go's own transport (grpcsplit.go)
		if urlScheme(cfg.ListenClientURLs[i]) != "https" {
			ln, grpcLn = splitGRPC(ln, grpcSniffTimeout)
		}
		a.listeners = append(a.listeners, ln)
		a.grpcListeners = append(a.grpcListeners, grpcLn)
		if i < len(advertised) && strings.HasSuffix(advertised[i], ":0") {
			advertised = append([]string(nil), advertised...)
			advertised[i] = advertisedURL(advertised[i], ln)
		}
	}
	if len(advertised) > 0 {
		a.clientURL = advertised[0]
	}

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		a.closeListeners()
		return nil, fmt.Errorf("data dir: %w", err)
	}
	// The store's commits are not fsynced: the Raft log is the durable
	// copy of every applied entry (see internal/adapters/bolt/unsynced.go).
	backend, err := boltadapter.Open(filepath.Join(cfg.DataDir, "state.db"), boltadapter.Config{Unsynced: true,
		Logger: log.With().Str("component", "store").Logger(), Registerer: a.registry})
	if err != nil {
		a.closeListeners()
		return nil, fmt.Errorf("open store: %w", err)
	}
	a.backend = backend
	if backend.Rebuilt() {
		log.Warn().Str("path", filepath.Join(cfg.DataDir, "state.db.untrusted")).
			Msg("the store was written without fsync before the machine restarted, and may be torn: it is set aside, and rebuilt from the Raft snapshot and log")
	}

	// The watch hub starts at the store's revision; the apply path feeds it.
	a.hub = watch.NewHub(watch.HubConfig{MaxWatchers: cfg.MaxWatchers}, backend.Stats().Rev)
	// The auth checks read a compiled copy of the replicated auth state,
	// compiled again whenever an applied entry or a snapshot changes it.
	a.authStore = auth.NewStore(backend.AuthState)
	if err := a.authStore.Reload(); err != nil {
		backend.Close()
		a.closeListeners()
		return nil, err
	}

	// The lessor proposes expiries only as leader, never forwarded: a member
	// that just lost leadership must not act on stale deadlines. It exists
	// before the node, whose leadership callbacks (promote) may come before
	// New returns.
	a.lessor = lease.NewLessor(lease.Config{
		MinTTL:         MinLeaseTTL(cfg.ElectionTimeout),
		Extend:         cfg.ElectionTimeout,
		ProposeTimeout: cfg.RequestTimeout,
	}, newClock(), leaderProposer{a}, backend, func(err error) {
		log.Warn().Err(err).Str("component", "lease").Msg("lessor")
	})
	a.space = newSpace(cfg, a, raftadapter.MemberID(cfg.Name))
	waitResolvable(urlHostname(cfg.InitialAdvertisePeerURL), dnsWaitTimeout, dnsWaitInterval, lookupHost, log)
	peers := make([]raftadapter.Peer, len(cfg.InitialCluster))
	for i, p := range cfg.InitialCluster {
		peers[i] = raftadapter.Peer{Name: p.Name, PeerURL: p.URL}
	}
	node, err := raftadapter.New(raftadapter.Config{
		Name:              cfg.Name,
		DataDir:           filepath.Join(cfg.DataDir, "raft"),
		BindAddr:          cfg.PeerAddr(),
		AdvertisePeerURL:  cfg.InitialAdvertisePeerURL,
		ClientURLs:        advertised,
		InitialCluster:    peers,
		Bootstrap:         cfg.Join == "" && cfg.InitialClusterState == "new",
		HeartbeatInterval: cfg.HeartbeatInterval,
		ElectionTimeout:   cfg.ElectionTimeout,
		ApplyTimeout:      cfg.RequestTimeout,
		SnapshotThreshold: cfg.SnapshotCount,
		SnapshotInterval:  cfg.SnapshotInterval,
		HashCheckInterval: cfg.CorruptCheckInterval,
		WarnApplyDuration: warnApply(cfg.WarningApplyDuration),
		RestoreOnStart:    backend.Rebuilt(),
		Logger:            log,
		Registerer:        a.registry,
		Version:           Version,
		OnCommit:          a.onCommit,
		OnRestore:         a.hub.Reset,
		OnAuthChange:      a.reloadAuth,
		OnLeader:          a.promote,
		OnFollower:        a.demote,
		PeerTLS:           tlsc.peer,
	}, backend)
	if err != nil {
		backend.Close()
		a.closeListeners()
		return nil, err
	}
	a.node = node

	svcs, err := services(cfg, a, node, backend)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.etcd = newEtcdAPI(cfg, log, svcs)
	// etcd's JSON gateway calls the gRPC API in memory: one set of checks.
	if a.gateway, err = etcdapi.NewGateway(a.etcd); err != nil {
		a.Close()
		return nil, err
	}
	api := httpadapter.New(httpadapter.Config{
		MaxRequestBytes: cfg.MaxRequestBytes,
		Logger:          log.With().Str("component", "http").Logger(),
		Registerer:      a.registry,
		Gatherer:        a.registry,
		MaxWatchEvents:  cfg.MaxWatchEvents,
		WatchHeartbeat:  cfg.WatchHeartbeat,

		EnablePprof:         cfg.EnablePprof,
		WarnRequestDuration: cfg.WarningApplyDuration,
		EtcdGateway:         a.gateway,
	}, svcs)
	node.ServePeerHTTP(api.PeerHandler()) // the members' calls: on the peer port, to members only
	// HTTP/1.1, and HTTP/2: over TLS (negotiated by ALPN) and, on plain
	// http:// URLs, by prior knowledge (h2c), so that a client can carry
	// many watches on one connection, each an HTTP/2 stream.
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	protocols.SetUnencryptedHTTP2(true)
	for range a.listeners {
		a.servers = append(a.servers, &http.Server{
			Handler:           grpcMux(a.etcd, api.Handler()),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          httpErrorLog(log.With().Str("component", "http").Logger()),
			Protocols:         protocols,
			// Go's default is 250 streams per connection; a client that
			// carries many SSE watches on one h2c connection needs more.
			HTTP2: &http.HTTP2Config{MaxConcurrentStreams: cfg.MaxConcurrentStreams},
		})
	}
	if a.failpoints, err = a.startFailpoints(); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// exportRaftMetrics sends hashicorp/raft's own metrics, which go through
// go-metrics' process-wide sink, to reg, under Cairn names (raftmetrics.go).
// With several members in one process (tests) the last one started
// receives them.
func exportRaftMetrics(reg prometheus.Registerer, log zerolog.Logger) {
	sink := newRaftLibSink(reg, raftLibMetrics)
	conf := gometrics.DefaultConfig("") // keys as hashicorp/raft names them: raft.commitTime
	conf.EnableHostname = false
	conf.EnableRuntimeMetrics = false
	if _, err := gometrics.NewGlobal(conf, sink); err != nil {
		log.Warn().Err(err).Msg("raft library metrics are not exported")
	}
}

// ClientURL is the first advertised client URL (with the real port when
// the configuration asked for port 0).
func (a *App) ClientURL() string { return a.clientURL }

// Run serves the API until ctx is done, then shuts down gracefully: it
// stops accepting requests, lets those in flight finish (for at most the
// shutdown timeout), and closes Raft and the store.
func (a *App) Run(ctx context.Context) error {
	errc := make(chan error, len(a.servers)+1)
	for i, srv := range a.servers {
		go func(srv *http.Server, ln net.Listener) {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve %s: %w", ln.Addr(), err)
			}
		}(srv, a.listeners[i])
	}
	for _, ln := range a.grpcListeners {
		if ln == nil {
			continue
		}
		go func() {
			if err := a.etcd.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
				errc <- fmt.Errorf("serve gRPC on %s: %w", ln.Addr(), err)
			}
		}()
	}
	lctx, cancel := context.WithCancel(context.Background())
	a.runCancel, a.runDone = cancel, make(chan struct{})
	go func() {
		defer close(a.runDone)
		var wg sync.WaitGroup
		wg.Go(func() { a.space.run(lctx) })
		a.lessor.Run(lctx)
		wg.Wait()
	}()
	a.log.Info().Str("name", a.cfg.Name).Str("client_url", a.clientURL).
		Str("peer_url", a.cfg.InitialAdvertisePeerURL).Str("data_dir", a.cfg.DataDir).Msg("cairn member started")
	// The join attempts end with Run, however Run ends.
	jctx, jcancel := context.WithCancel(ctx)
	defer jcancel()
	if a.cfg.Join != "" {
		go func() {
			if err := a.join(jctx); err != nil {
				errc <- err
			}
		}()
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	jcancel()
	if err := a.Close(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// join asks a running cluster, through the member at cfg.Join, to add this
// member, retrying until it answers or ctx ends. A member that is already
// in the cluster is left alone.
func (a *App) join(ctx context.Context) error {
	if a.node.HasState() {
		return nil
	}
	body, _ := json.Marshal(map[string]any{
		"name": a.cfg.Name, "peer_addr": a.cfg.InitialAdvertisePeerURL, "client_urls": []string{a.clientURL},
		"learner": a.cfg.JoinAsLearner,
	})
	url := strings.TrimSuffix(a.cfg.Join, "/") + "/v1/cluster/members"
	// Each attempt is bounded, so that a member that accepts the
	// connection and never answers cannot stall the retries; with an
	// https:// URL it uses the client TLS files.
	joinClient := a.tls.joinClient()
	defer joinClient.CloseIdleConnections()
	deadline := time.Now().Add(time.Minute)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("--join: %w", err)
		}
		req.Header.Set("Content-Type", "application/json")
		if name, password, ok := strings.Cut(a.cfg.JoinUser, ":"); ok {
			req.SetBasicAuth(name, password)
		}
		resp, err := joinClient.Do(req)
		if err == nil {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusCreated {
				a.log.Info().Str("via", a.cfg.Join).Msg("joined the cluster")
				return nil
			}
			if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests {
				return fmt.Errorf("--join %s refused: %s", a.cfg.Join, strings.TrimSpace(string(msg)))
			}
			err = fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg)))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("--join %s: %w", a.cfg.Join, err)
		}
		a.log.Warn().Err(err).Msg("join failed; retrying")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// Close stops serving and closes Raft and the store. It is safe to call
// more than once.
func (a *App) Close() error {
	a.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
		defer cancel()
		var errs []error
		// Watch streams never end on their own: end them first, so that
		// the HTTP shutdown only waits for ordinary requests.
		if a.hub != nil {
			a.hub.Close()
		}
		if a.etcd != nil {
			a.etcd.Close() // its watch and keep-alive streams, likewise
		}
		for _, srv := range a.servers {
			if err := srv.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("http shutdown: %w", err))
				srv.Close()
			}
		}
		if a.gateway != nil {
			_ = a.gateway.Close() // after the HTTP shutdown: its requests have ended
		}
		if a.etcd != nil {
			a.etcd.Stop(ctx) // the gRPC connections served on grpc-go's transport
		}
		a.closeListeners()
		if a.failpoints != nil {
			_ = a.failpoints.Close()
		}
		if a.runCancel != nil {
			a.runCancel()
			<-a.runDone
		}
		if a.node != nil {
			if err := a.node.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if a.backend != nil {
			if err := a.backend.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		a.closeErr = errors.Join(errs...)
		a.log.Info().Err(a.closeErr).Msg("cairn member stopped")
	})
	return a.closeErr
}

func (a *App) closeListeners() {
	for _, ln := range a.listeners {
		ln.Close()
	}
}

// services builds the domain services over the node and the store.
func services(cfg Config, a *App, node *raftadapter.Node, backend *boltadapter.Backend) (httpadapter.Services, error) {
	kvs := kv.New(node, backend)
	watches := watch.New(watch.Config{MaxEvents: cfg.MaxWatchEvents}, a.hub, backend, node)
	leases := lease.NewService(a.lessor, node, backend)
	q := lock.NewQueue(kvs, watches, leases)
	// Token expiry is wall-clock time: a token says when it expires.
	auths, err := auth.NewService(auth.Config{TokenTTL: cfg.AuthTokenTTL}, a.authStore, node,
		password.Bcrypt{Cost: cfg.BcryptCost}, ports.SystemClock{})
	if err != nil {
		return httpadapter.Services{}, err
	}
	return httpadapter.Services{
		KV:       kvs,
		Cluster:  node,
		Hasher:   backend,
		Watch:    watches,
		Lease:    leases,
		Lock:     lock.New(q),
		Election: election.New(q, kvs, watches),
		Auth:     auths,
		Alarms:   a.space.alarms,

		Snapshotter:  backend,
		Defragmenter: backend,
	}, nil
}

// reloadAuth compiles the auth state again after an applied change. A
// failure to read it is a failure of the store: the checks would go on
// with the previous state, so it is logged as an error.
func (a *App) reloadAuth() {
	if err := a.authStore.Reload(); err != nil {
		a.log.Error().Err(err).Msg("auth state could not be reloaded; permission checks use the previous state")
	}
}

// promote makes this member's lessor keep the lease deadlines: it leads,
// and has applied the log up to the start of its term.
func (a *App) promote() {
	if err := a.lessor.Promote(); err != nil {
		a.log.Error().Err(err).Msg("lessor could not take over the leases")
	}
}

// demote stops the lessor: this member no longer leads.
func (a *App) demote() { a.lessor.Demote() }

// leaderProposer proposes only while this member leads. It reaches the
// node through the App: the lessor is made before the node, and calls it
// only from its Run loop and the API's handlers, which start after New.
type leaderProposer struct{ a *App }

func (p leaderProposer) Propose(ctx context.Context, cmd domain.Command) (domain.Result, error) {
	return p.a.node.ProposeAsLeader(ctx, cmd)
}

// ReadBarrier confirms that this member still leads (the lessor's renewals
// count only then); it never asks another member.
func (p leaderProposer) ReadBarrier(ctx context.Context) error {
	return p.a.node.LeaderReadBarrier(ctx)
}

// MinLeaseTTL is the shortest lease, in seconds, for an election timeout:
// one and a half election timeouts, rounded up, at least 1 (etcd's rule),
// so that a leader change cannot eat a lease's whole TTL.
func MinLeaseTTL(electionTimeout time.Duration) int64 {
	s := (3*electionTimeout/2 + time.Second - 1) / time.Second
	return max(int64(s), 1)
}

// NewLogger builds the server's logger from the configuration.
func NewLogger(cfg Config, w io.Writer, isTerminal bool) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(cfg.LogLevel)
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("--log-level: %w", err)
	}
	if cfg.LogFormatFor(isTerminal) == LogFormatConsole {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Str("member", cfg.Name).Logger(), nil
}
