package bolt

import (
	"bytes"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/cairnkv/cairn/internal/domain"
)

// Events implements ports.View: it scans the view's key bucket in revision
// order from (from, 0) to the end of revision to. It does not use the
// index, so it takes no lock (see DESIGN.md, "Events").
func (v *view) Events(from, to int64, key, end []byte, limit, maxBytes int) ([]domain.Event, int64, error) {
	if v.ended {
		return nil, 0, fmt.Errorf("bolt: events on an ended view")
	}
	if from < v.compactRev {
		return nil, 0, &domain.CompactedError{CompactRevision: v.compactRev}
	}
	to = min(to, v.rev)
	switch {
	case from > to:
		return nil, from, nil
	case emptyRange(key, end):
		return nil, to + 1, nil
	}
	return scanEvents(v.keys, max(from, 0), to, key, end, limit, maxBytes)
}

// Events fails with the error the view could not be opened with.
func (e errView) Events(int64, int64, []byte, []byte, int, int) ([]domain.Event, int64, error) {
	return nil, 0, e.err
}

// scanEvents collects the events of the keys in the range form (key, end)
// with a main revision in [from, to] (0 <= from <= to) with one cursor over
// keys. A record outside the range costs no allocation: only its key is
// decoded, in place. A record in the range is copied out of bbolt's memory
// (one allocation for key and value).
func scanEvents(keys *bbolt.Bucket, from, to int64, key, end []byte, limit, maxBytes int) ([]domain.Event, int64, error) {
	var evs []domain.Event
	size := 0
	last := to // the last revision to scan: lowered to the one that reaches limit
	var kb [revKeyLen]byte
	c := keys.Cursor()
	for k, data := c.Seek(appendRevKey(kb[:0], revision{main: from}, false)); k != nil; k, data = c.Next() {
		r, tomb, err := parseRevKey(k)
		if err != nil {
			return nil, 0, err
		}
		if r.main > last {
			break
		}
		rk, err := recordKey(data)
		if err != nil {
			return nil, 0, fmt.Errorf("bolt: events at %d.%d: %w", r.main, r.sub, err)
		}
		if !inRange(rk, key, end) {
			continue
		}
		kv, err := decodeKV(data, true)
		if err != nil {
			return nil, 0, fmt.Errorf("bolt: events at %d.%d: %w", r.main, r.sub, err)
		}
		ev := domain.Event{Type: domain.EventPut, Kv: kv}
		if tomb {
			ev.Type = domain.EventDelete
			ev.Kv = domain.KeyValue{Key: kv.Key, ModRevision: kv.ModRevision}
		}
		if evs == nil {
			evs = make([]domain.Event, 0, eventsCap(limit))
		}
		evs = append(evs, ev)
		size += len(ev.Kv.Key) + len(ev.Kv.Value)
		if limit > 0 && len(evs) >= limit || maxBytes > 0 && size >= maxBytes {
			last = r.main // finish this revision, then stop
		}
	}
	return evs, last + 1, nil
}

// eventsCap is the initial capacity of an Events result.
func eventsCap(limit int) int {
	if limit > 0 && limit < 16 {
		return limit
	}
	return 16
}

// inRange reports whether k is in the range form (key, end): end empty is
// key alone, end "\x00" every key >= key, otherwise [key, end).
func inRange(k, key, end []byte) bool {
	switch {
	case len(end) == 0:
		return bytes.Equal(k, key)
	case len(end) == 1 && end[0] == 0:
		return bytes.Compare(k, key) >= 0
	}
	return bytes.Compare(k, key) >= 0 && bytes.Compare(k, end) < 0
}

// emptyRange reports whether no key can be in the range form (key, end).
func emptyRange(key, end []byte) bool {
	return len(end) > 0 && !(len(end) == 1 && end[0] == 0) && bytes.Compare(key, end) >= 0
}
