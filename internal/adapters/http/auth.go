package http

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/auth"
)

// AuthService is what authentication and the auth calls need;
// *auth.Service implements it.
type AuthService interface {
	Store() *auth.Store
	Authenticate(ctx context.Context, name, password, source string) (string, int64, error)
	Login(ctx context.Context, name, password, source string) error
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
	State(ctx context.Context) (domain.AuthState, error)
}

// openPaths answer without a user when auth is on: probes, metrics, and
// the call that gets a token.
var openPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true, "/v1/auth/authenticate": true}

// authenticate finds out who sends the request, when auth is on: HTTP
// Basic, a token ("Authorization: Bearer T", or the bare token as etcd's
// gateway sends it), or else the common name of a verified TLS client
// certificate, and keeps the user in q. Credentials that do not hold are a
// 401; so is a request without any. On openPaths credentials are not read
// at all: a probe or a login never fails because of a header meant for
// other calls. What the user may do is decided later, by allow. It
// reports whether the request goes on (false: it answered).
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, q *request) bool {
	if s.auth == nil || !s.auth.Store().Enabled() || openPaths[r.URL.Path] || s.gatewayPath(r) {
		return true
	}
	user, err := s.identify(r)
	if err == nil && user == "" {
		err = fmt.Errorf("auth is enabled: send a user and password (HTTP Basic), a token from /v1/auth/authenticate, or a client certificate: %w",
			domain.ErrUnauthenticated)
	}
	if err != nil {
		s.writeError(w, r, err)
		return false
	}
	q.user = user
	return true
}

func (s *Server) identify(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	scheme, rest, _ := strings.Cut(h, " ")
	switch {
	case strings.EqualFold(scheme, "Basic"):
		name, password, ok := r.BasicAuth()
		if !ok {
			return "", fmt.Errorf("the Basic credentials do not decode: %w", domain.ErrUnauthenticated)
		}
		if err := domain.ValidateAuthName("user", name); err != nil {
			return "", fmt.Errorf("wrong user name or password: %w", domain.ErrUnauthenticated)
		}
		return name, s.auth.Login(r.Context(), name, password, sourceOf(r))
	case strings.EqualFold(scheme, "Bearer"):
		return s.auth.VerifyToken(strings.TrimSpace(rest))
	case h != "":
		return s.auth.VerifyToken(strings.TrimSpace(h))
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		return r.TLS.VerifiedChains[0][0].Subject.CommonName, nil
	}
	return "", nil
}

// sourceOf is the client's address, counted against password guessing.
// Headers such as X-Forwarded-For are not trusted: anyone can send them.
func sourceOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// allow asks the one place that decides (auth.Store.Check) whether the
// request's user may do what needs describe, and answers 401 or 403 when
// not. Every handler of the client API calls it once it knows what the
// request touches; with auth off it allows everything.
func (s *Server) allow(w http.ResponseWriter, r *http.Request, needs ...auth.Need) bool {
	if s.auth == nil {
		return true
	}
	if err := s.auth.Store().Check(userOf(r), needs...); err != nil {
		s.writeError(w, r, err)
		return false
	}
	return true
}

// guard is allow for the routes whose needs are known from the route
// alone (and for those that forward to the leader: the check runs on the
// member that received the request, where the user is known).
func (s *Server) guard(need auth.Need, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.allow(w, r, need) {
			next(w, r)
		}
	}
}

// streamContext returns a context for a long-running request (a long
// poll, an observe) that ends, with the denial as its cause, when an auth
// change takes from the user what needs describe. It costs no goroutine:
// the check runs in the auth store's reload.
func (s *Server) streamContext(r *http.Request, needs ...auth.Need) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(r.Context())
	stop := s.onDenied(r, cancel, needs...)
	return ctx, func() { stop(); cancel(nil) }
}

// onDenied calls deny with the auth error when an auth change takes from
// r's user what needs describe, or at once if the user has lost it already
// since the request's check, until stop is called. A watch stream uses it
// instead of a context of its own (streamContext).
func (s *Server) onDenied(r *http.Request, deny func(error), needs ...auth.Need) (stop func()) {
	if s.auth == nil {
		return func() {}
	}
	store, user := s.auth.Store(), userOf(r)
	check := func() {
		if err := store.Check(user, needs...); err != nil {
			deny(err)
		}
	}
	unregister := store.OnChange(check)
	check() // a change between the request's check and the registration
	return unregister
}

// denied returns the auth error that ended ctx, if that is what ended it.
func denied(ctx context.Context) error {
	if err := context.Cause(ctx); errors.Is(err, domain.ErrPermissionDenied) || errors.Is(err, domain.ErrUnauthenticated) {
		return err
	}
	return nil
}

type authStatusJSON struct {
	Header       headerJSON `json:"header"`
	Enabled      bool       `json:"enabled"`
	AuthRevision uint64     `json:"auth_revision"`
}

type authenticateJSON struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

type tokenJSON struct {
	Header headerJSON `json:"header"`
	Token  string     `json:"token"`
	TTL    int64      `json:"ttl"`
}

type userRequestJSON struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

type passwordJSON struct {
	Password string `json:"password"`
}

type roleRequestJSON struct {
	Name string `json:"name"`
}

type usersJSON struct {
	Header headerJSON `json:"header"`
	Users  []string   `json:"users"`
}

type rolesJSON struct {
	Header headerJSON `json:"header"`
	Roles  []string   `json:"roles"`
}

type userJSON struct {
	Header headerJSON `json:"header"`
	Name   string     `json:"name"`
	Roles  []string   `json:"roles"`
}

type permissionJSON struct {
	Key            *string `json:"key,omitempty"`
	KeyBase64      *string `json:"key_base64,omitempty"`
	RangeEnd       *string `json:"range_end,omitempty"`
	RangeEndBase64 *string `json:"range_end_base64,omitempty"`
	Prefix         bool    `json:"prefix,omitempty"`
	FromKey        bool    `json:"from_key,omitempty"`
	Permission     string  `json:"permission"`
}

type roleJSON struct {
	Header      headerJSON       `json:"header"`
	Name        string           `json:"name"`
	Permissions []permissionJSON `json:"permissions"`
}

type headerOnlyJSON struct {
	Header headerJSON `json:"header"`
}

func (s *Server) authRoutes(api chi.Router) {
	root := func(h http.HandlerFunc) http.HandlerFunc { return s.guard(auth.Root(), h) }
	api.Post("/v1/auth/authenticate", s.handleAuthenticate)
	api.Get("/v1/auth/status", s.guard(auth.Authenticated(), s.authRead(authStatus)))
	api.Post("/v1/auth/enable", root(s.authChange(func(ctx context.Context, _ *http.Request) (int64, error) { return s.auth.Enable(ctx) })))
	api.Post("/v1/auth/disable", root(s.authChange(func(ctx context.Context, _ *http.Request) (int64, error) { return s.auth.Disable(ctx) })))

	api.Post("/v1/auth/users", root(s.handleAddUser))
	api.Get("/v1/auth/users", root(s.authRead(listUsers)))
	api.Get("/v1/auth/users/{name}", root(s.authRead(getUser)))
	api.Delete("/v1/auth/users/{name}", root(s.authChange(func(ctx context.Context, r *http.Request) (int64, error) {
		return s.auth.DeleteUser(ctx, pathName(r, "name"))
	})))
	api.Post("/v1/auth/users/{name}/password", root(s.handleChangePassword))
	api.Put("/v1/auth/users/{name}/roles/{role}", root(s.authChange(func(ctx context.Context, r *http.Request) (int64, error) {
		return s.auth.GrantRole(ctx, pathName(r, "name"), pathName(r, "role"))
	})))
	api.Delete("/v1/auth/users/{name}/roles/{role}", root(s.authChange(func(ctx context.Context, r *http.Request) (int64, error) {
		return s.auth.RevokeRole(ctx, pathName(r, "name"), pathName(r, "role"))
	})))

	api.Post("/v1/auth/roles", root(s.handleAddRole))
	api.Get("/v1/auth/roles", root(s.authRead(listRoles)))
	api.Get("/v1/auth/roles/{name}", root(s.authRead(getRole)))
	api.Delete("/v1/auth/roles/{name}", root(s.authChange(func(ctx context.Context, r *http.Request) (int64, error) {
		return s.auth.DeleteRole(ctx, pathName(r, "name"))
	})))
	api.Post("/v1/auth/roles/{name}/permissions", root(s.handleGrantPermission))
	api.Delete("/v1/auth/roles/{name}/permissions", root(s.handleRevokePermission))
}

// pathName returns a user or role name from the path, percent-decoded
// (an undecodable one stays as it is, and validation refuses it).
func pathName(r *http.Request, param string) string {
	v := chi.URLParam(r, param)
	if d, err := url.PathUnescape(v); err == nil {
		return d
	}
	return v
}

// authChange answers an auth change that takes no body and no query.
func (s *Server) authChange(change func(context.Context, *http.Request) (int64, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if q := newQuery(r); q.err != nil {
			s.writeError(w, r, q.err)
			return
		}
		rev, err := change(r.Context(), r)
		s.writeChange(w, r, rev, err)
	}
}

func (s *Server) writeChange(w http.ResponseWriter, r *http.Request, rev int64, err error) {
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, rev, headerOnlyJSON{Header: s.header(rev)})
}

func (s *Server) handleAuthenticate(w http.ResponseWriter, r *http.Request) {
	var in authenticateJSON
	if err := s.decodeNoQuery(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := domain.ValidateAuthName("user", in.Name); err != nil {
		s.writeError(w, r, err)
		return
	}
	token, ttl, err := s.auth.Authenticate(r.Context(), in.Name, in.Password, sourceOf(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rev := s.cluster.Revision()
	s.writeJSON(w, http.StatusOK, rev, tokenJSON{Header: s.header(rev), Token: token, TTL: ttl})
}

// decodeNoQuery decodes a JSON body for a call that takes no query.
func (s *Server) decodeNoQuery(r *http.Request, v any) error {
	if q := newQuery(r); q.err != nil {
		return q.err
	}
	return decodeJSON(r, v)
}

func authStatus(_ *http.Request, st *domain.AuthState, h headerJSON) (any, error) {
	return authStatusJSON{Header: h, Enabled: st.Enabled, AuthRevision: st.Revision}, nil
}

func (s *Server) handleAddUser(w http.ResponseWriter, r *http.Request) {
	var in userRequestJSON
	if err := s.decodeNoQuery(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	rev, err := s.auth.AddUser(r.Context(), in.Name, in.Password)
	s.writeChange(w, r, rev, err)
}

func (s *Server) handleChangePassword(w http.ResponseWriter, r *http.Request) {
	var in passwordJSON
	if err := s.decodeNoQuery(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	rev, err := s.auth.ChangePassword(r.Context(), pathName(r, "name"), in.Password)
	s.writeChange(w, r, rev, err)
}

func (s *Server) handleAddRole(w http.ResponseWriter, r *http.Request) {
	var in roleRequestJSON
	if err := s.decodeNoQuery(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	rev, err := s.auth.AddRole(r.Context(), in.Name)
	s.writeChange(w, r, rev, err)
}

// authRead answers a call that reads the auth state and takes no query:
// render turns the state (linearizable: auth.Service.State) into the
// answer, or an error.
func (s *Server) authRead(render func(r *http.Request, st *domain.AuthState, h headerJSON) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if q := newQuery(r); q.err != nil {
			s.writeError(w, r, q.err)
			return
		}
		st, err := s.auth.State(r.Context())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		rev := s.cluster.Revision()
		out, err := render(r, &st, s.header(rev))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeJSON(w, http.StatusOK, rev, out)
	}
}

func listUsers(_ *http.Request, st *domain.AuthState, h headerJSON) (any, error) {
	out := usersJSON{Header: h, Users: []string{}}
	for _, u := range st.Users {
		out.Users = append(out.Users, u.Name)
	}
	return out, nil
}

func getUser(r *http.Request, st *domain.AuthState, h headerJSON) (any, error) {
	name := pathName(r, "name")
	u := st.User(name)
	if u == nil {
		return nil, fmt.Errorf("user %q: %w", name, domain.ErrNotFound)
	}
	return userJSON{Header: h, Name: u.Name, Roles: append([]string{}, u.Roles...)}, nil
}

func listRoles(_ *http.Request, st *domain.AuthState, h headerJSON) (any, error) {
	out := rolesJSON{Header: h, Roles: []string{}}
	for _, ro := range st.Roles {
		out.Roles = append(out.Roles, ro.Name)
	}
	return out, nil
}

func getRole(r *http.Request, st *domain.AuthState, h headerJSON) (any, error) {
	name := pathName(r, "name")
	ro := st.Role(name)
	if ro == nil {
		return nil, fmt.Errorf("role %q: %w", name, domain.ErrNotFound)
	}
	var c codec
	out := roleJSON{Header: h, Name: ro.Name, Permissions: []permissionJSON{}}
	for _, p := range ro.Permissions {
		pj := permissionJSON{Permission: p.Type.String()}
		pj.Key, pj.KeyBase64 = c.text(p.Key)
		if len(p.RangeEnd) > 0 {
			pj.RangeEnd, pj.RangeEndBase64 = c.text(p.RangeEnd)
		}
		out.Permissions = append(out.Permissions, pj)
	}
	return out, nil
}

func (s *Server) handleGrantPermission(w http.ResponseWriter, r *http.Request) {
	var in permissionJSON
	if err := s.decodeNoQuery(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	var c codec
	key, end, err := c.keyRange("", in.Key, in.KeyBase64, in.RangeEnd, in.RangeEndBase64, in.Prefix, in.FromKey)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	typ, err := domain.ParsePermType(in.Permission)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rev, err := s.auth.GrantPermission(r.Context(), pathName(r, "name"), domain.Permission{Type: typ, Key: key, RangeEnd: end})
	s.writeChange(w, r, rev, err)
}

func (s *Server) handleRevokePermission(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r, "key", "range_end", "prefix", "from_key")
	if !q.has("key") {
		q.fail("key is missing: give the permission's key (and range_end, prefix=true or from_key=true)")
	}
	key := []byte(q.str("key"))
	end := q.rangeEnd(key)
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	rev, err := s.auth.RevokePermission(r.Context(), pathName(r, "name"), key, end)
	s.writeChange(w, r, rev, err)
}
