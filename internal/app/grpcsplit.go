package app

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// splitGRPC divides the connections of a plain (http://) client listener
// between the HTTP server and grpc-go's own transport, the way etcd's
// cmux divides its client port: a connection that opens with HTTP/2's
// preface and whose first request has content type application/grpc goes
// to grpcLn, every other one (HTTP/1.1, h2c REST and SSE) to httpLn. The
// bytes read to decide are handed on with the connection.
//
// Why: grpc.Server.ServeHTTP, the way to serve gRPC from an http.Handler
// (grpcMux), runs gRPC on Go's HTTP/2 server and costs several times
// more per call than grpc-go's transport (etcd's benchmark tool saw a
// put with 1 client take twice as long). Over TLS, where the HTTP/2
// negotiation is ALPN's, gRPC stays on ServeHTTP, as etcd does.
//
// grpc-go's client sends nothing after its settings until it has the
// server's: the splitter answers the client's settings with an empty
// SETTINGS frame (the protocol's defaults) before it waits for the first
// request. The server that gets the connection sends its own settings,
// and the client acknowledges both: grpc-go ignores the extra
// acknowledgement, and for Go's HTTP/2 server, which would take it for a
// protocol error, the first one is taken out of the stream (ackFilter).
func splitGRPC(ln net.Listener, sniffTimeout time.Duration) (httpLn, grpcLn net.Listener) {
	s := &splitter{ln: ln, timeout: sniffTimeout}
	s.http = newChanListener(ln.Addr(), s.closeRaw)
	s.grpc = newChanListener(ln.Addr(), s.closeRaw)
	go s.run()
	return s.http, s.grpc
}

type splitter struct {
	ln         net.Listener
	timeout    time.Duration
	http, grpc *chanListener
	closeOnce  sync.Once
}

func (s *splitter) closeRaw() { s.closeOnce.Do(func() { s.ln.Close() }) }

// run accepts connections and sorts each in a goroutine of its own, so
// that a slow client does not hold up the others.
func (s *splitter) run() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.http.fail(err)
			s.grpc.fail(err)
			return
		}
		go s.sort(c)
	}
}

func (s *splitter) sort(c net.Conn) {
	rec := &recordingReader{r: c}
	_ = c.SetDeadline(time.Now().Add(s.timeout))
	isGRPC, sentSettings := sniffGRPC(rec, c)
	_ = c.SetDeadline(time.Time{})
	var conn net.Conn = &replayConn{Conn: c, pending: rec.buf.Bytes()}
	to := s.http
	switch {
	case isGRPC:
		to = s.grpc
	case sentSettings:
		conn = &filteredConn{Conn: conn, r: &ackFilter{r: conn, skip: len(http2.ClientPreface)}}
	}
	if !to.deliver(conn) {
		c.Close()
	}
}

// sniffGRPC reads the start of a connection and reports whether it is
// HTTP/2 by prior knowledge whose first request is a gRPC call. It stops
// reading as soon as it can tell, so that an HTTP/1.1 request, however
// short, is not held up.
func sniffGRPC(r io.Reader, w io.Writer) (isGRPC, sentSettings bool) {
	preface := []byte(http2.ClientPreface)
	buf := make([]byte, len(preface))
	have := 0
	for have < len(preface) {
		n, err := r.Read(buf[have:])
		have += n
		if !bytes.Equal(buf[:have], preface[:have]) {
			return false, false // HTTP/1.x, or not HTTP at all: the HTTP server answers it
		}
		if err != nil {
			return false, false
		}
	}
	fr := http2.NewFramer(w, r)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	// Settings, their acknowledgement, window updates and priorities may
	// come before the first request's headers; a handful at most.
	for range 8 {
		f, err := fr.ReadFrame()
		if err != nil {
			return false, sentSettings
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() && !sentSettings {
				if fr.WriteSettings() != nil {
					return false, true
				}
				sentSettings = true
			}
		case *http2.MetaHeadersFrame:
			return f.PseudoValue("method") == "POST" &&
				strings.HasPrefix(headerValue(f, "content-type"), "application/grpc"), sentSettings
		}
	}
	return false, sentSettings
}

func headerValue(h *http2.MetaHeadersFrame, name string) string {
	for _, f := range h.RegularFields() {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// recordingReader keeps what it reads, to hand it on with the connection.
type recordingReader struct {
	r   io.Reader
	buf bytes.Buffer
}

func (r *recordingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.buf.Write(p[:n])
	return n, err
}

// replayConn is a connection whose first reads return what was read from
// it while it was sorted. Its reader (the HTTP or gRPC server's one
// goroutine per connection) is the only one: no lock.
type replayConn struct {
	net.Conn
	pending []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// ackFilter passes an HTTP/2 client's stream through, but for the first
// acknowledgement of settings it finds: the one of the settings the
// splitter sent, which the server that gets the connection never sent.
type ackFilter struct {
	r       io.Reader
	skip    int     // bytes of the client preface still to pass (it is not a frame)
	hdr     [9]byte // the frame header being read
	nh      int
	out     []byte // a frame header to pass on
	left    int    // bytes of the current frame's payload still to pass
	dropped bool   // the acknowledgement is gone: pass everything
}

func (a *ackFilter) Read(p []byte) (int, error) {
	for {
		switch {
		case len(a.out) > 0:
			n := copy(p, a.out)
			a.out = a.out[n:]
			return n, nil
		case a.skip > 0:
			n, err := a.r.Read(p[:min(len(p), a.skip)])
			a.skip -= n
			return n, err
		case a.left > 0:
			n, err := a.r.Read(p[:min(len(p), a.left)])
			a.left -= n
			return n, err
		case a.dropped:
			return a.r.Read(p)
		}
		n, err := a.r.Read(a.hdr[a.nh:])
		a.nh += n
		if a.nh < len(a.hdr) {
			if err != nil {
				n := copy(p, a.hdr[:a.nh])
				a.nh = 0
				return n, err
			}
			continue
		}
		a.nh = 0
		length := int(a.hdr[0])<<16 | int(a.hdr[1])<<8 | int(a.hdr[2])
		if http2.FrameType(a.hdr[3]) == http2.FrameSettings && http2.Flags(a.hdr[4]).Has(http2.FlagSettingsAck) && length == 0 {
			a.dropped = true
			continue
		}
		a.out = append([]byte(nil), a.hdr[:]...)
		a.left = length
	}
}

// filteredConn reads through a filter.
type filteredConn struct {
	net.Conn
	r io.Reader
}

func (c *filteredConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// chanListener is a listener fed connections by the splitter.
type chanListener struct {
	addr      net.Addr
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
	closeRaw  func()

	mu  sync.Mutex
	err error // why the raw listener stopped
}

func newChanListener(addr net.Addr, closeRaw func()) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{}), closeRaw: closeRaw}
}

// deliver hands c to Accept; false if the listener is closed.
func (l *chanListener) deliver(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

// fail makes Accept return err once the connections queued are taken.
func (l *chanListener) fail(err error) {
	l.mu.Lock()
	l.err = err
	l.mu.Unlock()
	l.Close()
}

// Accept waits for the next connection sorted to this listener.
func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.err != nil {
			return nil, l.err
		}
		return nil, net.ErrClosed
	}
}

// Close stops this listener and the raw one under it: a server that
// closes its listener stops the port.
func (l *chanListener) Close() error {
	l.closeOnce.Do(func() {
		close(l.done)
		l.closeRaw()
	})
	return nil
}

// Addr is the raw listener's address.
func (l *chanListener) Addr() net.Addr { return l.addr }
