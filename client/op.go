package client

import (
	"net/url"
	"strconv"
)

// opType says what an Op does.
type opType int

const (
	opGet opType = iota + 1
	opPut
	opDelete
	opTxn
)

// Op is one operation: a get, a put, a delete or a nested transaction.
// Build it with OpGet, OpPut, OpDelete or OpTxn and use it in a Txn; Get,
// Put, Delete and Watch take the same options.
type Op struct {
	t        opType
	key, val string

	// range forms
	end     string
	hasEnd  bool
	prefix  bool
	fromKey bool

	// get
	limit, rev                            int64
	sortTarget                            SortTarget
	sortOrder                             SortOrder
	keysOnly, countOnly, serializable     bool
	minMod, maxMod, minCreate, maxCreate  int64
	filterPut, filterDelete, progressNote bool

	// put, delete
	lease                    LeaseID
	prevKV                   bool
	ignoreValue, ignoreLease bool
	ifModRev                 *int64

	// txn
	cmps             []Cmp
	thenOps, elseOps []Op
}

// OpOption configures an Op, or a Get, Put, Delete or Watch call. Each
// option says which calls it applies to; the member refuses the others
// (ErrInvalidArgument) when they make no sense together.
type OpOption func(*Op)

// OpGet returns a get of key (or of a range, with WithPrefix, WithRange
// or WithFromKey) for a Txn.
func OpGet(key string, opts ...OpOption) Op { return newOp(opGet, key, "", opts) }

// OpPut returns a put of val under key for a Txn. WithIfModRevision does
// not apply in a txn: use a ModRevision compare.
func OpPut(key, val string, opts ...OpOption) Op { return newOp(opPut, key, val, opts) }

// OpDelete returns a delete of key (or of a range) for a Txn.
func OpDelete(key string, opts ...OpOption) Op { return newOp(opDelete, key, "", opts) }

// OpTxn returns a nested transaction for a Txn: when every compare of
// cmps holds, thenOps run, else elseOps. Nested transactions run in the
// revision of the outer one.
func OpTxn(cmps []Cmp, thenOps []Op, elseOps []Op) Op {
	return Op{t: opTxn, cmps: cmps, thenOps: thenOps, elseOps: elseOps}
}

func newOp(t opType, key, val string, opts []OpOption) Op {
	op := Op{t: t, key: key, val: val}
	for _, o := range opts {
		o(&op)
	}
	return op
}

// IsGet, IsPut, IsDelete and IsTxn say what the op does.
func (op Op) IsGet() bool { return op.t == opGet }

// IsPut reports whether op is a put.
func (op Op) IsPut() bool { return op.t == opPut }

// IsDelete reports whether op is a delete.
func (op Op) IsDelete() bool { return op.t == opDelete }

// IsTxn reports whether op is a nested transaction.
func (op Op) IsTxn() bool { return op.t == opTxn }

// Key returns the op's key (the start of its range).
func (op Op) Key() string { return op.key }

// readOnly reports whether op only reads, so that it may be sent again.
func (op Op) readOnly() bool {
	switch op.t {
	case opGet:
		return true
	case opTxn:
		return opsReadOnly(op.thenOps) && opsReadOnly(op.elseOps)
	}
	return false
}

func opsReadOnly(ops []Op) bool {
	for _, op := range ops {
		if !op.readOnly() {
			return false
		}
	}
	return true
}

// SortTarget is what WithSort sorts by.
type SortTarget string

// The sort targets.
const (
	SortByKey            SortTarget = "key"
	SortByVersion        SortTarget = "version"
	SortByCreateRevision SortTarget = "create"
	SortByModRevision    SortTarget = "mod"
	SortByValue          SortTarget = "value"
)

// SortOrder is the order of WithSort.
type SortOrder string

// The sort orders. SortNone leaves keys in ascending key order (or
// ascending by the sort target, when one is given).
const (
	SortNone    SortOrder = ""
	SortAscend  SortOrder = "ascend"
	SortDescend SortOrder = "descend"
)

// WithPrefix makes the key a prefix: the op covers every key that starts
// with it (an empty key: every key). Get, Delete, Watch, compares.
func WithPrefix() OpOption { return func(op *Op) { op.prefix = true } }

// WithRange makes the op cover the keys in [key, end). Get, Delete, Watch.
func WithRange(end string) OpOption {
	return func(op *Op) { op.end, op.hasEnd = end, true }
}

// WithFromKey makes the op cover every key greater than or equal to the
// key. Get, Delete, Watch.
func WithFromKey() OpOption { return func(op *Op) { op.fromKey = true } }

// WithLimit returns at most n keys (Get); GetResponse.More says whether
// some were left out.
func WithLimit(n int64) OpOption { return func(op *Op) { op.limit = n } }

// WithRev reads the store as it was at revision rev (Get), or starts a
// watch at rev (Watch). 0 means now.
func WithRev(rev int64) OpOption { return func(op *Op) { op.rev = rev } }

// WithSort sorts the keys of a Get by target, in order.
func WithSort(target SortTarget, order SortOrder) OpOption {
	return func(op *Op) { op.sortTarget, op.sortOrder = target, order }
}

// WithKeysOnly returns the keys and their metadata without the values
// (Get).
func WithKeysOnly() OpOption { return func(op *Op) { op.keysOnly = true } }

// WithCountOnly returns only the number of keys (Get).
func WithCountOnly() OpOption { return func(op *Op) { op.countOnly = true } }

// WithSerializable serves a Get (or starts a Watch) from the member's local
// state, without making sure it is up to date: faster, possibly stale, and
// available without a leader.
func WithSerializable() OpOption { return func(op *Op) { op.serializable = true } }

// WithMinModRev keeps only keys whose mod revision is at least rev (Get).
func WithMinModRev(rev int64) OpOption { return func(op *Op) { op.minMod = rev } }

// WithMaxModRev keeps only keys whose mod revision is at most rev (Get).
func WithMaxModRev(rev int64) OpOption { return func(op *Op) { op.maxMod = rev } }

// WithMinCreateRev keeps only keys whose create revision is at least rev
// (Get).
func WithMinCreateRev(rev int64) OpOption { return func(op *Op) { op.minCreate = rev } }

// WithMaxCreateRev keeps only keys whose create revision is at most rev
// (Get).
func WithMaxCreateRev(rev int64) OpOption { return func(op *Op) { op.maxCreate = rev } }

// WithLease attaches the key to a lease (Put): the key is deleted when the
// lease expires or is revoked.
func WithLease(id LeaseID) OpOption { return func(op *Op) { op.lease = id } }

// WithPrevKV returns the key-values as they were before a Put or Delete,
// or adds them to the events of a Watch.
func WithPrevKV() OpOption { return func(op *Op) { op.prevKV = true } }

// WithIgnoreValue keeps the key's current value and changes only its lease
// (Put, with an empty value). The key must exist, else ErrKeyNotFound.
func WithIgnoreValue() OpOption { return func(op *Op) { op.ignoreValue = true } }

// WithIgnoreLease keeps the key's current lease and changes only its value
// (Put). The key must exist, else ErrKeyNotFound.
func WithIgnoreLease() OpOption { return func(op *Op) { op.ignoreLease = true } }

// WithIfModRevision makes a Put or a single-key Delete a compare-and-swap:
// it happens only if the key's mod revision is rev (0: only if the key does
// not exist). Otherwise the call fails with ErrPreconditionFailed and the
// *Error's KV is the key as it is now. Not in a Txn: use a ModRevision
// compare there.
func WithIfModRevision(rev int64) OpOption {
	return func(op *Op) { r := rev; op.ifModRev = &r }
}

// WithFilterPut leaves PUT events out of a Watch.
func WithFilterPut() OpOption { return func(op *Op) { op.filterPut = true } }

// WithFilterDelete leaves DELETE events out of a Watch.
func WithFilterDelete() OpOption { return func(op *Op) { op.filterDelete = true } }

// WithProgressNotify makes an idle Watch receive progress responses
// (WatchResponse.IsProgressNotify) with the revision reached.
func WithProgressNotify() OpOption { return func(op *Op) { op.progressNote = true } }

// rangeQuery adds the range forms of op to q.
func (op *Op) rangeQuery(q url.Values) {
	if op.prefix {
		q.Set("prefix", "true")
	}
	if op.hasEnd {
		q.Set("range_end", op.end)
	}
	if op.fromKey {
		q.Set("from_key", "true")
	}
}

// getQuery is the query of GET /v1/kv/{key}.
func (op *Op) getQuery() url.Values {
	q := url.Values{"encoding": {"base64"}}
	op.rangeQuery(q)
	setInt(q, "limit", op.limit)
	setInt(q, "revision", op.rev)
	if op.sortOrder != "" {
		q.Set("sort_order", string(op.sortOrder))
	}
	if op.sortTarget != "" {
		q.Set("sort_target", string(op.sortTarget))
	}
	setBool(q, "keys_only", op.keysOnly)
	setBool(q, "count_only", op.countOnly)
	setBool(q, "serializable", op.serializable)
	setInt(q, "min_mod_revision", op.minMod)
	setInt(q, "max_mod_revision", op.maxMod)
	setInt(q, "min_create_revision", op.minCreate)
	setInt(q, "max_create_revision", op.maxCreate)
	return q
}

func setInt(q url.Values, name string, v int64) {
	if v != 0 {
		q.Set(name, strconv.FormatInt(v, 10))
	}
}

func setBool(q url.Values, name string, v bool) {
	if v {
		q.Set(name, "true")
	}
}
