package etcdapi

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/rs/zerolog"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cairnkv/cairn/internal/domain"
)

// TestErrorTable_MatchesEtcd: every domain error a client can tell apart
// becomes the very status etcd's server sends (code and message), so that
// clientv3 turns it into its typed error.
func TestErrorTable_MatchesEtcd(t *testing.T) {
	t.Parallel()
	s := &Server{log: zerolog.Nop()}
	tests := []struct {
		name string
		err  error
		want error // etcd's server-side status error
		typ  error // clientv3's typed error
	}{
		{name: "Compacted", err: &domain.CompactedError{CompactRevision: 3}, want: rpctypes.ErrGRPCCompacted, typ: rpctypes.ErrCompacted},
		{name: "FutureRev", err: fmt.Errorf("range: %w", domain.ErrFutureRevision), want: rpctypes.ErrGRPCFutureRev, typ: rpctypes.ErrFutureRev},
		{name: "LeaseNotFound", err: domain.ErrLeaseNotFound, want: rpctypes.ErrGRPCLeaseNotFound, typ: rpctypes.ErrLeaseNotFound},
		{name: "LeaseExists", err: domain.ErrLeaseExists, want: rpctypes.ErrGRPCLeaseExist, typ: rpctypes.ErrLeaseExist},
		{name: "TooManyOps", err: &domain.InvalidArgumentError{Msg: "x", Reason: domain.ErrTooManyOps}, want: rpctypes.ErrGRPCTooManyOps, typ: rpctypes.ErrTooManyOps},
		{name: "DuplicateKey", err: &domain.InvalidArgumentError{Msg: "x", Reason: domain.ErrDuplicateKey}, want: rpctypes.ErrGRPCDuplicateKey, typ: rpctypes.ErrDuplicateKey},
		{name: "KeyNotFound", err: domain.ErrKeyNotFound, want: rpctypes.ErrGRPCKeyNotFound, typ: rpctypes.ErrKeyNotFound},
		{name: "NoLeader", err: domain.ErrNoLeader, want: rpctypes.ErrGRPCNoLeader, typ: rpctypes.ErrNoLeader},
		{name: "NotLeader", err: &domain.NotLeaderError{}, want: rpctypes.ErrGRPCNotLeader, typ: rpctypes.ErrNotLeader},
		{name: "Indeterminate", err: domain.ErrIndeterminate, want: rpctypes.ErrGRPCTimeout, typ: rpctypes.ErrTimeout},
		{name: "NoSpace", err: domain.ErrNoSpace, want: rpctypes.ErrGRPCNoSpace, typ: rpctypes.ErrNoSpace},
		{name: "Corrupt", err: domain.ErrCorrupt, want: rpctypes.ErrGRPCCorrupt, typ: rpctypes.ErrCorrupt},
		{name: "TooLarge", err: domain.ErrTooLarge, want: rpctypes.ErrGRPCRequestTooLarge, typ: rpctypes.ErrRequestTooLarge},
		{name: "TooManyRequests", err: &domain.RetryAfterError{Err: domain.ErrTooManyRequests, After: 1}, want: rpctypes.ErrGRPCRequestTooManyRequests, typ: rpctypes.ErrTooManyRequests},
		{name: "PermissionDenied", err: domain.ErrPermissionDenied, want: rpctypes.ErrGRPCPermissionDenied, typ: rpctypes.ErrPermissionDenied},
		{name: "InvalidToken", err: domain.ErrUnauthenticated, want: rpctypes.ErrGRPCInvalidAuthToken, typ: rpctypes.ErrInvalidAuthToken},
		{name: "EmptyKey", err: errEmptyKey, want: rpctypes.ErrGRPCEmptyKey, typ: rpctypes.ErrEmptyKey},
		{name: "ValueProvided", err: errValueProvided, want: rpctypes.ErrGRPCValueProvided, typ: rpctypes.ErrValueProvided},
		{name: "LeaseProvided", err: errLeaseProvided, want: rpctypes.ErrGRPCLeaseProvided, typ: rpctypes.ErrLeaseProvided},
		{name: "InvalidSortOption", err: errInvalidSortOption, want: rpctypes.ErrGRPCInvalidSortOption, typ: rpctypes.ErrInvalidSortOption},
		{name: "LeaseTTLTooLarge", err: errLeaseTTLTooLarge, want: rpctypes.ErrGRPCLeaseTTLTooLarge, typ: rpctypes.ErrLeaseTTLTooLarge},
		{name: "UserEmpty", err: errNoCredentials, want: rpctypes.ErrGRPCUserEmpty, typ: rpctypes.ErrUserEmpty},
		{name: "AuthFailed", err: errors.Join(errAuthFailed, domain.ErrUnauthenticated), want: rpctypes.ErrGRPCAuthFailed, typ: rpctypes.ErrAuthFailed},
		{name: "AuthNotEnabled", err: errAuthNotEnabled, want: rpctypes.ErrGRPCAuthNotEnabled, typ: rpctypes.ErrAuthNotEnabled},
		{name: "MemberNotFound", err: memberError(domain.ErrNotFound), want: rpctypes.ErrGRPCMemberNotFound, typ: rpctypes.ErrMemberNotFound},
		{name: "LearnerNotReady", err: memberError(domain.ErrPreconditionFailed), want: rpctypes.ErrGRPCLearnerNotReady, typ: rpctypes.ErrMemberLearnerNotReady},
		{name: "Stopped", err: errStopped, want: rpctypes.ErrGRPCStopped, typ: rpctypes.ErrStopped},
		{name: "Canceled", err: context.Canceled, want: rpctypes.ErrGRPCCanceled},
		{name: "DeadlineExceeded", err: context.DeadlineExceeded, want: rpctypes.ErrGRPCDeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.toStatus(tt.err)
			gs, _ := status.FromError(got)
			ws, _ := status.FromError(tt.want)
			if gs.Code() != ws.Code() || gs.Message() != ws.Message() {
				t.Fatalf("toStatus(%v) = %v %q, want %v %q", tt.err, gs.Code(), gs.Message(), ws.Code(), ws.Message())
			}
			if tt.typ != nil && !errors.Is(rpctypes.Error(got), tt.typ) {
				t.Fatalf("clientv3 does not see %v as %v", got, tt.typ)
			}
		})
	}
}

func TestToStatus_InvalidArgumentKeepsItsMessage(t *testing.T) {
	t.Parallel()
	s := &Server{log: zerolog.Nop()}
	st, _ := status.FromError(s.toStatus(domain.InvalidArgument("limit must be >= 0")))
	if st.Code() != codes.InvalidArgument || st.Message() != "limit must be >= 0" {
		t.Fatalf("got %v %q", st.Code(), st.Message())
	}
}

func TestToStatus_InternalHidesDetails(t *testing.T) {
	t.Parallel()
	s := &Server{log: zerolog.Nop()}
	st, _ := status.FromError(s.toStatus(errors.New("bolt: page 7 is corrupt at /var/lib/x")))
	if st.Code() != codes.Internal || st.Message() != internalMessage {
		t.Fatalf("got %v %q", st.Code(), st.Message())
	}
}
