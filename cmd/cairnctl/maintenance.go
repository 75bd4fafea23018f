package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairnkv/cairn/client"
)

func (c *cli) moveLeaderCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "move-leader <transferee-member-id>",
		Short: "Hands leadership to another member",
		Long: `Hands leadership to the voting member whose ID (in hexadecimal, from member
list) is given, and returns once it leads. Any member takes the call. Do
it before taking the leader down for maintenance. With auth on it needs
the root role.`,
		Example: "  cairnctl move-leader 5f2e3c4d1a2b3c",
		Args:    exactArgs(1, "a member ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			to, err := parseMemberID(args[0])
			if err != nil {
				return err
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			st, err := cl.Status(ctx)
			if err != nil {
				return err
			}
			resp, err := cl.MoveLeader(ctx, to)
			if err != nil {
				return err
			}
			return c.p.print(moveLeaderOutput{from: st.Leader, r: resp})
		},
	}
}

type moveLeaderOutput struct {
	from uint64
	r    *client.MoveLeaderResponse
}

func (o moveLeaderOutput) simple(w io.Writer) {
	fmt.Fprintf(w, "Leadership transferred from %x to %x\n", o.from, o.r.Leader)
}

func (o moveLeaderOutput) json() any {
	return struct {
		Header headerJSON `json:"header"`
		Leader uint64     `json:"leader"`
	}{toHeaderJSON(o.r.Header), o.r.Leader}
}

func (c *cli) alarmCommand() *cobra.Command {
	return group(&cobra.Command{
		Use:   "alarm",
		Short: "Alarm related commands",
		Long: `The alarms raised for the cluster: NOSPACE (a member's store passed its
quota: writes that add data are refused) and CORRUPT (a member's store
differs from the majority's). With auth on they need the root role.`,
	}, c.alarmListCommand(), c.alarmDisarmCommand())
}

func (c *cli) alarmListCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "Lists the alarms",
		Example: "  cairnctl alarm list",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			resp, err := cl.AlarmList(cmd.Context())
			if err != nil {
				return err
			}
			return c.p.print(alarmsOutput{resp.Header, resp.Alarms})
		},
	}
}

func (c *cli) alarmDisarmCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "disarm",
		Short: "Clears every alarm",
		Long: `Clears every alarm and prints those it cleared. Clear NOSPACE after freeing
space (del, compaction, defragmentation): a member still past its quota
raises it again within a second.`,
		Example: "  cairnctl alarm disarm",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			before, err := cl.AlarmList(ctx)
			if err != nil {
				return err
			}
			left, err := cl.AlarmDisarm(ctx, client.AlarmMember{})
			if err != nil {
				return err
			}
			var cleared []client.AlarmMember
			for _, a := range before.Alarms {
				if !containsAlarm(left.Alarms, a) {
					cleared = append(cleared, a)
				}
			}
			return c.p.print(alarmsOutput{left.Header, cleared})
		},
	}
}

func containsAlarm(as []client.AlarmMember, a client.AlarmMember) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

type alarmsOutput struct {
	h      client.ResponseHeader
	alarms []client.AlarmMember
}

func (o alarmsOutput) simple(w io.Writer) {
	for _, a := range o.alarms {
		fmt.Fprintf(w, "memberID:%x alarm:%s\n", a.MemberID, a.Alarm)
	}
}

func (o alarmsOutput) table() ([]string, [][]string) {
	rows := make([][]string, len(o.alarms))
	for i, a := range o.alarms {
		rows[i] = []string{fmt.Sprintf("%x", a.MemberID), string(a.Alarm)}
	}
	return []string{"MEMBER ID", "ALARM"}, rows
}

func (o alarmsOutput) json() any {
	return struct {
		Header headerJSON  `json:"header"`
		Alarms []alarmJSON `json:"alarms"`
	}{toHeaderJSON(o.h), toAlarmsJSON(o.alarms)}
}

func (c *cli) defragCommand() *cobra.Command {
	var cluster bool
	cmd := &cobra.Command{
		Use:   "defrag [options]",
		Short: "Defragments the store of each endpoint",
		Long: `Rewrites the store of each endpoint of --endpoints (or with --cluster of each
member, from the member list) into a compact file, one member after the
other, giving the space freed by deletes and compactions back to the file
system. A member keeps serving while it is defragmented. With auth on it
needs the root role.`,
		Example: "  cairnctl defrag --cluster\n  cairnctl --endpoints http://127.0.0.1:22379 defrag",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			eps, err := c.targets(ctx, cluster)
			if err != nil {
				return err
			}
			failed := 0
			for _, ep := range eps {
				cl, err := c.endpointClient(ep)
				if err != nil {
					return err
				}
				resp, err := cl.Defragment(ctx)
				if err != nil {
					fmt.Fprintf(c.err, "Failed to defragment member[%s] (%v)\n", ep, err)
					failed++
					continue
				}
				if err := c.p.print(defragOutput{ep, resp}); err != nil {
					return err
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d members were not defragmented", failed, len(eps))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&cluster, "cluster", false, "defragment every member of the cluster, found in the member list")
	return cmd
}

type defragOutput struct {
	ep string
	r  *client.DefragmentResponse
}

func (o defragOutput) simple(w io.Writer) {
	took := o.r.Took.String()
	if o.r.Took < time.Millisecond {
		took = "<1ms" // the API counts whole milliseconds
	}
	fmt.Fprintf(w, "Finished defragmenting member[%s]: %s -> %s in %s\n", o.ep,
		humanBytes(o.r.DBSizeBefore), humanBytes(o.r.DBSizeAfter), took)
}

func (o defragOutput) json() any {
	return struct {
		Endpoint     string     `json:"endpoint"`
		Header       headerJSON `json:"header"`
		DBSizeBefore int64      `json:"db_size_before"`
		DBSizeAfter  int64      `json:"db_size_after"`
		TookMS       int64      `json:"took_ms"`
		PauseMS      float64    `json:"pause_ms"`
	}{o.ep, toHeaderJSON(o.r.Header), o.r.DBSizeBefore, o.r.DBSizeAfter, o.r.Took.Milliseconds(),
		float64(o.r.Pause.Microseconds()) / 1000}
}
