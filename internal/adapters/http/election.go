package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/election"
)

// ElectionService is what the election handlers need; *election.Service
// implements it.
type ElectionService interface {
	Campaign(ctx context.Context, name, value []byte, leaseID, ttl int64, wait time.Duration) (election.Leader, error)
	Proclaim(ctx context.Context, l election.Leader, value []byte) error
	Resign(ctx context.Context, l election.Leader) (int64, error)
	Leader(ctx context.Context, name []byte) (domain.KeyValue, int64, error)
	Observe(ctx context.Context, name []byte) (*election.Observer, error)
}

type leaderJSON struct {
	Name       *string `json:"name,omitempty"`
	NameBase64 *string `json:"name_base64,omitempty"`
	Key        *string `json:"key,omitempty"`
	KeyBase64  *string `json:"key_base64,omitempty"`
	Rev        int64   `json:"rev"`
	Lease      int64   `json:"lease"`
}

type campaignRequestJSON struct {
	Value       *string `json:"value"`
	ValueBase64 *string `json:"value_base64"`
	Lease       int64   `json:"lease"`
	TTL         int64   `json:"ttl"`
}

type leaderRequestJSON struct {
	Leader      *leaderJSON `json:"leader"`
	Value       *string     `json:"value"`
	ValueBase64 *string     `json:"value_base64"`
}

type campaignResponseJSON struct {
	Header headerJSON `json:"header"`
	Leader leaderJSON `json:"leader"`
}

type electionKVJSON struct {
	Header headerJSON `json:"header"`
	Kv     kvJSON     `json:"kv"`
}

func (c codec) leader(l election.Leader) leaderJSON {
	out := leaderJSON{Rev: l.Rev, Lease: l.Lease}
	out.Name, out.NameBase64 = c.text(l.Name)
	out.Key, out.KeyBase64 = c.text(l.Key)
	return out
}

// leaderFrom decodes the leader object a client got from campaign.
func (c codec) leaderFrom(in *leaderJSON, name []byte) (election.Leader, error) {
	if in == nil {
		return election.Leader{}, domain.InvalidArgument("leader is required: the leader object campaign answered")
	}
	key, err := c.bytesField("key", in.Key, in.KeyBase64)
	if err != nil {
		return election.Leader{}, err
	}
	n, err := c.bytesField("name", in.Name, in.NameBase64)
	if err != nil {
		return election.Leader{}, err
	}
	if n != nil && !bytes.Equal(n, name) {
		return election.Leader{}, domain.InvalidArgument("leader.name %q is not the election %q of the path", n, name)
	}
	if in.Lease <= 0 || in.Lease > domain.MaxLeaseID {
		return election.Leader{}, domain.InvalidArgument("leader.lease must be the lease campaign answered, between 1 and %d, not %d",
			int64(domain.MaxLeaseID), in.Lease)
	}
	return election.Leader{Name: name, Key: key, Rev: in.Rev, Lease: in.Lease}, nil
}

func (s *Server) handleElectionPost(w http.ResponseWriter, r *http.Request) {
	name, action, err := splitAction(r, "campaign", "proclaim", "resign")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !s.allow(w, r, queueNeed(domain.PermReadWrite, name)) {
		return
	}
	switch action {
	case "campaign":
		s.handleCampaign(w, r, name)
	case "proclaim", "resign":
		s.handleLeaderAction(w, r, name, action)
	default:
		s.writeError(w, r, errNotFound)
	}
}

func (s *Server) handleCampaign(w http.ResponseWriter, r *http.Request, name []byte) {
	q := newQuery(r, "timeout", "encoding")
	wait := q.waitTimeout()
	c := q.codec()
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	var in campaignRequestJSON
	if err := decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	value, err := c.bytesField("value", in.Value, in.ValueBase64)
	if err == nil && (in.Lease == 0) == (in.TTL == 0) {
		err = domain.InvalidArgument("give either lease or ttl")
	}
	if err == nil && wait == 0 {
		err = domain.InvalidArgument("a campaign waits for leadership: give a timeout above 0, or none")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	l, err := s.elections.Campaign(r.Context(), name, value, in.Lease, in.TTL, wait)
	if err != nil {
		s.writeError(w, r, lockErr(r, err))
		return
	}
	s.metrics.electionsWon.Inc()
	rev := max(l.Rev, s.cluster.Revision())
	s.writeJSON(w, http.StatusOK, rev, campaignResponseJSON{Header: s.header(rev), Leader: c.leader(l)})
}

func (s *Server) handleLeaderAction(w http.ResponseWriter, r *http.Request, name []byte, action string) {
	q := newQuery(r, "encoding")
	c := q.codec()
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	var in leaderRequestJSON
	if err := decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	l, err := c.leaderFrom(in.Leader, name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var rev int64
	if action == "proclaim" {
		value, verr := c.bytesField("value", in.Value, in.ValueBase64)
		if verr != nil {
			s.writeError(w, r, verr)
			return
		}
		err = s.elections.Proclaim(r.Context(), l, value)
		rev = s.cluster.Revision()
	} else {
		if in.Value != nil || in.ValueBase64 != nil {
			s.writeError(w, r, domain.InvalidArgument("resign takes no value"))
			return
		}
		rev, err = s.elections.Resign(r.Context(), l)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, rev, compactResponseJSON{Header: s.header(rev)})
}

func (s *Server) handleElectionGet(w http.ResponseWriter, r *http.Request) {
	name, action, err := splitAction(r, "observe")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !s.allow(w, r, queueNeed(domain.PermRead, name)) {
		return
	}
	if action == "observe" {
		s.handleObserve(w, r, name)
		return
	}
	q := newQuery(r, "encoding")
	c := q.codec()
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	kv, rev, err := s.elections.Leader(r.Context(), name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, rev, electionKVJSON{Header: s.header(rev), Kv: c.kv(&kv, true)})
}

// handleObserve streams the election's leader as Server-Sent Events: the
// current leader first (when there is one), then one `leader` message per
// change of leader or value.
func (s *Server) handleObserve(w http.ResponseWriter, r *http.Request, name []byte) {
	q := newQuery(r, "encoding")
	c := q.codec()
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	o, err := s.elections.Observe(r.Context(), name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer o.Close()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.Header().Set("X-Cairn-Revision", strconv.FormatInt(s.cluster.Revision(), 10))
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, ": observing election %q\n\n", name)
	if rc.Flush() != nil {
		return
	}
	sctx, stop := s.streamContext(r, queueNeed(domain.PermRead, name))
	defer stop()
	for {
		ctx, cancel := context.WithTimeout(sctx, s.cfg.WatchHeartbeat)
		kv, rev, err := o.Next(ctx)
		cancel()
		switch {
		case err == nil:
			data, _ := json.Marshal(electionKVJSON{Header: s.header(rev), Kv: c.kv(&kv, true)})
			fmt.Fprintf(w, "id: %d\nevent: leader\ndata: %s\n\n", rev, data)
		case denied(sctx) != nil:
			s.writeSSEError(w, denied(sctx))
			_ = rc.Flush()
			return
		case r.Context().Err() != nil:
			return
		case errors.Is(err, context.DeadlineExceeded):
			fmt.Fprint(w, ": heartbeat\n\n")
		default:
			s.writeSSEError(w, err)
			_ = rc.Flush()
			return
		}
		if rc.Flush() != nil {
			return
		}
	}
}
