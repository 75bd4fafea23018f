// Package bolt is Cairn's MVCC store on bbolt: it implements ports.Backend.
//
// Every version of every key is one record of the "key" bucket, keyed by its
// revision, and an in-memory B-tree index maps each key to the revisions of
// its generations. The lease table ("leases" and "lease_keys") is current
// state beside the history, kept in step by Put and DeleteRange. One Batch (the Raft state machine's write transaction) is
// the only writer; Views read the last committed revision concurrently.
// DESIGN.md explains the encodings, the index and the lock order.
package bolt
