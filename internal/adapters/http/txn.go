package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/auth"
)

// decodeJSON decodes a request body strictly: it is every handler's JSON
// decoder. Unknown fields, trailing data (even a stray ] or }), type
// mismatches and text that is not valid UTF-8 are invalid arguments that
// say where. encoding/json would store invalid UTF-8 with its bytes
// replaced by U+FFFD: a key or value changed without a word; such bytes go
// in key_base64 / value_base64 instead.
func decodeJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return bodyError(err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return domain.InvalidArgument("request body is empty; a JSON object is expected")
	}
	if at := invalidUTF8(body); at >= 0 {
		return domain.InvalidArgument("the JSON body is not valid UTF-8 at byte %d: "+
			"send a key or value that is not UTF-8 base64-encoded, as key_base64 / value_base64 (or with ?encoding=base64)", at)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return domain.InvalidArgument("malformed JSON at byte %d: %v", se.Offset, err)
		case errors.As(err, &te):
			return domain.InvalidArgument("field %q must be %s, not a JSON %s", te.Field, te.Type, te.Value)
		}
		return domain.InvalidArgument("bad JSON body: %v", err)
	}
	if rest := bytes.TrimLeft(body[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return domain.InvalidArgument("unexpected data after the JSON object at byte %d", int64(len(body)-len(rest)))
	}
	return nil
}

// invalidUTF8 returns the offset of the first text in body that is not
// valid UTF-8, or -1: a byte sequence that is not UTF-8, or a \u escape of
// half a surrogate pair (both of which encoding/json turns into U+FFFD).
func invalidUTF8(body []byte) int {
	if !utf8.Valid(body) {
		for i := 0; i < len(body); {
			r, n := utf8.DecodeRune(body[i:])
			if r == utf8.RuneError && n <= 1 {
				return i
			}
			i += n
		}
	}
	inString := false
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case c == '"':
			inString = !inString
		case c == '\\' && inString:
			if i+1 < len(body) && body[i+1] == 'u' {
				switch r := hex4(body, i+2); {
				case r >= 0xd800 && r < 0xdc00:
					// A high surrogate must be followed by a low one.
					if lo := hex4(body, i+8); i+7 >= len(body) || body[i+6] != '\\' || body[i+7] != 'u' || lo < 0xdc00 || lo > 0xdfff {
						return i
					}
					i += 11
					continue
				case r >= 0xdc00 && r <= 0xdfff:
					return i
				}
			}
			i++ // skip the escaped character
		}
	}
	return -1
}

// hex4 returns the value of the four hex digits at body[i:], or -1.
func hex4(body []byte, i int) int {
	if i < 0 || i+4 > len(body) {
		return -1
	}
	v, err := strconv.ParseUint(string(body[i:i+4]), 16, 16)
	if err != nil {
		return -1
	}
	return int(v)
}

func (s *Server) handleTxn(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r, "encoding")
	c := q.codec()
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	var in txnRequestJSON
	if err := decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	req, err := c.txnRequest(&in, "")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !s.allow(w, r, auth.TxnNeeds(&req)...) {
		return
	}
	resp, rev, err := s.kv.Txn(r.Context(), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := c.txnResponse(&resp, req)
	h := s.header(rev)
	out.Header = &h
	s.writeJSON(w, http.StatusOK, rev, out)
}

var compareTargets = map[string]domain.CompareTarget{
	"value": domain.CompareValue, "version": domain.CompareVersion, "create_revision": domain.CompareCreate,
	"mod_revision": domain.CompareMod, "lease": domain.CompareLease,
}

var compareResults = map[string]domain.CompareResult{
	"equal": domain.CompareEqual, "not_equal": domain.CompareNotEqual,
	"greater": domain.CompareGreater, "less": domain.CompareLess,
}

// keyRange decodes a key and its range forms from a JSON op.
func (c codec) keyRange(at string, key, keyB64, end, endB64 *string, prefix, fromKey bool) ([]byte, []byte, error) {
	k, err := c.bytesField("key", key, keyB64)
	if err != nil {
		return nil, nil, wrapAt(at, err)
	}
	if key == nil && keyB64 == nil {
		return nil, nil, domain.InvalidArgument("%skey is missing", at)
	}
	e, err := c.bytesField("range_end", end, endB64)
	if err != nil {
		return nil, nil, wrapAt(at, err)
	}
	n := 0
	if e != nil || end != nil || endB64 != nil {
		n++
		if len(e) == 0 {
			return nil, nil, domain.InvalidArgument("%srange_end must not be empty", at)
		}
	}
	if prefix {
		n++
		e = domain.PrefixEnd(k)
	}
	if fromKey {
		n++
		e = []byte{0}
	}
	if n > 1 {
		return nil, nil, domain.InvalidArgument("%sprefix, from_key and range_end exclude each other", at)
	}
	return k, e, nil
}

func wrapAt(at string, err error) error {
	if at == "" {
		return err
	}
	return domain.InvalidArgument("%s%v", at, err)
}

func (c codec) txnRequest(in *txnRequestJSON, at string) (domain.TxnRequest, error) {
	var out domain.TxnRequest
	for i := range in.Compare {
		cmp, err := c.compare(&in.Compare[i], at+"compare["+itoa(i)+"]: ")
		if err != nil {
			return out, err
		}
		out.Compare = append(out.Compare, cmp)
	}
	var err error
	if out.Success, err = c.ops(in.Success, at+"success"); err != nil {
		return out, err
	}
	if out.Failure, err = c.ops(in.Failure, at+"failure"); err != nil {
		return out, err
	}
	return out, nil
}

func (c codec) compare(in *compareJSON, at string) (domain.Compare, error) {
	var out domain.Compare
	var err error
	out.Key, out.RangeEnd, err = c.keyRange(at, in.Key, in.KeyBase64, in.RangeEnd, in.RangeEndBase64, in.Prefix, false)
	if err != nil {
		return out, err
	}
	var ok bool
	if out.Target, ok = compareTargets[in.Target]; !ok {
		return out, domain.InvalidArgument("%starget must be value, version, create_revision, mod_revision or lease, not %q", at, in.Target)
	}
	if out.Result, ok = compareResults[in.Result]; !ok {
		return out, domain.InvalidArgument("%sresult must be equal, not_equal, greater or less, not %q", at, in.Result)
	}
	missing := func() error {
		return domain.InvalidArgument("%sa %s compare needs the field %q", at, in.Target, in.Target)
	}
	switch out.Target {
	case domain.CompareValue:
		if in.Value == nil && in.ValueBase64 == nil {
			return out, missing()
		}
		if out.Value, err = c.bytesField("value", in.Value, in.ValueBase64); err != nil {
			return out, wrapAt(at, err)
		}
	case domain.CompareVersion:
		if in.Version == nil {
			return out, missing()
		}
		out.Version = *in.Version
	case domain.CompareCreate:
		if in.CreateRevision == nil {
			return out, missing()
		}
		out.CreateRevision = *in.CreateRevision
	case domain.CompareMod:
		if in.ModRevision == nil {
			return out, missing()
		}
		out.ModRevision = *in.ModRevision
	case domain.CompareLease:
		if in.Lease == nil {
			return out, missing()
		}
		out.Lease = *in.Lease
	}
	return out, nil
}

func (c codec) ops(in []opJSON, at string) ([]domain.Op, error) {
	var out []domain.Op
	for i := range in {
		op, err := c.op(&in[i], at+"["+itoa(i)+"]: ")
		if err != nil {
			return nil, err
		}
		out = append(out, op)
	}
	return out, nil
}

func (c codec) op(in *opJSON, at string) (domain.Op, error) {
	var out domain.Op
	n := 0
	if g := in.Get; g != nil {
		n++
		key, end, err := c.keyRange(at, g.Key, g.KeyBase64, g.RangeEnd, g.RangeEndBase64, g.Prefix, g.FromKey)
		if err != nil {
			return out, err
		}
		// In a JSON get, an absent (or empty) sort_order or sort_target is
		// the default.
		order, ok := sortOrders[g.SortOrder]
		if !ok && g.SortOrder != "" {
			return out, domain.InvalidArgument("%ssort_order must be ascend or descend, not %q", at, g.SortOrder)
		}
		target, ok := sortTargets[g.SortTarget]
		if !ok && g.SortTarget != "" {
			return out, domain.InvalidArgument("%ssort_target must be key, version, create, mod or value, not %q", at, g.SortTarget)
		}
		out.Range = &domain.RangeRequest{
			Key: key, RangeEnd: end, Limit: g.Limit, Revision: g.Revision, SortOrder: order, SortTarget: target,
			KeysOnly: g.KeysOnly, CountOnly: g.CountOnly,
			MinModRevision: g.MinModRevision, MaxModRevision: g.MaxModRevision,
			MinCreateRevision: g.MinCreateRevision, MaxCreateRevision: g.MaxCreateRevision,
		}
	}
	if p := in.Put; p != nil {
		n++
		key, err := c.bytesField("key", p.Key, p.KeyBase64)
		if err != nil {
			return out, wrapAt(at, err)
		}
		if p.Key == nil && p.KeyBase64 == nil {
			return out, domain.InvalidArgument("%skey is missing", at)
		}
		value, err := c.bytesField("value", p.Value, p.ValueBase64)
		if err != nil {
			return out, wrapAt(at, err)
		}
		out.Put = &domain.PutRequest{Key: key, Value: value, Lease: p.Lease, PrevKv: p.PrevKv, IgnoreValue: p.IgnoreValue, IgnoreLease: p.IgnoreLease}
	}
	if d := in.Delete; d != nil {
		n++
		key, end, err := c.keyRange(at, d.Key, d.KeyBase64, d.RangeEnd, d.RangeEndBase64, d.Prefix, d.FromKey)
		if err != nil {
			return out, err
		}
		out.Delete = &domain.DeleteRangeRequest{Key: key, RangeEnd: end, PrevKv: d.PrevKv}
	}
	if t := in.Txn; t != nil {
		n++
		nested, err := c.txnRequest(t, at+"txn.")
		if err != nil {
			return out, err
		}
		out.Txn = &nested
	}
	if n != 1 {
		return out, domain.InvalidArgument("%san op must have exactly one of get, put, delete or txn", at)
	}
	return out, nil
}

// txnResponse renders resp; req is the request, for keys_only.
func (c codec) txnResponse(resp *domain.TxnResponse, req domain.TxnRequest) txnResponseJSON {
	ops := req.Failure
	if resp.Succeeded {
		ops = req.Success
	}
	out := txnResponseJSON{Succeeded: resp.Succeeded, Responses: make([]opResponseJSON, len(resp.Responses))}
	for i, r := range resp.Responses {
		var op domain.Op
		if i < len(ops) {
			op = ops[i]
		}
		switch {
		case r.Range != nil:
			withValue := op.Range == nil || !op.Range.KeysOnly
			out.Responses[i].Get = &rangeResponseJSON{Kvs: c.kvs(r.Range.Kvs, withValue), Count: r.Range.Count, More: r.Range.More}
		case r.Put != nil:
			out.Responses[i].Put = &putResponseJSON{PrevKv: c.kvPtr(r.Put.PrevKv)}
		case r.Delete != nil:
			d := &deleteResponseJSON{Deleted: r.Delete.Deleted}
			if len(r.Delete.PrevKvs) > 0 {
				d.PrevKvs = c.kvs(r.Delete.PrevKvs, true)
			}
			out.Responses[i].Delete = d
		case r.Txn != nil:
			var nested domain.TxnRequest
			if op.Txn != nil {
				nested = *op.Txn
			}
			t := c.txnResponse(r.Txn, nested)
			out.Responses[i].Txn = &t
		}
	}
	return out
}

func itoa(i int) string {
	return strconv.Itoa(i)
}
