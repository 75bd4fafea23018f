package http

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/rs/zerolog"

	"github.com/cairnkv/cairn/internal/domain"
)

// errorBody is the API's error object.
type errorBody struct {
	Code            string `json:"code"`
	Message         string `json:"message"`
	CompactRevision int64  `json:"compact_revision,omitempty"`
}

type errorJSON struct {
	Header *headerJSON `json:"header,omitempty"`
	Error  errorBody   `json:"error"`
}

// errorTable maps domain errors to statuses and codes. It is the only such
// mapping; the first entry that matches (errors.Is) wins.
var errorTable = []struct {
	err    error
	status int
	code   string
}{
	{domain.ErrInvalidArgument, http.StatusBadRequest, "invalid_argument"},
	{domain.ErrUnauthenticated, http.StatusUnauthorized, "unauthenticated"},
	{domain.ErrPermissionDenied, http.StatusForbidden, "permission_denied"},
	{domain.ErrTooManyRequests, http.StatusTooManyRequests, "too_many_requests"},
	{domain.ErrFutureRevision, http.StatusBadRequest, "invalid_argument"},
	{domain.ErrKeyNotFound, http.StatusNotFound, "key_not_found"},
	{domain.ErrLeaseNotFound, http.StatusNotFound, "lease_not_found"},
	{domain.ErrLeaseExists, http.StatusConflict, "conflict"},
	{domain.ErrConflict, http.StatusConflict, "conflict"},
	{errNotFound, http.StatusNotFound, "not_found"},
	{domain.ErrNotFound, http.StatusNotFound, "not_found"},
	{domain.ErrLocked, http.StatusLocked, "locked"},
	{domain.ErrPreconditionFailed, http.StatusPreconditionFailed, "precondition_failed"},
	{errMethodNotAllowed, http.StatusMethodNotAllowed, "method_not_allowed"},
	{domain.ErrCompacted, http.StatusGone, "compacted"},
	{domain.ErrTooLarge, http.StatusRequestEntityTooLarge, "request_too_large"},
	{domain.ErrNoLeader, http.StatusServiceUnavailable, "no_leader"},
	// Only the forwarding endpoints answer not_leader: client requests are
	// forwarded to the leader instead.
	{domain.ErrNotLeader, http.StatusServiceUnavailable, "not_leader"},
	{domain.ErrNoSpace, http.StatusInsufficientStorage, "space_exceeded"},
	{domain.ErrCorrupt, http.StatusServiceUnavailable, "corrupt"},
	{domain.ErrUnavailable, http.StatusServiceUnavailable, "unavailable"},
	{domain.ErrIndeterminate, http.StatusGatewayTimeout, "timeout"},
	{context.DeadlineExceeded, http.StatusGatewayTimeout, "timeout"},
	{context.Canceled, http.StatusServiceUnavailable, "unavailable"},
}

var (
	errNotFound         = errors.New("not found")
	errMethodNotAllowed = errors.New("method not allowed")
)

// retryAfter is the Retry-After of a 503, in seconds.
const retryAfter = "1"

// statusOf returns the status and code for err.
func statusOf(err error) (int, string) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge, "request_too_large"
	}
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			return e.status, e.code
		}
	}
	return http.StatusInternalServerError, "internal"
}

// writeError is the one place that answers with an error. It logs server
// errors in the request's log (logFor) and never shows their details to the
// client.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code := statusOf(err)
	body := errorJSON{Error: errorBody{Code: code, Message: err.Error()}}
	var ce *domain.CompactedError
	if errors.As(err, &ce) {
		body.Error.CompactRevision = ce.CompactRevision
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		body.Error.Message = "request body is larger than the limit of " + strconv.FormatInt(mbe.Limit, 10) + " bytes"
	}
	switch {
	case status == http.StatusInternalServerError:
		s.logFor(r, zerolog.ErrorLevel).Err(err).Str("code", code).Msg("request failed")
		body.Error.Message = "internal error; see the member's log"
	case status == http.StatusGatewayTimeout:
		s.logFor(r, zerolog.WarnLevel).Err(err).Str("code", code).Msg("request timed out")
	case status >= 500:
		// 503s are expected during elections and shutdown (and /readyz
		// answers them to every probe): not worth an error line each.
		s.logFor(r, zerolog.DebugLevel).Err(err).Str("code", code).Msg("request not served")
	}
	var ra *domain.RetryAfterError
	switch {
	case errors.As(err, &ra):
		w.Header().Set("Retry-After", strconv.FormatInt(ra.After, 10))
	case status == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", retryAfter)
	case status == http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Basic realm="cairn", charset="UTF-8"`)
	}
	s.metrics.errors.WithLabelValues(code).Inc()
	rev := s.cluster.Revision()
	h := s.header(rev)
	body.Header = &h
	s.writeJSON(w, status, rev, body)
}
