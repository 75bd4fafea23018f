package validate

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"sigs.k8s.io/yaml"
)

var (
	rulesFile      = filepath.Join(repo, "deploy/prometheus/cairn-alerts.yaml")
	prometheusRule = filepath.Join(repo, "deploy/kubernetes/monitoring/prometheusrule.yaml")
	runbook        = filepath.Join(repo, "docs/runbook.md")
)

const runbookURL = "https://github.com/cairnkv/cairn/blob/main/docs/runbook.md#"

// TestRules parses the alert rules as Prometheus loads them (`promtool
// check rules`: unknown fields, PromQL, templates), and checks that every
// metric they query exists on a running member and every alert has a
// severity and a runbook section.
func TestRules(t *testing.T) {
	t.Parallel()
	groups, errs := rulefmt.ParseFile(rulesFile, false, model.LegacyValidation, promql, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Error(err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	sections := runbookSections(t)
	alerts := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("group %s: a recording rule (%s): the file is for alerts", g.Name, r.Record)
				continue
			}
			alerts[r.Alert] = true
			names, err := metricNames(r.Expr)
			if err != nil {
				t.Errorf("%s: %v", r.Alert, err)
				continue
			}
			checkMetricsExist(t, r.Alert, names)
			if !strings.Contains(r.Expr, `job=~".*cairn.*"`) {
				t.Errorf("%s: the expression does not select the Cairn jobs (job=~\".*cairn.*\"): %s", r.Alert, r.Expr)
			}
			switch r.Labels["severity"] {
			case "warning", "critical":
			default:
				t.Errorf("%s: severity %q, want warning or critical", r.Alert, r.Labels["severity"])
			}
			for _, a := range []string{"summary", "description"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s: no %s annotation", r.Alert, a)
				}
			}
			anchor := strings.ToLower(r.Alert)
			if got := r.Annotations["runbook_url"]; got != runbookURL+anchor {
				t.Errorf("%s: runbook_url %q, want %q", r.Alert, got, runbookURL+anchor)
			}
			if !sections[anchor] {
				t.Errorf("%s: docs/runbook.md has no section \"## %s\"", r.Alert, r.Alert)
			}
		}
	}
	for _, want := range []string{"CairnMemberDown", "CairnInsufficientMembers", "CairnNoLeader", "CairnHighNumberOfLeaderChanges",
		"CairnHighNumberOfFailedProposals", "CairnHighFsyncDurations", "CairnDatabaseQuotaLowSpace", "CairnNoSpaceAlarm", "CairnCorruptAlarm"} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}
	for s := range sections {
		found := false
		for a := range alerts {
			found = found || strings.ToLower(a) == s
		}
		if !found {
			t.Errorf("docs/runbook.md has a section %q that is no alert", s)
		}
	}
}

// runbookSections returns the GitHub anchors of the runbook's "## " headings.
func runbookSections(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(runbook)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	h := regexp.MustCompile(`(?m)^## (\S+)\s*$`)
	for _, m := range h.FindAllStringSubmatch(string(b), -1) {
		out[strings.ToLower(m[1])] = true
	}
	return out
}

// TestPrometheusRule checks that the Prometheus Operator's PrometheusRule
// decodes strictly into its type and holds exactly the rules of
// deploy/prometheus/cairn-alerts.yaml. CAIRN_UPDATE=1 writes it anew from
// the rules file.
func TestPrometheusRule(t *testing.T) {
	t.Parallel()
	rules, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("CAIRN_UPDATE") == "1" {
		writePrometheusRule(t, rules)
	}
	raw, err := os.ReadFile(prometheusRule)
	if err != nil {
		t.Fatal(err)
	}
	var pr monitoringv1.PrometheusRule
	if err := yaml.UnmarshalStrict(raw, &pr); err != nil {
		t.Fatalf("%s: %v", prometheusRule, err)
	}
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" || pr.Name == "" || pr.Namespace != "" {
		t.Errorf("%s: %s %s %q in namespace %q", prometheusRule, pr.APIVersion, pr.Kind, pr.Name, pr.Namespace)
	}
	var want struct {
		Groups []monitoringv1.RuleGroup `json:"groups"`
	}
	if err := yaml.UnmarshalStrict(rules, &want); err != nil {
		t.Fatalf("%s as the operator's rule groups: %v", rulesFile, err)
	}
	if !reflect.DeepEqual(pr.Spec.Groups, want.Groups) {
		t.Errorf("%s does not hold the rules of %s: run CAIRN_UPDATE=1 go test -run TestPrometheusRule", prometheusRule, rulesFile)
	}
}

// writePrometheusRule writes the PrometheusRule of the rules file.
func writePrometheusRule(t *testing.T, rules []byte) {
	t.Helper()
	var body bytes.Buffer
	body.WriteString(`# The alerts of deploy/prometheus/cairn-alerts.yaml for the Prometheus
# Operator. Generated: edit the rules file, then run, in deploy/validate,
#   CAIRN_UPDATE=1 go test -run TestPrometheusRule
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: cairn
  labels:
    app.kubernetes.io/name: cairn
spec:
`)
	inGroups := false
	for _, line := range strings.SplitAfter(string(rules), "\n") {
		if strings.HasPrefix(line, "groups:") {
			inGroups = true
		}
		if inGroups && line != "" {
			if strings.TrimSpace(line) == "" {
				body.WriteString("\n")
				continue
			}
			body.WriteString("  " + line)
		}
	}
	if err := os.WriteFile(prometheusRule, body.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
