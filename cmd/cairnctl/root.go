package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/spf13/cobra"
)

// run runs cairnctl with args (those after the program's name) and returns
// its exit status. ctx ends the run early (SIGINT, SIGTERM).
func run(ctx context.Context, args []string, sio stdio, getenv func(string) string) int {
	c := &cli{stdio: sio, getenv: getenv}
	root := c.rootCommand()
	if args == nil {
		args = []string{} // not nil: cobra would read os.Args
	}
	root.SetArgs(args)
	root.SetIn(sio.in)
	root.SetOut(sio.out)
	root.SetErr(sio.err)
	cmd, err := root.ExecuteContextC(ctx)
	c.closeClients()
	return c.report(cmd, err)
}

const rootLong = `cairnctl is the command-line client of Cairn, with etcdctl's verbs, flags
and output formats.

It talks to the members of --endpoints (any member serves any request) and
moves on to the next one when a member fails. Every global flag also reads
from CAIRNCTL_<FLAG> (CAIRNCTL_ENDPOINTS, CAIRNCTL_USER, ...) when it is
not on the command line.

Member and lease IDs are printed and read in hexadecimal, as etcdctl does;
-w json prints them as the API does, in decimal.

Exit status: 0 when the command did what it was asked, 1 on an error (a
refusal, no member answering, an unknown command or flag), 128 for
arguments that make no sense; lock NAME -- CMD exits with CMD's status.`

const rootExample = `  cairnctl put foo bar
  cairnctl get foo
  cairnctl --endpoints http://127.0.0.1:2379,http://127.0.0.1:22379 -w table member list
  CAIRNCTL_ENDPOINTS=http://10.0.0.1:2379 cairnctl endpoint health --cluster
  cairnctl lock jobs/nightly -- ./nightly.sh
  source <(cairnctl completion bash)`

// rootCommand builds the command tree of one run.
func (c *cli) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "cairnctl",
		Short:         "A command-line client for Cairn",
		Long:          rootLong,
		Example:       rootExample,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return c.setup(cmd)
		},
	}
	c.g.register(root.PersistentFlags())
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return usageError{err} })
	root.AddGroup(
		&cobra.Group{ID: "kv", Title: "Key-value commands:"},
		&cobra.Group{ID: "concurrency", Title: "Lease, lock and election commands:"},
		&cobra.Group{ID: "cluster", Title: "Cluster and maintenance commands:"},
		&cobra.Group{ID: "auth", Title: "Authentication commands:"},
		&cobra.Group{ID: "benchmark", Title: "Benchmark command:"},
	)
	add := func(groupID string, cmds ...*cobra.Command) {
		for _, cmd := range cmds {
			cmd.GroupID = groupID
			root.AddCommand(cmd)
		}
	}
	add("kv", c.putCommand(), c.getCommand(), c.delCommand(), c.txnCommand(), c.compactionCommand(), c.watchCommand())
	add("concurrency", c.leaseCommand(), c.lockCommand(), c.electCommand())
	add("cluster", c.memberCommand(), c.endpointCommand(), c.moveLeaderCommand(), c.snapshotCommand(),
		c.alarmCommand(), c.defragCommand())
	add("auth", c.authCommand(), c.userCommand(), c.roleCommand())
	add("benchmark", c.benchmarkCommand())
	return group(root)
}

// newDebugHTTPClient returns the HTTP client of --debug, which prints each
// request, its status and its time to w, and a function that closes its
// idle connections.
func newDebugHTTPClient(w io.Writer, dialTimeout time.Duration, conf *tls.Config) (*http.Client, func()) {
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     conf,
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
	}
	return &http.Client{Transport: &debugTransport{next: tr, w: w}}, tr.CloseIdleConnections
}

// debugTransport prints every request it sends.
type debugTransport struct {
	next http.RoundTripper
	mu   sync.Mutex
	w    io.Writer
}

func (t *debugTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		fmt.Fprintf(t.w, "cairnctl: %s %s: %v (%v)\n", r.Method, r.URL, err, time.Since(start).Round(time.Microsecond))
		return nil, err
	}
	fmt.Fprintf(t.w, "cairnctl: %s %s: %s (%v)\n", r.Method, r.URL, resp.Status, time.Since(start).Round(time.Microsecond))
	return resp, nil
}
