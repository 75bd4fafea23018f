package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestBenchmark runs each workload briefly: the flags reach the engine
// (internal/benchmark, tested there), and the report is printed.
func TestBenchmark(t *testing.T) {
	c := sharedCluster(t)
	keys := []string{"--key-prefix", "bench/", "--key-size", "16", "--key-space-size", "10"}
	r := c.ctl(append([]string{"benchmark", "put", "--clients", "2", "--total", "40", "--val-size", "32", "--sequential-keys"}, keys...)...)
	if r.code != 0 || !strings.HasPrefix(r.out, "Summary:\n") || !strings.Contains(r.out, "put, 2 clients over 2 connections") ||
		!strings.Contains(r.out, "40 (40 succeeded, 0 failed)") || !strings.Contains(r.out, "Latency distribution") {
		t.Fatalf("benchmark put: %s", r)
	}
	for _, tc := range []struct {
		args     []string
		workload string
	}{
		{[]string{"range", "--consistency", "s", "--conns", "1", "--clients", "2"}, "range"},
		{[]string{"range", "bench/", "--prefix", "--count-only"}, "range"},
		{[]string{"txn-put", "--txn-ops", "2", "--sequential-keys"}, "txn-put"},
		{[]string{"watch", "--watchers", "2", "--val-size", "16", "--http2"}, "watch"},
		{[]string{"lease-keepalive", "--ttl", "30"}, "lease-keepalive"},
	} {
		args := append(append([]string{"-w", "json", "benchmark"}, tc.args...), append([]string{"--total", "20"}, keys...)...)
		r := c.ctl(args...)
		var rep struct {
			Workload  string         `json:"workload"`
			Options   map[string]any `json:"options"`
			Config    map[string]any `json:"config"`
			Succeeded int64          `json:"succeeded"`
			Failed    int64          `json:"failed"`
		}
		if err := json.Unmarshal([]byte(r.out), &rep); err != nil || r.code != 0 {
			t.Fatalf("cairnctl %q: %s (%v)", args, r, err)
		}
		if rep.Workload != tc.workload || rep.Succeeded != 20 || rep.Failed != 0 || rep.Config["key_prefix"] != "bench/" {
			t.Errorf("cairnctl %q: %+v", args, rep)
		}
	}
	if r := c.ctl("benchmark", "range", "--consistency", "x", "--total", "1"); r.code != exitError || !strings.Contains(r.err, "consistency") {
		t.Fatalf("benchmark range --consistency x: %s", r)
	}
}
