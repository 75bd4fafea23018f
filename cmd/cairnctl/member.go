package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cairnkv/cairn/client"
)

func (c *cli) memberCommand() *cobra.Command {
	return group(&cobra.Command{
		Use:   "member",
		Short: "Membership related commands",
		Long: `The members of the cluster: list, add, remove and promote them. Member IDs
are printed and read in hexadecimal, as etcdctl does.`,
	}, c.memberListCommand(), c.memberAddCommand(), c.memberRemoveCommand(), c.memberPromoteCommand())
}

// parseMemberID reads a member ID in hexadecimal, as member list prints it.
func parseMemberID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 16, 64)
	if err != nil || id == 0 {
		return 0, badArgs("bad member ID %q: want its ID in hexadecimal, as member list prints it", s)
	}
	return id, nil
}

func (c *cli) memberListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "Lists the members of the cluster",
		Long: `Lists the members of the cluster: ID, status (started once the member has
published its client URLs), name, peer URL, client URLs, and whether it is
a learner.`,
		Example: "  cairnctl member list\n  cairnctl -w table member list",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			resp, err := cl.MemberList(cmd.Context())
			if err != nil {
				return err
			}
			return c.p.print(membersOutput{resp.Header, resp.Members})
		},
	}
}

type membersOutput struct {
	h       client.ResponseHeader
	members []client.Member
}

func (o membersOutput) table() ([]string, [][]string) {
	rows := make([][]string, len(o.members))
	for i, m := range o.members {
		status := "started"
		if len(m.ClientURLs) == 0 {
			status = "unstarted"
		}
		rows[i] = []string{fmt.Sprintf("%x", m.ID), status, m.Name, m.PeerAddr, strings.Join(m.ClientURLs, ","),
			strconv.FormatBool(m.IsLearner)}
	}
	return []string{"ID", "STATUS", "NAME", "PEER ADDRS", "CLIENT ADDRS", "IS LEARNER"}, rows
}

func (o membersOutput) simple(w io.Writer) {
	_, rows := o.table()
	writeRows(w, rows)
}

type memberJSON struct {
	ID         uint64   `json:"id"`
	Name       string   `json:"name"`
	PeerAddr   string   `json:"peer_addr"`
	ClientURLs []string `json:"client_urls"`
	IsLearner  bool     `json:"is_learner"`
	IsLeader   bool     `json:"is_leader"`
}

func toMemberJSON(m client.Member) memberJSON {
	return memberJSON{ID: m.ID, Name: m.Name, PeerAddr: m.PeerAddr, ClientURLs: emptyIfNil(m.ClientURLs),
		IsLearner: m.IsLearner, IsLeader: m.IsLeader}
}

func toMembersJSON(ms []client.Member) []memberJSON {
	out := make([]memberJSON, len(ms))
	for i, m := range ms {
		out[i] = toMemberJSON(m)
	}
	return out
}

func (o membersOutput) json() any {
	return struct {
		Header  headerJSON   `json:"header"`
		Members []memberJSON `json:"members"`
	}{toHeaderJSON(o.h), toMembersJSON(o.members)}
}

func (c *cli) memberAddCommand() *cobra.Command {
	var peerURLs, clientURLs []string
	var learner bool
	cmd := &cobra.Command{
		Use:   "add <memberName> --peer-urls <url> [options]",
		Short: "Adds a member to the cluster",
		Long: `Adds a member to the cluster, and prints the settings to start it with
(CAIRN_<FLAG> variables, which the server reads as its flags). Add it as a
--learner, then promote it once it has caught up: the quorum never waits
for a member that is still copying the store. The leader refuses a voter
that could cost the cluster its quorum.`,
		Example: `  cairnctl member add n4 --peer-urls http://10.0.0.4:2380 --learner
  cairnctl member promote 5f2e3c4d1a2b3c`,
		Args: exactArgs(1, "a member name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(peerURLs) != 1 {
				return badArgs("member add needs one peer URL (--peer-urls), not %d", len(peerURLs))
			}
			var opts []client.MemberAddOption
			if learner {
				opts = append(opts, client.WithLearner())
			}
			if len(clientURLs) > 0 {
				opts = append(opts, client.WithClientURLs(clientURLs...))
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			resp, err := cl.MemberAdd(cmd.Context(), args[0], peerURLs[0], opts...)
			if err != nil {
				return err
			}
			return c.p.print(memberAddOutput{resp})
		},
	}
	cmd.Flags().StringSliceVar(&peerURLs, "peer-urls", nil, "the new member's peer URL (its --initial-advertise-peer-urls)")
	cmd.Flags().StringSliceVar(&clientURLs, "client-urls", nil, "the new member's client URLs, comma-separated (optional: it publishes them when it starts)")
	cmd.Flags().BoolVar(&learner, "learner", false, "add it as a learner, to promote once it has caught up")
	return cmd
}

type memberAddOutput struct{ r *client.MemberAddResponse }

func (o memberAddOutput) simple(w io.Writer) {
	m := o.r.Member
	fmt.Fprintf(w, "Member %x added to cluster %x\n\n", m.ID, o.r.Header.ClusterID)
	var cluster []string
	for _, p := range o.r.Members {
		cluster = append(cluster, p.Name+"="+p.PeerAddr)
	}
	fmt.Fprintf(w, "CAIRN_NAME=%q\n", m.Name)
	fmt.Fprintf(w, "CAIRN_INITIAL_CLUSTER=%q\n", strings.Join(cluster, ","))
	fmt.Fprintf(w, "CAIRN_INITIAL_ADVERTISE_PEER_URLS=%q\n", m.PeerAddr)
	fmt.Fprintf(w, "CAIRN_INITIAL_CLUSTER_STATE=%q\n", "existing")
}

func (o memberAddOutput) json() any {
	return struct {
		Header  headerJSON   `json:"header"`
		Member  memberJSON   `json:"member"`
		Members []memberJSON `json:"members"`
	}{toHeaderJSON(o.r.Header), toMemberJSON(o.r.Member), toMembersJSON(o.r.Members)}
}

func (c *cli) memberRemoveCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "remove <memberID>",
		Short: "Removes a member from the cluster",
		Long: `Removes the member whose ID (in hexadecimal, from member list) is given.
Removing the leader makes it hand leadership over first. The leader
refuses a removal that would leave the members that are up without a
quorum: with a member down, remove that one first.`,
		Example: "  cairnctl member remove 5f2e3c4d1a2b3c",
		Args:    exactArgs(1, "a member ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseMemberID(args[0])
			if err != nil {
				return err
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			resp, err := cl.MemberRemove(cmd.Context(), id)
			if err != nil {
				return err
			}
			return c.p.print(memberChangeOutput{"removed from", id, resp.Header, resp.Members})
		},
	}
}

func (c *cli) memberPromoteCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "promote <memberID>",
		Short: "Makes a learner a voting member",
		Long: `Makes the learner whose ID (in hexadecimal, from member list) is given a
voting member, once it has caught up with the leader: until then the
leader refuses, saying how far behind it is; try again.`,
		Example: "  cairnctl member promote 5f2e3c4d1a2b3c",
		Args:    exactArgs(1, "a member ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseMemberID(args[0])
			if err != nil {
				return err
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			resp, err := cl.MemberPromote(cmd.Context(), id)
			if err != nil {
				return err
			}
			return c.p.print(memberChangeOutput{"promoted in", id, resp.Header, resp.Members})
		},
	}
}

// memberChangeOutput is the answer of member remove and member promote.
type memberChangeOutput struct {
	what    string // "removed from", "promoted in"
	id      uint64
	h       client.ResponseHeader
	members []client.Member
}

func (o memberChangeOutput) simple(w io.Writer) {
	fmt.Fprintf(w, "Member %x %s cluster %x\n", o.id, o.what, o.h.ClusterID)
}

func (o memberChangeOutput) json() any { return membersOutput{o.h, o.members}.json() }
