package raft

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"
)

// PeerTLS secures the peer port. With it, every connection of the port,
// Raft's and the members' HTTP alike, is TLS from its first byte, and the
// protocol byte (peer.go) is the first byte inside the TLS stream:
//
//	peer ──TCP──► TLS handshake ──► [0xC1][hashicorp/raft RPCs ...]
//	peer ──TCP──► TLS handshake ──► [0xC2][HTTP/1.1 requests ...]
//
// Every member of a cluster has peer TLS, or none has: the port does not
// take both.
type PeerTLS struct {
	// Server is the configuration connections are accepted with: this
	// member's certificate and, with client certificate authentication
	// (ClientAuth), the CAs that sign the members' certificates. It may
	// swap its material per handshake (GetConfigForClient).
	Server *tls.Config
	// Client returns the configuration to dial a member with, given the
	// host of its peer address (a name or an IP, which that member's
	// certificate must name): the CAs to verify it by and this member's
	// certificate to present. It is called for each connection, so that
	// it may return rotated material.
	Client func(serverName string) *tls.Config
}

// scheme is the scheme of the peer URLs: https with TLS.
func (p *PeerTLS) scheme() string {
	if p == nil {
		return "http"
	}
	return "https"
}

// clientConfig returns the configuration to dial addr (host:port) with,
// or nil without peer TLS.
func (p *PeerTLS) clientConfig(addr string) *tls.Config {
	if p == nil {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	return p.Client(host)
}

// clientHandshake runs the TLS handshake of a dialled connection, within
// ctx. Its errors are *net.OpError with Op "dial": nothing was sent.
func clientHandshake(ctx context.Context, c net.Conn, conf *tls.Config) (net.Conn, error) {
	tc := tls.Client(c, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: c.RemoteAddr(), Err: fmt.Errorf("peer TLS handshake: %w", err)}
	}
	return tc, nil
}

// serverHandshake runs the TLS handshake of an accepted connection, which
// has its deadline set. It explains the two mistakes of configuration it
// can tell from the others: a member without peer TLS, and a member with
// a certificate this one does not trust.
func (m *peerMux) serverHandshake(c net.Conn, deadline time.Time) (net.Conn, bool) {
	tc := tls.Server(c, m.tls)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	err := tc.HandshakeContext(ctx)
	if err == nil {
		return tc, true
	}
	var rh tls.RecordHeaderError
	msg := "peer port: TLS handshake failed; connection closed"
	if errors.As(err, &rh) {
		msg = "peer port: a connection that does not speak TLS (a member without peer TLS, or a client on the wrong port); closed it"
	}
	m.refused.Warn().Err(err).Str("from", c.RemoteAddr().String()).Msg(msg)
	c.Close()
	return nil, false
}
