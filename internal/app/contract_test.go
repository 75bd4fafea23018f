package app

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestOpenAPI_DeleteEvent validates a DELETE event against the document:
// its kv has create_revision and version 0, as etcd's clients expect
// (issue 11: the document said at least 1).
func TestOpenAPI_DeleteEvent(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 1)
	doc := loadSpec(t)
	router := specRouter(t, doc, ms)
	step(t, doc, router, ms, put("Put", "ev/k", "v"))
	del := step(t, doc, router, ms, apiCase{name: "Delete", method: http.MethodDelete, target: "/v1/kv/ev/k", status: http.StatusOK})
	rev := del.num(t, "header", "revision")
	step(t, doc, router, ms, apiCase{name: "LongPollDelete", method: http.MethodGet,
		target: fmt.Sprintf("/v1/kv/ev/k?wait=true&wait_revision=%d&timeout=5s", rev-1), status: http.StatusOK,
		check: checks(wantStr("DELETE", "events", 0, "type"), wantNum(0, "events", 0, "kv", "create_revision"),
			wantNum(0, "events", 0, "kv", "version"), wantNum(rev, "events", 0, "kv", "mod_revision"))})
}

// TestOpenAPI_AddUnreachableMember adds a member whose peer address does
// not answer to a one-member cluster: 409, and the cluster keeps its
// quorum (issue 11: it answered 201 and the cluster could never commit
// again). A name taken at another address is a 409 too.
func TestOpenAPI_AddUnreachableMember(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 1)
	doc := loadSpec(t)
	router := specRouter(t, doc, ms)
	add := func(name, body string, status int, code string) apiCase {
		return apiCase{name: name, method: http.MethodPost, target: "/v1/cluster/members", body: body,
			contentType: "application/json", status: status, code: code}
	}
	res := step(t, doc, router, ms, add("Ghost", `{"name":"ghost","peer_addr":"http://127.0.0.1:1"}`, http.StatusConflict, "conflict"))
	if msg := res.str(t, "error", "message"); !strings.Contains(msg, "quorum") || !strings.Contains(msg, "127.0.0.1:1") {
		t.Fatalf("the message does not say why: %s", msg)
	}
	step(t, doc, router, ms, add("NameTaken", fmt.Sprintf(`{"name":"n1","peer_addr":"http://127.0.0.1:%d"}`, freePort(t)), http.StatusConflict, "conflict"))
	step(t, doc, router, ms, add("BadClientURL", `{"name":"x","peer_addr":"http://127.0.0.1:1","client_urls":["ftp://h"]}`,
		http.StatusBadRequest, "invalid_argument"))
	// The cluster still commits, and has one member.
	step(t, doc, router, ms, put("PutAfter", "am/k", "v"))
	step(t, doc, router, ms, apiCase{name: "Members", method: http.MethodGet, target: "/v1/cluster/members", status: http.StatusOK,
		check: func(t *testing.T, r *apiResult) {
			if n := len(r.get(t, "members").([]any)); n != 1 {
				t.Fatalf("%d members, want 1: %s", n, r.body)
			}
		}})
}

// TestOpenAPI_HTTPLayerRefusals checks the answers Go's HTTP server gives
// before the API sees a request, which cannot carry the JSON error body,
// and that the document lists them (issue 11).
func TestOpenAPI_HTTPLayerRefusals(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 1)
	doc := loadSpec(t)
	addr := strings.TrimPrefix(ms[0].URL, "http://")
	raw := func(req string) int {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%q: %v", req[:min(len(req), 60)], err)
		}
		resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/json") {
			t.Fatalf("%q: a JSON answer: the document says plain text", req[:min(len(req), 60)])
		}
		return resp.StatusCode
	}
	host := "Host: " + addr + "\r\n"
	cases := []struct {
		req    string
		status int
	}{
		{"PUT /v1/kv/x HTTP/1.1\r\n" + host + "Expect: magic\r\nContent-Length: 1\r\n\r\nx", http.StatusExpectationFailed},
		{"GET /v1/status HTTP/1.1\r\n" + host + "X-Big: " + strings.Repeat("h", 1<<20+8192) + "\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
		{"GET /v1/status HTTP/3.0\r\n" + host + "\r\n", http.StatusHTTPVersionNotSupported},
	}
	for _, c := range cases {
		if got := raw(c.req); got != c.status {
			t.Errorf("%q: status %d, want %d", c.req[:40], got, c.status)
		}
		want := fmt.Sprintf("| %d `%s` |", c.status, http.StatusText(c.status))
		if !strings.Contains(doc.Info.Description, want) {
			t.Errorf("the document does not list %q", want)
		}
	}
}
