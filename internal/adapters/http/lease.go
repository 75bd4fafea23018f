package http

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/auth"
	"github.com/cairnkv/cairn/internal/domain/lease"
)

// LeaseService is what the lease handlers need; *lease.Service implements
// it.
type LeaseService interface {
	Grant(ctx context.Context, ttl, id int64) (lease.Granted, error)
	Revoke(ctx context.Context, id int64) (int64, error)
	KeepAlive(ctx context.Context, id int64) (int64, error)
	TimeToLive(ctx context.Context, id int64, keys bool) (lease.Status, error)
	List(ctx context.Context, serializable bool) ([]domain.Lease, int64, error)
	Keys(id int64) ([][]byte, error)
	Stats() lease.Stats
}

type grantRequestJSON struct {
	TTL int64 `json:"ttl"`
	ID  int64 `json:"id"`
}

type grantResponseJSON struct {
	Header       headerJSON `json:"header"`
	ID           int64      `json:"id"`
	TTL          int64      `json:"ttl"`
	RequestedTTL int64      `json:"requested_ttl,omitempty"`
	Message      string     `json:"message,omitempty"`
}

type leaseJSON struct {
	ID  int64 `json:"id"`
	TTL int64 `json:"ttl"`
}

type leasesJSON struct {
	Header headerJSON  `json:"header"`
	Leases []leaseJSON `json:"leases"`
}

type leaseKeyJSON struct {
	Key       *string `json:"key,omitempty"`
	KeyBase64 *string `json:"key_base64,omitempty"`
}

type ttlJSON struct {
	Header     headerJSON     `json:"header"`
	ID         int64          `json:"id"`
	TTL        int64          `json:"ttl"`
	GrantedTTL int64          `json:"granted_ttl"`
	Keys       []leaseKeyJSON `json:"keys,omitempty"`
}

type keepAliveJSON struct {
	Header headerJSON `json:"header"`
	ID     int64      `json:"id"`
	TTL    int64      `json:"ttl"`
}

// leaseID parses the {id} of a lease path.
func leaseID(r *http.Request) (int64, error) {
	s := chi.URLParam(r, "id")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 || id > domain.MaxLeaseID {
		return 0, domain.InvalidArgument("lease id must be an integer between 1 and %d, not %q", int64(domain.MaxLeaseID), s)
	}
	return id, nil
}

// onLeader serves a request on the leader: a member that does not lead
// sends it to the leader's peer port (the members' API, PeerHandler) and
// returns the leader's answer unchanged. The lessor, which keeps the
// deadlines, lives on the leader.
//
// Forwarding is transparent: what any member can tell alone (a query
// string that does not parse, a body over the limit, chunked or not) is
// answered by the member that received the request, leader or not, before
// anything is forwarded, so that every member answers it alike. The body
// is read whole here (the lease calls' bodies are small) and forwarded
// with its length.
func (s *Server) onLeader(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, err := parseQuery(r); err != nil {
			s.writeError(w, r, err)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			s.writeError(w, r, bodyError(err))
			return
		}
		r.Body, r.ContentLength, r.TransferEncoding = http.NoBody, 0, nil
		if len(body) > 0 {
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		}
		if s.cluster.IsLeader() {
			next(w, r)
			return
		}
		target, err := s.cluster.LeaderPeerURL(r.Context())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		u, err := url.Parse(target)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		proxy := &httputil.ReverseProxy{
			Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
			Transport: s.cluster.PeerTransport(),
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				s.writeError(w, r, domain.ErrNoLeader)
			},
		}
		proxy.ServeHTTP(w, r)
	}
}

// allowLeaseKeys checks, with auth on, the user's permission on the keys
// attached to the lease of the path, as this member knows them: write for
// a revoke (it deletes them), read for a time-to-live that lists them
// (keys=true). It runs on the member that received the request, before a
// follower forwards it.
func (s *Server) allowLeaseKeys(perm domain.PermType, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.auth == nil || !s.auth.Store().Enabled() {
			next(w, r)
			return
		}
		needs := []auth.Need{auth.Authenticated()}
		id, err := leaseID(r)
		q := newQuery(r, "keys")
		// A malformed request is answered by next, like any other.
		if err == nil && q.err == nil && (perm == domain.PermWrite || q.bool("keys")) {
			keys, kerr := s.leases.Keys(id)
			if kerr != nil {
				s.writeError(w, r, kerr)
				return
			}
			for _, k := range keys {
				if perm == domain.PermWrite {
					needs = append(needs, auth.Write(k, nil))
				} else {
					needs = append(needs, auth.Read(k, nil))
				}
			}
		}
		if s.allow(w, r, needs...) {
			next(w, r)
		}
	}
}

// leaderOnly is onLeader's other end, on the peer port: a request
// forwarded to a member that no longer leads is not sent on again (two
// members could send it back and forth), it answers no_leader, which the
// forwarding member returns to its client.
func (s *Server) leaderOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.cluster.IsLeader() {
			s.writeError(w, r, domain.ErrNoLeader)
			return
		}
		next(w, r)
	}
}

func (s *Server) handleGrant(w http.ResponseWriter, r *http.Request) {
	if q := newQuery(r); q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	var in grantRequestJSON
	if err := decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	g, err := s.leases.Grant(r.Context(), in.TTL, in.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := grantResponseJSON{Header: s.header(g.Revision), ID: g.Lease.ID, TTL: g.Lease.TTL}
	if g.Requested != 0 {
		out.RequestedTTL = g.Requested
		out.Message = "ttl raised to the minimum of " + strconv.FormatInt(g.Lease.TTL, 10) + " seconds"
	}
	s.writeJSON(w, http.StatusCreated, g.Revision, out)
}

func (s *Server) handleLeases(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r, "serializable")
	serializable := q.bool("serializable")
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	leases, rev, err := s.leases.List(r.Context(), serializable)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := leasesJSON{Header: s.header(rev), Leases: make([]leaseJSON, len(leases))}
	for i, l := range leases {
		out.Leases[i] = leaseJSON{ID: l.ID, TTL: l.TTL}
	}
	s.writeJSON(w, http.StatusOK, rev, out)
}

func (s *Server) handleTimeToLive(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r, "keys", "encoding")
	withKeys := q.bool("keys")
	c := q.codec()
	id, err := leaseID(r)
	if err == nil {
		err = q.err
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.leases.TimeToLive(r.Context(), id, withKeys)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := ttlJSON{Header: s.header(st.Revision), ID: st.ID, TTL: st.TTL, GrantedTTL: st.GrantedTTL}
	if withKeys {
		out.Keys = make([]leaseKeyJSON, len(st.Keys))
		for i, k := range st.Keys {
			out.Keys[i].Key, out.Keys[i].KeyBase64 = c.text(k)
		}
	}
	s.writeJSON(w, http.StatusOK, st.Revision, out)
}

func (s *Server) handleKeepAlive(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r)
	id, err := leaseID(r)
	if err == nil {
		err = q.err
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ttl, err := s.leases.KeepAlive(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rev := s.cluster.Revision()
	s.writeJSON(w, http.StatusOK, rev, keepAliveJSON{Header: s.header(rev), ID: id, TTL: ttl})
}

func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r)
	id, err := leaseID(r)
	if err == nil {
		err = q.err
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rev, err := s.leases.Revoke(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, rev, compactResponseJSON{Header: s.header(rev)})
}
