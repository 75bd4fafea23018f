package etcdapi

import (
	"context"

	"go.etcd.io/etcd/server/v3/etcdserver/api/v3election/v3electionpb"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/auth"
)

// Observe streams the election's leader: the current one first (once
// there is one), then one response per change of leader or of its value,
// until the client ends the call. The member's shutdown ends the stream
// with Unavailable; with auth on, an auth change that takes the user's
// read permission on the election ends it with PermissionDenied, as a
// watch ends.
func (e electionServer) Observe(r *v3electionpb.LeaderRequest, stream v3electionpb.Election_ObserveServer) error {
	s := e.s
	need := queueNeed(domain.PermRead, r.Name)
	if err := s.allow(stream.Context(), need); err != nil {
		return s.toStatus(err)
	}
	ctx, cancel := context.WithCancelCause(stream.Context())
	defer cancel(nil)
	defer s.endOnStop(cancel)()
	defer s.endOnDenied(ctx, need, cancel)()

	o, err := s.svc.Election.Observe(ctx, r.Name)
	if err != nil {
		return s.toStatus(streamErr(ctx, err))
	}
	defer o.Close()
	for {
		kv, rev, err := o.Next(ctx)
		if err != nil {
			return s.toStatus(streamErr(ctx, err))
		}
		if err := stream.Send(&v3electionpb.LeaderResponse{Header: s.header(rev), Kv: kvOut(&kv)}); err != nil {
			return err
		}
	}
}

// endOnStop cancels a stream's context with errStopped when the server
// closes. The returned func stops it.
func (s *Server) endOnStop(cancel context.CancelCauseFunc) func() {
	stop := make(chan struct{})
	go func() {
		select {
		case <-s.done:
			cancel(errStopped)
		case <-stop:
		}
	}()
	return func() { close(stop) }
}

// endOnDenied cancels a stream's context with domain.ErrPermissionDenied,
// with auth on, when an auth change takes from its user what need
// describes. The returned func stops it.
func (s *Server) endOnDenied(ctx context.Context, need auth.Need, cancel context.CancelCauseFunc) func() {
	a := s.svc.Auth
	if a == nil {
		return func() {}
	}
	store, user := a.Store(), auth.UserFrom(ctx)
	check := func() {
		if store.Check(user, need) != nil {
			cancel(domain.ErrPermissionDenied)
		}
	}
	unregister := store.OnChange(check)
	check() // a change between the first check and the registration
	return unregister
}

// streamErr is the error that ends a stream: why its context was
// cancelled when it was (the server's shutdown, a permission taken, the
// client's cancel), err otherwise.
func streamErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		if cause := context.Cause(ctx); cause != nil {
			return cause
		}
	}
	return err
}
