package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
)

// GetResponse is the answer of Get.
type GetResponse struct {
	// Header says at which revision the keys were read.
	Header ResponseHeader
	// Kvs are the keys found, in the requested order (none with
	// WithCountOnly).
	Kvs []*KeyValue
	// Count is the number of keys in the range that pass the filters,
	// whatever the limit.
	Count int64
	// More is true when WithLimit left keys out.
	More bool
}

// PutResponse is the answer of Put.
type PutResponse struct {
	// Header.Revision is the revision the put created.
	Header ResponseHeader
	// PrevKv is the key as it was before, with WithPrevKV, when it existed.
	PrevKv *KeyValue
}

// DeleteResponse is the answer of Delete.
type DeleteResponse struct {
	// Header.Revision is the revision the delete created (the current one
	// when nothing was deleted).
	Header ResponseHeader
	// Deleted is the number of keys deleted.
	Deleted int64
	// PrevKvs are the deleted keys as they were, with WithPrevKV.
	PrevKvs []*KeyValue
}

// CompactResponse is the answer of Compact.
type CompactResponse struct {
	// Header.Revision is the store's current revision.
	Header ResponseHeader
}

type rangeJSON struct {
	Header *headerJSON `json:"header"`
	Kvs    []kvJSON    `json:"kvs"`
	Count  int64       `json:"count"`
	More   bool        `json:"more"`
}

func (j *rangeJSON) toResponse(b64 bool) (*GetResponse, error) {
	kvs, err := toKVs(j.Kvs, b64)
	if err != nil {
		return nil, err
	}
	return &GetResponse{Header: j.Header.toHeader(), Kvs: kvs, Count: j.Count, More: j.More}, nil
}

type putJSON struct {
	Header *headerJSON `json:"header"`
	PrevKv *kvJSON     `json:"prev_kv"`
}

func (j *putJSON) toResponse(b64 bool) (*PutResponse, error) {
	prev, err := j.PrevKv.toKV(b64)
	if err != nil {
		return nil, err
	}
	return &PutResponse{Header: j.Header.toHeader(), PrevKv: prev}, nil
}

type deleteJSON struct {
	Header  *headerJSON `json:"header"`
	Deleted int64       `json:"deleted"`
	PrevKvs []kvJSON    `json:"prev_kvs"`
}

func (j *deleteJSON) toResponse(b64 bool) (*DeleteResponse, error) {
	prev, err := toKVs(j.PrevKvs, b64)
	if err != nil {
		return nil, err
	}
	return &DeleteResponse{Header: j.Header.toHeader(), Deleted: j.Deleted, PrevKvs: prev}, nil
}

// Get reads key, or with WithPrefix, WithRange or WithFromKey a range of
// keys. Reads are linearizable unless WithSerializable is given.
//
// A single key that does not exist is ErrKeyNotFound (the *Error's
// Header.Revision is the revision read); a range is never an error, even
// when it is empty. Other options: WithLimit, WithRev, WithSort,
// WithKeysOnly, WithCountOnly, WithMinModRev, WithMaxModRev,
// WithMinCreateRev, WithMaxCreateRev. A compacted WithRev is ErrCompacted.
func (c *Client) Get(ctx context.Context, key string, opts ...OpOption) (*GetResponse, error) {
	op := newOp(opGet, key, "", opts)
	r := &request{method: http.MethodGet, path: keyPath("/v1/kv/", key), query: op.getQuery(),
		idempotent: true, b64: true}
	var out rangeJSON
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return out.toResponse(true)
}

// Put stores val under key, byte for byte. Options: WithLease,
// WithPrevKV, WithIgnoreValue, WithIgnoreLease, and WithIfModRevision for
// a compare-and-swap, which fails with ErrPreconditionFailed (the *Error's
// KV is the current key).
//
// A put is sent again to another member only when it certainly was not
// carried out; when that is unknown (a 504, or a connection that broke
// after the request was sent) the error matches ErrIndeterminate.
func (c *Client) Put(ctx context.Context, key, val string, opts ...OpOption) (*PutResponse, error) {
	op := newOp(opPut, key, val, opts)
	q := url.Values{"encoding": {"base64"}}
	if op.lease != 0 {
		q.Set("lease", strconv.FormatInt(int64(op.lease), 10))
	}
	setBool(q, "prev_kv", op.prevKV)
	setBool(q, "ignore_value", op.ignoreValue)
	setBool(q, "ignore_lease", op.ignoreLease)
	if op.ifModRev != nil {
		q.Set("if_mod_revision", strconv.FormatInt(*op.ifModRev, 10))
	}
	r := &request{method: http.MethodPut, path: keyPath("/v1/kv/", key), query: q,
		body: []byte(val), ctype: "application/octet-stream", b64: true}
	var out putJSON
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return out.toResponse(true)
}

// Delete deletes key, or with WithPrefix, WithRange or WithFromKey every
// key of a range, in one revision. Deleting a key that does not exist is
// not an error: Deleted is then 0. Options: WithPrevKV, and
// WithIfModRevision (single keys) as for Put.
func (c *Client) Delete(ctx context.Context, key string, opts ...OpOption) (*DeleteResponse, error) {
	op := newOp(opDelete, key, "", opts)
	q := url.Values{"encoding": {"base64"}}
	op.rangeQuery(q)
	setBool(q, "prev_kv", op.prevKV)
	if op.ifModRev != nil {
		q.Set("if_mod_revision", strconv.FormatInt(*op.ifModRev, 10))
	}
	r := &request{method: http.MethodDelete, path: keyPath("/v1/kv/", key), query: q, b64: true}
	var out deleteJSON
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return out.toResponse(true)
}

// Compact drops the history below revision rev. Reads and watches of
// older revisions then fail with ErrCompacted; compacting at or below the
// current compact revision is ErrCompacted too.
func (c *Client) Compact(ctx context.Context, rev int64) (*CompactResponse, error) {
	body, _ := json.Marshal(map[string]int64{"revision": rev})
	r := &request{method: http.MethodPost, path: "/v1/compact", body: body, ctype: "application/json"}
	var out struct {
		Header *headerJSON `json:"header"`
	}
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &CompactResponse{Header: out.Header.toHeader()}, nil
}
