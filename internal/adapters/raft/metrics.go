package raft

import (
	"time"

	hraft "github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairnkv/cairn/internal/ports"
)

// metrics are the Raft and store figures of one member.
type metrics struct {
	batchSize     prometheus.Histogram
	batchLatency  prometheus.Histogram
	leaderChanges prometheus.Counter
	readRounds    prometheus.Counter
	readIndexes   prometheus.Counter
	remoteRounds  prometheus.Counter
	forwarded     *prometheus.CounterVec

	hashChecks     *prometheus.CounterVec
	hashMismatches prometheus.Counter

	peerRefused prometheus.Counter

	h *healthMetrics // proposals, disk latency, slow applies (metrics_health.go)
}

// health returns the health metrics (nil for nil metrics).
func (m *metrics) health() *healthMetrics {
	if m == nil {
		return nil
	}
	return m.h
}

// newMetrics registers the member's metrics on reg (nil: not exported).
// The gauges read the node and the store when scraped.
func newMetrics(reg prometheus.Registerer, n *Node, b ports.Backend) *metrics {
	m := &metrics{
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cairn_apply_batch_entries", Help: "Raft entries applied per store batch.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
		}),
		batchLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cairn_apply_batch_duration_seconds", Help: "Time to apply and commit one batch of Raft entries.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_raft_leader_changes_total", Help: "Leader changes seen by this member.",
		}),
		readRounds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_read_index_rounds_total", Help: "Leadership confirmation rounds for linearizable reads.",
		}),
		readIndexes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_read_index_requests_total", Help: "Reads whose read point this member confirmed as leader (its own and its followers' rounds).",
		}),
		remoteRounds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_read_index_remote_rounds_total", Help: "Read index requests this member sent to the leader for its queued linearizable reads.",
		}),
		hashChecks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_hash_checks_total", Help: "Comparisons of this member's store hash with the leader's, by outcome (match, mismatch, skipped).",
		}, []string{"outcome"}),
		hashMismatches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_hash_check_mismatches_total", Help: "Hash checks that found this member's store different from the leader's at the same revision: the stores diverged.",
		}),
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_forwarded_requests_total", Help: "Requests this member forwarded to the leader, by kind and outcome.",
		}, []string{"kind", "outcome"}),
		peerRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_peer_requests_refused_total", Help: "HTTP requests on the peer port refused because they did not come from a member of this cluster.",
		}),
		h: newHealthMetrics(n.log, n.cfg.WarnApplyDuration),
	}
	if reg == nil {
		return m
	}
	m.h.register(reg, n)
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	reg.MustRegister(m.batchSize, m.batchLatency, m.leaderChanges, m.readRounds, m.readIndexes, m.remoteRounds, m.forwarded,
		m.hashChecks, m.hashMismatches, m.peerRefused,
		gauge("cairn_raft_state", "Raft state: 0 follower, 1 candidate, 2 leader, 3 shutdown.", func() float64 {
			return float64(n.raft.State())
		}),
		gauge("cairn_raft_is_leader", "1 when this member is the leader.", func() float64 {
			if n.raft.State() == hraft.Leader {
				return 1
			}
			return 0
		}),
		gauge("cairn_raft_term", "Current Raft term.", func() float64 { return float64(n.raft.CurrentTerm()) }),
		gauge("cairn_raft_commit_index", "Raft commit index.", func() float64 { return float64(n.raft.CommitIndex()) }),
		gauge("cairn_raft_applied_index", "Last Raft index applied to the store.", func() float64 {
			return float64(n.fsm.appliedIndex())
		}),
		gauge("cairn_raft_last_index", "Last index in the Raft log.", func() float64 { return float64(n.raft.LastIndex()) }),
		gauge("cairn_mvcc_revision", "Current store revision.", func() float64 { return float64(b.Stats().Rev) }),
		gauge("cairn_mvcc_compact_revision", "Revision the store is compacted to.", func() float64 {
			return float64(b.Stats().CompactRev)
		}),
		gauge("cairn_mvcc_keys", "Live keys.", func() float64 { return float64(b.Stats().Keys) }),
		gauge("cairn_mvcc_db_size_bytes", "Size of the store file.", func() float64 { return float64(b.Stats().DBSize) }),
		gauge("cairn_mvcc_db_size_in_use_bytes", "Bytes of the store file in use.", func() float64 {
			return float64(b.Stats().DBSizeInUse)
		}),
	)
	return m
}

func (m *metrics) observeBatch(n int, d time.Duration) {
	if m == nil {
		return
	}
	m.batchSize.Observe(float64(n))
	m.batchLatency.Observe(d.Seconds())
	m.h.observeApply(n, d)
}
