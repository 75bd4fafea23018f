package portstest

import (
	"context"
	"fmt"
	"sync"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/apply"
	"github.com/cairnkv/cairn/internal/ports"
)

var _ ports.Proposer = (*Proposer)(nil)

// Proposer is a ports.Proposer that applies every command at once to a
// Backend, as a one-member log would. Its error fields let tests make
// Propose or ReadBarrier fail.
type Proposer struct {
	Backend ports.Backend

	mu         sync.Mutex
	index      uint64
	ProposeErr error // returned by Propose instead of applying, when set
	BarrierErr error // returned by ReadBarrier, when set
	Barriers   int   // number of ReadBarrier calls
	Log        []domain.Command
}

// NewProposer returns a Proposer that applies to b.
func NewProposer(b ports.Backend) *Proposer { return &Proposer{Backend: b} }

// Propose applies cmd in a batch of its own and returns the result.
func (p *Proposer) Propose(ctx context.Context, cmd domain.Command) (domain.Result, error) {
	if err := ctx.Err(); err != nil {
		return domain.Result{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ProposeErr != nil {
		return domain.Result{}, p.ProposeErr
	}
	b, err := p.Backend.Begin()
	if err != nil {
		return domain.Result{}, fmt.Errorf("portstest: begin: %w", err)
	}
	res := apply.Apply(b, cmd)
	p.index++
	b.SetApplied(p.index, 1)
	if err := b.Commit(); err != nil {
		return domain.Result{}, fmt.Errorf("portstest: commit: %w", err)
	}
	p.Log = append(p.Log, cmd)
	return res, nil
}

// ReadBarrier counts the call and returns BarrierErr.
func (p *Proposer) ReadBarrier(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.Barriers++
	if p.BarrierErr != nil {
		return p.BarrierErr
	}
	return ctx.Err()
}

// FailBarrier makes ReadBarrier return err (nil: pass) from now on; it is
// safe while other goroutines use the proposer.
func (p *Proposer) FailBarrier(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.BarrierErr = err
}

// BarrierCalls returns the number of ReadBarrier calls so far.
func (p *Proposer) BarrierCalls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.Barriers
}
