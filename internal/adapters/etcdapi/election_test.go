package etcdapi

import (
	"fmt"
	"testing"

	"github.com/rs/zerolog"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3election"
	"google.golang.org/grpc/status"

	"github.com/cairnkv/cairn/internal/domain"
)

// TestElectionError_MatchesEtcd: the election's failures carry the text of
// the errors etcd's election server returns (clientv3's concurrency
// errors, and v3election's for a missing leader key).
func TestElectionError_MatchesEtcd(t *testing.T) {
	t.Parallel()
	s := &Server{log: zerolog.Nop()}
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{name: "NotLeader", err: electionError(fmt.Errorf("election %q: %w", "e", domain.ErrPreconditionFailed)), want: concurrency.ErrElectionNotLeader},
		{name: "NoLeader", err: electionError(fmt.Errorf("election %q: %w", "e", domain.ErrNotFound)), want: concurrency.ErrElectionNoLeader},
		{name: "MissingLeaderKey", err: errMissingLeaderKey, want: v3election.ErrMissingLeaderKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _ := status.FromError(s.toStatus(tc.err))
			if st.Message() != tc.want.Error() {
				t.Fatalf("message = %q, want %q", st.Message(), tc.want.Error())
			}
		})
	}
	if err := electionError(domain.ErrNoLeader); err != domain.ErrNoLeader {
		t.Fatalf("electionError changed an error that is not the election's: %v", err)
	}
}
