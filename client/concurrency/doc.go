// Package concurrency builds distributed locks and leader elections on a
// Cairn cluster, in the manner of etcd's clientv3/concurrency, over the
// members' lock and election APIs.
//
// Everything is held through a Session: a lease the client keeps alive.
// When the process dies its keepalives stop, the lease expires a TTL
// later, and its locks and leaderships are released; Session.Close
// releases them at once.
//
//	s, err := concurrency.NewSession(ctx, c, concurrency.WithTTL(10))
//	defer s.Close()
//
//	m := concurrency.NewMutex(s, "jobs/nightly")
//	if err := m.Lock(ctx); err != nil { ... }
//	// ... guarded work; pass m.Fence() to the resources it touches ...
//	m.Unlock(ctx)
//
//	e := concurrency.NewElection(s, "scheduler")
//	if err := e.Campaign(ctx, "host-a:8080"); err != nil { ... } // waits until it leads
//	for lr := range e.Observe(ctx) { ... }                       // elsewhere: follow the leader
//
// A lock is fair (waiters get it in arrival order) and fenced: Mutex.Fence
// grows with each new owner, so that a resource can refuse the writes of a
// stale owner whose lease expired while it was paused; Mutex.IsOwner is a
// compare that guards a transaction with the lock.
package concurrency
