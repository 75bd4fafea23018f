package app

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cairnkv/cairn/internal/domain"
)

// Validate reports every problem in c, one per line, each naming its flag.
func (c Config) Validate() error {
	var errs []error
	bad := func(flagName, format string, a ...any) {
		errs = append(errs, fmt.Errorf("--%s: %s", flagName, fmt.Sprintf(format, a...)))
	}
	checkURL := func(flagName, s string, advertised bool) bool {
		if err := checkURL(s, advertised); err != nil {
			bad(flagName, "%q: %v", s, err)
			return false
		}
		return true
	}

	if c.Name == "" {
		bad("name", "must not be empty")
	} else if err := domain.ValidateMemberName(c.Name); err != nil {
		// The name goes into the replicated member registry, which
		// refuses what this refuses.
		bad("name", "%v", err)
	}
	if c.DataDir == "" {
		bad("data-dir", "must not be empty")
	}
	if len(c.ListenClientURLs) == 0 {
		bad("listen-client-urls", "needs at least one URL")
	}
	for _, u := range c.ListenClientURLs {
		checkURL("listen-client-urls", u, false)
	}
	if len(c.AdvertiseClientURLs) == 0 {
		bad("advertise-client-urls", "needs at least one URL")
	}
	for _, u := range c.AdvertiseClientURLs {
		checkURL("advertise-client-urls", u, true)
	}
	checkURL("listen-peer-urls", c.ListenPeerURL, false)
	advOK := checkURL("initial-advertise-peer-urls", c.InitialAdvertisePeerURL, true)

	names, urls := map[string]bool{}, map[string]string{}
	for _, p := range c.InitialCluster {
		switch {
		case p.Name == "":
			bad("initial-cluster", "member with URL %q has no name", p.URL)
		case domain.ValidateMemberName(p.Name) != nil:
			bad("initial-cluster", "%v", domain.ValidateMemberName(p.Name))
		case names[p.Name]:
			bad("initial-cluster", "member %q is listed twice", p.Name)
		}
		names[p.Name] = true
		if !checkURL("initial-cluster", p.URL, true) {
			continue
		}
		key := canonicalURL(p.URL)
		if other, dup := urls[key]; dup {
			bad("initial-cluster", "members %q and %q have the same URL %q", other, p.Name, p.URL)
		}
		urls[key] = p.Name
		if p.Name == c.Name && advOK && key != canonicalURL(c.InitialAdvertisePeerURL) {
			bad("initial-cluster", "member %q has URL %q but --initial-advertise-peer-urls is %q",
				p.Name, p.URL, c.InitialAdvertisePeerURL)
		}
	}
	if c.Name != "" && !names[c.Name] {
		bad("initial-cluster", "member %q is not listed", c.Name)
	}
	if c.InitialClusterState != "new" && c.InitialClusterState != "existing" {
		bad("initial-cluster-state", "%q is neither new nor existing", c.InitialClusterState)
	}
	if c.JoinUser != "" {
		name, _, ok := strings.Cut(c.JoinUser, ":")
		switch {
		case c.Join == "":
			bad("join-user", "applies with --join only")
		case !ok:
			bad("join-user", "must be name:password")
		default:
			if err := domain.ValidateAuthName("user", name); err != nil {
				bad("join-user", "%v", err)
			}
		}
	}
	if c.Join != "" {
		checkURL("join", c.Join, true)
		if len(c.InitialCluster) > 1 {
			bad("join", "cannot be combined with a multi-member --initial-cluster; give one or the other")
		}
	}

	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log-level", "%q is not one of debug, info, warn, error", c.LogLevel)
	}
	switch c.LogFormat {
	case "", LogFormatJSON, LogFormatConsole:
	default:
		bad("log-format", "%q is neither json nor console", c.LogFormat)
	}

	const minBytes, maxBytes = 1 << 10, 64 << 20
	if c.MaxRequestBytes < minBytes || c.MaxRequestBytes > maxBytes {
		bad("max-request-bytes", "%d is outside 1024 (1 KiB) to 67108864 (64 MiB)", c.MaxRequestBytes)
	}
	if c.MaxWatchers < 1 || c.MaxWatchers > 1000000 {
		bad("max-watchers", "%d is outside 1 to 1000000", c.MaxWatchers)
	}
	if c.MaxConcurrentStreams < 1 || c.MaxConcurrentStreams > 1000000 {
		bad("max-concurrent-streams", "%d is outside 1 to 1000000", c.MaxConcurrentStreams)
	}
	if c.MaxWatchEvents < 1 || c.MaxWatchEvents > 100000 {
		bad("max-watch-events", "%d is outside 1 to 100000", c.MaxWatchEvents)
	}
	positive := []struct {
		flag string
		d    time.Duration
	}{
		{"heartbeat-interval", c.HeartbeatInterval},
		{"election-timeout", c.ElectionTimeout},
		{"request-timeout", c.RequestTimeout},
		{"shutdown-timeout", c.ShutdownTimeout},
		{"watch-heartbeat-interval", c.WatchHeartbeat},
	}
	for _, p := range positive {
		if p.d <= 0 {
			bad(p.flag, "must be positive, got %v", p.d)
		}
	}
	if c.HeartbeatInterval > 0 && c.ElectionTimeout > 0 && c.ElectionTimeout < 5*c.HeartbeatInterval {
		bad("election-timeout", "%v must be at least 5 times --heartbeat-interval (%v)",
			c.ElectionTimeout, c.HeartbeatInterval)
	}
	if c.CorruptCheckInterval < 0 {
		bad("corrupt-check-interval", "must be 0 (never) or positive, got %v", c.CorruptCheckInterval)
	}
	if c.WarningApplyDuration < 0 {
		bad("warning-apply-duration", "must be 0 (never) or positive, got %v", c.WarningApplyDuration)
	}
	if c.QuotaBackendBytes < 0 {
		bad("quota-backend-bytes", "must be 0 (no quota) or positive, got %d", c.QuotaBackendBytes)
	}
	if _, err := c.AutoCompaction(); err != nil {
		bad("auto-compaction-retention", "%v", err)
	}
	if c.SnapshotCount == 0 {
		bad("snapshot-count", "must be greater than 0")
	}
	if c.SnapshotInterval < 10*time.Millisecond {
		bad("snapshot-interval", "must be at least 10ms, got %v", c.SnapshotInterval)
	}
	if c.JoinAsLearner && c.Join == "" {
		bad("join-as-learner", "applies with --join only")
	}
	if c.AuthTokenTTL < time.Second {
		bad("auth-token-ttl", "must be at least 1 second, got %v", c.AuthTokenTTL)
	}
	if c.BcryptCost < 4 || c.BcryptCost > 31 {
		bad("bcrypt-cost", "must be between 4 and 31, got %d", c.BcryptCost)
	}
	c.validateClientTLS(bad)
	c.validatePeerTLS(bad)
	return errors.Join(errs...)
}

// validateClientTLS checks the client TLS flags against the client URLs.
// Whether the files can be used is checked when they are loaded (New).
func (c Config) validateClientTLS(bad func(flagName, format string, a ...any)) {
	https := c.ClientTLS()
	switch {
	case https && c.CertFile == "":
		bad("cert-file", "required: --listen-client-urls has an https:// URL")
	case !https && c.CertFile != "":
		bad("cert-file", "is set, and no --listen-client-urls is https://: give https:// URLs to serve TLS")
	}
	switch {
	case https && c.KeyFile == "":
		bad("key-file", "required: --listen-client-urls has an https:// URL")
	case !https && c.KeyFile != "":
		bad("key-file", "is set, and no --listen-client-urls is https://: give https:// URLs to serve TLS")
	}
	if c.ClientCertAuth {
		if c.TrustedCAFile == "" {
			bad("client-cert-auth", "needs --trusted-ca-file, the CAs that sign the client certificates")
		}
		if !https {
			bad("client-cert-auth", "needs an https:// URL in --listen-client-urls: client certificates come with TLS")
		}
	}
}

// validatePeerTLS checks the peer TLS flags against the peer URLs. Every
// member of a cluster has peer TLS, or none has: the peer URLs are all
// https:// or all http://.
func (c Config) validatePeerTLS(bad func(flagName, format string, a ...any)) {
	want := urlScheme(c.ListenPeerURL)
	if want != "http" && want != "https" {
		return // reported by checkURL
	}
	mixed := func(flagName, u string) {
		if s := urlScheme(u); (s == "http" || s == "https") && s != want {
			bad(flagName, "%q is %s:// and --listen-peer-urls is %s://: every peer URL of a cluster is https:// (peer TLS) or every one is http://",
				u, s, want)
		}
	}
	mixed("initial-advertise-peer-urls", c.InitialAdvertisePeerURL)
	for _, p := range c.InitialCluster {
		mixed("initial-cluster", p.URL)
	}
	https := want == "https"
	switch {
	case https && c.PeerCertFile == "":
		bad("peer-cert-file", "required: --listen-peer-urls is https://")
	case !https && c.PeerCertFile != "":
		bad("peer-cert-file", "is set, and --listen-peer-urls is http://: give https:// peer URLs for peer TLS")
	}
	switch {
	case https && c.PeerKeyFile == "":
		bad("peer-key-file", "required: --listen-peer-urls is https://")
	case !https && c.PeerKeyFile != "":
		bad("peer-key-file", "is set, and --listen-peer-urls is http://: give https:// peer URLs for peer TLS")
	}
	if !https && c.PeerTrustedCAFile != "" {
		bad("peer-trusted-ca-file", "is set, and --listen-peer-urls is http://: give https:// peer URLs for peer TLS")
	}
	if c.PeerClientCertAuth {
		if c.PeerTrustedCAFile == "" {
			bad("peer-client-cert-auth", "needs --peer-trusted-ca-file, the CAs that sign the members' certificates")
		}
		if !https {
			bad("peer-client-cert-auth", "needs https:// peer URLs: certificates come with TLS")
		}
	}
}

// checkURL accepts http://host:port and https://host:port with nothing
// after the port. An advertised URL must name a host others can dial, so
// 0.0.0.0 and [::] are refused.
func checkURL(s string, advertised bool) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a valid URL")
	}
	switch u.Scheme {
	case "http", "https":
	default:
		return errors.New("must start with http:// or https://")
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("must be %s://host:port with nothing after the port", u.Scheme)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" || port == "" {
		return fmt.Errorf("must be %s://host:port", u.Scheme)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	if advertised {
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			return fmt.Errorf("%s is where to listen, not an address others can reach", host)
		}
	}
	return nil
}

// canonicalURL makes URLs that name the same place compare equal.
func canonicalURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Scheme + "://" + strings.ToLower(u.Host)
}
