package app

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cairnkv/cairn/internal/domain/compactor"
)

// Config is the whole server configuration.
//
// LoadConfig fills it from flags, the environment and a YAML file; tests may
// also build one from Defaults and call WithDerivedDefaults. Validate checks it.
type Config struct {
	Name                    string        // --name, default "default"
	DataDir                 string        // --data-dir, default "./<name>.cairn"
	ListenClientURLs        []string      // --listen-client-urls, default http://127.0.0.1:2379 (comma separated)
	AdvertiseClientURLs     []string      // --advertise-client-urls, default = the listen client URLs
	ListenPeerURL           string        // --listen-peer-urls, default http://127.0.0.1:2380 (exactly one URL for now)
	InitialAdvertisePeerURL string        // --initial-advertise-peer-urls, default = the listen peer URL
	InitialCluster          []Peer        // --initial-cluster "n1=http://127.0.0.1:2380,n2=...", default: this member alone
	InitialClusterState     string        // --initial-cluster-state new|existing, default new
	Join                    string        // --join http://HOST:2379 (a client URL of a running member), default none
	JoinUser                string        // --join-user name:password, sent as HTTP Basic with --join, default none
	JoinAsLearner           bool          // --join-as-learner: --join adds this member as a learner (promote it once it has caught up), default false
	LogLevel                string        // --log-level debug|info|warn|error, default info
	LogFormat               string        // --log-format json|console, default "" = auto (see LogFormatFor)
	MaxRequestBytes         int64         // --max-request-bytes, default 1.5 MiB
	HeartbeatInterval       time.Duration // --heartbeat-interval in milliseconds, default 100ms
	ElectionTimeout         time.Duration // --election-timeout in milliseconds, default 1000ms
	RequestTimeout          time.Duration // --request-timeout as a Go duration, default 5s: how long a write waits for Raft before 504
	SnapshotInterval        time.Duration // --snapshot-interval as a Go duration, default 10s: how often Raft checks whether --snapshot-count entries call for a snapshot
	SnapshotCount           uint64        // --snapshot-count, default 10000 Raft entries between snapshots
	ShutdownTimeout         time.Duration // --shutdown-timeout as a Go duration, default 10s
	MaxWatchers             int           // --max-watchers, default 10000: open watchers per member
	MaxConcurrentStreams    int           // --max-concurrent-streams, default 1000: HTTP/2 streams per client connection (gRPC calls, SSE watches)
	MaxWatchEvents          int           // --max-watch-events, default 1000: events per watch message
	WatchHeartbeat          time.Duration // --watch-heartbeat-interval as a Go duration, default 10s
	CorruptCheckInterval    time.Duration // --corrupt-check-interval as a Go duration, default 5m, 0 = never (also checked once at start)
	QuotaBackendBytes       int64         // --quota-backend-bytes, default 2 GiB, 0 = no quota: past it, this member raises NOSPACE
	AutoCompactionMode      string        // --auto-compaction-mode periodic|revision, default periodic
	AutoCompactionRetention string        // --auto-compaction-retention, default 1h: a duration (periodic; a bare number is hours) or a number of revisions; 0 = off
	AuthTokenTTL            time.Duration // --auth-token-ttl in seconds, default 300
	BcryptCost              int           // --bcrypt-cost, default 10
	WarningApplyDuration    time.Duration // --warning-apply-duration as a Go duration, default 100ms, 0 = never: an apply batch or a request that takes longer is logged as a warning
	EnablePprof             bool          // --enable-pprof: serve Go's profiles under /debug/pprof/ on the client URLs (root only with auth on), default false
	ConfigFile              string        // --config-file (or CAIRN_CONFIG_FILE), default none

	// TLS for the clients (https:// client URLs), with etcd's flag names.
	// The certificate and key also authenticate this member where it is a
	// client of another member's client URL (--join); the CA file is also
	// what it verifies that member by. Files are reloaded when they change.
	CertFile       string // --cert-file: the client URLs' certificate chain (PEM)
	KeyFile        string // --key-file: its private key (PEM, unencrypted)
	TrustedCAFile  string // --trusted-ca-file: CAs that sign client certificates (verified when given)
	ClientCertAuth bool   // --client-cert-auth: require a client certificate signed by --trusted-ca-file

	// TLS for the peer port (https:// peer URLs): Raft and every call
	// between members. The certificate is presented on both ends, so it
	// needs the serverAuth and clientAuth key usages.
	PeerCertFile       string // --peer-cert-file: this member's peer certificate chain (PEM)
	PeerKeyFile        string // --peer-key-file: its private key (PEM, unencrypted)
	PeerTrustedCAFile  string // --peer-trusted-ca-file: CAs that sign the members' peer certificates
	PeerClientCertAuth bool   // --peer-client-cert-auth: members must present a certificate signed by --peer-trusted-ca-file
}

// Peer is one member of the initial cluster: its name and its advertised peer URL.
type Peer struct{ Name, URL string }

// String returns the peer in flag form, "name=url".
func (p Peer) String() string { return p.Name + "=" + p.URL }

// Addr returns the host:port of the peer URL, or "" when it does not parse.
func (p Peer) Addr() string { return urlHost(p.URL) }

// Log formats. An empty LogFormat means auto: console on a terminal, else json.
const (
	LogFormatJSON    = "json"
	LogFormatConsole = "console"
)

// Defaults returns the static defaults. The derived fields (DataDir,
// AdvertiseClientURLs, InitialAdvertisePeerURL, InitialCluster) are left empty:
// WithDerivedDefaults fills them once Name and the listen URLs are final.
func Defaults() Config {
	return Config{
		Name:                    "default",
		ListenClientURLs:        []string{"http://127.0.0.1:2379"},
		ListenPeerURL:           "http://127.0.0.1:2380",
		InitialClusterState:     "new",
		LogLevel:                "info",
		MaxRequestBytes:         1572864,
		HeartbeatInterval:       100 * time.Millisecond,
		ElectionTimeout:         1000 * time.Millisecond,
		RequestTimeout:          5 * time.Second,
		SnapshotCount:           10000,
		SnapshotInterval:        10 * time.Second,
		ShutdownTimeout:         10 * time.Second,
		MaxWatchers:             10000,
		MaxConcurrentStreams:    1000,
		MaxWatchEvents:          1000,
		WatchHeartbeat:          10 * time.Second,
		CorruptCheckInterval:    5 * time.Minute,
		QuotaBackendBytes:       2 << 30,
		AutoCompactionMode:      "periodic",
		AutoCompactionRetention: "1h",
		AuthTokenTTL:            300 * time.Second,
		BcryptCost:              10,
		WarningApplyDuration:    100 * time.Millisecond,
	}
}

// WithDerivedDefaults returns c with each empty derived field computed from the
// others: DataDir = "./<Name>.cairn", AdvertiseClientURLs = ListenClientURLs,
// InitialAdvertisePeerURL = ListenPeerURL, InitialCluster = this member alone.
func (c Config) WithDerivedDefaults() Config {
	if c.DataDir == "" && c.Name != "" {
		c.DataDir = "./" + c.Name + ".cairn"
	}
	if len(c.AdvertiseClientURLs) == 0 {
		c.AdvertiseClientURLs = append([]string(nil), c.ListenClientURLs...)
	}
	if c.InitialAdvertisePeerURL == "" {
		c.InitialAdvertisePeerURL = c.ListenPeerURL
	}
	if len(c.InitialCluster) == 0 {
		c.InitialCluster = []Peer{{Name: c.Name, URL: c.InitialAdvertisePeerURL}}
	}
	return c
}

// LogFormatFor returns the log format to use: LogFormat when set, else
// console when stderr is a terminal and json otherwise.
func (c Config) LogFormatFor(stderrIsTerminal bool) string {
	switch {
	case c.LogFormat != "":
		return c.LogFormat
	case stderrIsTerminal:
		return LogFormatConsole
	default:
		return LogFormatJSON
	}
}

// ClientAddrs returns the host:port of each listen client URL. Call it on a valid Config.
func (c Config) ClientAddrs() []string {
	addrs := make([]string, len(c.ListenClientURLs))
	for i, u := range c.ListenClientURLs {
		addrs[i] = urlHost(u)
	}
	return addrs
}

// ClientTLS reports whether a listen client URL is https://. Call it on a
// valid Config.
func (c Config) ClientTLS() bool {
	for _, u := range c.ListenClientURLs {
		if urlScheme(u) == "https" {
			return true
		}
	}
	return false
}

// PeerTLS reports whether the peer URLs are https://: the peer port, and
// every member's, speaks TLS. Call it on a valid Config.
func (c Config) PeerTLS() bool { return urlScheme(c.ListenPeerURL) == "https" }

// PeerAddr returns the host:port of the listen peer URL. Call it on a valid Config.
func (c Config) PeerAddr() string { return urlHost(c.ListenPeerURL) }

// AdvertisePeerAddr returns the host:port of the advertised peer URL, the
// address Raft announces. Call it on a valid Config.
func (c Config) AdvertisePeerAddr() string { return urlHost(c.InitialAdvertisePeerURL) }

func urlScheme(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return u.Scheme
}

func urlHost(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return u.Host
}

// AutoCompaction returns the compactor's configuration from
// --auto-compaction-mode and --auto-compaction-retention.
func (c Config) AutoCompaction() (compactor.Config, error) {
	v := strings.TrimSpace(c.AutoCompactionRetention)
	switch compactor.Mode(c.AutoCompactionMode) {
	case compactor.Periodic:
		if h, err := strconv.ParseFloat(v, 64); err == nil && h >= 0 {
			return compactor.Config{Mode: compactor.Periodic, Retention: time.Duration(h * float64(time.Hour))}, nil
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return compactor.Config{}, fmt.Errorf("%q is not a duration like 1h or 30m (or a number of hours) for periodic compaction", v)
		}
		return compactor.Config{Mode: compactor.Periodic, Retention: d}, nil
	case compactor.Revisions:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return compactor.Config{}, fmt.Errorf("%q is not a number of revisions for revision compaction", v)
		}
		return compactor.Config{Mode: compactor.Revisions, Revisions: n}, nil
	}
	return compactor.Config{}, fmt.Errorf("--auto-compaction-mode %q is neither periodic nor revision", c.AutoCompactionMode)
}
