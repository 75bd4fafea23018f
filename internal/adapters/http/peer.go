package http

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/go-chi/chi/v5"
)

// headerMember names the member that sent a request to the members' API.
// The Raft node serves PeerHandler behind its member check (raft.Node.
// ServePeerHTTP), so here the header is the name of a member of the
// cluster, checked against the address the request came from.
const headerMember = "X-Cairn-Member"

// PeerHandler returns the members' API: the calls members send each other,
// which the Raft node serves on the peer port to the members of the
// cluster only. None of them is on the client port (Handler).
//
//	POST /v1/internal/propose     the leader's side of write forwarding
//	GET  /v1/internal/read_index  the leader's side of linearizable reads on followers
//	POST /v1/cluster/members      an addition of a member, forwarded to the leader
//	DELETE /v1/cluster/members/ID a removal, forwarded to the leader
//	POST /v1/cluster/members/ID/promote  a promotion, forwarded to the leader
//	GET  /v1/status               this member's status (the leader asks a learner how far it is)
//	GET  /v1/maintenance/hash     the leader's hash, for a follower's hash check
//	/v1/leases...                 the lease calls a follower sends to the leader (onLeader)
func (s *Server) PeerHandler() http.Handler { return s.peer }

func (s *Server) peerRoutes() http.Handler {
	r := chi.NewRouter()
	r.NotFound(func(w http.ResponseWriter, r *http.Request) { s.writeError(w, r, errNotFound) })
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) { s.writeError(w, r, errMethodNotAllowed) })

	// A forwarded command is the client's request re-encoded: a little
	// larger than its body, so the forwarding endpoint allows for that.
	r.With(s.limitBodyTo(2*s.cfg.MaxRequestBytes+64<<10)).Post("/v1/internal/propose", s.handlePropose)
	api := r.With(s.limitBodyTo(s.cfg.MaxRequestBytes))
	api.Get("/v1/internal/read_index", s.handleReadIndex)
	api.Post("/v1/cluster/members", s.handleAddMember)
	api.Delete("/v1/cluster/members/{id}", s.handleRemoveMember)
	api.Post("/v1/cluster/members/{id}/promote", s.handlePromoteMember)
	api.Get("/v1/status", s.handleStatus)
	api.Get("/v1/maintenance/hash", s.handleHash)

	api.Post("/v1/cluster/leader", s.leaderOnly(s.handleMoveLeader))
	api.Post("/v1/leases", s.leaderOnly(s.handleGrant))
	api.Get("/v1/leases/{id}", s.leaderOnly(s.handleTimeToLive))
	api.Post("/v1/leases/{id}/keepalive", s.leaderOnly(s.handleKeepAlive))
	api.Delete("/v1/leases/{id}", s.leaderOnly(s.handleRevoke))
	return &middleware{s: s, next: r, log: s.cfg.Logger.With().Str("listener", "peer").Logger()}
}

// handlePropose is the leader side of write forwarding.
func (s *Server) handlePropose(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.writeError(w, r, bodyError(err))
		return
	}
	res, err := s.cluster.ProposeEncoded(r.Context(), r.Header.Get(headerMember), body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(res)
}

// handleReadIndex is the leader side of linearizable reads on followers.
func (s *Server) handleReadIndex(w http.ResponseWriter, r *http.Request) {
	idx, err := s.cluster.LeaderReadIndex(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(readIndexJSON{Index: idx})
}
