package raft

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	hraft "github.com/hashicorp/raft"
)

// errPartitioned is returned for traffic to a peer cut off by Partition.
var errPartitioned = errors.New("raft: peer unreachable (partitioned)")

// tcpStreamLayer is the peer stream layer: plain TCP today. It is the seam
// where TLS for peer traffic will wrap the listener and the dialer. It
// tracks the connections it dials so that tests can cut a member off from
// some peers (Partition), as a network partition would.
type tcpStreamLayer struct {
	net.Listener
	advertise net.Addr

	anyBlocked atomic.Bool // fast path: no partition, no lock per read

	mu      sync.Mutex
	blocked map[string]bool
	conns   map[*gatedConn]struct{}
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
	return &tcpStreamLayer{Listener: ln, advertise: adv, conns: map[*gatedConn]struct{}{}}, nil
}

// Dial opens a connection to a peer.
func (t *tcpStreamLayer) Dial(addr hraft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if t.isBlocked(string(addr)) {
		return nil, errPartitioned
	}
	d := net.Dialer{Timeout: timeout}
	c, err := d.Dial("tcp", string(addr))
	if err != nil {
		return nil, err
	}
	g := &gatedConn{Conn: c, layer: t, addr: string(addr)}
	t.mu.Lock()
	t.conns[g] = struct{}{}
	t.mu.Unlock()
	return g, nil
}

// Addr is the address the other members dial.
func (t *tcpStreamLayer) Addr() net.Addr { return t.advertise }

func (t *tcpStreamLayer) isBlocked(addr string) bool {
	if !t.anyBlocked.Load() {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.blocked[addr]
}

// partition cuts traffic to the peers at addrs (nil heals every cut) and
// closes the connections already dialled to them.
func (t *tcpStreamLayer) partition(addrs []string) {
	t.mu.Lock()
	t.blocked = map[string]bool{}
	for _, a := range addrs {
		t.blocked[a] = true
	}
	t.anyBlocked.Store(len(addrs) > 0)
	var cut []*gatedConn
	for c := range t.conns {
		if t.blocked[c.addr] {
			cut = append(cut, c)
		}
	}
	t.mu.Unlock()
	for _, c := range cut {
		c.Close()
	}
}

// gatedConn is a dialled connection that refuses traffic once its peer is
// partitioned away.
type gatedConn struct {
	net.Conn
	layer *tcpStreamLayer
	addr  string
	once  sync.Once
}

func (c *gatedConn) Read(p []byte) (int, error) {
	if c.layer.isBlocked(c.addr) {
		return 0, errPartitioned
	}
	return c.Conn.Read(p)
}

func (c *gatedConn) Write(p []byte) (int, error) {
	if c.layer.isBlocked(c.addr) {
		return 0, errPartitioned
	}
	return c.Conn.Write(p)
}

func (c *gatedConn) Close() error {
	c.once.Do(func() {
		c.layer.mu.Lock()
		delete(c.layer.conns, c)
		c.layer.mu.Unlock()
	})
	return c.Conn.Close()
}
