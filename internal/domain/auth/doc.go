// Package auth authenticates users and decides what they may do.
//
// The replicated state (users with bcrypt password hashes, roles, the
// permissions of each role on keys, ranges and prefixes, whether auth is
// enabled) lives in the store as a domain.AuthState, changed only through
// CmdAuth entries. A Store keeps a compiled copy of it in memory for the
// checks, reloaded after every applied change. Check is the one place that
// decides whether a user may do something; the API adapters name what a
// request needs (a Need) and ask it.
//
// Users prove who they are with a password (HTTP Basic or Authenticate), a
// token that Authenticate signed, or a verified TLS client certificate (its
// common name). Tokens are HMAC-SHA256 signed with a key chosen when auth
// is enabled and replicated with the state, so any member verifies any
// member's token without a round trip; a token names the epoch of the
// enable and the revision of the user's password, so that disabling auth
// or changing the password voids it everywhere, and permissions are read
// from the state on every check, so that revoking one takes effect at once.
package auth
