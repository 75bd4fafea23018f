package tlsfiles

import (
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// DefaultCheckInterval is how often, at most, a Source looks at its files.
const DefaultCheckInterval = time.Second

// Options tune a Source. Zero values mean the defaults.
type Options struct {
	// CheckInterval is the least time between two looks at the files
	// (default DefaultCheckInterval; negative: at every handshake).
	CheckInterval time.Duration
	// Logger receives the reloads and the files that could not be
	// reloaded (zero value: none).
	Logger zerolog.Logger
}

// Source is TLS material loaded from files and reloaded when they change.
// It is safe for concurrent use.
type Source struct {
	files    Files
	interval time.Duration
	log      zerolog.Logger

	cur atomic.Pointer[material]

	mu        sync.Mutex // held by the goroutine that looks at the files
	lastCheck time.Time
	failed    stamp  // the files as they were when they last failed to load
	missing   string // the file found missing at the last look, if any
}

// Load reads the files and returns a Source of them. Its errors are
// *FileError (a file that cannot be used) or ErrNoFiles.
func Load(f Files, opts Options) (*Source, error) {
	if (f.CertFile == "") != (f.KeyFile == "") || (f.CertFile == "" && f.CAFile == "") {
		return nil, ErrNoFiles
	}
	m, err := load(f)
	if err != nil {
		return nil, err
	}
	if opts.CheckInterval == 0 {
		opts.CheckInterval = DefaultCheckInterval
	}
	s := &Source{files: f, interval: opts.CheckInterval, log: opts.Logger, lastCheck: time.Now()}
	s.cur.Store(m)
	s.warnValidity(m)
	return s, nil
}

// Files returns the files the Source reads.
func (s *Source) Files() Files { return s.files }

// HasCertificate reports whether the Source has a certificate and key, as
// a server needs.
func (s *Source) HasCertificate() bool { return s.files.CertFile != "" }

// HasCA reports whether the Source has trusted CAs.
func (s *Source) HasCA() bool { return s.files.CAFile != "" }

// Certificate returns the certificate in use, or nil when the Source has
// none.
func (s *Source) Certificate() *tls.Certificate {
	s.refresh()
	return s.cur.Load().cert
}

// ServerConfig returns the configuration of a TLS server with the Source's
// certificate. clientAuth says what the server asks of clients; from
// tls.VerifyClientCertIfGiven on, client certificates are verified against
// the Source's CAs, which it must have. nextProtos are the ALPN protocols
// offered ("h2", "http/1.1" for an HTTP server; none for the peer port).
//
// Each handshake gets the material of the moment: a certificate or CA file
// replaced on disk is used by the next handshakes, without a restart.
func (s *Source) ServerConfig(clientAuth tls.ClientAuthType, nextProtos ...string) (*tls.Config, error) {
	if !s.HasCertificate() {
		return nil, errors.New("tlsfiles: a server needs a certificate and its key")
	}
	if clientAuth >= tls.VerifyClientCertIfGiven && !s.HasCA() {
		return nil, errors.New("tlsfiles: verifying client certificates needs the CAs that sign them")
	}
	type built struct {
		m    *material
		conf *tls.Config
	}
	var last atomic.Pointer[built]
	forMaterial := func(m *material) *tls.Config {
		if b := last.Load(); b != nil && b.m == m {
			return b.conf
		}
		conf := &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{*m.cert},
			ClientAuth:   clientAuth,
			ClientCAs:    m.pool,
			NextProtos:   nextProtos,
		}
		last.Store(&built{m: m, conf: conf})
		return conf
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: nextProtos,
		ClientAuth: clientAuth,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			s.refresh()
			return forMaterial(s.cur.Load()), nil
		},
	}, nil
}

// ClientConfig returns the configuration of one TLS connection to
// serverName (a host name or an IP address, which the server's certificate
// must name): the Source's CAs as roots (the system's when it has none),
// and its certificate, if any, as the client certificate. Call it for each
// connection: it carries the CAs of the moment.
func (s *Source) ClientConfig(serverName string) *tls.Config {
	s.refresh()
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: serverName,
		RootCAs:    s.cur.Load().pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if c := s.Certificate(); c != nil {
				return c, nil
			}
			return &tls.Certificate{}, nil // none: the server decides
		},
	}
}

// refresh reloads the files if they changed since they were loaded, at
// most once per interval. A goroutine that finds another one looking at
// the files goes on with the material of the moment.
func (s *Source) refresh() {
	if !s.mu.TryLock() {
		return
	}
	defer s.mu.Unlock()
	now := time.Now()
	if s.interval > 0 && now.Sub(s.lastCheck) < s.interval {
		return
	}
	s.lastCheck = now
	cur := s.cur.Load()
	st, err := statFiles(s.files)
	if err != nil {
		// Most likely being replaced: said once, until it is back.
		var fe *FileError
		if errors.As(err, &fe) && fe.Path != s.missing {
			s.missing = fe.Path
			s.log.Warn().Err(err).Msg("a TLS file is missing; the loaded certificate and CAs stay in use")
		}
		return
	}
	s.missing = ""
	if st.same(cur.stamp) || st.same(s.failed) {
		return
	}
	m, err := load(s.files)
	if err != nil {
		// A rotation that writes the certificate, then the key, passes
		// through this state: said once per state of the files.
		s.failed = st
		s.log.Warn().Err(err).Msg("TLS files changed but do not load; the loaded certificate and CAs stay in use until they do")
		return
	}
	s.failed = stamp{}
	s.cur.Store(m)
	ev := s.log.Info().Str("cert_file", s.files.CertFile).Str("ca_file", s.files.CAFile)
	if m.cert != nil {
		// The serial in hexadecimal, as openssl x509 -serial prints it.
		ev = ev.Str("subject", m.cert.Leaf.Subject.String()).Str("serial", fmt.Sprintf("%X", m.cert.Leaf.SerialNumber)).
			Time("not_after", m.cert.Leaf.NotAfter)
	}
	ev.Msg("TLS files reloaded")
	s.warnValidity(m)
}

// warnValidity logs a certificate that is not valid now: it is used all
// the same (the other side decides), but this is most likely a mistake.
func (s *Source) warnValidity(m *material) {
	if m.cert == nil {
		return
	}
	leaf, now := m.cert.Leaf, time.Now()
	switch {
	case now.After(leaf.NotAfter):
		s.log.Warn().Str("cert_file", s.files.CertFile).Time("not_after", leaf.NotAfter).Msg("the TLS certificate has expired")
	case now.Before(leaf.NotBefore):
		s.log.Warn().Str("cert_file", s.files.CertFile).Time("not_before", leaf.NotBefore).Msg("the TLS certificate is not valid yet")
	}
}

// String describes the Source for logs.
func (s *Source) String() string {
	return fmt.Sprintf("cert %q, key %q, CA %q", s.files.CertFile, s.files.KeyFile, s.files.CAFile)
}
