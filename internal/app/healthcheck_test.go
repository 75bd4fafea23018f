package app

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHealthcheckCommand(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			w.Write([]byte("ok\n"))
		case "/notready":
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":{"code":"no_leader","message":"no leader"}}`))
		case "/stall":
			<-r.Context().Done() // the client gave up
		}
	}))
	t.Cleanup(srv.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	tests := []struct {
		name    string
		args    []string
		wantErr string // "" for success
		wantOut string
	}{
		{name: "OK", args: []string{srv.URL + "/readyz"}, wantOut: "200 OK ok"},
		{name: "ClientURLMeansReadyz", args: []string{srv.URL}, wantOut: "200 OK ok"},
		{name: "ClientURLSlashMeansReadyz", args: []string{srv.URL + "/"}, wantOut: "200 OK ok"},
		{name: "NotReady", args: []string{srv.URL + "/notready"}, wantErr: "503 Service Unavailable {\"error\":{\"code\":\"no_leader\""},
		{name: "Refused", args: []string{closed.URL + "/readyz"}, wantErr: "connection refused"},
		{name: "Timeout", args: []string{"--timeout", "50ms", srv.URL + "/stall"}, wantErr: "deadline exceeded"},
		{name: "NotAURL", args: []string{"127.0.0.1:2379"}, wantErr: "is not an http:// or https:// URL"},
		{name: "TwoURLs", args: []string{srv.URL, srv.URL}, wantErr: "one URL at most"},
		{name: "MissingCA", args: []string{"--cacert", "/nonexistent/ca.pem", "https://127.0.0.1:1/readyz"}, wantErr: "/nonexistent/ca.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out, errw bytes.Buffer
			start := time.Now()
			err := HealthcheckCommand(tt.args, &out, &errw)
			if time.Since(start) > 10*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
			if tt.wantErr == "" {
				if err != nil || !strings.Contains(out.String(), tt.wantOut) {
					t.Fatalf("err %v, out %q; want success with %q", err, out.String(), tt.wantOut)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err %v, want one with %q", err, tt.wantErr)
			}
		})
	}
}

func TestHealthcheckCommand_Help(t *testing.T) {
	t.Parallel()
	var out, errw bytes.Buffer
	if err := HealthcheckCommand([]string{"-h"}, &out, &errw); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errw.String(), "Usage: cairn healthcheck") || !strings.Contains(errw.String(), "-cacert") {
		t.Fatalf("usage: %s", errw.String())
	}
}
