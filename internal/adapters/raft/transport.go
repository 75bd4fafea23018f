package raft

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	hraft "github.com/hashicorp/raft"
	"github.com/rs/zerolog"
)

// errPartitioned is returned for traffic to a peer cut off by Partition.
var errPartitioned = errors.New("raft: peer unreachable (partitioned)")

// tcpStreamLayer is the peer stream layer: TCP, or TLS over TCP with peer
// TLS (peertls.go), for the listener and the dialer alike. The peer port
// carries Raft and the members' HTTP requests (peer.go): Accept returns
// the Raft connections only, and Dial opens Raft connections. It
// tracks the connections it dials, for Raft and HTTP, so that tests can cut
// a member off from some peers (Partition), as a network partition would.
type tcpStreamLayer struct {
	mux       *peerMux
	tls       *PeerTLS // nil: plain text
	advertise net.Addr
	source    net.Addr // where the members' HTTP leaves from: the advertised IP, if it is this host's
	log       zerolog.Logger

	anyBlocked atomic.Bool // fast path: no partition, no lock per read

	mu      sync.Mutex
	blocked map[string]bool
	conns   map[*gatedConn]struct{}
	down    map[string]time.Time // peers that could not be dialled, since when

	stopOnce sync.Once
	stop     chan struct{} // closed: dial no more, the member is stopping
}

var _ hraft.StreamLayer = (*tcpStreamLayer)(nil)

func newTCPStreamLayer(bind, advertise string, peerTLS *PeerTLS, log zerolog.Logger) (*tcpStreamLayer, error) {
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
	var serverTLS *tls.Config
	if peerTLS != nil {
		serverTLS = peerTLS.Server
	}
	t := &tcpStreamLayer{mux: newPeerMux(ln, serverTLS, log), tls: peerTLS, advertise: adv, log: log,
		conns: map[*gatedConn]struct{}{}, down: map[string]time.Time{}, stop: make(chan struct{})}
	if isLocalIP(adv.IP) {
		t.source = &net.TCPAddr{IP: adv.IP}
	}
	return t, nil
}

// setClusterID gives the stream layer what tells this member's cluster ID:
// it sends it on every Raft connection it dials, and refuses the Raft
// connections of members of another cluster (peerMux.sameCluster).
func (t *tcpStreamLayer) setClusterID(id func() uint64) { t.mux.clusterID.Store(&id) }

// isLocalIP reports whether ip is an address of this host: one it can bind.
func isLocalIP(ip net.IP) bool {
	c, err := net.ListenPacket("udp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Accept returns the next Raft connection from a peer.
func (t *tcpStreamLayer) Accept() (net.Conn, error) { return t.mux.acceptRaft() }

// Dial opens a connection to a peer. A peer that cannot be reached (it is
// down, restarting, or cut off) is dialled again, every dialRetryMin at
// first and every dialRetryMax at most, until it answers, for up to
// dialPersist, or until the member stops: the caller waits in Dial rather
// than get an error at once.
//
// Why: hashicorp/raft backs off exponentially after each failed RPC to a
// follower, up to 10 s between two attempts, and nothing wakes it when the
// follower is back. A member restarted after a minute down waited up to
// 10 s (40 s was seen under load) before the leader sent it anything. A
// dial that waits for the peer keeps the failure count at one per
// dialPersist, and the follower gets its entries as soon as it listens.
// Waiting costs nothing else: the leader's other goroutines (one per
// follower for entries, one for heartbeats) go on, and Close stops every
// waiting dial before Raft shuts down.
func (t *tcpStreamLayer) Dial(addr hraft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	deadline := time.Now().Add(dialPersist)
	wait := dialRetryMin
	for {
		c, err := t.dialOnce(string(addr), timeout)
		if err == nil {
			return c, nil
		}
		t.markDown(string(addr), err)
		if time.Now().Add(wait).After(deadline) {
			return nil, err
		}
		select {
		case <-t.stop:
			return nil, err
		case <-time.After(wait):
		}
		wait = min(2*wait, dialRetryMax)
	}
}

// How long and how often Dial tries a peer that cannot be reached.
const (
	dialPersist  = 2 * time.Minute
	dialRetryMin = 10 * time.Millisecond
	dialRetryMax = 100 * time.Millisecond
)

func (t *tcpStreamLayer) dialOnce(addr string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := t.dial(ctx, addr, peerProtoRaftCluster)
	if err != nil {
		return nil, err
	}
	var id [8]byte
	if f := t.mux.clusterID.Load(); f != nil {
		binary.BigEndian.PutUint64(id[:], (*f)())
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetWriteDeadline(dl)
	}
	if _, err := c.Write(id[:]); err != nil {
		c.Close()
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: c.RemoteAddr(), Err: err}
	}
	_ = c.SetWriteDeadline(time.Time{})
	t.mu.Lock()
	since, wasDown := t.down[addr]
	delete(t.down, addr)
	t.mu.Unlock()
	if wasDown {
		t.log.Info().Str("peer", addr).Dur("down_for", time.Since(since)).Msg("peer reachable again")
	}
	return c, nil
}

// dialHTTP opens a connection for the members' HTTP to the peer port at
// addr, once: the forwarder decides about retries. Every error means the
// request was not sent, and is a *net.OpError whose Op is "dial".
func (t *tcpStreamLayer) dialHTTP(ctx context.Context, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, httpDialTimeout)
	defer cancel()
	return t.dial(ctx, addr, peerProtoHTTP)
}

// httpDialTimeout bounds dialHTTP: a leader that does not answer within it
// is as good as gone, and the request goes to whoever leads next.
const httpDialTimeout = 2 * time.Second

// dial connects to addr (with peer TLS: and runs the handshake), sends
// the protocol byte and tracks the connection for Partition. Its errors
// are *net.OpError with Op "dial".
func (t *tcpStreamLayer) dial(ctx context.Context, addr string, proto byte) (*gatedConn, error) {
	if t.isBlocked(addr) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errPartitioned}
	}
	d := &net.Dialer{}
	// The members' HTTP leaves from the advertised IP when it is this
	// host's: the member that receives it checks that it comes from the
	// address it knows this member by (membersOnly), and on a host with
	// several addresses the kernel could pick another one.
	if proto == peerProtoHTTP && t.source != nil {
		d.LocalAddr = t.source
	}
	c, err := dialPeer(ctx, d, addr, proto, t.tls.clientConfig(addr))
	if err != nil {
		return nil, err
	}
	g := &gatedConn{Conn: c, layer: t, addr: addr}
	t.mu.Lock()
	t.conns[g] = struct{}{}
	t.mu.Unlock()
	return g, nil
}

// markDown records when a peer was first found unreachable, and why.
func (t *tcpStreamLayer) markDown(addr string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.down[addr]; !ok {
		t.down[addr] = time.Now()
		t.log.Warn().Err(err).Str("peer", addr).Msg("peer unreachable; dialling it until it answers")
	}
}

// stopDialing makes every waiting and later Dial fail at once.
func (t *tcpStreamLayer) stopDialing() { t.stopOnce.Do(func() { close(t.stop) }) }

// Close stops dialling and closes the listener: no Raft or HTTP
// connection is accepted any more.
func (t *tcpStreamLayer) Close() error {
	t.stopDialing()
	return t.mux.close()
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
