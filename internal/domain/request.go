package domain

import "bytes"

// SortOrder orders the result of a range.
type SortOrder uint8

// The sort orders. SortNone returns keys in ascending key order.
const (
	SortNone SortOrder = iota
	SortAscend
	SortDescend
)

// SortTarget is the field a range is sorted by.
type SortTarget uint8

// The sort targets.
const (
	SortByKey SortTarget = iota
	SortByVersion
	SortByCreate
	SortByMod
	SortByValue
)

// RangeRequest reads a key or a range of keys.
//
// With RangeEnd empty the request reads Key alone. With RangeEnd set it
// reads [Key, RangeEnd); RangeEnd "\x00" means every key >= Key. Revision 0
// reads the latest revision. Limit 0 means no limit.
type RangeRequest struct {
	Key               []byte
	RangeEnd          []byte
	Limit             int64
	Revision          int64
	SortOrder         SortOrder
	SortTarget        SortTarget
	KeysOnly          bool
	CountOnly         bool
	Serializable      bool
	MinModRevision    int64
	MaxModRevision    int64
	MinCreateRevision int64
	MaxCreateRevision int64
}

// RangeResponse is the answer to a RangeRequest. Count is the number of keys
// in the range (before Limit); More says that Limit cut the answer short.
type RangeResponse struct {
	Kvs   []KeyValue
	Count int64
	More  bool
}

// PutRequest writes one key.
type PutRequest struct {
	Key         []byte
	Value       []byte
	Lease       int64
	PrevKv      bool
	IgnoreValue bool
	IgnoreLease bool
}

// PutResponse is the answer to a PutRequest.
type PutResponse struct {
	PrevKv *KeyValue
}

// DeleteRangeRequest deletes a key or a range of keys (range forms as in
// RangeRequest).
type DeleteRangeRequest struct {
	Key      []byte
	RangeEnd []byte
	PrevKv   bool
}

// DeleteRangeResponse is the answer to a DeleteRangeRequest.
type DeleteRangeResponse struct {
	Deleted int64
	PrevKvs []KeyValue
}

// CompareTarget is the field of a key a Compare looks at.
type CompareTarget uint8

// The compare targets.
const (
	CompareVersion CompareTarget = iota
	CompareCreate
	CompareMod
	CompareValue
	CompareLease
)

// CompareResult is the relation a Compare asks for.
type CompareResult uint8

// The compare relations.
const (
	CompareEqual CompareResult = iota
	CompareGreater
	CompareLess
	CompareNotEqual
)

// Compare is one condition of a txn. It holds when, for every key in the
// range, the target field of the key stands in Result relation to the
// matching field of the Compare. A missing key has version, create and mod
// revision and lease 0, and no value (a value compare fails).
type Compare struct {
	Key            []byte
	RangeEnd       []byte
	Target         CompareTarget
	Result         CompareResult
	Value          []byte
	Version        int64
	CreateRevision int64
	ModRevision    int64
	Lease          int64
}

// Op is one operation of a txn: exactly one field is set.
type Op struct {
	Range  *RangeRequest
	Put    *PutRequest
	Delete *DeleteRangeRequest
	Txn    *TxnRequest
}

// OpResponse is the answer to an Op: the field matching the Op is set.
type OpResponse struct {
	Range  *RangeResponse
	Put    *PutResponse
	Delete *DeleteRangeResponse
	Txn    *TxnResponse
}

// TxnRequest runs Success if every Compare holds and Failure otherwise, as
// one revision.
type TxnRequest struct {
	Compare []Compare
	Success []Op
	Failure []Op
}

// TxnResponse is the answer to a TxnRequest.
type TxnResponse struct {
	Succeeded bool
	Responses []OpResponse
}

// CompactRequest drops the history below Revision.
type CompactRequest struct {
	Revision int64
}

// PrefixEnd returns the range end of the keys that start with prefix: the
// prefix with its last byte below 0xff incremented, or "\x00" (every key)
// for an empty or all-0xff prefix.
func PrefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return []byte{0}
}
