package apply

import (
	"errors"
	"fmt"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
)

// Apply applies one replicated command to the open batch b and returns its
// result. It is deterministic: it reads nothing but b and cmd.
//
// A command that domain.Command.Validate refuses (the leader refuses it
// before proposing, but a log written by an older version may hold one) and
// a business rejection (a missing lease, a compacted revision in a txn
// get, ...) are returned in Result.Err and change nothing: every member
// computes the same rejection. An error of the store itself cannot be
// turned into a result without making members diverge, so Apply panics on
// it.
func Apply(b ports.Batch, cmd domain.Command) domain.Result {
	if err := cmd.Validate(); err != nil {
		return domain.Result{Revision: b.Rev(), Err: err}
	}
	// The alarms are replicated state: a write proposed before an alarm
	// was raised and applied after it is refused on every member alike.
	if err := domain.AlarmGate(b.Alarms(), &cmd); err != nil {
		return domain.Result{Revision: b.Rev(), Err: err}
	}
	switch cmd.Type {
	case domain.CmdTxn:
		return applyTxn(b, cmd.Txn)
	case domain.CmdCompact:
		err := b.Compact(cmd.Compact.Revision)
		if err != nil && !isBusiness(err) {
			panic(fmt.Errorf("apply: compact %d: %w", cmd.Compact.Revision, err))
		}
		return domain.Result{Revision: b.Rev(), Err: err}
	case domain.CmdLeaseGrant:
		return applyGrant(b, *cmd.Grant)
	case domain.CmdLeaseRevoke:
		return applyRevoke(b, cmd.Revoke)
	case domain.CmdLeaseCheckpoint:
		return applyCheckpoint(b, cmd.Checkpoint)
	case domain.CmdAuth:
		return applyAuth(b, cmd.Auth)
	case domain.CmdAlarm:
		if err := b.SetAlarm(*cmd.Alarm); err != nil {
			panic(fmt.Errorf("apply: alarm: %w", err))
		}
		return domain.Result{Revision: b.Rev()}
	case domain.CmdPublishMember:
		if err := b.PutMember(cmd.Member.Member); err != nil {
			panic(fmt.Errorf("apply: publish member: %w", err))
		}
		if cmd.Member.ClusterID != 0 {
			if err := b.SetClusterID(cmd.Member.ClusterID); err != nil {
				panic(fmt.Errorf("apply: set cluster id: %w", err))
			}
		}
		return domain.Result{Revision: b.Rev()}
	}
	panic(fmt.Errorf("apply: unknown command type %d", cmd.Type))
}

// isBusiness reports whether err is a rejection of the request rather than a
// failure of the store.
func isBusiness(err error) bool {
	return errors.Is(err, domain.ErrCompacted) || errors.Is(err, domain.ErrFutureRevision) ||
		errors.Is(err, domain.ErrLeaseNotFound) || errors.Is(err, domain.ErrKeyNotFound) ||
		errors.Is(err, domain.ErrInvalidArgument)
}

func applyTxn(b ports.Batch, t *domain.TxnRequest) domain.Result {
	// Every compare of the txn and of the nested txns on the chosen path is
	// evaluated first, against the state before the txn (as in etcd), then
	// the path is checked, so that a rejection changes nothing.
	p := evalPath(b, t)
	if err := check(b, t, p); err != nil {
		return domain.Result{Revision: b.Rev(), Err: err}
	}
	resp := exec(b, t, p)
	rev, events := b.EndRevision()
	return domain.Result{Revision: rev, Txn: resp, Events: events}
}

// path is the outcome of a txn's compares and of the nested txns on the
// branch they chose, in op order.
type path struct {
	succeeded bool
	nested    []*path
}

func evalPath(r ports.Reader, t *domain.TxnRequest) *path {
	p := &path{succeeded: true}
	for i := range t.Compare {
		if !compare(r, &t.Compare[i]) {
			p.succeeded = false
			break
		}
	}
	for _, op := range branch(t, p.succeeded) {
		if op.Txn != nil {
			p.nested = append(p.nested, evalPath(r, op.Txn))
		}
	}
	return p
}

func branch(t *domain.TxnRequest, succeeded bool) []domain.Op {
	if succeeded {
		return t.Success
	}
	return t.Failure
}

// check rejects a path that would fail half-way: a put with a lease that
// does not exist, ignore_value or ignore_lease on a missing key, a get at a
// compacted or future revision.
func check(b ports.Batch, t *domain.TxnRequest, p *path) error {
	nested := 0
	for _, op := range branch(t, p.succeeded) {
		switch {
		case op.Put != nil:
			if op.Put.Lease != 0 && !op.Put.IgnoreLease {
				if _, err := b.Lease(op.Put.Lease); err != nil {
					if errors.Is(err, domain.ErrLeaseNotFound) {
						return fmt.Errorf("lease %d: %w", op.Put.Lease, err)
					}
					panic(fmt.Errorf("apply: read lease %d: %w", op.Put.Lease, err))
				}
			}
			if op.Put.IgnoreValue || op.Put.IgnoreLease {
				rr, err := b.Range(op.Put.Key, nil, ports.RangeOptions{CountOnly: true})
				if err != nil {
					panic(fmt.Errorf("apply: read before put: %w", err))
				}
				if rr.Count == 0 {
					return fmt.Errorf("ignore_value or ignore_lease needs an existing key: %w", domain.ErrKeyNotFound)
				}
			}
		case op.Range != nil:
			rev := op.Range.Revision
			if rev > b.Rev() {
				return domain.ErrFutureRevision
			}
			if rev > 0 && rev < b.CompactRev() {
				return &domain.CompactedError{CompactRevision: b.CompactRev()}
			}
		case op.Txn != nil:
			if err := check(b, op.Txn, p.nested[nested]); err != nil {
				return err
			}
			nested++
		}
	}
	return nil
}

func exec(b ports.Batch, t *domain.TxnRequest, p *path) *domain.TxnResponse {
	ops := branch(t, p.succeeded)
	resp := &domain.TxnResponse{Succeeded: p.succeeded, Responses: make([]domain.OpResponse, len(ops))}
	nested := 0
	for i, op := range ops {
		switch {
		case op.Range != nil:
			rr, _, err := Range(b, op.Range)
			if err != nil {
				panic(fmt.Errorf("apply: txn range after check: %w", err))
			}
			resp.Responses[i].Range = &rr
		case op.Put != nil:
			resp.Responses[i].Put = put(b, op.Put)
		case op.Delete != nil:
			resp.Responses[i].Delete = deleteRange(b, op.Delete)
		case op.Txn != nil:
			resp.Responses[i].Txn = exec(b, op.Txn, p.nested[nested])
			nested++
		}
	}
	return resp
}

func put(b ports.Batch, req *domain.PutRequest) *domain.PutResponse {
	resp := &domain.PutResponse{}
	value, lease := req.Value, req.Lease
	if req.PrevKv || req.IgnoreValue || req.IgnoreLease {
		rr, err := b.Range(req.Key, nil, ports.RangeOptions{})
		if err != nil {
			panic(fmt.Errorf("apply: read before put: %w", err))
		}
		if len(rr.KVs) == 1 {
			prev := rr.KVs[0]
			if req.PrevKv {
				resp.PrevKv = &prev
			}
			if req.IgnoreValue {
				value = prev.Value
			}
			if req.IgnoreLease {
				lease = prev.Lease
			}
		}
	}
	if err := b.Put(req.Key, value, lease); err != nil {
		panic(fmt.Errorf("apply: put: %w", err))
	}
	return resp
}

func deleteRange(b ports.Batch, req *domain.DeleteRangeRequest) *domain.DeleteRangeResponse {
	resp := &domain.DeleteRangeResponse{}
	if req.PrevKv {
		rr, err := b.Range(req.Key, req.RangeEnd, ports.RangeOptions{})
		if err != nil {
			panic(fmt.Errorf("apply: read before delete: %w", err))
		}
		resp.PrevKvs = rr.KVs
	}
	n, err := b.DeleteRange(req.Key, req.RangeEnd)
	if err != nil {
		panic(fmt.Errorf("apply: delete: %w", err))
	}
	resp.Deleted = n
	return resp
}
