package etcdapi

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/cairnkv/cairn/internal/domain/auth"
)

// kvServer serves etcd's KV service over the domain's kv.Service.
type kvServer struct {
	pb.UnimplementedKVServer
	s *Server
}

// Range reads a key or a range. A missing key is an empty answer, not an
// error, as in etcd.
func (k kvServer) Range(ctx context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	s := k.s
	if err := checkRange(r); err != nil {
		return nil, s.toStatus(err)
	}
	req := rangeRequest(r)
	if err := s.allow(ctx, auth.Read(req.Key, req.RangeEnd)); err != nil {
		return nil, s.toStatus(err)
	}
	resp, rev, err := s.svc.KV.Range(ctx, req)
	if err != nil {
		return nil, s.toStatus(err)
	}
	return rangeResponse(s.header(rev), &resp), nil
}

// Put writes a key; the header's revision is the one the put created.
func (k kvServer) Put(ctx context.Context, r *pb.PutRequest) (*pb.PutResponse, error) {
	s := k.s
	if err := checkPut(r); err != nil {
		return nil, s.toStatus(err)
	}
	req := putRequest(r)
	needs := []auth.Need{auth.Write(req.Key, nil)}
	if req.PrevKv {
		needs = append(needs, auth.Read(req.Key, nil))
	}
	if err := s.allow(ctx, needs...); err != nil {
		return nil, s.toStatus(err)
	}
	res, err := s.svc.KV.Put(ctx, req, nil)
	if err != nil {
		return nil, s.toStatus(err)
	}
	return &pb.PutResponse{Header: s.header(res.Revision), PrevKv: kvOut(res.PrevKv)}, nil
}

// DeleteRange deletes a key or a range.
func (k kvServer) DeleteRange(ctx context.Context, r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	s := k.s
	if err := checkDelete(r); err != nil {
		return nil, s.toStatus(err)
	}
	req := deleteRequest(r)
	needs := []auth.Need{auth.Write(req.Key, req.RangeEnd)}
	if req.PrevKv {
		needs = append(needs, auth.Read(req.Key, req.RangeEnd))
	}
	if err := s.allow(ctx, needs...); err != nil {
		return nil, s.toStatus(err)
	}
	res, err := s.svc.KV.Delete(ctx, req, nil)
	if err != nil {
		return nil, s.toStatus(err)
	}
	return &pb.DeleteRangeResponse{Header: s.header(res.Revision), Deleted: res.Deleted, PrevKvs: kvsOut(res.PrevKvs)}, nil
}

// Txn runs a txn as one revision. A compare that fails is an answer with
// succeeded false, not an error.
func (k kvServer) Txn(ctx context.Context, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	s := k.s
	req, err := txnRequest(r)
	if err != nil {
		return nil, s.toStatus(err)
	}
	if err := s.allow(ctx, auth.TxnNeeds(&req)...); err != nil {
		return nil, s.toStatus(err)
	}
	resp, rev, err := s.svc.KV.Txn(ctx, req)
	if err != nil {
		return nil, s.toStatus(err)
	}
	return txnResponse(s.header(rev), &resp), nil
}

// Compact drops the history below the revision. Physical is accepted
// and changes nothing: Cairn compacts in its Raft apply, so the history
// below the revision is gone when the call returns.
func (k kvServer) Compact(ctx context.Context, r *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	s := k.s
	if err := s.allow(ctx, auth.Root()); err != nil {
		return nil, s.toStatus(err)
	}
	rev, err := s.svc.KV.Compact(ctx, r.Revision)
	if err != nil {
		return nil, s.toStatus(err)
	}
	return &pb.CompactionResponse{Header: s.header(rev)}, nil
}
