package raft

import (
	"bytes"
	"strings"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
)

func TestHealthMetrics_SlowOperations(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	h := newHealthMetrics(zerolog.New(&buf), 10*time.Millisecond)

	h.observeApply(3, 5*time.Millisecond)
	h.observeApply(3, 50*time.Millisecond)
	if got := counterValue(t, h.slowApplies); got != 1 {
		t.Fatalf("slow applies %v, want 1", got)
	}
	h.observeSync(2, 200*time.Millisecond)
	h.observeSync(2, 2*time.Second)
	if got := histogramCount(t, h.logSync); got != 2 {
		t.Fatalf("%d fsyncs observed, want 2", got)
	}
	log := buf.String()
	for _, want := range []string{
		`"message":"apply took 50ms, expected under 10ms"`, `"entries":3`,
		`"message":"raft log fsync took 2s, expected under 1s"`, `"entries":2`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the log has no %s:\n%s", want, log)
		}
	}
	if n := strings.Count(log, "\n"); n != 2 {
		t.Errorf("%d warnings, want 2:\n%s", n, log)
	}

	// Off: no warning, no count.
	off := newHealthMetrics(zerolog.New(&buf), -1)
	off.observeApply(1, time.Hour)
	if got := counterValue(t, off.slowApplies); got != 0 {
		t.Fatalf("slow applies with the warning off: %v", got)
	}
}

func TestHealthMetrics_Proposals(t *testing.T) {
	t.Parallel()
	h := newHealthMetrics(zerolog.Nop(), 0)
	ok, failed := h.proposal(), h.proposal()
	if got := gaugeValue(t, h.proposalsPending); got != 2 {
		t.Fatalf("pending %v, want 2", got)
	}
	ok(nil)
	failed(hraft.ErrLeadershipLost)
	if p, f := gaugeValue(t, h.proposalsPending), counterValue(t, h.proposalsFailed); p != 0 || f != 1 {
		t.Fatalf("pending %v, failed %v; want 0 and 1", p, f)
	}
	var nilMetrics *metrics // an fsm built without metrics
	nilMetrics.health().proposal()(nil)
	nilMetrics.health().observeCommit(time.Second)
}

func TestTimedLogStore(t *testing.T) {
	t.Parallel()
	h := newHealthMetrics(zerolog.Nop(), 0)
	s := timedLogStore{hraft.NewInmemStore(), h}
	if err := s.StoreLog(&hraft.Log{Index: 1, Term: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLogs([]*hraft.Log{{Index: 2, Term: 1}, {Index: 3, Term: 1}}); err != nil {
		t.Fatal(err)
	}
	var l hraft.Log
	if err := s.GetLog(3, &l); err != nil || l.Index != 3 {
		t.Fatalf("GetLog(3): %v %v", l, err)
	}
	if got := histogramCount(t, h.logSync); got != 2 {
		t.Fatalf("%d appends observed, want 2", got)
	}
}

func gaugeValue(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

func histogramCount(t *testing.T, h prometheus.Histogram) uint64 {
	t.Helper()
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}
