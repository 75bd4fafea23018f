package app

import (
	"strings"
	"testing"

	gometrics "github.com/armon/go-metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
)

func gather(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

func TestRaftLibSink(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	s := newRaftLibSink(reg, raftLibMetrics)

	// Every metric of the table exists before anything happens, and
	// passes the linter.
	before := gather(t, reg)
	for _, m := range raftLibMetrics {
		if _, ok := before[m.name]; !ok && m.label == "" {
			t.Errorf("%s (%s) is not exported before its first event", m.name, m.key)
		}
	}
	problems, err := promlint.NewWithMetricFamilies(func() []*dto.MetricFamily {
		fams, _ := reg.Gather()
		return fams
	}()).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}

	peer := []gometrics.Label{{Name: "peer_id", Value: "n2"}}
	s.IncrCounterWithLabels([]string{"raft", "apply"}, 3, nil)
	s.IncrCounter([]string{"raft", "apply"}, 1)
	s.AddSampleWithLabels([]string{"raft", "commitTime"}, 250, nil) // milliseconds
	s.AddSampleWithLabels([]string{"raft", "replication", "heartbeat"}, 2, peer)
	s.AddSample([]string{"raft", "replication", "heartbeat", "n2"}, 2) // the name in the key: dropped
	s.IncrCounterWithLabels([]string{"raft", "replication", "appendEntries", "logs"}, 7, peer)
	s.AddSampleWithLabels([]string{"raft", "thread", "fsm", "saturation"}, 0.25, nil)
	s.SetGaugeWithLabels([]string{"raft", "peers"}, 3, nil)
	s.SetGauge([]string{"raft", "commitNumLogs"}, 5) // not in the table: dropped
	s.EmitKey([]string{"raft", "apply"}, 1)

	after := gather(t, reg)
	value := func(name string, labels map[string]string) *dto.Metric {
		t.Helper()
		f, ok := after[name]
		if !ok {
			t.Fatalf("no %s", name)
		}
	next:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			return m
		}
		t.Fatalf("no %s%v", name, labels)
		return nil
	}
	if v := value("cairn_raft_apply_total", nil).GetCounter().GetValue(); v != 4 {
		t.Errorf("cairn_raft_apply_total %v, want 4", v)
	}
	if h := value("cairn_raft_commit_duration_seconds", nil).GetHistogram(); h.GetSampleCount() != 1 || h.GetSampleSum() != 0.25 {
		t.Errorf("cairn_raft_commit_duration_seconds: %d samples, sum %v; want 1 of 0.25 s", h.GetSampleCount(), h.GetSampleSum())
	}
	if h := value("cairn_raft_replication_heartbeat_duration_seconds", map[string]string{"peer": "n2"}).GetHistogram(); h.GetSampleCount() != 1 {
		t.Errorf("heartbeats of n2: %d, want 1", h.GetSampleCount())
	}
	if v := value("cairn_raft_replication_entries_sent_total", map[string]string{"peer": "n2"}).GetCounter().GetValue(); v != 7 {
		t.Errorf("entries sent to n2: %v, want 7", v)
	}
	if v := value("cairn_raft_thread_saturation_ratio", map[string]string{"thread": "fsm"}).GetGauge().GetValue(); v != 0.25 {
		t.Errorf("fsm saturation %v, want 0.25", v)
	}
	if v := value("cairn_raft_thread_saturation_ratio", map[string]string{"thread": "main"}).GetGauge().GetValue(); v != 0 {
		t.Errorf("main saturation %v, want 0", v)
	}
	if v := value("cairn_raft_peers", nil).GetGauge().GetValue(); v != 3 {
		t.Errorf("peers %v, want 3", v)
	}
	for name := range after {
		if strings.Contains(name, "n2") || strings.Contains(name, "NumLogs") || strings.Contains(name, "num_logs") {
			t.Errorf("%s was exported", name)
		}
	}
}
