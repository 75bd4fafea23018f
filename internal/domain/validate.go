package domain

import (
	"bytes"
	"fmt"
	"net/url"
	"unicode"
	"unicode/utf8"
)

// Validate reports why cmd must not be proposed or applied: an
// *InvalidArgumentError (errors.Is ErrInvalidArgument), or nil.
//
// It is the one place where the limits of a command are written. The
// services call the Validate of their request to answer a client early, the
// leader calls it on every command before it proposes it (from a client, a
// forwarding member, the lessor or the leader itself), and apply calls it on
// every entry before it touches the store, so that an entry that got into a
// log anyway (written by an older version) is a rejection on every member
// rather than a crash. It reads nothing but cmd: it is deterministic.
func (c Command) Validate() error {
	switch c.Type {
	case CmdTxn:
		if c.Txn == nil {
			return InvalidArgument("txn command without a txn")
		}
		return c.Txn.Validate()
	case CmdCompact:
		if c.Compact == nil {
			return InvalidArgument("compact command without a revision")
		}
		return c.Compact.Validate()
	case CmdPublishMember:
		if c.Member == nil {
			return InvalidArgument("member command without a member")
		}
		return c.Member.Member.Validate()
	case CmdLeaseGrant:
		if c.Grant == nil {
			return InvalidArgument("grant command without a lease")
		}
		if err := validateLeaseID(c.Grant.ID); err != nil {
			return err
		}
		return validateTTL("ttl", c.Grant.TTL, 1)
	case CmdLeaseRevoke:
		for _, id := range c.Revoke {
			if err := validateLeaseID(id); err != nil {
				return err
			}
		}
		return nil
	case CmdLeaseCheckpoint:
		for _, l := range c.Checkpoint {
			if err := validateLeaseID(l.ID); err != nil {
				return err
			}
			if err := validateTTL("remaining ttl", l.RemainingTTL, 0); err != nil {
				return err
			}
		}
		return nil
	case CmdAuth:
		if c.Auth == nil {
			return InvalidArgument("auth command without a request")
		}
		return c.Auth.Validate()
	case CmdAlarm:
		if c.Alarm == nil {
			return InvalidArgument("alarm command without a request")
		}
		return c.Alarm.Validate()
	}
	return InvalidArgument("unknown command type %d", c.Type)
}

func validateLeaseID(id int64) error {
	if id <= 0 || id > MaxLeaseID {
		return InvalidArgument("lease id %d is not between 1 and %d", id, int64(MaxLeaseID))
	}
	return nil
}

func validateTTL(what string, ttl, min int64) error {
	if ttl < min || ttl > MaxLeaseTTL {
		return InvalidArgument("%s %d is not between %d and %d seconds", what, ttl, min, int64(MaxLeaseTTL))
	}
	return nil
}

// Validate reports a compaction revision that is not positive.
func (r *CompactRequest) Validate() error {
	if r.Revision <= 0 {
		return InvalidArgument("revision must be > 0")
	}
	return nil
}

// Validate reports a member record that other members could not use: a
// name that is empty, longer than MaxMemberNameSize or not printable text,
// or a peer or client URL that is not http(s)://host:port. The registry is
// keyed by name, and followers forward to the leader's first client URL.
func (m Member) Validate() error {
	if err := ValidateMemberName(m.Name); err != nil {
		return err
	}
	if err := validateMemberURL("peer URL", m.PeerURL); err != nil {
		return err
	}
	for _, u := range m.ClientURLs {
		if err := validateMemberURL("client URL", u); err != nil {
			return err
		}
	}
	return nil
}

// ValidateMemberName reports a member name that is empty, longer than
// MaxMemberNameSize bytes, not UTF-8, or holds a control character.
func ValidateMemberName(name string) error {
	switch {
	case name == "":
		return InvalidArgument("member name is empty")
	case len(name) > MaxMemberNameSize:
		return InvalidArgument("member name is %d bytes, more than the limit of %d", len(name), MaxMemberNameSize)
	case !utf8.ValidString(name):
		return InvalidArgument("member name %q is not UTF-8", name)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return InvalidArgument("member name %q holds a control character", name)
		}
	}
	return nil
}

func validateMemberURL(what, s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return InvalidArgument("%s %q does not parse", what, s)
	case u.Scheme != "http" && u.Scheme != "https":
		return InvalidArgument("%s %q is not http:// or https://", what, s)
	case u.Hostname() == "" || u.Port() == "":
		return InvalidArgument("%s %q has no host:port", what, s)
	case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return InvalidArgument("%s %q has something after host:port", what, s)
	}
	return nil
}

// ValidateKeyRange reports a key or range end that a RangeRequest would
// refuse: empty, longer than MaxKeySize, or a range end not after the key.
// A watch and a long poll check their range with it.
func ValidateKeyRange(key, rangeEnd []byte) error { return validateKey(key, rangeEnd) }

func validateKey(key, rangeEnd []byte) error {
	if len(key) == 0 {
		if len(rangeEnd) == 0 {
			return InvalidArgument("key is empty")
		}
	}
	if len(key) > MaxKeySize {
		return InvalidArgument("key is %d bytes, more than the limit of %d", len(key), MaxKeySize)
	}
	if len(rangeEnd) > MaxKeySize {
		return InvalidArgument("range_end is %d bytes, more than the limit of %d", len(rangeEnd), MaxKeySize)
	}
	if len(rangeEnd) > 0 && !bytes.Equal(rangeEnd, []byte{0}) && bytes.Compare(rangeEnd, key) <= 0 {
		return InvalidArgument("range_end must be greater than key")
	}
	return nil
}

// Validate reports a malformed range: a bad key or range end, a negative
// limit, revision or revision filter, an unknown sort order or target.
func (r *RangeRequest) Validate() error {
	if err := validateKey(r.Key, r.RangeEnd); err != nil {
		return err
	}
	switch {
	case r.Limit < 0:
		return InvalidArgument("limit must be >= 0")
	case r.Revision < 0:
		return InvalidArgument("revision must be >= 0")
	case r.MinModRevision < 0, r.MaxModRevision < 0, r.MinCreateRevision < 0, r.MaxCreateRevision < 0:
		return InvalidArgument("revision filters must be >= 0")
	case r.SortOrder > SortDescend:
		return InvalidArgument("unknown sort order")
	case r.SortTarget > SortByValue:
		return InvalidArgument("unknown sort target")
	}
	return nil
}

// Validate reports a malformed put: a bad key, a lease ID out of range, a
// lease with ignore_lease, a value with ignore_value.
func (p *PutRequest) Validate() error {
	if err := validateKey(p.Key, nil); err != nil {
		return err
	}
	switch {
	case p.Lease < 0 || p.Lease > MaxLeaseID:
		return InvalidArgument("lease must be between 0 and %d", int64(MaxLeaseID))
	case p.IgnoreLease && p.Lease != 0:
		return InvalidArgument("lease and ignore_lease cannot be combined")
	case p.IgnoreValue && len(p.Value) != 0:
		return InvalidArgument("a value and ignore_value cannot be combined")
	}
	return nil
}

// Validate reports a bad key or range end.
func (d *DeleteRangeRequest) Validate() error {
	return validateKey(d.Key, d.RangeEnd)
}

// Validate reports a malformed txn: txns nested deeper than MaxTxnDepth,
// more than MaxTxnOps compares or ops in a branch, an op that is not
// exactly one of get, put, delete or txn, a malformed op or compare, or a
// branch that writes a key twice.
func (t *TxnRequest) Validate() error { return validateTxn(t, 0) }

func validateTxn(t *TxnRequest, depth int) error {
	if depth > MaxTxnDepth {
		return InvalidArgument("txns are nested more than %d deep", MaxTxnDepth)
	}
	if len(t.Compare) > MaxTxnOps || len(t.Success) > MaxTxnOps || len(t.Failure) > MaxTxnOps {
		return &InvalidArgumentError{Reason: ErrTooManyOps,
			Msg: fmt.Sprintf("a txn has at most %d compares and %d ops per branch", MaxTxnOps, MaxTxnOps)}
	}
	for i := range t.Compare {
		c := &t.Compare[i]
		if err := validateKey(c.Key, c.RangeEnd); err != nil {
			return err
		}
		if c.Target > CompareLease {
			return InvalidArgument("unknown compare target")
		}
		if c.Result > CompareNotEqual {
			return InvalidArgument("unknown compare result")
		}
	}
	for _, ops := range [][]Op{t.Success, t.Failure} {
		if err := validateOps(ops, depth); err != nil {
			return err
		}
		if err := checkOverlap(ops); err != nil {
			return err
		}
	}
	return nil
}

func validateOps(ops []Op, depth int) error {
	for i := range ops {
		op := &ops[i]
		n := 0
		var err error
		if op.Range != nil {
			n++
			err = op.Range.Validate()
		}
		if op.Put != nil {
			n++
			err = op.Put.Validate()
		}
		if op.Delete != nil {
			n++
			err = op.Delete.Validate()
		}
		if op.Txn != nil {
			n++
			err = validateTxn(op.Txn, depth+1)
		}
		if n != 1 {
			return InvalidArgument("each txn op must have exactly one of get, put, delete or txn")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkOverlap rejects a branch that writes a key twice (a put and a put, or
// a put inside a delete), as etcd does: one revision holds one change per
// key. The writes of each branch of a nested txn are checked against the
// writes of this branch (the nested branches themselves are checked when
// validateTxn recurses).
func checkOverlap(ops []Op) error {
	direct := writesOf(ops, false)
	if err := direct.conflict(direct); err != nil {
		return err
	}
	for _, op := range ops {
		if op.Txn == nil {
			continue
		}
		for _, br := range [][]Op{op.Txn.Success, op.Txn.Failure} {
			if err := direct.conflict(writesOf(br, true)); err != nil {
				return err
			}
		}
	}
	return nil
}

type interval struct{ key, end []byte }

type writeSet struct {
	puts [][]byte
	dels []interval
}

// writesOf collects the puts and deletes of ops, and with deep those of
// nested txns too.
func writesOf(ops []Op, deep bool) writeSet {
	var w writeSet
	for _, op := range ops {
		switch {
		case op.Put != nil:
			w.puts = append(w.puts, op.Put.Key)
		case op.Delete != nil:
			w.dels = append(w.dels, interval{op.Delete.Key, op.Delete.RangeEnd})
		case op.Txn != nil && deep:
			for _, br := range [][]Op{op.Txn.Success, op.Txn.Failure} {
				n := writesOf(br, true)
				w.puts = append(w.puts, n.puts...)
				w.dels = append(w.dels, n.dels...)
			}
		}
	}
	return w
}

// conflict reports a key that w puts and o puts or deletes, or that o puts
// and w deletes. With o == w it compares distinct puts only.
func (w writeSet) conflict(o writeSet) error {
	same := len(w.puts) > 0 && len(o.puts) > 0 && &w.puts[0] == &o.puts[0]
	for i, p := range w.puts {
		for j, q := range o.puts {
			if same && j <= i {
				continue
			}
			if bytes.Equal(p, q) {
				return duplicateKey("key %q is put more than once in one txn", p)
			}
		}
		for _, d := range o.dels {
			if inRange(p, d.key, d.end) {
				return duplicateKey("key %q is both put and deleted in one txn", p)
			}
		}
	}
	if !same {
		for _, q := range o.puts {
			for _, d := range w.dels {
				if inRange(q, d.key, d.end) {
					return duplicateKey("key %q is both put and deleted in one txn", q)
				}
			}
		}
	}
	return nil
}

// duplicateKey is the invalid argument of a branch that writes a key twice.
func duplicateKey(format string, key []byte) error {
	return &InvalidArgumentError{Msg: fmt.Sprintf(format, key), Reason: ErrDuplicateKey}
}

func inRange(k, key, end []byte) bool {
	switch {
	case len(end) == 0:
		return bytes.Equal(k, key)
	case bytes.Equal(end, []byte{0}):
		return bytes.Compare(k, key) >= 0
	}
	return bytes.Compare(k, key) >= 0 && bytes.Compare(k, end) < 0
}
