package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	httpadapter "github.com/cairnkv/cairn/internal/adapters/http"
	"github.com/cairnkv/cairn/internal/adapters/password"
	raftadapter "github.com/cairnkv/cairn/internal/adapters/raft"
	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/auth"
	"github.com/cairnkv/cairn/internal/ports"
)

// The tests in this file hold api/openapi.yaml and the server together: every
// route of the server is in the document and the other way round, and real
// requests to real members, with their answers, are validated against it.

const specPath = "../../api/openapi.yaml"

var registerDecoders sync.Once

// greedyPaths are the routes of the greedy key parameter: the router
// matches one path segment only, so requests under them are matched by
// hand.
var greedyPaths = []string{"/v1/kv/", "/v1/watch/", "/v1/locks/", "/v1/elections/"}

// greedyParam is the name of the greedy parameter under each prefix.
func greedyParam(prefix string) string {
	if prefix == "/v1/locks/" || prefix == "/v1/elections/" {
		return "{name}"
	}
	return "{key}"
}

// greedyPrefix returns the greedy route path is under, or "".
func greedyPrefix(path string) string {
	for _, p := range greedyPaths {
		if strings.HasPrefix(path, p) {
			return p
		}
	}
	return ""
}

// loadSpec loads and validates the document, and makes every object schema
// with properties closed (additionalProperties: false) so that a field the
// server sends but the document does not describe fails the test. The
// document itself leaves responses open, for clients' sake.
func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	registerDecoders.Do(func() {
		// A watch stream is text: kin-openapi validates it as a string.
		openapi3filter.RegisterBodyDecoder("text/event-stream",
			func(r io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
				b, err := io.ReadAll(r)
				return string(b), err
			})
	})
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(specPath)
	if err != nil {
		t.Fatalf("load %s: %v", specPath, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("%s is not a valid OpenAPI document: %v", specPath, err)
	}
	closeSchemas(doc)
	return doc
}

func closeSchemas(doc *openapi3.T) {
	seen := map[*openapi3.Schema]bool{}
	var walk func(ref *openapi3.SchemaRef)
	walk = func(ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		s := ref.Value
		seen[s] = true
		if len(s.Properties) > 0 && s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil {
			no := false
			s.AdditionalProperties.Has = &no
		}
		for _, p := range s.Properties {
			walk(p)
		}
		walk(s.Items)
		walk(s.Not)
		for _, list := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
			for _, r := range list {
				walk(r)
			}
		}
	}
	for _, s := range doc.Components.Schemas {
		walk(s)
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, resp := range op.Responses.Map() {
				if resp.Value == nil {
					continue
				}
				for _, mt := range resp.Value.Content {
					walk(mt.Schema)
				}
			}
		}
	}
}

// specRouter builds a router that matches requests sent to the members.
func specRouter(t *testing.T, doc *openapi3.T, ms []*member) routers.Router {
	t.Helper()
	doc.Servers = nil
	for _, m := range ms {
		doc.Servers = append(doc.Servers, &openapi3.Server{URL: m.URL})
	}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	return r
}

func TestOpenAPI_Routes(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	// The auth routes are served when there is an auth service; the
	// service is not called while the routes are walked.
	store := auth.NewStore(func() (domain.AuthState, error) { return domain.AuthState{}, nil })
	auths, err := auth.NewService(auth.Config{}, store, nil, password.Bcrypt{Cost: 4}, ports.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	api := httpadapter.New(httpadapter.Config{Gatherer: prometheus.NewRegistry()}, httpadapter.Services{Auth: auths})
	mux, ok := api.Handler().(chi.Routes)
	if !ok {
		t.Fatalf("the API handler is a %T, not a chi router", api.Handler())
	}
	served := map[string]bool{}
	err = chi.Walk(mux, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if p := greedyPrefix(route); p != "" && route == p+"*" {
			route = p + "*"
		}
		served[method+" "+route] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
			if p := greedyPrefix(path); p != "" {
				// chi serves every path under a greedy prefix with one route.
				documented[method+" "+p+"*"] = true
			}
		}
	}
	for _, r := range sortedKeys(served) {
		if !documented[r] {
			t.Errorf("the server serves %s, which %s does not document", r, specPath)
		}
	}
	for _, r := range sortedKeys(documented) {
		// chi's /v1/kv/* serves the empty key (/v1/kv/) too.
		method, path, _ := strings.Cut(r, " ")
		if p := greedyPrefix(path); p != "" {
			path = p + "*"
		}
		if !served[method+" "+path] {
			t.Errorf("%s documents %s, which the server does not serve", specPath, r)
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// reqExpect is what the document must say of a case's request.
type reqExpect int

const (
	reqValid     reqExpect = iota // the request must validate
	reqInvalid                    // the document too must reject it
	reqUnchecked                  // the document cannot tell (e.g. an unknown query parameter)
)

// routeExpect is whether the document has the case's path and method.
type routeExpect int

const (
	routeFound routeExpect = iota
	routeNoPath
	routeNoMethod
)

// apiCase is one real request and what must come back.
type apiCase struct {
	name        string
	member      int // index of the member to ask
	method      string
	target      string // path and query, relative to the member's URL
	contentType string
	accept      string
	headers     map[string]string // more request headers
	client      *http.Client      // sends the request (default http.DefaultClient)
	clientCert  string            // the common name of the TLS client certificate client presents
	body        string
	chunked     bool // send the body without a Content-Length
	status      int
	code        string // the error code, for an error answer
	req         reqExpect
	route       routeExpect
	check       func(t *testing.T, r *apiResult)
	// retry sends the request again while it answers 503 or 504, as a
	// client would (retryUnavailable), for a case that expects neither, in
	// a test whose subject is not leadership. The request must tolerate
	// being applied twice.
	retry bool
	// reapplied, if set, is the answer of a retried write whose earlier
	// attempt answered 504 but was applied (a compaction sent again answers
	// 410): its status, code and check then replace the case's.
	reapplied *apiCase
}

// apiResult is a member's answer.
type apiResult struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

// kvs returns the "kvs" array of a range answer.
func (r *apiResult) kvs(t *testing.T) []map[string]any {
	t.Helper()
	raw, _ := r.json["kvs"].([]any)
	out := make([]map[string]any, len(raw))
	for i, v := range raw {
		out[i], _ = v.(map[string]any)
	}
	return out
}

// num returns a JSON number found by following path (object keys and
// array indexes).
func (r *apiResult) num(t *testing.T, path ...any) int64 {
	t.Helper()
	v := r.get(t, path...)
	f, ok := v.(float64)
	if !ok {
		t.Fatalf("%v is %v, not a number; body %s", path, v, r.body)
	}
	return int64(f)
}

func (r *apiResult) str(t *testing.T, path ...any) string {
	t.Helper()
	v := r.get(t, path...)
	s, ok := v.(string)
	if !ok {
		t.Fatalf("%v is %v, not a string; body %s", path, v, r.body)
	}
	return s
}

func (r *apiResult) has(path ...any) bool {
	var v any = r.json
	for _, p := range path {
		switch p := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return false
			}
			if v, ok = m[p]; !ok {
				return false
			}
		case int:
			a, ok := v.([]any)
			if !ok || p >= len(a) {
				return false
			}
			v = a[p]
		}
	}
	return true
}

func (r *apiResult) get(t *testing.T, path ...any) any {
	t.Helper()
	if !r.has(path...) {
		t.Fatalf("no %v in %s", path, r.body)
	}
	return jsonAt(r, path...)
}

// send sends c's request to the member at base.
func send(t *testing.T, base string, c apiCase) *apiResult {
	t.Helper()
	var body io.Reader = strings.NewReader(c.body)
	if c.chunked {
		body = io.MultiReader(strings.NewReader(c.body))
	}
	req, err := http.NewRequest(c.method, base+c.target, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	if c.accept != "" {
		req.Header.Set("Accept", c.accept)
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	client := http.DefaultClient
	if c.client != nil {
		client = c.client
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	res := &apiResult{status: resp.StatusCode, header: resp.Header, body: b}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &res.json); err != nil {
			t.Fatalf("%s %s: the answer is not JSON: %v: %s", c.method, c.target, err, b)
		}
	}
	return res
}

// runCase sends c to ms[c.member], checks the status and error code, and
// validates the request and the answer against the document.
func runCase(t *testing.T, doc *openapi3.T, router routers.Router, ms []*member, c apiCase) *apiResult {
	t.Helper()
	base := ms[c.member].URL
	var res *apiResult
	if c.retry {
		_, _, unknown := retryUnavailable(t, c.method+" "+c.target, func() (int, string) {
			res = send(t, base, c)
			return res.status, string(res.body)
		})
		if r := c.reapplied; unknown && r != nil && res.status == r.status {
			c.status, c.code, c.check = r.status, r.code, r.check
		}
	} else {
		res = send(t, base, c)
	}
	checkCase(t, doc, router, ms, c, res)
	return res
}

// checkCase checks res, the answer to c, as runCase does: the status, the
// error code, the request and the answer against the document.
func checkCase(t *testing.T, doc *openapi3.T, router routers.Router, ms []*member, c apiCase, res *apiResult) {
	t.Helper()
	base := ms[c.member].URL
	if res.status != c.status {
		t.Fatalf("%s %s: status %d, want %d; body %s", c.method, c.target, res.status, c.status, res.body)
	}
	if c.code != "" {
		if got, _ := res.json["error"].(map[string]any)["code"].(string); got != c.code {
			t.Fatalf("%s %s: error code %q, want %q; body %s", c.method, c.target, got, c.code, res.body)
		}
	} else if res.json["error"] != nil {
		t.Fatalf("%s %s: unexpected error body %s", c.method, c.target, res.body)
	}

	// Find the route as a client library would, the key by hand.
	vreq, err := http.NewRequest(c.method, base+c.target, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	if c.contentType != "" {
		vreq.Header.Set("Content-Type", c.contentType)
	}
	if c.accept != "" {
		vreq.Header.Set("Accept", c.accept)
	}
	for k, v := range c.headers {
		vreq.Header.Set(k, v)
	}
	if c.clientCert != "" {
		vreq.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{Subject: pkix.Name{CommonName: c.clientCert}}}}
	}
	route, params, err := findRoute(router, vreq)
	switch c.route {
	case routeNoPath:
		if !errors.Is(err, routers.ErrPathNotFound) {
			t.Fatalf("%s %s: the document should not have this path (router: %v)", c.method, c.target, err)
		}
		return
	case routeNoMethod:
		if !errors.Is(err, routers.ErrMethodNotAllowed) {
			t.Fatalf("%s %s: the document should have this path without this method (router: %v)", c.method, c.target, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("%s %s: no route in the document: %v", c.method, c.target, err)
	}

	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, AuthenticationFunc: sentCredentials}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: opts}
	checkSecurity(t, c, in)
	err = openapi3filter.ValidateRequest(context.Background(), in)
	switch {
	case c.req == reqValid && err != nil:
		t.Fatalf("%s %s: the document rejects this request: %v", c.method, c.target, err)
	case c.req == reqInvalid && err == nil:
		t.Fatalf("%s %s: the server rejects this request (%d) but the document accepts it", c.method, c.target, res.status)
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 res.status,
		Header:                 res.header,
		Body:                   io.NopCloser(bytes.NewReader(res.body)),
		Options:                opts,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Fatalf("%s %s: the answer (%d) does not match the document: %v\nbody: %s", c.method, c.target, res.status, err, res.body)
	}

	// The header's revision is the X-Cairn-Revision header.
	if res.has("header", "revision") {
		want := strconv.FormatInt(res.num(t, "header", "revision"), 10)
		if got := res.header.Get("X-Cairn-Revision"); got != want {
			t.Fatalf("%s %s: X-Cairn-Revision %q, header.revision %s", c.method, c.target, got, want)
		}
	}
	if res.status == http.StatusServiceUnavailable && res.header.Get("Retry-After") == "" {
		t.Fatalf("%s %s: 503 without Retry-After", c.method, c.target)
	}
	if c.check != nil {
		c.check(t, res)
	}
}

// sentCredentials is the validation's AuthenticationFunc: a security scheme
// of the document holds when the request carries credentials of its kind.
// Whether they are right is the server's business (the case's status).
func sentCredentials(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	req := in.RequestValidationInput.Request
	h := req.Header.Get("Authorization")
	scheme, _, _ := strings.Cut(h, " ")
	ss := in.SecurityScheme
	switch {
	case ss.Type == "http" && strings.EqualFold(ss.Scheme, "basic") && strings.EqualFold(scheme, "Basic"):
		return nil
	case ss.Type == "http" && strings.EqualFold(ss.Scheme, "bearer") && h != "" && !strings.EqualFold(scheme, "Basic"):
		return nil // "Bearer T", or the bare token as etcd's gateway sends it
	case ss.Type == "mutualTLS" && req.TLS != nil && len(req.TLS.PeerCertificates) > 0:
		return nil
	}
	return fmt.Errorf("no %s credentials", in.SecuritySchemeName)
}

// checkSecurity checks that the credentials a case sends are of a scheme
// the operation lists: the document's empty requirement ({}: auth is off)
// would let any request through otherwise.
func checkSecurity(t *testing.T, c apiCase, in *openapi3filter.RequestValidationInput) {
	t.Helper()
	if in.Request.Header.Get("Authorization") == "" && in.Request.TLS == nil {
		return
	}
	reqs := in.Route.Spec.Security
	if op := in.Route.Operation; op.Security != nil {
		reqs = *op.Security
	}
	var schemes openapi3.SecurityRequirements
	for _, r := range reqs {
		if len(r) > 0 {
			schemes = append(schemes, r)
		}
	}
	if len(schemes) == 0 {
		t.Fatalf("%s %s: the case sends credentials to an operation that takes none", c.method, c.target)
	}
	if err := openapi3filter.ValidateSecurityRequirements(context.Background(), in, schemes); err != nil {
		t.Fatalf("%s %s: the credentials sent are of no scheme the operation lists: %v", c.method, c.target, err)
	}
}

// findRoute matches req against the document. A key under /v1/kv/ may hold
// '/' or be empty, which a path template cannot match, so the route is
// found with a stand-in key and the real (escaped) key put back.
func findRoute(router routers.Router, req *http.Request) (*routers.Route, map[string]string, error) {
	escaped := req.URL.EscapedPath()
	kvPath := greedyPrefix(escaped)
	if kvPath == "" || escaped == kvPath {
		return router.FindRoute(req)
	}
	rest := escaped[len(kvPath):]
	suffix := ""
	if kvPath == "/v1/elections/" {
		for _, a := range []string{"/observe", "/campaign", "/proclaim", "/resign"} {
			if strings.HasSuffix(rest, a) {
				rest, suffix = strings.TrimSuffix(rest, a), a
				break
			}
		}
	}
	key, err := url.PathUnescape(rest)
	if err != nil {
		return nil, nil, err
	}
	probe := req.Clone(req.Context())
	u := *req.URL
	u.Path, u.RawPath = kvPath+"key"+suffix, ""
	probe.URL = &u
	route, params, err := router.FindRoute(probe)
	if err != nil {
		return nil, nil, err
	}
	params[strings.Trim(greedyParam(kvPath), "{}")] = key
	return route, params, nil
}

// runCases runs the table, each case in parallel with the others.
func runCases(t *testing.T, doc *openapi3.T, router routers.Router, ms []*member, cases []apiCase) {
	t.Helper()
	names := map[string]bool{}
	for _, c := range cases {
		if names[c.name] {
			t.Fatalf("two cases are named %q", c.name)
		}
		names[c.name] = true
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			runCase(t, doc, router, ms, c)
		})
	}
}

// step runs a setup request, sequentially, with the same checks as a case.
func step(t *testing.T, doc *openapi3.T, router routers.Router, ms []*member, c apiCase) *apiResult {
	t.Helper()
	var res *apiResult
	if !t.Run("setup/"+c.name, func(t *testing.T) { res = runCase(t, doc, router, ms, c) }) {
		t.FailNow()
	}
	return res
}

func put(name, key, value string) apiCase {
	return apiCase{name: name, method: http.MethodPut, target: "/v1/kv/" + key, body: value,
		contentType: "application/octet-stream", status: http.StatusOK}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// wantKVs checks the keys of a range answer, in order.
func wantKVs(keys ...string) func(t *testing.T, r *apiResult) {
	return func(t *testing.T, r *apiResult) {
		t.Helper()
		var got []string
		for _, kv := range r.kvs(t) {
			k, _ := kv["key"].(string)
			got = append(got, k)
		}
		if strings.Join(got, ",") != strings.Join(keys, ",") {
			t.Fatalf("keys %q, want %q; body %s", got, keys, r.body)
		}
	}
}

// checks runs several checks.
func checks(fs ...func(t *testing.T, r *apiResult)) func(t *testing.T, r *apiResult) {
	return func(t *testing.T, r *apiResult) {
		t.Helper()
		for _, f := range fs {
			f(t, r)
		}
	}
}

func wantNum(want int64, path ...any) func(t *testing.T, r *apiResult) {
	return func(t *testing.T, r *apiResult) {
		t.Helper()
		if got := r.num(t, path...); got != want {
			t.Fatalf("%v = %d, want %d; body %s", path, got, want, r.body)
		}
	}
}

func wantStr(want string, path ...any) func(t *testing.T, r *apiResult) {
	return func(t *testing.T, r *apiResult) {
		t.Helper()
		if got := r.str(t, path...); got != want {
			t.Fatalf("%v = %q, want %q; body %s", path, got, want, r.body)
		}
	}
}

func wantAbsent(path ...any) func(t *testing.T, r *apiResult) {
	return func(t *testing.T, r *apiResult) {
		t.Helper()
		if r.has(path...) {
			t.Fatalf("%v should be absent; body %s", path, r.body)
		}
	}
}

func wantBody(want string) func(t *testing.T, r *apiResult) {
	return func(t *testing.T, r *apiResult) {
		t.Helper()
		if string(r.body) != want {
			t.Fatalf("body %q, want %q", r.body, want)
		}
	}
}

// encodedPut is a put command in the forwarding protocol's encoding.
func encodedPut(t *testing.T, key string) string {
	t.Helper()
	cmd, err := raftadapter.EncodeCommand(domain.Command{Type: domain.CmdTxn, Txn: &domain.TxnRequest{
		Success: []domain.Op{{Put: &domain.PutRequest{Key: []byte(key), Value: []byte("v")}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return string(cmd)
}

const maxBody = 1572864 // the default --max-request-bytes

func TestOpenAPI_SingleMember(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 1)
	doc := loadSpec(t)
	router := specRouter(t, doc, ms)
	const (
		ok  = http.StatusOK
		bad = http.StatusBadRequest
	)
	post := func(name, target, body string) apiCase {
		return apiCase{name: name, method: http.MethodPost, target: target, body: body, contentType: "application/json", status: ok}
	}
	rev := func(r *apiResult) int64 { return r.num(t, "header", "revision") }

	// Setup, in order: the state the cases below read.
	step(t, doc, router, ms, put("Nested", "dir/sub/key", "hello"))
	for _, k := range []string{"a", "b", "c"} {
		step(t, doc, router, ms, put("List"+k, "list/"+k, "value of "+k))
	}
	oldRev := rev(step(t, doc, router, ms, put("Old1", "old/k", "v1")))
	compactRev := rev(step(t, doc, router, ms, put("Old2", "old/k", "v2")))
	c := post("Compact", "/v1/compact", fmt.Sprintf(`{"revision":%d}`, compactRev))
	c.check = wantNum(compactRev, "header", "revision")
	step(t, doc, router, ms, c)
	histRev := rev(step(t, doc, router, ms, put("Hist1", "hist/k", "before")))
	step(t, doc, router, ms, put("Hist2", "hist/k", "after"))
	step(t, doc, router, ms, put("Binary", "%FF%FE", "\xff\x00"))
	step(t, doc, router, ms, put("Binary2", "bin/%FF", "\xff\x01"))
	casRev := rev(step(t, doc, router, ms, put("Cas", "cas/k", "x")))
	for _, k := range []string{"del/one", "del/p/1", "del/p/2", "del/r/a", "del/r/b", "delcas/k", "txn/a", "b64/k"} {
		step(t, doc, router, ms, put("Key"+k, k, "v"))
	}
	headRev := rev(step(t, doc, router, ms, put("Head", "head", "h")))
	grant := post("LeaseGrant", "/v1/leases", `{"ttl":600,"id":4242}`)
	grant.status = http.StatusCreated
	grant.check = checks(wantNum(4242, "id"), wantNum(600, "ttl"))
	step(t, doc, router, ms, grant)
	step(t, doc, router, ms, put("LeasedKey", "leased/k?lease=4242", "v"))
	revokeMe := post("LeaseGrantToRevoke", "/v1/leases", `{"ttl":600,"id":4444}`)
	revokeMe.status = http.StatusCreated
	step(t, doc, router, ms, revokeMe)
	// readyz is 503 while an entry is committed but not yet applied, which
	// a write in flight can cause: ask it while nothing is written.
	step(t, doc, router, ms, apiCase{name: "Readyz", method: http.MethodGet, target: "/readyz", status: ok})

	bigValue := strings.Repeat("x", maxBody+1)
	bigTxn := `{"success":[{"put":{"key":"big","value":"` + strings.Repeat("y", maxBody) + `"}}]}`
	nestedTxn := `{
		"compare": [
			{"key": "txn/a", "target": "value", "result": "equal", "value": "v"},
			{"key": "txn/a", "target": "version", "result": "greater", "version": 0},
			{"key_base64": "` + b64("txn/a") + `", "target": "mod_revision", "result": "less", "mod_revision": 1000000},
			{"key": "txn/", "prefix": true, "target": "create_revision", "result": "not_equal", "create_revision": 0},
			{"key": "txn/a", "range_end": "txn/b", "target": "lease", "result": "equal", "lease": 0}
		],
		"success": [
			{"put": {"key": "txn/b", "value": "2", "prev_kv": true}},
			{"get": {"key": "txn/", "prefix": true, "keys_only": true, "sort_order": "ascend", "sort_target": "create", "limit": 5}},
			{"delete": {"key": "txn/gone", "prev_kv": true}},
			{"txn": {
				"compare": [{"key": "txn/a", "target": "version", "result": "equal", "version": 1}],
				"success": [
					{"get": {"key": "txn/a", "count_only": true}},
					{"put": {"key": "txn/c", "value_base64": "` + b64("\xff") + `"}},
					{"txn": {"success": [{"get": {"key": "txn/a"}}]}}
				],
				"failure": [{"delete": {"key": "txn/x", "from_key": true}}]
			}}
		],
		"failure": [{"get": {"key": "txn/a"}}]
	}`

	cases := []apiCase{
		// GET, single keys.
		{name: "GetKeyWithSlashes", method: http.MethodGet, target: "/v1/kv/dir/sub/key", status: ok,
			check: checks(wantKVs("dir/sub/key"), wantStr("hello", "kvs", 0, "value"), wantNum(1, "count"))},
		{name: "GetMissing", method: http.MethodGet, target: "/v1/kv/no/such/key", status: http.StatusNotFound, code: "key_not_found"},
		{name: "GetMissingCountOnly", method: http.MethodGet, target: "/v1/kv/no/such/key?count_only=true", status: ok,
			check: checks(wantNum(0, "count"), wantKVs())},
		{name: "GetNonUTF8Key", method: http.MethodGet, target: "/v1/kv/%FF%FE", status: ok,
			check: checks(wantStr(base64.StdEncoding.EncodeToString([]byte{0xff, 0xfe}), "kvs", 0, "key_base64"),
				wantStr(base64.StdEncoding.EncodeToString([]byte{0xff, 0}), "kvs", 0, "value_base64"), wantAbsent("kvs", 0, "key"))},
		{name: "GetBase64", method: http.MethodGet, target: "/v1/kv/dir/sub/key?encoding=base64", status: ok,
			check: checks(wantStr(b64("dir/sub/key"), "kvs", 0, "key"), wantStr(b64("hello"), "kvs", 0, "value"))},
		{name: "GetRaw", method: http.MethodGet, target: "/v1/kv/dir/sub/key?raw", status: ok,
			check: checks(wantBody("hello"), func(t *testing.T, r *apiResult) {
				if r.header.Get("Content-Type") != "application/octet-stream" || r.header.Get("X-Cairn-Version") != "1" {
					t.Fatalf("raw headers %v", r.header)
				}
			})},
		{name: "GetRawTrue", method: http.MethodGet, target: "/v1/kv/%FF%FE?raw=true", status: ok, check: wantBody("\xff\x00")},
		{name: "GetAcceptOctets", method: http.MethodGet, target: "/v1/kv/dir/sub/key", accept: "application/octet-stream", status: ok, check: wantBody("hello")},
		{name: "GetRawMissing", method: http.MethodGet, target: "/v1/kv/nope?raw", status: http.StatusNotFound, code: "key_not_found"},
		{name: "GetRawRange", method: http.MethodGet, target: "/v1/kv/list/?prefix&raw", status: bad, code: "invalid_argument", req: reqUnchecked},
		{name: "GetSerializable", method: http.MethodGet, target: "/v1/kv/head?serializable=true", status: ok, check: wantKVs("head")},
		{name: "GetPastRevision", method: http.MethodGet, target: fmt.Sprintf("/v1/kv/hist/k?revision=%d", histRev), status: ok,
			check: checks(wantStr("before", "kvs", 0, "value"), wantNum(histRev, "header", "revision"))},
		{name: "GetCompacted", method: http.MethodGet, target: fmt.Sprintf("/v1/kv/old/k?revision=%d", oldRev), status: http.StatusGone, code: "compacted",
			check: wantNum(compactRev, "error", "compact_revision")},
		{name: "GetFutureRevision", method: http.MethodGet, target: "/v1/kv/head?revision=1000000", status: bad, code: "invalid_argument"},
		{name: "GetEmptyKey", method: http.MethodGet, target: "/v1/kv/", status: bad, code: "invalid_argument", req: reqUnchecked},
		{name: "DeleteAllRange", method: http.MethodDelete, target: "/v1/kv/?range_end=%00%01", status: ok, check: wantNum(0, "deleted")},
		// GET, ranges.
		{name: "GetPrefix", method: http.MethodGet, target: "/v1/kv/list/?prefix=true", status: ok,
			check: checks(wantKVs("list/a", "list/b", "list/c"), wantNum(3, "count"))},
		{name: "GetRangeEnd", method: http.MethodGet, target: "/v1/kv/list/a?range_end=list/c", status: ok, check: wantKVs("list/a", "list/b")},
		{name: "GetFromKey", method: http.MethodGet, target: "/v1/kv/list/b?from_key=true&keys_only=true&limit=2", status: ok,
			check: checks(wantKVs("list/b", "list/c"), wantAbsent("kvs", 0, "value"), func(t *testing.T, r *apiResult) {
				if r.json["more"] != true {
					t.Fatalf("more should be true: %s", r.body)
				}
			})},
		{name: "GetAll", method: http.MethodGet, target: "/v1/kv/?prefix=true&keys_only", status: ok,
			check: func(t *testing.T, r *apiResult) {
				if n := r.num(t, "count"); n < 10 {
					t.Fatalf("count %d: every key should be listed", n)
				}
			}},
		{name: "GetSortLimit", method: http.MethodGet, target: "/v1/kv/list/?prefix&sort_order=descend&sort_target=mod&limit=1", status: ok,
			check: checks(wantKVs("list/c"), wantNum(3, "count"))},
		{name: "GetSortValue", method: http.MethodGet, target: "/v1/kv/list/?prefix&sort_target=value&sort_order=ascend", status: ok,
			check: wantKVs("list/a", "list/b", "list/c")},
		{name: "GetCountOnly", method: http.MethodGet, target: "/v1/kv/list/?prefix=1&count_only=1", status: ok,
			check: checks(wantKVs(), wantNum(3, "count"))},
		{name: "GetFilters", method: http.MethodGet, target: fmt.Sprintf("/v1/kv/?from_key=true&min_mod_revision=%d&max_mod_revision=%d&min_create_revision=1&max_create_revision=%d", headRev, headRev, headRev), status: ok,
			check: wantKVs("head")},
		{name: "GetBase64NonUTF8", method: http.MethodGet, target: "/v1/kv/%FF%FE?encoding=base64", status: ok,
			check: wantStr(base64.StdEncoding.EncodeToString([]byte{0xff, 0xfe}), "kvs", 0, "key")},
		// GET, bad queries.
		{name: "GetUnknownParam", method: http.MethodGet, target: "/v1/kv/head?limt=1", status: bad, code: "invalid_argument", req: reqUnchecked},
		{name: "GetRepeatedParam", method: http.MethodGet, target: "/v1/kv/head?limit=1&limit=2", status: bad, code: "invalid_argument", req: reqUnchecked},
		{name: "GetNegativeLimit", method: http.MethodGet, target: "/v1/kv/list/?prefix&limit=-1", status: bad, code: "invalid_argument", req: reqInvalid},
		{name: "GetBadBool", method: http.MethodGet, target: "/v1/kv/head?serializable=maybe", status: bad, code: "invalid_argument", req: reqInvalid},
		{name: "GetBadSortOrder", method: http.MethodGet, target: "/v1/kv/list/?prefix&sort_order=sideways", status: bad, code: "invalid_argument", req: reqInvalid},
		{name: "GetBadEncoding", method: http.MethodGet, target: "/v1/kv/head?encoding=hex", status: bad, code: "invalid_argument", req: reqInvalid},
		{name: "GetRangeFormsConflict", method: http.MethodGet, target: "/v1/kv/list/?prefix&from_key", status: bad, code: "invalid_argument", req: reqUnchecked},
		{name: "GetRangeEndBeforeKey", method: http.MethodGet, target: "/v1/kv/list/b?range_end=list/a", status: bad, code: "invalid_argument", req: reqUnchecked},

		// PUT.
		{name: "PutText", method: http.MethodPut, target: "/v1/kv/put/text", body: "plain text", contentType: "text/plain", status: ok,
			check: wantAbsent("prev_kv")},
		{name: "PutJSONDocument", method: http.MethodPut, target: "/v1/kv/put/json", body: `{"a": [1, 2]}`, contentType: "application/json", status: ok},
		{name: "PutEmptyValue", method: http.MethodPut, target: "/v1/kv/put/empty", status: ok},
		{name: "PutPrevKv", method: http.MethodPut, target: "/v1/kv/cas/k?prev_kv=true&ignore_lease", body: "y", contentType: "application/octet-stream", status: ok,
			check: checks(wantStr("cas/k", "prev_kv", "key"), wantNum(casRev, "prev_kv", "mod_revision"))},
		{name: "PutPrevKvBase64", method: http.MethodPut, target: "/v1/kv/b64/k?prev_kv&encoding=base64", body: "w", contentType: "application/octet-stream", status: ok,
			check: checks(wantStr(b64("b64/k"), "prev_kv", "key"), wantStr(b64("v"), "prev_kv", "value"))},
		{name: "PutIfAbsent", method: http.MethodPut, target: "/v1/kv/put/new?if_mod_revision=0", body: "n", contentType: "application/octet-stream", status: ok},
		{name: "PutIfModRevisionFails", method: http.MethodPut, target: "/v1/kv/delcas/k?if_mod_revision=1", body: "z", contentType: "application/octet-stream",
			status: http.StatusPreconditionFailed, code: "precondition_failed", check: checks(wantStr("delcas/k", "kv", "key"), wantStr("v", "kv", "value"))},
		{name: "PutIfModRevisionMissingKey", method: http.MethodPut, target: "/v1/kv/put/absent?if_mod_revision=5", body: "z", contentType: "application/octet-stream",
			status: http.StatusPreconditionFailed, code: "precondition_failed", check: wantAbsent("kv")},
		{name: "PutLeaseNotFound", method: http.MethodPut, target: "/v1/kv/put/leased?lease=12345", body: "z", contentType: "application/octet-stream",
			status: http.StatusNotFound, code: "lease_not_found"},
		{name: "PutIgnoreValueMissingKey", method: http.MethodPut, target: "/v1/kv/put/ghost?ignore_value=true", status: http.StatusNotFound, code: "key_not_found"},
		{name: "PutIgnoreValueWithValue", method: http.MethodPut, target: "/v1/kv/head?ignore_value", body: "x", contentType: "text/plain", status: bad, code: "invalid_argument", req: reqUnchecked},
		{name: "PutNegativeLease", method: http.MethodPut, target: "/v1/kv/put/x?lease=-1", status: bad, code: "invalid_argument", req: reqInvalid},
		{name: "PutEmptyKey", method: http.MethodPut, target: "/v1/kv/", body: "x", contentType: "text/plain", status: bad, code: "invalid_argument", route: routeNoMethod},
		{name: "PutTooLarge", method: http.MethodPut, target: "/v1/kv/put/big", body: bigValue, contentType: "application/octet-stream",
			status: http.StatusRequestEntityTooLarge, code: "request_too_large"},
		{name: "PutTooLargeChunked", method: http.MethodPut, target: "/v1/kv/put/big2", body: bigValue, contentType: "application/octet-stream", chunked: true,
			status: http.StatusRequestEntityTooLarge, code: "request_too_large"},

		// DELETE.
		{name: "DeleteOne", method: http.MethodDelete, target: "/v1/kv/del/one?prev_kv=true", status: ok,
			check: checks(wantNum(1, "deleted"), wantStr("del/one", "prev_kvs", 0, "key"))},
		{name: "DeletePrefix", method: http.MethodDelete, target: "/v1/kv/del/p/?prefix", status: ok, check: checks(wantNum(2, "deleted"), wantAbsent("prev_kvs"))},
		{name: "DeleteRangeBase64", method: http.MethodDelete, target: "/v1/kv/del/r/a?range_end=del/r/z&prev_kv&encoding=base64", status: ok,
			check: checks(wantNum(2, "deleted"), wantStr(b64("del/r/a"), "prev_kvs", 0, "key"))},
		{name: "DeleteMissing", method: http.MethodDelete, target: "/v1/kv/del/none?prev_kv", status: ok, check: checks(wantNum(0, "deleted"), wantAbsent("prev_kvs"))},
		{name: "DeleteIfModRevisionFails", method: http.MethodDelete, target: "/v1/kv/delcas/k?if_mod_revision=2", status: http.StatusPreconditionFailed,
			code: "precondition_failed", check: wantStr("delcas/k", "kv", "key")},
		{name: "DeleteIfModRevisionRange", method: http.MethodDelete, target: "/v1/kv/del/?prefix&if_mod_revision=2", status: bad, code: "invalid_argument", req: reqUnchecked},
		{name: "DeleteUnknownParam", method: http.MethodDelete, target: "/v1/kv/head?limit=1", status: bad, code: "invalid_argument", req: reqUnchecked},

		// POST /v1/txn.
		{name: "TxnNested", method: http.MethodPost, target: "/v1/txn", body: nestedTxn, contentType: "application/json", status: ok,
			check: checks(func(t *testing.T, r *apiResult) {
				if r.json["succeeded"] != true {
					t.Fatalf("txn should succeed: %s", r.body)
				}
			}, wantStr("txn/a", "responses", 1, "get", "kvs", 0, "key"), wantAbsent("responses", 1, "get", "kvs", 0, "value"),
				wantNum(0, "responses", 2, "delete", "deleted"), wantNum(1, "responses", 3, "txn", "responses", 0, "get", "count"),
				wantStr("v", "responses", 3, "txn", "responses", 2, "txn", "responses", 0, "get", "kvs", 0, "value"))},
		{name: "TxnFailureBranch", method: http.MethodPost, target: "/v1/txn", contentType: "application/json", status: ok,
			body: `{"compare":[{"key":"txn/a","target":"value","result":"equal","value":"nope"}],"success":[{"delete":{"key":"txn/a"}}],"failure":[{"get":{"key":"txn/a"}},{"put":{"key":"txn/f","value":"f","prev_kv":true}}]}`,
			check: checks(func(t *testing.T, r *apiResult) {
				if r.json["succeeded"] != false {
					t.Fatalf("txn should fail its compare: %s", r.body)
				}
			}, wantStr("v", "responses", 0, "get", "kvs", 0, "value"), wantAbsent("responses", 1, "put", "prev_kv"))},
		{name: "TxnEmpty", method: http.MethodPost, target: "/v1/txn", body: `{}`, contentType: "application/json", status: ok},
		{name: "TxnBase64", method: http.MethodPost, target: "/v1/txn?encoding=base64", contentType: "application/json", status: ok,
			body:  `{"success":[{"put":{"key":"` + b64("txn/b64") + `","value":"` + b64("\xff") + `"}},{"get":{"key":"` + b64("b64/") + `","range_end":"` + b64("b64/z") + `"}}]}`,
			check: wantStr(b64("b64/k"), "responses", 1, "get", "kvs", 0, "key")},
		{name: "TxnDeletePrevKvs", method: http.MethodPost, target: "/v1/txn", contentType: "application/json", status: ok,
			body: `{"success":[{"delete":{"key":"bin/","range_end_base64":"` + b64("bin/\xff\xff") + `","prev_kv":true}}]}`,
			check: checks(wantNum(1, "responses", 0, "delete", "deleted"), wantStr(b64("bin/\xff"), "responses", 0, "delete", "prev_kvs", 0, "key_base64"),
				wantStr(b64("\xff\x01"), "responses", 0, "delete", "prev_kvs", 0, "value_base64"))},
		{name: "TxnGetCompacted", method: http.MethodPost, target: "/v1/txn", contentType: "application/json", status: http.StatusGone, code: "compacted",
			body: fmt.Sprintf(`{"success":[{"get":{"key":"old/k","revision":%d}}]}`, oldRev)},
		{name: "TxnLeaseNotFound", method: http.MethodPost, target: "/v1/txn", contentType: "application/json", status: http.StatusNotFound, code: "lease_not_found",
			body: `{"success":[{"put":{"key":"txn/l","lease":777}}]}`},
		{name: "TxnMalformedJSON", method: http.MethodPost, target: "/v1/txn", body: `{"success":[`, contentType: "application/json", status: bad, code: "invalid_argument", req: reqInvalid},
		{name: "TxnUnknownField", method: http.MethodPost, target: "/v1/txn", body: `{"succes":[]}`, contentType: "application/json", status: bad, code: "invalid_argument", req: reqInvalid},
		{name: "TxnUnknownNestedField", method: http.MethodPost, target: "/v1/txn", body: `{"success":[{"put":{"key":"k","val":"v"}}]}`, contentType: "application/json", status: bad, code: "invalid_argument", req: reqInvalid},
		{name: "TxnWrongType", method: http.MethodPost, target: "/v1/txn", body: `{"success":[{"put":{"key":"k","value":1}}]}`, contentType: "application/json", status: bad, code: "invalid_argument", req: reqInvalid},
		{name: "TxnEmptyBody", method: http.MethodPost, target: "/v1/txn", contentType: "application/json", status: bad, code: "invalid_argument", req: reqInvalid},
		{name: "TxnTrailingData", method: http.MethodPost, target: "/v1/txn", body: `{} {}`, contentType: "application/json", status: bad, code: "invalid_argument", req: reqUnchecked},
		{name: "TxnTwoOpsInOne", method: http.MethodPost, target: "/v1/txn", body: `{"success":[{"get":{"key":"a"},"delete":{"key":"a"}}]}`, contentType: "application/json", status: bad, code: "invalid_argument", req: reqInvalid},
		{name: "TxnEmptyOp", method: http.MethodPost, target: "/v1/txn", body: `{"success":[{}]}`, contentType: "application/json", status: bad, code: "invalid_argument", req: reqInvalid},
		{name: "TxnCompareNoTarget", method: http.MethodPost, target: "/v1/txn", body: `{"compare":[{"key":"a","result":"equal"}]}`, contentType: "application/json", status: bad, code: "invalid_argument", req: reqInvalid},
		{name: "TxnCompareNoKey", method: http.MethodPost, target: "/v1/txn", body: `{"compare":[{"target":"version","result":"equal","version":1}]}`, contentType: "application/json", status: bad, code: "invalid_argument", req: reqInvalid},
		{name: "TxnCompareNoOperand", method: http.MethodPost, target: "/v1/txn", body: `{"compare":[{"key":"a","target":"version","result":"equal"}]}`, contentType: "application/json", status: bad, code: "invalid_argument", req: reqUnchecked},
		{name: "TxnSameKeyTwice", method: http.MethodPost, target: "/v1/txn", body: `{"success":[{"put":{"key":"a"}},{"put":{"key":"a"}}]}`, contentType: "application/json", status: bad, code: "invalid_argument", req: reqUnchecked},
		{name: "TxnBadBase64", method: http.MethodPost, target: "/v1/txn?encoding=base64", body: `{"success":[{"put":{"key":"!!"}}]}`, contentType: "application/json", status: bad, code: "invalid_argument", req: reqUnchecked},
		{name: "TxnTooLarge", method: http.MethodPost, target: "/v1/txn", body: bigTxn, contentType: "application/json", status: http.StatusRequestEntityTooLarge, code: "request_too_large"},

		// POST /v1/compact.
		{name: "CompactAlreadyCompacted", method: http.MethodPost, target: "/v1/compact", body: fmt.Sprintf(`{"revision":%d}`, oldRev), contentType: "application/json",
			status: http.StatusGone, code: "compacted", check: wantNum(compactRev, "error", "compact_revision")},
		{name: "CompactFuture", method: http.MethodPost, target: "/v1/compact", body: `{"revision":1000000}`, contentType: "application/json", status: bad, code: "invalid_argument"},
		{name: "CompactZero", method: http.MethodPost, target: "/v1/compact", body: `{"revision":0}`, contentType: "application/json", status: bad, code: "invalid_argument", req: reqInvalid},
		{name: "CompactMissingRevision", method: http.MethodPost, target: "/v1/compact", body: `{}`, contentType: "application/json", status: bad, code: "invalid_argument", req: reqInvalid},
		{name: "CompactUnknownField", method: http.MethodPost, target: "/v1/compact", body: `{"revision":1,"physical":true}`, contentType: "application/json", status: bad, code: "invalid_argument", req: reqInvalid},

		// Watch: the stream of a compacted start ends at once, with an error
		// event; long polls answer the changes, or 204 at the timeout.
		{name: "WatchCompacted", method: http.MethodGet, target: fmt.Sprintf("/v1/watch/old/k?start_revision=%d", oldRev), status: ok,
			check: func(t *testing.T, r *apiResult) {
				body := string(r.body)
				if r.header.Get("Content-Type") != "text/event-stream" || !strings.Contains(body, "event: error") ||
					!strings.Contains(body, `"code":"compacted"`) || !strings.Contains(body, fmt.Sprintf(`"compact_revision":%d`, compactRev)) {
					t.Fatalf("compacted watch answered %s %q", r.header.Get("Content-Type"), body)
				}
			}},
		{name: "WatchBadFilter", method: http.MethodGet, target: "/v1/watch/k?filters=noget", status: bad, code: "invalid_argument"},
		{name: "WatchBadLastEventID", method: http.MethodGet, target: "/v1/watch/k", status: bad, code: "invalid_argument",
			req: reqInvalid, headers: map[string]string{"Last-Event-ID": "yesterday"}},
		{name: "WaitPast", method: http.MethodGet, target: fmt.Sprintf("/v1/kv/hist/k?wait=true&wait_revision=%d&timeout=5s", histRev), status: ok,
			check: checks(wantStr("after", "events", 0, "kv", "value"), wantStr("PUT", "events", 0, "type"))},
		{name: "WaitPrefixPast", method: http.MethodGet, target: fmt.Sprintf("/v1/kv/hist/?prefix=true&wait&wait_revision=%d", histRev-1), status: ok,
			check: checks(wantNum(histRev+1, "header", "revision"), wantStr("before", "events", 0, "kv", "value"), wantStr("after", "events", 1, "kv", "value"))},
		{name: "WaitTimeout", method: http.MethodGet, target: "/v1/kv/never?wait=true&timeout=50ms", status: http.StatusNoContent},
		{name: "WaitCompacted", method: http.MethodGet, target: fmt.Sprintf("/v1/kv/old/k?wait=true&wait_revision=%d", oldRev-1), status: http.StatusGone, code: "compacted"},
		{name: "WaitWithLimit", method: http.MethodGet, target: "/v1/kv/k?wait=true&limit=1", status: bad, code: "invalid_argument"},
		{name: "WaitBadTimeout", method: http.MethodGet, target: "/v1/kv/k?wait=true&timeout=forever", status: bad, code: "invalid_argument"},
		{name: "WaitRevisionWithoutWait", method: http.MethodGet, target: "/v1/kv/k?wait_revision=3", status: bad, code: "invalid_argument"},

		// Leases.
		{name: "LeaseList", method: http.MethodGet, target: "/v1/leases", status: ok, check: wantNum(4242, "leases", 0, "id")},
		{name: "LeaseTTL", method: http.MethodGet, target: "/v1/leases/4242?keys=true", status: ok,
			check: checks(wantNum(600, "granted_ttl"), wantStr("leased/k", "keys", 0, "key"))},
		{name: "LeaseKeepAlive", method: http.MethodPost, target: "/v1/leases/4242/keepalive", status: ok, check: wantNum(600, "ttl")},
		{name: "LeaseRevoke", method: http.MethodDelete, target: "/v1/leases/4444", status: ok},
		{name: "LeaseTTLMissing", method: http.MethodGet, target: "/v1/leases/999", status: http.StatusNotFound, code: "lease_not_found"},
		{name: "LeaseKeepAliveMissing", method: http.MethodPost, target: "/v1/leases/999/keepalive", status: http.StatusNotFound, code: "lease_not_found"},
		{name: "LeaseRevokeMissing", method: http.MethodDelete, target: "/v1/leases/999", status: http.StatusNotFound, code: "lease_not_found"},
		{name: "LeaseBadID", method: http.MethodGet, target: "/v1/leases/abc", status: bad, code: "invalid_argument", req: reqInvalid},
		{name: "LeaseGrantConflict", method: http.MethodPost, target: "/v1/leases", body: `{"ttl":10,"id":4242}`, contentType: "application/json",
			status: http.StatusConflict, code: "conflict"},
		{name: "LeaseGrantZeroTTL", method: http.MethodPost, target: "/v1/leases", body: `{"ttl":0}`, contentType: "application/json",
			status: bad, code: "invalid_argument", req: reqInvalid},
		{name: "LeaseGrantUnknownField", method: http.MethodPost, target: "/v1/leases", body: `{"ttl":10,"name":"x"}`, contentType: "application/json",
			status: bad, code: "invalid_argument", req: reqInvalid},
		{name: "PutMissingLease", method: http.MethodPut, target: "/v1/kv/nolease?lease=999", body: "v", contentType: "application/octet-stream",
			status: http.StatusNotFound, code: "lease_not_found"},
		{name: "CompactString", method: http.MethodPost, target: "/v1/compact", body: `{"revision":"1"}`, contentType: "application/json", status: bad, code: "invalid_argument", req: reqInvalid},

		// Cluster and maintenance.
		{name: "Status", method: http.MethodGet, target: "/v1/status", status: ok,
			check: checks(wantStr("n1", "name"), wantStr("n1", "leader_name"), wantNum(compactRev, "compact_revision"))},
		{name: "StatusUnknownParam", method: http.MethodGet, target: "/v1/status?verbose=1", status: bad, code: "invalid_argument", req: reqUnchecked},
		{name: "Members", method: http.MethodGet, target: "/v1/cluster/members", status: ok,
			check: checks(wantStr("n1", "members", 0, "name"), func(t *testing.T, r *apiResult) {
				if r.get(t, "members", 0, "is_leader") != true {
					t.Fatalf("the only member should lead: %s", r.body)
				}
			})},
		{name: "AddMemberNoName", method: http.MethodPost, target: "/v1/cluster/members", body: `{"peer_addr":"127.0.0.1:1"}`, contentType: "application/json", status: bad, code: "invalid_argument", req: reqInvalid},
		{name: "AddMemberLearnerNotBool", method: http.MethodPost, target: "/v1/cluster/members", body: `{"name":"l","peer_addr":"127.0.0.1:1","learner":"yes"}`, contentType: "application/json", status: bad, code: "invalid_argument", req: reqInvalid},
		{name: "AddMemberUnreachableVoter", method: http.MethodPost, target: "/v1/cluster/members", body: `{"name":"v","peer_addr":"127.0.0.1:1"}`, contentType: "application/json", status: http.StatusConflict, code: "conflict"},
		{name: "RemoveOnlyVoter", method: http.MethodDelete, target: fmt.Sprintf("/v1/cluster/members/%d", raftadapter.MemberID("n1")), status: http.StatusConflict, code: "conflict"},
		{name: "RemoveBadID", method: http.MethodDelete, target: "/v1/cluster/members/-1", status: bad, code: "invalid_argument", req: reqInvalid},
		{name: "PromoteVoter", method: http.MethodPost, target: fmt.Sprintf("/v1/cluster/members/%d/promote", raftadapter.MemberID("n1")), status: ok, check: wantBool(false, "members", 0, "is_learner")},
		{name: "AddMemberMalformed", method: http.MethodPost, target: "/v1/cluster/members", body: `{"name":`, contentType: "application/json", status: bad, code: "invalid_argument", req: reqInvalid},
		{name: "Hash", method: http.MethodGet, target: "/v1/maintenance/hash", status: ok, check: wantNum(compactRev, "compact_revision")},
		{name: "HashAtRevision", method: http.MethodGet, target: fmt.Sprintf("/v1/maintenance/hash?revision=%d&serializable", histRev), status: ok, check: wantNum(histRev, "revision")},
		{name: "HashCompacted", method: http.MethodGet, target: fmt.Sprintf("/v1/maintenance/hash?revision=%d", oldRev), status: http.StatusGone, code: "compacted"},
		{name: "HashFuture", method: http.MethodGet, target: "/v1/maintenance/hash?revision=1000000", status: bad, code: "invalid_argument"},

		// The members' calls are not on the client port: they are on the
		// peer port, for the members only (peer_test.go).
		{name: "InternalReadIndex", method: http.MethodGet, target: "/v1/internal/read_index", status: http.StatusNotFound, code: "not_found", route: routeNoPath},
		{name: "InternalPropose", method: http.MethodPost, target: "/v1/internal/propose", body: encodedPut(t, "internal/k"), contentType: "application/octet-stream",
			status: http.StatusNotFound, code: "not_found", route: routeNoPath},

		// Health.
		{name: "Healthz", method: http.MethodGet, target: "/healthz", status: ok},
		{name: "Metrics", method: http.MethodGet, target: "/metrics", status: ok, check: func(t *testing.T, r *apiResult) {
			if !bytes.Contains(r.body, []byte("cairn_http_requests_total")) {
				t.Fatalf("no cairn_http_requests_total in the metrics")
			}
		}},

		// Outside the document.
		{name: "UnknownPath", method: http.MethodGet, target: "/v1/nope", status: http.StatusNotFound, code: "not_found", route: routeNoPath},
		{name: "MethodNotAllowed", method: http.MethodPost, target: "/v1/status", status: http.StatusMethodNotAllowed, code: "method_not_allowed", route: routeNoMethod},
	}
	runCases(t, doc, router, ms, cases)
}

// TestOpenAPI_Followers validates answers that a member gives when it must
// forward to the leader.
func TestOpenAPI_Followers(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 3)
	doc := loadSpec(t)
	router := specRouter(t, doc, ms)

	follower := -1
	waitFor(t, 10*time.Second, "a follower that knows the leader", func() bool {
		follower = currentFollower(t, ms)
		return follower >= 0
	})
	// The subject is what a follower answers, not leadership: under load
	// the leader may change, and the follower then answers 503 or 504 for a
	// while. Every request below is sent again then, as a client would;
	// each tolerates being applied twice (a put sent again moves the key's
	// revision on, and the revisions are those of the answers).
	f := func(c apiCase) apiCase {
		c.member = follower
		c.retry = true
		return c
	}
	step(t, doc, router, ms, f(apiCase{name: "Readyz", method: http.MethodGet, target: "/readyz", status: http.StatusOK}))
	step(t, doc, router, ms, f(put("Put", "f/k", "v1")))
	oldRev := step(t, doc, router, ms, f(put("Put2", "f/k", "v2"))).num(t, "header", "revision")
	newRev := step(t, doc, router, ms, f(put("Put3", "f/k", "v3"))).num(t, "header", "revision")
	step(t, doc, router, ms, f(apiCase{name: "Compact", method: http.MethodPost, target: "/v1/compact",
		body: fmt.Sprintf(`{"revision":%d}`, newRev), contentType: "application/json", status: http.StatusOK,
		reapplied: &apiCase{status: http.StatusGone, code: "compacted", check: wantNum(newRev, "error", "compact_revision")}}))

	runCases(t, doc, router, ms, []apiCase{
		f(apiCase{name: "Get", method: http.MethodGet, target: "/v1/kv/f/k", status: http.StatusOK, check: wantStr("v3", "kvs", 0, "value")}),
		f(apiCase{name: "GetSerializable", method: http.MethodGet, target: "/v1/kv/f/?prefix&serializable", status: http.StatusOK}),
		f(apiCase{name: "GetMissing", method: http.MethodGet, target: "/v1/kv/f/none", status: http.StatusNotFound, code: "key_not_found"}),
		f(apiCase{name: "GetCompacted", method: http.MethodGet, target: fmt.Sprintf("/v1/kv/f/k?revision=%d", oldRev), status: http.StatusGone, code: "compacted"}),
		f(apiCase{name: "PutPrecondition", method: http.MethodPut, target: "/v1/kv/f/k?if_mod_revision=1&prev_kv", body: "x", contentType: "text/plain",
			status: http.StatusPreconditionFailed, code: "precondition_failed", check: wantNum(newRev, "kv", "mod_revision")}),
		f(apiCase{name: "PutLeaseNotFound", method: http.MethodPut, target: "/v1/kv/f/l?lease=99", status: http.StatusNotFound, code: "lease_not_found"}),
		f(apiCase{name: "Delete", method: http.MethodDelete, target: "/v1/kv/f/gone?prev_kv", status: http.StatusOK, check: wantNum(0, "deleted")}),
		f(apiCase{name: "Txn", method: http.MethodPost, target: "/v1/txn", contentType: "application/json", status: http.StatusOK,
			body:  `{"compare":[{"key":"f/k","target":"value","result":"equal","value":"v3"}],"success":[{"put":{"key":"f/t","value":"t"}},{"txn":{"success":[{"get":{"key":"f/k"}}]}}]}`,
			check: wantStr("v3", "responses", 1, "txn", "responses", 0, "get", "kvs", 0, "value")}),
		f(apiCase{name: "TxnInvalid", method: http.MethodPost, target: "/v1/txn", contentType: "application/json", status: http.StatusBadRequest, code: "invalid_argument",
			body: `{"success":[{"put":{"key":"a"}},{"put":{"key":"a"}}]}`, req: reqUnchecked}),
		f(apiCase{name: "CompactCompacted", method: http.MethodPost, target: "/v1/compact", body: fmt.Sprintf(`{"revision":%d}`, oldRev), contentType: "application/json",
			status: http.StatusGone, code: "compacted", check: wantNum(newRev, "error", "compact_revision")}),
		f(apiCase{name: "CompactFuture", method: http.MethodPost, target: "/v1/compact", body: `{"revision":1000000}`, contentType: "application/json",
			status: http.StatusBadRequest, code: "invalid_argument"}),
		f(apiCase{name: "Status", method: http.MethodGet, target: "/v1/status", status: http.StatusOK}),
		f(apiCase{name: "Members", method: http.MethodGet, target: "/v1/cluster/members", status: http.StatusOK, check: func(t *testing.T, r *apiResult) {
			if n := len(r.get(t, "members").([]any)); n != 3 {
				t.Fatalf("%d members, want 3: %s", n, r.body)
			}
		}}),
		f(apiCase{name: "Hash", method: http.MethodGet, target: "/v1/maintenance/hash", status: http.StatusOK}),
		f(apiCase{name: "MoveLeaderUnknown", method: http.MethodPost, target: "/v1/cluster/leader", body: `{"to":12345}`, contentType: "application/json",
			status: http.StatusNotFound, code: "not_found"}),
		f(apiCase{name: "MoveLeaderNoTarget", method: http.MethodPost, target: "/v1/cluster/leader", body: `{}`, contentType: "application/json",
			status: http.StatusBadRequest, code: "invalid_argument", req: reqUnchecked}),
	})
	// Last, as it moves the leader: to the follower that takes the calls.
	to := raftadapter.MemberID(ms[follower].cfg.Name)
	step(t, doc, router, ms, f(apiCase{name: "MoveLeader", method: http.MethodPost, target: "/v1/cluster/leader",
		body: fmt.Sprintf(`{"to":%d}`, to), contentType: "application/json", status: http.StatusOK,
		check: func(t *testing.T, r *apiResult) {
			if !strings.Contains(string(r.body), fmt.Sprintf(`"leader":%d`, to)) {
				t.Fatalf("moved to %d: %s", to, r.body)
			}
		}}))
}

// currentFollower returns the index of a member that follows a known
// leader, by its own status, or -1.
func currentFollower(t *testing.T, ms []*member) int {
	t.Helper()
	for i, m := range ms {
		code, body := do(t, http.MethodGet, m.URL+"/v1/status", "")
		var st struct {
			MemberID uint64 `json:"member_id"`
			Leader   uint64 `json:"leader"`
		}
		if code == http.StatusOK && json.Unmarshal([]byte(body), &st) == nil && st.Leader != 0 && st.Leader != st.MemberID {
			return i
		}
	}
	return -1
}

// TestOpenAPI_AddMember validates the 201 of POST /v1/cluster/members with
// a real member that waits to be added.
func TestOpenAPI_AddMember(t *testing.T) {
	t.Parallel()
	peers := []Peer{
		{Name: "n1", URL: fmt.Sprintf("http://127.0.0.1:%d", freePort(t))},
		{Name: "n2", URL: fmt.Sprintf("http://127.0.0.1:%d", freePort(t))},
	}
	n1 := startMember(t, testConfig(t, "n1", t.TempDir(), freePort(t), peers[:1]))
	waitReady(t, n1.URL, 20*time.Second)
	cfg := testConfig(t, "n2", t.TempDir(), freePort(t), peers)
	cfg.InitialClusterState = "existing"
	n2 := startMember(t, cfg)
	all := []*member{n1, n2}
	doc := loadSpec(t)
	router := specRouter(t, doc, all)

	body, err := json.Marshal(map[string]any{"name": "n2", "peer_addr": peers[1].URL, "client_urls": []string{n2.URL}, "learner": true})
	if err != nil {
		t.Fatal(err)
	}
	step(t, doc, router, all, apiCase{name: "AddLearner", method: http.MethodPost, target: "/v1/cluster/members", body: string(body),
		contentType: "application/json", status: http.StatusCreated, check: checks(wantStr("n2", "member", "name"), wantBool(true, "member", "is_learner"))})
	waitFor(t, 20*time.Second, "n2 to know both members", func() bool {
		code, body := do(t, http.MethodGet, n2.URL+"/v1/cluster/members", "")
		return code == http.StatusOK && strings.Count(body, `"name"`) == 2
	})
	n2ID := raftadapter.MemberID("n2")
	// In order: promote through the learner itself, look, remove. The
	// parallel cases run last, and change nothing.
	step(t, doc, router, all, apiCase{name: "Promote", member: 1, method: http.MethodPost, target: fmt.Sprintf("/v1/cluster/members/%d/promote", n2ID),
		status: http.StatusOK, check: wantBool(false, "members", 1, "is_learner")})
	step(t, doc, router, all, apiCase{name: "Members", member: 1, method: http.MethodGet, target: "/v1/cluster/members", status: http.StatusOK,
		check: checks(wantStr("n2", "members", 1, "name"), wantStr(peers[1].URL, "members", 1, "peer_addr"))})
	// n1 leads unless the load made n2 take over (both are fine): the new
	// member names the leader through the replicated registry.
	step(t, doc, router, all, apiCase{name: "Status", member: 1, method: http.MethodGet, target: "/v1/status", status: http.StatusOK, check: func(t *testing.T, r *apiResult) {
		if got := r.str(t, "leader_name"); got != "n1" && got != "n2" {
			t.Fatalf("leader_name = %q, want n1 or n2; body %s", got, r.body)
		}
	}})
	step(t, doc, router, all, apiCase{name: "Remove", method: http.MethodDelete, target: fmt.Sprintf("/v1/cluster/members/%d", n2ID), status: http.StatusOK,
		check: func(t *testing.T, r *apiResult) {
			if ms := r.json["members"].([]any); len(ms) != 1 {
				t.Fatalf("members after the removal: %s", r.body)
			}
		}})
	runCases(t, doc, router, all, []apiCase{
		{name: "PromoteUnknown", method: http.MethodPost, target: "/v1/cluster/members/12345/promote", status: http.StatusNotFound, code: "not_found"},
		{name: "RemoveUnknown", method: http.MethodDelete, target: "/v1/cluster/members/12345", status: http.StatusNotFound, code: "not_found"},
	})
}

// TestOpenAPI_Locks walks a lock and an election through their calls, in
// order, validating every request and answer.
func TestOpenAPI_Locks(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 1)
	doc := loadSpec(t)
	router := specRouter(t, doc, ms)
	js := func(name, method, target, body string, status int, code string) apiCase {
		return apiCase{name: name, method: method, target: target, body: body, contentType: "application/json", status: status, code: code}
	}
	owner := step(t, doc, router, ms, js("Lock", http.MethodPost, "/v1/locks/jobs/nightly?timeout=5s", `{"ttl":30}`, http.StatusOK, ""))
	key := owner.str(t, "key")
	fence := owner.num(t, "fence")
	if !strings.HasPrefix(key, "jobs/nightly/") || fence <= 0 {
		t.Fatalf("lock answer %s", owner.body)
	}
	step(t, doc, router, ms, js("LockTryOnceHeld", http.MethodPost, "/v1/locks/jobs/nightly?timeout=0", `{"ttl":30}`, http.StatusLocked, "locked"))
	step(t, doc, router, ms, js("LockShortTimeout", http.MethodPost, "/v1/locks/jobs/nightly?timeout=100ms", `{"ttl":30}`, http.StatusLocked, "locked"))
	st := step(t, doc, router, ms, apiCase{name: "LockStatus", method: http.MethodGet, target: "/v1/locks/jobs/nightly", status: http.StatusOK})
	if st.str(t, "owner", "key") != key || len(st.json["waiters"].([]any)) != 0 {
		t.Fatalf("status after two waiters gave up: %s", st.body)
	}
	step(t, doc, router, ms, js("LockBadBody", http.MethodPost, "/v1/locks/jobs/nightly", `{"ttl":30,"lease":5}`, http.StatusBadRequest, "invalid_argument"))
	step(t, doc, router, ms, js("LockMissingLease", http.MethodPost, "/v1/locks/jobs/other", `{"lease":999}`, http.StatusNotFound, "lease_not_found"))
	step(t, doc, router, ms, apiCase{name: "UnlockWrongKey", method: http.MethodDelete, target: "/v1/locks/jobs/nightly?key=jobs/nightly/0", status: http.StatusNotFound, code: "not_found"})
	step(t, doc, router, ms, apiCase{name: "UnlockForeignKey", method: http.MethodDelete, target: "/v1/locks/jobs/nightly?key=other", status: http.StatusBadRequest, code: "invalid_argument"})
	step(t, doc, router, ms, apiCase{name: "Unlock", method: http.MethodDelete, target: "/v1/locks/jobs/nightly?key=" + url.QueryEscape(key), status: http.StatusOK})
	next := step(t, doc, router, ms, js("LockAgain", http.MethodPost, "/v1/locks/jobs/nightly?timeout=0", `{"ttl":30}`, http.StatusOK, ""))
	if next.num(t, "fence") <= fence {
		t.Fatalf("the next owner's fence %d is not above %d", next.num(t, "fence"), fence)
	}

	won := step(t, doc, router, ms, js("Campaign", http.MethodPost, "/v1/elections/svc/primary/campaign?timeout=5s", `{"value":"node-a","ttl":30}`, http.StatusOK, ""))
	leader, _ := json.Marshal(won.get(t, "leader"))
	step(t, doc, router, ms, apiCase{name: "Leader", method: http.MethodGet, target: "/v1/elections/svc/primary", status: http.StatusOK,
		check: wantStr("node-a", "kv", "value")})
	step(t, doc, router, ms, js("Proclaim", http.MethodPost, "/v1/elections/svc/primary/proclaim", `{"leader":`+string(leader)+`,"value":"node-a2"}`, http.StatusOK, ""))
	step(t, doc, router, ms, apiCase{name: "LeaderAfterProclaim", method: http.MethodGet, target: "/v1/elections/svc/primary", status: http.StatusOK,
		check: wantStr("node-a2", "kv", "value")})
	stale := strings.Replace(string(leader), fmt.Sprintf(`"rev":%d`, won.num(t, "leader", "rev")), `"rev":1`, 1)
	step(t, doc, router, ms, js("ProclaimNotLeader", http.MethodPost, "/v1/elections/svc/primary/proclaim", `{"leader":`+stale+`,"value":"x"}`, http.StatusPreconditionFailed, "precondition_failed"))
	step(t, doc, router, ms, js("CampaignTryOnce", http.MethodPost, "/v1/elections/svc/primary/campaign?timeout=0", `{"value":"b","ttl":30}`, http.StatusBadRequest, "invalid_argument"))
	step(t, doc, router, ms, js("CampaignTimeout", http.MethodPost, "/v1/elections/svc/primary/campaign?timeout=100ms", `{"value":"b","ttl":30}`, http.StatusLocked, "locked"))
	step(t, doc, router, ms, js("Resign", http.MethodPost, "/v1/elections/svc/primary/resign", `{"leader":`+string(leader)+`}`, http.StatusOK, ""))
	step(t, doc, router, ms, js("ResignAgain", http.MethodPost, "/v1/elections/svc/primary/resign", `{"leader":`+string(leader)+`}`, http.StatusPreconditionFailed, "precondition_failed"))
	step(t, doc, router, ms, apiCase{name: "NoLeader", method: http.MethodGet, target: "/v1/elections/svc/primary", status: http.StatusNotFound, code: "not_found"})
	step(t, doc, router, ms, apiCase{name: "UnknownAction", method: http.MethodPost, target: "/v1/elections/svc/primary", body: `{}`, contentType: "application/json", status: http.StatusNotFound, code: "not_found",
		route: routeNoMethod})
}
