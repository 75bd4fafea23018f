// Package lock is the distributed lock recipe of etcd's concurrency
// package, served by the members: a lock is a queue of keys
// <name>/<lease id in hex>, each attached to its holder's lease. The key
// with the lowest create revision holds the lock; every waiter watches
// only the key just before its own (no thundering herd) and re-checks when
// that one goes. The fence is the owner key's create revision: it grows
// with each new owner, so a resource can refuse a holder that was paused
// past its lease. A holder that dies loses its lease, its key goes, and
// the next waiter gets the lock. Package election uses the same queue.
package lock
