// Package http is Cairn's REST/JSON API on chi: the KV, txn, compact,
// cluster and maintenance calls of api/openapi.yaml, the forwarding
// endpoints members use to reach the leader, health, readiness and
// metrics. Errors are mapped to statuses in one table (errors.go) and
// written by one function.
package http
