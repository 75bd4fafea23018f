package http

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/cairnkv/cairn/internal/domain"
)

// query reads and checks the query parameters of one request. Every
// parameter must be known to the handler, and every value must parse: a
// mistake is a 400 that names the parameter, never a silent default.
type query struct {
	values url.Values
	known  map[string]bool
	err    error
}

func newQuery(r *http.Request, known ...string) *query {
	q := &query{known: map[string]bool{}}
	q.values, q.err = parseQuery(r)
	for _, k := range known {
		q.known[k] = true
	}
	for k, v := range q.values {
		if !q.known[k] && q.err == nil {
			q.err = domain.InvalidArgument("unknown query parameter %q", k)
		}
		if len(v) > 1 && q.err == nil {
			q.err = domain.InvalidArgument("query parameter %q is given more than once", k)
		}
	}
	return q
}

// parseQuery parses the query string of r; one that does not parse is an
// invalid argument (never a part silently dropped).
func parseQuery(r *http.Request) (url.Values, error) {
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return vals, domain.InvalidArgument("query string does not parse: %v", err)
	}
	return vals, nil
}

func (q *query) has(name string) bool {
	_, ok := q.values[name]
	return ok
}

func (q *query) str(name string) string { return q.values.Get(name) }

// bool accepts true/false/1/0, and a bare name (?raw) as true.
func (q *query) bool(name string) bool {
	if !q.has(name) {
		return false
	}
	switch strings.ToLower(q.values.Get(name)) {
	case "", "true", "1":
		return true
	case "false", "0":
		return false
	}
	q.fail("%s must be true or false, not %q", name, q.values.Get(name))
	return false
}

// int parses a non-negative integer (0 when absent).
func (q *query) int(name string) int64 {
	if !q.has(name) {
		return 0
	}
	v, err := strconv.ParseInt(q.values.Get(name), 10, 64)
	if err != nil || v < 0 {
		q.fail("%s must be a non-negative integer, not %q", name, q.values.Get(name))
		return 0
	}
	return v
}

// optInt returns nil when the parameter is absent.
func (q *query) optInt(name string) *int64 {
	if !q.has(name) {
		return nil
	}
	v := q.int(name)
	return &v
}

func (q *query) fail(format string, args ...any) {
	if q.err == nil {
		q.err = domain.InvalidArgument(format, args...)
	}
}

// codec returns the codec the request asks for with ?encoding= (absent:
// UTF-8 strings; empty: a mistake, like any other value it does not know).
func (q *query) codec() codec {
	if !q.has("encoding") {
		return codec{}
	}
	switch q.str("encoding") {
	case "utf8", "utf-8":
		return codec{}
	case "base64":
		return codec{base64: true}
	}
	q.fail("encoding must be base64, not %q", q.str("encoding"))
	return codec{}
}

// rangeEnd works out the end of the range from prefix, from_key and
// range_end; nil means a single key.
func (q *query) rangeEnd(key []byte) []byte {
	n := 0
	var end []byte
	if q.bool("prefix") {
		n++
		end = domain.PrefixEnd(key)
	}
	if q.bool("from_key") {
		n++
		end = []byte{0}
	}
	if q.has("range_end") {
		n++
		end = []byte(q.str("range_end"))
		if len(end) == 0 {
			q.fail("range_end must not be empty")
		}
	}
	if n > 1 {
		q.fail("prefix, from_key and range_end exclude each other")
	}
	return end
}

// keyFromPath returns the key of /v1/kv/{key...}: the rest of the path,
// percent-decoded, so that any byte can be written as %XX.
func keyFromPath(r *http.Request, prefix string) ([]byte, error) {
	raw := r.URL.EscapedPath()
	if !strings.HasPrefix(raw, prefix) {
		return nil, domain.InvalidArgument("path must start with %s", prefix)
	}
	key, err := url.PathUnescape(raw[len(prefix):])
	if err != nil {
		return nil, domain.InvalidArgument("key in path does not decode: %v", err)
	}
	return []byte(key), nil
}
