package http

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/auth"
	"github.com/cairnkv/cairn/internal/domain/lock"
)

// LockService is what the lock handlers need; *lock.Service implements it.
type LockService interface {
	Lock(ctx context.Context, name []byte, leaseID, ttl int64, wait time.Duration) (lock.Holder, error)
	Unlock(ctx context.Context, name, key []byte) (int64, error)
	Status(ctx context.Context, name []byte) (*lock.Holder, []lock.Holder, int64, error)
}

const (
	locksPrefix     = "/v1/locks/"
	electionsPrefix = "/v1/elections/"
	// maxWaitTimeout bounds ?timeout= of locks and campaigns.
	maxWaitTimeout = time.Hour
)

type lockRequestJSON struct {
	Lease int64 `json:"lease"`
	TTL   int64 `json:"ttl"`
}

type holderJSON struct {
	Key       *string `json:"key,omitempty"`
	KeyBase64 *string `json:"key_base64,omitempty"`
	Lease     int64   `json:"lease"`
	Fence     int64   `json:"fence"`
}

type lockedJSON struct {
	Header headerJSON `json:"header"`
	holderJSON
}

type lockStatusJSON struct {
	Header  headerJSON   `json:"header"`
	Owner   *holderJSON  `json:"owner,omitempty"`
	Waiters []holderJSON `json:"waiters"`
}

func (c codec) holder(h lock.Holder) holderJSON {
	out := holderJSON{Lease: h.Lease, Fence: h.Fence}
	out.Key, out.KeyBase64 = c.text(h.Key)
	return out
}

// waitTimeout parses ?timeout=, the longest wait in a lock's or an
// election's queue: absent waits until the request ends
// (lock.WaitForever); 0 tries once.
func (q *query) waitTimeout() time.Duration {
	if !q.has("timeout") {
		return lock.WaitForever
	}
	v := q.str("timeout")
	if v == "0" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > maxWaitTimeout {
		q.fail("timeout must be a duration from 0 to %v, like 10s, not %q", maxWaitTimeout, v)
		return lock.WaitForever
	}
	return d
}

func (s *Server) handleLock(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r, "timeout", "encoding")
	wait := q.waitTimeout()
	c := q.codec()
	name, err := keyFromPath(r, locksPrefix)
	if err == nil {
		err = q.err
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !s.allow(w, r, queueNeed(domain.PermReadWrite, name)) {
		return
	}
	var in lockRequestJSON
	if err := decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if (in.Lease == 0) == (in.TTL == 0) {
		s.writeError(w, r, domain.InvalidArgument("give either lease or ttl"))
		return
	}
	start := time.Now()
	h, err := s.locks.Lock(r.Context(), name, in.Lease, in.TTL, wait)
	s.metrics.lockWait.Observe(time.Since(start).Seconds())
	if err != nil {
		err = lockErr(r, err)
		if errors.Is(err, domain.ErrLocked) {
			s.metrics.lockTimeouts.Inc()
		}
		s.writeError(w, r, err)
		return
	}
	s.metrics.lockAcquired.Inc()
	rev := max(h.Revision, s.cluster.Revision())
	s.writeJSON(w, http.StatusOK, rev, lockedJSON{Header: s.header(rev), holderJSON: c.holder(h)})
}

// queueNeed is what a call on a lock or an election needs: perm on the
// keys of its queue (lock.Prefix(name)), which a permission on the name as
// a prefix grants.
func queueNeed(perm domain.PermType, name []byte) auth.Need {
	p := lock.Prefix(name)
	if perm == domain.PermRead {
		return auth.Read(p, domain.PrefixEnd(p))
	}
	return auth.ReadWrite(p, domain.PrefixEnd(p))
}

// lockErr turns the end of a wait into the API's error: a timeout is 423
// locked, whoever's deadline it was.
func lockErr(r *http.Request, err error) error {
	if errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil {
		return domain.ErrLocked
	}
	return err
}

func (s *Server) handleLockStatus(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r, "encoding")
	c := q.codec()
	name, err := keyFromPath(r, locksPrefix)
	if err == nil {
		err = q.err
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !s.allow(w, r, queueNeed(domain.PermRead, name)) {
		return
	}
	owner, waiters, rev, err := s.locks.Status(r.Context(), name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := lockStatusJSON{Header: s.header(rev), Waiters: make([]holderJSON, len(waiters))}
	if owner != nil {
		o := c.holder(*owner)
		out.Owner = &o
	}
	for i, h := range waiters {
		out.Waiters[i] = c.holder(h)
	}
	s.writeJSON(w, http.StatusOK, rev, out)
}

func (s *Server) handleUnlock(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r, "key")
	name, err := keyFromPath(r, locksPrefix)
	if err == nil {
		err = q.err
	}
	if err == nil && !q.has("key") {
		err = domain.InvalidArgument("key is required: the owner key the lock was taken with")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !s.allow(w, r, queueNeed(domain.PermReadWrite, name)) {
		return
	}
	rev, err := s.locks.Unlock(r.Context(), name, []byte(q.str("key")))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, rev, compactResponseJSON{Header: s.header(rev)})
}

// splitAction splits /v1/elections/{name...}/{action} into the name and the
// action, when the path ends with one of actions.
func splitAction(r *http.Request, actions ...string) (name []byte, action string, err error) {
	full, err := keyFromPath(r, electionsPrefix)
	if err != nil {
		return nil, "", err
	}
	for _, a := range actions {
		if n, ok := strings.CutSuffix(string(full), "/"+a); ok {
			return []byte(n), a, nil
		}
	}
	return full, "", nil
}
