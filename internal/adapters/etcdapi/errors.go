package etcdapi

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cairnkv/cairn/internal/domain"
)

// The messages of etcd's server errors (go.etcd.io/etcd/api/v3/v3rpc/
// rpctypes), with their codes in errorTable: clientv3 recognises an error
// by its message (rpctypes.Error) and turns it into its typed error, so
// that errors.Is(err, rpctypes.ErrCompacted) holds on the client. They
// must match etcd's exactly (errors_test.go checks them against the
// published module).
const (
	msgEmptyKey          = "etcdserver: key is not provided"
	msgKeyNotFound       = "etcdserver: key not found"
	msgValueProvided     = "etcdserver: value is provided"
	msgLeaseProvided     = "etcdserver: lease is provided"
	msgTooManyOps        = "etcdserver: too many operations in txn request"
	msgDuplicateKey      = "etcdserver: duplicate key given in txn request"
	msgInvalidSortOption = "etcdserver: invalid sort option"
	msgCompacted         = "etcdserver: mvcc: required revision has been compacted"
	msgFutureRev         = "etcdserver: mvcc: required revision is a future revision"
	msgNoSpace           = "etcdserver: mvcc: database space exceeded"

	msgLeaseNotFound    = "etcdserver: requested lease not found"
	msgLeaseExist       = "etcdserver: lease already exists"
	msgLeaseTTLTooLarge = "etcdserver: too large lease TTL"

	msgMemberNotFound  = "etcdserver: member not found"
	msgLearnerNotReady = "etcdserver: can only promote a learner member which is in sync with leader"

	msgRequestTooLarge  = "etcdserver: request is too large"
	msgTooManyRequests  = "etcdserver: too many requests"
	msgUserEmpty        = "etcdserver: user name is empty"
	msgAuthFailed       = "etcdserver: authentication failed, invalid user ID or password"
	msgPermissionDenied = "etcdserver: permission denied"
	msgAuthNotEnabled   = "etcdserver: authentication is not enabled"
	msgInvalidAuthToken = "etcdserver: invalid auth token"
	msgNoLeader         = "etcdserver: no leader"
	msgNotLeader        = "etcdserver: not leader"
	msgStopped          = "etcdserver: server stopped"
	msgTimeout          = "etcdserver: request timed out"
	msgCorrupt          = "etcdserver: corrupt cluster"
	msgCanceled         = "etcdserver: request canceled"
	msgDeadlineExceeded = "etcdserver: context deadline exceeded"

	// The election's errors are not etcdserver's: etcd's election server
	// returns those of clientv3's concurrency package (and its own for a
	// missing leader key), with their text.
	msgElectionNotLeader = "election: not leader"
	msgElectionNoLeader  = "election: no leader"
	msgMissingLeaderKey  = `"leader" field must be provided`
)

// The adapter's own errors: what the protobuf request gets wrong before a
// domain service sees it, and domain errors made more precise by the RPC
// that got them (memberError, electionError).
var (
	errEmptyKey          = errors.New("empty key")
	errValueProvided     = errors.New("value with ignore_value")
	errLeaseProvided     = errors.New("lease with ignore_lease")
	errInvalidSortOption = errors.New("invalid sort option")
	errLeaseTTLTooLarge  = errors.New("lease ttl too large")
	errNoCredentials     = errors.New("no credentials")
	errAuthFailed        = errors.New("authentication failed")
	errAuthNotEnabled    = errors.New("auth not enabled")
	errMemberNotFound    = errors.New("member not found")
	errLearnerNotReady   = errors.New("learner not ready")
	errStopped           = errors.New("server stopped")
	errElectionNotLeader = errors.New("election: not leader")
	errElectionNoLeader  = errors.New("election: no leader")
	errMissingLeaderKey  = errors.New("missing leader key")
)

// errorTable maps errors to gRPC statuses. It is the only such mapping;
// the first entry that matches (errors.Is) wins. An empty message keeps
// the error's own text (an invalid argument says what is wrong).
var errorTable = []struct {
	err  error
	code codes.Code
	msg  string
}{
	{errEmptyKey, codes.InvalidArgument, msgEmptyKey},
	{errValueProvided, codes.InvalidArgument, msgValueProvided},
	{errLeaseProvided, codes.InvalidArgument, msgLeaseProvided},
	{errInvalidSortOption, codes.InvalidArgument, msgInvalidSortOption},
	{errLeaseTTLTooLarge, codes.OutOfRange, msgLeaseTTLTooLarge},
	{errNoCredentials, codes.InvalidArgument, msgUserEmpty},
	{errAuthFailed, codes.InvalidArgument, msgAuthFailed},
	{errAuthNotEnabled, codes.FailedPrecondition, msgAuthNotEnabled},
	{errMemberNotFound, codes.NotFound, msgMemberNotFound},
	{errLearnerNotReady, codes.FailedPrecondition, msgLearnerNotReady},
	{errStopped, codes.Unavailable, msgStopped},
	{errElectionNotLeader, codes.FailedPrecondition, msgElectionNotLeader},
	{errElectionNoLeader, codes.NotFound, msgElectionNoLeader},
	{errMissingLeaderKey, codes.InvalidArgument, msgMissingLeaderKey},

	{domain.ErrTooManyOps, codes.InvalidArgument, msgTooManyOps},
	{domain.ErrDuplicateKey, codes.InvalidArgument, msgDuplicateKey},
	{domain.ErrKeyNotFound, codes.InvalidArgument, msgKeyNotFound},
	{domain.ErrCompacted, codes.OutOfRange, msgCompacted},
	{domain.ErrFutureRevision, codes.OutOfRange, msgFutureRev},
	{domain.ErrLeaseNotFound, codes.NotFound, msgLeaseNotFound},
	{domain.ErrLeaseExists, codes.FailedPrecondition, msgLeaseExist},
	{domain.ErrNoSpace, codes.ResourceExhausted, msgNoSpace},
	{domain.ErrCorrupt, codes.DataLoss, msgCorrupt},
	{domain.ErrTooLarge, codes.InvalidArgument, msgRequestTooLarge},
	{domain.ErrTooManyRequests, codes.ResourceExhausted, msgTooManyRequests},
	{domain.ErrUnauthenticated, codes.Unauthenticated, msgInvalidAuthToken},
	{domain.ErrPermissionDenied, codes.PermissionDenied, msgPermissionDenied},
	// Clients never see not_leader for a write or a read: the member
	// forwards those. Only the calls etcd serves on the leader alone
	// (MoveLeader) answer it.
	{domain.ErrNotLeader, codes.FailedPrecondition, msgNotLeader},
	{domain.ErrNoLeader, codes.Unavailable, msgNoLeader},
	// The outcome of a write is unknown: clientv3 does not retry a write
	// on it, as with etcd.
	{domain.ErrIndeterminate, codes.Unavailable, msgTimeout},
	{domain.ErrInvalidArgument, codes.InvalidArgument, ""},
	{domain.ErrConflict, codes.FailedPrecondition, ""},
	{domain.ErrPreconditionFailed, codes.FailedPrecondition, ""},
	{domain.ErrNotFound, codes.NotFound, ""},
	{domain.ErrLocked, codes.DeadlineExceeded, ""},
	{domain.ErrUnavailable, codes.Unavailable, ""},
	{context.DeadlineExceeded, codes.DeadlineExceeded, msgDeadlineExceeded},
	{context.Canceled, codes.Canceled, msgCanceled},
}

// internalMessage is what a client is told of an error that is not in
// the table: details stay in the member's log.
const internalMessage = "etcdserver: internal error; see the member's log"

// toStatus turns err into the gRPC status error the client gets. It is
// the one place that does; errors that are in no row are logged and
// become codes.Internal.
func (s *Server) toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err // already a status (from grpc itself)
	}
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			msg := e.msg
			if msg == "" {
				msg = err.Error()
			}
			if e.code == codes.Unavailable || e.code == codes.DeadlineExceeded {
				s.log.Debug().Err(err).Msg("etcd api: request not served")
			}
			return status.Error(e.code, msg)
		}
	}
	s.log.Error().Err(err).Msg("etcd api: request failed")
	return status.Error(codes.Internal, internalMessage)
}

// memberError makes a membership call's errors etcd's: an unknown ID is
// "member not found", a learner that is behind is "not in sync".
func memberError(err error) error {
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return errors.Join(errMemberNotFound, err)
	case errors.Is(err, domain.ErrPreconditionFailed):
		return errors.Join(errLearnerNotReady, err)
	}
	return err
}
