package benchmark

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/client"
)

// syntheticReport is a report of 1000 requests of 1..1000 µs, 2 failed.
func syntheticReport(w Workload) *Report {
	samples := make([]int64, 1000)
	for i := range samples {
		samples[i] = int64(time.Duration(i+1) * time.Microsecond)
	}
	var errs errorCounts
	errs.add(&client.Error{StatusCode: 504, Code: "timeout", Message: "took too long"})
	errs.add(&client.Error{StatusCode: 504, Code: "timeout", Message: "took too long again"})
	errs.add(errors.New("boom"))
	return &Report{
		Workload: w.Name(), Options: w,
		Config: ReportConfig{Endpoints: []string{"http://127.0.0.1:2379"}, Conns: 2, Clients: 8,
			Protocol: "HTTP/1.1", Total: 1003, KeySize: 8, KeySpaceSize: 100, ValSize: 256},
		Requests: 1003, Succeeded: 1000, Failed: 3,
		Elapsed: 2 * time.Second, RequestsPerSecond: 500,
		Latency:     summarize(samples),
		Errors:      mergeErrors([]errorCounts{errs}),
		Connections: 2,
	}
}

func TestReport_WriteJSON(t *testing.T) {
	t.Parallel()
	t.Run("Shape", func(t *testing.T) {
		t.Parallel()
		var buf bytes.Buffer
		if err := syntheticReport(Range{Consistency: Serializable}).WriteJSON(&buf); err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
			t.Fatalf("%v\n%s", err, buf.String())
		}
		wantKeys := []string{"config", "connections", "errors", "failed", "interrupted", "latency_ms", "notes",
			"options", "requests", "requests_per_second", "succeeded", "total_seconds", "workload"}
		if got := slices.Sorted(maps.Keys(doc)); !slices.Equal(got, wantKeys) {
			t.Fatalf("top-level keys\n got %q\nwant %q", got, wantKeys)
		}
		lat := doc["latency_ms"].(map[string]any)
		wantLat := []string{"average", "fastest", "histogram", "percentiles", "samples", "slowest", "stddev"}
		if got := slices.Sorted(maps.Keys(lat)); !slices.Equal(got, wantLat) {
			t.Fatalf("latency_ms keys %q, want %q", got, wantLat)
		}
		if lat["fastest"] != 0.001 || lat["slowest"] != 1.0 || lat["samples"] != 1000.0 {
			t.Errorf("fastest %v, slowest %v, samples %v", lat["fastest"], lat["slowest"], lat["samples"])
		}
		ps := lat["percentiles"].([]any)
		if len(ps) != 8 {
			t.Fatalf("%d percentiles", len(ps))
		}
		if p := ps[7].(map[string]any); p["p"] != 99.9 || p["ms"] != 0.999 {
			t.Errorf("last percentile %v, want p 99.9 at 0.999 ms", p)
		}
		h := lat["histogram"].([]any)
		first, last := h[0].(map[string]any), h[len(h)-1].(map[string]any)
		if first["le"] != 0.001 || first["count"] != 1.0 || last["le"] != 1.0 {
			t.Errorf("histogram from %v to %v", first, last)
		}
		errs := doc["errors"].([]any)
		if len(errs) != 2 {
			t.Fatalf("errors %v", errs)
		}
		if e := errs[0].(map[string]any); e["kind"] != "timeout" || e["count"] != 2.0 ||
			e["example"] != "cairn: timeout: took too long" {
			t.Errorf("first error %v", e)
		}
		if e := errs[1].(map[string]any); e["kind"] != "other" || e["count"] != 1.0 {
			t.Errorf("second error %v", e)
		}
		if opts := doc["options"].(map[string]any); opts["consistency"] != "s" {
			t.Errorf("options %v", opts)
		}
		cfg := doc["config"].(map[string]any)
		if cfg["clients"] != 8.0 || cfg["conns"] != 2.0 || cfg["protocol"] != "HTTP/1.1" || cfg["val_size"] != 256.0 {
			t.Errorf("config %v", cfg)
		}
	})
	t.Run("EmptyIsNotNull", func(t *testing.T) {
		t.Parallel()
		var buf bytes.Buffer
		if err := (&Report{Workload: "put"}).WriteJSON(&buf); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`"errors": []`, `"notes": []`, `"percentiles": []`, `"histogram": []`,
			`"endpoints": []`, `"options": {}`} {
			if !strings.Contains(buf.String(), want) {
				t.Errorf("no %s in\n%s", want, buf.String())
			}
		}
		if strings.Contains(buf.String(), `"watch"`) {
			t.Errorf("a watch section in a put report:\n%s", buf.String())
		}
	})
	t.Run("Watch", func(t *testing.T) {
		t.Parallel()
		rep := syntheticReport(Watch{Watchers: 4})
		rep.Watch = &WatchStats{Watchers: 4, Expected: 4000, Received: 3999, EventsPerSecond: 1999.5}
		var doc struct {
			Watch   map[string]float64 `json:"watch"`
			Options map[string]int     `json:"options"`
		}
		var buf bytes.Buffer
		if err := rep.WriteJSON(&buf); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		want := map[string]float64{"watchers": 4, "expected": 4000, "received": 3999, "events_per_second": 1999.5}
		if !maps.Equal(doc.Watch, want) || doc.Options["watchers"] != 4 {
			t.Fatalf("watch %v, options %v", doc.Watch, doc.Options)
		}
	})
}

func TestReport_WriteText(t *testing.T) {
	t.Parallel()
	rep := syntheticReport(Put{})
	rep.Notes = []string{"a note"}
	var buf bytes.Buffer
	if err := rep.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"  Workload:    put, 8 clients over 2 connections (HTTP/1.1), 1 endpoint\n",
		"  Requests:    1003 (1000 succeeded, 3 failed)\n",
		"  Total:       2.0000 s\n",
		"  Requests/s:  500.0\n",
		"  Slowest:     1.000 ms\n",
		"  Fastest:     0.001 ms\n",
		"  Average:     0.500 ms\n", // 500.5 µs
		"  50% in 0.500 ms\n",
		"  99.9% in 0.999 ms\n",
		"  ≤ 1µs      [  1]  |∎\n",
		"  ≤ 1ms      [500]  |" + strings.Repeat("∎", 40) + "\n",
		"  [2] timeout: cairn: timeout: took too long\n",
		"  [1] other: boom\n",
		"Note: a note\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
}

func TestErrorKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want string
	}{
		{name: "Code", err: &client.Error{StatusCode: 503, Code: "no_leader"}, want: "no_leader"},
		{name: "NoCode", err: &client.Error{StatusCode: 502}, want: "http_502"},
		{name: "Indeterminate", err: &client.IndeterminateError{Err: errors.New("x")}, want: "indeterminate"},
		{name: "Deadline", err: &client.IndeterminateError{Err: fmt.Errorf("wait: %w", context.DeadlineExceeded)},
			want: "deadline_exceeded"},
		{name: "Other", err: errors.New("x"), want: "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := errorKind(tt.err); got != tt.want {
				t.Fatalf("errorKind(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}
