package app

import (
	"bufio"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrapeMember does a little of everything on a fresh member (writes,
// reads, an error, a txn, a lease, a watch, a lock) so that the labelled
// series exist, and returns its /metrics.
func scrapeMember(t *testing.T, m *member) string {
	t.Helper()
	steps := []struct{ method, path, body string }{
		{"PUT", "/v1/kv/metrics/a", "1"},
		{"GET", "/v1/kv/metrics/a", ""},
		{"GET", "/v1/kv/metrics/missing", ""},
		{"POST", "/v1/txn", `{"success":[{"put":{"key":"metrics/b","value":"2"}}]}`},
		{"POST", "/v1/leases", `{"ttl":30}`},
		{"POST", "/v1/locks/metrics/lock?timeout=1s", `{"ttl":30}`},
		{"GET", "/v1/kv/metrics/a?wait=true&wait_revision=1&timeout=1s", ""},
		{"GET", "/v1/status", ""},
	}
	for _, s := range steps {
		doIdempotent(t, s.method, m.URL+s.path, s.body)
	}
	// A watch stream, opened and closed.
	resp, err := http.Get(m.URL + "/v1/watch/metrics/?prefix=true")
	if err != nil {
		t.Fatal(err)
	}
	bufio.NewReader(resp.Body).ReadString('\n')
	resp.Body.Close()
	waitFor(t, 5*time.Second, "the watch stream to be counted as closed", func() bool {
		_, body := do(t, "GET", m.URL+"/metrics", "")
		return strings.Contains(body, "cairn_watch_stream_duration_seconds_count 1")
	})
	_, body := do(t, "GET", m.URL+"/metrics", "")
	return body
}

// families parses a /metrics answer.
func families(t *testing.T, text string) map[string]bool {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation) // classic names: what Prometheus and promlint expect
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	names := map[string]bool{}
	for name := range fams {
		names[name] = true
	}
	return names
}

// TestMetrics_Lint runs Prometheus' linter (promtool check metrics) on a
// running member's /metrics: every name, unit and help text follows the
// conventions.
func TestMetrics_Lint(t *testing.T) {
	t.Parallel()
	m := startCluster(t, 1)[0]
	text := scrapeMember(t, m)
	problems, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil {
		t.Fatalf("lint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	if len(families(t, text)) < 50 {
		t.Fatalf("too few metrics:\n%s", text)
	}
}

// readmeMetrics returns the metric names of the README's "Metrics" table:
// the first backquoted name of each row, with the etcd twin of the second
// column.
func readmeMetrics(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| `(cairn_[a-z_]+)`[^|]*\\| ([^|]*)\\|")
	out := map[string]string{}
	in := false
	for _, l := range strings.Split(string(f), "\n") {
		switch {
		case strings.HasPrefix(l, "## "):
			in = l == "## Metrics"
		case in:
			if m := row.FindStringSubmatch(l); m != nil {
				out[m[1]] = strings.TrimSpace(m[2])
			}
		}
	}
	if len(out) == 0 {
		t.Fatal(`no metrics table under "## Metrics" in the README`)
	}
	return out
}

// TestMetrics_Documented checks that every metric of the README's table
// exists on a running member, and that the twins of the etcd metrics
// operators rely on are there.
func TestMetrics_Documented(t *testing.T) {
	t.Parallel()
	m := startCluster(t, 1)[0]
	have := families(t, scrapeMember(t, m))
	documented := readmeMetrics(t)
	var names []string
	for name := range documented {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !have[name] {
			t.Errorf("the README's table lists %s, which a member does not export", name)
		}
	}
	twins := map[string]string{
		"etcd_server_has_leader":                    "cairn_raft_has_leader",
		"etcd_server_is_leader":                     "cairn_raft_is_leader",
		"etcd_server_leader_changes_seen_total":     "cairn_raft_leader_changes_total",
		"etcd_server_proposals_committed_total":     "cairn_raft_proposals_committed_total",
		"etcd_server_proposals_applied_total":       "cairn_raft_proposals_applied_total",
		"etcd_server_proposals_pending":             "cairn_raft_proposals_pending",
		"etcd_server_proposals_failed_total":        "cairn_raft_proposals_failed_total",
		"etcd_server_slow_apply_total":              "cairn_slow_apply_total",
		"etcd_disk_wal_fsync_duration_seconds":      "cairn_disk_raft_log_fsync_duration_seconds",
		"etcd_disk_backend_commit_duration_seconds": "cairn_disk_backend_commit_duration_seconds",
		"etcd_mvcc_db_total_size_in_bytes":          "cairn_mvcc_db_size_bytes",
		"etcd_server_quota_backend_bytes":           "cairn_quota_backend_bytes",
		"etcd_debugging_mvcc_watcher_total":         "cairn_watchers",
		"etcd_debugging_lease_granted_total":        "cairn_lease_granted_total",
	}
	for etcd, cairn := range twins {
		if !have[cairn] {
			t.Errorf("%s, the twin of %s, is not exported", cairn, etcd)
		}
		if !strings.Contains(documented[cairn], etcd) {
			t.Errorf("the README's table does not say that %s twins %s (it says %q)", cairn, etcd, documented[cairn])
		}
	}
}
