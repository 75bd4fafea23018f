package app

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// This file generates the requests of TestAPIFuzz from api/openapi.yaml:
// valid ones from the schemas of each operation's parameters and body, and
// mutated ones (wrong types, huge strings, invalid UTF-8, missing fields,
// unknown fields, trailing bytes, bad percent-encoding, repeated and
// unknown parameters). Every key, range and lock or election name it
// makes is under fuzzPrefix, or decodes (with ?encoding=base64) to bytes
// starting with 0x7f: above the sentinels, which are under "!".

// fuzzPrefix is where generated keys, locks and elections live.
const fuzzPrefix = "fz/"

// fuzzOp is one operation of the document.
type fuzzOp struct {
	path, method string
	op           *openapi3.Operation
	params       openapi3.Parameters
}

// fuzzOps lists the operations of doc, sorted, without the ones that would
// legitimately destroy the sentinels or the cluster: a delete of the
// empty key's ranges (DELETE /v1/kv/). POST /v1/cluster/members is sent
// with invalid bodies only (see gen).
func fuzzOps(doc *openapi3.T) []fuzzOp {
	var ops []fuzzOp
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if path == "/v1/kv/" && method == http.MethodDelete {
				continue
			}
			params := append(openapi3.Parameters{}, item.Parameters...)
			params = append(params, op.Parameters...)
			ops = append(ops, fuzzOp{path: path, method: method, op: op, params: params})
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].path+ops[i].method < ops[j].path+ops[j].method })
	return ops
}

// fuzzReq is one generated request.
type fuzzReq struct {
	op       *fuzzOp
	method   string
	path     string // escaped
	rawPath  bool   // path is not a valid escaped path: send it as is
	query    string // raw
	body     []byte
	ctype    string
	mutation string // "" for a valid request
	blocking bool   // may wait until the client gives up (locks, campaigns, streams, long polls)
}

// target is the request URI.
func (r *fuzzReq) target() string {
	if r.query == "" {
		return r.path
	}
	return r.path + "?" + r.query
}

// fuzzGen generates requests with its random source and what it knows of
// the cluster's state.
type fuzzGen struct {
	rnd         *rand.Rand
	name        string       // the key or name of the request's path, unescaped
	rev         func() int64 // a recent revision
	leases      func() []int64
	sentinelLse int64 // never revoked, never generated
}

func (g *fuzzGen) word() string {
	const letters = "abcdefgh"
	n := 1 + g.rnd.Intn(4)
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[g.rnd.Intn(len(letters))]
	}
	return string(b)
}

func (g *fuzzGen) key() string { return fuzzPrefix + g.word() + "/" + g.word() }

// escapeKey percent-encodes a key for a path, keeping its slashes.
func escapeKey(k string) string {
	parts := strings.Split(k, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

func (g *fuzzGen) leaseID() int64 {
	ls := g.leases()
	if len(ls) > 0 && g.rnd.Intn(4) > 0 {
		return ls[g.rnd.Intn(len(ls))]
	}
	for {
		if id := 1 + g.rnd.Int63n(1<<20); id != g.sentinelLse {
			return id
		}
	}
}

// ownerKey is a lock's or a leader's key in the request's lock or
// election.
func (g *fuzzGen) ownerKey() string { return fmt.Sprintf("%s/%x", g.name, g.leaseID()) }

func (g *fuzzGen) revision() int64 { return g.rnd.Int63n(g.rev() + 3) }

// gen makes a request for op; with probability pMutate it is mutated.
func (g *fuzzGen) gen(op *fuzzOp, pMutate float64) *fuzzReq {
	r := &fuzzReq{op: op, method: op.method}
	g.name = g.key()
	path := op.path
	for _, p := range op.params {
		if p.Value == nil || p.Value.In != "path" {
			continue
		}
		var v string
		switch p.Value.Name {
		case "id":
			v = fmt.Sprint(g.leaseID())
		case "name", "role":
			if strings.HasPrefix(op.path, "/v1/auth/") {
				// A user or role name: one path segment.
				v = "fz" + g.word()
				break
			}
			fallthrough
		default: // key, name: greedy
			g.name = g.key()
			v = escapeKey(g.name)
		}
		path = strings.Replace(path, "{"+p.Value.Name+"}", v, 1)
	}
	r.path = path
	b64 := false
	var q []string
	optional := 0
	for _, p := range op.params {
		if p.Value != nil && p.Value.In == "query" && !p.Value.Required {
			optional++
		}
	}
	for _, p := range op.params {
		if p.Value == nil || p.Value.In != "query" {
			continue
		}
		// About two optional parameters a request: more mostly conflict.
		if !p.Value.Required && g.rnd.Intn(max(3, optional/2)) > 0 {
			continue
		}
		v, bare := g.queryValue(p.Value)
		if p.Value.Name == "encoding" && v == "base64" {
			b64 = true
		}
		if bare {
			q = append(q, url.QueryEscape(p.Value.Name))
		} else {
			q = append(q, url.QueryEscape(p.Value.Name)+"="+url.QueryEscape(v))
		}
	}
	r.query = strings.Join(q, "&")
	var doc any
	if rb := op.op.RequestBody; rb != nil && rb.Value != nil && (rb.Value.Required || g.rnd.Intn(2) == 0) {
		cts := make([]string, 0, len(rb.Value.Content))
		for ct := range rb.Value.Content {
			cts = append(cts, ct)
		}
		sort.Strings(cts)
		r.ctype = cts[g.rnd.Intn(len(cts))]
		if mt := rb.Value.Content[r.ctype]; strings.Contains(r.ctype, "json") && mt.Schema != nil && mt.Schema.Value != nil {
			doc = g.value(mt.Schema.Value, "", 0, b64)
		} else {
			r.body = []byte(g.word())
		}
	}
	addMember := op.path == "/v1/cluster/members" && op.method == http.MethodPost
	if addMember || g.rnd.Float64() < pMutate {
		g.mutate(r, &doc, addMember)
	}
	if doc != nil && r.body == nil {
		r.body = marshalFuzz(doc)
	}
	r.blocking = isBlocking(r)
	return r
}

// isBlocking says whether r may wait until the client gives up.
func isBlocking(r *fuzzReq) bool {
	switch {
	case strings.HasPrefix(r.op.path, "/v1/watch/"), strings.HasSuffix(r.op.path, "/observe"):
		return true
	case r.method == http.MethodPost && (strings.HasPrefix(r.op.path, "/v1/locks/") || strings.HasSuffix(r.op.path, "/campaign")):
		return true
	case strings.HasPrefix(r.op.path, "/v1/kv/") && strings.Contains("&"+r.query, "&wait"):
		return true
	}
	return false
}

// queryValue returns a value for p, and whether to give it bare (?prefix).
func (g *fuzzGen) queryValue(p *openapi3.Parameter) (string, bool) {
	var s *openapi3.Schema
	if p.Schema != nil {
		s = p.Schema.Value
	}
	switch p.Name {
	case "range_end":
		return g.key(), false
	case "key": // unlock: an owner key
		return g.ownerKey(), false
	case "timeout":
		return []string{"0", "10ms", "100ms", "300ms", "1s"}[g.rnd.Intn(5)], false
	case "lease":
		return fmt.Sprint(g.leaseID()), false
	case "filters":
		return []string{"noput", "nodelete", "noput,nodelete", ""}[g.rnd.Intn(4)], false
	}
	if s == nil {
		return g.word(), false
	}
	if len(s.Enum) > 0 {
		return fmt.Sprint(s.Enum[g.rnd.Intn(len(s.Enum))]), false
	}
	switch {
	case s.Type.Is("boolean"):
		if p.AllowEmptyValue && g.rnd.Intn(2) == 0 {
			return "", true
		}
		return []string{"true", "false", "1", "0"}[g.rnd.Intn(4)], false
	case s.Type.Is("integer"):
		if strings.Contains(p.Name, "revision") {
			return fmt.Sprint(g.revision()), false
		}
		return fmt.Sprint(g.rnd.Intn(5)), false
	}
	return g.word(), false
}

// isKeyField says whether a JSON field names a key or a range's end: its
// value is generated under fuzzPrefix and never mutated to another key.
func isKeyField(name string) bool {
	switch strings.TrimSuffix(name, "_base64") {
	case "key", "range_end", "name":
		return true
	}
	return false
}

// value generates a valid JSON value for s; name is the field's name.
func (g *fuzzGen) value(s *openapi3.Schema, name string, depth int, b64 bool) any {
	if len(s.OneOf) > 0 {
		return g.value(s.OneOf[g.rnd.Intn(len(s.OneOf))].Value, name, depth, b64)
	}
	if len(s.AnyOf) > 0 {
		return g.value(s.AnyOf[g.rnd.Intn(len(s.AnyOf))].Value, name, depth, b64)
	}
	if len(s.AllOf) > 0 {
		out := map[string]any{}
		for _, sub := range s.AllOf {
			if m, ok := g.value(sub.Value, name, depth, b64).(map[string]any); ok {
				for k, v := range m {
					out[k] = v
				}
			}
		}
		return out
	}
	if len(s.Enum) > 0 {
		return s.Enum[g.rnd.Intn(len(s.Enum))]
	}
	switch {
	case s.Type.Is("object") || len(s.Properties) > 0:
		return g.object(s, depth, b64)
	case s.Type.Is("array"):
		n := g.rnd.Intn(4)
		if depth > 2 {
			n = g.rnd.Intn(2)
		}
		out := []any{}
		for range n {
			if s.Items != nil && s.Items.Value != nil {
				out = append(out, g.value(s.Items.Value, name, depth+1, b64))
			}
		}
		return out
	case s.Type.Is("integer"), s.Type.Is("number"):
		return g.integer(s, name)
	case s.Type.Is("boolean"):
		return g.rnd.Intn(2) == 0
	}
	// A string.
	text := g.word()
	switch {
	case name == "name" || name == "name_base64":
		text = g.name // a leader's election: the path's
	case name == "key" || name == "key_base64":
		if depth > 0 && g.rnd.Intn(2) == 0 {
			text = g.ownerKey() // a leader's key, or an op's key in the path's range
		} else {
			text = g.key()
		}
	case isKeyField(name):
		text = g.key()
	}
	if strings.HasSuffix(name, "_base64") || s.Format == "byte" || (b64 && (isKeyField(name) || name == "value")) {
		return base64.StdEncoding.EncodeToString([]byte(text))
	}
	if name == "peer_addr" || strings.Contains(name, "url") {
		return "http://127.0.0.1:1"
	}
	return text
}

// object generates an object: its required properties, some optional
// ones, and exactly one when the schema asks for one (a txn's op).
func (g *fuzzGen) object(s *openapi3.Schema, depth int, b64 bool) map[string]any {
	names := make([]string, 0, len(s.Properties))
	for n := range s.Properties {
		names = append(names, n)
	}
	sort.Strings(names)
	out := map[string]any{}
	if s.MaxProps != nil && *s.MaxProps == 1 && len(names) > 0 {
		n := names[g.rnd.Intn(len(names))]
		if depth > 2 && s.Properties["get"] != nil {
			n = "get" // bound the nesting of txns
		}
		out[n] = g.value(s.Properties[n].Value, n, depth+1, b64)
		return out
	}
	required := map[string]bool{}
	for _, n := range s.Required {
		required[n] = true
	}
	_, hasLease := s.Properties["lease"]
	_, hasTTL := s.Properties["ttl"]
	leaseOrTTL := hasLease && hasTTL && g.rnd.Intn(5) > 0 // mostly one of them, as the server wants
	useTTL := g.rnd.Intn(2) == 0
	for _, n := range names {
		switch {
		case leaseOrTTL && (n == "lease" || n == "ttl"):
			if (n == "ttl") != useTTL {
				continue
			}
		case !required[n] && g.rnd.Intn(3) > 0:
			continue
		}
		// A field and its _base64 twin exclude each other.
		if twin, ok := strings.CutSuffix(n, "_base64"); ok && out[twin] != nil {
			continue
		}
		if out[n+"_base64"] != nil {
			continue
		}
		out[n] = g.value(s.Properties[n].Value, n, depth+1, b64)
	}
	return out
}

func (g *fuzzGen) integer(s *openapi3.Schema, name string) any {
	switch {
	case name == "lease" || name == "id":
		if g.rnd.Intn(3) == 0 && (s.Min == nil || *s.Min <= 0) {
			return 0
		}
		return g.leaseID()
	case name == "ttl":
		return 1 + g.rnd.Intn(120)
	case strings.Contains(name, "revision") || name == "version" || name == "rev":
		return g.revision()
	}
	lo := 0.0
	if s.Min != nil {
		lo = *s.Min
	}
	return int64(lo) + int64(g.rnd.Intn(5))
}

// marshalFuzz marshals v, writing the marker strings of invalid UTF-8 as
// raw bytes.
func marshalFuzz(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return []byte(strings.ReplaceAll(string(b), invalidUTF8Marker, "\xff\xfe"))
}

const invalidUTF8Marker = "INVALID-UTF8"

// fuzzSlot is a place in a generated JSON document.
type fuzzSlot struct {
	name string // the field's name ("" in an array)
	val  any
	set  func(any)
	del  func() // nil in an array
}

// slots lists every place under v.
func slots(v any, out []fuzzSlot) []fuzzSlot {
	switch v := v.(type) {
	case map[string]any:
		names := make([]string, 0, len(v))
		for n := range v {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			out = append(out, fuzzSlot{name: n, val: v[n], set: func(x any) { v[n] = x }, del: func() { delete(v, n) }})
			out = slots(v[n], out)
		}
	case []any:
		for i := range v {
			out = append(out, fuzzSlot{val: v[i], set: func(x any) { v[i] = x }})
			out = slots(v[i], out)
		}
	}
	return out
}

// objects lists the objects under v, v included.
func objects(v any, out []map[string]any) []map[string]any {
	switch v := v.(type) {
	case map[string]any:
		out = append(out, v)
		for _, x := range v {
			out = objects(x, out)
		}
	case []any:
		for _, x := range v {
			out = objects(x, out)
		}
	}
	return out
}

// mutate makes r invalid in one way, and names it in r.mutation. An
// add-member request gets a body that no server may accept, so that the
// cluster's membership does not change.
func (g *fuzzGen) mutate(r *fuzzReq, doc *any, addMember bool) {
	kinds := []string{"unknown_param", "repeated_param", "bad_param_value", "bad_query_escape", "empty_param",
		"bad_path_escape", "huge_key", "invalid_utf8_key"}
	if *doc != nil {
		kinds = append(kinds, "wrong_type", "huge_string", "invalid_utf8", "missing_field", "unknown_field",
			"trailing", "truncated", "empty_body", "not_an_object", "wrong_content_type")
	}
	if addMember {
		if *doc == nil {
			*doc = map[string]any{}
		}
		kinds = []string{"no_name", "no_peer_addr", "learner", "unknown_field", "trailing_object", "truncated", "empty_body", "name_type"}
	}
	kind := kinds[g.rnd.Intn(len(kinds))]
	r.mutation = kind
	var params []*openapi3.Parameter
	for _, p := range r.op.params {
		if p.Value != nil && p.Value.In == "query" {
			params = append(params, p.Value)
		}
	}
	anyParam := func() *openapi3.Parameter {
		if len(params) == 0 {
			return &openapi3.Parameter{Name: "zz"}
		}
		return params[g.rnd.Intn(len(params))]
	}
	addQuery := func(s string) {
		if r.query != "" {
			r.query += "&"
		}
		r.query += s
	}
	greedy := (strings.Contains(r.op.path, "{key}") || strings.Contains(r.op.path, "{name}")) && !strings.HasPrefix(r.op.path, "/v1/auth/")
	var ss []fuzzSlot
	if *doc != nil {
		ss = slots(*doc, nil)
	}
	pickSlot := func(keys bool, ok func(any) bool) *fuzzSlot {
		var c []int
		for i, s := range ss {
			if (keys || !isKeyField(s.name)) && ok(s.val) {
				c = append(c, i)
			}
		}
		if len(c) == 0 {
			return nil
		}
		return &ss[c[g.rnd.Intn(len(c))]]
	}
	isString := func(v any) bool { _, ok := v.(string); return ok }
	anyVal := func(any) bool { return true }
	switch kind {
	case "unknown_param":
		addQuery("zz_unknown=1")
	case "repeated_param":
		p := anyParam()
		addQuery(url.QueryEscape(p.Name) + "=1&" + url.QueryEscape(p.Name) + "=1")
	case "bad_param_value":
		p := anyParam()
		if p.Name == "range_end" {
			addQuery("range_end=" + url.QueryEscape(fuzzPrefix+"\xff\xfe"))
		} else {
			addQuery(url.QueryEscape(p.Name) + "=%C3%28x" + fmt.Sprint(g.rnd.Intn(10)))
		}
	case "bad_query_escape":
		addQuery(anyParam().Name + "=%zz")
	case "empty_param":
		if p := anyParam(); p.Name != "range_end" {
			addQuery(url.QueryEscape(p.Name) + "=")
		} else {
			addQuery("encoding=")
		}
	case "bad_path_escape":
		r.path += "%z" + []string{"z", "", "%"}[g.rnd.Intn(3)]
		r.rawPath = true
	case "huge_key":
		if greedy {
			r.path = strings.SplitN(r.op.path, "{", 2)[0] + escapeKey(fuzzPrefix+strings.Repeat("x", 8200+g.rnd.Intn(2000)))
			if strings.HasPrefix(r.op.path, "/v1/elections/{name}/") {
				r.path += r.op.path[strings.LastIndex(r.op.path, "/"):]
			}
		} else {
			addQuery("zz=" + strings.Repeat("x", 10000))
		}
	case "invalid_utf8_key":
		if greedy {
			r.path = strings.Replace(r.path, "/"+fuzzPrefix[:2]+"/", "/"+fuzzPrefix[:2]+"/%FF%FE", 1)
		} else {
			addQuery("zz=%FF")
		}
	case "wrong_type":
		if s := pickSlot(true, anyVal); s != nil {
			switch s.val.(type) {
			case string:
				s.set(g.rnd.Intn(100))
			case bool:
				s.set("true")
			case []any:
				s.set(map[string]any{})
			case map[string]any:
				s.set([]any{s.val})
			default:
				s.set(fmt.Sprint(s.val))
			}
		}
	case "huge_string":
		n := 100000
		if g.rnd.Intn(5) == 0 {
			n = maxBody + 1
		}
		if s := pickSlot(false, isString); s != nil {
			s.set(strings.Repeat("y", n))
		} else {
			r.body = []byte(`{"zz":"` + strings.Repeat("y", n) + `"}`)
		}
	case "invalid_utf8":
		if s := pickSlot(true, isString); s != nil {
			if isKeyField(s.name) {
				s.set(fuzzPrefix + invalidUTF8Marker)
			} else {
				s.set(invalidUTF8Marker)
			}
		}
	case "missing_field":
		if s := pickSlot(true, anyVal); s != nil && s.del != nil {
			s.del()
		}
	case "unknown_field":
		objs := objects(*doc, nil)
		if len(objs) > 0 {
			objs[g.rnd.Intn(len(objs))]["zz_unknown"] = 1
		}
	case "trailing":
		r.body = append(marshalFuzz(*doc), []string{" {}", "x", "}", "]", "\x00", " null"}[g.rnd.Intn(6)]...)
	case "trailing_object":
		r.body = append(marshalFuzz(*doc), " {}"...)
	case "truncated":
		b := marshalFuzz(*doc)
		r.body = b[:len(b)/2]
	case "empty_body":
		r.body = []byte{}
	case "not_an_object":
		r.body = []byte([]string{"null", "[]", "1", `"x"`, "true"}[g.rnd.Intn(5)])
	case "wrong_content_type":
		r.ctype = "text/plain"
	case "no_name":
		m, _ := (*doc).(map[string]any)
		delete(m, "name")
		m["peer_addr"] = "http://127.0.0.1:1"
	case "no_peer_addr":
		m, _ := (*doc).(map[string]any)
		delete(m, "peer_addr")
		m["name"] = g.word()
	case "learner":
		m, _ := (*doc).(map[string]any)
		m["name"], m["peer_addr"], m["learner"] = g.word(), "http://127.0.0.1:1", true
	case "name_type":
		m, _ := (*doc).(map[string]any)
		m["name"], m["peer_addr"] = 7, "http://127.0.0.1:1"
	}
	if addMember && kind == "unknown_field" {
		m, _ := (*doc).(map[string]any)
		m["zz_unknown"] = 1
	}
}
