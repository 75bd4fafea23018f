// Package client is the Go client of Cairn, a distributed, strongly
// consistent key-value store replicated with Raft, over its REST/JSON API
// (api/openapi.yaml). It is modelled on etcd's clientv3.
//
// # Connecting
//
//	c, err := client.New(client.Config{
//		Endpoints: []string{"http://10.0.0.1:2379", "http://10.0.0.2:2379", "http://10.0.0.3:2379"},
//	})
//	if err != nil { ... }
//	defer c.Close()
//
// Any member serves any request (a member forwards writes to the leader),
// so the client talks to one endpoint at a time, over kept-alive
// connections, and moves on to the next one when it fails. What it sends
// again is what is safe to send again:
//
//   - reads (Get, read-only Txn, Status, TimeToLive, Leases, Leader, ...),
//     watches and keepalives, after any failure;
//   - writes (Put, Delete, Txn, Compact, Grant, Revoke, Lock, Campaign,
//     ...) only when they certainly were not carried out: the connection
//     was refused before the request was sent, or the member answered
//     503 no_leader / unavailable (after waiting for its Retry-After, at
//     most Config.MaxRetryWait, once every endpoint failed in a row).
//
// A write whose outcome is unknown is not sent again: a 504 timeout, a
// connection that broke after the request was sent, or a context that
// ended while waiting for the answer. The error then matches
// ErrIndeterminate: read the key to find out, or make the write
// conditional (WithIfModRevision, Txn) so that it can be retried safely.
// Config.RequestTimeout bounds every call that has no earlier deadline.
//
// # Keys and values
//
// Keys and values are bytes. The API takes Go strings, which hold any
// bytes (NUL, invalid UTF-8, '/'); KeyValue gives them back as []byte,
// exactly as written. Keys travel percent-encoded in URL paths, values as
// raw request bodies, and answers are asked for in base64, so that nothing
// is ever mangled.
//
// # Key-value calls
//
// Get, Put and Delete take functional options (OpOption): range forms
// (WithPrefix, WithRange, WithFromKey), read options (WithLimit, WithRev,
// WithSort, WithKeysOnly, WithCountOnly, WithSerializable, revision
// filters), write options (WithLease, WithPrevKV, WithIgnoreValue,
// WithIgnoreLease) and WithIfModRevision, a compare-and-swap. Txn runs
// compares (Compare over Value, Version, CreateRevision, ModRevision,
// LeaseCmp) and ops (OpGet, OpPut, OpDelete, OpTxn) atomically:
//
//	resp, err := c.Txn(ctx).
//		If(client.Compare(client.ModRevision("config"), "=", rev)).
//		Then(client.OpPut("config", "v2")).
//		Else(client.OpGet("config")).
//		Commit()
//
// # Errors
//
// A member's error answer is an *Error (status, code, message, header,
// and for ErrCompacted the compact revision, for ErrPreconditionFailed the
// current key). It matches the sentinels ErrKeyNotFound, ErrLeaseNotFound,
// ErrNotFound, ErrCompacted, ErrPreconditionFailed, ErrLocked, ErrNoLeader,
// ErrUnavailable, ErrTimeout, ErrIndeterminate, ErrInvalidArgument,
// ErrRequestTooLarge, ErrConflict, ... with errors.Is, by its code:
//
//	_, err := c.Put(ctx, "counter", "2", client.WithIfModRevision(rev))
//	var e *client.Error
//	if errors.As(err, &e) && errors.Is(err, client.ErrPreconditionFailed) {
//		current := e.KV // nil when the key does not exist
//	}
//
// # Watches
//
// Watch streams changes over Server-Sent Events, one WatchResponse per
// revision. It resumes by itself after a broken connection or a member
// that went away, on the next endpoint, right after the last revision it
// delivered: no gap, no duplicate. A start revision that was compacted
// ends the watch with an ErrCompacted response.
//
// # Leases
//
// Grant, Revoke, TimeToLive, Leases, KeepAliveOnce, and KeepAlive, a
// background loop that renews a lease every TTL/3 until its context ends
// or the lease is gone.
//
// # Locks and elections
//
// Lock, LockStatus and Unlock, and Campaign, Proclaim, Leader, Observe and
// Resign, are the members' lock and election APIs. The sub-package
// concurrency builds on them the recipes of etcd's concurrency package:
// Session (a lease kept alive), Mutex and Election.
package client
