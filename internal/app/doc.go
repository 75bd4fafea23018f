// Package app loads a member's configuration (flags, CAIRN_* environment,
// YAML) and wires the store, the Raft node and the HTTP API together. It is
// the only package where the concrete adapters meet; its tests start whole
// clusters in process.
package app
