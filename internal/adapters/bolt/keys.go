package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cairnkv/cairn/internal/domain"
)

// revision identifies one version of a key: main is the store revision and
// sub the position of the change within it.
type revision struct {
	main int64
	sub  int64
}

// less orders revisions by main, then sub revision.
func (a revision) less(b revision) bool {
	if a.main != b.main {
		return a.main < b.main
	}
	return a.sub < b.sub
}

const (
	// revKeyLen is the length of a revision key without its tombstone mark:
	// 8 bytes main, '_', 8 bytes sub, all big-endian so that bbolt orders
	// records by revision.
	revKeyLen = 17
	// tombMark ends the revision key of a tombstone.
	tombMark = 't'
)

var errCorrupt = errors.New("bolt: corrupt record")

// appendRevKey appends the bbolt key of revision r to dst.
func appendRevKey(dst []byte, r revision, tomb bool) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.main))
	dst = append(dst, '_')
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.sub))
	if tomb {
		dst = append(dst, tombMark)
	}
	return dst
}

// parseRevKey decodes a key written by appendRevKey.
func parseRevKey(k []byte) (r revision, tomb bool, err error) {
	switch {
	case len(k) == revKeyLen+1 && k[revKeyLen] == tombMark:
		tomb = true
	case len(k) != revKeyLen:
		return r, false, fmt.Errorf("%w: revision key %x", errCorrupt, k)
	}
	r.main = int64(binary.BigEndian.Uint64(k))
	r.sub = int64(binary.BigEndian.Uint64(k[9:]))
	return r, tomb, nil
}

// kvSizeMax bounds the encoded size of kv.
func kvSizeMax(key, value []byte) int {
	return 5*binary.MaxVarintLen64 + len(key) + len(value)
}

// appendKV appends the record encoding of kv to dst:
//
//	uvarint len(key) | key | varint create | varint mod | varint version |
//	varint lease | value (the rest of the record)
func appendKV(dst []byte, kv *domain.KeyValue) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(kv.Key)))
	dst = append(dst, kv.Key...)
	dst = binary.AppendVarint(dst, kv.CreateRevision)
	dst = binary.AppendVarint(dst, kv.ModRevision)
	dst = binary.AppendVarint(dst, kv.Version)
	dst = binary.AppendVarint(dst, kv.Lease)
	return append(dst, kv.Value...)
}

// recordKey returns the key of a record written by appendKV without
// decoding the rest; it aliases data.
func recordKey(data []byte) ([]byte, error) {
	n, w := binary.Uvarint(data)
	if w <= 0 || uint64(len(data)-w) < n {
		return nil, errCorrupt
	}
	return data[w : w+int(n)], nil
}

// decodeKV decodes a record written by appendKV. With clone false, Key and
// Value alias data; with clone true they share one fresh allocation.
func decodeKV(data []byte, clone bool) (domain.KeyValue, error) {
	var kv domain.KeyValue
	n, w := binary.Uvarint(data)
	if w <= 0 || uint64(len(data)-w) < n {
		return kv, errCorrupt
	}
	p := w
	key := data[p : p+int(n)]
	p += int(n)
	var fields [4]int64
	for i := range fields {
		v, w := binary.Varint(data[p:])
		if w <= 0 {
			return kv, errCorrupt
		}
		fields[i] = v
		p += w
	}
	value := data[p:]
	if clone {
		buf := make([]byte, len(key)+len(value))
		copy(buf, key)
		copy(buf[len(key):], value)
		key, value = buf[:len(key):len(key)], buf[len(key):]
	}
	kv.Key, kv.Value = key, value
	kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease = fields[0], fields[1], fields[2], fields[3]
	return kv, nil
}
