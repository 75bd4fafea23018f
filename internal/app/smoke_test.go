package app

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestApp_SingleMember(t *testing.T) {
	ms := startCluster(t, 1)
	url := ms[0].URL
	if code, body := do(t, http.MethodPut, url+"/v1/kv/foo", "bar"); code != 200 {
		t.Fatalf("put: %d %s", code, body)
	}
	if code, body := do(t, http.MethodGet, url+"/v1/kv/foo?raw", ""); code != 200 || body != "bar" {
		t.Fatalf("get raw: %d %q", code, body)
	}
}

func TestApp_ThreeMembers(t *testing.T) {
	ms := startCluster(t, 3)
	for i, m := range ms {
		key := "k" + string(rune('a'+i))
		if code, body := do(t, http.MethodPut, m.URL+"/v1/kv/"+key, "v"); code != 200 {
			t.Fatalf("put via %s: %d %s", m.cfg.Name, code, body)
		}
		for _, o := range ms {
			code, body := do(t, http.MethodGet, o.URL+"/v1/kv/"+key+"?raw", "")
			if code != 200 || body != "v" {
				t.Fatalf("read %s via %s right after the write: %d %q", key, o.cfg.Name, code, body)
			}
		}
	}
	_ = strings.TrimSpace
	_ = time.Second
}
