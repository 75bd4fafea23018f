package etcdapi

import (
	"context"
	"net"
	"strings"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/test/bufconn"
)

// The gateway reaches the gRPC server over an in-memory connection: no
// port, no TLS, nothing another process can dial. Its connections carry
// gatewayAddr as their remote address, which is how the server knows that
// a call came through the gateway and may trust the caller's identity the
// gateway forwards in the metadata below. No other connection can have
// that address: it is a type of this package.
//
//	HTTP client ──JSON──▶ Gateway (grpc-gateway mux) ──gRPC, in memory──▶ grpc.Server
//	                      forwards: token (Authorization),                 authenticate:
//	                      client certificate's CN, client address          token, else CN
const (
	// gatewayMDPrefix starts every metadata key only the gateway may set;
	// an HTTP header that would become one is dropped (gatewayHeader).
	gatewayMDPrefix = "cairn-gateway-"
	// gatewayUserKey carries the common name of the HTTP client's verified
	// TLS certificate.
	gatewayUserKey = gatewayMDPrefix + "client-cn"
	// gatewaySourceKey carries the HTTP client's address, counted against
	// password guessing as a direct gRPC client's is.
	gatewaySourceKey = gatewayMDPrefix + "client-addr"
)

// gatewayBufferBytes is the in-memory connection's buffer in each
// direction.
const gatewayBufferBytes = 1 << 20

// gatewayAddr is the remote address of the gateway's connections.
type gatewayAddr struct{}

func (gatewayAddr) Network() string { return "memory" }
func (gatewayAddr) String() string  { return "etcd-json-gateway" }

// memListener is an in-memory listener whose accepted connections report
// gatewayAddr as their remote address.
type memListener struct{ *bufconn.Listener }

func newMemListener() *memListener { return &memListener{bufconn.Listen(gatewayBufferBytes)} }

// Accept waits for the next in-memory connection.
func (l *memListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return gatewayConn{c}, nil
}

// gatewayConn is the server's side of a gateway connection.
type gatewayConn struct{ net.Conn }

func (gatewayConn) RemoteAddr() net.Addr { return gatewayAddr{} }

// fromGateway returns the metadata of a call that came through the
// gateway; ok is false for any other call.
func fromGateway(ctx context.Context) (md metadata.MD, ok bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, false
	}
	if _, ok := p.Addr.(gatewayAddr); !ok {
		return nil, false
	}
	md, _ = metadata.FromIncomingContext(ctx)
	return md, true
}

// gatewayUser is the common name of the verified TLS client certificate
// the HTTP client of a gateway call presented, if any.
func gatewayUser(ctx context.Context) (string, bool) {
	md, ok := fromGateway(ctx)
	if !ok {
		return "", false
	}
	if v := md.Get(gatewayUserKey); len(v) == 1 && v[0] != "" {
		return v[0], true
	}
	return "", false
}

// gatewaySource is the address of the HTTP client of a gateway call.
func gatewaySource(ctx context.Context) (string, bool) {
	md, ok := fromGateway(ctx)
	if !ok {
		return "", false
	}
	if v := md.Get(gatewaySourceKey); len(v) == 1 {
		return v[0], true
	}
	return "", true
}

// isGatewayKey reports whether a metadata key is one only the gateway
// sets.
func isGatewayKey(key string) bool {
	return strings.HasPrefix(strings.ToLower(key), gatewayMDPrefix)
}
