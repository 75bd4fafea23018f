package benchmark

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	t.Parallel()
	t.Run("OneToHundredMilliseconds", func(t *testing.T) {
		t.Parallel()
		var samples []int64
		for i := 100; i >= 1; i-- { // unsorted on purpose
			samples = append(samples, int64(time.Duration(i)*time.Millisecond))
		}
		l := summarize(samples)
		if l.Samples != 100 || l.Fastest != time.Millisecond || l.Slowest != 100*time.Millisecond {
			t.Fatalf("samples %d, fastest %v, slowest %v", l.Samples, l.Fastest, l.Slowest)
		}
		if l.Average != 50500*time.Microsecond {
			t.Errorf("average %v, want 50.5ms", l.Average)
		}
		// Population stddev of 1..100 is sqrt((100²-1)/12) = 28.866 ms.
		if d := l.Stddev - 28866*time.Microsecond; d < -time.Microsecond || d > time.Microsecond {
			t.Errorf("stddev %v, want 28.866ms", l.Stddev)
		}
		want := []Percentile{
			{10, 10 * time.Millisecond}, {25, 25 * time.Millisecond}, {50, 50 * time.Millisecond},
			{75, 75 * time.Millisecond}, {90, 90 * time.Millisecond}, {95, 95 * time.Millisecond},
			{99, 99 * time.Millisecond}, {99.9, 100 * time.Millisecond},
		}
		if !slices.Equal(l.Percentiles, want) {
			t.Errorf("percentiles\n got %v\nwant %v", l.Percentiles, want)
		}
	})
	t.Run("NearestRankOfAThousand", func(t *testing.T) {
		t.Parallel()
		samples := make([]int64, 1000)
		for i := range samples {
			samples[i] = int64(i + 1)
		}
		rand.Shuffle(len(samples), func(i, j int) { samples[i], samples[j] = samples[j], samples[i] })
		l := summarize(samples)
		got := map[float64]time.Duration{}
		for _, p := range l.Percentiles {
			got[p.P] = p.Latency
		}
		for p, want := range map[float64]time.Duration{10: 100, 50: 500, 99: 990, 99.9: 999} {
			if got[p] != want {
				t.Errorf("p%g = %d, want %d", p, got[p], want)
			}
		}
	})
	t.Run("OneSample", func(t *testing.T) {
		t.Parallel()
		l := summarize([]int64{int64(3 * time.Millisecond)})
		for _, p := range l.Percentiles {
			if p.Latency != 3*time.Millisecond {
				t.Errorf("p%g = %v, want 3ms", p.P, p.Latency)
			}
		}
		if l.Stddev != 0 || l.Average != 3*time.Millisecond {
			t.Errorf("average %v, stddev %v", l.Average, l.Stddev)
		}
		if want := []Bucket{{5 * time.Millisecond, 1}}; !slices.Equal(l.Histogram, want) {
			t.Errorf("histogram %v, want %v", l.Histogram, want)
		}
	})
	t.Run("None", func(t *testing.T) {
		t.Parallel()
		l := summarize(nil)
		if l.Samples != 0 || l.Percentiles != nil || l.Histogram != nil {
			t.Fatalf("%+v", l)
		}
	})
}

func TestHistogram(t *testing.T) {
	t.Parallel()
	ms := func(f float64) int64 { return int64(f * float64(time.Millisecond)) }
	tests := []struct {
		name    string
		samples []int64
		want    []Bucket
	}{
		{
			name: "GapsKept",
			// 1.5 ms ×3 and 2 ms (a bound belongs to its bucket), 3 ms, 40 ms.
			samples: []int64{ms(1.5), ms(40), ms(1.5), ms(2), ms(3), ms(1.5)},
			want: []Bucket{
				{2 * time.Millisecond, 4}, {5 * time.Millisecond, 1}, {10 * time.Millisecond, 0},
				{20 * time.Millisecond, 0}, {50 * time.Millisecond, 1},
			},
		},
		{
			name:    "BelowAMicrosecond",
			samples: []int64{300, 1000, 1001},
			want:    []Bucket{{time.Microsecond, 2}, {2 * time.Microsecond, 1}},
		},
		{
			name:    "Seconds",
			samples: []int64{ms(700), ms(1100)},
			want:    []Bucket{{time.Second, 1}, {2 * time.Second, 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := summarize(tt.samples)
			if !slices.Equal(l.Histogram, tt.want) {
				t.Fatalf("got  %v\nwant %v", l.Histogram, tt.want)
			}
			var n int64
			for _, b := range l.Histogram {
				n += b.Count
			}
			if n != int64(len(tt.samples)) {
				t.Fatalf("%d samples in the buckets, want %d", n, len(tt.samples))
			}
		})
	}
}

func TestKeySpace(t *testing.T) {
	t.Parallel()
	ks := newKeySpace("k/", 6, 12)
	if got := []string{ks.key(0), ks.key(7), ks.key(11)}; !slices.Equal(got, []string{"k/0000", "k/0007", "k/0011"}) {
		t.Fatalf("keys %q", got)
	}
	if ks.first() != "k/0000" || ks.end() != "k/0011\x00" {
		t.Fatalf("range [%q, %q)", ks.first(), ks.end())
	}
	seq := newKeyPicker(&ks, true, 1)
	if got := []string{seq.pick(0), seq.pick(11), seq.pick(12), seq.pick(25)}; !slices.Equal(got, []string{"k/0000", "k/0011", "k/0000", "k/0001"}) {
		t.Fatalf("sequential picks %q", got)
	}
	rnd := newKeyPicker(&ks, false, 1)
	seen := map[string]bool{}
	for i := range 1000 {
		k := rnd.pick(i)
		if k < ks.first() || k >= ks.end() {
			t.Fatalf("random pick %q out of the key space", k)
		}
		seen[k] = true
	}
	if len(seen) != 12 {
		t.Fatalf("1000 random picks took %d of 12 keys", len(seen))
	}
}

// TestKeyPicker_NoAllocs: taking a key is free in the request loop (not
// parallel: AllocsPerRun counts every goroutine's allocations).
func TestKeyPicker_NoAllocs(t *testing.T) {
	ks := newKeySpace("", 8, 1000)
	for _, sequential := range []bool{true, false} {
		p := newKeyPicker(&ks, sequential, 1)
		n := 0
		if allocs := testing.AllocsPerRun(100, func() { _ = p.pick(n); n++ }); allocs != 0 {
			t.Fatalf("sequential %v: pick allocates %v times", sequential, allocs)
		}
	}
}

func TestEndpointOrder(t *testing.T) {
	t.Parallel()
	eps := []string{"a", "b", "c"}
	tests := []struct {
		name      string
		i, leader int
		want      []string
	}{
		{name: "First", i: 0, leader: -1, want: []string{"a", "b", "c"}},
		{name: "Spread", i: 4, leader: -1, want: []string{"b", "c", "a"}},
		{name: "Leader", i: 4, leader: 2, want: []string{"c", "a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := endpointOrder(eps, tt.i, tt.leader); !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
