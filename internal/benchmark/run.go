package benchmark

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnkv/cairn/client"
)

// The values of run.lat besides latencies.
const (
	latFailed    = -1 // the request failed
	latAbandoned = -2 // the run's context ended before its answer
)

// run is one benchmark run: its connections, keys and measures.
type run struct {
	cfg       Config
	leader    int        // index in cfg.Endpoints of the leader, with TargetLeader; else -1
	endpoints [][]string // per connection: the endpoints, the one it talks to first first
	ks        keySpace
	value     string
	conns     []*client.Client
	trs       []*http.Transport
	dials     atomic.Int64 // TCP connections opened by conns
	epoch     time.Time    // set before any goroutine starts: Watch's timestamps count from it
	start     time.Time    // the clock
	interval  time.Duration

	next atomic.Int64 // the number of the next request
	done atomic.Int64 // requests answered (or failed)
	lat  []int64      // per request: its latency in ns, or latFailed, latAbandoned
	errs []errorCounts
}

// Run runs the workload w against the cluster of cfg and returns its
// report. While it runs it draws a progress bar on progress (nil: none),
// which should be a terminal (os.Stderr): the bar redraws its line.
//
// Before the clock starts, Run opens the connections (each asks its member
// for its status) and sets every client up (LeaseKeepAlive grants the leases, Watch opens the watches
// and waits until each one delivers). Requests that fail are counted by
// kind in Report.Errors and are left out of the latencies.
//
// When ctx ends before the requests are done, Run stops them and returns
// the report of those that were answered, Interrupted, with ctx's error.
// An error without a report means that the run could not start: bad
// options, no leader found for TargetLeader, a setup request that failed.
func Run(ctx context.Context, cfg Config, w Workload, progress io.Writer) (*Report, error) {
	if w == nil {
		return nil, errors.New("benchmark: no workload")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	w, err = w.withDefaults(&cfg)
	if err != nil {
		return nil, err
	}
	r, err := newRun(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer r.close()
	d, err := w.start(ctx, r)
	if err != nil {
		return nil, err
	}
	if d.cleanup != nil {
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			d.cleanup(cctx)
		}()
	}
	if err := r.connect(ctx); err != nil {
		return nil, err
	}
	reqs, err := r.setUpClients(ctx, d)
	if err != nil {
		return nil, err
	}

	bar := newProgress(progress, w.Name(), int64(cfg.Total), &r.done)
	r.start = time.Now()
	var wg sync.WaitGroup
	for id, req := range reqs {
		wg.Go(func() { r.client(ctx, req, &r.errs[id]) })
	}
	wg.Wait()
	end := time.Now()
	bar.stop()

	rep := r.report(w, end)
	rep.Interrupted = ctx.Err() != nil
	if d.finish != nil {
		d.finish(ctx, rep)
	}
	return rep, ctx.Err()
}

// newRun creates the connections' clients (connect dials them) and builds
// the keys.
func newRun(ctx context.Context, cfg Config) (*run, error) {
	r := &run{cfg: cfg, epoch: time.Now(), leader: -1}
	if cfg.TargetLeader {
		var err error
		if r.leader, err = findLeader(ctx, cfg); err != nil {
			return nil, err
		}
	}
	for i := range cfg.Conns {
		eps := endpointOrder(cfg.Endpoints, i, r.leader)
		tr := r.newTransport(1, &r.dials)
		c, err := r.newClient(eps, tr)
		if err != nil {
			r.close()
			return nil, err
		}
		r.endpoints = append(r.endpoints, eps)
		r.conns = append(r.conns, c)
		r.trs = append(r.trs, tr)
	}
	r.ks = newKeySpace(cfg.KeyPrefix, cfg.KeySize, cfg.KeySpaceSize)
	r.value = newValue(cfg.ValSize)
	if cfg.Rate > 0 {
		r.interval = time.Duration(float64(time.Second) / cfg.Rate)
	}
	r.lat = make([]int64, cfg.Total)
	r.errs = make([]errorCounts, cfg.Clients)
	return r, nil
}

// endpointOrder returns the endpoints of connection i: from the leader
// when there is one (leader >= 0), else from endpoint i mod n, the others
// following in order for failover.
func endpointOrder(endpoints []string, i, leader int) []string {
	first := i % len(endpoints)
	if leader >= 0 {
		first = leader
	}
	out := make([]string, 0, len(endpoints))
	out = append(out, endpoints[first:]...)
	return append(out, endpoints[:first]...)
}

// newTransport returns a transport that holds at most perHost connections
// to each member (0: no limit), speaking HTTP/1.1 or HTTP/2 as configured,
// that counts its dials in dials (when not nil).
func (r *run) newTransport(perHost int, dials *atomic.Int64) *http.Transport {
	dialer := &net.Dialer{Timeout: r.cfg.DialTimeout, KeepAlive: 30 * time.Second}
	protocols := new(http.Protocols)
	if r.cfg.HTTP2 {
		protocols.SetHTTP2(true)
		protocols.SetUnencryptedHTTP2(true)
	} else {
		protocols.SetHTTP1(true)
	}
	idle := perHost
	if idle == 0 {
		idle = 64
	}
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if dials != nil {
				dials.Add(1)
			}
			return dialer.DialContext(ctx, network, addr)
		},
		TLSHandshakeTimeout: 10 * time.Second,
		MaxConnsPerHost:     perHost,
		MaxIdleConnsPerHost: idle,
		IdleConnTimeout:     90 * time.Second,
		Protocols:           protocols,
	}
	if r.cfg.TLS != nil {
		tr.TLSClientConfig = r.cfg.TLS.Clone()
	}
	return tr
}

// newClient returns a client of endpoints over tr.
func (r *run) newClient(endpoints []string, tr *http.Transport) (*client.Client, error) {
	c, err := client.New(client.Config{
		Endpoints:      endpoints,
		HTTPClient:     &http.Client{Transport: tr},
		TLS:            r.cfg.TLS, // only says that "host:port" means https
		DialTimeout:    r.cfg.DialTimeout,
		RequestTimeout: r.cfg.RequestTimeout,
		Username:       r.cfg.Username,
		Password:       r.cfg.Password,
		UserAgent:      "cairn-benchmark",
	})
	if err != nil {
		return nil, fmt.Errorf("benchmark: %w", err)
	}
	return c, nil
}

// findLeader returns the index of the endpoint of the leader.
func findLeader(ctx context.Context, cfg Config) (int, error) {
	var errs []error
	for i, ep := range cfg.Endpoints {
		c, err := client.New(client.Config{Endpoints: []string{ep}, TLS: cfg.TLS, DialTimeout: cfg.DialTimeout,
			RequestTimeout: cfg.RequestTimeout, Username: cfg.Username, Password: cfg.Password})
		if err != nil {
			return -1, fmt.Errorf("benchmark: %w", err)
		}
		st, err := c.Status(ctx)
		c.Close()
		switch {
		case err != nil:
			errs = append(errs, err)
		case st.Leader != 0 && st.Leader == st.MemberID:
			return i, nil
		}
	}
	return -1, fmt.Errorf("benchmark: no endpoint is the leader: %w", errors.Join(errs...))
}

// connect opens every connection before the clock starts (and checks that
// the cluster answers): each asks its member for its status.
func (r *run) connect(ctx context.Context) error {
	errs := make([]error, len(r.conns))
	var wg sync.WaitGroup
	for i, c := range r.conns {
		wg.Go(func() { _, errs[i] = c.Status(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("benchmark: connect to %s: %w", r.endpoints[i][0], err)
		}
	}
	return nil
}

// setUpClients sets every client up, all at once, and returns their
// request functions.
func (r *run) setUpClients(ctx context.Context, d *driver) ([]requestFunc, error) {
	reqs := make([]requestFunc, r.cfg.Clients)
	errs := make([]error, r.cfg.Clients)
	var wg sync.WaitGroup
	for id := range reqs {
		wg.Go(func() { reqs[id], errs[id] = d.newRequester(ctx, id, r.conns[id%len(r.conns)]) })
	}
	wg.Wait()
	for id, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("benchmark: set up client %d (%s): %w", id, r.endpoints[id%len(r.conns)][0], err)
		}
	}
	return reqs, nil
}

// picker returns the key picker of client id.
func (r *run) picker(id int) keyPicker {
	return newKeyPicker(&r.ks, r.cfg.SequentialKeys, uint64(r.epoch.UnixNano())+uint64(id))
}

// client is the loop of one client: it takes the next request number and
// sends the request, until the total is reached or ctx ends.
func (r *run) client(ctx context.Context, req requestFunc, errs *errorCounts) {
	var pace *time.Timer
	if r.interval > 0 {
		pace = time.NewTimer(time.Hour)
		pace.Stop()
		defer pace.Stop()
	}
	total := int64(r.cfg.Total)
	for {
		n := r.next.Add(1) - 1
		if n >= total {
			return
		}
		if pace != nil {
			if wait := time.Until(r.start.Add(time.Duration(n) * r.interval)); wait > 0 {
				pace.Reset(wait)
				select {
				case <-pace.C:
				case <-ctx.Done():
					r.lat[n] = latAbandoned
					return
				}
			}
		}
		t0 := time.Now()
		err := req(ctx, int(n))
		lat := time.Since(t0)
		switch {
		case err == nil:
			r.lat[n] = int64(lat)
		case ctx.Err() != nil:
			r.lat[n] = latAbandoned
			return
		default:
			r.lat[n] = latFailed
			errs.add(err)
		}
		r.done.Add(1)
	}
}

// report builds the report of the requests, the clock stopped at end.
func (r *run) report(w Workload, end time.Time) *Report {
	rep := &Report{
		Workload:    w.Name(),
		Options:     w,
		Config:      r.reportConfig(),
		Elapsed:     end.Sub(r.start),
		Connections: r.dials.Load(),
	}
	issued := min(r.next.Load(), int64(len(r.lat)))
	samples := r.lat[:0]
	for _, l := range r.lat[:issued] {
		switch {
		case l >= 0:
			samples = append(samples, l)
		case l == latFailed:
			rep.Failed++
		}
	}
	rep.Succeeded = int64(len(samples))
	rep.Requests = rep.Succeeded + rep.Failed
	if rep.Elapsed > 0 {
		rep.RequestsPerSecond = float64(rep.Succeeded) / rep.Elapsed.Seconds()
	}
	rep.Latency = summarize(samples)
	rep.Errors = mergeErrors(r.errs)
	if !r.cfg.HTTP2 && r.cfg.Conns < r.cfg.Clients {
		rep.Notes = append(rep.Notes, fmt.Sprintf("over HTTP/1.1 a connection carries one request at a time: "+
			"%d connections kept at most %d of the %d clients' requests in flight, and the wait for a "+
			"connection counts in the latency (HTTP/2 multiplexes them)", r.cfg.Conns, r.cfg.Conns, r.cfg.Clients))
	}
	return rep
}

func (r *run) reportConfig() ReportConfig {
	c := r.cfg
	return ReportConfig{
		Endpoints: c.Endpoints, TargetLeader: c.TargetLeader, Conns: c.Conns, Clients: c.Clients,
		Protocol: c.protocol(), Total: c.Total, Rate: c.Rate, KeySize: c.KeySize, KeyPrefix: c.KeyPrefix,
		KeySpaceSize: c.KeySpaceSize, SequentialKeys: c.SequentialKeys, ValSize: c.ValSize,
	}
}

func (cfg Config) protocol() string {
	if cfg.HTTP2 {
		return "HTTP/2"
	}
	return "HTTP/1.1"
}

// close closes the connections.
func (r *run) close() {
	for _, c := range r.conns {
		c.Close()
	}
	for _, tr := range r.trs {
		tr.CloseIdleConnections()
	}
}
