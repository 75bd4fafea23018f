package raft

import (
	"errors"
	"fmt"

	"github.com/cairnkv/cairn/internal/domain"
)

// Command envelope:
//
//	+---------+------------------------+-----------------+
//	| version | type (bit 7: ignorable) | payload ...     |
//	+---------+------------------------+-----------------+
//
// version is codecVersion. A member that meets a type it does not know
// skips the entry when bit 7 is set and stops otherwise (crashing is better
// than diverging). The payload is a sequence of varints, byte strings
// (uvarint length + bytes) and flag bytes, in the order the encode functions
// below write them.
const (
	codecVersion  byte = 1
	typeIgnorable byte = 0x80
)

// errUnknownCommand is returned for an entry of a type this member does not
// know and may not skip.
var errUnknownCommand = errors.New("codec: unknown command type")

// EncodeCommand encodes cmd for the Raft log.
func EncodeCommand(cmd domain.Command) ([]byte, error) {
	e := encoder{buf: make([]byte, 0, 64)}
	e.byte(codecVersion)
	e.byte(byte(cmd.Type))
	switch cmd.Type {
	case domain.CmdTxn:
		if cmd.Txn == nil {
			return nil, errors.New("codec: txn command without txn")
		}
		encodeTxn(&e, cmd.Txn)
	case domain.CmdCompact:
		if cmd.Compact == nil {
			return nil, errors.New("codec: compact command without revision")
		}
		e.varint(cmd.Compact.Revision)
	case domain.CmdPublishMember:
		if cmd.Member == nil {
			return nil, errors.New("codec: publish command without member")
		}
		m := cmd.Member.Member
		e.uvarint(m.ID)
		e.string(m.Name)
		e.string(m.PeerURL)
		e.uvarint(uint64(len(m.ClientURLs)))
		for _, u := range m.ClientURLs {
			e.string(u)
		}
		e.uvarint(cmd.Member.ClusterID)
	case domain.CmdLeaseGrant:
		if cmd.Grant == nil {
			return nil, errors.New("codec: grant command without lease")
		}
		e.varint(cmd.Grant.ID)
		e.varint(cmd.Grant.TTL)
	case domain.CmdLeaseRevoke:
		e.uvarint(uint64(len(cmd.Revoke)))
		for _, id := range cmd.Revoke {
			e.varint(id)
		}
	case domain.CmdLeaseCheckpoint:
		e.uvarint(uint64(len(cmd.Checkpoint)))
		for _, l := range cmd.Checkpoint {
			e.varint(l.ID)
			e.varint(l.RemainingTTL)
		}
	case domain.CmdAuth:
		if cmd.Auth == nil {
			return nil, errors.New("codec: auth command without request")
		}
		encodeAuth(&e, cmd.Auth)
	case domain.CmdAlarm:
		if cmd.Alarm == nil {
			return nil, errors.New("codec: alarm command without request")
		}
		e.flags(cmd.Alarm.Activate)
		e.uvarint(cmd.Alarm.Alarm.MemberID)
		e.byte(byte(cmd.Alarm.Alarm.Type))
	default:
		return nil, fmt.Errorf("codec: cannot encode command type %d", cmd.Type)
	}
	return e.buf, nil
}

// DecodeCommand decodes an entry written by EncodeCommand. skip is true
// for an ignorable entry of an unknown type.
func DecodeCommand(data []byte) (cmd domain.Command, skip bool, err error) {
	if len(data) < 2 {
		return cmd, false, errShort
	}
	if data[0] != codecVersion {
		return cmd, false, fmt.Errorf("codec: unknown version %d", data[0])
	}
	d := decoder{buf: data[2:]}
	cmd.Type = domain.CommandType(data[1])
	switch cmd.Type {
	case domain.CmdTxn:
		cmd.Txn = decodeTxn(&d, 0)
	case domain.CmdCompact:
		cmd.Compact = &domain.CompactRequest{Revision: d.varint()}
	case domain.CmdPublishMember:
		p := &domain.PublishMember{}
		p.Member.ID = d.uvarint()
		p.Member.Name = d.string()
		p.Member.PeerURL = d.string()
		n := d.count(1)
		for i := 0; i < n; i++ {
			p.Member.ClientURLs = append(p.Member.ClientURLs, d.string())
		}
		p.ClusterID = d.uvarint()
		cmd.Member = p
	case domain.CmdLeaseGrant:
		cmd.Grant = &domain.Lease{ID: d.varint(), TTL: d.varint()}
	case domain.CmdLeaseRevoke:
		n := d.count(1)
		cmd.Revoke = make([]int64, 0, n)
		for i := 0; i < n; i++ {
			cmd.Revoke = append(cmd.Revoke, d.varint())
		}
	case domain.CmdLeaseCheckpoint:
		n := d.count(2)
		cmd.Checkpoint = make([]domain.Lease, 0, n)
		for i := 0; i < n; i++ {
			cmd.Checkpoint = append(cmd.Checkpoint, domain.Lease{ID: d.varint(), RemainingTTL: d.varint()})
		}
	case domain.CmdAuth:
		cmd.Auth = decodeAuth(&d)
	case domain.CmdAlarm:
		a := &domain.AlarmRequest{Activate: d.byte()&1 != 0}
		a.Alarm.MemberID = d.uvarint()
		a.Alarm.Type = domain.AlarmType(d.byte())
		cmd.Alarm = a
	default:
		if data[1]&typeIgnorable != 0 {
			return cmd, true, nil
		}
		return cmd, false, fmt.Errorf("%w %d", errUnknownCommand, data[1])
	}
	if d.err == nil && len(d.buf) != 0 {
		d.fail(fmt.Errorf("codec: %d trailing bytes", len(d.buf)))
	}
	return cmd, false, d.err
}

// encodeAuth writes an auth change: every field of the request, whatever
// the operation uses, so that the decoder needs no knowledge of the
// operations (an unknown one decodes, and apply refuses it with a result):
//
//	op byte | user | role | password hash | perm type byte | perm key | perm range end | signing key
//
// strings and byte strings as uvarint length + bytes. CmdAuth has no
// ignorable bit: a member that does not know it stops rather than skip an
// auth change, which would leave it with different users or permissions.
func encodeAuth(e *encoder, a *domain.AuthRequest) {
	e.byte(byte(a.Op))
	e.string(a.User)
	e.string(a.Role)
	e.bytes(a.PasswordHash)
	e.byte(byte(a.Perm.Type))
	e.bytes(a.Perm.Key)
	e.bytes(a.Perm.RangeEnd)
	e.bytes(a.SigningKey)
}

// decodeAuth reads what encodeAuth wrote. Empty byte strings decode as nil.
func decodeAuth(d *decoder) *domain.AuthRequest {
	a := &domain.AuthRequest{}
	a.Op = domain.AuthOp(d.byte())
	a.User = d.string()
	a.Role = d.string()
	a.PasswordHash = d.bytes()
	a.Perm.Type = domain.PermType(d.byte())
	a.Perm.Key = d.bytes()
	a.Perm.RangeEnd = d.bytes()
	a.SigningKey = d.bytes()
	return a
}

// maxTxnDepth bounds the nesting of txns the decoder accepts. It stays
// above domain.MaxTxnDepth (the build fails otherwise): a txn nested deeper
// than the limit must decode, so that apply refuses it with a result, where
// an entry that does not decode stops the member.
const maxTxnDepth = 16

const _ = uint(maxTxnDepth - domain.MaxTxnDepth)

const (
	opRange byte = iota + 1
	opPut
	opDelete
	opTxn
)

func encodeTxn(e *encoder, t *domain.TxnRequest) {
	e.uvarint(uint64(len(t.Compare)))
	for _, c := range t.Compare {
		e.bytes(c.Key)
		e.bytes(c.RangeEnd)
		e.byte(byte(c.Target))
		e.byte(byte(c.Result))
		switch c.Target {
		case domain.CompareValue:
			e.bytes(c.Value)
		case domain.CompareVersion:
			e.varint(c.Version)
		case domain.CompareCreate:
			e.varint(c.CreateRevision)
		case domain.CompareMod:
			e.varint(c.ModRevision)
		case domain.CompareLease:
			e.varint(c.Lease)
		}
	}
	encodeOps(e, t.Success)
	encodeOps(e, t.Failure)
}

func encodeOps(e *encoder, ops []domain.Op) {
	e.uvarint(uint64(len(ops)))
	for _, op := range ops {
		switch {
		case op.Range != nil:
			r := op.Range
			e.byte(opRange)
			e.bytes(r.Key)
			e.bytes(r.RangeEnd)
			e.varint(r.Limit)
			e.varint(r.Revision)
			e.byte(byte(r.SortOrder))
			e.byte(byte(r.SortTarget))
			e.flags(r.KeysOnly, r.CountOnly, r.Serializable)
			e.varint(r.MinModRevision)
			e.varint(r.MaxModRevision)
			e.varint(r.MinCreateRevision)
			e.varint(r.MaxCreateRevision)
		case op.Put != nil:
			p := op.Put
			e.byte(opPut)
			e.bytes(p.Key)
			e.bytes(p.Value)
			e.varint(p.Lease)
			e.flags(p.PrevKv, p.IgnoreValue, p.IgnoreLease)
		case op.Delete != nil:
			del := op.Delete
			e.byte(opDelete)
			e.bytes(del.Key)
			e.bytes(del.RangeEnd)
			e.flags(del.PrevKv)
		case op.Txn != nil:
			e.byte(opTxn)
			encodeTxn(e, op.Txn)
		default:
			// An empty op cannot be validated away later; encode it as an
			// empty nested txn so that the log stays decodable.
			e.byte(opTxn)
			encodeTxn(e, &domain.TxnRequest{})
		}
	}
}

func decodeTxn(d *decoder, depth int) *domain.TxnRequest {
	if depth > maxTxnDepth {
		d.fail(errors.New("codec: txn nested too deep"))
		return nil
	}
	t := &domain.TxnRequest{}
	n := d.count(4)
	if n > 0 {
		t.Compare = make([]domain.Compare, n)
	}
	for i := range t.Compare {
		c := &t.Compare[i]
		c.Key = d.bytes()
		c.RangeEnd = d.bytes()
		c.Target = domain.CompareTarget(d.byte())
		c.Result = domain.CompareResult(d.byte())
		switch c.Target {
		case domain.CompareValue:
			c.Value = d.bytes()
		case domain.CompareVersion:
			c.Version = d.varint()
		case domain.CompareCreate:
			c.CreateRevision = d.varint()
		case domain.CompareMod:
			c.ModRevision = d.varint()
		case domain.CompareLease:
			c.Lease = d.varint()
		default:
			d.fail(fmt.Errorf("codec: unknown compare target %d", c.Target))
		}
	}
	t.Success = decodeOps(d, depth)
	t.Failure = decodeOps(d, depth)
	return t
}

func decodeOps(d *decoder, depth int) []domain.Op {
	n := d.count(2)
	if n == 0 {
		return nil
	}
	ops := make([]domain.Op, n)
	for i := range ops {
		switch kind := d.byte(); kind {
		case opRange:
			r := &domain.RangeRequest{}
			r.Key = d.bytes()
			r.RangeEnd = d.bytes()
			r.Limit = d.varint()
			r.Revision = d.varint()
			r.SortOrder = domain.SortOrder(d.byte())
			r.SortTarget = domain.SortTarget(d.byte())
			d.flags(&r.KeysOnly, &r.CountOnly, &r.Serializable)
			r.MinModRevision = d.varint()
			r.MaxModRevision = d.varint()
			r.MinCreateRevision = d.varint()
			r.MaxCreateRevision = d.varint()
			ops[i].Range = r
		case opPut:
			p := &domain.PutRequest{}
			p.Key = d.bytes()
			p.Value = d.bytes()
			p.Lease = d.varint()
			d.flags(&p.PrevKv, &p.IgnoreValue, &p.IgnoreLease)
			ops[i].Put = p
		case opDelete:
			del := &domain.DeleteRangeRequest{}
			del.Key = d.bytes()
			del.RangeEnd = d.bytes()
			d.flags(&del.PrevKv)
			ops[i].Delete = del
		case opTxn:
			ops[i].Txn = decodeTxn(d, depth+1)
		default:
			d.fail(fmt.Errorf("codec: unknown op kind %d", kind))
			return nil
		}
	}
	return ops
}
