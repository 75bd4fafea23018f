package http

import (
	"encoding/base64"
	"strconv"
	"unicode/utf8"

	"github.com/cairnkv/cairn/internal/domain"
)

// The JSON of a watch stream's messages is written by hand: exactly what
// encoding/json writes for watchMessageJSON and progressJSON (the tests
// compare the two), without its reflection, whose nested encoders take
// about 2 KiB of stack. A stream's goroutine keeps the deepest stack it
// ever needed (see middleware), so encoding events with encoding/json
// would double the stack of every stream that ever got one.

// appendWatchMessage appends the JSON of a watch message: the header at
// rev and evs.
func (c codec) appendWatchMessage(dst []byte, h headerJSON, evs []domain.Event) []byte {
	dst = append(dst, `{"header":`...)
	dst = appendHeader(dst, h)
	dst = append(dst, `,"events":[`...)
	for i := range evs {
		ev := &evs[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"type":"`...)
		dst = append(dst, ev.Type.String()...) // PUT, DELETE: nothing to escape
		dst = append(dst, `","kv":`...)
		dst = c.appendKV(dst, &ev.Kv, ev.Type == domain.EventPut)
		if ev.PrevKv != nil {
			dst = append(dst, `,"prev_kv":`...)
			dst = c.appendKV(dst, ev.PrevKv, true)
		}
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

// appendProgress appends the JSON of a progress event (progressJSON).
func appendProgress(dst []byte, h headerJSON) []byte {
	dst = append(dst, `{"header":`...)
	dst = appendHeader(dst, h)
	return append(dst, '}')
}

func appendHeader(dst []byte, h headerJSON) []byte {
	dst = append(dst, `{"cluster_id":`...)
	dst = strconv.AppendUint(dst, h.ClusterID, 10)
	dst = append(dst, `,"member_id":`...)
	dst = strconv.AppendUint(dst, h.MemberID, 10)
	dst = append(dst, `,"revision":`...)
	dst = strconv.AppendInt(dst, h.Revision, 10)
	dst = append(dst, `,"raft_term":`...)
	dst = strconv.AppendUint(dst, h.RaftTerm, 10)
	return append(dst, '}')
}

// appendKV appends kv as codec.kv renders it (kvJSON).
func (c codec) appendKV(dst []byte, kv *domain.KeyValue, withValue bool) []byte {
	dst = c.appendText(dst, `{"key`, kv.Key)
	if withValue {
		dst = c.appendText(dst, `,"value`, kv.Value)
	}
	dst = append(dst, `,"create_revision":`...)
	dst = strconv.AppendInt(dst, kv.CreateRevision, 10)
	dst = append(dst, `,"mod_revision":`...)
	dst = strconv.AppendInt(dst, kv.ModRevision, 10)
	dst = append(dst, `,"version":`...)
	dst = strconv.AppendInt(dst, kv.Version, 10)
	dst = append(dst, `,"lease":`...)
	dst = strconv.AppendInt(dst, kv.Lease, 10)
	return append(dst, '}')
}

// appendText appends the field that name opens (`{"key`, `,"value`) as
// codec.text chooses: b as a string, or base64 under the plain name or
// under name_base64.
func (c codec) appendText(dst []byte, name string, b []byte) []byte {
	dst = append(dst, name...)
	switch {
	case !c.base64 && utf8.Valid(b):
		dst = append(dst, `":`...)
		return appendJSONString(dst, b)
	case !c.base64:
		dst = append(dst, "_base64"...)
	}
	// Base64 has no character that JSON escapes.
	dst = append(dst, `":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

// appendJSONString appends s as a JSON string the way encoding/json
// writes a string: with <, > and & escaped for HTML, U+2028 and U+2029
// escaped, and invalid UTF-8 replaced by U+FFFD.
func appendJSONString(dst []byte, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= ' ' && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
