package benchmark

import (
	"math"
	"slices"
	"time"
)

// Latency sums up the latencies of the requests that succeeded (for
// Watch, of the events received).
type Latency struct {
	// Samples is the number of latencies.
	Samples                           int64
	Fastest, Slowest, Average, Stddev time.Duration
	// Percentiles are the 10th, 25th, 50th, 75th, 90th, 95th, 99th and
	// 99.9th, in that order: the latency that P percent of the samples
	// do not exceed (nearest rank).
	Percentiles []Percentile
	// Histogram counts the samples in buckets whose bounds go 1, 2, 5,
	// 10, 20, 50, ... µs, from the one of the fastest to the one of the
	// slowest sample.
	Histogram []Bucket
}

// Percentile is the latency that P percent of the samples do not exceed.
type Percentile struct {
	P       float64
	Latency time.Duration
}

// Bucket counts the samples above the previous bucket's UpperBound (0
// for the first) and at most UpperBound.
type Bucket struct {
	UpperBound time.Duration
	Count      int64
}

// percentiles are those every report gives.
var percentiles = [...]float64{10, 25, 50, 75, 90, 95, 99, 99.9}

// summarize computes the Latency of samples, in nanoseconds. It sorts
// samples.
func summarize(samples []int64) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	slices.Sort(samples)
	n := len(samples)
	var sum float64
	for _, s := range samples {
		sum += float64(s)
	}
	mean := sum / float64(n)
	var sq float64
	for _, s := range samples {
		d := float64(s) - mean
		sq += d * d
	}
	l := Latency{
		Samples: int64(n),
		Fastest: time.Duration(samples[0]),
		Slowest: time.Duration(samples[n-1]),
		Average: time.Duration(math.Round(mean)),
		Stddev:  time.Duration(math.Round(math.Sqrt(sq / float64(n)))),
	}
	for _, p := range percentiles {
		l.Percentiles = append(l.Percentiles, Percentile{P: p, Latency: time.Duration(samples[rank(p, n)])})
	}
	l.Histogram = histogram(samples)
	return l
}

// rank is the index, in n sorted samples, of the p-th percentile: the
// smallest sample that at least p percent of them do not exceed.
func rank(p float64, n int) int {
	// p/100*n rounded up, computed so that 99.9% of 1000 is 999, not 1000
	// (0.999*1000 is 999.0000000000001 in floating point).
	r := int(math.Ceil(p*float64(n)/100 - 1e-9))
	return min(max(r-1, 0), n-1)
}

// histogram counts sorted samples in 1-2-5 buckets.
func histogram(sorted []int64) []Bucket {
	var out []Bucket
	i := 0
	for _, bound := range bucketBounds(time.Duration(sorted[len(sorted)-1])) {
		j := i
		for j < len(sorted) && sorted[j] <= int64(bound) {
			j++
		}
		if j > i || len(out) > 0 {
			out = append(out, Bucket{UpperBound: bound, Count: int64(j - i)})
		}
		i = j
	}
	return out
}

// bucketBounds returns 1µs, 2µs, 5µs, 10µs, ... up to the first bound at
// or above slowest.
func bucketBounds(slowest time.Duration) []time.Duration {
	var bounds []time.Duration
	for decade := time.Microsecond; ; decade *= 10 {
		if decade > math.MaxInt64/50 {
			return append(bounds, math.MaxInt64) // centuries: never in practice
		}
		for _, m := range [...]time.Duration{1, 2, 5} {
			bounds = append(bounds, m*decade)
			if m*decade >= slowest {
				return bounds
			}
		}
	}
}
