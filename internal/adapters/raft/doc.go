// Package raft runs a Cairn member's consensus on hashicorp/raft: the
// Raft log and stable store in raft-boltdb, file snapshots, a TCP peer
// port (TLS from the first byte with PeerTLS) that carries Raft and the
// members' HTTP calls (served to members only), a batching FSM over the state machine in package apply, ReadIndex
// linearizable reads, and forwarding of proposals and read points from
// followers to the leader. Node implements ports.Proposer.
//
// See DESIGN.md for the invariants.
package raft
