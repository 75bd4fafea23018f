package http

import (
	"encoding/base64"
	"unicode/utf8"

	"github.com/cairnkv/cairn/internal/domain"
)

// The JSON shapes of the API, as api/openapi.yaml describes them.

type headerJSON struct {
	ClusterID uint64 `json:"cluster_id"`
	MemberID  uint64 `json:"member_id"`
	Revision  int64  `json:"revision"`
	RaftTerm  uint64 `json:"raft_term"`
}

func toHeader(h domain.Header) headerJSON {
	return headerJSON{ClusterID: h.ClusterID, MemberID: h.MemberID, Revision: h.Revision, RaftTerm: h.RaftTerm}
}

// kvJSON is a key-value. Key and value are strings when they are valid
// UTF-8 and base64 under key_base64 / value_base64 otherwise; with
// ?encoding=base64 they are always base64 under the plain names.
type kvJSON struct {
	Key            *string `json:"key,omitempty"`
	KeyBase64      *string `json:"key_base64,omitempty"`
	Value          *string `json:"value,omitempty"`
	ValueBase64    *string `json:"value_base64,omitempty"`
	CreateRevision int64   `json:"create_revision"`
	ModRevision    int64   `json:"mod_revision"`
	Version        int64   `json:"version"`
	Lease          int64   `json:"lease"`
}

// codec renders keys and values for one request, following its encoding.
type codec struct {
	base64 bool
}

// text returns b as a plain string field, or as a base64 one.
func (c codec) text(b []byte) (plain, b64 *string) {
	if c.base64 {
		s := base64.StdEncoding.EncodeToString(b)
		return &s, nil
	}
	if utf8.Valid(b) {
		s := string(b)
		return &s, nil
	}
	s := base64.StdEncoding.EncodeToString(b)
	return nil, &s
}

func (c codec) kv(kv *domain.KeyValue, withValue bool) kvJSON {
	out := kvJSON{CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision, Version: kv.Version, Lease: kv.Lease}
	out.Key, out.KeyBase64 = c.text(kv.Key)
	if withValue {
		out.Value, out.ValueBase64 = c.text(kv.Value)
	}
	return out
}

func (c codec) kvs(kvs []domain.KeyValue, withValue bool) []kvJSON {
	out := make([]kvJSON, len(kvs))
	for i := range kvs {
		out[i] = c.kv(&kvs[i], withValue)
	}
	return out
}

func (c codec) kvPtr(kv *domain.KeyValue) *kvJSON {
	if kv == nil {
		return nil
	}
	out := c.kv(kv, true)
	return &out
}

// bytesField decodes a key or value given in a JSON body as plain (or, with
// ?encoding=base64, base64) text or as base64 under the _base64 name.
func (c codec) bytesField(name string, plain, b64 *string) ([]byte, error) {
	if plain != nil && b64 != nil {
		return nil, domain.InvalidArgument("give %s or %s_base64, not both", name, name)
	}
	switch {
	case b64 != nil:
		return decodeBase64(name+"_base64", *b64)
	case plain != nil && c.base64:
		return decodeBase64(name, *plain)
	case plain != nil:
		return []byte(*plain), nil
	}
	return nil, nil
}

func decodeBase64(field, s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, domain.InvalidArgument("%s is not valid base64: %v", field, err)
	}
	return b, nil
}

type rangeResponseJSON struct {
	Header *headerJSON `json:"header,omitempty"`
	Kvs    []kvJSON    `json:"kvs"`
	Count  int64       `json:"count"`
	More   bool        `json:"more"`
}

type putResponseJSON struct {
	Header *headerJSON `json:"header,omitempty"`
	PrevKv *kvJSON     `json:"prev_kv,omitempty"`
}

type deleteResponseJSON struct {
	Header  *headerJSON `json:"header,omitempty"`
	Deleted int64       `json:"deleted"`
	PrevKvs []kvJSON    `json:"prev_kvs,omitempty"`
}

type txnResponseJSON struct {
	Header    *headerJSON      `json:"header,omitempty"`
	Succeeded bool             `json:"succeeded"`
	Responses []opResponseJSON `json:"responses"`
}

type opResponseJSON struct {
	Get    *rangeResponseJSON  `json:"get,omitempty"`
	Put    *putResponseJSON    `json:"put,omitempty"`
	Delete *deleteResponseJSON `json:"delete,omitempty"`
	Txn    *txnResponseJSON    `json:"txn,omitempty"`
}

// preconditionJSON is the 412 answer of a conditional put or delete.
type preconditionJSON struct {
	Header headerJSON `json:"header"`
	Error  errorBody  `json:"error"`
	Kv     *kvJSON    `json:"kv,omitempty"`
}

// Txn request shapes.

type txnRequestJSON struct {
	Compare []compareJSON `json:"compare"`
	Success []opJSON      `json:"success"`
	Failure []opJSON      `json:"failure"`
}

type compareJSON struct {
	Key            *string `json:"key"`
	KeyBase64      *string `json:"key_base64"`
	RangeEnd       *string `json:"range_end"`
	RangeEndBase64 *string `json:"range_end_base64"`
	Prefix         bool    `json:"prefix"`
	Target         string  `json:"target"`
	Result         string  `json:"result"`
	Value          *string `json:"value"`
	ValueBase64    *string `json:"value_base64"`
	Version        *int64  `json:"version"`
	CreateRevision *int64  `json:"create_revision"`
	ModRevision    *int64  `json:"mod_revision"`
	Lease          *int64  `json:"lease"`
}

type opJSON struct {
	Get    *getOpJSON      `json:"get"`
	Put    *putOpJSON      `json:"put"`
	Delete *deleteOpJSON   `json:"delete"`
	Txn    *txnRequestJSON `json:"txn"`
}

type getOpJSON struct {
	Key               *string `json:"key"`
	KeyBase64         *string `json:"key_base64"`
	RangeEnd          *string `json:"range_end"`
	RangeEndBase64    *string `json:"range_end_base64"`
	Prefix            bool    `json:"prefix"`
	FromKey           bool    `json:"from_key"`
	Limit             int64   `json:"limit"`
	Revision          int64   `json:"revision"`
	SortOrder         string  `json:"sort_order"`
	SortTarget        string  `json:"sort_target"`
	KeysOnly          bool    `json:"keys_only"`
	CountOnly         bool    `json:"count_only"`
	MinModRevision    int64   `json:"min_mod_revision"`
	MaxModRevision    int64   `json:"max_mod_revision"`
	MinCreateRevision int64   `json:"min_create_revision"`
	MaxCreateRevision int64   `json:"max_create_revision"`
}

type putOpJSON struct {
	Key         *string `json:"key"`
	KeyBase64   *string `json:"key_base64"`
	Value       *string `json:"value"`
	ValueBase64 *string `json:"value_base64"`
	Lease       int64   `json:"lease"`
	PrevKv      bool    `json:"prev_kv"`
	IgnoreValue bool    `json:"ignore_value"`
	IgnoreLease bool    `json:"ignore_lease"`
}

type deleteOpJSON struct {
	Key            *string `json:"key"`
	KeyBase64      *string `json:"key_base64"`
	RangeEnd       *string `json:"range_end"`
	RangeEndBase64 *string `json:"range_end_base64"`
	Prefix         bool    `json:"prefix"`
	FromKey        bool    `json:"from_key"`
	PrevKv         bool    `json:"prev_kv"`
}

type compactRequestJSON struct {
	Revision int64 `json:"revision"`
}

type statusJSON struct {
	Header          headerJSON  `json:"header"`
	MemberID        uint64      `json:"member_id"`
	Name            string      `json:"name"`
	Leader          uint64      `json:"leader"`
	LeaderName      string      `json:"leader_name"`
	RaftTerm        uint64      `json:"raft_term"`
	RaftIndex       uint64      `json:"raft_index"`
	CommitIndex     uint64      `json:"commit_index"`
	AppliedIndex    uint64      `json:"applied_index"`
	Revision        int64       `json:"revision"`
	CompactRevision int64       `json:"compact_revision"`
	DBSize          int64       `json:"db_size"`
	DBSizeInUse     int64       `json:"db_size_in_use"`
	Keys            int64       `json:"keys"`
	IsLearner       bool        `json:"is_learner"`
	Version         string      `json:"version"`
	Alarms          []alarmJSON `json:"alarms"`
}

type memberJSON struct {
	ID         uint64   `json:"id"`
	Name       string   `json:"name"`
	PeerAddr   string   `json:"peer_addr"`
	ClientURLs []string `json:"client_urls"`
	IsLearner  bool     `json:"is_learner"`
	IsLeader   bool     `json:"is_leader"`
}

type membersJSON struct {
	Header  headerJSON   `json:"header"`
	Members []memberJSON `json:"members"`
}

type addMemberJSON struct {
	Name       string   `json:"name"`
	PeerAddr   string   `json:"peer_addr"`
	ClientURLs []string `json:"client_urls"`
	Learner    bool     `json:"learner"`
}

type memberAddedJSON struct {
	Header  headerJSON   `json:"header"`
	Member  memberJSON   `json:"member"`
	Members []memberJSON `json:"members"`
}

type hashJSON struct {
	Header          headerJSON `json:"header"`
	Hash            uint32     `json:"hash"`
	Revision        int64      `json:"revision"`
	CompactRevision int64      `json:"compact_revision"`
}

type compactResponseJSON struct {
	Header headerJSON `json:"header"`
}

type readIndexJSON struct {
	Index uint64 `json:"index"`
}
