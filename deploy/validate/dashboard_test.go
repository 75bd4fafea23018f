package validate

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

var dashboardFile = filepath.Join(repo, "deploy/grafana/cairn-dashboard.json")

// panelTypes are the Grafana panel plugins the dashboard may use.
var panelTypes = map[string]variants.PanelcfgConfig{"timeseries": timeseries.VariantConfig(), "stat": stat.VariantConfig()}

// TestDashboard decodes the Grafana dashboard strictly into the Grafana
// Foundation SDK's dashboard type (unknown or mistyped fields, panel field
// configs, Prometheus queries), validates it, parses every query with
// Prometheus' parser and checks that the metrics they name exist on a
// running member.
func TestDashboard(t *testing.T) {
	t.Parallel()
	// The panel types the dashboard uses: their options and field configs
	// are decoded strictly too. (Not every plugin of the SDK: they are many
	// packages to compile.)
	runtime := cog.NewRuntime()
	for _, v := range panelTypes {
		runtime.RegisterPanelcfgVariant(v)
	}
	runtime.RegisterDataqueryVariant(prometheus.VariantConfig())
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard.Dashboard
	if err := sdkError(d.UnmarshalJSONStrict(raw)); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if err := sdkError(d.Validate()); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.Uid == nil || *d.Uid == "" || d.Title == nil {
		t.Error("the dashboard has no uid or title")
	}

	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if v.Type != "query" {
			continue
		}
		q := ""
		switch {
		case v.Query == nil:
		case v.Query.String != nil:
			q = *v.Query.String
		case v.Query.Map != nil:
			q, _ = v.Query.Map["query"].(string)
		}
		m := regexp.MustCompile(`^label_values\((.+),\s*[a-z_]+\)$`).FindStringSubmatch(q)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(SELECTOR, LABEL)", v.Name, q)
			continue
		}
		checkQuery(t, "variable "+v.Name, m[1])
	}
	for _, want := range []string{"datasource", "job", "instance"} {
		if !vars[want] {
			t.Errorf("no variable %s", want)
		}
	}

	ids := map[uint32]string{}
	var rows []string
	queries := 0
	panel := func(p dashboard.Panel) {
		title := ""
		if p.Title != nil {
			title = *p.Title
		}
		if _, ok := panelTypes[p.Type]; !ok {
			t.Errorf("panel %q is a %q, not a panel type this test knows (add it to panelTypes)", title, p.Type)
		}
		if p.Id == nil {
			t.Errorf("panel %q has no id", title)
		} else if other, dup := ids[*p.Id]; dup {
			t.Errorf("panels %q and %q have the same id %d", other, title, *p.Id)
		} else {
			ids[*p.Id] = title
		}
		if g := p.GridPos; g == nil || g.W == 0 || g.H == 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: grid position %+v", title, g)
		}
		if p.Datasource == nil || p.Datasource.Uid == nil || *p.Datasource.Uid != "${datasource}" {
			t.Errorf("panel %q: its data source is not the dashboard's ${datasource}", title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", title)
		}
		for _, target := range p.Targets {
			q, ok := target.(*prometheus.Dataquery)
			if !ok {
				t.Errorf("panel %q: a %T query, want Prometheus'", title, target)
				continue
			}
			queries++
			checkQuery(t, "panel "+title, q.Expr)
		}
	}
	for _, pr := range decodePanels(t, raw) {
		switch {
		case pr.Panel != nil:
			panel(*pr.Panel)
		case pr.RowPanel != nil:
			if pr.RowPanel.Title != nil {
				rows = append(rows, *pr.RowPanel.Title)
			}
			if other, dup := ids[pr.RowPanel.Id]; dup {
				t.Errorf("row %v and %q have the same id", pr.RowPanel.Title, other)
			}
			ids[pr.RowPanel.Id] = "row"
			for _, p := range pr.RowPanel.Panels {
				panel(p)
			}
		}
	}
	for _, want := range []string{"Cluster overview", "Requests", "Disk", "Raft", "Watch", "Leases", "Space"} {
		found := false
		for _, r := range rows {
			found = found || strings.EqualFold(r, want)
		}
		if !found {
			t.Errorf("no row %q (rows: %v)", want, rows)
		}
	}
	if queries < 30 {
		t.Errorf("only %d queries", queries)
	}
}

// decodePanels decodes the dashboard's panels strictly, one by one, and
// their queries as Prometheus queries: the SDK's PanelOrRowPanel and Panel
// drop a panel or a query that decodes without error (see sdkError).
func decodePanels(t *testing.T, raw []byte) []dashboard.PanelOrRowPanel {
	t.Helper()
	var doc struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var out []dashboard.PanelOrRowPanel
	for i, p := range doc.Panels {
		var kind struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(p, &kind); err != nil {
			t.Fatal(err)
		}
		var pr dashboard.PanelOrRowPanel
		var err error
		if kind.Type == "row" {
			pr.RowPanel = new(dashboard.RowPanel)
			if err = sdkError(pr.RowPanel.UnmarshalJSONStrict(p)); err == nil {
				err = sdkError(pr.RowPanel.Validate())
			}
		} else {
			pr.Panel = new(dashboard.Panel)
			if err = sdkError(pr.Panel.UnmarshalJSONStrict(p)); err == nil {
				err = sdkError(pr.Panel.Validate())
			}
			// The same for the queries, which the SDK drops the same way.
			var targets struct {
				Targets []json.RawMessage `json:"targets"`
			}
			if err := json.Unmarshal(p, &targets); err != nil {
				t.Fatal(err)
			}
			pr.Panel.Targets = nil
			for j, raw := range targets.Targets {
				q := new(prometheus.Dataquery)
				if err := sdkError(q.UnmarshalJSONStrict(raw)); err != nil {
					t.Errorf("panels[%d].targets[%d]: %v", i, j, err)
					continue
				}
				pr.Panel.Targets = append(pr.Panel.Targets, q)
			}
		}
		if err != nil {
			t.Errorf("panels[%d]: %v", i, err)
			continue
		}
		out = append(out, pr)
	}
	return out
}

// sdkError is err, or nil for the SDK's empty list of errors (which it
// returns as a non-nil error).
func sdkError(err error) error {
	var be cog.BuildErrors
	if errors.As(err, &be) && len(be) == 0 {
		return nil
	}
	return err
}

// checkQuery parses a dashboard query as PromQL and checks its metrics.
func checkQuery(t *testing.T, where, expr string) {
	t.Helper()
	names, err := metricNames(grafanaToPromQL(expr))
	if err != nil {
		t.Errorf("%s: %q: %v", where, expr, err)
		return
	}
	if len(names) == 0 {
		t.Errorf("%s: %q queries no metric", where, expr)
	}
	checkMetricsExist(t, where, names)
}
