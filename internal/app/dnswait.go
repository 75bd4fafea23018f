package app

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/rs/zerolog"
)

// How long a member waits, at start, for its own advertised peer host name
// to resolve, and how often it looks.
const (
	dnsWaitTimeout  = 2 * time.Minute
	dnsWaitInterval = 500 * time.Millisecond
)

// waitResolvable returns once host resolves, or after timeout, whichever
// comes first; the caller goes on either way (and fails with its own error
// if the name still does not resolve). In Kubernetes a StatefulSet pod's
// name in its headless Service (cairn-0.cairn-headless) resolves a moment
// after the pod starts, once the endpoint is published: without the wait
// the member would exit, and restart with a growing back-off. An IP
// address returns at once.
func waitResolvable(host string, timeout, interval time.Duration, lookup func(ctx context.Context, host string) ([]string, error), log zerolog.Logger) {
	if host == "" {
		return
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return
	}
	start := time.Now()
	deadline := start.Add(timeout)
	for logged := false; ; {
		ctx, cancel := context.WithTimeout(context.Background(), max(interval, time.Second))
		_, err := lookup(ctx, host)
		cancel()
		if err == nil {
			if logged {
				log.Info().Str("host", host).Dur("waited", time.Since(start)).Msg("the advertised peer host name resolves")
			}
			return
		}
		if time.Now().After(deadline) {
			log.Error().Err(err).Str("host", host).Dur("waited", time.Since(start)).
				Msg("the advertised peer host name (--initial-advertise-peer-urls) does not resolve")
			return
		}
		if !logged {
			log.Warn().Err(err).Str("host", host).Dur("for_at_most", timeout).
				Msg("waiting for the advertised peer host name (--initial-advertise-peer-urls) to resolve")
			logged = true
		}
		time.Sleep(interval)
	}
}

// lookupHost is the resolver waitResolvable uses outside tests.
func lookupHost(ctx context.Context, host string) ([]string, error) {
	return net.DefaultResolver.LookupHost(ctx, host)
}

// urlHostname returns the host name (or IP) of a URL, without its port.
func urlHostname(s string) string {
	host, _, err := net.SplitHostPort(urlHost(s))
	if err != nil {
		return ""
	}
	return host
}
