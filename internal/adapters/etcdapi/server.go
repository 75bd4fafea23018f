package etcdapi

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3election/v3electionpb"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3lock/v3lockpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/kv"
	"github.com/cairnkv/cairn/internal/domain/lease"
	"github.com/cairnkv/cairn/internal/domain/watch"
	"github.com/cairnkv/cairn/internal/ports"
)

// KVService is what the KV RPCs need; *kv.Service implements it.
type KVService interface {
	Range(ctx context.Context, req domain.RangeRequest) (domain.RangeResponse, int64, error)
	Put(ctx context.Context, req domain.PutRequest, ifModRevision *int64) (kv.PutResult, error)
	Delete(ctx context.Context, req domain.DeleteRangeRequest, ifModRevision *int64) (kv.DeleteResult, error)
	Txn(ctx context.Context, req domain.TxnRequest) (domain.TxnResponse, int64, error)
	Compact(ctx context.Context, rev int64) (int64, error)
}

// WatchService opens watchers; *watch.Service implements it.
type WatchService interface {
	Watch(ctx context.Context, req watch.Request) (*watch.Watcher, error)
}

// LeaseService is what the lease RPCs need; *lease.Service implements
// it. Grant, Revoke, KeepAlive and TimeToLive need the leader's lessor: a
// follower sends them to the leader (leader.go).
type LeaseService interface {
	Grant(ctx context.Context, ttl, id int64) (lease.Granted, error)
	Revoke(ctx context.Context, id int64) (int64, error)
	KeepAlive(ctx context.Context, id int64) (int64, error)
	TimeToLive(ctx context.Context, id int64, keys bool) (lease.Status, error)
	List(ctx context.Context, serializable bool) ([]domain.Lease, int64, error)
	Keys(id int64) ([][]byte, error)
}

// ClusterService is what the cluster and maintenance RPCs, the response
// headers and the forwarding to the leader need; the Raft node implements
// it.
type ClusterService interface {
	Header() domain.Header
	Status() domain.Status
	Members() ([]domain.ClusterMember, error)
	// RemoveMember and PromoteMember change the member with the given ID,
	// through the leader (domain.ErrNotFound for an unknown ID).
	RemoveMember(ctx context.Context, id uint64) error
	PromoteMember(ctx context.Context, id uint64) error
	// TransferLeadership hands leadership from this member, the leader, to
	// the member with ID to (domain.ErrNotLeader on a follower).
	TransferLeadership(ctx context.Context, to uint64) error
	Revision() int64
	ReadBarrier(ctx context.Context) error
	IsLeader() bool
	// LeaderPeerURL is the base URL of the leader's members' API, reached
	// with PeerTransport only (domain.ErrNoLeader when none is known).
	LeaderPeerURL(ctx context.Context) (string, error)
	PeerTransport() http.RoundTripper
}

// Hasher computes the store's history hash.
type Hasher interface {
	Hash(rev int64) (hash uint32, atRev int64, compactRev int64, err error)
}

// AlarmService lists and clears the cluster's alarms; *alarm.Service
// implements it.
type AlarmService interface {
	List(ctx context.Context, linearizable bool) ([]domain.Alarm, error)
	Clear(ctx context.Context, match domain.Alarm) ([]domain.Alarm, error)
}

// Snapshotter opens consistent snapshots of this member's store; the bolt
// backend implements it.
type Snapshotter interface {
	Snapshot() (ports.Snapshot, error)
}

// Defragmenter defragments this member's store; the bolt backend
// implements it.
type Defragmenter interface {
	Defragment(ctx context.Context) (ports.DefragStats, error)
}

// Services are the domain services behind the API: the same ones the REST
// API serves. A nil Auth serves everyone everything; a nil Snapshotter,
// Defragmenter, Hasher or Alarms leaves that RPC unimplemented.
type Services struct {
	KV           KVService
	Watch        WatchService
	Lease        LeaseService
	Cluster      ClusterService
	Auth         AuthService
	Hasher       Hasher
	Alarms       AlarmService
	Snapshotter  Snapshotter
	Defragmenter Defragmenter
	// Lock and Election serve etcd's v3lock and v3election services
	// (lock.go, election.go); nil leaves that service unregistered.
	Lock     LockService
	Election ElectionService
	// Members adds members (memberadd.go); nil refuses MemberAdd.
	Members MemberAdder
}

// Config configures the API. Zero values mean the defaults.
type Config struct {
	// MaxRequestBytes is the largest request (default 1.5 MiB), as etcd's
	// --max-request-bytes; gRPC takes messages up to that plus
	// grpcOverheadBytes. A watch created with fragment splits responses
	// larger than it.
	MaxRequestBytes int
	// ProgressNotifyInterval is how often a watch created with
	// progress_notify that saw no change gets a progress notification
	// (default 10 minutes, etcd's).
	ProgressNotifyInterval time.Duration
	// Version is the server version Status reports.
	Version string
	// QuotaBackendBytes is the store quota Status reports (0: none).
	QuotaBackendBytes int64
	// MaxConcurrentStreams bounds the calls at once on one connection
	// served by Serve (0: grpc-go's default, no bound); the HTTP server's
	// own setting bounds those served by ServeHTTP.
	MaxConcurrentStreams uint32
	// Logger receives the errors that are not the client's.
	Logger zerolog.Logger
}

// grpcOverheadBytes is what gRPC may take above MaxRequestBytes (etcd's).
const grpcOverheadBytes = 512 << 10

// Server is etcd's v3 gRPC API of one member. It is an http.Handler for
// HTTP/2 requests of content type application/grpc.
type Server struct {
	cfg    Config
	log    zerolog.Logger
	svc    Services
	grpc   *grpc.Server
	leader *leaderClient

	closeOnce sync.Once
	done      chan struct{} // closed by Close: the streams end
}

// New builds the API over svc.
func New(cfg Config, svc Services) *Server {
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = 1536 << 10
	}
	if cfg.ProgressNotifyInterval <= 0 {
		cfg.ProgressNotifyInterval = 10 * time.Minute
	}
	s := &Server{cfg: cfg, log: cfg.Logger, svc: svc, done: make(chan struct{})}
	s.leader = &leaderClient{cluster: svc.Cluster}
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(cfg.MaxRequestBytes + grpcOverheadBytes),
		// On grpc-go's own transport (Serve): clients that ping to keep
		// idle connections alive (Kubernetes' apiserver every 30 s) are
		// not sent away for pinging too often, as etcd allows them.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.ChainUnaryInterceptor(s.unaryAuth),
		grpc.ChainStreamInterceptor(s.streamAuth),
	}
	if cfg.MaxConcurrentStreams > 0 {
		opts = append(opts, grpc.MaxConcurrentStreams(cfg.MaxConcurrentStreams))
	}
	s.grpc = grpc.NewServer(opts...)
	pb.RegisterKVServer(s.grpc, &kvServer{s: s})
	pb.RegisterWatchServer(s.grpc, &watchServer{s: s})
	pb.RegisterLeaseServer(s.grpc, &leaseServer{s: s})
	pb.RegisterClusterServer(s.grpc, &clusterServer{s: s})
	pb.RegisterMaintenanceServer(s.grpc, &maintenanceServer{s: s})
	pb.RegisterAuthServer(s.grpc, &authServer{s: s})
	if svc.Lock != nil {
		v3lockpb.RegisterLockServer(s.grpc, &lockServer{s: s})
	}
	if svc.Election != nil {
		v3electionpb.RegisterElectionServer(s.grpc, &electionServer{s: s})
	}
	return s
}

// ServeHTTP serves one gRPC call (grpc.Server.ServeHTTP): the request
// must have come over HTTP/2 with content type application/grpc.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.grpc.ServeHTTP(w, r) }

// Serve serves the gRPC connections ln accepts on grpc-go's own
// transport, which costs much less per call than ServeHTTP. It returns
// when ln is closed or Stop is called.
func (s *Server) Serve(ln net.Listener) error { return s.grpc.Serve(ln) }

// Stop ends what Serve serves: gracefully until ctx is done, then at once.
// Call it after Close, once the streams that never end have ended.
func (s *Server) Stop(ctx context.Context) {
	done := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.grpc.Stop()
		<-done
	}
}

// Close ends the streams that never end on their own (watches and lease
// keep-alives), so that the HTTP server's shutdown waits only for the
// calls in flight. It is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.done) })
}

// header returns the response header of an answer at rev.
func (s *Server) header(rev int64) *pb.ResponseHeader {
	h := s.svc.Cluster.Header()
	return &pb.ResponseHeader{ClusterId: h.ClusterID, MemberId: h.MemberID, Revision: rev, RaftTerm: h.RaftTerm}
}

// currentHeader is header at the member's current revision.
func (s *Server) currentHeader() *pb.ResponseHeader { return s.header(s.svc.Cluster.Revision()) }
