package raft

import (
	"errors"
	"fmt"

	"github.com/cairnkv/cairn/internal/domain"
)

// Results travel from the leader to the member that forwarded a proposal.
// Layout: version, revision, error (kind byte + fields), then the txn
// response (presence flag + body).
const (
	resErrNone byte = iota
	resErrLeaseNotFound
	resErrKeyNotFound
	resErrCompacted
	resErrFutureRevision
	resErrInvalid
	resErrOther
	resErrLeaseExists
	// The rejections of auth changes (and any other with these
	// sentinels) keep their message and their kind.
	resErrConflict
	resErrNotFound
	resErrPreconditionFailed
	// A write refused under an alarm (domain.AlarmError).
	resErrNoSpace
	resErrCorrupt
)

// sentinelKinds are the error kinds that travel as a sentinel and the
// message of the error that wrapped it.
var sentinelKinds = []struct {
	kind byte
	err  error
}{
	{resErrConflict, domain.ErrConflict},
	{resErrNotFound, domain.ErrNotFound},
	{resErrPreconditionFailed, domain.ErrPreconditionFailed},
	{resErrNoSpace, domain.ErrNoSpace},
	{resErrCorrupt, domain.ErrCorrupt},
}

// remoteError is an error decoded from another member's result: its
// message as the leader wrote it, and the sentinel it wrapped.
type remoteError struct {
	msg string
	err error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.err }

// EncodeResult encodes a Result for the forwarding protocol.
func EncodeResult(r domain.Result) []byte {
	e := encoder{buf: make([]byte, 0, 64)}
	e.byte(codecVersion)
	e.varint(r.Revision)
	encodeErr(&e, r.Err)
	if r.Txn == nil {
		e.byte(0)
	} else {
		e.byte(1)
		encodeTxnResponse(&e, r.Txn)
	}
	return e.buf
}

// DecodeResult decodes what EncodeResult wrote.
func DecodeResult(data []byte) (domain.Result, error) {
	var r domain.Result
	if len(data) < 1 || data[0] != codecVersion {
		return r, errors.New("codec: bad result version")
	}
	d := decoder{buf: data[1:]}
	r.Revision = d.varint()
	r.Err = decodeErr(&d)
	if d.byte() == 1 {
		r.Txn = decodeTxnResponse(&d, 0)
	}
	return r, d.err
}

func encodeErr(e *encoder, err error) {
	var ce *domain.CompactedError
	var ie *domain.InvalidArgumentError
	switch {
	case err == nil:
		e.byte(resErrNone)
	case errors.As(err, &ce):
		e.byte(resErrCompacted)
		e.varint(ce.CompactRevision)
	case errors.As(err, &ie):
		e.byte(resErrInvalid)
		e.string(ie.Msg)
	case errors.Is(err, domain.ErrLeaseNotFound):
		e.byte(resErrLeaseNotFound)
	case errors.Is(err, domain.ErrLeaseExists):
		e.byte(resErrLeaseExists)
	case errors.Is(err, domain.ErrKeyNotFound):
		e.byte(resErrKeyNotFound)
	case errors.Is(err, domain.ErrFutureRevision):
		e.byte(resErrFutureRevision)
	default:
		for _, k := range sentinelKinds {
			if errors.Is(err, k.err) {
				e.byte(k.kind)
				e.string(err.Error())
				return
			}
		}
		e.byte(resErrOther)
		e.string(err.Error())
	}
}

func decodeErr(d *decoder) error {
	switch kind := d.byte(); kind {
	case resErrNone:
		return nil
	case resErrLeaseNotFound:
		return domain.ErrLeaseNotFound
	case resErrLeaseExists:
		return domain.ErrLeaseExists
	case resErrKeyNotFound:
		return domain.ErrKeyNotFound
	case resErrCompacted:
		return &domain.CompactedError{CompactRevision: d.varint()}
	case resErrFutureRevision:
		return domain.ErrFutureRevision
	case resErrInvalid:
		return &domain.InvalidArgumentError{Msg: d.string()}
	case resErrOther:
		return errors.New(d.string())
	case resErrConflict, resErrNotFound, resErrPreconditionFailed, resErrNoSpace, resErrCorrupt:
		msg := d.string()
		for _, k := range sentinelKinds {
			if k.kind == kind {
				return &remoteError{msg: msg, err: k.err}
			}
		}
		return nil
	default:
		d.fail(fmt.Errorf("codec: unknown error kind %d", kind))
		return nil
	}
}

func encodeKV(e *encoder, kv *domain.KeyValue) {
	e.bytes(kv.Key)
	e.bytes(kv.Value)
	e.varint(kv.CreateRevision)
	e.varint(kv.ModRevision)
	e.varint(kv.Version)
	e.varint(kv.Lease)
}

func decodeKV(d *decoder) domain.KeyValue {
	var kv domain.KeyValue
	kv.Key = d.bytes()
	kv.Value = d.bytes()
	kv.CreateRevision = d.varint()
	kv.ModRevision = d.varint()
	kv.Version = d.varint()
	kv.Lease = d.varint()
	return kv
}

func encodeKVs(e *encoder, kvs []domain.KeyValue) {
	e.uvarint(uint64(len(kvs)))
	for i := range kvs {
		encodeKV(e, &kvs[i])
	}
}

func decodeKVs(d *decoder) []domain.KeyValue {
	n := d.count(6)
	if n == 0 {
		return nil
	}
	kvs := make([]domain.KeyValue, n)
	for i := range kvs {
		kvs[i] = decodeKV(d)
	}
	return kvs
}

func encodeTxnResponse(e *encoder, t *domain.TxnResponse) {
	e.flags(t.Succeeded)
	e.uvarint(uint64(len(t.Responses)))
	for _, r := range t.Responses {
		switch {
		case r.Range != nil:
			e.byte(opRange)
			encodeKVs(e, r.Range.Kvs)
			e.varint(r.Range.Count)
			e.flags(r.Range.More)
		case r.Put != nil:
			e.byte(opPut)
			if r.Put.PrevKv == nil {
				e.byte(0)
			} else {
				e.byte(1)
				encodeKV(e, r.Put.PrevKv)
			}
		case r.Delete != nil:
			e.byte(opDelete)
			e.varint(r.Delete.Deleted)
			encodeKVs(e, r.Delete.PrevKvs)
		case r.Txn != nil:
			e.byte(opTxn)
			encodeTxnResponse(e, r.Txn)
		default:
			e.byte(0)
		}
	}
}

func decodeTxnResponse(d *decoder, depth int) *domain.TxnResponse {
	if depth > maxTxnDepth {
		d.fail(errors.New("codec: txn response nested too deep"))
		return nil
	}
	t := &domain.TxnResponse{}
	d.flags(&t.Succeeded)
	n := d.count(1)
	if n > 0 {
		t.Responses = make([]domain.OpResponse, n)
	}
	for i := range t.Responses {
		switch kind := d.byte(); kind {
		case opRange:
			r := &domain.RangeResponse{Kvs: decodeKVs(d)}
			r.Count = d.varint()
			d.flags(&r.More)
			t.Responses[i].Range = r
		case opPut:
			p := &domain.PutResponse{}
			if d.byte() == 1 {
				kv := decodeKV(d)
				p.PrevKv = &kv
			}
			t.Responses[i].Put = p
		case opDelete:
			del := &domain.DeleteRangeResponse{Deleted: d.varint()}
			del.PrevKvs = decodeKVs(d)
			t.Responses[i].Delete = del
		case opTxn:
			t.Responses[i].Txn = decodeTxnResponse(d, depth+1)
		case 0:
		default:
			d.fail(fmt.Errorf("codec: unknown response kind %d", kind))
			return t
		}
	}
	return t
}
