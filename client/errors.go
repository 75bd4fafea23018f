package client

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// The errors a Cairn member answers with, matched with errors.Is against
// the *Error a call returns (by its code, never by its message):
//
//	if errors.Is(err, client.ErrKeyNotFound) { ... }
//
// errors.As gives the *Error itself, with the status, the message, the
// compact revision of ErrCompacted and the current key of a failed
// compare-and-swap (ErrPreconditionFailed).
var (
	// ErrKeyNotFound: a single-key read of a key that does not exist, or a
	// put with WithIgnoreValue or WithIgnoreLease on a missing key (404
	// key_not_found).
	ErrKeyNotFound = errors.New("cairn: key not found")
	// ErrLeaseNotFound: the lease does not exist or has expired (404
	// lease_not_found).
	ErrLeaseNotFound = errors.New("cairn: lease not found")
	// ErrNotFound: no such resource, for example an election without a
	// leader, or a path the member does not serve (404 not_found).
	ErrNotFound = errors.New("cairn: not found")
	// ErrCompacted: the revision asked for was compacted away (410
	// compacted); Error.CompactRevision says up to where.
	ErrCompacted = errors.New("cairn: required revision has been compacted")
	// ErrPreconditionFailed: a conditional write (WithIfModRevision) whose
	// condition did not hold, or a proclaim or resign of a leader that no
	// longer leads (412 precondition_failed). Nothing was written;
	// Error.KV is the key as it is now (nil when it does not exist).
	ErrPreconditionFailed = errors.New("cairn: precondition failed")
	// ErrLocked: a lock or a campaign was not won before its timeout (423
	// locked).
	ErrLocked = errors.New("cairn: locked")
	// ErrNoLeader: the cluster had no leader (503 no_leader). The request
	// was not carried out; the client retries it on the other endpoints
	// before returning this.
	ErrNoLeader = errors.New("cairn: no leader")
	// ErrUnavailable: the member could not serve the request (503
	// unavailable). The request was not carried out.
	ErrUnavailable = errors.New("cairn: unavailable")
	// ErrTimeout: the member's deadline passed (504 timeout). For a write
	// the outcome is unknown, so an *Error with this code also matches
	// ErrIndeterminate.
	ErrTimeout = errors.New("cairn: request timed out")
	// ErrIndeterminate: a write may or may not have been applied: the
	// member answered 504 timeout, or the connection broke (or the
	// caller's context ended) after the request was sent. Read the key
	// before retrying, or make the write conditional (WithIfModRevision,
	// Txn).
	ErrIndeterminate = errors.New("cairn: outcome of the request is unknown")
	// ErrInvalidArgument: the member refused a malformed request (400
	// invalid_argument).
	ErrInvalidArgument = errors.New("cairn: invalid argument")
	// ErrRequestTooLarge: the request body is larger than the member's
	// limit (413 request_too_large).
	ErrRequestTooLarge = errors.New("cairn: request too large")
	// ErrConflict: for example a lease granted with an ID in use (409
	// conflict).
	ErrConflict = errors.New("cairn: conflict")
	// ErrInternal: a bug or a storage failure on the member (500
	// internal).
	ErrInternal = errors.New("cairn: internal error")
	// ErrUnauthenticated and ErrPermissionDenied: the request carried no
	// valid credentials, or they do not allow it (401, 403).
	ErrUnauthenticated  = errors.New("cairn: unauthenticated")
	ErrPermissionDenied = errors.New("cairn: permission denied")
	// ErrSpaceExceeded: the member's store is full (507 space_exceeded).
	ErrSpaceExceeded = errors.New("cairn: space exceeded")
	// ErrClosed: the Client was closed.
	ErrClosed = errors.New("cairn: client closed")
)

// codeErrors maps the API's error codes to the sentinels they match.
var codeErrors = map[string][]error{
	"key_not_found":       {ErrKeyNotFound},
	"lease_not_found":     {ErrLeaseNotFound},
	"not_found":           {ErrNotFound},
	"compacted":           {ErrCompacted},
	"precondition_failed": {ErrPreconditionFailed},
	"locked":              {ErrLocked},
	"no_leader":           {ErrNoLeader},
	"not_leader":          {ErrUnavailable},
	"unavailable":         {ErrUnavailable},
	"timeout":             {ErrTimeout, ErrIndeterminate},
	"invalid_argument":    {ErrInvalidArgument},
	"request_too_large":   {ErrRequestTooLarge},
	"conflict":            {ErrConflict},
	"internal":            {ErrInternal},
	"unauthenticated":     {ErrUnauthenticated},
	"permission_denied":   {ErrPermissionDenied},
	"space_exceeded":      {ErrSpaceExceeded},
}

// Error is an error answer of a Cairn member: a non-2xx status with the
// API's error body. It matches the package's sentinel errors through its
// Code (see errors.Is).
type Error struct {
	// StatusCode is the HTTP status, e.g. 404.
	StatusCode int
	// Code is the API's stable error code, e.g. "key_not_found"; empty
	// when the answer had no error body (a proxy's answer, say).
	Code string
	// Message is the member's explanation, for people.
	Message string
	// CompactRevision is set with ErrCompacted: the revision the store is
	// compacted at.
	CompactRevision int64
	// Header is the answer's header, when it had one (the revision is the
	// member's current store revision).
	Header ResponseHeader
	// KV is set with ErrPreconditionFailed on a conditional put or delete:
	// the key as it is now, nil when it does not exist.
	KV *KeyValue
	// RetryAfter is the answer's Retry-After (503s), 0 when absent.
	RetryAfter time.Duration
	// Endpoint is the member that answered.
	Endpoint string
}

// Error returns "cairn: <code>: <message>".
func (e *Error) Error() string {
	code := e.Code
	if code == "" {
		code = "HTTP " + strconv.Itoa(e.StatusCode)
	}
	if e.Message == "" {
		return "cairn: " + code
	}
	return "cairn: " + code + ": " + e.Message
}

// Is reports whether target is one of the sentinel errors of e's code, so
// that errors.Is(err, ErrKeyNotFound) works on any wrapped *Error.
func (e *Error) Is(target error) bool {
	for _, s := range codeErrors[e.Code] {
		if s == target {
			return true
		}
	}
	return false
}

// IndeterminateError reports a write whose outcome is unknown: the request
// was sent, but the connection broke or the caller's context ended before
// the answer came. It matches ErrIndeterminate, and unwraps to the cause
// (a network error, context.DeadlineExceeded, ...).
type IndeterminateError struct {
	// Method and Path are the request's (the path percent-encoded).
	Method, Path string
	// Endpoint is the member the request was sent to.
	Endpoint string
	// Err is what went wrong.
	Err error
}

// Error describes the request and the cause.
func (e *IndeterminateError) Error() string {
	return fmt.Sprintf("cairn: outcome unknown: %s %s on %s: %v", e.Method, e.Path, e.Endpoint, e.Err)
}

// Unwrap returns the cause.
func (e *IndeterminateError) Unwrap() error { return e.Err }

// Is matches ErrIndeterminate.
func (e *IndeterminateError) Is(target error) bool { return target == ErrIndeterminate }

// errorJSON is the API's error body; a 412 of a conditional write also has
// the key as it is.
type errorJSON struct {
	Header *headerJSON `json:"header"`
	Error  *struct {
		Code            string `json:"code"`
		Message         string `json:"message"`
		CompactRevision int64  `json:"compact_revision"`
	} `json:"error"`
	KV *kvJSON `json:"kv"`
}

// toError builds the *Error of an answer; it always returns one, even when
// the body is not the API's.
func toError(endpoint string, resp *http.Response, body []byte, b64 bool) *Error {
	e := &Error{StatusCode: resp.StatusCode, Endpoint: endpoint}
	var ej errorJSON
	if err := decodeJSON(body, &ej); err == nil && ej.Error != nil {
		e.Code = ej.Error.Code
		e.Message = ej.Error.Message
		e.CompactRevision = ej.Error.CompactRevision
		if ej.Header != nil {
			e.Header = ej.Header.toHeader()
		}
		if ej.KV != nil {
			if kv, err := ej.KV.toKV(b64); err == nil {
				e.KV = kv
			}
		}
	} else {
		e.Message = http.StatusText(resp.StatusCode)
	}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			e.RetryAfter = time.Duration(n) * time.Second
		}
	}
	return e
}
