package raft

import (
	"fmt"
	"net"
	"time"

	hraft "github.com/hashicorp/raft"
)

// tcpStreamLayer is the peer stream layer: plain TCP today. It is the seam
// where TLS for peer traffic will wrap the listener and the dialer.
type tcpStreamLayer struct {
	net.Listener
	advertise net.Addr
}

var _ hraft.StreamLayer = (*tcpStreamLayer)(nil)

func newTCPStreamLayer(bind, advertise string) (*tcpStreamLayer, error) {
	adv, err := net.ResolveTCPAddr("tcp", advertise)
	if err != nil {
		return nil, fmt.Errorf("raft: advertise address %q: %w", advertise, err)
	}
	if adv.IP == nil || adv.IP.IsUnspecified() {
		return nil, fmt.Errorf("raft: advertise address %q is not dialable", advertise)
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("raft: listen on %s: %w", bind, err)
	}
	return &tcpStreamLayer{Listener: ln, advertise: adv}, nil
}

// Dial opens a connection to a peer.
func (t *tcpStreamLayer) Dial(addr hraft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	return d.Dial("tcp", string(addr))
}

// Addr is the address the other members dial.
func (t *tcpStreamLayer) Addr() net.Addr { return t.advertise }
