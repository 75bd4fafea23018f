package validate

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// promql is the parser Prometheus uses for rules, with its defaults.
var promql = parser.NewParser(parser.Options{})

// metricNames parses a PromQL expression and returns the metric names of
// its selectors, sorted. A selector without a name (only {__name__=~...})
// is an error: it could name anything.
func metricNames(expr string) ([]string, error) {
	e, err := promql.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var bad error
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName {
				if m.Type != labels.MatchEqual {
					bad = fmt.Errorf("selector %s matches metric names by a pattern", vs)
				}
				name = m.Value
			}
		}
		if name == "" {
			bad = fmt.Errorf("selector %s names no metric", vs)
		}
		seen[name] = true
		return nil
	})
	if bad != nil {
		return nil, bad
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// grafanaToPromQL replaces Grafana's variables by values PromQL parses: a
// range ($__rate_interval) by a duration, the others (inside label
// matchers' strings) stay as they are.
func grafanaToPromQL(expr string) string {
	for _, v := range []string{"$__rate_interval", "$__interval", "$__range"} {
		expr = strings.ReplaceAll(expr, v, "5m")
	}
	return expr
}

func TestMetricNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		expr    string
		want    []string
		wantErr string
	}{
		{name: "Plain", expr: `cairn_raft_has_leader == 0`, want: []string{"cairn_raft_has_leader"}},
		{name: "Histogram", expr: `histogram_quantile(0.99, sum by (le) (rate(cairn_x_seconds_bucket{job=~".*cairn.*", route=~"/v1/kv/\\*|/v1/txn"}[5m])))`,
			want: []string{"cairn_x_seconds_bucket"}},
		{name: "Binary", expr: `a_bytes / (b_bytes > 0) > 0.8`, want: []string{"a_bytes", "b_bytes"}},
		{name: "Aggregation", expr: `sum by (job) (up{job=~".*cairn.*"} == bool 1) < ((count by (job) (up) + 1) / 2)`, want: []string{"up"}},
		{name: "NameLabel", expr: `{__name__="cairn_alarms", alarm="NOSPACE"}`, want: []string{"cairn_alarms"}},
		{name: "Subquery", expr: `max_over_time(rate(c_total[1m])[10m:1m])`, want: []string{"c_total"}},
		{name: "LabelsInStrings", expr: `x{route="cairn_not_a_metric"}`, want: []string{"x"}},
		{name: "Offset", expr: `delta(g[1h] offset 1d)`, want: []string{"g"}},
		{name: "Grafana", expr: grafanaToPromQL(`rate(c_total{instance=~"$instance"}[$__rate_interval])`), want: []string{"c_total"}},
		{name: "Pattern", expr: `{__name__=~"cairn_.*"}`, wantErr: "by a pattern"},
		{name: "Syntax", expr: `rate(c_total[5m]`, wantErr: "unclosed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := metricNames(tt.expr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}
