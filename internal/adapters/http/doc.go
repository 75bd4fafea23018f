// Package http is Cairn's REST/JSON API on chi: the KV, txn, compact,
// cluster and maintenance calls of api/openapi.yaml, health, readiness and
// metrics (Handler, for the client URLs), and the members' API that
// followers use to reach the leader (PeerHandler, which the Raft node serves
// on the peer port to members only). Errors are mapped to statuses in one
// table (errors.go) and written by one function. One middleware
// (request.go) gives every request its ID, access log line, metrics and
// panic recovery, and keeps what a long-lived watch stream holds small.
package http
