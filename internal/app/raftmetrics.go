package app

import (
	"strings"
	"time"

	gometrics "github.com/armon/go-metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// hashicorp/raft reports its own metrics through go-metrics' process-wide
// sink, under keys like raft.commitTime or raft.replication.heartbeat.n2:
// camelCase, timers in milliseconds, some with a member's name inside the
// key. raftLibSink receives them and exports those an operator needs
// under Cairn names that follow Prometheus' conventions (snake_case,
// seconds, _total on counters, the member as a label), as histograms that
// can be summed across members; it drops the others. Every metric of the
// table exists from the start, with no observation, so that dashboards
// and alerts never query a series that appears only after an event.

// libKind is how a go-metrics key is reported and exported.
type libKind int

const (
	libCounter libKind = iota // IncrCounter → a counter
	libGauge                  // SetGauge → a gauge
	libTimer                  // AddSample of milliseconds → a histogram in seconds
	libRatio                  // AddSample of a ratio → a gauge of the last sample
)

// libMetric is one go-metrics key of hashicorp/raft and its Prometheus metric.
type libMetric struct {
	key     string // dot-joined go-metrics key
	kind    libKind
	name    string
	help    string
	label   string // the one go-metrics label kept (peer_id), exported as "peer"; "" for none
	consts  prometheus.Labels
	buckets []float64
}

var (
	// raftTimerBuckets span 100µs to 6.5s, as the disk's.
	raftTimerBuckets = prometheus.ExponentialBuckets(0.0001, 2, 17)
	// snapshotBuckets span 10ms to 82s.
	snapshotBuckets = prometheus.ExponentialBuckets(0.01, 2, 14)
)

// raftLibMetrics is the table of hashicorp/raft's metrics that Cairn
// exports, by go-metrics key.
var raftLibMetrics = []libMetric{
	{key: "raft.apply", kind: libCounter, name: "cairn_raft_apply_total",
		help: "Commands this member, as leader, handed to Raft to append to the log (hashicorp/raft raft.apply)."},
	{key: "raft.barrier", kind: libCounter, name: "cairn_raft_barriers_total",
		help: "Raft barriers this member, as leader, issued (raft.barrier)."},
	{key: "raft.verify_leader", kind: libCounter, name: "cairn_raft_verify_leader_total",
		help: "Leadership verifications this member, as leader, started (raft.verify_leader)."},
	{key: "raft.state.candidate", kind: libCounter, name: "cairn_raft_elections_total",
		help: "Elections this member started as a candidate (raft.state.candidate)."},
	{key: "raft.state.leader", kind: libCounter, name: "cairn_raft_became_leader_total",
		help: "Times this member became the leader (raft.state.leader)."},
	{key: "raft.state.follower", kind: libCounter, name: "cairn_raft_became_follower_total",
		help: "Times this member became a follower (raft.state.follower)."},
	{key: "raft.transition.heartbeat_timeout", kind: libCounter, name: "cairn_raft_heartbeat_timeouts_total",
		help: "Times this member heard from no leader for an election timeout and stood for election (raft.transition.heartbeat_timeout)."},
	{key: "raft.transition.leader_lease_timeout", kind: libCounter, name: "cairn_raft_leader_lease_timeouts_total",
		help: "Times this member, as leader, lost contact with a quorum for the lease timeout and stepped down (raft.transition.leader_lease_timeout)."},
	{key: "raft.peers", kind: libGauge, name: "cairn_raft_peers",
		help: "Servers, voters and learners, in the Raft configuration when this member last led (raft.peers)."},
	{key: "raft.commitTime", kind: libTimer, name: "cairn_raft_commit_duration_seconds", buckets: raftTimerBuckets,
		help: "Leader: time from handing a batch of entries to Raft to their commit by a quorum (raft.commitTime)."},
	{key: "raft.leader.dispatchLog", kind: libTimer, name: "cairn_raft_leader_dispatch_duration_seconds", buckets: raftTimerBuckets,
		help: "Leader: time to write a batch of new entries to its own log (raft.leader.dispatchLog)."},
	{key: "raft.leader.lastContact", kind: libTimer, name: "cairn_raft_leader_last_contact_seconds", buckets: raftTimerBuckets,
		help: "Leader: time since each follower last answered, sampled at every lease check (raft.leader.lastContact)."},
	{key: "raft.rpc.appendEntries", kind: libTimer, name: "cairn_raft_follower_append_entries_duration_seconds", buckets: raftTimerBuckets,
		help: "Follower: time to handle an AppendEntries request, its log write included (raft.rpc.appendEntries)."},
	{key: "raft.rpc.appendEntries.storeLogs", kind: libTimer, name: "cairn_raft_follower_log_store_duration_seconds", buckets: raftTimerBuckets,
		help: "Follower: time to write the entries of an AppendEntries request to its log (raft.rpc.appendEntries.storeLogs)."},
	{key: "raft.replication.appendEntries.rpc", kind: libTimer, name: "cairn_raft_replication_append_entries_duration_seconds",
		label: "peer_id", buckets: raftTimerBuckets,
		help: "Leader: round trip of an AppendEntries request to each follower, its log write included (raft.replication.appendEntries.rpc)."},
	{key: "raft.replication.heartbeat", kind: libTimer, name: "cairn_raft_replication_heartbeat_duration_seconds",
		label: "peer_id", buckets: raftTimerBuckets,
		help: "Leader: round trip of a heartbeat to each follower (raft.replication.heartbeat)."},
	{key: "raft.replication.appendEntries.logs", kind: libCounter, name: "cairn_raft_replication_entries_sent_total",
		label: "peer_id", help: "Leader: entries sent to each follower (raft.replication.appendEntries.logs)."},
	{key: "raft.snapshot.create", kind: libTimer, name: "cairn_raft_snapshot_create_duration_seconds", buckets: snapshotBuckets,
		help: "Time to start a Raft snapshot of the store (raft.snapshot.create)."},
	{key: "raft.snapshot.persist", kind: libTimer, name: "cairn_raft_snapshot_persist_duration_seconds", buckets: snapshotBuckets,
		help: "Time to write a Raft snapshot of the store to disk (raft.snapshot.persist)."},
	{key: "raft.fsm.restore", kind: libTimer, name: "cairn_raft_snapshot_restore_duration_seconds", buckets: snapshotBuckets,
		help: "Time to replace the store with a Raft snapshot (raft.fsm.restore)."},
	{key: "raft.rpc.installSnapshot", kind: libTimer, name: "cairn_raft_snapshot_install_duration_seconds", buckets: snapshotBuckets,
		help: "Follower: time to receive and install a snapshot from the leader (raft.rpc.installSnapshot)."},
	{key: "raft.compactLogs", kind: libTimer, name: "cairn_raft_log_compaction_duration_seconds", buckets: snapshotBuckets,
		help: "Time to delete the log entries a snapshot covers (raft.compactLogs)."},
	{key: "raft.thread.main.saturation", kind: libRatio, name: "cairn_raft_thread_saturation_ratio", consts: prometheus.Labels{"thread": "main"},
		help: "Share of the last second a Raft goroutine was busy, from 0 to 1 (raft.thread.main.saturation, raft.thread.fsm.saturation)."},
	{key: "raft.thread.fsm.saturation", kind: libRatio, name: "cairn_raft_thread_saturation_ratio", consts: prometheus.Labels{"thread": "fsm"},
		help: "Share of the last second a Raft goroutine was busy, from 0 to 1 (raft.thread.main.saturation, raft.thread.fsm.saturation)."},
}

// raftLibSink is a go-metrics sink that feeds the metrics of raftLibMetrics.
type raftLibSink struct {
	// observe holds, per libKind and go-metrics key, what records a value.
	observe [4]map[string]func(v float64, labels []gometrics.Label)
}

var _ gometrics.MetricSink = (*raftLibSink)(nil)

// newRaftLibSink registers the metrics of table on reg and returns the
// sink that feeds them.
func newRaftLibSink(reg prometheus.Registerer, table []libMetric) *raftLibSink {
	s := &raftLibSink{}
	for i := range s.observe {
		s.observe[i] = map[string]func(float64, []gometrics.Label){}
	}
	for _, m := range table {
		var names []string
		if m.label != "" {
			names = []string{"peer"}
		}
		values := func(labels []gometrics.Label) []string {
			if m.label == "" {
				return nil
			}
			for _, l := range labels {
				if l.Name == m.label {
					return []string{l.Value}
				}
			}
			return []string{""}
		}
		var f func(float64, []gometrics.Label)
		switch m.kind {
		case libCounter:
			v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: m.name, Help: m.help, ConstLabels: m.consts}, names)
			reg.MustRegister(v)
			f = func(x float64, l []gometrics.Label) {
				if x > 0 {
					v.WithLabelValues(values(l)...).Add(x)
				}
			}
			if m.label == "" {
				v.WithLabelValues()
			}
		case libGauge, libRatio:
			v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: m.name, Help: m.help, ConstLabels: m.consts}, names)
			reg.MustRegister(v)
			f = func(x float64, l []gometrics.Label) { v.WithLabelValues(values(l)...).Set(x) }
			if m.label == "" {
				v.WithLabelValues()
			}
		case libTimer:
			v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: m.name, Help: m.help, ConstLabels: m.consts, Buckets: m.buckets}, names)
			reg.MustRegister(v)
			f = func(ms float64, l []gometrics.Label) { v.WithLabelValues(values(l)...).Observe(ms / 1000) }
			if m.label == "" {
				v.WithLabelValues()
			}
		}
		s.observe[m.kind][m.key] = f
	}
	return s
}

func (s *raftLibSink) record(kind libKind, key []string, v float32, labels []gometrics.Label) {
	k := strings.Join(key, ".")
	if f := s.observe[kind][k]; f != nil {
		f(float64(v), labels)
	}
	if kind == libTimer { // a ratio is reported as a sample too
		if f := s.observe[libRatio][k]; f != nil {
			f(float64(v), labels)
		}
	}
}

// SetGauge records a gauge.
func (s *raftLibSink) SetGauge(key []string, v float32) { s.record(libGauge, key, v, nil) }

// SetGaugeWithLabels records a gauge.
func (s *raftLibSink) SetGaugeWithLabels(key []string, v float32, labels []gometrics.Label) {
	s.record(libGauge, key, v, labels)
}

// EmitKey is not used by hashicorp/raft.
func (s *raftLibSink) EmitKey([]string, float32) {}

// IncrCounter adds to a counter.
func (s *raftLibSink) IncrCounter(key []string, v float32) { s.record(libCounter, key, v, nil) }

// IncrCounterWithLabels adds to a counter.
func (s *raftLibSink) IncrCounterWithLabels(key []string, v float32, labels []gometrics.Label) {
	s.record(libCounter, key, v, labels)
}

// AddSample records a sample: a time in milliseconds, or a ratio.
func (s *raftLibSink) AddSample(key []string, v float32) { s.record(libTimer, key, v, nil) }

// AddSampleWithLabels records a sample.
func (s *raftLibSink) AddSampleWithLabels(key []string, v float32, labels []gometrics.Label) {
	s.record(libTimer, key, v, labels)
}

// warnApply is the raft adapter's WarnApplyDuration for
// --warning-apply-duration d, whose 0 means never (the adapter's: the
// default).
func warnApply(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
