package benchmark

import (
	"encoding/json"
	"io"
	"time"
)

// WriteJSON writes the report as one JSON document (indented, ending with
// a newline). Its shape is stable: fields may be added, none renamed or
// removed. Durations are in milliseconds (floats, to the nanosecond),
// arrays are never null, and "watch" is there for the Watch workload only.
//
//	{
//	  "workload": "range",
//	  "options": {"consistency": "s"},
//	  "config": {"endpoints": ["http://127.0.0.1:2379"], "target_leader": false,
//	    "conns": 8, "clients": 64, "protocol": "HTTP/1.1", "total": 100000, "rate": 0,
//	    "key_size": 8, "key_prefix": "", "key_space_size": 100000,
//	    "sequential_keys": false, "val_size": 256},
//	  "requests": 100000, "succeeded": 100000, "failed": 0, "interrupted": false,
//	  "total_seconds": 3.52, "requests_per_second": 28409.1,
//	  "latency_ms": {"samples": 100000, "fastest": 0.12, "slowest": 31.4,
//	    "average": 2.2, "stddev": 1.9,
//	    "percentiles": [{"p": 10, "ms": 0.8}, ..., {"p": 99.9, "ms": 19.1}],
//	    "histogram": [{"le": 0.2, "count": 310}, {"le": 0.5, "count": 5120}, ...]},
//	  "errors": [{"kind": "timeout", "count": 2, "example": "cairn: timeout: ..."}],
//	  "connections": 8,
//	  "watch": {"watchers": 4, "expected": 4000, "received": 4000, "events_per_second": 1990.2},
//	  "notes": []
//	}
//
// A histogram bucket counts the samples above the previous bucket's "le"
// and at most its own.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r.toJSON())
}

type reportJSON struct {
	Workload          string          `json:"workload"`
	Options           Workload        `json:"options"`
	Config            ReportConfig    `json:"config"`
	Requests          int64           `json:"requests"`
	Succeeded         int64           `json:"succeeded"`
	Failed            int64           `json:"failed"`
	Interrupted       bool            `json:"interrupted"`
	TotalSeconds      float64         `json:"total_seconds"`
	RequestsPerSecond float64         `json:"requests_per_second"`
	Latency           latencyJSON     `json:"latency_ms"`
	Errors            []errorJSON     `json:"errors"`
	Connections       int64           `json:"connections"`
	Watch             *watchStatsJSON `json:"watch,omitempty"`
	Notes             []string        `json:"notes"`
}

type latencyJSON struct {
	Samples     int64            `json:"samples"`
	Fastest     float64          `json:"fastest"`
	Slowest     float64          `json:"slowest"`
	Average     float64          `json:"average"`
	Stddev      float64          `json:"stddev"`
	Percentiles []percentileJSON `json:"percentiles"`
	Histogram   []bucketJSON     `json:"histogram"`
}

type percentileJSON struct {
	P  float64 `json:"p"`
	Ms float64 `json:"ms"`
}

type bucketJSON struct {
	LE    float64 `json:"le"`
	Count int64   `json:"count"`
}

type errorJSON struct {
	Kind    string `json:"kind"`
	Count   int64  `json:"count"`
	Example string `json:"example"`
}

type watchStatsJSON struct {
	Watchers        int     `json:"watchers"`
	Expected        int64   `json:"expected"`
	Received        int64   `json:"received"`
	EventsPerSecond float64 `json:"events_per_second"`
}

func (r *Report) toJSON() reportJSON {
	options := r.Options
	if options == nil {
		options = Put{} // marshals as {}
	}
	cfg := r.Config
	if cfg.Endpoints == nil {
		cfg.Endpoints = []string{}
	}
	out := reportJSON{
		Workload: r.Workload, Options: options, Config: cfg,
		Requests: r.Requests, Succeeded: r.Succeeded, Failed: r.Failed, Interrupted: r.Interrupted,
		TotalSeconds: r.Elapsed.Seconds(), RequestsPerSecond: r.RequestsPerSecond,
		Latency: latencyJSON{
			Samples: r.Latency.Samples,
			Fastest: msFloat(r.Latency.Fastest), Slowest: msFloat(r.Latency.Slowest),
			Average: msFloat(r.Latency.Average), Stddev: msFloat(r.Latency.Stddev),
			Percentiles: []percentileJSON{}, Histogram: []bucketJSON{},
		},
		Errors:      []errorJSON{},
		Connections: r.Connections,
		Notes:       append([]string{}, r.Notes...),
	}
	for _, p := range r.Latency.Percentiles {
		out.Latency.Percentiles = append(out.Latency.Percentiles, percentileJSON{P: p.P, Ms: msFloat(p.Latency)})
	}
	for _, b := range r.Latency.Histogram {
		out.Latency.Histogram = append(out.Latency.Histogram, bucketJSON{LE: msFloat(b.UpperBound), Count: b.Count})
	}
	for _, e := range r.Errors {
		out.Errors = append(out.Errors, errorJSON(e))
	}
	if ws := r.Watch; ws != nil {
		out.Watch = &watchStatsJSON{Watchers: ws.Watchers, Expected: ws.Expected, Received: ws.Received,
			EventsPerSecond: ws.EventsPerSecond}
	}
	return out
}

func msFloat(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
