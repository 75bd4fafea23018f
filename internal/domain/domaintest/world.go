// Package domaintest builds a one-member world of domain services over the
// in-memory fakes of package portstest, for the tests of the services that
// stand on others (locks and elections on KV, watch and leases).
package domaintest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/domain/auth"
	"github.com/cairnkv/cairn/internal/domain/kv"
	"github.com/cairnkv/cairn/internal/domain/lease"
	"github.com/cairnkv/cairn/internal/domain/watch"
	"github.com/cairnkv/cairn/internal/ports/portstest"
)

// Publisher is the fake proposer with a member's commit path around it:
// every result is published to the hub, in commit order, the way the Raft
// FSM publishes committed batches.
type Publisher struct {
	mu   sync.Mutex
	p    *portstest.Proposer
	hub  *watch.Hub
	auth *auth.Store // reloaded after every auth change, as the FSM's hook does
}

// Propose applies cmd and publishes its events.
func (p *Publisher) Propose(ctx context.Context, cmd domain.Command) (domain.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	res, err := p.p.Propose(ctx, cmd)
	if err == nil {
		p.hub.Publish(res.Revision, res.Events)
		if cmd.Type == domain.CmdAuth && p.auth != nil {
			err = p.auth.Reload()
		}
	}
	return res, err
}

// ReadBarrier passes the barrier of the fake proposer.
func (p *Publisher) ReadBarrier(ctx context.Context) error { return p.p.ReadBarrier(ctx) }

// Fake returns the fake proposer underneath, to make it fail.
func (p *Publisher) Fake() *portstest.Proposer { return p.p }

// World is one member's services over fakes: the store, the hub fed by
// the proposer, the KV, watch and lease services, and a lessor that runs on
// a manual clock and leads.
type World struct {
	Backend  *portstest.Backend
	Hub      *watch.Hub
	Clock    *portstest.Clock
	Proposer *Publisher
	KV       *kv.Service
	Watches  *watch.Service
	Leases   *lease.Service
	Lessor   *lease.Lessor
	// Auth checks passwords with portstest.Hasher and tokens on Clock.
	Auth *auth.Service
}

// NewWorld builds a World; its lessor runs until the test ends.
func NewWorld(t testing.TB) *World {
	t.Helper()
	b := portstest.NewBackend()
	hub := watch.NewHub(watch.HubConfig{}, 1)
	authStore := auth.NewStore(b.AuthState)
	p := &Publisher{p: portstest.NewProposer(b), hub: hub, auth: authStore}
	clock := portstest.NewClock()
	auths, err := auth.NewService(auth.Config{}, authStore, p, &portstest.Hasher{}, clock)
	if err != nil {
		t.Fatal(err)
	}
	lessor := lease.NewLessor(lease.Config{}, clock, p, b, func(err error) { t.Errorf("lessor: %v", err) })
	if err := lessor.Promote(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); lessor.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; hub.Close() })
	return &World{
		Backend: b, Hub: hub, Clock: clock, Proposer: p,
		KV:      kv.New(p, b),
		Watches: watch.New(watch.Config{}, hub, b, p),
		Leases:  lease.NewService(lessor, p, b),
		Lessor:  lessor,
		Auth:    auths,
	}
}

// Receive returns what ch delivers, failing the test if nothing comes
// within 5 s (what names the call that should have returned).
func Receive[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("%s did not return within 5s", what)
		var zero T
		return zero
	}
}

// Pending fails the test if ch has delivered: the call behind it should
// still be waiting.
func Pending[T any](t testing.TB, ch <-chan T, who string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("%s returned while it should wait: %+v", who, v)
	default:
	}
}
