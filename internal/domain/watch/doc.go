// Package watch streams the changes of a key range to watchers, in
// revision order, each exactly once, from any start revision.
//
// The Hub is fed by the state machine after each committed batch and keeps
// the most recent revisions in a bounded ring. A Watcher serves its changes
// from the ring while it keeps up, and from the store's history (a View's
// Events) when it starts in the past or falls behind the ring (a slow
// reader): like etcd's synced and unsynced watcher groups, without ever
// dropping an event or holding memory for a slow reader. Publishing never
// waits for a watcher.
package watch
