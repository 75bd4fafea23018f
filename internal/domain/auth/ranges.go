package auth

import (
	"bytes"
	"slices"

	"github.com/cairnkv/cairn/internal/domain"
)

// span is the key interval [start, end); a nil end is unbounded.
type span struct {
	start, end []byte
}

// spanOf turns a key and range end in the API's forms into a span: an empty
// end is the key alone, "\x00" every key from key on.
func spanOf(key, end []byte) span {
	switch {
	case len(end) == 0:
		return span{start: key, end: append(bytes.Clone(key), 0)}
	case len(end) == 1 && end[0] == 0:
		return span{start: key}
	}
	return span{start: key, end: end}
}

// endsBefore reports whether end a is before end b (nil is unbounded).
func endsBefore(a, b []byte) bool {
	switch {
	case a == nil:
		return false
	case b == nil:
		return true
	}
	return bytes.Compare(a, b) < 0
}

// spanSet is a union of spans, sorted by start, disjoint and not adjacent.
type spanSet []span

// newSpanSet merges the permissions' spans.
func newSpanSet(perms []domain.Permission) spanSet {
	spans := make([]span, 0, len(perms))
	for _, p := range perms {
		spans = append(spans, spanOf(p.Key, p.RangeEnd))
	}
	slices.SortFunc(spans, func(a, b span) int { return bytes.Compare(a.start, b.start) })
	var out spanSet
	for _, s := range spans {
		if n := len(out); n > 0 {
			last := &out[n-1]
			// s starts inside or right at the end of the last span.
			if last.end == nil || bytes.Compare(s.start, last.end) <= 0 {
				if endsBefore(last.end, s.end) {
					last.end = s.end
				}
				continue
			}
		}
		out = append(out, s)
	}
	return out
}

// covers reports whether the set holds every key of s. An empty span (end
// not after start) holds no key and is covered.
func (set spanSet) covers(s span) bool {
	if s.end != nil && bytes.Compare(s.end, s.start) <= 0 {
		return true
	}
	// The last span that starts at or before s.start.
	i, found := slices.BinarySearchFunc(set, s.start, func(x span, k []byte) int { return bytes.Compare(x.start, k) })
	if !found {
		i--
	}
	if i < 0 {
		return false
	}
	return !endsBefore(set[i].end, s.end)
}
