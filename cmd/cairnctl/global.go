package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/cairnkv/cairn/client"
)

// The exit statuses, etcdctl's: 1 for an error (a refusal, a member that
// cannot be reached, an unknown flag or command), 128 for arguments that
// do not make sense. `lock NAME -- CMD` exits with CMD's status.
const (
	exitOK      = 0
	exitError   = 1
	exitBadArgs = 128
)

// stdio is where a run of cairnctl reads and writes.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// cli is one run of cairnctl: its input and outputs, its environment, its
// global flags and the clients it made.
type cli struct {
	stdio
	getenv func(string) string
	g      globals
	p      *printer

	mu      sync.Mutex
	shared  *client.Client   // for g.endpoints, made by client()
	clients []*client.Client // every client made, closed at the end
	closers []func()
}

// globals are the global flags, etcdctl's, each also read from
// CAIRNCTL_<FLAG> when it is not on the command line.
type globals struct {
	endpoints      []string
	dialTimeout    time.Duration
	commandTimeout time.Duration
	writeOut       string
	user, password string
	cacert         string
	cert, key      string
	debug          bool
}

func (g *globals) register(fs *pflag.FlagSet) {
	fs.StringSliceVar(&g.endpoints, "endpoints", []string{"http://127.0.0.1:2379"}, "the members' client URLs, comma-separated (host:port means http://host:port)")
	fs.DurationVar(&g.dialTimeout, "dial-timeout", 2*time.Second, "how long to wait for a connection to a member")
	fs.DurationVar(&g.commandTimeout, "command-timeout", 5*time.Second, "how long a call may take (watch, lock and elect waits are not bounded)")
	fs.StringVarP(&g.writeOut, "write-out", "w", "simple", "the output format: simple, json or table")
	fs.StringVar(&g.user, "user", "", "name[:password] of a user, for a cluster with auth on (the password is asked for when missing)")
	fs.StringVar(&g.password, "password", "", "the password of --user (which then names the user alone)")
	fs.StringVar(&g.cacert, "cacert", "", "the CAs (PEM) that sign the members' certificates, for https endpoints")
	fs.StringVar(&g.cert, "cert", "", "a client certificate (PEM), for members with --client-cert-auth")
	fs.StringVar(&g.key, "key", "", "the private key (PEM) of --cert")
	fs.BoolVar(&g.debug, "debug", false, "print the flags in force and every HTTP request to stderr")
}

// envName is the environment variable of a global flag: CAIRNCTL_ and the
// name in upper case, '-' as '_'.
func envName(flag string) string {
	return "CAIRNCTL_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnv sets each flag of fs that is not on the command line from its
// environment variable, when that is set and not empty.
func applyEnv(fs *pflag.FlagSet, getenv func(string) string) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		name := envName(f.Name)
		if v := getenv(name); v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", name, v, err))
			}
		}
	})
	return errors.Join(errs...)
}

// setup runs before every command: the environment, the output format,
// and with --debug the flags in force.
func (c *cli) setup(cmd *cobra.Command) error {
	fs := cmd.Root().PersistentFlags()
	if err := applyEnv(fs, c.getenv); err != nil {
		return usageError{err}
	}
	switch c.g.writeOut {
	case formatSimple, formatJSON, formatTable:
	default:
		return usageError{fmt.Errorf("--write-out %q: want simple, json or table", c.g.writeOut)}
	}
	c.p = newPrinter(c.out, c.err, c.g.writeOut)
	if c.g.debug {
		fs.VisitAll(func(f *pflag.Flag) {
			v := f.Value.String()
			if f.Name == "password" && v != "" {
				v = "***"
			}
			from := "flag"
			if !f.Changed {
				from = "default"
				if c.getenv(envName(f.Name)) != "" {
					from = envName(f.Name)
				}
			}
			fmt.Fprintf(c.err, "cairnctl: --%s=%s (%s)\n", f.Name, v, from)
		})
	}
	return nil
}

// client returns the client of --endpoints, made at the first call.
func (c *cli) client() (*client.Client, error) {
	c.mu.Lock()
	shared := c.shared
	c.mu.Unlock()
	if shared != nil {
		return shared, nil
	}
	cl, err := c.clientFor(c.g.endpoints, nil)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.shared = cl
	c.mu.Unlock()
	return cl, nil
}

// clientFor returns a new client of the endpoints given, configured by
// the global flags, then by adjust when it is not nil; it is closed when
// the run ends.
func (c *cli) clientFor(endpoints []string, adjust func(*client.Config)) (*client.Client, error) {
	cfg := client.Config{
		Endpoints:      endpoints,
		DialTimeout:    c.g.dialTimeout,
		RequestTimeout: c.g.commandTimeout,
		UserAgent:      "cairnctl",
	}
	if adjust != nil {
		adjust(&cfg)
	}
	var err error
	if cfg.TLS, err = c.tlsConfig(); err != nil {
		return nil, err
	}
	if cfg.Username, cfg.Password, err = c.credentials(); err != nil {
		return nil, err
	}
	if c.g.debug {
		hc, closeIdle := newDebugHTTPClient(c.err, c.g.dialTimeout, cfg.TLS)
		cfg.HTTPClient = hc
		c.mu.Lock()
		c.closers = append(c.closers, closeIdle)
		c.mu.Unlock()
	}
	cl, err := client.New(cfg)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.clients = append(c.clients, cl)
	c.mu.Unlock()
	return cl, nil
}

// tlsConfig returns the TLS configuration of --cacert, --cert and --key;
// nil without them (https endpoints are then verified by the system's CAs).
func (c *cli) tlsConfig() (*tls.Config, error) {
	if c.g.cacert == "" && c.g.cert == "" && c.g.key == "" {
		return nil, nil
	}
	return client.NewTLSConfig(client.TLSFiles{CAFile: c.g.cacert, CertFile: c.g.cert, KeyFile: c.g.key})
}

// credentials returns the user of --user and --password, asking for the
// password on the terminal when only a name is given.
func (c *cli) credentials() (name, password string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := &c.g
	if g.user == "" {
		if g.password != "" {
			return "", "", usageError{errors.New("--password needs --user")}
		}
		return "", "", nil
	}
	if g.password != "" {
		if strings.Contains(g.user, ":") {
			return "", "", usageError{errors.New("--user names the user alone when --password is given")}
		}
		return g.user, g.password, nil
	}
	if name, password, ok := strings.Cut(g.user, ":"); ok {
		return name, password, nil
	}
	f, ok := c.in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", "", usageError{fmt.Errorf("--user %s: no password (give --user %s:PASSWORD or --password, or run on a terminal to be asked)", g.user, g.user)}
	}
	fmt.Fprint(c.err, "Password: ")
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(c.err)
	if err != nil {
		return "", "", fmt.Errorf("reading the password: %w", err)
	}
	g.password = string(b) // asked once per run
	return g.user, g.password, nil
}

// closeClients closes every client the run made.
func (c *cli) closeClients() {
	c.mu.Lock()
	clients, closers := c.clients, c.closers
	c.clients, c.closers, c.shared = nil, nil, nil
	c.mu.Unlock()
	for _, cl := range clients {
		cl.Close()
	}
	for _, f := range closers {
		f()
	}
}

// usageError is a mistake in the command line that cobra or cairnctl
// found: an unknown command or flag, a bad flag value. Exit status 1, as
// etcdctl's, with a pointer to the help.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// argError is a mistake in a command's arguments: exit status 128, as
// etcdctl's ExitBadArgs, with a pointer to the help.
type argError struct{ err error }

func (e argError) Error() string { return e.err.Error() }
func (e argError) Unwrap() error { return e.err }

func badArgs(format string, a ...any) error { return argError{fmt.Errorf(format, a...)} }

// exitStatus ends cairnctl with a status and no message: the status of
// the command that `lock NAME -- CMD` ran.
type exitStatus struct{ code int }

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// report prints err, if any, to stderr and returns the exit status.
func (c *cli) report(cmd *cobra.Command, err error) int {
	if err == nil {
		return exitOK
	}
	var st exitStatus
	if errors.As(err, &st) {
		return st.code
	}
	fmt.Fprintf(c.err, "Error: %s\n", c.describe(err))
	var ue usageError
	var ae argError
	switch {
	case errors.As(err, &ae):
		fmt.Fprintf(c.err, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return exitBadArgs
	case errors.As(err, &ue):
		fmt.Fprintf(c.err, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return exitError
}

// describe is the message of err. The client's errors name the member
// that failed; a deadline that passed before any member answered gets the
// endpoints it was trying.
func (c *cli) describe(err error) string {
	msg := err.Error()
	var ce *client.Error
	if !errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ce) {
		return msg
	}
	for _, ep := range c.g.endpoints {
		if strings.Contains(msg, strings.TrimSuffix(ep, "/")) {
			return msg
		}
	}
	return msg + " (endpoints: " + strings.Join(c.g.endpoints, ", ") + ")"
}

// subcommandArgs is the Args of a command that only groups others: an
// argument is an unknown subcommand.
func subcommandArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return usageError{errors.New(msg)}
}

// group makes cmd a command that only groups subcommands: alone it prints
// its help, with an unknown subcommand it fails.
func group(cmd *cobra.Command, subs ...*cobra.Command) *cobra.Command {
	cmd.Args = subcommandArgs
	cmd.SuggestionsMinimumDistance = 2
	cmd.RunE = func(cmd *cobra.Command, args []string) error { return cmd.Help() }
	cmd.AddCommand(subs...)
	return cmd
}

// exactArgs, rangeArgs and minArgs check the number of arguments, as
// cobra's validators do, with etcdctl's status for a mistake.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return badArgs("%s needs %s", cmd.CommandPath(), what)
		}
		return nil
	}
}

func rangeArgs(lo, hi int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < lo || len(args) > hi {
			return badArgs("%s needs %s", cmd.CommandPath(), what)
		}
		return nil
	}
}
