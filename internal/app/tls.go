package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/rs/zerolog"

	raftadapter "github.com/cairnkv/cairn/internal/adapters/raft"
	"github.com/cairnkv/cairn/internal/tlsfiles"
)

// memberTLS is the member's TLS material, loaded from the files of the
// configuration and reloaded when they change (package tlsfiles).
type memberTLS struct {
	// client holds --cert-file, --key-file and --trusted-ca-file: the
	// client URLs' certificate, and the CAs of client certificates. It is
	// also the client side of --join. nil when none is set.
	client *tlsfiles.Source
	// clientServer is the https:// client URLs' server configuration; nil
	// when no client URL is https://.
	clientServer *tls.Config
	// peer holds the --peer-* files; nil without peer TLS.
	peer *raftadapter.PeerTLS
}

// loadTLS loads the TLS files of a valid cfg. A file that cannot be used
// is an error naming its flag and its path, such as
// "--peer-cert-file /x/peer.pem: open /x/peer.pem: no such file or directory".
func loadTLS(cfg Config, log zerolog.Logger) (memberTLS, error) {
	var t memberTLS
	opts := tlsfiles.Options{Logger: log.With().Str("component", "tls").Logger()}
	clientFiles := tlsfiles.Files{CertFile: cfg.CertFile, KeyFile: cfg.KeyFile, CAFile: cfg.TrustedCAFile}
	if clientFiles != (tlsfiles.Files{}) {
		src, err := tlsfiles.Load(clientFiles, opts)
		if err != nil {
			return memberTLS{}, tlsFlagError("", err)
		}
		t.client = src
	}
	if cfg.ClientTLS() {
		if t.client == nil {
			return memberTLS{}, errors.New("--cert-file: required: --listen-client-urls has an https:// URL")
		}
		auth := tls.NoClientCert
		switch {
		case cfg.ClientCertAuth:
			auth = tls.RequireAndVerifyClientCert
		case cfg.TrustedCAFile != "":
			// etcd's rule: a client certificate that comes is verified,
			// and one that does not verify is refused.
			auth = tls.VerifyClientCertIfGiven
		}
		conf, err := t.client.ServerConfig(auth, "h2", "http/1.1")
		if err != nil {
			return memberTLS{}, fmt.Errorf("client TLS: %w", err)
		}
		t.clientServer = conf
		for _, u := range cfg.ListenClientURLs {
			if cfg.TrustedCAFile != "" && urlScheme(u) == "http" {
				log.Warn().Str("url", u).Msg("a client URL is http://: its clients present no certificate, " +
					"--client-cert-auth and --trusted-ca-file do not apply to them")
			}
		}
	}
	if cfg.PeerTLS() {
		src, err := tlsfiles.Load(tlsfiles.Files{CertFile: cfg.PeerCertFile, KeyFile: cfg.PeerKeyFile, CAFile: cfg.PeerTrustedCAFile}, opts)
		if err != nil {
			return memberTLS{}, tlsFlagError("peer-", err)
		}
		auth := tls.NoClientCert
		switch {
		case cfg.PeerClientCertAuth:
			auth = tls.RequireAndVerifyClientCert
		case cfg.PeerTrustedCAFile != "":
			auth = tls.VerifyClientCertIfGiven
		}
		conf, err := src.ServerConfig(auth)
		if err != nil {
			return memberTLS{}, fmt.Errorf("peer TLS: %w", err)
		}
		t.peer = &raftadapter.PeerTLS{Server: conf, Client: src.ClientConfig}
	}
	return t, nil
}

// tlsFlagError names the flag and the file of a tlsfiles error; prefix is
// "" for the client flags and "peer-" for the peer ones.
func tlsFlagError(prefix string, err error) error {
	var fe *tlsfiles.FileError
	if !errors.As(err, &fe) {
		return err
	}
	name := map[tlsfiles.Kind]string{tlsfiles.KindCert: "cert-file", tlsfiles.KindKey: "key-file", tlsfiles.KindCA: "trusted-ca-file"}[fe.Kind]
	return fmt.Errorf("--%s%s %s: %w", prefix, name, fe.Path, fe.Err)
}

// listener wraps the client listener of rawURL in TLS when it is https://.
// The handshake happens in the connection's goroutine of the HTTP server,
// bounded by its ReadHeaderTimeout: a client that stalls it holds up no
// other.
func (t memberTLS) listener(rawURL string, ln net.Listener) net.Listener {
	if urlScheme(rawURL) != "https" {
		return ln
	}
	return tls.NewListener(ln, t.clientServer)
}

// joinClient returns the HTTP client of --join: with an https:// URL it
// verifies the member by --trusted-ca-file (the system's CAs without it)
// and presents --cert-file, read at each connection.
func (t memberTLS) joinClient() *http.Client {
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		TLSHandshakeTimeout: 5 * time.Second,
	}
	if t.client != nil {
		src := t.client
		tr.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			tc := tls.Client(c, src.ClientConfig(host))
			hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if err := tc.HandshakeContext(hctx); err != nil {
				c.Close()
				return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
			}
			return tc, nil
		}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: tr}
}

// advertisedURL is the URL of a listener bound for a URL whose port was
// 0: the same scheme, the real port.
func advertisedURL(listenURL string, ln net.Listener) string {
	scheme := "http"
	if u, err := url.Parse(listenURL); err == nil && u.Scheme != "" {
		scheme = u.Scheme
	}
	return scheme + "://" + ln.Addr().String()
}

// httpErrorLog sends what net/http logs (failed TLS handshakes, mostly) to
// log, sampled: a port scan must not flood it.
func httpErrorLog(log zerolog.Logger) *stdlog.Logger {
	sampled := log.Sample(&zerolog.BurstSampler{Burst: 10, Period: time.Minute})
	return stdlog.New(httpLogWriter{sampled}, "", 0)
}

type httpLogWriter struct{ log zerolog.Logger }

func (w httpLogWriter) Write(p []byte) (int, error) {
	msg := string(p)
	if n := len(msg); n > 0 && msg[n-1] == '\n' {
		msg = msg[:n-1]
	}
	w.log.Warn().Msg(msg)
	return len(p), nil
}
