// Package election is leader election on the lock queue of package lock:
// each candidate puts <name>/<lease id in hex> with its value; the key with
// the lowest create revision leads. The leader can change its value
// without losing leadership (Proclaim), step down (Resign), and anyone can
// follow every change of leader or value (Observe).
package election
