package client

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// ResponseHeader says where and when an answer comes from. It is the
// "header" object of every JSON answer of the API.
type ResponseHeader struct {
	// ClusterID is the cluster's ID.
	ClusterID uint64
	// MemberID is the ID of the member that answered.
	MemberID uint64
	// Revision is the store revision the answer reflects; for a write, the
	// revision the write created (the current one when it changed
	// nothing).
	Revision int64
	// RaftTerm is the Raft term the member was in.
	RaftTerm uint64
}

// KeyValue is a key with its value and metadata. Key and Value hold any
// bytes, exactly as written.
type KeyValue struct {
	// Key is the key.
	Key []byte
	// Value is the value; nil with WithKeysOnly, and in DELETE events.
	Value []byte
	// CreateRevision is the revision that created the key (since its last
	// deletion).
	CreateRevision int64
	// ModRevision is the revision of the key's last change.
	ModRevision int64
	// Version is the number of changes since the key was created (1 when
	// just created).
	Version int64
	// Lease is the lease the key is attached to, 0 for none.
	Lease LeaseID
}

// String renders the key-value for people, with the key and the value
// quoted.
func (kv *KeyValue) String() string {
	return fmt.Sprintf("%q=%q (create %d, mod %d, version %d, lease %d)",
		kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease)
}

// LeaseID identifies a lease. IDs are positive and below 2^53.
type LeaseID int64

// NoLease is the lease of a key attached to none.
const NoLease LeaseID = 0

// The JSON shapes of the API (api/openapi.yaml).

type headerJSON struct {
	ClusterID uint64 `json:"cluster_id"`
	MemberID  uint64 `json:"member_id"`
	Revision  int64  `json:"revision"`
	RaftTerm  uint64 `json:"raft_term"`
}

func (h *headerJSON) toHeader() ResponseHeader {
	if h == nil {
		return ResponseHeader{}
	}
	return ResponseHeader{ClusterID: h.ClusterID, MemberID: h.MemberID, Revision: h.Revision, RaftTerm: h.RaftTerm}
}

// kvJSON is a key-value as the API sends it: with ?encoding=base64 the
// plain names hold base64; otherwise they hold text, and key_base64 /
// value_base64 the bytes that are not UTF-8.
type kvJSON struct {
	Key            *string `json:"key"`
	KeyBase64      *string `json:"key_base64"`
	Value          *string `json:"value"`
	ValueBase64    *string `json:"value_base64"`
	CreateRevision int64   `json:"create_revision"`
	ModRevision    int64   `json:"mod_revision"`
	Version        int64   `json:"version"`
	Lease          int64   `json:"lease"`
}

func (j *kvJSON) toKV(b64 bool) (*KeyValue, error) {
	if j == nil {
		return nil, nil
	}
	key, err := fromText(j.Key, j.KeyBase64, b64)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	val, err := fromText(j.Value, j.ValueBase64, b64)
	if err != nil {
		return nil, fmt.Errorf("value: %w", err)
	}
	if key == nil {
		key = []byte{}
	}
	return &KeyValue{Key: key, Value: val, CreateRevision: j.CreateRevision, ModRevision: j.ModRevision,
		Version: j.Version, Lease: LeaseID(j.Lease)}, nil
}

func toKVs(js []kvJSON, b64 bool) ([]*KeyValue, error) {
	if len(js) == 0 {
		return nil, nil
	}
	out := make([]*KeyValue, len(js))
	for i := range js {
		kv, err := js[i].toKV(b64)
		if err != nil {
			return nil, err
		}
		out[i] = kv
	}
	return out, nil
}

// fromText decodes a key or value field: the _base64 name always holds
// base64, the plain name does when b64 (the request asked for
// encoding=base64). Absent fields give nil; present ones a non-nil slice.
func fromText(plain, b64field *string, b64 bool) ([]byte, error) {
	switch {
	case b64field != nil:
		return decodeBase64(*b64field)
	case plain != nil && b64:
		return decodeBase64(*plain)
	case plain != nil:
		return []byte(*plain), nil
	}
	return nil, nil
}

func decodeBase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("bad base64 from the server: %w", err)
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// b64 encodes s for a JSON body sent with encoding=base64.
func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// decodeJSON decodes an answer, ignoring fields it does not know (later
// versions of the API may add some).
func decodeJSON(body []byte, v any) error {
	return json.NewDecoder(bytes.NewReader(body)).Decode(v)
}
