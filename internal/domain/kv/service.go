package kv

import (
	"context"
	"fmt"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/apply"
	"github.com/cairnkv/cairn/internal/ports"
)

// Service serves the KV API on one member.
type Service struct {
	proposer ports.Proposer
	backend  ports.Backend
}

// New returns a Service that writes through p and reads from b.
func New(p ports.Proposer, b ports.Backend) *Service {
	return &Service{proposer: p, backend: b}
}

// Range reads a key or a range. Unless req.Serializable is set it first
// waits for a read barrier, so that it sees every write acknowledged before
// it (linearizable). It returns the answer and the revision it reflects, or
// domain.ErrKeyNotFound for a single key that does not exist, a
// *domain.CompactedError, domain.ErrFutureRevision, an invalid argument, or
// the barrier's error.
func (s *Service) Range(ctx context.Context, req domain.RangeRequest) (domain.RangeResponse, int64, error) {
	if err := req.Validate(); err != nil {
		return domain.RangeResponse{}, 0, err
	}
	if !req.Serializable {
		if err := s.proposer.ReadBarrier(ctx); err != nil {
			return domain.RangeResponse{}, 0, err
		}
	}
	v := s.backend.View()
	defer v.End()
	resp, rev, err := apply.Range(v, &req)
	if err != nil {
		return resp, 0, fmt.Errorf("range %q: %w", req.Key, err)
	}
	return resp, rev, nil
}

// PutResult is the outcome of a Put.
//
// Succeeded is false only for a conditional put whose condition did not
// hold; Current is then the key as it is (nil when it does not exist).
type PutResult struct {
	Revision  int64
	Succeeded bool
	PrevKv    *domain.KeyValue
	Current   *domain.KeyValue
}

// Put writes one key. With ifModRevision set, the put happens only if the
// key's mod revision equals *ifModRevision (0: only if the key is absent);
// otherwise the result is not Succeeded and carries the current kv.
func (s *Service) Put(ctx context.Context, req domain.PutRequest, ifModRevision *int64) (PutResult, error) {
	if err := req.Validate(); err != nil {
		return PutResult{}, err
	}
	txn := &domain.TxnRequest{Success: []domain.Op{{Put: &req}}}
	if ifModRevision != nil {
		if *ifModRevision < 0 {
			return PutResult{}, domain.InvalidArgument("if_mod_revision must be >= 0")
		}
		txn.Compare = []domain.Compare{{Key: req.Key, Target: domain.CompareMod, Result: domain.CompareEqual, ModRevision: *ifModRevision}}
		txn.Failure = []domain.Op{{Range: &domain.RangeRequest{Key: req.Key}}}
	}
	resp, rev, err := s.txn(ctx, txn)
	if err != nil {
		return PutResult{}, fmt.Errorf("put %q: %w", req.Key, err)
	}
	out := PutResult{Revision: rev, Succeeded: resp.Succeeded}
	if resp.Succeeded {
		out.PrevKv = resp.Responses[0].Put.PrevKv
	} else if kvs := resp.Responses[0].Range.Kvs; len(kvs) > 0 {
		out.Current = &kvs[0]
	}
	return out, nil
}

// DeleteResult is the outcome of a Delete; Succeeded and Current as in
// PutResult.
type DeleteResult struct {
	Revision  int64
	Succeeded bool
	Deleted   int64
	PrevKvs   []domain.KeyValue
	Current   *domain.KeyValue
}

// Delete deletes a key or a range. With ifModRevision set (single keys
// only), the delete happens only if the key's mod revision equals it.
func (s *Service) Delete(ctx context.Context, req domain.DeleteRangeRequest, ifModRevision *int64) (DeleteResult, error) {
	if err := req.Validate(); err != nil {
		return DeleteResult{}, err
	}
	txn := &domain.TxnRequest{Success: []domain.Op{{Delete: &req}}}
	if ifModRevision != nil {
		if len(req.RangeEnd) > 0 {
			return DeleteResult{}, domain.InvalidArgument("if_mod_revision applies to a single key, not a range")
		}
		if *ifModRevision < 0 {
			return DeleteResult{}, domain.InvalidArgument("if_mod_revision must be >= 0")
		}
		txn.Compare = []domain.Compare{{Key: req.Key, Target: domain.CompareMod, Result: domain.CompareEqual, ModRevision: *ifModRevision}}
		txn.Failure = []domain.Op{{Range: &domain.RangeRequest{Key: req.Key}}}
	}
	resp, rev, err := s.txn(ctx, txn)
	if err != nil {
		return DeleteResult{}, fmt.Errorf("delete %q: %w", req.Key, err)
	}
	out := DeleteResult{Revision: rev, Succeeded: resp.Succeeded}
	if resp.Succeeded {
		out.Deleted = resp.Responses[0].Delete.Deleted
		out.PrevKvs = resp.Responses[0].Delete.PrevKvs
	} else if kvs := resp.Responses[0].Range.Kvs; len(kvs) > 0 {
		out.Current = &kvs[0]
	}
	return out, nil
}

// Txn runs a transaction as one revision. A compare that fails is not an
// error: the answer says Succeeded false and has the failure branch's
// responses.
func (s *Service) Txn(ctx context.Context, req domain.TxnRequest) (domain.TxnResponse, int64, error) {
	if err := req.Validate(); err != nil {
		return domain.TxnResponse{}, 0, err
	}
	resp, rev, err := s.txn(ctx, &req)
	if err != nil {
		return domain.TxnResponse{}, 0, fmt.Errorf("txn: %w", err)
	}
	return *resp, rev, nil
}

// Compact drops the history below rev. It returns a *domain.CompactedError
// when rev is already compacted and domain.ErrFutureRevision when it is
// above the current revision.
func (s *Service) Compact(ctx context.Context, rev int64) (int64, error) {
	req := domain.CompactRequest{Revision: rev}
	if err := req.Validate(); err != nil {
		return 0, err
	}
	res, err := s.proposer.Propose(ctx, domain.Command{Type: domain.CmdCompact, Compact: &req})
	if err != nil {
		return 0, fmt.Errorf("compact %d: %w", rev, err)
	}
	if res.Err != nil {
		return 0, fmt.Errorf("compact %d: %w", rev, res.Err)
	}
	return res.Revision, nil
}

func (s *Service) txn(ctx context.Context, t *domain.TxnRequest) (*domain.TxnResponse, int64, error) {
	res, err := s.proposer.Propose(ctx, domain.Command{Type: domain.CmdTxn, Txn: t})
	if err != nil {
		return nil, 0, err
	}
	if res.Err != nil {
		return nil, 0, res.Err
	}
	if res.Txn == nil {
		return nil, 0, fmt.Errorf("kv: txn result without a response")
	}
	return res.Txn, res.Revision, nil
}
