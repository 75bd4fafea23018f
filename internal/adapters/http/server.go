package http

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/auth"
	"github.com/cairnkv/cairn/internal/domain/kv"
	"github.com/cairnkv/cairn/internal/domain/watch"
	"github.com/cairnkv/cairn/internal/slowlog"
)

// KVService is what the KV handlers need; *kv.Service implements it.
type KVService interface {
	Range(ctx context.Context, req domain.RangeRequest) (domain.RangeResponse, int64, error)
	Put(ctx context.Context, req domain.PutRequest, ifModRevision *int64) (kv.PutResult, error)
	Delete(ctx context.Context, req domain.DeleteRangeRequest, ifModRevision *int64) (kv.DeleteResult, error)
	Txn(ctx context.Context, req domain.TxnRequest) (domain.TxnResponse, int64, error)
	Compact(ctx context.Context, rev int64) (int64, error)
}

// ClusterService is what the cluster, maintenance and forwarding handlers
// need; the Raft node implements it.
type ClusterService interface {
	Header() domain.Header
	Status() domain.Status
	Ready() error
	Members() ([]domain.ClusterMember, error)
	// AddMember adds a voter, or a learner, through the leader.
	AddMember(ctx context.Context, m domain.Member, learner bool) (domain.Member, error)
	// RemoveMember and PromoteMember change the member with the given ID,
	// through the leader (domain.ErrNotFound for an unknown ID).
	RemoveMember(ctx context.Context, id uint64) error
	PromoteMember(ctx context.Context, id uint64) error
	// TransferLeadership hands leadership from this member, the leader, to
	// the member with ID to, once it leads (domain.ErrNotLeader on a
	// follower).
	TransferLeadership(ctx context.Context, to uint64) error
	Revision() int64
	ReadBarrier(ctx context.Context) error
	// ProposeEncoded proposes a command forwarded by the member named from
	// (the leader's side of forwarding, on the peer port).
	ProposeEncoded(ctx context.Context, from string, cmd []byte) ([]byte, error)
	LeaderReadIndex(ctx context.Context) (uint64, error)
	IsLeader() bool
	// LeaderPeerURL is the base URL of the leader's members' API (its
	// PeerHandler), reached with PeerTransport only.
	LeaderPeerURL(ctx context.Context) (string, error)
	PeerTransport() http.RoundTripper
}

// Hasher computes the store's history hash.
type Hasher interface {
	Hash(rev int64) (hash uint32, atRev int64, compactRev int64, err error)
}

// Config configures the HTTP API. Zero values mean the defaults.
type Config struct {
	// MaxRequestBytes caps a request body (default 1.5 MiB).
	MaxRequestBytes int64
	// Logger receives the access log and server errors.
	Logger zerolog.Logger
	// Registerer receives the HTTP metrics; Gatherer is served on /metrics.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// MaxWatchEvents is the most events in one watch message (default
	// 1000); WatchHeartbeat how often an idle stream gets a heartbeat or
	// progress event (default 10s).
	MaxWatchEvents int
	WatchHeartbeat time.Duration
	// EnablePprof serves Go's profiles under /debug/pprof/ (pprof.go).
	EnablePprof bool
	// WarnRequestDuration is how long a request may take before a warning
	// is logged (slowreq.go); zero: never.
	WarnRequestDuration time.Duration
	// EtcdGateway, when set, serves every path under /v3/: etcd's JSON
	// gateway, which authenticates its calls itself (as etcd's gRPC API
	// does), so the REST authentication leaves them alone.
	EtcdGateway http.Handler
}

// Services are the domain services behind the API.
type Services struct {
	KV       KVService
	Cluster  ClusterService
	Hasher   Hasher
	Watch    WatchService
	Lease    LeaseService
	Lock     LockService
	Election ElectionService
	// Auth authenticates users and decides what they may do; nil serves
	// everyone everything (tests of other parts).
	Auth AuthService

	// Alarms serves /v1/maintenance/alarms.
	Alarms AlarmService

	// Snapshotter serves GET /v1/maintenance/snapshot (nil: 404).
	Snapshotter Snapshotter
	// Defragmenter serves POST /v1/maintenance/defragment (nil: 404).
	Defragmenter Defragmenter
}

// Server is the REST API of one member.
type Server struct {
	cfg       Config
	kv        KVService
	cluster   ClusterService
	hasher    Hasher
	watch     WatchService
	leases    LeaseService
	locks     LockService
	elections ElectionService
	auth      AuthService
	metrics   *httpMetrics
	handler   http.Handler
	peer      http.Handler // the members' API (peer.go)

	snapshotter Snapshotter
	alarms      AlarmService
	defrag      Defragmenter
}

// New builds the API's handler.
func New(cfg Config, svc Services) *Server {
	if cfg.MaxRequestBytes == 0 {
		cfg.MaxRequestBytes = 1536 << 10
	}
	if cfg.MaxWatchEvents == 0 {
		cfg.MaxWatchEvents = 1000
	}
	if cfg.WatchHeartbeat == 0 {
		cfg.WatchHeartbeat = 10 * time.Second
	}
	var hub *watch.Hub
	if svc.Watch != nil {
		hub = svc.Watch.Hub()
	}
	s := &Server{cfg: cfg, kv: svc.KV, cluster: svc.Cluster, hasher: svc.Hasher, watch: svc.Watch, leases: svc.Lease,
		locks: svc.Lock, elections: svc.Election, auth: svc.Auth, snapshotter: svc.Snapshotter, alarms: svc.Alarms,
		metrics: newHTTPMetrics(cfg.Registerer, hub, svc.Lease)}
	s.metrics.slow = slowlog.New(cfg.Logger, "request", cfg.WarnRequestDuration)
	s.defrag = svc.Defragmenter
	s.handler = s.routes()
	s.peer = s.peerRoutes()
	return s
}

// Handler returns the client API's root handler: what the client URLs
// serve. It has no member-to-member call (those are on PeerHandler).
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errNotFound)
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete} {
			if r.Match(chi.NewRouteContext(), m, req.URL.Path) {
				w.Header().Add("Allow", m)
			}
		}
		s.writeError(w, req, errMethodNotAllowed)
	})

	api := r.With(s.limitBodyTo(s.cfg.MaxRequestBytes))
	api.Get("/v1/kv/*", s.handleGet)
	api.Put("/v1/kv/*", s.handlePut)
	api.Delete("/v1/kv/*", s.handleDelete)
	api.Post("/v1/txn", s.handleTxn)
	api.Get("/v1/watch/*", s.handleWatch) // the middleware serves it without the router (request.go)
	api.Post("/v1/compact", s.guard(auth.Root(), s.handleCompact))

	// Leases belong to no key: any user may grant one and keep it alive;
	// revoking deletes its keys, so it needs write on each (checked here,
	// on the member that knows the user, before a follower forwards).
	user := auth.Authenticated()
	api.Post("/v1/leases", s.guard(user, s.onLeader(s.handleGrant)))
	api.Get("/v1/leases", s.guard(user, s.handleLeases))
	api.Get("/v1/leases/{id}", s.allowLeaseKeys(domain.PermRead, s.onLeader(s.handleTimeToLive)))
	api.Post("/v1/leases/{id}/keepalive", s.guard(user, s.onLeader(s.handleKeepAlive)))
	api.Delete("/v1/leases/{id}", s.allowLeaseKeys(domain.PermWrite, s.onLeader(s.handleRevoke)))

	api.Post("/v1/locks/*", s.handleLock)
	api.Get("/v1/locks/*", s.handleLockStatus)
	api.Delete("/v1/locks/*", s.handleUnlock)
	api.Post("/v1/elections/*", s.handleElectionPost)
	api.Get("/v1/elections/*", s.handleElectionGet)

	api.Get("/v1/status", s.guard(user, s.handleStatus))
	api.Get("/v1/cluster/members", s.guard(user, s.handleMembers))
	api.Post("/v1/cluster/members", s.guard(auth.Root(), s.handleAddMember))
	api.Delete("/v1/cluster/members/{id}", s.guard(auth.Root(), s.handleRemoveMember))
	api.Post("/v1/cluster/members/{id}/promote", s.guard(auth.Root(), s.handlePromoteMember))
	api.Post("/v1/cluster/leader", s.guard(auth.Root(), s.onLeader(s.handleMoveLeader)))
	api.Get("/v1/maintenance/hash", s.guard(auth.Root(), s.handleHash))
	api.Get("/v1/maintenance/alarms", s.guard(auth.Root(), s.handleAlarms))
	api.Delete("/v1/maintenance/alarms", s.guard(auth.Root(), s.handleDisarm))
	api.Get("/v1/maintenance/snapshot", s.guard(auth.Root(), s.handleSnapshot))
	api.Post("/v1/maintenance/defragment", s.guard(auth.Root(), s.handleDefragment))
	if s.auth != nil {
		s.authRoutes(api)
	}

	if s.cfg.EtcdGateway != nil {
		r.Handle("/v3/*", s.cfg.EtcdGateway)
	}

	api.Get("/healthz", s.handleHealthz)
	api.Get("/readyz", s.handleReadyz)
	if s.cfg.EnablePprof {
		s.pprofRoutes(api)
	}
	if s.cfg.Gatherer != nil {
		r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}))
	}
	return &middleware{s: s, next: r, log: s.cfg.Logger, client: true} // request.go
}

// limitBodyTo caps request bodies at limit bytes. A body declared empty
// (no body, or Content-Length: 0, which net/http holds the client to) is
// left as it is.
func (s *Server) limitBodyTo(limit int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.ContentLength > limit:
				s.writeError(w, r, &http.MaxBytesError{Limit: limit})
				return
			case r.ContentLength != 0:
				r.Body = http.MaxBytesReader(w, r.Body, limit)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// gatewayPath reports whether r goes to etcd's JSON gateway, whose calls
// the gRPC server authenticates (its token, as etcd's gateway takes it).
func (s *Server) gatewayPath(r *http.Request) bool {
	return s.cfg.EtcdGateway != nil && strings.HasPrefix(r.URL.Path, "/v3/")
}

// header returns the response header for an answer at rev.
func (s *Server) header(rev int64) headerJSON {
	h := s.cluster.Header()
	h.Revision = rev
	return toHeader(h)
}

// writeJSON answers with a JSON body and the X-Cairn-Revision header.
func (s *Server) writeJSON(w http.ResponseWriter, status int, rev int64, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Cairn-Revision", strconv.FormatInt(rev, 10))
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
