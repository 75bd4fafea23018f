package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// gwAs sends a gateway request with the headers given and returns the
// status and body; it retries while the member answers 503.
func gwAs(t *testing.T, c *http.Client, url, path, body string, header map[string]string) (int, string) {
	t.Helper()
	cred := credential{apply: func(r *http.Request) {
		for k, v := range header {
			r.Header.Set(k, v)
		}
	}}
	code, resp, _ := retryUnavailable(t, "POST "+path, func() (int, string) {
		return authRequest(c, cred, http.MethodPost, url+path, body)
	})
	return code, resp
}

// wantGwError checks an answer against etcd's error JSON.
func wantGwError(t *testing.T, what string, code int, resp string, status, grpcCode int, msg string) {
	t.Helper()
	var e gwError
	_ = json.Unmarshal([]byte(resp), &e)
	if code != status || e.Code != grpcCode || !strings.Contains(e.Message, msg) {
		t.Fatalf("%s: %d %s, want %d, code %d, %q", what, code, resp, status, grpcCode, msg)
	}
}

// TestEtcdGateway_Auth: with auth on, a gateway call is made as the user
// whose token the Authorization header carries (etcd's gateway takes the
// bare token; "Bearer T" works too), through the gRPC API's checks.
func TestEtcdGateway_Auth(t *testing.T) {
	t.Parallel()
	url := startClusterWith(t, 1, func(c *Config) { c.BcryptCost = 4 })[0].URL
	for _, s := range []struct{ path, body string }{
		{"/v3/auth/user/add", `{"name":"root","password":"rootpw"}`},
		{"/v3/auth/role/add", `{"name":"root"}`},
		{"/v3/auth/user/grant", `{"user":"root","role":"root"}`},
		{"/v3/auth/user/add", `{"name":"alice","password":"alicepw"}`},
		{"/v3/auth/role/add", `{"name":"app"}`},
		{"/v3/auth/role/grant", fmt.Sprintf(`{"name":"app","perm":{"permType":"READWRITE","key":%q,"range_end":%q}}`, b64("app/"), b64("app0"))},
		{"/v3/auth/user/grant", `{"user":"alice","role":"app"}`},
		{"/v3/auth/enable", `{}`},
	} {
		gwOK(t, url, s.path, s.body, nil)
	}
	put := fmt.Sprintf(`{"key":%q,"value":%q}`, b64("app/x"), b64("1"))
	c := http.DefaultClient

	code, resp := gwAs(t, c, url, "/v3/kv/put", put, nil)
	wantGwError(t, "no token", code, resp, http.StatusBadRequest, 3, "etcdserver: user name is empty")
	code, resp = gwAs(t, c, url, "/v3/auth/authenticate", `{"name":"alice","password":"wrong"}`, nil)
	wantGwError(t, "a wrong password", code, resp, http.StatusBadRequest, 3, "etcdserver: authentication failed")
	code, resp = gwAs(t, c, url, "/v3/kv/put", put, map[string]string{"Authorization": "not-a-token"})
	wantGwError(t, "a bad token", code, resp, http.StatusUnauthorized, 16, "etcdserver: invalid auth token")
	// The gateway's own metadata cannot be set by a header.
	code, resp = gwAs(t, c, url, "/v3/kv/put", put, map[string]string{"Grpc-Metadata-Cairn-Gateway-Client-Cn": "root"})
	wantGwError(t, "a forged identity", code, resp, http.StatusBadRequest, 3, "etcdserver: user name is empty")

	var a struct {
		Header gwHeader `json:"header"`
		Token  string   `json:"token"`
	}
	code, resp = gwAs(t, c, url, "/v3/auth/authenticate", `{"name":"alice","password":"alicepw"}`, nil)
	if err := json.Unmarshal([]byte(resp), &a); code != http.StatusOK || err != nil || a.Token == "" {
		t.Fatalf("authenticate: %d %s %v", code, resp, err)
	}
	for _, h := range []string{a.Token, "Bearer " + a.Token} {
		if code, resp := gwAs(t, c, url, "/v3/kv/put", put, map[string]string{"Authorization": h}); code != http.StatusOK {
			t.Fatalf("put with %q: %d %s", h, code, resp)
		}
	}
	alice := map[string]string{"Authorization": a.Token}
	code, resp = gwAs(t, c, url, "/v3/kv/put", fmt.Sprintf(`{"key":%q,"value":"MQ=="}`, b64("other")), alice)
	wantGwError(t, "a put outside alice's range", code, resp, http.StatusForbidden, 7, "etcdserver: permission denied")
	code, resp = gwAs(t, c, url, "/v3/kv/compaction", `{"revision":"1"}`, alice)
	wantGwError(t, "alice compacts", code, resp, http.StatusForbidden, 7, "etcdserver: permission denied")

	// A stream carries the token too.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v3/watch",
		strings.NewReader(fmt.Sprintf(`{"create_request":{"key":%q}}`, b64("app/x"))))
	req.Header.Set("Authorization", a.Token)
	wresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer wresp.Body.Close()
	var created gwWatchResult
	if err := json.NewDecoder(wresp.Body).Decode(&created); err != nil || !created.Result.Created || created.Result.Canceled {
		t.Fatalf("alice's watch: %+v %v", created, err)
	}
}

// TestEtcdGateway_ClientCertificate: over TLS with auth on and no token,
// a gateway call is made as the common name of the client's verified
// certificate, as a REST or gRPC call is (etcd's gateway refuses such a
// request instead: its own connection to its gRPC server has no client
// identity to carry).
func TestEtcdGateway_ClientCertificate(t *testing.T) {
	t.Parallel()
	pki := newClusterPKI(t)
	anonCert, anonKey := pki.clientCA.Issue(t, "", false)
	e := &rbacEnv{pki: pki, anon: tlsHTTPClient(t, pki.clientCA.ClientConfig(t, anonCert, anonKey))}
	e.ms = startTLSCluster(t, 1, pki, func(c *Config) { c.BcryptCost = 4 })
	url := e.ms[0].URL
	e.setupAuth(t, url)

	put := func(key string) string { return fmt.Sprintf(`{"key":%q,"value":"MQ=="}`, b64(key)) }
	rw := e.cert(t, "rw").client
	if code, resp := gwAs(t, rw, url, "/v3/kv/put", put("app/x"), nil); code != http.StatusOK {
		t.Fatalf("rw's certificate puts in app/: %d %s", code, resp)
	}
	code, resp := gwAs(t, rw, url, "/v3/kv/put", put("other"), nil)
	wantGwError(t, "rw's certificate puts other", code, resp, http.StatusForbidden, 7, "etcdserver: permission denied")
	code, resp = gwAs(t, e.anon, url, "/v3/kv/put", put("app/x"), nil)
	wantGwError(t, "a certificate without a name", code, resp, http.StatusBadRequest, 3, "etcdserver: user name is empty")
	if code, resp := gwAs(t, pki.client, url, "/v3/auth/user/list", `{}`, nil); code != http.StatusOK || !strings.Contains(resp, `"rw"`) {
		t.Fatalf("root's certificate lists the users: %d %s", code, resp)
	}
}
