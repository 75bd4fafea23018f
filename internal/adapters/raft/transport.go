package raft

import (
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

// tcpStreamLayer is the peer stream layer: plain TCP today. It is the seam
// where TLS for peer traffic will wrap the listener and the dialer. It
// tracks the connections it dials so that tests can cut a member off from
// some peers (Partition), as a network partition would.
type tcpStreamLayer struct {
	net.Listener
	advertise net.Addr
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

func newTCPStreamLayer(bind, advertise string, log zerolog.Logger) (*tcpStreamLayer, error) {
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
	return &tcpStreamLayer{Listener: ln, advertise: adv, log: log, conns: map[*gatedConn]struct{}{}, down: map[string]time.Time{}, stop: make(chan struct{})}, nil
}

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
		t.markDown(string(addr))
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
	if t.isBlocked(addr) {
		return nil, errPartitioned
	}
	d := net.Dialer{Timeout: timeout}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	g := &gatedConn{Conn: c, layer: t, addr: addr}
	t.mu.Lock()
	t.conns[g] = struct{}{}
	since, wasDown := t.down[addr]
	delete(t.down, addr)
	t.mu.Unlock()
	if wasDown {
		t.log.Info().Str("peer", addr).Dur("down_for", time.Since(since)).Msg("peer reachable again")
	}
	return g, nil
}

// markDown records when a peer was first found unreachable.
func (t *tcpStreamLayer) markDown(addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.down[addr]; !ok {
		t.down[addr] = time.Now()
		t.log.Warn().Str("peer", addr).Msg("peer unreachable; dialling it until it answers")
	}
}

// stopDialing makes every waiting and later Dial fail at once.
func (t *tcpStreamLayer) stopDialing() { t.stopOnce.Do(func() { close(t.stop) }) }

// Close stops dialling and closes the listener.
func (t *tcpStreamLayer) Close() error {
	t.stopDialing()
	return t.Listener.Close()
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
