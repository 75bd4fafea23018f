package validate

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rs/zerolog"

	"github.com/cairnkv/cairn/internal/app"
	"github.com/cairnkv/cairn/internal/testutil/freeport"
)

// repo is the repository's root, from this package's directory.
const repo = "../.."

var (
	memberOnce   sync.Once
	memberSeries map[string]bool
	memberErr    error
)

// exportedSeries starts one Cairn member (once per test binary), does a
// little of everything on it so that the labelled series exist, and
// returns the names of the series its /metrics exposes: a histogram x as
// x_bucket, x_sum and x_count, as PromQL names them.
func exportedSeries(t *testing.T) map[string]bool {
	t.Helper()
	memberOnce.Do(func() { memberSeries, memberErr = scrapeOneMember() })
	if memberErr != nil {
		t.Fatal(memberErr)
	}
	return memberSeries
}

func scrapeOneMember() (map[string]bool, error) {
	dir, err := os.MkdirTemp("", "cairn-validate-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ports := make([]int, 2)
	for i := range ports {
		if ports[i], err = freeport.Get(); err != nil {
			return nil, err
		}
	}
	cfg := app.Defaults()
	cfg.Name = "v1"
	cfg.DataDir = dir
	cfg.ListenClientURLs = []string{fmt.Sprintf("http://127.0.0.1:%d", ports[0])}
	cfg.ListenPeerURL = fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	cfg.HeartbeatInterval, cfg.ElectionTimeout = 50*time.Millisecond, 500*time.Millisecond
	cfg = cfg.WithDerivedDefaults()
	a, err := app.New(cfg, zerolog.Nop())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	base := a.ClientURL()
	call := func(method, path, body string) (int, string, error) {
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			return 0, "", err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if code, _, _ := call("GET", "/readyz", ""); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the member was not ready after 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, s := range []struct{ method, path, body string }{
		{"PUT", "/v1/kv/a", "1"},
		{"GET", "/v1/kv/a", ""},
		{"GET", "/v1/kv/missing", ""}, // an error, for cairn_http_errors_total
		{"POST", "/v1/txn", `{"success":[{"put":{"key":"b","value":"2"}}]}`},
		{"DELETE", "/v1/kv/b", ""},
		{"POST", "/v1/leases", `{"ttl":30}`},
		{"POST", "/v1/locks/l?timeout=1s", `{"ttl":30}`},
	} {
		if _, _, err := call(s.method, s.path, s.body); err != nil {
			return nil, err
		}
	}
	resp, err := http.Get(base + "/v1/watch/a")
	if err != nil {
		return nil, err
	}
	bufio.NewReader(resp.Body).ReadString('\n')
	resp.Body.Close()

	code, text, err := call("GET", "/metrics", "")
	if err != nil || code != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %d %v", code, err)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("/metrics: %w", err)
	}
	series := map[string]bool{}
	for name, f := range fams {
		switch f.GetType().String() {
		case "HISTOGRAM":
			series[name+"_bucket"], series[name+"_sum"], series[name+"_count"] = true, true, true
		case "SUMMARY":
			series[name], series[name+"_sum"], series[name+"_count"] = true, true, true
		default:
			series[name] = true
		}
	}
	return series, nil
}

// synthetic are series that Prometheus makes for every target, not read
// from /metrics.
var synthetic = map[string]bool{"up": true, "scrape_duration_seconds": true, "scrape_samples_scraped": true}

// checkMetricsExist fails the test for every metric name in names that a
// running member does not export; where says which query named it.
func checkMetricsExist(t *testing.T, where string, names []string) {
	t.Helper()
	have := exportedSeries(t)
	for _, n := range names {
		if !have[n] && !synthetic[n] {
			t.Errorf("%s: %s does not exist on a running member's /metrics", where, n)
		}
	}
}
