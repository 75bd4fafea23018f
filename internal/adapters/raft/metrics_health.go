package raft

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/cairnkv/cairn/internal/slowlog"
)

// Thresholds of the slow-operation warnings, when Config leaves them zero.
const (
	// defaultWarnApplyDuration is etcd's --warning-apply-duration.
	defaultWarnApplyDuration = 100 * time.Millisecond
	// warnSyncDuration is etcd's warnSyncDuration: a Raft log write and
	// fsync slower than this says the disk cannot keep a cluster healthy.
	warnSyncDuration = time.Second
)

// healthMetrics are the figures an operator watches to tell a healthy
// member from a sick one, each named after its etcd twin: proposals, disk
// latency, slow applies. Its methods are safe on a nil receiver (tests
// that build an fsm without metrics).
type healthMetrics struct {
	proposalsPending prometheus.Gauge
	proposalsFailed  prometheus.Counter
	logSync          prometheus.Histogram
	backendCommit    prometheus.Histogram
	slowApplies      prometheus.Counter

	warnApply *slowlog.Warner
	warnSync  *slowlog.Warner
}

// diskBuckets span 100µs to 6.5s: a local SSD fsyncs in well under a
// millisecond, a disk that takes half a second is the alert.
var diskBuckets = prometheus.ExponentialBuckets(0.0001, 2, 17)

func newHealthMetrics(log zerolog.Logger, warnApply time.Duration) *healthMetrics {
	if warnApply == 0 {
		warnApply = defaultWarnApplyDuration
	}
	return &healthMetrics{
		proposalsPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cairn_raft_proposals_pending",
			Help: "Proposals this member is waiting on: sent to Raft, or forwarded to the leader, and not answered yet.",
		}),
		proposalsFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_raft_proposals_failed_total",
			Help: "Proposals through this member that failed in Raft: no leader, a leader change, or a timeout (an outcome that may be unknown).",
		}),
		logSync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cairn_disk_raft_log_fsync_duration_seconds",
			Help:    "Time to append a batch of entries to the Raft log (wal/), fdatasync included.",
			Buckets: diskBuckets,
		}),
		backendCommit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cairn_disk_backend_commit_duration_seconds",
			Help:    "Time to commit one batch of applied entries to the store (state.db).",
			Buckets: diskBuckets,
		}),
		slowApplies: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_slow_apply_total",
			Help: "Apply batches that took longer than --warning-apply-duration.",
		}),
		warnApply: slowlog.New(log, "apply", warnApply),
		warnSync:  slowlog.New(log, "raft log fsync", warnSyncDuration),
	}
}

// register adds the metrics to reg, and the gauges that read the node.
func (h *healthMetrics) register(reg prometheus.Registerer, n *Node) {
	reg.MustRegister(h.proposalsPending, h.proposalsFailed, h.logSync, h.backendCommit, h.slowApplies,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "cairn_raft_has_leader", Help: "1 when this member knows a leader, 0 when it knows none.",
		}, func() float64 {
			if n.Leader() != "" {
				return 1
			}
			return 0
		}),
		// Raft indexes count entries: proposals, and the few entries Raft
		// writes itself (configuration changes, a new leader's no-op).
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "cairn_raft_proposals_committed_total",
			Help: "Raft entries committed, as far as this member knows (its commit index).",
		}, func() float64 {
			// After a restart the commit index is 0 until the leader
			// says more; what was applied was committed.
			return float64(max(n.raft.CommitIndex(), n.fsm.appliedIndex()))
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "cairn_raft_proposals_applied_total",
			Help: "Raft entries applied to this member's store (its applied index).",
		}, func() float64 { return float64(n.fsm.appliedIndex()) }),
	)
}

// proposal counts a proposal as pending until done is called with its
// outcome; an error is a failed proposal.
func (h *healthMetrics) proposal() (done func(err error)) {
	if h == nil {
		return func(error) {}
	}
	h.proposalsPending.Inc()
	return func(err error) {
		h.proposalsPending.Dec()
		if err != nil {
			h.proposalsFailed.Inc()
		}
	}
}

// observeApply records an apply batch of n entries that took d, and warns
// when it was slow.
func (h *healthMetrics) observeApply(n int, d time.Duration) {
	if h == nil {
		return
	}
	if h.warnApply.Observe(d, func(e *zerolog.Event) { e.Int("entries", n) }) {
		h.slowApplies.Inc()
	}
}

// observeCommit records a store commit that took d.
func (h *healthMetrics) observeCommit(d time.Duration) {
	if h == nil {
		return
	}
	h.backendCommit.Observe(d.Seconds())
}

// observeSync records an append of n entries to the Raft log that took d,
// and warns when it was slow.
func (h *healthMetrics) observeSync(n int, d time.Duration) {
	if h == nil {
		return
	}
	h.logSync.Observe(d.Seconds())
	h.warnSync.Observe(d, func(e *zerolog.Event) { e.Int("entries", n) })
}
