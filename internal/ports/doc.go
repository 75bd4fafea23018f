// Package ports declares the interfaces the domain drives: the replicated
// log (Proposer) and the MVCC store (Backend and its transactions). Package
// portstest has in-memory fakes and a contract suite that every Backend must
// pass.
package ports
