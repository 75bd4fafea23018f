package http

import (
	"context"
	"net/http"
	"strconv"

	"github.com/cairnkv/cairn/internal/domain"
)

// AlarmService lists and clears the cluster's alarms; *alarm.Service
// implements it.
type AlarmService interface {
	List(ctx context.Context, linearizable bool) ([]domain.Alarm, error)
	Clear(ctx context.Context, match domain.Alarm) ([]domain.Alarm, error)
}

type alarmJSON struct {
	MemberID uint64 `json:"member_id"`
	Alarm    string `json:"alarm"`
}

type alarmsJSON struct {
	Header headerJSON  `json:"header"`
	Alarms []alarmJSON `json:"alarms"`
}

func alarmsOut(as []domain.Alarm) []alarmJSON {
	out := make([]alarmJSON, len(as))
	for i, a := range as {
		out[i] = alarmJSON{MemberID: a.MemberID, Alarm: a.Type.String()}
	}
	return out
}

// handleAlarms lists the alarms, after a read barrier unless
// ?serializable.
func (s *Server) handleAlarms(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r, "serializable")
	serializable := q.bool("serializable")
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	as, err := s.alarms.List(r.Context(), !serializable)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rev := s.cluster.Revision()
	s.writeJSON(w, http.StatusOK, rev, alarmsJSON{Header: s.header(rev), Alarms: alarmsOut(as)})
}

// handleDisarm clears the alarms (those of ?member_id and of type ?alarm
// when given) and answers with those left.
func (s *Server) handleDisarm(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r, "member_id", "alarm")
	var match domain.Alarm
	if v := q.str("member_id"); v != "" {
		id, err := strconv.ParseUint(v, 10, 64)
		if err != nil || id == 0 {
			q.fail("member_id %q: not a member ID (see /v1/cluster/members)", v)
		}
		match.MemberID = id
	}
	if v := q.str("alarm"); v != "" {
		t, err := domain.ParseAlarmType(v)
		if err != nil && q.err == nil {
			q.err = err
		}
		match.Type = t
	}
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	left, err := s.alarms.Clear(r.Context(), match)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rev := s.cluster.Revision()
	s.writeJSON(w, http.StatusOK, rev, alarmsJSON{Header: s.header(rev), Alarms: alarmsOut(left)})
}
