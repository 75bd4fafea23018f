package benchmark

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"
)

// Report is what a run measured. WriteText prints it for people,
// WriteJSON as the stable JSON document described there.
type Report struct {
	// Workload is the workload's name ("put", "range", ...) and Options
	// the workload itself, with its defaults filled in.
	Workload string
	Options  Workload
	// Config is the run's configuration, with its defaults filled in.
	Config ReportConfig
	// Requests is the number of requests answered or failed: Succeeded
	// plus Failed (Config.Total, unless the run was Interrupted).
	Requests, Succeeded, Failed int64
	// Elapsed is the time from the first request to the last answer (for
	// Watch, to the last event); RequestsPerSecond is Succeeded over it.
	Elapsed           time.Duration
	RequestsPerSecond float64
	// Latency sums up the latencies of the requests that succeeded, or
	// for Watch those of the events, from the put to the watcher.
	Latency Latency
	// Errors counts the failures by kind, the most frequent first.
	Errors []ErrorCount
	// Connections is the number of TCP connections the requests opened:
	// Config.Conns, or more after connections broke or failed over to
	// other members (Watch's streams have their own).
	Connections int64
	// Watch is set for the Watch workload.
	Watch *WatchStats
	// Interrupted is set when the run's context ended before the
	// requests were done.
	Interrupted bool
	// Notes are warnings about how to read the figures.
	Notes []string
}

// ReportConfig is the configuration of a run, as reported.
type ReportConfig struct {
	Endpoints      []string `json:"endpoints"`
	TargetLeader   bool     `json:"target_leader"`
	Conns          int      `json:"conns"`
	Clients        int      `json:"clients"`
	Protocol       string   `json:"protocol"` // "HTTP/1.1" or "HTTP/2"
	Total          int      `json:"total"`
	Rate           float64  `json:"rate"`
	KeySize        int      `json:"key_size"`
	KeyPrefix      string   `json:"key_prefix"`
	KeySpaceSize   int      `json:"key_space_size"`
	SequentialKeys bool     `json:"sequential_keys"`
	ValSize        int      `json:"val_size"`
}

// WatchStats are the Watch workload's counts of events.
type WatchStats struct {
	// Watchers is the number of watches.
	Watchers int
	// Expected is the number of events the watchers were to receive (the
	// puts that succeeded, times Watchers); Received, how many they did.
	Expected, Received int64
	// EventsPerSecond is Received over Report.Elapsed.
	EventsPerSecond float64
}

// WriteText writes the report for people: a summary, the latency
// percentiles, a histogram and the errors, after etcd's benchmark.
//
//	Summary:
//	  Workload:    put, 64 clients over 8 connections (HTTP/2), 3 endpoints
//	  Requests:    100000 (100000 succeeded, 0 failed)
//	  Total:       8.0214 s
//	  Requests/s:  12466.6
//	  Slowest:     61.913 ms
//	  ...
func (r *Report) WriteText(w io.Writer) error {
	b := bufio.NewWriter(w)
	c := r.Config
	line := func(label, format string, args ...any) {
		fmt.Fprintf(b, "  %-12s %s\n", label+":", fmt.Sprintf(format, args...))
	}
	fmt.Fprintf(b, "Summary:\n")
	line("Workload", "%s, %d clients over %d connections (%s), %s",
		r.Workload, c.Clients, c.Conns, c.Protocol, plural(len(c.Endpoints), "endpoint"))
	interrupted := ""
	if r.Interrupted {
		interrupted = ", interrupted"
	}
	line("Requests", "%d (%d succeeded, %d failed)%s", r.Requests, r.Succeeded, r.Failed, interrupted)
	line("Total", "%.4f s", r.Elapsed.Seconds())
	line("Requests/s", "%.1f", r.RequestsPerSecond)
	if ws := r.Watch; ws != nil {
		line("Watchers", "%d", ws.Watchers)
		line("Events", "%d of %d", ws.Received, ws.Expected)
		line("Events/s", "%.1f", ws.EventsPerSecond)
	}
	l := r.Latency
	if l.Samples > 0 {
		what := ""
		if r.Watch != nil {
			what = " (from a put to its event)"
		}
		line("Slowest", "%s", ms(l.Slowest))
		line("Fastest", "%s", ms(l.Fastest))
		line("Average", "%s", ms(l.Average))
		line("Stddev", "%s", ms(l.Stddev))
		fmt.Fprintf(b, "\nLatency distribution%s:\n", what)
		for _, p := range l.Percentiles {
			fmt.Fprintf(b, "  %g%% in %s\n", p.P, ms(p.Latency))
		}
		fmt.Fprintf(b, "\nLatency histogram%s:\n", what)
		writeHistogram(b, l.Histogram)
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(b, "\nErrors:\n")
		for _, e := range r.Errors {
			fmt.Fprintf(b, "  [%d] %s: %s\n", e.Count, e.Kind, e.Example)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(b, "\nNote: %s\n", n)
	}
	return b.Flush()
}

// histogramWidth is the length of the longest bar.
const histogramWidth = 40

// writeHistogram writes one line per bucket: its bound, its count and a
// bar as long as the count relative to the largest.
//
//	≤ 500µs   [   1204]  |∎∎∎∎∎∎∎
//	≤ 1ms     [   6630]  |∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎
func writeHistogram(w io.Writer, buckets []Bucket) {
	var most int64
	width := 0
	for _, bk := range buckets {
		most = max(most, bk.Count)
		width = max(width, len(fmt.Sprint(bk.Count)))
	}
	for _, bk := range buckets {
		bar := 0
		if most > 0 {
			bar = int(bk.Count * histogramWidth / most)
		}
		if bar == 0 && bk.Count > 0 {
			bar = 1 // a bucket with samples shows
		}
		fmt.Fprintf(w, "  ≤ %-8s [%*d]  |%s\n", bk.UpperBound, width, bk.Count, strings.Repeat("∎", bar))
	}
}

// ms formats d in milliseconds, with microseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond)) }

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
