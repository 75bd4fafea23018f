// Package kv is the key-value service: it validates requests, proposes
// writes through the replicated log (ports.Proposer) and answers reads from
// the local store (ports.Backend) after a read barrier, or at once for
// serializable reads.
package kv
