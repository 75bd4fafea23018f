package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairnkv/cairn/client"
)

func (c *cli) endpointCommand() *cobra.Command {
	var cluster bool
	cmd := group(&cobra.Command{
		Use:   "endpoint",
		Short: "Endpoint related commands",
		Long: `Asks each endpoint of --endpoints on its own (or with --cluster each
member's client URLs, from the member list) how it is.`,
	}, c.endpointHealthCommand(&cluster), c.endpointStatusCommand(&cluster), c.endpointHashKVCommand(&cluster))
	cmd.PersistentFlags().BoolVar(&cluster, "cluster", false, "ask every member of the cluster, found in the member list")
	return cmd
}

// targets returns the endpoints to ask: --endpoints, or with cluster the
// client URLs of every member.
func (c *cli) targets(ctx context.Context, cluster bool) ([]string, error) {
	if !cluster {
		return c.g.endpoints, nil
	}
	cl, err := c.client()
	if err != nil {
		return nil, err
	}
	resp, err := cl.MemberList(ctx)
	if err != nil {
		return nil, err
	}
	var eps []string
	seen := map[string]bool{}
	for _, m := range resp.Members {
		for _, u := range m.ClientURLs {
			if !seen[u] {
				seen[u] = true
				eps = append(eps, u)
			}
		}
	}
	if len(eps) == 0 {
		return nil, errors.New("--cluster: no member has published its client URLs")
	}
	return eps, nil
}

// eachEndpoint calls ask for every endpoint at once, each with a client of
// its own that does not move on to another member, and returns their
// results in the order of eps.
func eachEndpoint[T any](c *cli, eps []string, ask func(ep string, cl *client.Client) T) ([]T, error) {
	clients := make([]*client.Client, len(eps))
	for i, ep := range eps {
		cl, err := c.endpointClient(ep)
		if err != nil {
			return nil, err
		}
		clients[i] = cl
	}
	out := make([]T, len(eps))
	var wg sync.WaitGroup
	for i := range eps {
		wg.Go(func() { out[i] = ask(eps[i], clients[i]) })
	}
	wg.Wait()
	return out, nil
}

// endpointClient returns a client of the endpoint ep alone, which asks it
// once: a refused connection or a 503 is the answer about that member,
// not a reason to wait and ask again.
func (c *cli) endpointClient(ep string) (*client.Client, error) {
	return c.clientFor([]string{ep}, func(cfg *client.Config) { cfg.MaxRetryWait = time.Millisecond })
}

// printAnswered prints, as etcdctl does, a line on stderr for each
// endpoint whose call failed (what names the call), the answers of the
// others through out, and fails when any endpoint did.
func printAnswered[T any](c *cli, all []T, what string, failure func(T) (ep string, err error), out func([]T) output) error {
	var ok []T
	for _, a := range all {
		if ep, err := failure(a); err != nil {
			fmt.Fprintf(c.err, "Failed to get the %s of endpoint %s (%v)\n", what, ep, err)
			continue
		}
		ok = append(ok, a)
	}
	if err := c.p.print(out(ok)); err != nil {
		return err
	}
	if len(ok) < len(all) {
		return fmt.Errorf("%d of %d endpoints failed", len(all)-len(ok), len(all))
	}
	return nil
}

type epHealth struct {
	Endpoint string `json:"endpoint"`
	Health   bool   `json:"health"`
	Took     string `json:"took"`
	Error    string `json:"error,omitempty"`
}

func (c *cli) endpointHealthCommand(cluster *bool) *cobra.Command {
	return &cobra.Command{
		Use:   "health",
		Short: "Checks the health of the endpoints",
		Long: `Checks that each endpoint serves a linearizable read (which goes through
the leader) and that no alarm is raised. Exit status 1 when one is
unhealthy.`,
		Example: "  cairnctl endpoint health\n  cairnctl endpoint health --cluster -w table",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			eps, err := c.targets(ctx, *cluster)
			if err != nil {
				return err
			}
			hs, err := eachEndpoint(c, eps, func(ep string, cl *client.Client) epHealth {
				return checkHealth(ctx, ep, cl)
			})
			if err != nil {
				return err
			}
			if err := c.p.print(healthOutput{hs, c.err}); err != nil {
				return err
			}
			for _, h := range hs {
				if !h.Health {
					return errors.New("unhealthy cluster")
				}
			}
			return nil
		},
	}
}

// checkHealth reads a key through ep (a key that does not exist, or that
// the user may not read, is an answer too) and looks for alarms.
func checkHealth(ctx context.Context, ep string, cl *client.Client) epHealth {
	start := time.Now()
	_, err := cl.Get(ctx, "health")
	h := epHealth{Endpoint: ep, Took: roundTook(time.Since(start)).String()}
	if err != nil && !errors.Is(err, client.ErrKeyNotFound) && !errors.Is(err, client.ErrPermissionDenied) {
		h.Error = err.Error()
		return h
	}
	st, err := cl.Status(ctx)
	if err != nil {
		h.Error = err.Error()
		return h
	}
	if len(st.Alarms) > 0 {
		h.Error = "active alarm(s): " + alarmsText(st.Alarms)
		return h
	}
	h.Health = true
	return h
}

type healthOutput struct {
	hs     []epHealth
	stderr io.Writer
}

// simple prints as etcdctl does: the healthy endpoints on stdout, the
// others on stderr.
func (o healthOutput) simple(w io.Writer) {
	for _, h := range o.hs {
		if h.Health {
			fmt.Fprintf(w, "%s is healthy: successfully committed proposal: took = %s\n", h.Endpoint, h.Took)
		} else {
			fmt.Fprintf(o.stderr, "%s is unhealthy: failed to commit proposal: %s\n", h.Endpoint, h.Error)
		}
	}
}

func (o healthOutput) table() ([]string, [][]string) {
	rows := make([][]string, len(o.hs))
	for i, h := range o.hs {
		rows[i] = []string{h.Endpoint, strconv.FormatBool(h.Health), h.Took, h.Error}
	}
	return []string{"ENDPOINT", "HEALTH", "TOOK", "ERROR"}, rows
}

func (o healthOutput) json() any { return o.hs }

// roundTook rounds the time of a health check to 0.1 ms (1 µs below a
// millisecond): "2.1ms", "830µs".
func roundTook(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(100 * time.Microsecond)
}

// alarmsText writes alarms as etcdctl's ERRORS column does.
func alarmsText(as []client.AlarmMember) string {
	var out []string
	for _, a := range as {
		out = append(out, fmt.Sprintf("memberID:%x alarm:%s", a.MemberID, a.Alarm))
	}
	return strings.Join(out, ", ")
}

// epStatus is the status of an endpoint, or why there is none.
type epStatus struct {
	ep  string
	st  *client.StatusResponse
	err error
}

func (c *cli) endpointStatusCommand(cluster *bool) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Prints the status of the endpoints",
		Long: `Prints what each endpoint says of itself: its ID, version, store size (and
the part in use), whether it leads or is a learner, its Raft term, index
and applied index, and the alarms raised. An endpoint that does not answer
is reported on stderr (exit status 1).`,
		Example: "  cairnctl endpoint status --cluster -w table",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			eps, err := c.targets(ctx, *cluster)
			if err != nil {
				return err
			}
			all, err := eachEndpoint(c, eps, func(ep string, cl *client.Client) epStatus {
				st, err := cl.Status(ctx)
				return epStatus{ep, st, err}
			})
			if err != nil {
				return err
			}
			return printAnswered(c, all, "status", func(s epStatus) (string, error) { return s.ep, s.err },
				func(ok []epStatus) output { return statusOutput{ok} })
		},
	}
}

type statusOutput struct{ ss []epStatus }

func (o statusOutput) table() ([]string, [][]string) {
	rows := make([][]string, len(o.ss))
	for i, s := range o.ss {
		st := s.st
		rows[i] = []string{s.ep, fmt.Sprintf("%x", st.MemberID), st.Version, humanBytes(st.DBSize),
			humanBytes(st.DBSizeInUse), strconv.FormatBool(st.Leader == st.MemberID), strconv.FormatBool(st.IsLearner),
			strconv.FormatUint(st.RaftTerm, 10), strconv.FormatUint(st.RaftIndex, 10),
			strconv.FormatUint(st.AppliedIndex, 10), alarmsText(st.Alarms)}
	}
	return []string{"ENDPOINT", "ID", "VERSION", "DB SIZE", "IN USE", "IS LEADER", "IS LEARNER", "RAFT TERM",
		"RAFT INDEX", "RAFT APPLIED INDEX", "ERRORS"}, rows
}

func (o statusOutput) simple(w io.Writer) {
	_, rows := o.table()
	writeRows(w, rows)
}

type alarmJSON struct {
	MemberID uint64 `json:"member_id"`
	Alarm    string `json:"alarm"`
}

func toAlarmsJSON(as []client.AlarmMember) []alarmJSON {
	out := make([]alarmJSON, len(as))
	for i, a := range as {
		out[i] = alarmJSON{MemberID: a.MemberID, Alarm: string(a.Alarm)}
	}
	return out
}

func (o statusOutput) json() any {
	type statusJSON struct {
		Header          headerJSON  `json:"header"`
		MemberID        uint64      `json:"member_id"`
		Name            string      `json:"name"`
		Leader          uint64      `json:"leader"`
		LeaderName      string      `json:"leader_name"`
		RaftTerm        uint64      `json:"raft_term"`
		RaftIndex       uint64      `json:"raft_index"`
		CommitIndex     uint64      `json:"commit_index"`
		AppliedIndex    uint64      `json:"applied_index"`
		Revision        int64       `json:"revision"`
		CompactRevision int64       `json:"compact_revision"`
		DBSize          int64       `json:"db_size"`
		DBSizeInUse     int64       `json:"db_size_in_use"`
		Keys            int64       `json:"keys"`
		IsLearner       bool        `json:"is_learner"`
		Version         string      `json:"version"`
		Alarms          []alarmJSON `json:"alarms"`
	}
	type epJSON struct {
		Endpoint string     `json:"endpoint"`
		Status   statusJSON `json:"status"`
	}
	out := make([]epJSON, len(o.ss))
	for i, s := range o.ss {
		st := s.st
		out[i] = epJSON{s.ep, statusJSON{
			Header: toHeaderJSON(st.Header), MemberID: st.MemberID, Name: st.Name, Leader: st.Leader,
			LeaderName: st.LeaderName, RaftTerm: st.RaftTerm, RaftIndex: st.RaftIndex, CommitIndex: st.CommitIndex,
			AppliedIndex: st.AppliedIndex, Revision: st.Revision, CompactRevision: st.CompactRevision,
			DBSize: st.DBSize, DBSizeInUse: st.DBSizeInUse, Keys: st.Keys, IsLearner: st.IsLearner,
			Version: st.Version, Alarms: toAlarmsJSON(st.Alarms),
		}}
	}
	return out
}

// epHash is the hash of an endpoint, or why there is none.
type epHash struct {
	ep  string
	h   *client.HashKVResponse
	err error
}

func (c *cli) endpointHashKVCommand(cluster *bool) *cobra.Command {
	var rev int64
	cmd := &cobra.Command{
		Use:   "hashkv",
		Short: "Prints the hash of each endpoint's key-value history",
		Long: `Prints the hash of each endpoint's key-value history up to --rev (default:
now). At the same revision it must be equal on every member: a difference
means a store diverged. With auth on it needs the root role.`,
		Example: "  cairnctl endpoint hashkv --cluster --rev 1234 -w table",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			eps, err := c.targets(ctx, *cluster)
			if err != nil {
				return err
			}
			all, err := eachEndpoint(c, eps, func(ep string, cl *client.Client) epHash {
				h, err := cl.HashKV(ctx, rev)
				return epHash{ep, h, err}
			})
			if err != nil {
				return err
			}
			return printAnswered(c, all, "hash", func(h epHash) (string, error) { return h.ep, h.err },
				func(ok []epHash) output { return hashOutput{ok} })
		},
	}
	cmd.Flags().Int64Var(&rev, "rev", 0, "the revision to hash up to (0: now)")
	return cmd
}

type hashOutput struct{ hs []epHash }

func (o hashOutput) table() ([]string, [][]string) {
	rows := make([][]string, len(o.hs))
	for i, h := range o.hs {
		rows[i] = []string{h.ep, strconv.FormatUint(uint64(h.h.Hash), 10), strconv.FormatInt(h.h.Revision, 10),
			strconv.FormatInt(h.h.CompactRevision, 10)}
	}
	return []string{"ENDPOINT", "HASH", "REVISION", "COMPACT REVISION"}, rows
}

func (o hashOutput) simple(w io.Writer) {
	_, rows := o.table()
	writeRows(w, rows)
}

func (o hashOutput) json() any {
	type hashJSON struct {
		Header          headerJSON `json:"header"`
		Hash            uint32     `json:"hash"`
		Revision        int64      `json:"revision"`
		CompactRevision int64      `json:"compact_revision"`
	}
	type epJSON struct {
		Endpoint string   `json:"endpoint"`
		Hash     hashJSON `json:"hash"`
	}
	out := make([]epJSON, len(o.hs))
	for i, h := range o.hs {
		out[i] = epJSON{h.ep, hashJSON{toHeaderJSON(h.h.Header), h.h.Hash, h.h.Revision, h.h.CompactRevision}}
	}
	return out
}
