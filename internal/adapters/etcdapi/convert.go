package etcdapi

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/cairnkv/cairn/internal/domain"
)

// The request checks etcd's gRPC layer makes before its server sees a
// request (its v3rpc key.go), each with etcd's own error: the domain
// would refuse these too, with a message of its own. The limits that are
// the domain's (ops per txn, a key written twice) come back from it as
// typed errors (domain.ErrTooManyOps, domain.ErrDuplicateKey).

func checkRange(r *pb.RangeRequest) error {
	switch {
	case len(r.Key) == 0:
		return errEmptyKey
	case r.SortOrder < pb.RangeRequest_NONE || r.SortOrder > pb.RangeRequest_DESCEND,
		r.SortTarget < pb.RangeRequest_KEY || r.SortTarget > pb.RangeRequest_VALUE:
		return errInvalidSortOption
	}
	return nil
}

func checkPut(r *pb.PutRequest) error {
	switch {
	case len(r.Key) == 0:
		return errEmptyKey
	case r.IgnoreValue && len(r.Value) != 0:
		return errValueProvided
	case r.IgnoreLease && r.Lease != 0:
		return errLeaseProvided
	}
	return nil
}

func checkDelete(r *pb.DeleteRangeRequest) error {
	if len(r.Key) == 0 {
		return errEmptyKey
	}
	return nil
}

// The protobuf enums and the domain's have the same numbers (both are
// etcd's); the conversions say so where they happen.

func rangeRequest(r *pb.RangeRequest) domain.RangeRequest {
	return domain.RangeRequest{
		Key: r.Key, RangeEnd: r.RangeEnd, Limit: r.Limit, Revision: r.Revision,
		SortOrder:  domain.SortOrder(r.SortOrder),
		SortTarget: domain.SortTarget(r.SortTarget),
		KeysOnly:   r.KeysOnly, CountOnly: r.CountOnly, Serializable: r.Serializable,
		MinModRevision: r.MinModRevision, MaxModRevision: r.MaxModRevision,
		MinCreateRevision: r.MinCreateRevision, MaxCreateRevision: r.MaxCreateRevision,
	}
}

func putRequest(r *pb.PutRequest) domain.PutRequest {
	return domain.PutRequest{Key: r.Key, Value: r.Value, Lease: r.Lease, PrevKv: r.PrevKv,
		IgnoreValue: r.IgnoreValue, IgnoreLease: r.IgnoreLease}
}

func deleteRequest(r *pb.DeleteRangeRequest) domain.DeleteRangeRequest {
	return domain.DeleteRangeRequest{Key: r.Key, RangeEnd: r.RangeEnd, PrevKv: r.PrevKv}
}

// txnRequest converts a txn, checking each op as etcd does.
func txnRequest(r *pb.TxnRequest) (domain.TxnRequest, error) {
	var out domain.TxnRequest
	for _, c := range r.Compare {
		out.Compare = append(out.Compare, compare(c))
	}
	var err error
	if out.Success, err = ops(r.Success); err != nil {
		return out, err
	}
	out.Failure, err = ops(r.Failure)
	return out, err
}

func compare(c *pb.Compare) domain.Compare {
	out := domain.Compare{Key: c.Key, RangeEnd: c.RangeEnd,
		Target: domain.CompareTarget(c.Target), Result: domain.CompareResult(c.Result)}
	switch u := c.TargetUnion.(type) {
	case *pb.Compare_Version:
		out.Version = u.Version
	case *pb.Compare_CreateRevision:
		out.CreateRevision = u.CreateRevision
	case *pb.Compare_ModRevision:
		out.ModRevision = u.ModRevision
	case *pb.Compare_Value:
		out.Value = u.Value
	case *pb.Compare_Lease:
		out.Lease = u.Lease
	}
	return out
}

func ops(in []*pb.RequestOp) ([]domain.Op, error) {
	out := make([]domain.Op, 0, len(in))
	for _, op := range in {
		var o domain.Op
		switch r := op.Request.(type) {
		case *pb.RequestOp_RequestRange:
			if err := checkRange(r.RequestRange); err != nil {
				return nil, err
			}
			rr := rangeRequest(r.RequestRange)
			rr.Serializable = false // a txn is one linearizable write
			o.Range = &rr
		case *pb.RequestOp_RequestPut:
			if err := checkPut(r.RequestPut); err != nil {
				return nil, err
			}
			p := putRequest(r.RequestPut)
			o.Put = &p
		case *pb.RequestOp_RequestDeleteRange:
			if err := checkDelete(r.RequestDeleteRange); err != nil {
				return nil, err
			}
			d := deleteRequest(r.RequestDeleteRange)
			o.Delete = &d
		case *pb.RequestOp_RequestTxn:
			t, err := txnRequest(r.RequestTxn)
			if err != nil {
				return nil, err
			}
			o.Txn = &t
		}
		// An op with no request is left empty: the domain refuses it.
		out = append(out, o)
	}
	return out, nil
}

func kvOut(kv *domain.KeyValue) *mvccpb.KeyValue {
	if kv == nil {
		return nil
	}
	return &mvccpb.KeyValue{Key: kv.Key, Value: kv.Value, CreateRevision: kv.CreateRevision,
		ModRevision: kv.ModRevision, Version: kv.Version, Lease: kv.Lease}
}

func kvsOut(kvs []domain.KeyValue) []*mvccpb.KeyValue {
	if len(kvs) == 0 {
		return nil
	}
	out := make([]*mvccpb.KeyValue, len(kvs))
	for i := range kvs {
		out[i] = kvOut(&kvs[i])
	}
	return out
}

func rangeResponse(h *pb.ResponseHeader, r *domain.RangeResponse) *pb.RangeResponse {
	return &pb.RangeResponse{Header: h, Kvs: kvsOut(r.Kvs), Count: r.Count, More: r.More}
}

func deleteResponse(h *pb.ResponseHeader, r *domain.DeleteRangeResponse) *pb.DeleteRangeResponse {
	return &pb.DeleteRangeResponse{Header: h, Deleted: r.Deleted, PrevKvs: kvsOut(r.PrevKvs)}
}

// txnResponse converts a txn's answer; every response in it carries the
// txn's header, as etcd's do.
func txnResponse(h *pb.ResponseHeader, r *domain.TxnResponse) *pb.TxnResponse {
	out := &pb.TxnResponse{Header: h, Succeeded: r.Succeeded, Responses: make([]*pb.ResponseOp, len(r.Responses))}
	for i, resp := range r.Responses {
		op := &pb.ResponseOp{}
		switch {
		case resp.Range != nil:
			op.Response = &pb.ResponseOp_ResponseRange{ResponseRange: rangeResponse(h, resp.Range)}
		case resp.Put != nil:
			op.Response = &pb.ResponseOp_ResponsePut{ResponsePut: &pb.PutResponse{Header: h, PrevKv: kvOut(resp.Put.PrevKv)}}
		case resp.Delete != nil:
			op.Response = &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: deleteResponse(h, resp.Delete)}
		case resp.Txn != nil:
			op.Response = &pb.ResponseOp_ResponseTxn{ResponseTxn: txnResponse(h, resp.Txn)}
		}
		out.Responses[i] = op
	}
	return out
}
