package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// Cmp is a condition of a Txn on a key (or on every key of a range). Build
// it with Compare over Value, Version, CreateRevision, ModRevision or
// LeaseCmp:
//
//	client.Compare(client.ModRevision("config"), "=", 42)
//	client.Compare(client.Version("lock"), "=", 0) // the key does not exist
//	client.Compare(client.Value("state"), "!=", "done")
//
// A key that does not exist compares as version, create revision, mod
// revision and lease 0; a Value compare on it never holds, not even "!=".
type Cmp struct {
	key     string
	end     string
	hasEnd  bool
	prefix  bool
	target  string // value, version, create_revision, mod_revision, lease
	result  string // equal, not_equal, greater, less
	value   string
	number  int64
	err     error
	compare bool // set by Compare
}

// Value is the target of a compare of the key's value (a string or a
// []byte).
func Value(key string) Cmp { return Cmp{key: key, target: "value"} }

// Version is the target of a compare of the key's version (0 when it does
// not exist).
func Version(key string) Cmp { return Cmp{key: key, target: "version"} }

// CreateRevision is the target of a compare of the key's create revision.
func CreateRevision(key string) Cmp { return Cmp{key: key, target: "create_revision"} }

// ModRevision is the target of a compare of the key's mod revision.
func ModRevision(key string) Cmp { return Cmp{key: key, target: "mod_revision"} }

// LeaseCmp is the target of a compare of the key's lease (0 for none).
func LeaseCmp(key string) Cmp { return Cmp{key: key, target: "lease"} }

// Compare completes a compare: target, one of "=", "!=", ">", "<" (or
// the API's "equal", "not_equal", "greater", "less"), and the operand: a
// string or []byte for Value, an integer (or a LeaseID) for the others.
// A mistake is reported by Commit.
func Compare(cmp Cmp, result string, v any) Cmp {
	cmp.compare = true
	switch result {
	case "=", "==", "equal":
		cmp.result = "equal"
	case "!=", "not_equal":
		cmp.result = "not_equal"
	case ">", "greater":
		cmp.result = "greater"
	case "<", "less":
		cmp.result = "less"
	default:
		cmp.err = fmt.Errorf("cairn: compare %q: unknown comparison %q", cmp.key, result)
		return cmp
	}
	if cmp.target == "value" {
		switch v := v.(type) {
		case string:
			cmp.value = v
		case []byte:
			cmp.value = string(v)
		default:
			cmp.err = fmt.Errorf("cairn: compare of the value of %q with a %T, not a string", cmp.key, v)
		}
		return cmp
	}
	switch v := v.(type) {
	case int:
		cmp.number = int64(v)
	case int64:
		cmp.number = v
	case int32:
		cmp.number = int64(v)
	case uint64:
		cmp.number = int64(v)
	case LeaseID:
		cmp.number = int64(v)
	default:
		cmp.err = fmt.Errorf("cairn: compare of the %s of %q with a %T, not an integer", cmp.target, cmp.key, v)
	}
	return cmp
}

// WithRange makes the compare hold only if it holds for every key in
// [key, end).
func (cmp Cmp) WithRange(end string) Cmp {
	cmp.end, cmp.hasEnd = end, true
	return cmp
}

// WithPrefix makes the compare hold only if it holds for every key that
// starts with the key.
func (cmp Cmp) WithPrefix() Cmp {
	cmp.prefix = true
	return cmp
}

// Txn is a transaction: If the compares all hold, Then the ops run, Else
// the other ops, atomically and in one revision. Build it with
// Client.Txn, then call If, Then and Else (each at most once, in that
// order) and Commit.
type Txn struct {
	c                *Client
	ctx              context.Context
	cmps             []Cmp
	thenOps, elseOps []Op
	stage            int // 0 new, 1 after If, 2 after Then, 3 after Else
	err              error
}

// Txn starts a transaction that Commit sends with ctx.
func (c *Client) Txn(ctx context.Context) *Txn { return &Txn{c: c, ctx: ctx} }

// If adds the compares that must all hold for Then to run.
func (t *Txn) If(cmps ...Cmp) *Txn {
	t.step(1, "If")
	t.cmps = append(t.cmps, cmps...)
	return t
}

// Then adds the ops that run when every compare holds.
func (t *Txn) Then(ops ...Op) *Txn {
	t.step(2, "Then")
	t.thenOps = append(t.thenOps, ops...)
	return t
}

// Else adds the ops that run when a compare does not hold.
func (t *Txn) Else(ops ...Op) *Txn {
	t.step(3, "Else")
	t.elseOps = append(t.elseOps, ops...)
	return t
}

func (t *Txn) step(stage int, name string) {
	if t.stage >= stage && t.err == nil {
		t.err = fmt.Errorf("cairn: Txn.%s called out of order (If, Then, Else, once each)", name)
	}
	t.stage = stage
}

// TxnResponse is the answer of a transaction.
type TxnResponse struct {
	// Header.Revision is the revision the transaction created (the
	// current one when it changed nothing). Zero in nested transactions.
	Header ResponseHeader
	// Succeeded is true when every compare held and the Then ops ran.
	Succeeded bool
	// Responses has one entry per op of the branch that ran, in order.
	Responses []*ResponseOp
}

// ResponseOp is the result of one op of a transaction: exactly one field
// is set, the one of the op's kind. Results inside a transaction have a
// zero Header.
type ResponseOp struct {
	// Get is the result of an OpGet.
	Get *GetResponse
	// Put is the result of an OpPut.
	Put *PutResponse
	// Delete is the result of an OpDelete.
	Delete *DeleteResponse
	// Txn is the result of an OpTxn.
	Txn *TxnResponse
}

// Commit sends the transaction. A compare that does not hold is not an
// error: Succeeded is then false. A transaction that only reads may be
// sent again to another member after a failure; one that writes only when
// it certainly was not carried out (otherwise the error matches
// ErrIndeterminate).
func (t *Txn) Commit() (*TxnResponse, error) {
	if t.err != nil {
		return nil, t.err
	}
	body, err := json.Marshal(txnBody(t.cmps, t.thenOps, t.elseOps))
	if err != nil {
		return nil, err
	}
	if err := checkTxn(t.cmps, t.thenOps, t.elseOps); err != nil {
		return nil, err
	}
	r := &request{method: http.MethodPost, path: "/v1/txn", query: url.Values{"encoding": {"base64"}},
		body: body, ctype: "application/json", b64: true,
		idempotent: opsReadOnly(t.thenOps) && opsReadOnly(t.elseOps)}
	var out txnJSON
	if _, err := t.c.call(t.ctx, r, &out); err != nil {
		return nil, err
	}
	return out.toResponse()
}

// checkTxn returns the first mistake in the compares and ops.
func checkTxn(cmps []Cmp, thenOps, elseOps []Op) error {
	var errs []error
	for _, c := range cmps {
		if !c.compare {
			errs = append(errs, fmt.Errorf("cairn: compare %q: build it with Compare", c.key))
		}
		errs = append(errs, c.err)
	}
	for _, ops := range [][]Op{thenOps, elseOps} {
		for _, op := range ops {
			switch {
			case op.t == 0:
				errs = append(errs, errors.New("cairn: txn op: build it with OpGet, OpPut, OpDelete or OpTxn"))
			case op.ifModRev != nil:
				errs = append(errs, fmt.Errorf("cairn: txn op on %q: WithIfModRevision does not apply in a txn; use a ModRevision compare", op.key))
			case op.t == opTxn:
				errs = append(errs, checkTxn(op.cmps, op.thenOps, op.elseOps))
			}
		}
	}
	return errors.Join(errs...)
}

// The JSON of a transaction, with every key, range end and value base64
// (the request says encoding=base64).

func txnBody(cmps []Cmp, thenOps, elseOps []Op) map[string]any {
	out := map[string]any{}
	if len(cmps) > 0 {
		cs := make([]map[string]any, len(cmps))
		for i, c := range cmps {
			m := map[string]any{"key": b64(c.key), "target": c.target, "result": c.result}
			if c.hasEnd {
				m["range_end"] = b64(c.end)
			}
			if c.prefix {
				m["prefix"] = true
			}
			if c.target == "value" {
				m["value"] = b64(c.value)
			} else {
				m[c.target] = c.number
			}
			cs[i] = m
		}
		out["compare"] = cs
	}
	if len(thenOps) > 0 {
		out["success"] = opsBody(thenOps)
	}
	if len(elseOps) > 0 {
		out["failure"] = opsBody(elseOps)
	}
	return out
}

func opsBody(ops []Op) []map[string]any {
	out := make([]map[string]any, len(ops))
	for i, op := range ops {
		out[i] = opBody(op)
	}
	return out
}

func opBody(op Op) map[string]any {
	m := map[string]any{"key": b64(op.key)}
	ranges := func() {
		if op.hasEnd {
			m["range_end"] = b64(op.end)
		}
		if op.prefix {
			m["prefix"] = true
		}
		if op.fromKey {
			m["from_key"] = true
		}
	}
	setN := func(name string, v int64) {
		if v != 0 {
			m[name] = v
		}
	}
	setB := func(name string, v bool) {
		if v {
			m[name] = true
		}
	}
	switch op.t {
	case opGet:
		ranges()
		setN("limit", op.limit)
		setN("revision", op.rev)
		if op.sortOrder != "" {
			m["sort_order"] = string(op.sortOrder)
		}
		if op.sortTarget != "" {
			m["sort_target"] = string(op.sortTarget)
		}
		setB("keys_only", op.keysOnly)
		setB("count_only", op.countOnly)
		setN("min_mod_revision", op.minMod)
		setN("max_mod_revision", op.maxMod)
		setN("min_create_revision", op.minCreate)
		setN("max_create_revision", op.maxCreate)
		return map[string]any{"get": m}
	case opPut:
		m["value"] = b64(op.val)
		setN("lease", int64(op.lease))
		setB("prev_kv", op.prevKV)
		setB("ignore_value", op.ignoreValue)
		setB("ignore_lease", op.ignoreLease)
		return map[string]any{"put": m}
	case opDelete:
		ranges()
		setB("prev_kv", op.prevKV)
		return map[string]any{"delete": m}
	case opTxn:
		return map[string]any{"txn": txnBody(op.cmps, op.thenOps, op.elseOps)}
	}
	return map[string]any{}
}

type txnJSON struct {
	Header    *headerJSON    `json:"header"`
	Succeeded bool           `json:"succeeded"`
	Responses []opResultJSON `json:"responses"`
}

type opResultJSON struct {
	Get    *rangeJSON  `json:"get"`
	Put    *putJSON    `json:"put"`
	Delete *deleteJSON `json:"delete"`
	Txn    *txnJSON    `json:"txn"`
}

func (j *txnJSON) toResponse() (*TxnResponse, error) {
	out := &TxnResponse{Header: j.Header.toHeader(), Succeeded: j.Succeeded, Responses: make([]*ResponseOp, len(j.Responses))}
	for i, r := range j.Responses {
		var ro ResponseOp
		var err error
		switch {
		case r.Get != nil:
			ro.Get, err = r.Get.toResponse(true)
		case r.Put != nil:
			ro.Put, err = r.Put.toResponse(true)
		case r.Delete != nil:
			ro.Delete, err = r.Delete.toResponse(true)
		case r.Txn != nil:
			ro.Txn, err = r.Txn.toResponse()
		}
		if err != nil {
			return nil, err
		}
		out.Responses[i] = &ro
	}
	return out, nil
}
