package raft

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// The peer port carries two protocols: hashicorp/raft's RPCs, and the
// HTTP requests members send each other (forwarded writes, read index,
// member additions, hash checks, lease calls; see peerhttp.go). Every
// connection starts with one byte that says which, the way Consul
// multiplexes its server port:
//
//	peer ──TCP──► [0xC3][cluster ID][hashicorp/raft RPCs ...] → the Raft transport (Accept)
//	peer ──TCP──► [0xC2][HTTP/1.1 requests, keep-alive ...]   → the members' HTTP server
//
// A Raft connection from a member of another cluster is refused
// (sameCluster). 0xC1, Raft without the cluster ID, is what members of
// earlier versions send; it is still taken, so that a cluster can be
// upgraded one member at a time.
//
// The values are outside hashicorp/raft's RPC types (0-4), so a member
// that sends raw Raft RPCs without the byte is refused, not misread;
// outside ASCII, so a plain HTTP client pointed at the peer port is
// refused; and not 0x16, the first byte of a TLS handshake, so that a
// member without peer TLS can tell a member with it (peertls.go). With
// peer TLS the byte comes first inside the TLS stream. A connection whose
// TLS handshake, first byte (and cluster ID) do not come within
// peerHandshakeTimeout, or whose byte is none of these, is closed.
const (
	peerProtoRaft byte = 0xC1 // Raft, from a member of an earlier version: no cluster ID follows
	// peerProtoRaftCluster is Raft, the dialler's cluster ID (8 bytes,
	// big-endian; 0 if it does not know it yet) right after the byte.
	peerProtoRaftCluster byte = 0xC3
	peerProtoHTTP        byte = 0xC2
	peerProtoTLS         byte = 0x16 // not a protocol: a member with peer TLS dialling one without
)

// peerHandshakeTimeout bounds the TLS handshake (with peer TLS), the wait
// for a connection's first byte and its hand-over to the Raft transport or
// the HTTP server, so that a silent connection holds nothing but its own
// goroutine for that long.
const peerHandshakeTimeout = 5 * time.Second

// peerDrainTimeout bounds how long a stopping member waits for the
// members' requests in flight before it hands its leadership over.
const peerDrainTimeout = 2 * time.Second

// dialPeer connects to a member's peer port, runs the TLS handshake when
// conf is not nil, and sends the protocol byte. Its errors are
// *net.OpError with Op "dial": nothing was sent.
func dialPeer(ctx context.Context, d *net.Dialer, addr string, proto byte, conf *tls.Config) (net.Conn, error) {
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if conf != nil {
		if c, err = clientHandshake(ctx, c, conf); err != nil {
			return nil, err
		}
	}
	if _, err := c.Write([]byte{proto}); err != nil {
		c.Close()
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: c.RemoteAddr(), Err: err}
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// DialPeerHTTP opens a connection to the members' HTTP server on the peer
// port at addr (host:port), with d, in plain text. A request sent on it is
// served only if it names a member of the cluster in HeaderMember and
// comes from that member's address (see Node.ServePeerHTTP).
func DialPeerHTTP(ctx context.Context, d *net.Dialer, addr string) (net.Conn, error) {
	return dialPeer(ctx, d, addr, peerProtoHTTP, nil)
}

// DialPeerHTTPTLS is DialPeerHTTP to a peer port with peer TLS: conf is
// the client side of the handshake (server name, roots, certificate).
func DialPeerHTTPTLS(ctx context.Context, d *net.Dialer, addr string, conf *tls.Config) (net.Conn, error) {
	return dialPeer(ctx, d, addr, peerProtoHTTP, conf)
}

// peerMux accepts the connections of the peer port and sorts them by their
// first byte.
type peerMux struct {
	ln      net.Listener
	tls     *tls.Config // nil: plain text
	log     zerolog.Logger
	refused zerolog.Logger // sampled: a port scan must not flood the log
	raft    chan net.Conn
	http    chan net.Conn
	// clusterID returns this member's cluster ID, 0 while it does not
	// know it (a member that never applied an entry); nil until set.
	clusterID atomic.Pointer[func() uint64]

	closeOnce sync.Once
	closed    chan struct{}
	wg        sync.WaitGroup // the accept loop, the handshakes and the HTTP server

	gate peerGate // the members' requests, until the member stops

	mu      sync.Mutex
	srv     *http.Server // the members' HTTP server, once served
	closing bool         // close was called: serve no more
}

func newPeerMux(ln net.Listener, tlsConf *tls.Config, log zerolog.Logger) *peerMux {
	m := &peerMux{
		ln: ln, tls: tlsConf, log: log,
		refused: log.Sample(&zerolog.BurstSampler{Burst: 5, Period: time.Minute}),
		raft:    make(chan net.Conn),
		http:    make(chan net.Conn),
		closed:  make(chan struct{}),
	}
	m.wg.Add(1)
	go m.run()
	return m
}

func (m *peerMux) run() {
	defer m.wg.Done()
	for {
		c, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.closed:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors, most likely: wait a little, as
			// net/http does.
			m.log.Warn().Err(err).Msg("peer port: accept failed")
			select {
			case <-m.closed:
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		m.wg.Add(1)
		go m.handshake(c)
	}
}

// handshake runs the TLS handshake when the port has TLS, reads the
// connection's first byte and hands the connection to the Raft transport
// or to the HTTP server, or closes it. It runs in the connection's own
// goroutine, within peerHandshakeTimeout: a connection that stalls holds
// up nothing else.
func (m *peerMux) handshake(c net.Conn) {
	defer m.wg.Done()
	deadline := time.Now().Add(peerHandshakeTimeout)
	_ = c.SetDeadline(deadline)
	if m.tls != nil {
		var ok bool
		if c, ok = m.serverHandshake(c, deadline); !ok {
			return
		}
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		m.log.Debug().Err(err).Str("from", c.RemoteAddr().String()).Msg("peer port: no protocol byte; connection closed")
		c.Close()
		return
	}
	var to chan net.Conn
	switch b[0] {
	case peerProtoRaft:
		to = m.raft
	case peerProtoRaftCluster:
		if !m.sameCluster(c) {
			c.Close()
			return
		}
		to = m.raft
	case peerProtoHTTP:
		to = m.http
	case peerProtoTLS:
		m.refused.Warn().Str("from", c.RemoteAddr().String()).
			Msg("peer port: a TLS connection, and this member has no peer TLS (--peer-cert-file); closed it. " +
				"Every member of a cluster has peer TLS, or none has")
		c.Close()
		return
	default:
		_ = c.SetDeadline(time.Time{})
		m.refused.Warn().Str("from", c.RemoteAddr().String()).Hex("first_byte", b[:]).
			Msg("peer port: not a member's connection (unknown protocol byte); closed it. " +
				"Clients use the client URLs; the peer port is for the members of the cluster")
		c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case to <- c:
	case <-t.C:
		c.Close()
	case <-m.closed:
		c.Close()
	}
}

// sameCluster reads the cluster ID a Raft connection starts with and
// reports whether it may be this member's cluster: the two IDs are equal,
// or one side does not know its own yet (a new member, before it applied
// its first entries). A leader of another cluster (a peer URL that names
// a member of the wrong cluster) would otherwise be taken for this one's:
// hashicorp/raft follows any leader of a higher term and cuts its log to
// match, erasing entries this cluster had committed.
func (m *peerMux) sameCluster(c net.Conn) bool {
	var b [8]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		m.log.Debug().Err(err).Str("from", c.RemoteAddr().String()).Msg("peer port: no cluster ID; connection closed")
		return false
	}
	theirs := binary.BigEndian.Uint64(b[:])
	var ours uint64
	if f := m.clusterID.Load(); f != nil {
		ours = (*f)()
	}
	if theirs == 0 || ours == 0 || theirs == ours {
		return true
	}
	m.refused.Warn().Str("from", c.RemoteAddr().String()).
		Str("their_cluster_id", strconv.FormatUint(theirs, 16)).Str("cluster_id", strconv.FormatUint(ours, 16)).
		Msg("peer port: a Raft connection from a member of another cluster; closed it. " +
			"Check the peer URLs in --initial-cluster and the members' lists: one names a member of another cluster")
	return false
}

// acceptRaft returns the next Raft connection.
func (m *peerMux) acceptRaft() (net.Conn, error) {
	select {
	case c := <-m.raft:
		return c, nil
	case <-m.closed:
		return nil, net.ErrClosed
	}
}

// serveHTTP serves h to the HTTP connections of the peer port, behind the
// gate, until close, and returns at once; done receives what Serve
// returned. It does nothing when the port already has a server or is
// closing, and reports whether it served.
func (m *peerMux) serveHTTP(h http.Handler, done func(error)) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.srv != nil || m.closing {
		return false
	}
	srv := &http.Server{Handler: m.gate.wrap(h), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	m.srv = srv
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		done(srv.Serve(peerListener{m}))
	}()
	return true
}

// drainHTTP makes the members' HTTP answer every new request 503
// no_leader, which the sender retries on the next leader, and waits up to
// timeout for the requests in flight: a stopping member takes no more
// forwarded writes before it hands its leadership over, as if its port
// were closed.
func (m *peerMux) drainHTTP(timeout time.Duration) { m.gate.close(timeout) }

// close stops accepting, closes the listener and the HTTP server with its
// connections, and waits for the accept loop, the handshakes in progress
// and the server.
func (m *peerMux) close() error {
	var err error
	m.closeOnce.Do(func() {
		close(m.closed)
		err = m.ln.Close()
		m.mu.Lock()
		m.closing = true
		srv := m.srv
		m.mu.Unlock()
		if srv != nil {
			srv.Close()
		}
		m.wg.Wait()
	})
	return err
}

// peerListener is what the HTTP server accepts from: the peer port's HTTP
// connections.
type peerListener struct{ m *peerMux }

func (l peerListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.m.http:
		return c, nil
	case <-l.m.closed:
		return nil, net.ErrClosed
	}
}

// Close does nothing: the mux closes the port, for Raft and HTTP at once.
func (l peerListener) Close() error { return nil }

func (l peerListener) Addr() net.Addr { return l.m.ln.Addr() }

// peerGate lets the members' requests through until it is closed, then
// answers the new ones 503 no_leader at once, and tells when the ones in
// flight are done. Its zero value is open.
type peerGate struct {
	mu      sync.Mutex
	active  int
	closed  bool
	drained chan struct{} // closed once closed and no request is active
}

func (g *peerGate) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.enter() {
			w.Header().Set("Connection", "close")
			writePeerError(w, http.StatusServiceUnavailable, "no_leader", "raft: this member is stopping")
			return
		}
		defer g.leave()
		next.ServeHTTP(w, r)
	})
}

func (g *peerGate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.active++
	return true
}

func (g *peerGate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.active--
	if g.closed && g.active == 0 {
		close(g.drained)
	}
}

// close refuses the requests to come and waits up to timeout for those in
// flight.
func (g *peerGate) close(timeout time.Duration) {
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		g.drained = make(chan struct{})
		if g.active == 0 {
			close(g.drained)
		}
	}
	drained := g.drained
	g.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-drained:
	case <-t.C:
	}
}
