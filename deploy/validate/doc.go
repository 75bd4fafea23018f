// Package validate holds the tests that check, offline, every file under
// deploy/ and the Dockerfile with the parsers and schemas of the tools
// that read them: the Kubernetes manifests decoded strictly into the
// Kubernetes API types (and the ServiceMonitor and PrometheusRule into the
// Prometheus Operator's), the compose file against the compose
// specification's JSON schema, the alert rules with Prometheus' rule
// parser, the dashboard with the Grafana Foundation SDK's types and every
// query of both with Prometheus' PromQL parser, the Dockerfile with
// BuildKit's parser. The configuration each file gives a member is loaded
// by the server's own configuration code, and every metric the queries
// name is looked for on a running member.
//
// It is a module of its own, so that these dependencies stay out of the
// server's: `cd deploy/validate && go test ./...` (.ci/run runs it). It
// uses the server's code from this tree (a replace of ../..): when the
// server's go.mod changes, `go mod tidy` here may be needed too.
package validate
