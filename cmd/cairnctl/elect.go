package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/cairnkv/cairn/client"
	"github.com/cairnkv/cairn/client/concurrency"
)

const electLong = `Campaigns in the election <election-name> with <proposal> as the leader's
value, through a lease of --ttl seconds that cairnctl keeps alive: waits
until this candidate leads (candidates lead in arrival order), prints the
leader's key and value, holds the leadership until interrupted, then
resigns.

With --listen it campaigns for nothing: it prints the current leader's key
and value, then each new leader or value, until interrupted.`

func (c *cli) electCommand() *cobra.Command {
	var listen bool
	var ttl int64
	cmd := &cobra.Command{
		Use:   "elect <election-name> [<proposal>]",
		Short: "Campaigns in an election, or observes one",
		Long:  electLong,
		Example: `  cairnctl elect svc/primary node-a:8080
  cairnctl elect --listen svc/primary`,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case listen && len(args) != 1:
				return badArgs("elect --listen needs an election name alone")
			case !listen && len(args) != 2:
				return badArgs("elect needs an election name and a proposal")
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			if listen {
				return c.observe(cmd.Context(), cl, args[0])
			}
			return c.campaign(cmd.Context(), cl, args[0], args[1], ttl)
		},
	}
	cmd.Flags().BoolVarP(&listen, "listen", "l", false, "observe the election: print each leader")
	cmd.Flags().Int64Var(&ttl, "ttl", 10, "the TTL, in seconds, of the lease of the candidacy")
	return cmd
}

// observe prints each leader of the election until ctx ends.
func (c *cli) observe(ctx context.Context, cl *client.Client, name string) error {
	for lr := range cl.Observe(ctx, name) {
		if lr.Err != nil {
			return lr.Err
		}
		if lr.Kv == nil {
			continue
		}
		if err := c.p.print(leaderOutput{lr.Header, lr.Kv}); err != nil {
			return err
		}
	}
	return nil
}

// campaign leads the election, prints the leader, and resigns when ctx
// ends.
func (c *cli) campaign(ctx context.Context, cl *client.Client, name, proposal string, ttl int64) error {
	if ttl <= 0 {
		return badArgs("elect: --ttl %d: want a positive number of seconds", ttl)
	}
	s, err := concurrency.NewSession(ctx, cl, concurrency.WithTTL(ttl))
	if err != nil {
		return err
	}
	defer s.Close()
	e := concurrency.NewElection(s, name)
	if err := e.Campaign(ctx, proposal); err != nil {
		if ctx.Err() != nil {
			return nil // interrupted while waiting
		}
		return err
	}
	leader, err := e.Leader(ctx)
	if err != nil {
		return err
	}
	if err := c.p.print(leaderOutput{leader.Header, leader.Kv}); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-s.Done():
		return errors.New("elect: the session's lease was lost: this candidate no longer leads")
	}
	rctx, cancel := context.WithTimeout(context.Background(), c.g.commandTimeout)
	defer cancel()
	if err := e.Resign(rctx); err != nil {
		return fmt.Errorf("elect: resign: %w", err)
	}
	return nil
}

type leaderOutput struct {
	h  client.ResponseHeader
	kv *client.KeyValue
}

func (o leaderOutput) simple(w io.Writer) { writeKV(w, o.kv, kvBoth) }

func (o leaderOutput) json() any {
	return struct {
		Header headerJSON `json:"header"`
		Kv     *kvJSON    `json:"kv"`
	}{toHeaderJSON(o.h), toKVJSON(o.kv)}
}
