package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Client. Only Endpoints is required; zero values mean
// the defaults.
type Config struct {
	// Endpoints are the client URLs of the cluster's members, for example
	// "http://10.0.0.1:2379" ("host:port" means "http://host:port", or
	// "https://host:port" when TLS is set).
	// Any member serves any request; the client sends its requests to one
	// of them and moves on to the next when that one fails.
	Endpoints []string

	// HTTPClient sends the requests. The default keeps connections alive
	// and dials with DialTimeout. A custom client should not set a
	// Timeout: watches and lock waits are long-lived requests.
	HTTPClient *http.Client
	// TLS configures https endpoints when HTTPClient is nil: the CAs that
	// sign the members' certificates and, for clusters with
	// --client-cert-auth, the client certificate. NewTLSConfig builds it
	// from PEM files.
	TLS *tls.Config
	// DialTimeout bounds the connection of the default HTTPClient (default
	// 5s).
	DialTimeout time.Duration

	// RequestTimeout bounds each call (with its retries) whose context has
	// no earlier deadline (default 10s; negative: none). It does not apply
	// to watches, keepalive loops and waits for a lock or a leadership.
	RequestTimeout time.Duration
	// MaxRetryWait caps the pause between two rounds of retries over
	// the endpoints, and so how long a Retry-After is respected (default
	// 1s).
	MaxRetryWait time.Duration
	// WatchIdleTimeout is how long a watch or observe stream may stay
	// silent (no event, no heartbeat) before the client takes its
	// connection for dead and resumes on another endpoint (default 45s;
	// the members send a heartbeat every 10s by default; negative: never).
	WatchIdleTimeout time.Duration

	// Username and Password are the user of a cluster with auth enabled:
	// the client gets a token with them (POST /v1/auth/authenticate),
	// sends it with every call, and gets a new one when a member refuses
	// it (it expired, or the password changed). While auth is off they are
	// sent as HTTP Basic credentials, which the members then ignore.
	Username, Password string
	// Token is sent as a Bearer token when set, as it is: it wins over
	// Username, and is never renewed.
	Token string
	// UserAgent is sent as the User-Agent header (default "cairn-go-client").
	UserAgent string
}

// maxRounds is how many times a call goes round every endpoint before it
// gives up on answers that say "not done, retry" (503s, refused
// connections), unless its context ends first.
const maxRounds = 8

// Client talks to a Cairn cluster through its REST API. It is safe for
// concurrent use. Create it with New and Close it when done.
type Client struct {
	cfg       Config
	endpoints []*url.URL
	hc        *http.Client
	transport *http.Transport // ours, when cfg.HTTPClient is nil
	cur       atomic.Uint64   // index of the current endpoint (mod len)
	tokens    tokenCache      // the token of Username, when auth is on

	ctx    context.Context // ends at Close: stops watches and keepalives
	cancel context.CancelFunc
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// New returns a Client for the cluster whose members are cfg.Endpoints.
// It does not contact them: the first call does.
func New(cfg Config) (*Client, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("cairn: Config.Endpoints is empty")
	}
	c := &Client{cfg: cfg}
	for _, ep := range cfg.Endpoints {
		if !strings.Contains(ep, "://") {
			if cfg.TLS != nil {
				ep = "https://" + ep
			} else {
				ep = "http://" + ep
			}
		}
		u, err := url.Parse(strings.TrimRight(ep, "/"))
		if err != nil {
			return nil, fmt.Errorf("cairn: endpoint %q: %w", ep, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("cairn: endpoint %q: want http(s)://host:port", ep)
		}
		c.endpoints = append(c.endpoints, u)
	}
	if c.cfg.DialTimeout <= 0 {
		c.cfg.DialTimeout = 5 * time.Second
	}
	if c.cfg.RequestTimeout == 0 {
		c.cfg.RequestTimeout = 10 * time.Second
	}
	if c.cfg.MaxRetryWait <= 0 {
		c.cfg.MaxRetryWait = time.Second
	}
	if c.cfg.WatchIdleTimeout == 0 {
		c.cfg.WatchIdleTimeout = 45 * time.Second
	}
	if c.cfg.UserAgent == "" {
		c.cfg.UserAgent = "cairn-go-client"
	}
	c.hc = cfg.HTTPClient
	if c.hc == nil {
		c.transport = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: c.cfg.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:       cfg.TLS,
			TLSHandshakeTimeout:   10 * time.Second,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          256,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
		}
		c.hc = &http.Client{Transport: c.transport}
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// Close ends the client's watches and keepalive loops (their channels
// close), waits for them to stop and closes idle connections. Calls after
// Close fail with ErrClosed. Leases kept alive by KeepAlive are not
// revoked: they expire a TTL later.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	if c.transport != nil {
		c.transport.CloseIdleConnections()
	}
	return nil
}

// goBackground runs f in a goroutine that Close waits for; it reports
// false, without running f, once the client is closed.
func (c *Client) goBackground(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

// Endpoints returns the client URLs the client uses, in order.
func (c *Client) Endpoints() []string {
	out := make([]string, len(c.endpoints))
	for i, u := range c.endpoints {
		out[i] = u.String()
	}
	return out
}

// Endpoint returns the endpoint the next request goes to.
func (c *Client) Endpoint() string {
	return c.endpoints[c.cur.Load()%uint64(len(c.endpoints))].String()
}

// request is one API call, as the retry loop needs it.
type request struct {
	method string
	path   string     // percent-encoded, e.g. "/v1/kv/a%00"
	query  url.Values // may be nil
	body   []byte     // nil: no body
	ctype  string     // Content-Type of the body
	header http.Header
	// idempotent requests (reads, keepalives) may be sent again after a
	// failure whatever happened to them; the others only when they
	// certainly were not carried out.
	idempotent bool
	// long requests (streams, waits) are not bounded by RequestTimeout.
	long bool
	// b64 is set when the query asks for encoding=base64.
	b64 bool
}

// response is a successful answer.
type response struct {
	endpoint string
	status   int
	header   http.Header
	body     []byte         // read in full, except for streams
	stream   *http.Response // open, for streams
}

// scope returns the context of a call: ctx, ended also by Close and, for
// calls that are not long, by RequestTimeout.
func (c *Client) scope(ctx context.Context, long bool) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.ctx, cancel)
	if !long && c.cfg.RequestTimeout > 0 {
		var cancelT context.CancelFunc
		ctx, cancelT = context.WithTimeout(ctx, c.cfg.RequestTimeout)
		return ctx, func() { cancelT(); stop(); cancel() }
	}
	return ctx, func() { stop(); cancel() }
}

// call sends r, with retries, and decodes the JSON answer into out (when
// not nil).
func (c *Client) call(ctx context.Context, r *request, out any) (*response, error) {
	ctx, cancel := c.scope(ctx, r.long)
	defer cancel()
	resp, err := c.roundTrip(ctx, r, false)
	if err != nil {
		return nil, err
	}
	if out != nil {
		if err := decodeJSON(resp.body, out); err != nil {
			return resp, fmt.Errorf("cairn: %s %s: cannot decode the answer: %w", r.method, r.path, err)
		}
	}
	return resp, nil
}

// roundTrip sends r to the current endpoint and, when that fails in a way
// that allows it, to the next ones, until it gets an answer, ctx ends or
// maxRounds rounds over the endpoints failed. A non-2xx answer is returned
// as an *Error. With stream, a 2xx answer's body is left open in
// response.stream.
func (c *Client) roundTrip(ctx context.Context, r *request, stream bool) (*response, error) {
	if c.ctx.Err() != nil {
		return nil, ErrClosed
	}
	n := uint64(len(c.endpoints))
	var lastErr error
	var retryAfter time.Duration
	for attempt := uint64(0); ; attempt++ {
		if attempt > 0 && attempt%n == 0 {
			// Every endpoint failed once more: pause before the next round.
			round := attempt / n
			if round >= maxRounds {
				return nil, lastErr
			}
			d := min(max(retryAfter, 50*time.Millisecond<<(round-1)), c.cfg.MaxRetryWait)
			retryAfter = 0
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, c.ctxError(ctx, lastErr)
			case <-t.C:
			}
		}
		idx := c.cur.Load()
		ep := c.endpoints[idx%n]
		resp, sent, err := c.once(ctx, ep, r, stream)
		if err != nil {
			if ctx.Err() != nil {
				if sent && !r.idempotent {
					return nil, &IndeterminateError{Method: r.method, Path: r.path, Endpoint: ep.String(), Err: err}
				}
				return nil, c.ctxError(ctx, err)
			}
			if sent && !r.idempotent {
				return nil, &IndeterminateError{Method: r.method, Path: r.path, Endpoint: ep.String(), Err: err}
			}
			lastErr = err
			c.cur.CompareAndSwap(idx, idx+1)
			continue
		}
		if resp.status/100 == 2 {
			return resp, nil
		}
		e := toError(ep.String(), &http.Response{StatusCode: resp.status, Header: resp.header}, resp.body, r.b64)
		switch {
		case resp.status == http.StatusServiceUnavailable:
			// Not carried out: safe to retry elsewhere, reads and writes.
			retryAfter = max(retryAfter, e.RetryAfter)
		case resp.status == http.StatusGatewayTimeout && r.idempotent:
			// The member could not get it done in time; another may.
		case resp.status == http.StatusBadGateway && r.idempotent:
			// A proxy in front of the member failed.
		default:
			return nil, e
		}
		lastErr = e
		c.cur.CompareAndSwap(idx, idx+1)
	}
}

// ctxError is the error of a call whose context ended: the context's
// error, with the last failure for the record.
func (c *Client) ctxError(ctx context.Context, last error) error {
	if c.ctx.Err() != nil {
		return ErrClosed
	}
	if last == nil || errors.Is(last, ctx.Err()) {
		return ctx.Err()
	}
	return fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
}
