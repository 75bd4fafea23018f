// Package domain holds Cairn's value types and errors: keys and their
// versions, the requests and answers of the KV API, the replicated Command
// and its Result. It imports the standard library only; the services live in
// its sub-packages and the interfaces they need in package ports.
package domain
