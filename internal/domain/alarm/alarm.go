// Package alarm raises, lists and clears the cluster's alarms, and watches
// this member's store against its quota.
//
// Alarms are replicated state (domain.CmdAlarm): every member holds the
// same set, in its store, and apply refuses the writes they forbid
// (domain.AlarmGate), so that a write proposed before an alarm and applied
// after it is refused on every member alike. Raising one is a proposal
// like any other: through the leader, from any member.
package alarm

import (
	"context"
	"fmt"
	"time"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
)

// Alarms reads the committed alarms.
type Alarms interface {
	Alarms() []domain.Alarm
}

// Service raises and clears alarms through Raft.
type Service struct {
	proposer ports.Proposer
	alarms   Alarms
}

// NewService returns a Service that proposes through p and reads a.
func NewService(p ports.Proposer, a Alarms) *Service {
	return &Service{proposer: p, alarms: a}
}

// List returns the alarms this member has applied; with linearizable set,
// after a read barrier (every alarm raised before the call is in it).
func (s *Service) List(ctx context.Context, linearizable bool) ([]domain.Alarm, error) {
	if linearizable {
		if err := s.proposer.ReadBarrier(ctx); err != nil {
			return nil, err
		}
	}
	return s.alarms.Alarms(), nil
}

// Raise raises a for the cluster.
func (s *Service) Raise(ctx context.Context, a domain.Alarm) error {
	return s.propose(ctx, domain.AlarmRequest{Activate: true, Alarm: a})
}

// Clear clears the alarms that match (a zero member ID: every member's; a
// zero type: every type) and returns those left.
func (s *Service) Clear(ctx context.Context, match domain.Alarm) ([]domain.Alarm, error) {
	if err := s.propose(ctx, domain.AlarmRequest{Alarm: match}); err != nil {
		return nil, err
	}
	return s.alarms.Alarms(), nil
}

func (s *Service) propose(ctx context.Context, r domain.AlarmRequest) error {
	res, err := s.proposer.Propose(ctx, domain.Command{Type: domain.CmdAlarm, Alarm: &r})
	if err != nil {
		return err
	}
	return res.Err
}

// QuotaConfig configures a QuotaMonitor.
type QuotaConfig struct {
	// MemberID is this member's, for whom NOSPACE is raised.
	MemberID uint64
	// Quota is the size, in bytes, past which this member's store raises
	// NOSPACE. 0: no quota.
	Quota int64
	// Interval is how often the size is checked when no commit asks for a
	// check sooner (default 1s); MinInterval the least time between two
	// checks (default 100ms).
	Interval, MinInterval time.Duration
	// OnRaise, when set, is told when this monitor raised NOSPACE, with the
	// store's size (for the log).
	OnRaise func(size int64)
}

// QuotaMonitor raises NOSPACE for this member when its store passes the
// quota. It checks every Interval, and after commits (Notify), at most
// every MinInterval. Clearing the alarm while the store is still past the
// quota raises it again at the next check: space must be freed first.
type QuotaMonitor struct {
	cfg    QuotaConfig
	svc    *Service
	size   func() int64
	clock  ports.Clock
	notify chan struct{}
	report func(error)
}

// NewQuotaMonitor returns a monitor of the store whose size size returns.
// report receives the failures to raise the alarm (they are retried).
func NewQuotaMonitor(cfg QuotaConfig, svc *Service, size func() int64, clock ports.Clock, report func(error)) *QuotaMonitor {
	if cfg.Interval == 0 {
		cfg.Interval = time.Second
	}
	if cfg.MinInterval == 0 {
		cfg.MinInterval = 100 * time.Millisecond
	}
	return &QuotaMonitor{cfg: cfg, svc: svc, size: size, clock: clock, notify: make(chan struct{}, 1), report: report}
}

// Notify asks for a check soon (the store grew). It never blocks: the apply
// path calls it.
func (m *QuotaMonitor) Notify() {
	select {
	case m.notify <- struct{}{}:
	default:
	}
}

// Run checks until ctx ends.
func (m *QuotaMonitor) Run(ctx context.Context) {
	if m.cfg.Quota <= 0 {
		return
	}
	for {
		if err := m.Check(ctx); err != nil && ctx.Err() == nil {
			m.report(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-m.clock.After(m.cfg.MinInterval):
		}
		select {
		case <-ctx.Done():
			return
		case <-m.notify:
		case <-m.clock.After(m.cfg.Interval - m.cfg.MinInterval):
		}
	}
}

// Check raises NOSPACE for this member if its store is past the quota and
// the alarm is not raised yet.
func (m *QuotaMonitor) Check(ctx context.Context) error {
	size := m.size()
	if m.cfg.Quota <= 0 || size <= m.cfg.Quota {
		return nil
	}
	mine := domain.Alarm{MemberID: m.cfg.MemberID, Type: domain.AlarmNoSpace}
	for _, a := range m.svc.alarms.Alarms() {
		if a == mine {
			return nil
		}
	}
	if err := m.svc.Raise(ctx, mine); err != nil {
		return fmt.Errorf("raise NOSPACE (store %d bytes, quota %d): %w", size, m.cfg.Quota, err)
	}
	if m.cfg.OnRaise != nil {
		m.cfg.OnRaise(size)
	}
	return nil
}
