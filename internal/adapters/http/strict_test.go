package http

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/domain"
)

// TestServer_StrictJSON sends every JSON call a body with data after the
// object, and one whose text is not UTF-8 (which encoding/json would store
// with U+FFFD in place of the bytes): both are 400 before any service is
// called (issue 11).
func TestServer_StrictJSON(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &fakeKV{
		TxnFn: func(context.Context, domain.TxnRequest) (domain.TxnResponse, int64, error) {
			t.Error("the txn reached the service")
			return domain.TxnResponse{}, 0, nil
		},
		CompactFn: func(context.Context, int64) (int64, error) {
			t.Error("the compaction reached the service")
			return 0, nil
		},
	})
	calls := []struct{ name, path, body string }{
		{"txn", "/v1/txn", `{}`},
		{"compact", "/v1/compact", `{"revision":3}`},
		{"grant", "/v1/leases", `{"ttl":30}`},
		{"lock", "/v1/locks/l", `{"ttl":30}`},
		{"campaign", "/v1/elections/e/campaign", `{"ttl":30,"value":"v"}`},
		{"proclaim", "/v1/elections/e/proclaim", `{"leader":{"key":"e/1","rev":3,"lease":1},"value":"v"}`},
		{"resign", "/v1/elections/e/resign", `{"leader":{"key":"e/1","rev":3,"lease":1}}`},
		{"add member", "/v1/cluster/members", `{"name":"n9","peer_addr":"http://127.0.0.1:1"}`},
	}
	for _, c := range calls {
		for _, trail := range []string{"]", "}", " }", "\n]\n", "x", `{}`, "0"} {
			resp, body := send(t, http.MethodPost, ts.URL+c.path, c.body+trail)
			if resp.StatusCode != 400 || errorCode(body) != "invalid_argument" {
				t.Errorf("%s with %q after the object: got %d %v, want 400 invalid_argument", c.name, trail, resp.StatusCode, body)
			}
		}
	}
	notUTF8 := []struct{ name, path, body string }{
		{"txn key", "/v1/txn", "{\"success\":[{\"put\":{\"key\":\"fz/utf8-\xff\xfe\",\"value\":\"x\"}}]}"},
		{"txn value", "/v1/txn", "{\"success\":[{\"put\":{\"key\":\"k\",\"value\":\"\xc3\"}}]}"},
		{"txn lone surrogate", "/v1/txn", `{"success":[{"put":{"key":"k\udc00","value":"x"}}]}`},
		{"txn high surrogate alone", "/v1/txn", `{"success":[{"put":{"key":"k\ud800x","value":"x"}}]}`},
		{"campaign value", "/v1/elections/e/campaign", "{\"ttl\":30,\"value\":\"\xff\"}"},
		{"proclaim value", "/v1/elections/e/proclaim", "{\"leader\":{\"key\":\"e/1\",\"rev\":3,\"lease\":1},\"value\":\"\x80\"}"},
	}
	for _, c := range notUTF8 {
		resp, body := send(t, http.MethodPost, ts.URL+c.path, c.body)
		msg, _ := body["error"].(map[string]any)["message"].(string)
		if resp.StatusCode != 400 || errorCode(body) != "invalid_argument" || !strings.Contains(msg, "key_base64") || !strings.Contains(msg, "value_base64") {
			t.Errorf("%s: got %d %v, want 400 invalid_argument naming key_base64 and value_base64", c.name, resp.StatusCode, body)
		}
	}
}

// TestServer_StrictJSONAcceptsUnicode checks that the UTF-8 check lets
// valid text through: escapes, surrogate pairs and multi-byte runes.
func TestServer_StrictJSONAcceptsUnicode(t *testing.T) {
	t.Parallel()
	var got domain.TxnRequest
	ts := newTestServer(t, &fakeKV{TxnFn: func(_ context.Context, req domain.TxnRequest) (domain.TxnResponse, int64, error) {
		got = req
		return domain.TxnResponse{Succeeded: true, Responses: []domain.OpResponse{{Put: &domain.PutResponse{}}}}, 6, nil
	}})
	resp, body := send(t, http.MethodPost, ts.URL+"/v1/txn",
		`{"success":[{"put":{"key":"k\ud83d\ude00\\udc00é","value":"\"\u00e9\\"}}]}`+" \n")
	if resp.StatusCode != 200 {
		t.Fatalf("got %d %v", resp.StatusCode, body)
	}
	if k, v := string(got.Success[0].Put.Key), string(got.Success[0].Put.Value); k != "k😀\\udc00é" || v != `"é\` {
		t.Fatalf("key %q value %q", k, v)
	}
}

// TestServer_LimitsEverywhere checks the limits a GET applies on the other
// calls that take a key or a range, and that an empty value of an enum
// parameter is a 400 rather than the default (issue 11).
func TestServer_LimitsEverywhere(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &fakeKV{RangeFn: func(context.Context, domain.RangeRequest) (domain.RangeResponse, int64, error) {
		t.Error("the range reached the service")
		return domain.RangeResponse{}, 0, nil
	}})
	// A GET's range is checked by kv.Service (the fake here does not).
	long := strings.Repeat("k", domain.MaxKeySize+1)
	for _, target := range []string{
		"/v1/kv/" + long + "?wait=true&timeout=1s",
		"/v1/kv/a?wait=true&timeout=1s&range_end=" + long,
		"/v1/watch/" + long,
		"/v1/watch/a?range_end=" + long,
		"/v1/kv/a?sort_order=",
		"/v1/kv/a?sort_target=",
		"/v1/kv/a?encoding=",
		"/v1/kv/a?prefix&sort_order",
		"/v1/watch/a?encoding=",
	} {
		// A watch that is not refused is a stream: do not wait for its end.
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(ts.URL + target)
		if err != nil {
			t.Errorf("GET %.60s: %v, want 400 invalid_argument", target, err)
			continue
		}
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 400 || errorCode(body) != "invalid_argument" {
			t.Errorf("GET %.60s: got %d %.200v, want 400 invalid_argument", target, resp.StatusCode, body)
		}
	}
	for _, leader := range []string{`{"key":"e/1","rev":3}`, `{"key":"e/1","rev":3,"lease":-5}`, `{"key":"e/1","rev":3,"lease":0}`} {
		for _, action := range []string{"proclaim", "resign"} {
			resp, body := send(t, http.MethodPost, ts.URL+"/v1/elections/e/"+action, `{"leader":`+leader+`}`)
			if resp.StatusCode != 400 || errorCode(body) != "invalid_argument" {
				t.Errorf("%s with leader %s: got %d %v, want 400 invalid_argument", action, leader, resp.StatusCode, body)
			}
		}
	}
}
