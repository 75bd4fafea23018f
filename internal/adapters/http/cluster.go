package http

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/cairnkv/cairn/internal/domain"
)

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	if q := newQuery(r); q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	st := s.cluster.Status()
	s.writeJSON(w, http.StatusOK, st.Revision, statusJSON{
		Header:   s.header(st.Revision),
		MemberID: st.MemberID, Name: st.Name, Leader: st.Leader, LeaderName: st.LeaderName,
		RaftTerm: st.RaftTerm, RaftIndex: st.RaftIndex, CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex,
		Revision: st.Revision, CompactRevision: st.CompactRevision,
		DBSize: st.DBSize, DBSizeInUse: st.DBSizeInUse, Keys: st.Keys,
		IsLearner: st.IsLearner, Version: st.Version, Alarms: alarmsOut(st.Alarms),
	})
}

func memberOut(m domain.ClusterMember) memberJSON {
	urls := m.ClientURLs
	if urls == nil {
		urls = []string{}
	}
	return memberJSON{ID: m.ID, Name: m.Name, PeerAddr: m.PeerURL, ClientURLs: urls, IsLearner: m.IsLearner, IsLeader: m.IsLeader}
}

func (s *Server) handleMembers(w http.ResponseWriter, r *http.Request) {
	if q := newQuery(r); q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	s.writeMembers(w, r)
}

func (s *Server) handleAddMember(w http.ResponseWriter, r *http.Request) {
	if q := newQuery(r); q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	var in addMemberJSON
	if err := decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	switch {
	case in.Name == "":
		s.writeError(w, r, domain.InvalidArgument("name is required"))
		return
	case in.PeerAddr == "":
		s.writeError(w, r, domain.InvalidArgument("peer_addr is required"))
		return
	}
	peer := in.PeerAddr
	if !strings.Contains(peer, "://") {
		peer = "http://" + peer
	}
	m, err := s.cluster.AddMember(r.Context(), domain.Member{Name: in.Name, PeerURL: peer, ClientURLs: in.ClientURLs}, in.Learner)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := memberAddedJSON{Member: memberOut(domain.ClusterMember{Member: m, IsLearner: in.Learner})}
	if out.Members, err = s.memberList(); err != nil {
		s.writeError(w, r, err)
		return
	}
	rev := s.cluster.Status().Revision
	out.Header = s.header(rev)
	s.writeJSON(w, http.StatusCreated, rev, out)
}

// handleRemoveMember removes a member, through the leader; the leader
// hands over first when it is the one removed.
func (s *Server) handleRemoveMember(w http.ResponseWriter, r *http.Request) {
	id, ok := s.memberID(w, r)
	if !ok {
		return
	}
	if err := s.cluster.RemoveMember(r.Context(), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeMembers(w, r)
}

// handlePromoteMember makes a learner that has caught up a voter.
func (s *Server) handlePromoteMember(w http.ResponseWriter, r *http.Request) {
	id, ok := s.memberID(w, r)
	if !ok {
		return
	}
	if err := s.cluster.PromoteMember(r.Context(), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeMembers(w, r)
}

// memberID reads the {id} of a member path (and refuses query parameters).
func (s *Server) memberID(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	if q := newQuery(r); q.err != nil {
		s.writeError(w, r, q.err)
		return 0, false
	}
	id, err := strconv.ParseUint(chi.URLParam(r, "id"), 10, 64)
	if err != nil {
		s.writeError(w, r, domain.InvalidArgument("member id %q: not a member ID (a decimal integer, see /v1/cluster/members)", chi.URLParam(r, "id")))
		return 0, false
	}
	return id, true
}

// writeMembers answers with the members as this member sees them.
func (s *Server) writeMembers(w http.ResponseWriter, r *http.Request) {
	ms, err := s.memberList()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rev := s.cluster.Status().Revision
	s.writeJSON(w, http.StatusOK, rev, membersJSON{Header: s.header(rev), Members: ms})
}

func (s *Server) memberList() ([]memberJSON, error) {
	ms, err := s.cluster.Members()
	if err != nil {
		return nil, err
	}
	out := make([]memberJSON, len(ms))
	for i, m := range ms {
		out[i] = memberOut(m)
	}
	return out, nil
}

type moveLeaderJSON struct {
	To *uint64 `json:"to"`
}

type movedLeaderJSON struct {
	Header headerJSON `json:"header"`
	Leader uint64     `json:"leader"`
}

// handleMoveLeader hands leadership to the member named by its ID and
// answers once that member leads. It runs on the leader: a follower
// forwards it (onLeader).
func (s *Server) handleMoveLeader(w http.ResponseWriter, r *http.Request) {
	if q := newQuery(r); q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	var in moveLeaderJSON
	if err := decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if in.To == nil {
		s.writeError(w, r, domain.InvalidArgument("to is required: the id of the member to lead (see /v1/cluster/members)"))
		return
	}
	if err := s.cluster.TransferLeadership(r.Context(), *in.To); err != nil {
		s.writeError(w, r, err)
		return
	}
	rev := s.cluster.Revision()
	s.writeJSON(w, http.StatusOK, rev, movedLeaderJSON{Header: s.header(rev), Leader: *in.To})
}

func (s *Server) handleHash(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r, "revision", "serializable")
	rev := q.int("revision")
	serializable := q.bool("serializable")
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	if !serializable {
		// Wait until this member has applied everything committed, so that
		// a revision the cluster has reached is not a future one here.
		if err := s.cluster.ReadBarrier(r.Context()); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	hash, at, compactRev, err := s.hasher.Hash(rev)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, at, hashJSON{Header: s.header(at), Hash: hash, Revision: at, CompactRevision: compactRev})
}

type healthJSON struct {
	Header headerJSON `json:"header"`
	Health string     `json:"health"`
}

type readyJSON struct {
	Header headerJSON `json:"header"`
	Ready  bool       `json:"ready"`
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	rev := s.cluster.Revision()
	s.writeJSON(w, http.StatusOK, rev, healthJSON{Header: s.header(rev), Health: "ok"})
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if err := s.cluster.Ready(); err != nil {
		s.writeError(w, r, err)
		return
	}
	rev := s.cluster.Revision()
	s.writeJSON(w, http.StatusOK, rev, readyJSON{Header: s.header(rev), Ready: true})
}
