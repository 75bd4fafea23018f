package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// TestAPIFuzz sends generated requests for every operation of
// api/openapi.yaml (apifuzz_gen_test.go), valid and mutated, to the
// members of a 3-member cluster at random (followers too), and checks
// that no answer is a 5xx other than the documented 503 and 504, that
// every answer matches the document's schema for its status (the
// kin-openapi validation of openapi_test.go: loadSpec, specRouter,
// findRoute and openapi3filter), that every error answer has the error
// body, and that no member dies. Sentinel keys written first, one of them
// on a lease, must be unchanged at the end, and every member must reach
// the same revision with the same /v1/maintenance/hash.
//
// The generated keys, ranges, locks and elections are under "fz/" (or
// decode to bytes from 0x7f, with ?encoding=base64), the sentinels under
// "!": no generated delete, range or compaction reaches their values.
// DELETE /v1/kv/ (a range from the empty key) is not sent, the sentinels'
// lease is never named, and POST /v1/cluster/members is only sent with
// bodies no member may accept, so the membership does not change.
//
// It runs for 10 seconds of requests in the default suite. CAIRN_APIFUZZ
// sets the duration (CAIRN_APIFUZZ=5m), CAIRN_SOAK makes it 5 minutes, and
// CAIRN_SEED replays a run's choices (the seed is logged):
//
//	CAIRN_APIFUZZ=5m go test ./internal/app -run '^TestAPIFuzz$' -count 1 -timeout 15m -v
func TestAPIFuzz(t *testing.T) {
	t.Parallel()
	dur := 10 * time.Second
	if os.Getenv("CAIRN_SOAK") != "" {
		dur = 5 * time.Minute
	}
	if v := os.Getenv("CAIRN_APIFUZZ"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("CAIRN_APIFUZZ=%q: %v", v, err)
		}
		dur = d
	}
	seed := time.Now().UnixNano()
	if v := os.Getenv("CAIRN_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseInt(v, 10, 64); err != nil {
			t.Fatalf("CAIRN_SEED=%q: %v", v, err)
		}
	}
	t.Logf("CAIRN_SEED=%d, %v of requests", seed, dur)

	ms := startCluster(t, 3)
	doc := loadSpec(t)
	router := specRouter(t, doc, ms)
	sentinels := writeSentinels(t, ms)

	f := &apiFuzzer{t: t, doc: doc, router: router, ms: ms, ops: fuzzOps(doc), stats: map[string]*opStats{}}
	f.rev.Store(1)
	const workers = 4
	deadline := time.Now().Add(dur)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := &fuzzGen{rnd: rand.New(rand.NewSource(seed + int64(w))), rev: f.rev.Load, leases: f.leaseList,
				sentinelLse: sentinels.lease}
			for time.Now().Before(deadline) && !f.failed() {
				select {
				case <-stop:
					return
				default:
				}
				op := &f.ops[g.rnd.Intn(len(f.ops))]
				f.send(g.gen(op, 0.4), g.rnd.Intn(len(ms)))
			}
		}()
	}
	// The members must stay alive throughout.
	tick := time.NewTicker(time.Second)
	for range tick.C {
		f.checkAlive()
		if time.Now().After(deadline) || f.failed() {
			break
		}
	}
	tick.Stop()
	close(stop)
	wg.Wait()
	f.report()
	if t.Failed() {
		return
	}
	for _, m := range ms {
		waitReady(t, m.URL, 30*time.Second)
	}
	checkSentinels(t, ms, sentinels)
	checkSameHash(t, ms)
}

// opStats counts the answers to one operation.
type opStats struct {
	sent, mutated, clientTimeouts int
	statuses                      map[int]int
}

// apiFuzzer sends the requests and checks the answers.
type apiFuzzer struct {
	t      *testing.T
	doc    *openapi3.T
	router routers.Router
	ms     []*member
	ops    []fuzzOp
	rev    atomic.Int64

	mu       sync.Mutex
	stats    map[string]*opStats
	leases   []int64
	findings map[string]int // what the test tolerates but reports, by kind
	errs     int
}

func (f *apiFuzzer) failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.errs >= 10
}

// fail records a failure; the test stops after ten.
func (f *apiFuzzer) fail(format string, args ...any) {
	f.mu.Lock()
	f.errs++
	f.mu.Unlock()
	f.t.Errorf(format, args...)
}

// note records something tolerated but worth reporting, logging the first
// three of each kind.
func (f *apiFuzzer) note(kind, format string, args ...any) {
	f.mu.Lock()
	if f.findings == nil {
		f.findings = map[string]int{}
	}
	f.findings[kind]++
	n := f.findings[kind]
	f.mu.Unlock()
	if n <= 3 {
		f.t.Logf("%s: "+format, append([]any{kind}, args...)...)
	}
}

func (f *apiFuzzer) leaseList() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int64(nil), f.leases...)
}

// send sends r to member i and checks the answer.
func (f *apiFuzzer) send(r *fuzzReq, i int) {
	m := f.ms[i]
	base, err := url.Parse(m.URL)
	if err != nil {
		panic(err)
	}
	timeout := 20 * time.Second
	if r.blocking {
		timeout = 400 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.method, m.URL+"/", bytes.NewReader(r.body))
	if err != nil {
		panic(err)
	}
	// The URI is sent as generated, broken escapes included.
	req.URL = &url.URL{Scheme: base.Scheme, Host: base.Host, Opaque: r.path, RawQuery: r.query}
	if r.ctype != "" {
		req.Header.Set("Content-Type", r.ctype)
	}
	what := fmt.Sprintf("%s %.300q to %s (mutation %q, body %.300q)", r.method, r.target(), m.cfg.Name, r.mutation, r.body)
	resp, err := http.DefaultClient.Do(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil && r.blocking && ctx.Err() != nil {
			err = nil // a stream or a wait the client ended
		}
	}
	f.count(r, resp, ctx.Err() != nil && err != nil)
	if err != nil {
		if r.blocking && ctx.Err() != nil {
			return
		}
		f.fail("%s: %v", what, err)
		return
	}
	res := &apiResult{status: resp.StatusCode, header: resp.Header, body: body}
	_ = json.Unmarshal(body, &res.json)
	if rev, err := strconv.ParseInt(resp.Header.Get("X-Cairn-Revision"), 10, 64); err == nil && rev > f.rev.Load() {
		f.rev.Store(rev)
	}
	f.check(r, res, what)
	if id, ok := jsonAt(res, "id").(float64); ok && r.op.path == "/v1/leases" && r.method == http.MethodPost && res.status == http.StatusCreated {
		f.mu.Lock()
		f.leases = append(f.leases, int64(id))
		f.mu.Unlock()
	}
}

// jsonAt is apiResult.get without failing the test (it runs on the
// workers' goroutines): nil when path is not in the answer.
func jsonAt(r *apiResult, path ...any) any {
	if !r.has(path...) {
		return nil
	}
	var v any = r.json
	for _, p := range path {
		switch p := p.(type) {
		case string:
			v = v.(map[string]any)[p]
		case int:
			v = v.([]any)[p]
		}
	}
	return v
}

func (f *apiFuzzer) count(r *fuzzReq, resp *http.Response, clientTimeout bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := r.method + " " + r.op.path
	s := f.stats[k]
	if s == nil {
		s = &opStats{statuses: map[int]int{}}
		f.stats[k] = s
	}
	s.sent++
	if r.mutation != "" {
		s.mutated++
	}
	if clientTimeout {
		s.clientTimeouts++
	}
	if resp != nil {
		s.statuses[resp.StatusCode]++
	}
}

// check checks one answer.
func (f *apiFuzzer) check(r *fuzzReq, res *apiResult, what string) {
	switch {
	case res.status == http.StatusInternalServerError || res.status >= 500 && res.status != http.StatusServiceUnavailable && res.status != http.StatusGatewayTimeout:
		f.fail("%s: %d %.500s", what, res.status, res.body)
		return
	case res.status == http.StatusServiceUnavailable && res.header.Get("Retry-After") == "":
		f.fail("%s: 503 without Retry-After", what)
	}
	ct := res.header.Get("Content-Type")
	if res.status >= 400 && !strings.HasPrefix(ct, "application/json") {
		// Only net/http itself answers in plain text: a request line or
		// headers it cannot parse.
		if r.rawPath && res.status == http.StatusBadRequest || res.status == http.StatusRequestHeaderFieldsTooLarge {
			return
		}
		f.fail("%s: %d is not JSON (%q): %.300q", what, res.status, ct, res.body)
		return
	}
	if code, _ := jsonAt(res, "error", "code").(string); res.status >= 400 && code == "" {
		f.fail("%s: %d without the error body: %.300s", what, res.status, res.body)
		return
	}
	if msg, _ := jsonAt(res, "error", "message").(string); res.status >= 400 && msg == "" {
		f.fail("%s: %d without the error body: %.300s", what, res.status, res.body)
		return
	}
	if rev, ok := jsonAt(res, "header", "revision").(float64); ok {
		if h := res.header.Get("X-Cairn-Revision"); h != strconv.FormatInt(int64(rev), 10) {
			f.fail("%s: X-Cairn-Revision %q, header.revision %d", what, h, int64(rev))
		}
	}
	if r.rawPath {
		if res.status != http.StatusBadRequest {
			f.note("broken_escape_served", "%s: %d %.200s", what, res.status, res.body)
		}
		return
	}
	f.validate(r, res, what)
}

// validate checks the answer against the document, as runCase does.
func (f *apiFuzzer) validate(r *fuzzReq, res *apiResult, what string) {
	vreq, err := http.NewRequest(r.method, f.ms[0].URL+r.target(), bytes.NewReader(r.body))
	if err != nil {
		f.note("unroutable", "%s: %v", what, err)
		return
	}
	if r.ctype != "" {
		vreq.Header.Set("Content-Type", r.ctype)
	}
	route, params, err := findRoute(f.router, vreq)
	if err != nil {
		f.note("no_route_in_document", "%s: %v", what, err)
		return
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, AuthenticationFunc: sentCredentials}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: opts}
	reqErr := openapi3filter.ValidateRequest(context.Background(), in)
	switch {
	case r.mutation == "" && reqErr != nil && res.status < 300:
		f.note("generated_request_rejected_by_document", "%s: %.300v", what, reqErr)
	case r.mutation != "" && reqErr != nil && res.status < 300:
		f.note("server_accepts_what_document_rejects", "%s: %d; document: %.300v", what, res.status, reqErr)
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 res.status,
		Header:                 res.header,
		Body:                   io.NopCloser(bytes.NewReader(res.body)),
		Options:                opts,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		if r.blocking && strings.Contains(res.header.Get("Content-Type"), "event-stream") {
			return // a stream cut by the client
		}
		var me openapi3.MultiError
		if errors.As(err, &me) && len(me) == 0 {
			return
		}
		f.fail("%s: the answer (%d) does not match the document: %.1000v\nbody: %.500s", what, res.status, err, res.body)
	}
}

// checkAlive fails the test for a member whose Run returned or that does
// not answer /healthz.
func (f *apiFuzzer) checkAlive() {
	for _, m := range f.ms {
		select {
		case err := <-m.done:
			m.done <- err
			f.fail("member %s stopped: %v", m.cfg.Name, err)
			continue
		default:
		}
		c := &http.Client{Timeout: 10 * time.Second}
		if code, body := requestWith(c, http.MethodGet, m.URL+"/healthz", ""); code != http.StatusOK {
			f.fail("member %s: healthz %d %s", m.cfg.Name, code, body)
		}
	}
}

// report logs the figures of the run.
func (f *apiFuzzer) report() {
	f.mu.Lock()
	defer f.mu.Unlock()
	keys := make([]string, 0, len(f.stats))
	total, mutated := 0, 0
	for k, s := range f.stats {
		keys = append(keys, k)
		total += s.sent
		mutated += s.mutated
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests (%d mutated) to %d operations of %d in the document\n", total, mutated, len(keys), len(f.ops))
	for _, k := range keys {
		s := f.stats[k]
		codes := make([]int, 0, len(s.statuses))
		for c := range s.statuses {
			codes = append(codes, c)
		}
		sort.Ints(codes)
		var cs []string
		for _, c := range codes {
			cs = append(cs, fmt.Sprintf("%d×%d", c, s.statuses[c]))
		}
		fmt.Fprintf(&b, "  %-40s sent %5d, mutated %5d, client timeouts %4d: %s\n", k, s.sent, s.mutated, s.clientTimeouts, strings.Join(cs, " "))
	}
	for k, n := range f.findings {
		fmt.Fprintf(&b, "  noted %s: %d\n", k, n)
	}
	f.t.Log(b.String())
}

// sentinelSet is what TestAPIFuzz wrote first.
type sentinelSet struct {
	keys  []string // escaped
	kvs   map[string]string
	lease int64
}

// writeSentinels writes keys under "!" (one of them on a lease of an
// hour) and reads them back.
func writeSentinels(t *testing.T, ms []*member) sentinelSet {
	t.Helper()
	s := sentinelSet{kvs: map[string]string{}, lease: 0x5e47}
	if code, body := doIdempotent(t, http.MethodPost, ms[0].URL+"/v1/leases", fmt.Sprintf(`{"ttl":3600,"id":%d}`, s.lease)); code != http.StatusCreated {
		t.Fatalf("sentinel lease: %d %s", code, body)
	}
	for i := range 8 {
		k := fmt.Sprintf("!sentinel/%d", i)
		if i == 7 {
			k = "!sentinel/%FF%00" // a key that is not UTF-8
		}
		target := ms[i%len(ms)].URL + "/v1/kv/" + k
		if i == 0 {
			target += fmt.Sprintf("?lease=%d", s.lease)
		}
		if code, body := doIdempotent(t, http.MethodPut, target, fmt.Sprintf("sentinel value %d \xff", i)); code != http.StatusOK {
			t.Fatalf("sentinel %s: %d %s", k, code, body)
		}
		s.keys = append(s.keys, k)
	}
	for _, k := range s.keys {
		code, body := doIdempotent(t, http.MethodGet, ms[0].URL+"/v1/kv/"+k, "")
		if code != http.StatusOK {
			t.Fatalf("read sentinel %s: %d %s", k, code, body)
		}
		s.kvs[k] = sentinelKV(t, body)
	}
	return s
}

// sentinelKV returns the kv of a single-key read, as JSON.
func sentinelKV(t *testing.T, body string) string {
	t.Helper()
	var r struct {
		Kvs []json.RawMessage `json:"kvs"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || len(r.Kvs) != 1 {
		t.Fatalf("a read of one key: %s", body)
	}
	return string(r.Kvs[0])
}

// checkSentinels reads every sentinel on every member.
func checkSentinels(t *testing.T, ms []*member, s sentinelSet) {
	t.Helper()
	for _, m := range ms {
		for _, k := range s.keys {
			code, body := doIdempotent(t, http.MethodGet, m.URL+"/v1/kv/"+k, "")
			if code != http.StatusOK {
				t.Errorf("sentinel %s on %s: %d %s", k, m.cfg.Name, code, body)
				continue
			}
			if got := sentinelKV(t, body); got != s.kvs[k] {
				t.Errorf("sentinel %s on %s changed:\n got %s\nwant %s", k, m.cfg.Name, got, s.kvs[k])
			}
		}
	}
}

// checkSameHash waits until every member has applied the leader's
// revision and compares their hashes at it.
func checkSameHash(t *testing.T, ms []*member) {
	t.Helper()
	status := func(m *member) (rev int64) {
		code, body := doIdempotent(t, http.MethodGet, m.URL+"/v1/status", "")
		var st struct {
			Revision int64 `json:"revision"`
		}
		if code != http.StatusOK || json.Unmarshal([]byte(body), &st) != nil {
			t.Fatalf("status of %s: %d %s", m.cfg.Name, code, body)
		}
		return st.Revision
	}
	target := status(ms[leaderIndex(t, ms, 20*time.Second)])
	revs := make([]int64, len(ms))
	waitFor(t, 30*time.Second, fmt.Sprintf("every member at revision %d", target), func() bool {
		for i, m := range ms {
			if revs[i] = status(m); revs[i] < target {
				return false
			}
		}
		return true
	})
	var hashes []string
	for _, m := range ms {
		code, body := doIdempotent(t, http.MethodGet, fmt.Sprintf("%s/v1/maintenance/hash?revision=%d&serializable", m.URL, target), "")
		var h struct {
			Hash            uint32 `json:"hash"`
			CompactRevision int64  `json:"compact_revision"`
		}
		if code != http.StatusOK || json.Unmarshal([]byte(body), &h) != nil {
			t.Fatalf("hash of %s at %d: %d %s", m.cfg.Name, target, code, body)
		}
		hashes = append(hashes, fmt.Sprintf("%s: hash %d (compacted at %d)", m.cfg.Name, h.Hash, h.CompactRevision))
	}
	t.Logf("revision %d (members at %v); %s", target, revs, strings.Join(hashes, "; "))
	for _, h := range hashes[1:] {
		if h[strings.Index(h, ":"):] != hashes[0][strings.Index(hashes[0], ":"):] {
			t.Fatalf("the members' hashes differ at revision %d: %s", target, strings.Join(hashes, "; "))
		}
	}
}
