package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// An option is one setting: its flag name (also its YAML key and, upper-cased
// with '_' for '-' after "CAIRN_", its environment variable), the kind of
// value it takes, and how a raw string value is stored into a Config.
type option struct {
	name  string
	kind  optionKind
	def   string
	usage string
	set   func(c *Config, v string) error
}

// optionKind is the kind of value an option takes.
type optionKind int

const (
	single  optionKind = iota // one value
	list                      // a comma-separated list, or a YAML list
	boolean                   // true or false; the bare flag (--client-cert-auth) means true
)

var options = []option{
	{"name", single, "default", "this member's `name`, unique in the cluster",
		func(c *Config, v string) error { c.Name = v; return nil }},
	{"data-dir", single, "./<name>.cairn", "`dir`ectory for the Raft log, snapshots and the MVCC store",
		func(c *Config, v string) error { c.DataDir = v; return nil }},
	{"listen-client-urls", list, "http://127.0.0.1:2379", "comma-separated `urls` where the API listens",
		func(c *Config, v string) error { c.ListenClientURLs = splitList(v); return nil }},
	{"advertise-client-urls", list, "the listen client URLs", "comma-separated client `urls` told to other members and clients",
		func(c *Config, v string) error { c.AdvertiseClientURLs = splitList(v); return nil }},
	{"listen-peer-urls", single, "http://127.0.0.1:2380", "the `url` the peer port listens on: Raft and the members' calls to each other (exactly one)",
		func(c *Config, v string) error { c.ListenPeerURL = v; return nil }},
	{"initial-advertise-peer-urls", single, "the listen peer URL", "the peer `url` the other members dial (exactly one)",
		func(c *Config, v string) error { c.InitialAdvertisePeerURL = v; return nil }},
	{"initial-cluster", list, "this member alone", "`name=url,...` pairs for a static first start, e.g. n1=http://127.0.0.1:2380,n2=...",
		setInitialCluster},
	{"initial-cluster-state", single, "new", "`state`: new, or existing to start a member already added to a running cluster",
		func(c *Config, v string) error { c.InitialClusterState = strings.ToLower(v); return nil }},
	{"join", single, "none", "client `url` of a running member (http://HOST:2379) to ask to add this one",
		func(c *Config, v string) error { c.Join = v; return nil }},
	{"join-user", single, "none", "`name:password` of a root user, sent with --join to a cluster with auth enabled (prefer CAIRN_JOIN_USER: flags show in the process list)",
		func(c *Config, v string) error { c.JoinUser = v; return nil }},
	{"join-as-learner", boolean, "false", "with --join: join as a learner, which replicates but does not vote until it is promoted (POST /v1/cluster/members/ID/promote)",
		setBool(func(c *Config, b bool) { c.JoinAsLearner = b })},
	{"log-level", single, "info", "`level`: debug, info, warn or error",
		func(c *Config, v string) error { c.LogLevel = strings.ToLower(v); return nil }},
	{"log-format", single, "console on a terminal, else json", "`format`: json or console",
		func(c *Config, v string) error { c.LogFormat = strings.ToLower(v); return nil }},
	{"max-request-bytes", single, "1572864", "largest accepted request body in `bytes`",
		func(c *Config, v string) (err error) {
			c.MaxRequestBytes, err = strconv.ParseInt(v, 10, 64)
			return numErr(err)
		}},
	{"heartbeat-interval", single, "100", "Raft heartbeat interval in milliseconds (`ms`)",
		func(c *Config, v string) (err error) { c.HeartbeatInterval, err = parseMillis(v); return err }},
	{"election-timeout", single, "1000", "Raft election timeout in milliseconds (`ms`)",
		func(c *Config, v string) (err error) { c.ElectionTimeout, err = parseMillis(v); return err }},
	{"request-timeout", single, "5s", "how long a request waits for Raft before 504 (Go `duration`)",
		func(c *Config, v string) (err error) { c.RequestTimeout, err = parseDuration(v); return err }},
	{"snapshot-count", single, "10000", "Raft `entries` between snapshots",
		func(c *Config, v string) (err error) {
			c.SnapshotCount, err = strconv.ParseUint(v, 10, 64)
			return numErr(err)
		}},
	{"snapshot-interval", single, "10s", "how often Raft checks whether --snapshot-count entries call for a snapshot (Go `duration`; Raft adds up to as much again as jitter)",
		func(c *Config, v string) (err error) { c.SnapshotInterval, err = parseDuration(v); return err }},
	{"shutdown-timeout", single, "10s", "how long a graceful shutdown may take (Go `duration`)",
		func(c *Config, v string) (err error) { c.ShutdownTimeout, err = parseDuration(v); return err }},
	{"max-watchers", single, "10000", "most open watchers (SSE streams, long polls and etcd gRPC watches) on this member",
		func(c *Config, v string) (err error) { c.MaxWatchers, err = strconv.Atoi(v); return numErr(err) }},
	{"max-concurrent-streams", single, "1000", "most concurrent HTTP/2 streams on one client connection (gRPC calls, SSE watch streams; etcd's flag)",
		func(c *Config, v string) (err error) {
			c.MaxConcurrentStreams, err = strconv.Atoi(v)
			return numErr(err)
		}},
	{"max-watch-events", single, "1000", "most events in one watch message (a larger revision is split)",
		func(c *Config, v string) (err error) { c.MaxWatchEvents, err = strconv.Atoi(v); return numErr(err) }},
	{"watch-heartbeat-interval", single, "10s", "how often an idle watch stream gets a heartbeat or progress event (Go `duration`)",
		func(c *Config, v string) (err error) { c.WatchHeartbeat, err = parseDuration(v); return err }},
	{"quota-backend-bytes", single, "2147483648", "size of this member's store, in `bytes`, past which it raises the NOSPACE alarm and writes that add data are refused (0: no quota)",
		func(c *Config, v string) (err error) {
			c.QuotaBackendBytes, err = strconv.ParseInt(v, 10, 64)
			return numErr(err)
		}},
	{"auto-compaction-mode", single, "periodic", "`mode` of the leader's automatic compaction: periodic (keep --auto-compaction-retention of time) or revision (keep that many revisions)",
		func(c *Config, v string) error { c.AutoCompactionMode = strings.ToLower(v); return nil }},
	{"auto-compaction-retention", single, "1h", "history kept by automatic compaction: a Go duration in periodic mode (a bare number means hours, as in etcd), a number of revisions in revision mode (0: never compact)",
		func(c *Config, v string) error { c.AutoCompactionRetention = v; return nil }},
	{"corrupt-check-interval", single, "5m", "how often the leader compares the store hashes of every member, besides once after each member's start; a member that differs from the majority raises the CORRUPT alarm (Go `duration`, 0: never)",
		func(c *Config, v string) (err error) { c.CorruptCheckInterval, err = parseDuration(v); return err }},
	{"auth-token-ttl", single, "300", "how long a token from /v1/auth/authenticate is valid, in `seconds`",
		func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			c.AuthTokenTTL = time.Duration(n) * time.Second
			return numErr(err)
		}},
	{"bcrypt-cost", single, "10", "bcrypt's work factor for the users' password hashes (4 to 31; each step doubles the work)",
		func(c *Config, v string) (err error) { c.BcryptCost, err = strconv.Atoi(v); return numErr(err) }},
	{"warning-apply-duration", single, "100ms", "an apply batch or a request that takes longer is logged as a warning, at most one line every few seconds (Go `duration`; 0: never)",
		func(c *Config, v string) (err error) { c.WarningApplyDuration, err = parseDuration(v); return err }},
	{"enable-pprof", boolean, "false", "serve Go's runtime profiles under /debug/pprof/ on the client URLs (root only when auth is on)",
		setBool(func(c *Config, b bool) { c.EnablePprof = b })},
	{"cert-file", single, "none", "certificate `file` (PEM) of the https:// client URLs",
		func(c *Config, v string) error { c.CertFile = v; return nil }},
	{"key-file", single, "none", "private key `file` (PEM) of --cert-file",
		func(c *Config, v string) error { c.KeyFile = v; return nil }},
	{"trusted-ca-file", single, "none", "CA `file` (PEM) that signs client certificates; a client certificate is verified when given",
		func(c *Config, v string) error { c.TrustedCAFile = v; return nil }},
	{"client-cert-auth", boolean, "false", "require a client certificate signed by --trusted-ca-file",
		setBool(func(c *Config, b bool) { c.ClientCertAuth = b })},
	{"peer-cert-file", single, "none", "certificate `file` (PEM) of the https:// peer port, also presented to the other members",
		func(c *Config, v string) error { c.PeerCertFile = v; return nil }},
	{"peer-key-file", single, "none", "private key `file` (PEM) of --peer-cert-file",
		func(c *Config, v string) error { c.PeerKeyFile = v; return nil }},
	{"peer-trusted-ca-file", single, "none", "CA `file` (PEM) that signs the members' peer certificates",
		func(c *Config, v string) error { c.PeerTrustedCAFile = v; return nil }},
	{"peer-client-cert-auth", boolean, "false", "require members to present a peer certificate signed by --peer-trusted-ca-file",
		setBool(func(c *Config, b bool) { c.PeerClientCertAuth = b })},
	{"config-file", single, "none", "YAML `file` whose keys are these flag names",
		func(c *Config, v string) error { c.ConfigFile = v; return nil }},
}

func envName(flagName string) string {
	return "CAIRN_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func setInitialCluster(c *Config, v string) error {
	c.InitialCluster = nil
	for _, item := range splitList(v) {
		name, u, ok := strings.Cut(item, "=")
		if !ok {
			return fmt.Errorf("%q is not name=URL", item)
		}
		c.InitialCluster = append(c.InitialCluster, Peer{Name: strings.TrimSpace(name), URL: strings.TrimSpace(u)})
	}
	return nil
}

func setBool(set func(c *Config, b bool)) func(c *Config, v string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is neither true nor false", v)
		}
		set(c, b)
		return nil
	}
}

func numErr(err error) error {
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		return fmt.Errorf("%q is not a valid number", ne.Num)
	}
	return err
}

// parseMillis reads an integer number of milliseconds, as etcd does; a Go
// duration with a unit ("100ms") is accepted too.
func parseMillis(v string) (time.Duration, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Duration(n) * time.Millisecond, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number of milliseconds", v)
	}
	return d, nil
}

func parseDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like 5s or 1m30s", v)
	}
	return d, nil
}

// LoadConfig is LoadConfigTo with usage and flag errors printed to os.Stderr.
func LoadConfig(args, environ []string) (Config, error) {
	return LoadConfigTo(args, environ, os.Stderr)
}

// LoadConfigTo builds the Config from args (the command line without the
// program name, like os.Args[1:]), environ (like os.Environ()) and the YAML
// file named by --config-file or CAIRN_CONFIG_FILE. A flag beats the
// environment, which beats the file, which beats the default; the derived
// defaults are computed last, from the merged values. An empty environment
// variable counts as unset, and CAIRN_ variables that name no flag are ignored.
//
// -h or --help prints the usage to out and returns flag.ErrHelp. Unknown flags,
// unknown YAML keys and values that do not parse are errors. LoadConfigTo does
// not call Validate.
func LoadConfigTo(args, environ []string, out io.Writer) (Config, error) {
	flagVals, err := parseFlags(args, out)
	if err != nil {
		return Config{}, err
	}
	envVals := parseEnv(environ)

	c := Defaults()
	path, ok := flagVals["config-file"]
	if !ok {
		path = envVals["config-file"]
	}
	if path != "" {
		fileVals, err := readYAML(path)
		if err != nil {
			return Config{}, err
		}
		if err := apply(&c, fileVals, func(name string) string {
			return fmt.Sprintf("config file %s: %s", path, name)
		}); err != nil {
			return Config{}, err
		}
	}
	if err := apply(&c, envVals, envName); err != nil {
		return Config{}, err
	}
	if err := apply(&c, flagVals, func(name string) string { return "--" + name }); err != nil {
		return Config{}, err
	}
	return c.WithDerivedDefaults(), nil
}

// apply stores vals into c in the order of options; where names a value in errors.
func apply(c *Config, vals map[string]string, where func(name string) string) error {
	for _, o := range options {
		v, ok := vals[o.name]
		if !ok {
			continue
		}
		if err := o.set(c, strings.TrimSpace(v)); err != nil {
			return fmt.Errorf("%s: %w", where(o.name), err)
		}
	}
	return nil
}

// rawFlag records the raw string given for a flag; conversion happens in apply.
type rawFlag struct {
	name    string
	boolean bool
	vals    map[string]string
}

func (f rawFlag) String() string     { return "" }
func (f rawFlag) Set(v string) error { f.vals[f.name] = v; return nil }

// IsBoolFlag lets a boolean flag stand alone (--client-cert-auth), as the
// flag package calls it.
func (f rawFlag) IsBoolFlag() bool { return f.boolean }

func parseFlags(args []string, out io.Writer) (map[string]string, error) {
	vals := map[string]string{}
	fs := flag.NewFlagSet("cairn", flag.ContinueOnError)
	fs.SetOutput(out)
	for _, o := range options {
		fs.Var(rawFlag{name: o.name, boolean: o.kind == boolean, vals: vals}, o.name, o.usage+" (default "+o.def+")")
	}
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: cairn [flags]\n\n"+
			"Every flag can also be set with CAIRN_<FLAG> (e.g. CAIRN_DATA_DIR) or as a key of\n"+
			"the YAML --config-file; a flag beats the environment, which beats the file.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags look like --name=n1)", fs.Arg(0))
	}
	return vals, nil
}

func parseEnv(environ []string) map[string]string {
	byEnv := map[string]string{}
	for _, o := range options {
		byEnv[envName(o.name)] = o.name
	}
	vals := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if name, ok := byEnv[k]; ok && v != "" {
			vals[name] = v
		}
	}
	return vals
}

// readYAML reads a config file into raw values keyed by flag name. A list
// value becomes a comma-separated string; initial-cluster may also be a
// mapping of name: URL.
func readYAML(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	vals := map[string]string{}
	if len(doc.Content) == 0 { // empty file
		return vals, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config file %s: line %d: expected a mapping of flag names to values", path, root.Line)
	}
	known := map[string]option{}
	for _, o := range options {
		known[o.name] = o
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		fail := func(format string, a ...any) error {
			return fmt.Errorf("config file %s: line %d: %q: %s", path, k.Line, k.Value, fmt.Sprintf(format, a...))
		}
		o, ok := known[k.Value]
		switch {
		case !ok:
			return nil, fail("unknown key")
		case k.Value == "config-file":
			return nil, fail("not allowed inside a config file")
		}
		if _, dup := vals[k.Value]; dup {
			return nil, fail("key given twice")
		}
		s, err := yamlValue(v, o)
		if err != nil {
			return nil, fail("%v", err)
		}
		vals[k.Value] = s
	}
	return vals, nil
}

func yamlValue(v *yaml.Node, o option) (string, error) {
	switch {
	case v.Kind == yaml.ScalarNode:
		if v.Tag == "!!null" {
			return "", nil
		}
		return v.Value, nil
	case v.Kind == yaml.SequenceNode && o.kind == list:
		items := make([]string, 0, len(v.Content))
		for _, it := range v.Content {
			if it.Kind != yaml.ScalarNode {
				return "", errors.New("list items must be strings")
			}
			items = append(items, it.Value)
		}
		return strings.Join(items, ","), nil
	case v.Kind == yaml.MappingNode && o.name == "initial-cluster":
		items := make([]string, 0, len(v.Content)/2)
		for i := 0; i+1 < len(v.Content); i += 2 {
			items = append(items, v.Content[i].Value+"="+v.Content[i+1].Value)
		}
		return strings.Join(items, ","), nil
	case o.kind == list:
		return "", errors.New("expected a string or a list")
	default:
		return "", errors.New("expected a single value")
	}
}
