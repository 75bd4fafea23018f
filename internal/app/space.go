package app

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/alarm"
	"github.com/cairnkv/cairn/internal/domain/compactor"
	"github.com/cairnkv/cairn/internal/ports"
)

// space is the member's space management: the quota monitor, which raises
// NOSPACE, and the leader's automatic compaction.
type space struct {
	alarms    *alarm.Service
	quota     *alarm.QuotaMonitor
	compactor *compactor.Compactor
}

// newSpace builds the space management of a, before its node: the node's
// apply path notifies the quota monitor (onCommit), and both reach the
// node through a only from their Run loops, which start after New.
func newSpace(cfg Config, a *App, memberID uint64) *space {
	alarms := alarm.NewService(nodeProposer{a}, a.backend)
	s := &space{alarms: alarms}
	log := a.log.With().Str("component", "space").Logger()
	s.quota = alarm.NewQuotaMonitor(alarm.QuotaConfig{MemberID: memberID, Quota: cfg.QuotaBackendBytes, OnRaise: func(size int64) {
		log.Error().Int64("db_size", size).Int64("quota", cfg.QuotaBackendBytes).
			Msg("NOSPACE: this member's store passed --quota-backend-bytes; the alarm is raised and writes that add data are refused: delete, compact, defragment, then clear the alarm (DELETE /v1/maintenance/alarms)")
	}}, alarms,
		func() int64 { return a.backend.Stats().DBSize }, ports.SystemClock{},
		func(err error) { log.Warn().Err(err).Msg("quota") })

	compactions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cairn_auto_compactions_total", Help: "Compactions the leader ran on its own (--auto-compaction-*), by outcome (ok, error).",
	}, []string{"outcome"})
	took := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "cairn_auto_compaction_duration_seconds", Help: "Time of an automatic compaction, through Raft until applied on the leader.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
	})
	a.registry.MustRegister(compactions, took,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "cairn_quota_backend_bytes", Help: "The store size past which this member raises NOSPACE (--quota-backend-bytes; 0: none).",
		}, func() float64 { return float64(cfg.QuotaBackendBytes) }))
	for _, t := range []domain.AlarmType{domain.AlarmNoSpace, domain.AlarmCorrupt} {
		a.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "cairn_alarms", Help: "Members for which the alarm is raised (the same on every member).", ConstLabels: prometheus.Labels{"alarm": t.String()},
		}, func() float64 {
			n := 0
			for _, x := range a.backend.Alarms() {
				if x.Type == t {
					n++
				}
			}
			return float64(n)
		}))
	}

	ccfg, _ := cfg.AutoCompaction() // Validate checked it
	s.compactor = compactor.New(ccfg, compactStore{a}, ports.SystemClock{}, func(e compactor.Event) {
		if e.Err != nil {
			compactions.WithLabelValues("error").Inc()
			log.Warn().Err(e.Err).Msg("auto-compaction failed; it is tried again at the next round")
			return
		}
		compactions.WithLabelValues("ok").Inc()
		took.Observe(e.Took.Seconds())
		log.Info().Int64("revision", e.Revision).Dur("took", e.Took).Str("mode", a.cfg.AutoCompactionMode).
			Str("retention", a.cfg.AutoCompactionRetention).Msg("auto-compaction: history compacted")
	})
	return s
}

// run runs the quota monitor and the compactor until ctx ends.
func (s *space) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { s.quota.Run(ctx) })
	wg.Go(func() { s.compactor.Run(ctx) })
	wg.Wait()
}

// onCommit is the node's apply hook: watchers get the events, and the quota
// monitor a nudge to look at the store's size.
func (a *App) onCommit(rev int64, events []domain.Event) {
	a.hub.Publish(rev, events)
	a.space.quota.Notify()
}

// compactStore is what the compactor reads and does on this member.
type compactStore struct{ a *App }

func (s compactStore) Revisions() (int64, int64) {
	st := s.a.backend.Stats()
	return st.Rev, st.CompactRev
}

func (s compactStore) Leading() bool { return s.a.node.IsLeader() }

// Compact proposes as leader only: a member that just lost leadership does
// not compact through the new leader on an old schedule.
func (s compactStore) Compact(ctx context.Context, rev int64) error {
	res, err := s.a.node.ProposeAsLeader(ctx, domain.Command{Type: domain.CmdCompact, Compact: &domain.CompactRequest{Revision: rev}})
	if err != nil {
		return err
	}
	return res.Err
}

// nodeProposer reaches the node through the App (see newSpace).
type nodeProposer struct{ a *App }

func (p nodeProposer) Propose(ctx context.Context, cmd domain.Command) (domain.Result, error) {
	return p.a.node.Propose(ctx, cmd)
}

func (p nodeProposer) ReadBarrier(ctx context.Context) error { return p.a.node.ReadBarrier(ctx) }
