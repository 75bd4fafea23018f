package app

import (
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"
	etcdversion "go.etcd.io/etcd/api/v3/version"

	"github.com/cairnkv/cairn/internal/adapters/etcdapi"
	httpadapter "github.com/cairnkv/cairn/internal/adapters/http"
)

// grpcMux serves etcd's gRPC API and the REST API on the same client
// port, as etcd serves its gRPC API and its JSON gateway: an HTTP/2
// request whose content type is application/grpc (or application/grpc+…)
// goes to grpc, every other request to rest. HTTP/2 is h2c by prior
// knowledge on plain http:// URLs, which is what gRPC clients speak
// without TLS, and negotiated by ALPN ("h2") on https:// ones (the client
// servers' Protocols, in New).
//
// On plain http:// URLs most gRPC connections never get here: the
// listener hands them to grpc-go's own transport (grpcsplit.go). What
// comes here is gRPC over TLS, and over h2c only a connection that began
// with another request. grpc is then a grpc.Server's ServeHTTP, the way
// grpc-go documents for sharing a port with an http.Handler. Its limits: it runs on Go's
// HTTP/2 server rather than grpc-go's own transport (slower, and marked
// experimental), so the grpc.Server options that configure that transport
// (keepalive enforcement, MaxConcurrentStreams, connection windows) do
// not apply here, the http.Server's settings do; gRPC-Web is not served;
// and the REST middleware (access log, metrics, request IDs) does not see
// the gRPC calls.
func grpcMux(grpc, rest http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			grpc.ServeHTTP(w, r)
			return
		}
		rest.ServeHTTP(w, r)
	})
}

// newEtcdAPI builds etcd's gRPC API over the services the REST API
// serves: the same instances, so that both APIs share one
// linearizability, one auth and one quota.
func newEtcdAPI(cfg Config, log zerolog.Logger, svcs httpadapter.Services) *etcdapi.Server {
	s := etcdapi.Services{
		KV: svcs.KV, Watch: svcs.Watch, Lease: svcs.Lease, Cluster: svcs.Cluster,
		Hasher: svcs.Hasher, Alarms: svcs.Alarms, Snapshotter: svcs.Snapshotter, Defragmenter: svcs.Defragmenter,
		Lock: svcs.Lock, Election: svcs.Election, Members: svcs.Cluster,
	}
	if svcs.Auth != nil {
		s.Auth = svcs.Auth
	}
	return etcdapi.New(etcdapi.Config{
		MaxRequestBytes: int(cfg.MaxRequestBytes),
		// One knob for both APIs: how often an idle watch that asked for
		// progress gets a progress event.
		ProgressNotifyInterval: cfg.WatchHeartbeat,
		// Status and Snapshot report the etcd version whose API this is:
		// clients gate features on it (Kubernetes serves consistent lists
		// from its watch cache only from etcd 3.4.31 and 3.5.13 on).
		Version:              etcdversion.Version,
		QuotaBackendBytes:    cfg.QuotaBackendBytes,
		MaxConcurrentStreams: uint32(cfg.MaxConcurrentStreams),
		Logger:               log.With().Str("component", "etcdapi").Logger(),
	}, s)
}

// grpcSniffTimeout bounds how long a new plain connection may take to
// show whether it is gRPC (splitGRPC) before the HTTP server gets it.
const grpcSniffTimeout = 10 * time.Second
