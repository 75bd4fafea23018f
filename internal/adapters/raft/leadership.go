package raft

import (
	"context"
	"errors"
	"slices"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/cairnkv/cairn/internal/domain"
)

// runLeadership reacts to leadership changes: a new leader proposes its own
// member record and, once that entry is applied, serves linearizable reads
// for its term; a follower publishes its record through the leader until
// the registry holds it, so that other members can forward to it.
func (n *Node) runLeadership() {
	defer n.wg.Done()
	obsCh := make(chan hraft.Observation, 64)
	obs := hraft.NewObserver(obsCh, false, func(o *hraft.Observation) bool {
		_, ok := o.Data.(hraft.LeaderObservation)
		return ok
	})
	n.raft.RegisterObserver(obs)
	defer n.raft.DeregisterObserver(obs)
	retry := time.NewTicker(n.cfg.ElectionTimeout)
	defer retry.Stop()
	leaderCh := n.raft.LeaderCh()
	published := false
	for {
		select {
		case <-n.done:
			return
		case isLeader := <-leaderCh:
			if isLeader {
				n.wg.Add(1)
				go n.establish()
			} else {
				n.kickReady()
				if n.cfg.OnFollower != nil {
					n.cfg.OnFollower()
				}
			}
		case term := <-n.leaderReady:
			// Called here, on the goroutine that also calls OnFollower,
			// so that the two never run out of order.
			if n.cfg.OnLeader != nil && n.IsLeader() && n.raft.CurrentTerm() == term {
				n.cfg.OnLeader()
			}
		case <-obsCh:
			n.metrics.leaderChanges.Inc()
			if !published {
				published = n.publishSelf()
			}
		case <-retry.C:
			if !published {
				published = n.publishSelf()
			}
		}
	}
}

func (n *Node) self() domain.PublishMember {
	p := domain.PublishMember{Member: domain.Member{
		ID: n.memberID, Name: n.cfg.Name, PeerURL: n.cfg.AdvertisePeerURL, ClientURLs: n.cfg.ClientURLs,
	}}
	if n.cfg.Bootstrap {
		p.ClusterID = ClusterID(n.cfg.InitialCluster)
	}
	return p
}

// establish runs when this member becomes leader: it appends its member
// record and marks the term ready for reads once that entry is applied.
func (n *Node) establish() {
	defer n.wg.Done()
	term := n.raft.CurrentTerm()
	me := n.self()
	cmd := domain.Command{Type: domain.CmdPublishMember, Member: &me}
	if err := admit(cmd); err != nil {
		n.log.Error().Err(err).Msg("this member's own record is invalid: it cannot lead")
		return
	}
	data, err := EncodeCommand(cmd)
	if err != nil {
		n.log.Error().Err(err).Msg("encode member record")
		return
	}
	// A failed attempt can fail at once (a leadership transfer in progress
	// refuses every apply), so attempts are spaced by a growing pause.
	pause := 10 * time.Millisecond
	for n.IsLeader() && n.raft.CurrentTerm() == term {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ApplyTimeout)
		_, err := n.applyLocal(ctx, cmd, data)
		cancel()
		if err == nil {
			if n.raft.CurrentTerm() == term {
				n.setReady(term)
				n.log.Info().Uint64("term", term).Msg("leader ready")
				select {
				case n.leaderReady <- term:
				case <-n.done:
				}
			}
			return
		}
		n.log.Warn().Err(err).Uint64("term", term).Msg("leader could not commit its first entry")
		select {
		case <-n.done:
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, 200*time.Millisecond)
	}
}

// publishSelf makes sure the registry holds this member's record. It
// reports whether it does.
func (n *Node) publishSelf() bool {
	me := n.self()
	members, err := n.backend.Members()
	if err == nil {
		for _, m := range members {
			if m.Name == me.Member.Name && m.PeerURL == me.Member.PeerURL && slices.Equal(m.ClientURLs, me.Member.ClientURLs) {
				return true
			}
		}
	}
	if n.Leader() == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ApplyTimeout)
	defer cancel()
	if _, err := n.Propose(ctx, domain.Command{Type: domain.CmdPublishMember, Member: &me}); err != nil {
		if errors.Is(err, domain.ErrInvalidArgument) {
			// Refused for what it says (admit.go): sending it again
			// would not help.
			n.log.Error().Err(err).Msg("this member's record was refused; it stays out of the member registry")
			return true
		}
		n.log.Debug().Err(err).Msg("publish member record")
		return false
	}
	return true
}

// kickReady wakes read waiters so that they notice a lost leadership.
func (n *Node) kickReady() {
	n.readyMu.Lock()
	close(n.readyCh)
	n.readyCh = make(chan struct{})
	n.readyMu.Unlock()
}
