package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cairnkv/cairn/client"
)

// countingTransport counts the logins (POST /v1/auth/authenticate).
type countingTransport struct {
	logins atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/v1/auth/authenticate" {
		c.logins.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// rawDo sends one request as root (or without credentials while auth is
// off) and fails the test unless it answers 200.
func rawDo(t *testing.T, method, url, body string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.SetBasicAuth("root", "rootpw")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
}

// TestClient_UsernameGetsAndRenewsAToken: with Username and Password, the
// client logs in once, sends the token, and logs in again when a member
// refuses it (here: the password was set anew, which voids the tokens).
func TestClient_UsernameGetsAndRenewsAToken(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 1)
	url := ms[0].URL
	ct := &countingTransport{}
	c := newClient(t, urls(ms), func(cfg *client.Config) {
		cfg.Username, cfg.Password = "alice", "alicepw"
		cfg.HTTPClient = &http.Client{Transport: ct}
	})
	ctx := context.Background()
	// Auth off: Basic credentials, ignored; one login attempt, answered
	// that auth is off.
	if _, err := c.Put(ctx, "app/x", "0"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct{ method, path, body string }{
		{"POST", "/v1/auth/users", `{"name":"root","password":"rootpw"}`},
		{"POST", "/v1/auth/roles", `{"name":"root"}`},
		{"PUT", "/v1/auth/users/root/roles/root", ""},
		{"POST", "/v1/auth/users", `{"name":"alice","password":"alicepw"}`},
		{"POST", "/v1/auth/roles", `{"name":"app"}`},
		{"POST", "/v1/auth/roles/app/permissions", `{"key":"app/","prefix":true,"permission":"readwrite"}`},
		{"PUT", "/v1/auth/users/alice/roles/app", ""},
		{"POST", "/v1/auth/enable", ""},
	} {
		rawDo(t, s.method, url+s.path, s.body)
	}
	// A new client, so that the 30 s memory of "auth is off" is not in
	// the way.
	ct = &countingTransport{}
	c = newClient(t, urls(ms), func(cfg *client.Config) {
		cfg.Username, cfg.Password = "alice", "alicepw"
		cfg.HTTPClient = &http.Client{Transport: ct}
	})
	for i := 0; i < 5; i++ {
		if _, err := c.Put(ctx, "app/x", "1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := ct.logins.Load(); n != 1 {
		t.Fatalf("%d logins for 5 calls, want 1", n)
	}
	if _, err := c.Put(ctx, "other", "1"); !errors.Is(err, client.ErrPermissionDenied) {
		t.Fatalf("a put outside the role: %v, want ErrPermissionDenied", err)
	}
	// The same password set again voids alice's tokens: the client renews.
	rawDo(t, "POST", url+"/v1/auth/users/alice/password", `{"password":"alicepw"}`)
	if r, err := c.Get(ctx, "app/x"); err != nil || len(r.Kvs) != 1 {
		t.Fatalf("get after the password was set again: %v %v", r, err)
	}
	if n := ct.logins.Load(); n != 2 {
		t.Fatalf("%d logins, want 2 (one renewal)", n)
	}
	// A new password: the renewal fails, and the call with it.
	rawDo(t, "POST", url+"/v1/auth/users/alice/password", `{"password":"other"}`)
	if _, err := c.Get(ctx, "app/x"); !errors.Is(err, client.ErrUnauthenticated) {
		t.Fatalf("get with a stale password: %v, want ErrUnauthenticated", err)
	}
	// A fixed Token is sent as it is.
	bad := newClient(t, urls(ms), func(cfg *client.Config) { cfg.Token = "cairn1.AAAA.AAAA" })
	if _, err := bad.Get(ctx, "app/x"); !errors.Is(err, client.ErrUnauthenticated) {
		t.Fatalf("a forged token: %v", err)
	}
}
