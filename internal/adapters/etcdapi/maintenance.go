package etcdapi

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/auth"
)

// maintenanceServer serves etcd's Maintenance service. Like etcd's, each
// call acts on the member that receives it, except MoveLeader, which the
// leader serves. Hash (the whole backend's hash, "for testing only" in
// etcd) and Downgrade are not served: the generated Unimplemented
// methods answer them.
type maintenanceServer struct {
	pb.UnimplementedMaintenanceServer
	s *Server
}

// Status tells this member's view: its store's size, the leader, the Raft
// term and indexes, and the cluster's alarms as errors.
func (m maintenanceServer) Status(ctx context.Context, _ *pb.StatusRequest) (*pb.StatusResponse, error) {
	s := m.s
	if err := s.allow(ctx, auth.Authenticated()); err != nil {
		return nil, s.toStatus(err)
	}
	st := s.svc.Cluster.Status()
	out := &pb.StatusResponse{
		Header: s.header(st.Revision), Version: s.cfg.Version,
		DbSize: st.DBSize, DbSizeInUse: st.DBSizeInUse, Leader: st.Leader,
		RaftIndex: st.CommitIndex, RaftTerm: st.RaftTerm, RaftAppliedIndex: st.AppliedIndex,
		IsLearner: st.IsLearner, DbSizeQuota: s.cfg.QuotaBackendBytes,
	}
	for _, a := range st.Alarms {
		out.Errors = append(out.Errors, fmt.Sprintf("memberID:%d alarm:%s ", a.MemberID, a.Type))
	}
	return out, nil
}

// HashKV hashes the kv history up to a revision (0: now), after a read
// barrier so that a revision the cluster has reached is not a future one
// here; equal on every member at the same revision.
func (m maintenanceServer) HashKV(ctx context.Context, r *pb.HashKVRequest) (*pb.HashKVResponse, error) {
	s := m.s
	if s.svc.Hasher == nil {
		return m.UnimplementedMaintenanceServer.HashKV(ctx, r)
	}
	if err := s.allow(ctx, auth.Root()); err != nil {
		return nil, s.toStatus(err)
	}
	if err := s.svc.Cluster.ReadBarrier(ctx); err != nil {
		return nil, s.toStatus(err)
	}
	h, at, compactRev, err := s.svc.Hasher.Hash(r.Revision)
	if err != nil {
		return nil, s.toStatus(err)
	}
	return &pb.HashKVResponse{Header: s.currentHeader(), Hash: h, HashRevision: at, CompactRevision: compactRev}, nil
}

// Alarm lists (GET) or clears (DEACTIVATE) the cluster's alarms. Alarms
// are raised by the members themselves (quota, corruption check), not
// through the API: ACTIVATE is refused.
func (m maintenanceServer) Alarm(ctx context.Context, r *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	s := m.s
	if s.svc.Alarms == nil {
		return m.UnimplementedMaintenanceServer.Alarm(ctx, r)
	}
	if err := s.allow(ctx, auth.Root()); err != nil {
		return nil, s.toStatus(err)
	}
	var as []domain.Alarm
	var err error
	switch r.Action {
	case pb.AlarmRequest_GET:
		as, err = s.svc.Alarms.List(ctx, true)
	case pb.AlarmRequest_DEACTIVATE:
		as, err = s.svc.Alarms.Clear(ctx, domain.Alarm{MemberID: r.MemberID, Type: domain.AlarmType(r.Alarm)})
	default:
		err = domain.InvalidArgument("cairn raises alarms itself (quota, corruption check): only GET and DEACTIVATE are served")
	}
	if err != nil {
		return nil, s.toStatus(err)
	}
	out := &pb.AlarmResponse{Header: s.currentHeader()}
	for _, a := range as {
		out.Alarms = append(out.Alarms, &pb.AlarmMember{MemberID: a.MemberID, Alarm: pb.AlarmType(a.Type)})
	}
	return out, nil
}

// Defragment defragments this member's store while it keeps serving.
func (m maintenanceServer) Defragment(ctx context.Context, r *pb.DefragmentRequest) (*pb.DefragmentResponse, error) {
	s := m.s
	if s.svc.Defragmenter == nil {
		return m.UnimplementedMaintenanceServer.Defragment(ctx, r)
	}
	if err := s.allow(ctx, auth.Root()); err != nil {
		return nil, s.toStatus(err)
	}
	if _, err := s.svc.Defragmenter.Defragment(ctx); err != nil {
		return nil, s.toStatus(err)
	}
	return &pb.DefragmentResponse{Header: s.currentHeader()}, nil
}

// MoveLeader hands leadership to the member with the target ID, once it
// leads. Only the leader serves it (etcdctl move-leader sends it there);
// a follower answers "not leader", as etcd's do.
func (m maintenanceServer) MoveLeader(ctx context.Context, r *pb.MoveLeaderRequest) (*pb.MoveLeaderResponse, error) {
	s := m.s
	if err := s.allow(ctx, auth.Root()); err != nil {
		return nil, s.toStatus(err)
	}
	if err := s.svc.Cluster.TransferLeadership(ctx, r.TargetID); err != nil {
		return nil, s.toStatus(memberError(err))
	}
	return &pb.MoveLeaderResponse{Header: s.currentHeader()}, nil
}

// snapshotChunk is the most store bytes in one snapshot message.
const snapshotChunk = 32 << 10

// Snapshot streams this member's store in etcd's layout: the bbolt file
// of one read transaction (what GET /v1/maintenance/snapshot holds,
// without its header) followed by its SHA-256, so that etcdctl snapshot
// save takes it (it checks that the size is a multiple of 512 plus the 32
// bytes of the hash). The file is Cairn's store, not etcd's: etcdutl
// cannot restore it, and cairn snapshot restore reads the REST API's
// framing only (see DESIGN.md).
func (m maintenanceServer) Snapshot(r *pb.SnapshotRequest, stream pb.Maintenance_SnapshotServer) error {
	s := m.s
	if s.svc.Snapshotter == nil {
		return m.UnimplementedMaintenanceServer.Snapshot(r, stream)
	}
	if err := s.allow(stream.Context(), auth.Root()); err != nil {
		return s.toStatus(err)
	}
	snap, err := s.svc.Snapshotter.Snapshot()
	if err != nil {
		return s.toStatus(err)
	}
	defer snap.Release()
	total := uint64(snap.Size()) + sha256.Size
	sw := &snapshotWriter{stream: stream, remaining: total, sum: sha256.New(), version: s.cfg.Version,
		header: s.header(snap.Rev())}
	if _, err := snap.WriteTo(sw); err != nil {
		return s.toStatus(err)
	}
	if err := sw.flush(); err != nil {
		return err
	}
	sw.buf = sw.sum.Sum(nil)
	return sw.flush()
}

// snapshotWriter sends what is written to it in messages of at most
// snapshotChunk bytes, and hashes it.
type snapshotWriter struct {
	stream    pb.Maintenance_SnapshotServer
	buf       []byte
	remaining uint64
	sum       hash.Hash
	version   string
	header    *pb.ResponseHeader
}

func (w *snapshotWriter) Write(p []byte) (int, error) {
	w.sum.Write(p)
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), snapshotChunk-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == snapshotChunk {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (w *snapshotWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	w.remaining -= uint64(len(w.buf))
	resp := &pb.SnapshotResponse{Header: w.header, RemainingBytes: w.remaining, Blob: w.buf, Version: w.version}
	w.header = nil // in the first message only
	if err := w.stream.Send(resp); err != nil {
		return err
	}
	w.buf = make([]byte, 0, snapshotChunk)
	return nil
}
