package apply

import (
	"bytes"
	"fmt"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
)

// compare reports whether c holds for every key of its range at the latest
// revision. A missing single key compares as a key whose version, revisions
// and lease are 0; a value compare on it fails.
func compare(r ports.Reader, c *domain.Compare) bool {
	rr, err := r.Range(c.Key, c.RangeEnd, ports.RangeOptions{})
	if err != nil {
		panic(fmt.Errorf("apply: read for compare: %w", err))
	}
	if len(rr.KVs) == 0 {
		if c.Target == domain.CompareValue {
			return false
		}
		return compareKV(c, &domain.KeyValue{})
	}
	for i := range rr.KVs {
		if !compareKV(c, &rr.KVs[i]) {
			return false
		}
	}
	return true
}

func compareKV(c *domain.Compare, kv *domain.KeyValue) bool {
	var res int
	switch c.Target {
	case domain.CompareValue:
		res = bytes.Compare(kv.Value, c.Value)
	case domain.CompareVersion:
		res = cmpInt(kv.Version, c.Version)
	case domain.CompareCreate:
		res = cmpInt(kv.CreateRevision, c.CreateRevision)
	case domain.CompareMod:
		res = cmpInt(kv.ModRevision, c.ModRevision)
	case domain.CompareLease:
		res = cmpInt(kv.Lease, c.Lease)
	default:
		return false
	}
	switch c.Result {
	case domain.CompareEqual:
		return res == 0
	case domain.CompareNotEqual:
		return res != 0
	case domain.CompareGreater:
		return res > 0
	case domain.CompareLess:
		return res < 0
	}
	return false
}
