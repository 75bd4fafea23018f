package http

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/auth"
)

const kvPrefix = "/v1/kv/"

// sortOrders and sortTargets are the values of sort_order and sort_target;
// an absent parameter is the default, an empty one is a mistake.
var sortOrders = map[string]domain.SortOrder{"ascend": domain.SortAscend, "descend": domain.SortDescend}

var sortTargets = map[string]domain.SortTarget{
	"key": domain.SortByKey, "version": domain.SortByVersion,
	"create": domain.SortByCreate, "mod": domain.SortByMod, "value": domain.SortByValue,
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r, "prefix", "range_end", "from_key", "limit", "revision", "sort_order", "sort_target",
		"keys_only", "count_only", "serializable", "min_mod_revision", "max_mod_revision",
		"min_create_revision", "max_create_revision", "raw", "encoding", "wait", "wait_revision", "timeout")
	key, err := keyFromPath(r, kvPrefix)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if q.bool("wait") {
		s.handleWait(w, r, q, key, q.rangeEnd(key), q.codec())
		return
	}
	for _, p := range []string{"wait_revision", "timeout"} {
		if q.has(p) {
			q.fail("%s applies with wait=true only", p)
		}
	}
	req := domain.RangeRequest{
		Key:               key,
		RangeEnd:          q.rangeEnd(key),
		Limit:             q.int("limit"),
		Revision:          q.int("revision"),
		KeysOnly:          q.bool("keys_only"),
		CountOnly:         q.bool("count_only"),
		Serializable:      q.bool("serializable"),
		MinModRevision:    q.int("min_mod_revision"),
		MaxModRevision:    q.int("max_mod_revision"),
		MinCreateRevision: q.int("min_create_revision"),
		MaxCreateRevision: q.int("max_create_revision"),
	}
	var ok bool
	if q.has("sort_order") {
		if req.SortOrder, ok = sortOrders[q.str("sort_order")]; !ok {
			q.fail("sort_order must be ascend or descend, not %q", q.str("sort_order"))
		}
	}
	if q.has("sort_target") {
		if req.SortTarget, ok = sortTargets[q.str("sort_target")]; !ok {
			q.fail("sort_target must be key, version, create, mod or value, not %q", q.str("sort_target"))
		}
	}
	c := q.codec()
	single := len(req.RangeEnd) == 0
	raw := q.bool("raw")
	switch {
	case raw && !single:
		q.fail("raw applies to a single key, not a range")
	case raw && (req.CountOnly || req.KeysOnly):
		q.fail("raw returns the value: it excludes count_only and keys_only")
	case !raw && single && !req.CountOnly && !req.KeysOnly:
		// Accept is a preference: it selects the bare value only where
		// one exists.
		raw = prefersOctets(r)
	}
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	if !s.allow(w, r, auth.Read(req.Key, req.RangeEnd)) {
		return
	}
	resp, rev, err := s.kv.Range(r.Context(), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if single && len(resp.Kvs) == 0 && !req.CountOnly {
		s.writeError(w, r, keyNotFound(key, rev))
		return
	}
	if raw {
		kv := resp.Kvs[0]
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("X-Cairn-Revision", strconv.FormatInt(rev, 10))
		w.Header().Set("X-Cairn-Mod-Revision", strconv.FormatInt(kv.ModRevision, 10))
		w.Header().Set("X-Cairn-Create-Revision", strconv.FormatInt(kv.CreateRevision, 10))
		w.Header().Set("X-Cairn-Version", strconv.FormatInt(kv.Version, 10))
		w.Header().Set("Content-Length", strconv.Itoa(len(kv.Value)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(kv.Value)
		return
	}
	h := s.header(rev)
	s.writeJSON(w, http.StatusOK, rev, rangeResponseJSON{
		Header: &h, Kvs: c.kvs(resp.Kvs, !req.KeysOnly), Count: resp.Count, More: resp.More,
	})
}

// keyNotFound is the error for a missing single key.
func keyNotFound(key []byte, rev int64) error {
	return &keyNotFoundError{key: key, rev: rev}
}

type keyNotFoundError struct {
	key []byte
	rev int64
}

func (e *keyNotFoundError) Error() string {
	return "key " + strconv.Quote(string(e.key)) + " not found at revision " + strconv.FormatInt(e.rev, 10)
}

func (e *keyNotFoundError) Unwrap() error { return domain.ErrKeyNotFound }

// prefersOctets reports whether the Accept header asks for
// application/octet-stream (with a non-zero quality) and not for JSON.
func prefersOctets(r *http.Request) bool {
	octets, jsonOK := false, false
	for _, header := range r.Header.Values("Accept") {
		for _, part := range strings.Split(header, ",") {
			fields := strings.Split(part, ";")
			media := strings.ToLower(strings.TrimSpace(fields[0]))
			zero := false
			for _, p := range fields[1:] {
				if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.TrimSpace(k) == "q" {
					if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && f == 0 {
						zero = true
					}
				}
			}
			switch {
			case zero:
			case media == "application/octet-stream":
				octets = true
			case media == "application/json":
				jsonOK = true
			}
		}
	}
	return octets && !jsonOK
}

func (s *Server) handlePut(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r, "lease", "prev_kv", "ignore_value", "ignore_lease", "if_mod_revision", "encoding")
	key, err := keyFromPath(r, kvPrefix)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req := domain.PutRequest{
		Key:         key,
		Lease:       q.int("lease"),
		PrevKv:      q.bool("prev_kv"),
		IgnoreValue: q.bool("ignore_value"),
		IgnoreLease: q.bool("ignore_lease"),
	}
	cond := q.optInt("if_mod_revision")
	c := q.codec()
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	if !s.allow(w, r, writeNeeds(key, nil, req.PrevKv, cond)...) {
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.writeError(w, r, bodyError(err))
		return
	}
	req.Value = body
	res, err := s.kv.Put(r.Context(), req, cond)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !res.Succeeded {
		s.writePrecondition(w, res.Revision, c, res.Current, *cond)
		return
	}
	h := s.header(res.Revision)
	s.writeJSON(w, http.StatusOK, res.Revision, putResponseJSON{Header: &h, PrevKv: c.kvPtr(res.PrevKv)})
}

// writeNeeds is what a put or a delete needs: write on its keys, and read
// too when the answer can show what they held (prev_kv, or the current kv
// of a failed if_mod_revision).
func writeNeeds(key, end []byte, prevKv bool, cond *int64) []auth.Need {
	if prevKv || cond != nil {
		return []auth.Need{auth.ReadWrite(key, end)}
	}
	return []auth.Need{auth.Write(key, end)}
}

// bodyError keeps a too-large body recognisable and makes any other read
// failure an invalid argument.
func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	return domain.InvalidArgument("reading the request body: %v", err)
}

func (s *Server) writePrecondition(w http.ResponseWriter, rev int64, c codec, current *domain.KeyValue, want int64) {
	var msg string
	switch {
	case current == nil:
		msg = "if_mod_revision " + strconv.FormatInt(want, 10) + " does not hold: the key does not exist"
	case want == 0:
		msg = "if_mod_revision 0 does not hold: the key exists (mod_revision " + strconv.FormatInt(current.ModRevision, 10) + ")"
	default:
		msg = "if_mod_revision " + strconv.FormatInt(want, 10) + " does not hold: the key's mod_revision is " + strconv.FormatInt(current.ModRevision, 10)
	}
	s.metrics.errors.WithLabelValues("precondition_failed").Inc()
	s.writeJSON(w, http.StatusPreconditionFailed, rev, preconditionJSON{
		Header: s.header(rev),
		Error:  errorBody{Code: "precondition_failed", Message: msg},
		Kv:     c.kvPtr(current),
	})
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r, "prefix", "range_end", "from_key", "prev_kv", "if_mod_revision", "encoding")
	key, err := keyFromPath(r, kvPrefix)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req := domain.DeleteRangeRequest{Key: key, RangeEnd: q.rangeEnd(key), PrevKv: q.bool("prev_kv")}
	cond := q.optInt("if_mod_revision")
	c := q.codec()
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	if !s.allow(w, r, writeNeeds(key, req.RangeEnd, req.PrevKv, cond)...) {
		return
	}
	res, err := s.kv.Delete(r.Context(), req, cond)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !res.Succeeded {
		s.writePrecondition(w, res.Revision, c, res.Current, *cond)
		return
	}
	h := s.header(res.Revision)
	out := deleteResponseJSON{Header: &h, Deleted: res.Deleted}
	if req.PrevKv {
		out.PrevKvs = c.kvs(res.PrevKvs, true)
	}
	s.writeJSON(w, http.StatusOK, res.Revision, out)
}

func (s *Server) handleCompact(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r)
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	var req compactRequestJSON
	if err := decodeJSON(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	rev, err := s.kv.Compact(r.Context(), req.Revision)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, rev, compactResponseJSON{Header: s.header(rev)})
}
