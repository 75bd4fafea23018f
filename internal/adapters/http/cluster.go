package http

import (
	"net/http"
	"strings"

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
		IsLearner: st.IsLearner, Version: st.Version,
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
	ms, err := s.cluster.Members()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := membersJSON{Header: s.header(s.cluster.Status().Revision), Members: make([]memberJSON, len(ms))}
	for i, m := range ms {
		out.Members[i] = memberOut(m)
	}
	s.writeJSON(w, http.StatusOK, out.Header.Revision, out)
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
	case in.Learner:
		s.writeError(w, r, domain.InvalidArgument("learners are not supported yet"))
		return
	}
	peer := in.PeerAddr
	if !strings.Contains(peer, "://") {
		peer = "http://" + peer
	}
	m, err := s.cluster.AddMember(r.Context(), domain.Member{Name: in.Name, PeerURL: peer, ClientURLs: in.ClientURLs})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rev := s.cluster.Status().Revision
	s.writeJSON(w, http.StatusCreated, rev, memberAddedJSON{Header: s.header(rev), Member: memberOut(domain.ClusterMember{Member: m})})
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
