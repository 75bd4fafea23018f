// Package etcdapi serves etcd's v3 gRPC API (go.etcd.io/etcd/api/v3) over
// Cairn's domain services: a second driving adapter beside the REST API
// (internal/adapters/http), so that etcdctl, clientv3 and the programs
// built on them work against Cairn unchanged.
//
// Each RPC translates the protobuf request into the domain's request
// (whose types mirror etcd's), calls the same service the REST API calls
// (one linearizability, one auth, one quota), and translates the answer
// back; domain errors become etcd's gRPC status errors in one table
// (errors.go), with the messages clientv3 turns into its typed errors.
// The server is an http.Handler (grpc.Server.ServeHTTP), so that the
// client port serves REST and gRPC side by side. Gateway (gateway.go) is
// etcd's JSON gateway to the same server, for the paths under /v3/; see
// DESIGN.md.
package etcdapi
