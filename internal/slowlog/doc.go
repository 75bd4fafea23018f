// Package slowlog warns, with numbers, when an operation of a member takes
// longer than it should: an apply batch, a Raft log fsync, a request. The
// warning says how long it took and what was expected ("apply took 250ms,
// expected under 100ms", as etcd's "apply request took too long"), and is
// rate-limited: a slow disk makes every write slow, and one line every few
// seconds, with the count and the worst of those left out, tells an
// operator as much as a thousand.
package slowlog
