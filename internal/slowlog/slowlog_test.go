package slowlog

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// lines decodes the JSON log lines written to buf.
func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestWarner_Observe(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w := New(zerolog.New(&buf), "apply", 100*time.Millisecond)
	clock := time.Unix(1000, 0)
	w.now = func() time.Time { return clock }

	if w.Observe(100*time.Millisecond, nil) {
		t.Fatal("an operation at the threshold counts as slow")
	}
	if !w.Observe(250*time.Millisecond, func(e *zerolog.Event) { e.Int("entries", 12) }) {
		t.Fatal("an operation above the threshold is not slow")
	}
	// Within the interval: counted, not logged.
	clock = clock.Add(time.Second)
	w.Observe(400*time.Millisecond, nil)
	w.Observe(150*time.Millisecond, nil)
	got := lines(t, &buf)
	if len(got) != 1 {
		t.Fatalf("%d lines within one interval, want 1: %v", len(got), got)
	}
	first := got[0]
	if first["message"] != "apply took 250ms, expected under 100ms" || first["level"] != "warn" ||
		first["took_ms"] != 250.0 || first["expected_ms"] != 100.0 || first["entries"] != 12.0 {
		t.Fatalf("first warning: %v", first)
	}
	if _, ok := first["slow_since_last_warning"]; ok {
		t.Fatalf("first warning says something was left out: %v", first)
	}

	// After the interval: the next slow operation is logged, with what was left out.
	clock = clock.Add(DefaultInterval)
	w.Observe(1500*time.Millisecond, nil)
	got = lines(t, &buf)
	if len(got) != 2 {
		t.Fatalf("%d lines, want 2: %v", len(got), got)
	}
	second := got[1]
	if second["message"] != "apply took 1.5s, expected under 100ms" ||
		second["slow_since_last_warning"] != 2.0 || second["worst_since_last_warning_ms"] != 400.0 {
		t.Fatalf("second warning: %v", second)
	}
}

func TestWarner_Off(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	for _, w := range []*Warner{nil, {}, New(zerolog.New(&buf), "apply", 0)} {
		if w.Observe(time.Hour, nil) {
			t.Errorf("%+v: a disabled warner reports a slow operation", w)
		}
		if w.Threshold() != 0 {
			t.Errorf("%+v: threshold %v, want 0", w, w.Threshold())
		}
	}
	if buf.Len() != 0 {
		t.Fatalf("a disabled warner logged: %s", buf.String())
	}
}

func TestMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		took     time.Duration
		expected time.Duration
		want     string
	}{
		{name: "Seconds", took: 1234567890, expected: time.Second, want: "raft log fsync took 1.235s, expected under 1s"},
		{name: "Milliseconds", took: 253412087, expected: 100 * time.Millisecond, want: "raft log fsync took 253.412ms, expected under 100ms"},
		{name: "Micro", took: 1500, expected: time.Microsecond, want: "raft log fsync took 1.5µs, expected under 1µs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Message("raft log fsync", tt.took, tt.expected); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
