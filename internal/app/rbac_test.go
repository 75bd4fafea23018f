package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The RBAC tests run a 3-member cluster with auth on and check, cell by
// cell, what each user may do, through every member, with each kind of
// credential.

// credential makes a request carry a user's identity: a header, or the
// client certificate of the HTTP client it goes through.
type credential struct {
	kind   string
	client *http.Client
	apply  func(*http.Request)
}

// rbacEnv is a 3-member cluster with TLS and mTLS on both sides and auth
// on. anon presents a certificate without a common name: it is no user.
type rbacEnv struct {
	ms   []*member
	pki  clusterPKI
	anon *http.Client
}

func (e *rbacEnv) basic(user, password string) credential {
	return credential{"basic", e.anon, func(r *http.Request) { r.SetBasicAuth(user, password) }}
}

func (e *rbacEnv) token(token string) credential {
	return credential{"token", e.anon, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }}
}

// cert is the user's client certificate (common name user), no header.
func (e *rbacEnv) cert(t *testing.T, user string) credential {
	cert, key := e.pki.clientCA.Issue(t, user, false)
	return credential{"certificate", tlsHTTPClient(t, e.pki.clientCA.ClientConfig(t, cert, key)), nil}
}

// do sends a request with cred and returns the status and body.
func (e *rbacEnv) do(cred credential, method, url, body string) (int, string) {
	return authRequest(cred.client, cred, method, url, body)
}

// authRequest sends a request with a credential through c and returns the
// status and body. For a watch, it returns once the headers (and, on
// success, the opening comment) arrive.
func authRequest(c *http.Client, cred credential, method, url, body string) (int, string) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	if cred.apply != nil {
		cred.apply(req)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		buf := make([]byte, 64)
		n, _ := resp.Body.Read(buf)
		return resp.StatusCode, string(buf[:n])
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// rootDo sends a request as root (HTTP Basic), retrying while the cluster
// has no leader, and fails the test unless it succeeds.
func (e *rbacEnv) rootDo(t *testing.T, url, method, path, body string) string {
	t.Helper()
	code, resp, _ := retryUnavailable(t, method+" "+path, func() (int, string) {
		return e.do(e.basic("root", "rootpw"), method, url+path, body)
	})
	if code != http.StatusOK {
		t.Fatalf("%s %s as root: %d %s", method, path, code, resp)
	}
	return resp
}

// setupAuth creates root, the roles and users of the matrix through m, and
// enables auth:
//
//	rw: readwrite on the prefix app/    ro: read on the prefix app/
//	wo: write on the key app/k only     none: no role at all
func (e *rbacEnv) setupAuth(t *testing.T, url string) {
	t.Helper()
	steps := []struct{ method, path, body string }{
		{"POST", "/v1/auth/users", `{"name":"root","password":"rootpw"}`},
		{"POST", "/v1/auth/roles", `{"name":"root"}`},
		{"PUT", "/v1/auth/users/root/roles/root", ""},
		{"POST", "/v1/auth/roles", `{"name":"rw"}`},
		{"POST", "/v1/auth/roles/rw/permissions", `{"key":"app/","prefix":true,"permission":"readwrite"}`},
		{"POST", "/v1/auth/roles", `{"name":"ro"}`},
		{"POST", "/v1/auth/roles/ro/permissions", `{"key":"app/","prefix":true,"permission":"read"}`},
		{"POST", "/v1/auth/roles", `{"name":"wo"}`},
		{"POST", "/v1/auth/roles/wo/permissions", `{"key":"app/k","permission":"write"}`},
	}
	for _, u := range []string{"rw", "ro", "wo", "none"} {
		steps = append(steps, struct{ method, path, body string }{"POST", "/v1/auth/users", fmt.Sprintf(`{"name":%q,"password":"%spw"}`, u, u)})
		if u != "none" {
			steps = append(steps, struct{ method, path, body string }{"PUT", "/v1/auth/users/" + u + "/roles/" + u, ""})
		}
	}
	steps = append(steps,
		struct{ method, path, body string }{"PUT", "/v1/kv/app/k", "secret-value"},
		struct{ method, path, body string }{"PUT", "/v1/kv/other", "secret-value"},
		struct{ method, path, body string }{"POST", "/v1/auth/enable", ""},
	)
	for _, s := range steps {
		e.rootDo(t, url, s.method, s.path, s.body)
	}
}

func authCluster(t *testing.T) *rbacEnv {
	t.Helper()
	pki := newClusterPKI(t)
	cert, key := pki.clientCA.Issue(t, "", false)
	e := &rbacEnv{pki: pki, anon: tlsHTTPClient(t, pki.clientCA.ClientConfig(t, cert, key))}
	e.ms = startTLSCluster(t, 3, pki, func(c *Config) { c.BcryptCost = 4 })
	e.setupAuth(t, e.ms[0].URL)
	// Every member has applied the enable once it refuses a request
	// without credentials.
	for _, m := range e.ms {
		waitFor(t, 10*time.Second, m.cfg.Name+" to enforce auth", func() bool {
			code, _ := e.do(credential{client: e.anon}, "GET", m.URL+"/v1/kv/app/k", "")
			return code == http.StatusUnauthorized
		})
	}
	return e
}

func (e *rbacEnv) authenticate(t *testing.T, url, user, password string) string {
	t.Helper()
	code, body, _ := retryUnavailable(t, "authenticate", func() (int, string) {
		return requestWith(e.anon, "POST", url+"/v1/auth/authenticate", fmt.Sprintf(`{"name":%q,"password":%q}`, user, password))
	})
	if code != http.StatusOK {
		t.Fatalf("authenticate %s: %d %s", user, code, body)
	}
	var out struct {
		Token string `json:"token"`
		TTL   int64  `json:"ttl"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil || out.Token == "" || out.TTL <= 0 {
		t.Fatalf("authenticate %s: %s (%v)", user, body, err)
	}
	return out.Token
}

// rbacOp is one column of the matrix: a request and the users allowed it.
type rbacOp struct {
	name                string
	method, path, body  string
	allowed             string // users allowed, space separated; root always is
	allowedStatus       []int  // what an allowed user may get (200 when empty)
	repeatable, quietly bool
}

var rbacOps = []rbacOp{
	{name: "get key", method: "GET", path: "/v1/kv/app/k", allowed: "rw ro"},
	{name: "get prefix", method: "GET", path: "/v1/kv/app/?prefix=true", allowed: "rw ro"},
	{name: "get from app/ on", method: "GET", path: "/v1/kv/app/?from_key=true", allowed: ""},
	{name: "get other", method: "GET", path: "/v1/kv/other", allowed: ""},
	{name: "serializable get", method: "GET", path: "/v1/kv/app/k?serializable=true", allowed: "rw ro"},
	{name: "put key", method: "PUT", path: "/v1/kv/app/k", body: "v2", allowed: "rw wo"},
	{name: "put key prev_kv", method: "PUT", path: "/v1/kv/app/k?prev_kv=true", body: "v3", allowed: "rw"},
	{name: "put key cas", method: "PUT", path: "/v1/kv/app/k?if_mod_revision=1", body: "v4", allowed: "rw", allowedStatus: []int{412}},
	{name: "put other key in app/", method: "PUT", path: "/v1/kv/app/x", body: "v", allowed: "rw"},
	{name: "put other", method: "PUT", path: "/v1/kv/other", body: "v", allowed: ""},
	{name: "delete missing key", method: "DELETE", path: "/v1/kv/app/gone", allowed: "rw"},
	{name: "delete prefix", method: "DELETE", path: "/v1/kv/app/zz/?prefix=true", allowed: "rw"},
	{name: "txn read", method: "POST", path: "/v1/txn",
		body: `{"compare":[{"key":"app/k","target":"version","result":"greater","version":0}],"success":[{"get":{"key":"app/k"}}]}`, allowed: "rw ro"},
	{name: "txn write on the other branch", method: "POST", path: "/v1/txn",
		body: `{"compare":[{"key":"app/k","target":"version","result":"greater","version":0}],"success":[{"get":{"key":"app/k"}}],"failure":[{"put":{"key":"app/k","value":"x"}}]}`, allowed: "rw"},
	{name: "txn nested write outside", method: "POST", path: "/v1/txn",
		body: `{"success":[{"txn":{"success":[{"delete":{"key":"other"}}]}}]}`, allowed: ""},
	{name: "watch prefix", method: "GET", path: "/v1/watch/app/?prefix=true", allowed: "rw ro"},
	{name: "watch other", method: "GET", path: "/v1/watch/other", allowed: ""},
	{name: "long poll", method: "GET", path: "/v1/kv/app/k?wait=true&timeout=10ms", allowed: "rw ro", allowedStatus: []int{204}},
	{name: "lock status", method: "GET", path: "/v1/locks/app/lk", allowed: "rw ro"},
	{name: "unlock", method: "DELETE", path: "/v1/locks/app/lk?key=app/lk/1", allowed: "rw", allowedStatus: []int{404}},
	{name: "election leader", method: "GET", path: "/v1/elections/app/el", allowed: "rw ro", allowedStatus: []int{404}},
	{name: "lease list", method: "GET", path: "/v1/leases", allowed: "rw ro wo none"},
	{name: "status", method: "GET", path: "/v1/status", allowed: "rw ro wo none"},
	{name: "members", method: "GET", path: "/v1/cluster/members", allowed: "rw ro wo none"},
	{name: "add member", method: "POST", path: "/v1/cluster/members", body: `{}`, allowed: "", allowedStatus: []int{400}},
	{name: "hash", method: "GET", path: "/v1/maintenance/hash", allowed: ""},
	{name: "snapshot", method: "GET", path: "/v1/maintenance/snapshot", allowed: ""},
	{name: "defragment", method: "POST", path: "/v1/maintenance/defragment", allowed: ""},
	{name: "compact", method: "POST", path: "/v1/compact", body: `{"revision":1}`, allowed: "", allowedStatus: []int{410, 200}},
	{name: "auth status", method: "GET", path: "/v1/auth/status", allowed: "rw ro wo none"},
	{name: "auth users", method: "GET", path: "/v1/auth/users", allowed: ""},
	{name: "auth role", method: "GET", path: "/v1/auth/roles/rw", allowed: ""},
	{name: "add user", method: "POST", path: "/v1/auth/users", body: `{"name":"x/y","password":"p"}`, allowed: "", allowedStatus: []int{400}},
	{name: "disable", method: "POST", path: "/v1/auth/disable?bad=1", allowed: "", allowedStatus: []int{400}},
}

// TestRBAC_Matrix checks every cell of users × operations, through each
// member, with HTTP Basic, with a token and with a client certificate: an
// allowed request gets its usual answer, a refused one 403
// permission_denied without a word of what the keys hold, and a request
// without credentials 401.
func TestRBAC_Matrix(t *testing.T) {
	e := authCluster(t)
	ms := e.ms
	users := []string{"root", "rw", "ro", "wo", "none"}
	creds := map[string][]credential{}
	for _, u := range users {
		creds[u] = []credential{e.basic(u, u+"pw"), e.token(e.authenticate(t, ms[1].URL, u, u+"pw")), e.cert(t, u)}
	}
	cells := 0
	for _, op := range rbacOps {
		for _, m := range ms {
			if code, body := e.do(credential{client: e.anon}, op.method, m.URL+op.path, op.body); code != http.StatusUnauthorized {
				t.Errorf("%s on %s without credentials: %d %.200s", op.name, m.cfg.Name, code, body)
			}
			for _, u := range users {
				allowed := u == "root" || strings.Contains(" "+op.allowed+" ", " "+u+" ")
				for _, cred := range creds[u] {
					cells++
					code, body, _ := retryUnavailable(t, op.name, func() (int, string) {
						return e.do(cred, op.method, m.URL+op.path, op.body)
					})
					what := fmt.Sprintf("%s as %s (%s) on %s", op.name, u, cred.kind, m.cfg.Name)
					switch {
					case !allowed && code != http.StatusForbidden:
						t.Errorf("%s: %d %.300s, want 403", what, code, body)
					case !allowed && (strings.Contains(body, "secret-value") || !strings.Contains(body, `"permission_denied"`)):
						t.Errorf("%s: the refusal says too much or too little: %.300s", what, body)
					case allowed && !okStatus(code, op.allowedStatus):
						t.Errorf("%s: %d %.300s, want %v", what, code, body, append([]int{200}, op.allowedStatus...))
					}
				}
			}
		}
	}
	t.Logf("%d cells checked", cells)
}

func okStatus(code int, also []int) bool {
	if code == http.StatusOK {
		return true
	}
	for _, c := range also {
		if code == c {
			return true
		}
	}
	return false
}

// TestRBAC_TokenVoidAfterPasswordChange: a token stops working, on every
// member, once its user's password changes; a new token works.
func TestRBAC_TokenVoidAfterPasswordChange(t *testing.T) {
	e := authCluster(t)
	ms := e.ms
	tok := e.authenticate(t, ms[0].URL, "rw", "rwpw")
	for _, m := range ms {
		if code, body := e.do(e.token(tok), "GET", m.URL+"/v1/kv/app/k", ""); code != http.StatusOK {
			t.Fatalf("the token on %s: %d %s", m.cfg.Name, code, body)
		}
	}
	e.rootDo(t, ms[2].URL, "POST", "/v1/auth/users/rw/password", `{"password":"changed"}`)
	for _, m := range ms {
		// A follower applies the change a moment after the leader answers.
		waitFor(t, 10*time.Second, "the old token to be refused on "+m.cfg.Name, func() bool {
			code, _ := e.do(e.token(tok), "GET", m.URL+"/v1/kv/app/k", "")
			return code == http.StatusUnauthorized
		})
		if code, _ := e.do(e.basic("rw", "rwpw"), "GET", m.URL+"/v1/kv/app/k", ""); code != http.StatusUnauthorized {
			t.Fatalf("the old password on %s: %d", m.cfg.Name, code)
		}
	}
	tok = e.authenticate(t, ms[1].URL, "rw", "changed")
	for _, m := range ms {
		if code, body := e.do(e.token(tok), "GET", m.URL+"/v1/kv/app/k", ""); code != http.StatusOK {
			t.Fatalf("a new token on %s: %d %s", m.cfg.Name, code, body)
		}
	}
}

// TestRBAC_WatchEndsWhenPermissionGoes: a watch through a follower ends
// with a permission_denied error event when the user loses the role.
func TestRBAC_WatchEndsWhenPermissionGoes(t *testing.T) {
	e := authCluster(t)
	ms := e.ms
	h := http.Header{}
	h.Set("Authorization", "Bearer "+e.authenticate(t, ms[1].URL, "ro", "ropw"))
	s := openSSE(t, e.anon, ms[1].URL+"/v1/watch/app/?prefix=true", h, 16)
	e.rootDo(t, ms[0].URL, "PUT", "/v1/kv/app/k", "v5")
	ev, ok := s.nextMessage(10 * time.Second)
	if !ok || ev.Event != "events" {
		t.Fatalf("first message: %+v", ev)
	}
	e.rootDo(t, ms[2].URL, "DELETE", "/v1/auth/users/ro/roles/ro", "")
	ev, ok = s.nextMessage(10 * time.Second)
	if !ok || ev.Event != "error" || !strings.Contains(ev.Data, `"permission_denied"`) {
		t.Fatalf("after the role was revoked: %+v %v", ev, ok)
	}
	if err := s.waitEnd(10 * time.Second); err != nil {
		t.Fatalf("the stream did not end cleanly: %v", err)
	}
}

// TestRBAC_JoinNeedsRoot: with auth on, a member joins only with root's
// credentials (--join-user); without them the cluster refuses it, and the
// new member stops with the refusal.
func TestRBAC_JoinNeedsRoot(t *testing.T) {
	e := authCluster(t)
	peer := Peer{Name: "n4", URL: fmt.Sprintf("https://127.0.0.1:%d", freePort(t))}
	cfg := testConfig(t, "n4", t.TempDir(), freePort(t), []Peer{peer})
	e.pki.secure(t, &cfg)
	cfg.Join = e.ms[1].URL

	refused := startMember(t, cfg)
	select {
	case err := <-refused.done:
		if err == nil || !strings.Contains(err.Error(), "permission_denied") {
			t.Fatalf("a join without root's credentials: %v, want a refusal", err)
		}
		refused.cancel = nil // it stopped on its own
	case <-time.After(30 * time.Second):
		t.Fatal("a join without root's credentials went on")
	}

	cfg.DataDir = t.TempDir()
	cfg.JoinUser = "root:rootpw"
	n4 := startMember(t, cfg)
	waitReadyWith(t, e.anon, n4.URL, 30*time.Second)
	code, body, _ := retryUnavailable(t, "read through the new member", func() (int, string) {
		return e.do(e.basic("rw", "rwpw"), "GET", n4.URL+"/v1/kv/app/k?raw", "")
	})
	if code != http.StatusOK || body != "secret-value" {
		t.Fatalf("read through the joined member: %d %q", code, body)
	}
}
