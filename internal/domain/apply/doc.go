// Package apply is Cairn's deterministic state machine: Apply turns one
// replicated Command into changes of an open ports.Batch and a Result, and
// Range answers reads with the same semantics inside and outside a txn.
//
// See DESIGN.md for the invariants.
package apply
