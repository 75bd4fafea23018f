package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/cairnkv/cairn/client"
)

func (c *cli) leaseCommand() *cobra.Command {
	return group(&cobra.Command{
		Use:   "lease",
		Short: "Lease related commands",
		Long: `Leases: a time to live that keys are attached to (put --lease). When it runs
out, or is revoked, every key attached to it is deleted. Lease IDs are in
hexadecimal, as etcdctl prints them.`,
	}, c.leaseGrantCommand(), c.leaseRevokeCommand(), c.leaseTimeToLiveCommand(), c.leaseListCommand(),
		c.leaseKeepAliveCommand())
}

func (c *cli) leaseGrantCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "grant <ttl>",
		Short:   "Creates a lease of <ttl> seconds",
		Example: "  cairnctl lease grant 10\n  cairnctl put --lease=694d5765fc71500b foo bar",
		Args:    exactArgs(1, "a TTL in seconds"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ttl, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || ttl <= 0 {
				return badArgs("lease grant: %q is not a TTL in seconds", args[0])
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			resp, err := cl.Grant(cmd.Context(), ttl)
			if err != nil {
				return err
			}
			if resp.Message != "" {
				fmt.Fprintln(c.err, resp.Message)
			}
			return c.p.print(grantOutput{resp})
		},
	}
}

type grantOutput struct{ r *client.LeaseGrantResponse }

func (o grantOutput) simple(w io.Writer) {
	fmt.Fprintf(w, "lease %016x granted with TTL(%ds)\n", o.r.ID, o.r.TTL)
}

func (o grantOutput) json() any {
	return struct {
		Header headerJSON `json:"header"`
		ID     int64      `json:"id"`
		TTL    int64      `json:"ttl"`
	}{toHeaderJSON(o.r.Header), int64(o.r.ID), o.r.TTL}
}

func (c *cli) leaseRevokeCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "revoke <lease ID>",
		Short:   "Revokes a lease, and deletes the keys attached to it",
		Example: "  cairnctl lease revoke 694d5765fc71500b",
		Args:    exactArgs(1, "a lease ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseLeaseID(args[0])
			if err != nil {
				return err
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			resp, err := cl.Revoke(cmd.Context(), id)
			if err != nil {
				return err
			}
			return c.p.print(revokeOutput{id, resp})
		},
	}
}

type revokeOutput struct {
	id client.LeaseID
	r  *client.LeaseRevokeResponse
}

func (o revokeOutput) simple(w io.Writer) { fmt.Fprintf(w, "lease %016x revoked\n", o.id) }

func (o revokeOutput) json() any {
	return struct {
		Header headerJSON `json:"header"`
	}{toHeaderJSON(o.r.Header)}
}

func (c *cli) leaseTimeToLiveCommand() *cobra.Command {
	var keys bool
	cmd := &cobra.Command{
		Use:     "timetolive <lease ID> [options]",
		Short:   "Gets the time left of a lease",
		Example: "  cairnctl lease timetolive 694d5765fc71500b --keys",
		Args:    exactArgs(1, "a lease ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseLeaseID(args[0])
			if err != nil {
				return err
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			resp, err := cl.TimeToLive(cmd.Context(), id, keys)
			var e *client.Error
			if errors.Is(err, client.ErrLeaseNotFound) && errors.As(err, &e) {
				// As etcdctl: a lease that is gone has expired.
				resp, err = &client.LeaseTimeToLiveResponse{Header: e.Header, ID: id, TTL: -1}, nil
			}
			if err != nil {
				return err
			}
			return c.p.print(ttlOutput{resp, keys})
		},
	}
	cmd.Flags().BoolVar(&keys, "keys", false, "list the keys attached to the lease")
	return cmd
}

type ttlOutput struct {
	r    *client.LeaseTimeToLiveResponse
	keys bool
}

func (o ttlOutput) simple(w io.Writer) {
	if o.r.TTL == -1 {
		fmt.Fprintf(w, "lease %016x already expired\n", o.r.ID)
		return
	}
	fmt.Fprintf(w, "lease %016x granted with TTL(%ds), remaining(%ds)", o.r.ID, o.r.GrantedTTL, o.r.TTL)
	if o.keys {
		ks := make([]string, len(o.r.Keys))
		for i, k := range o.r.Keys {
			ks[i] = string(k)
		}
		fmt.Fprintf(w, ", attached keys(%v)", ks)
	}
	fmt.Fprintln(w)
}

func (o ttlOutput) json() any {
	out := struct {
		Header     headerJSON `json:"header"`
		ID         int64      `json:"id"`
		TTL        int64      `json:"ttl"`
		GrantedTTL int64      `json:"granted_ttl"`
		Keys       []*string  `json:"keys,omitempty"`
	}{Header: toHeaderJSON(o.r.Header), ID: int64(o.r.ID), TTL: o.r.TTL, GrantedTTL: o.r.GrantedTTL}
	for _, k := range o.r.Keys {
		s := string(k)
		out.Keys = append(out.Keys, &s)
	}
	return out
}

func (c *cli) leaseListCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "Lists every lease",
		Example: "  cairnctl lease list\n  cairnctl -w table lease list",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			resp, err := cl.Leases(cmd.Context())
			if err != nil {
				return err
			}
			return c.p.print(leasesOutput{resp})
		},
	}
}

type leasesOutput struct{ r *client.LeaseLeasesResponse }

func (o leasesOutput) simple(w io.Writer) {
	fmt.Fprintf(w, "found %d leases\n", len(o.r.Leases))
	for _, l := range o.r.Leases {
		fmt.Fprintf(w, "%016x\n", l.ID)
	}
}

func (o leasesOutput) table() ([]string, [][]string) {
	rows := make([][]string, len(o.r.Leases))
	for i, l := range o.r.Leases {
		rows[i] = []string{fmt.Sprintf("%016x", l.ID), strconv.FormatInt(l.TTL, 10)}
	}
	return []string{"ID", "TTL"}, rows
}

func (o leasesOutput) json() any {
	type leaseJSON struct {
		ID  int64 `json:"id"`
		TTL int64 `json:"ttl"`
	}
	ls := make([]leaseJSON, len(o.r.Leases))
	for i, l := range o.r.Leases {
		ls[i] = leaseJSON{ID: int64(l.ID), TTL: l.TTL}
	}
	return struct {
		Header headerJSON  `json:"header"`
		Leases []leaseJSON `json:"leases"`
	}{toHeaderJSON(o.r.Header), ls}
}

func (c *cli) leaseKeepAliveCommand() *cobra.Command {
	var once bool
	cmd := &cobra.Command{
		Use:   "keep-alive <lease ID> [options]",
		Short: "Keeps a lease alive",
		Long: `Renews the lease every third of its TTL, printing each renewal, until
interrupted (the lease then runs out a TTL later) or the lease is gone.
With --once it renews it once.`,
		Example: "  cairnctl lease keep-alive 694d5765fc71500b\n  cairnctl lease keep-alive --once 694d5765fc71500b",
		Args:    exactArgs(1, "a lease ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseLeaseID(args[0])
			if err != nil {
				return err
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if once {
				resp, err := cl.KeepAliveOnce(ctx, id)
				if err != nil {
					return err
				}
				return c.p.print(keepAliveOutput{*resp})
			}
			ch, err := cl.KeepAlive(ctx, id)
			if err != nil {
				return err
			}
			for resp := range ch {
				if err := c.p.print(keepAliveOutput{resp}); err != nil {
					return err
				}
			}
			if ctx.Err() != nil {
				return nil // interrupted
			}
			if c.p.format != formatJSON {
				fmt.Fprintf(c.out, "lease %016x expired or revoked.\n", id)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&once, "once", false, "renew the lease once, and exit")
	return cmd
}

type keepAliveOutput struct{ r client.KeepAliveResponse }

func (o keepAliveOutput) simple(w io.Writer) {
	fmt.Fprintf(w, "lease %016x keepalived with TTL(%d)\n", o.r.ID, o.r.TTL)
}

func (o keepAliveOutput) json() any {
	return struct {
		Header headerJSON `json:"header"`
		ID     int64      `json:"id"`
		TTL    int64      `json:"ttl"`
	}{toHeaderJSON(o.r.Header), int64(o.r.ID), o.r.TTL}
}
