// Package lease keeps leases: times to live that keys are attached to, so
// that a service's registration disappears when the service dies.
//
// Grants, revokes and checkpoints go through Raft (package apply keeps the
// lease table). Deadlines are the leader's business, outside the state
// machine: the Lessor on the leader holds them in a heap, renews them on
// keepalives and proposes a revoke when one passes. A new leader restarts
// every countdown from the remaining TTL last checkpointed through Raft
// (or the full TTL), plus an election timeout, so that no lease expires
// early because the leader changed; the periodic checkpoints keep repeated
// leader changes from keeping a dead holder's lease alive for ever.
//
// The leader's clock (ports.Clock) is the only one that matters. A step
// forward counts as time passed, as after a pause: a lease with less left
// expires at the lessor's next check unless a keepalive renews it first,
// as in etcd. A step back is ignored (steady.go), so it cannot lengthen a
// countdown. A follower's clock plays no part.
package lease
