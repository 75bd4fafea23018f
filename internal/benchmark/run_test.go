package benchmark_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cairnkv/cairn/client"
	"github.com/cairnkv/cairn/internal/app"
	"github.com/cairnkv/cairn/internal/benchmark"
	"github.com/cairnkv/cairn/internal/testutil/freeport"
	"github.com/cairnkv/cairn/internal/testutil/testlog"
)

// startMember starts a one-member cluster in t.TempDir(), waits until it
// is ready, stops it when the test ends and returns its client URL.
func startMember(t *testing.T) string {
	t.Helper()
	ports := make([]int, 2)
	for i := range ports {
		p, err := freeport.Get()
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = p
	}
	cfg := app.Defaults()
	cfg.Name = "bench1"
	cfg.DataDir = t.TempDir()
	cfg.ListenClientURLs = []string{fmt.Sprintf("http://127.0.0.1:%d", ports[0])}
	cfg.ListenPeerURL = fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	cfg.HeartbeatInterval = 50 * time.Millisecond
	cfg.ElectionTimeout = 500 * time.Millisecond
	cfg.LogLevel = "warn"
	cfg = cfg.WithDerivedDefaults()
	w := testlog.Writer(t) // before the member, so that it outlives it
	a, err := app.New(cfg, zerolog.New(w).Level(zerolog.WarnLevel))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Logf("member stopped: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the member did not stop")
		}
	})
	url := a.ClientURL()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 20s", url)
		}
		<-tick.C
	}
}

// count returns the number of keys that start with prefix.
func count(t *testing.T, url, prefix string) int64 {
	t.Helper()
	c, err := client.New(client.Config{Endpoints: []string{url}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Get(context.Background(), prefix, client.WithPrefix(), client.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Count
}

// run runs w and checks that every request succeeded.
func run(t *testing.T, cfg benchmark.Config, w benchmark.Workload) *benchmark.Report {
	t.Helper()
	rep, err := benchmark.Run(context.Background(), cfg, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != int64(cfg.Total) || rep.Succeeded != int64(cfg.Total) || rep.Failed != 0 || len(rep.Errors) != 0 {
		t.Fatalf("%d requests, %d succeeded, %d failed, errors %+v; want %d succeeded",
			rep.Requests, rep.Succeeded, rep.Failed, rep.Errors, cfg.Total)
	}
	if rep.Elapsed <= 0 || rep.RequestsPerSecond <= 0 || rep.Interrupted {
		t.Fatalf("elapsed %v, %g req/s, interrupted %v", rep.Elapsed, rep.RequestsPerSecond, rep.Interrupted)
	}
	return rep
}

// TestRun runs each workload against a real one-member cluster.
func TestRun(t *testing.T) {
	url := startMember(t)
	base := benchmark.Config{Endpoints: []string{url}, KeySize: 10, ValSize: 64}

	t.Run("Put", func(t *testing.T) {
		cfg := base
		cfg.KeyPrefix, cfg.KeySpaceSize, cfg.SequentialKeys = "put/", 100, true
		cfg.Conns, cfg.Clients, cfg.Total = 2, 8, 300
		var progress bytes.Buffer
		rep, err := benchmark.Run(context.Background(), cfg, benchmark.Put{}, &progress)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Succeeded != 300 || rep.Failed != 0 || rep.Latency.Samples != 300 {
			t.Fatalf("%d succeeded, %d failed, %d samples", rep.Succeeded, rep.Failed, rep.Latency.Samples)
		}
		if rep.Connections != 2 {
			t.Errorf("%d connections opened, want 2", rep.Connections)
		}
		if n := count(t, url, "put/"); n != 100 {
			t.Errorf("%d keys under put/, want 100", n)
		}
		if !strings.Contains(progress.String(), "put") || !strings.Contains(progress.String(), "300/300") {
			t.Errorf("progress bar %q", progress.String())
		}
		if len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "HTTP/1.1") {
			t.Errorf("notes %q, want one about 8 clients over 2 HTTP/1.1 connections", rep.Notes)
		}
	})
	t.Run("PutHTTP2", func(t *testing.T) {
		cfg := base
		cfg.KeyPrefix, cfg.KeySpaceSize = "h2/", 50
		cfg.Conns, cfg.Clients, cfg.Total, cfg.HTTP2 = 1, 16, 300, true
		rep := run(t, cfg, benchmark.Put{})
		if rep.Connections != 1 || len(rep.Notes) != 0 {
			t.Fatalf("%d connections opened for 16 clients over HTTP/2, want 1; notes %q", rep.Connections, rep.Notes)
		}
	})
	t.Run("RangeLinearizable", func(t *testing.T) {
		cfg := base
		cfg.KeyPrefix, cfg.KeySpaceSize = "put/", 100 // written by Put
		cfg.Clients, cfg.Total = 8, 300
		rep := run(t, cfg, benchmark.Range{})
		if opts := rep.Options.(benchmark.Range); opts.Consistency != benchmark.Linearizable {
			t.Fatalf("consistency %q", opts.Consistency)
		}
	})
	t.Run("RangeSerializable", func(t *testing.T) {
		cfg := base
		cfg.KeyPrefix, cfg.KeySpaceSize = "put/", 100
		cfg.Clients, cfg.Total = 8, 300
		run(t, cfg, benchmark.Range{Consistency: benchmark.Serializable})
	})
	t.Run("RangePrefix", func(t *testing.T) {
		cfg := base
		cfg.Clients, cfg.Total = 4, 100
		run(t, cfg, benchmark.Range{Key: "put/", Prefix: true, Limit: 10})
	})
	t.Run("RangeMissingKeys", func(t *testing.T) {
		cfg := base
		cfg.KeyPrefix, cfg.KeySpaceSize = "none/", 10
		cfg.Clients, cfg.Total = 2, 50
		rep, err := benchmark.Run(context.Background(), cfg, benchmark.Range{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Requests != 50 || rep.Failed != 50 || rep.Succeeded != 0 || rep.Latency.Samples != 0 {
			t.Fatalf("%d requests, %d failed, %d succeeded, %d samples", rep.Requests, rep.Failed, rep.Succeeded, rep.Latency.Samples)
		}
		if len(rep.Errors) != 1 || rep.Errors[0].Kind != "key_not_found" || rep.Errors[0].Count != 50 {
			t.Fatalf("errors %+v, want 50 key_not_found", rep.Errors)
		}
	})
	t.Run("TxnPut", func(t *testing.T) {
		cfg := base
		cfg.KeyPrefix, cfg.KeySpaceSize, cfg.SequentialKeys = "txn/", 500, true
		cfg.Conns, cfg.Clients, cfg.Total = 4, 4, 200
		run(t, cfg, benchmark.TxnPut{Ops: 3})
		if n := count(t, url, "txn/"); n != 500 {
			t.Errorf("%d keys under txn/ after 600 sequential puts over 500 keys, want 500", n)
		}
	})
	t.Run("TxnPutRandomSmallKeySpace", func(t *testing.T) {
		// Random keys in a small space: the keys of one txn are still
		// distinct (a txn may not put a key twice), so nothing fails.
		cfg := base
		cfg.KeyPrefix, cfg.KeySpaceSize = "txnr/", 10
		cfg.Clients, cfg.Total = 2, 200
		run(t, cfg, benchmark.TxnPut{Ops: 2})
		if _, err := benchmark.Run(context.Background(), cfg, benchmark.TxnPut{Ops: 11}, io.Discard); err == nil {
			t.Error("11 ops a txn in a key space of 10: no error")
		}
	})
	t.Run("Watch", func(t *testing.T) {
		cfg := base
		cfg.KeyPrefix, cfg.KeySpaceSize, cfg.ValSize = "watch/", 100, 16
		cfg.Clients, cfg.Total = 4, 200
		rep := run(t, cfg, benchmark.Watch{Watchers: 3})
		ws := rep.Watch
		if ws == nil || ws.Watchers != 3 || ws.Expected != 600 || ws.Received != 600 || rep.Latency.Samples != 600 {
			t.Fatalf("watch %+v, %d samples; want 600 events", ws, rep.Latency.Samples)
		}
		if rep.Latency.Fastest <= 0 || rep.Latency.Slowest > time.Minute {
			t.Fatalf("event latencies from %v to %v", rep.Latency.Fastest, rep.Latency.Slowest)
		}
	})
	t.Run("LeaseKeepAlive", func(t *testing.T) {
		cfg := base
		cfg.Clients, cfg.Total = 4, 200
		run(t, cfg, benchmark.LeaseKeepAlive{})
		c, err := client.New(client.Config{Endpoints: []string{url}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		leases, err := c.Leases(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(leases.Leases) != 0 {
			t.Fatalf("%d leases left after the run, want 0 (revoked)", len(leases.Leases))
		}
	})
	t.Run("TargetLeader", func(t *testing.T) {
		cfg := base
		cfg.TargetLeader, cfg.Clients, cfg.Total = true, 2, 50
		rep := run(t, cfg, benchmark.Put{})
		if rep.Config.Endpoints[0] != url || !rep.Config.TargetLeader {
			t.Fatalf("config %+v", rep.Config)
		}
	})
	t.Run("Rate", func(t *testing.T) {
		cfg := base
		cfg.Clients, cfg.Total, cfg.Rate = 4, 20, 200 // request n no earlier than n×5ms
		rep := run(t, cfg, benchmark.Put{})
		if rep.Elapsed < 95*time.Millisecond {
			t.Fatalf("20 requests at 200/s took %v, want at least 95ms", rep.Elapsed)
		}
	})
	t.Run("Interrupted", func(t *testing.T) {
		cfg := base
		cfg.Clients, cfg.Total, cfg.Rate = 2, 1000, 20 // 50 s of requests
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		rep, err := benchmark.Run(ctx, cfg, benchmark.Put{}, nil)
		if !errors.Is(err, context.DeadlineExceeded) || rep == nil {
			t.Fatalf("report %v, error %v; want a report and the context's error", rep, err)
		}
		if !rep.Interrupted || rep.Requests == 0 || rep.Requests >= 1000 || rep.Failed != 0 || len(rep.Errors) != 0 {
			t.Fatalf("interrupted %v, %d requests, %d failed, errors %+v", rep.Interrupted, rep.Requests, rep.Failed, rep.Errors)
		}
	})
}

func TestRun_BadOptions(t *testing.T) {
	t.Parallel()
	ep := []string{"http://127.0.0.1:1"} // never dialled: the options fail first
	tests := []struct {
		name string
		cfg  benchmark.Config
		w    benchmark.Workload
		want string
	}{
		{name: "NoEndpoints", cfg: benchmark.Config{}, w: benchmark.Put{}, want: "no endpoints"},
		{name: "KeySizeTooSmall", cfg: benchmark.Config{Endpoints: ep, KeySize: 4, KeySpaceSize: 100000},
			w: benchmark.Put{}, want: "want at least 5"},
		{name: "KeySizeWithPrefix", cfg: benchmark.Config{Endpoints: ep, KeySize: 8, KeyPrefix: "bench/", KeySpaceSize: 1000},
			w: benchmark.Put{}, want: "want at least 9"},
		{name: "Consistency", cfg: benchmark.Config{Endpoints: ep}, w: benchmark.Range{Consistency: "x"},
			want: `consistency "x"`},
		{name: "WatchSmallValues", cfg: benchmark.Config{Endpoints: ep, ValSize: 4}, w: benchmark.Watch{},
			want: "want 8 or more"},
		{name: "NegativeClients", cfg: benchmark.Config{Endpoints: ep, Clients: -1}, w: benchmark.Put{},
			want: "positive"},
		{name: "NoWorkload", cfg: benchmark.Config{Endpoints: ep}, w: nil, want: "no workload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rep, err := benchmark.Run(context.Background(), tt.cfg, tt.w, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) || rep != nil {
				t.Fatalf("report %v, error %v; want an error with %q", rep, err, tt.want)
			}
		})
	}
}

// TestRun_Unreachable: a member that does not answer fails the run before
// it starts, naming the endpoint.
func TestRun_Unreachable(t *testing.T) {
	t.Parallel()
	port, err := freeport.Get() // reserved for this process, and nobody listens on it
	if err != nil {
		t.Fatal(err)
	}
	ep := fmt.Sprintf("http://127.0.0.1:%d", port)
	cfg := benchmark.Config{Endpoints: []string{ep}, RequestTimeout: 300 * time.Millisecond}
	rep, err := benchmark.Run(context.Background(), cfg, benchmark.Put{}, nil)
	if err == nil || rep != nil || !strings.Contains(err.Error(), "connect to "+ep) {
		t.Fatalf("report %v, error %v; want an error naming %s", rep, err, ep)
	}
}
