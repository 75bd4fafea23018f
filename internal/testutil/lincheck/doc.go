// Package lincheck is test infrastructure for Jepsen-style linearizability
// tests of Cairn: clients that read, write and compare-and-swap registers
// over the REST API, the record of their operations, and a porcupine
// register model to check each key's history against.
//
// It is used by tests only (internal/app's in-process cluster test and
// e2e's multi-process tests); nothing in the server imports it.
//
// A test starts a few Clients on a shared Counter and time origin, runs
// them while it injects faults, gathers their Ops, groups them per key
// with ByKey and calls Check, which reports a history that is not
// linearizable with Report.
//
// The outcome of a request follows "What a client may assume" in
// README.md (see Classify):
//
//   - 200 (and 404 for a read: the register is empty) completed: OK;
//   - 503, and a connection that was never made, were not carried out:
//     Failed (a read that failed in any way is Failed too);
//   - 504, a client timeout, a broken connection or any other answer leave
//     a write's outcome Unknown: it stays in the history with an open end
//     (it may take effect at any time after its invocation, or never).
//
// Every value a Client writes is unique, which is what lets History close
// the open end of an unknown write at its first observer.
package lincheck
