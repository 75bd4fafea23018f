package http

import (
	"context"
	"net/http"

	"github.com/cairnkv/cairn/internal/ports"
)

// Defragmenter rewrites this member's store into a compact file while it
// keeps serving; the bolt backend implements it.
type Defragmenter interface {
	// Defragment copies the store into a new file and switches to it.
	// It returns domain.ErrConflict while another defragmentation of the
	// store runs, and domain.ErrUnavailable when the store closes or is
	// replaced meanwhile; a cancelled ctx before the switch leaves the
	// store as it was.
	Defragment(ctx context.Context) (ports.DefragStats, error)
}

type defragJSON struct {
	Header       headerJSON `json:"header"`
	DBSizeBefore int64      `json:"db_size_before"`
	DBSizeAfter  int64      `json:"db_size_after"`
	TookMS       int64      `json:"took_ms"`
	PauseMS      float64    `json:"pause_ms"`
}

// handleDefragment defragments this member's store, the member that
// receives the request, leader or follower, without forwarding (as
// etcd's defragment acts on one endpoint). Reads and writes go on
// meanwhile; applies wait only for the switch to the new file (pause_ms).
// A second request while one runs gets 409.
func (s *Server) handleDefragment(w http.ResponseWriter, r *http.Request) {
	if s.defrag == nil {
		s.writeError(w, r, errNotFound)
		return
	}
	if q := newQuery(r); q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	st, err := s.defrag.Defragment(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rev := s.cluster.Revision()
	s.writeJSON(w, http.StatusOK, rev, defragJSON{
		Header:       s.header(rev),
		DBSizeBefore: st.SizeBefore,
		DBSizeAfter:  st.SizeAfter,
		TookMS:       st.Took.Milliseconds(),
		PauseMS:      float64(st.Pause.Microseconds()) / 1000,
	})
}
