package etcdapi

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.etcd.io/etcd/api/v3/etcdserverpb/gw"
	electiongw "go.etcd.io/etcd/server/v3/etcdserver/api/v3election/v3electionpb/gw"
	lockgw "go.etcd.io/etcd/server/v3/etcdserver/api/v3lock/v3lockpb/gw"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
)

// Gateway is etcd's JSON gateway: the grpc-gateway v2 handlers that
// etcd's API module generates from the service definitions
// (go.etcd.io/etcd/api/v3/etcdserverpb/gw, and the server module's
// v3lockpb/gw and v3electionpb/gw, as etcd mounts them), serving
// /v3/kv/range, /v3/watch, /v3/lease/grant and every other route of the
// gRPC services, POST with a JSON body. Each request becomes a gRPC call
// to the Server it was made from, over an in-memory connection
// (gateway_conn.go), so it goes through the same interceptors, auth
// checks and domain services as a call from etcdctl.
//
// JSON is what etcd's gateway speaks (etcd's marshaler options): proto
// field names (cluster_id, create_revision), fields at their zero value
// left out, bytes (keys, values) in base64, 64-bit integers as strings;
// unknown request fields are ignored. Streams (Watch, LeaseKeepAlive,
// Snapshot) answer with one {"result": …} object per line.
type Gateway struct {
	mux     *runtime.ServeMux
	conn    *grpc.ClientConn
	ln      *memListener
	served  chan struct{} // closed once the in-memory Serve returns
	maxBody int64

	closeOnce sync.Once
}

// clientStreams are the routes whose request body is a stream of
// requests, read while the answers go out: no body limit applies to the
// whole, and HTTP/1.1 is made full duplex.
var clientStreams = map[string]bool{"/v3/watch": true, "/v3/lease/keepalive": true}

// NewGateway serves s's gRPC services as etcd's JSON gateway. It starts
// serving s on its in-memory listener; Close stops that.
func NewGateway(s *Server) (*Gateway, error) {
	g := &Gateway{ln: newMemListener(), served: make(chan struct{}),
		// base64 takes 4 bytes for 3, and JSON adds its punctuation.
		maxBody: 2 * int64(s.cfg.MaxRequestBytes+grpcOverheadBytes)}
	go func() {
		defer close(g.served)
		_ = s.grpc.Serve(g.ln) // returns once the listener is closed
	}()
	conn, err := grpc.NewClient("passthrough:///etcd-json-gateway",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return g.ln.DialContext(ctx) }),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32)),
	)
	if err != nil {
		g.stopServing()
		return nil, fmt.Errorf("etcd gateway: %w", err)
	}
	g.conn = conn
	g.mux = runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{
			Marshaler: &runtime.JSONPb{
				MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: false},
				UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
			},
		}),
		runtime.WithIncomingHeaderMatcher(gatewayHeader),
		runtime.WithMetadata(gatewayMetadata),
		runtime.WithErrorHandler(gatewayError),
	)
	for _, register := range []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		gw.RegisterKVHandler, gw.RegisterWatchHandler, gw.RegisterLeaseHandler,
		gw.RegisterClusterHandler, gw.RegisterMaintenanceHandler, gw.RegisterAuthHandler,
		// v3lock and v3election (/v3/lock/lock, /v3/election/campaign…):
		// Unimplemented when the Server serves no Lock or Election.
		lockgw.RegisterLockHandler, electiongw.RegisterElectionHandler,
	} {
		// The context only closes conn when done (never, here: Close does).
		if err := register(context.Background(), g.mux, conn); err != nil {
			g.Close()
			return nil, fmt.Errorf("etcd gateway: %w", err)
		}
	}
	return g, nil
}

// ServeHTTP serves one gateway request (a path under /v3/).
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if clientStreams[r.URL.Path] {
		// HTTP/2 is full duplex already; the error says so.
		_ = http.NewResponseController(w).EnableFullDuplex()
	} else if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, g.maxBody)
	}
	g.mux.ServeHTTP(w, r)
}

// Close closes the in-memory connection and stops serving it. Call it
// once the HTTP server has shut down: a gateway request still in flight
// fails with Unavailable. It is safe to call more than once.
func (g *Gateway) Close() error {
	var err error
	g.closeOnce.Do(func() {
		if g.conn != nil {
			err = g.conn.Close()
		}
		g.stopServing()
	})
	return err
}

func (g *Gateway) stopServing() {
	_ = g.ln.Close()
	<-g.served
}

// gatewayHeader maps HTTP headers to gRPC metadata as grpc-gateway does
// by default (Grpc-Metadata-X becomes X; permanent headers get the
// grpcgateway- prefix), except that a header may not set the keys only
// the gateway sets.
func gatewayHeader(key string) (string, bool) {
	md, ok := runtime.DefaultHeaderMatcher(key)
	if !ok || isGatewayKey(md) {
		return "", false
	}
	return md, true
}

// gatewayMetadata forwards who the HTTP client is: its token, from the
// Authorization header as etcd's gateway takes it (the bare token, or
// "Bearer T"), as the token metadata clientv3 sends; the common name of
// its verified TLS client certificate; its address.
func gatewayMetadata(_ context.Context, r *http.Request) metadata.MD {
	md := metadata.MD{}
	if h := strings.TrimSpace(r.Header.Get("Authorization")); h != "" {
		if scheme, rest, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
			h = strings.TrimSpace(rest)
		}
		md.Set(tokenKey, h)
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		if cn := r.TLS.VerifiedChains[0][0].Subject.CommonName; cn != "" {
			md.Set(gatewayUserKey, cn)
		}
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		md.Set(gatewaySourceKey, host)
	} else if r.RemoteAddr != "" {
		md.Set(gatewaySourceKey, r.RemoteAddr)
	}
	return md
}
