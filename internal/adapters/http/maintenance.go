package http

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/cairnkv/cairn/internal/ports"
	"github.com/cairnkv/cairn/internal/snapfile"
)

// Snapshotter opens consistent snapshots of this member's store; the bolt
// backend implements it.
type Snapshotter interface {
	// Snapshot opens a read-only copy of the committed store at one
	// revision. The caller must release it.
	Snapshot() (ports.Snapshot, error)
}

// handleSnapshot streams this member's store as a snapshot file (package
// snapfile): the store of one bbolt read transaction, which writes do not
// wait for, framed by a header and a SHA-256 trailer. It is served from
// the member that receives it, leader or follower, without forwarding and
// without a read barrier: it holds what this member has applied, at the
// revision in X-Cairn-Revision.
func (s *Server) handleSnapshot(w http.ResponseWriter, r *http.Request) {
	if s.snapshotter == nil {
		s.writeError(w, r, errNotFound)
		return
	}
	if q := newQuery(r); q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	snap, err := s.snapshotter.Snapshot()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer snap.Release()
	rev, size := snap.Rev(), snap.Size()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(snapfile.FileSize(size), 10))
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="cairn-%d.snap"`, rev))
	h.Set("X-Cairn-Revision", strconv.FormatInt(rev, 10))
	w.WriteHeader(http.StatusOK)
	start := time.Now()
	sw, err := snapfile.NewWriter(w, rev, size)
	if err == nil {
		if _, err = snap.WriteTo(sw); err == nil {
			err = sw.Close()
		}
	}
	if err != nil {
		// The answer is cut short of its Content-Length and has no valid
		// trailer: the client cannot take it for a whole snapshot.
		s.logFor(r, zerolog.WarnLevel).Err(err).Int64("revision", rev).Msg("snapshot stream ended early")
		return
	}
	s.logFor(r, zerolog.InfoLevel).Int64("revision", rev).Int64("bytes", snapfile.FileSize(size)).Dur("took", time.Since(start)).Msg("snapshot sent")
}
