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
	if c.SnapshotCount == 0 {
		bad("snapshot-count", "must be greater than 0")
	}
	return errors.Join(errs...)
}

// checkURL accepts http://host:port with nothing after it. An advertised URL
// must name a host others can dial, so 0.0.0.0 and [::] are refused.
func checkURL(s string, advertised bool) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a valid URL")
	}
	switch u.Scheme {
	case "http":
	case "https":
		return errors.New("TLS is not supported yet; use http://")
	default:
		return errors.New("must start with http://")
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return errors.New("must be http://host:port with nothing after the port")
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" || port == "" {
		return errors.New("must be http://host:port")
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
