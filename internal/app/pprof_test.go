package app

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestPprof checks that /debug/pprof/ is served only with --enable-pprof,
// and only to root once auth is on.
func TestPprof(t *testing.T) {
	t.Parallel()
	t.Run("OffByDefault", func(t *testing.T) {
		t.Parallel()
		m := startCluster(t, 1)[0]
		for _, p := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/profile?seconds=1"} {
			if code, _ := do(t, "GET", m.URL+p, ""); code != http.StatusNotFound {
				t.Errorf("GET %s without --enable-pprof: %d, want 404", p, code)
			}
		}
	})
	t.Run("On", func(t *testing.T) {
		t.Parallel()
		m := startClusterWith(t, 1, func(c *Config) { c.EnablePprof = true; c.BcryptCost = 4 })[0]
		tests := []struct {
			name, path string
			want       int
			contains   string
		}{
			{name: "Index", path: "/debug/pprof/", want: http.StatusOK, contains: "goroutine"},
			{name: "Heap", path: "/debug/pprof/heap?debug=1", want: http.StatusOK, contains: "heap profile"},
			{name: "Goroutine", path: "/debug/pprof/goroutine?debug=1", want: http.StatusOK, contains: "goroutine profile"},
			{name: "Symbol", path: "/debug/pprof/symbol", want: http.StatusOK, contains: "num_symbols"},
			{name: "NoCmdline", path: "/debug/pprof/cmdline", want: http.StatusNotFound},
		}
		for _, tt := range tests {
			code, body := do(t, "GET", m.URL+tt.path, "")
			if code != tt.want || !strings.Contains(body, tt.contains) {
				t.Errorf("%s: GET %s: %d %.200q, want %d with %q", tt.name, tt.path, code, body, tt.want, tt.contains)
			}
		}

		// With auth on: root only.
		for _, s := range []struct{ method, path, body string }{
			{"POST", "/v1/auth/users", `{"name":"root","password":"rootpw"}`},
			{"POST", "/v1/auth/roles", `{"name":"root"}`},
			{"PUT", "/v1/auth/users/root/roles/root", ""},
			{"POST", "/v1/auth/users", `{"name":"alice","password":"alicepw"}`},
			{"POST", "/v1/auth/enable", ""},
		} {
			if code, body := doIdempotent(t, s.method, m.URL+s.path, s.body); code != http.StatusOK && code != http.StatusCreated {
				t.Fatalf("%s %s: %d %s", s.method, s.path, code, body)
			}
		}
		as := func(user, password string) int {
			req, _ := http.NewRequest("GET", m.URL+"/debug/pprof/heap?debug=1", nil)
			if user != "" {
				req.SetBasicAuth(user, password)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		waitFor(t, 5*time.Second, "auth to be enforced", func() bool { return as("", "") == http.StatusUnauthorized })
		if code := as("alice", "alicepw"); code != http.StatusForbidden {
			t.Errorf("alice: %d, want 403", code)
		}
		if code := as("root", "rootpw"); code != http.StatusOK {
			t.Errorf("root: %d, want 200", code)
		}
	})
}
