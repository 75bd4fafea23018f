package concurrency

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/cairnkv/cairn/client"
)

// DefaultTTL is the TTL, in seconds, of a session's lease unless WithTTL
// says otherwise.
const DefaultTTL = 60

// Session is a lease that the client keeps alive in the background: the
// liveness of a process, to which its locks and candidacies are tied.
// When the process dies, its keepalives stop and, a TTL later, the lease
// expires and everything held through it is released.
type Session struct {
	client *client.Client
	id     client.LeaseID
	ttl    int64

	cancel    context.CancelFunc
	donec     chan struct{}
	closeOnce sync.Once
}

// SessionOption configures NewSession.
type SessionOption func(*sessionOptions)

type sessionOptions struct {
	ttl   int64
	lease client.LeaseID
}

// WithTTL sets the TTL of the session's lease, in seconds (default
// DefaultTTL): how long after the process's death its locks are released.
func WithTTL(ttl int64) SessionOption { return func(o *sessionOptions) { o.ttl = ttl } }

// WithLease makes the session keep an existing lease alive instead of
// granting one.
func WithLease(id client.LeaseID) SessionOption { return func(o *sessionOptions) { o.lease = id } }

// NewSession grants a lease (or takes the one of WithLease) and keeps it
// alive until Close, Orphan, or the loss of the lease (see Done). ctx
// bounds the setup only, not the session's life.
func NewSession(ctx context.Context, c *client.Client, opts ...SessionOption) (*Session, error) {
	o := sessionOptions{ttl: DefaultTTL}
	for _, opt := range opts {
		opt(&o)
	}
	s := &Session{client: c, id: o.lease, ttl: o.ttl, donec: make(chan struct{})}
	if s.id == client.NoLease {
		g, err := c.Grant(ctx, o.ttl)
		if err != nil {
			return nil, err
		}
		s.id, s.ttl = g.ID, g.TTL
	}
	kctx, cancel := context.WithCancel(context.Background())
	// The first keepalive answers before ctx ends: stop it with ctx.
	stop := context.AfterFunc(ctx, cancel)
	ch, err := c.KeepAlive(kctx, s.id)
	if !stop() || err != nil {
		cancel()
		if err == nil {
			err = ctx.Err()
		}
		if o.lease == client.NoLease {
			rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, _ = c.Revoke(rctx, s.id)
			rcancel()
		}
		return nil, err
	}
	s.cancel = cancel
	go func() {
		defer close(s.donec)
		for range ch {
		}
	}()
	return s, nil
}

// Client returns the client the session uses.
func (s *Session) Client() *client.Client { return s.client }

// TTL returns the TTL of the session's lease, in seconds, as granted
// (for WithLease: as asked).
func (s *Session) TTL() int64 { return s.ttl }

// Lease returns the ID of the session's lease.
func (s *Session) Lease() client.LeaseID { return s.id }

// Done is closed when the session stops keeping its lease alive: after
// Close or Orphan, or when the lease is lost (it expired, was revoked, or
// the client was closed). Locks and leaderships held through a lost
// session are gone, or soon will be.
func (s *Session) Done() <-chan struct{} { return s.donec }

// Orphan stops keeping the lease alive without revoking it: what the
// session holds is released when the lease expires.
func (s *Session) Orphan() {
	s.cancel()
	<-s.donec
}

// Close stops keeping the lease alive and revokes it, which at once
// releases every lock and leadership held through it. A lease that is
// gone already is not an error.
func (s *Session) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.Orphan()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, rerr := s.client.Revoke(ctx, s.id); rerr != nil && !errors.Is(rerr, client.ErrLeaseNotFound) {
			err = rerr
		}
	})
	return err
}
