package etcdapi

import (
	"context"
	"net"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/auth"
)

// AuthService is what authentication and the Auth RPCs need;
// *auth.Service implements it. Each change returns the store revision it
// was applied at.
type AuthService interface {
	Store() *auth.Store
	Authenticate(ctx context.Context, name, password, source string) (string, int64, error)
	VerifyToken(token string) (string, error)
	Enable(ctx context.Context) (int64, error)
	Disable(ctx context.Context) (int64, error)
	AddUser(ctx context.Context, name, password string) (int64, error)
	ChangePassword(ctx context.Context, name, password string) (int64, error)
	DeleteUser(ctx context.Context, name string) (int64, error)
	GrantRole(ctx context.Context, user, role string) (int64, error)
	RevokeRole(ctx context.Context, user, role string) (int64, error)
	AddRole(ctx context.Context, name string) (int64, error)
	DeleteRole(ctx context.Context, name string) (int64, error)
	GrantPermission(ctx context.Context, role string, p domain.Permission) (int64, error)
	RevokePermission(ctx context.Context, role string, key, end []byte) (int64, error)
	// State returns the auth state after a read barrier.
	State(ctx context.Context) (domain.AuthState, error)
}

// tokenKey is the metadata key that carries a token, as clientv3 sends
// it (etcd's rpctypes.TokenFieldNameGRPC).
const tokenKey = "token"

// openMethods answer without a user when auth is on: the call that gets a
// token, and the one that says whether auth is on.
var openMethods = map[string]bool{
	"/etcdserverpb.Auth/Authenticate": true,
	"/etcdserverpb.Auth/AuthStatus":   true,
}

// unaryAuth finds out who sends a call when auth is on (identify) and
// puts the user in its context; what the user may do is decided by each
// RPC (allow), as in the REST API.
func (s *Server) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	ctx, err := s.authenticate(ctx, info.FullMethod)
	if err != nil {
		return nil, s.toStatus(err)
	}
	return next(ctx, req)
}

func (s *Server) streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	ctx, err := s.authenticate(ss.Context(), info.FullMethod)
	if err != nil {
		return s.toStatus(err)
	}
	return next(srv, &userStream{ServerStream: ss, ctx: ctx})
}

// userStream is a stream whose context carries the user.
type userStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (u *userStream) Context() context.Context { return u.ctx }

// authenticate returns ctx with the user of the call: the one its token
// names, or else the common name of a verified TLS client certificate
// (the one the JSON gateway's HTTP client presented, for its calls). A
// token that does not hold is an error (clientv3 then gets a new one);
// with auth on, so is a call without either.
func (s *Server) authenticate(ctx context.Context, method string) (context.Context, error) {
	a := s.svc.Auth
	if a == nil || !a.Store().Enabled() || openMethods[method] {
		return ctx, nil
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if ts := md.Get(tokenKey); len(ts) > 0 && ts[0] != "" {
			user, err := a.VerifyToken(ts[0])
			if err != nil {
				return ctx, err
			}
			return auth.WithUser(ctx, user), nil
		}
	}
	if cn, ok := gatewayUser(ctx); ok { // the JSON gateway's client (gateway_conn.go)
		return auth.WithUser(ctx, cn), nil
	}
	if p, ok := peer.FromContext(ctx); ok {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			if ch := ti.State.VerifiedChains; len(ch) > 0 && len(ch[0]) > 0 && ch[0][0].Subject.CommonName != "" {
				return auth.WithUser(ctx, ch[0][0].Subject.CommonName), nil
			}
		}
	}
	return ctx, errNoCredentials
}

// allow asks the one place that decides (auth.Store.Check) whether the
// call's user may do what needs describe. With auth off it allows
// everything.
func (s *Server) allow(ctx context.Context, needs ...auth.Need) error {
	if s.svc.Auth == nil {
		return nil
	}
	return s.svc.Auth.Store().Check(auth.UserFrom(ctx), needs...)
}

// sourceOf is the client's address, counted against password guessing.
func sourceOf(ctx context.Context) string {
	if src, ok := gatewaySource(ctx); ok {
		return src
	}
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	addr := p.Addr.String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return strings.TrimSpace(addr)
}
