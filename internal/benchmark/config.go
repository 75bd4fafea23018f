package benchmark

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Config is what a benchmark runs against and how hard. Only Endpoints is
// required; zero values mean the defaults, which are etcd's benchmark's
// where it has the same option.
type Config struct {
	// Endpoints are the client URLs of the cluster's members. Connection
	// i talks to Endpoints[i mod len] first and fails over to the others,
	// so that the load is spread over the members (see TargetLeader).
	Endpoints []string
	// TargetLeader sends every request to the leader: Run asks each
	// endpoint for its status and puts the leader first everywhere.
	TargetLeader bool
	// TLS configures https endpoints; Username and Password, a cluster
	// with auth enabled (see client.Config).
	TLS                *tls.Config
	Username, Password string
	// DialTimeout bounds each connection's dial (default 5s);
	// RequestTimeout each request, its retries included (default 10s).
	DialTimeout    time.Duration
	RequestTimeout time.Duration

	// Conns is the number of TCP connections the clients share (default:
	// one per client, and never more than Clients). Each is a
	// client.Client over a transport of its own that holds at most one
	// connection per member, so Conns is what really connects; client i
	// uses connection i mod Conns. Over HTTP/1.1 a connection carries one
	// request at a time: Clients above Conns queue for a connection, and
	// the wait counts in their latency. Set HTTP2 to multiplex them, as
	// etcd's clients do over gRPC.
	Conns int
	// Clients is the number of goroutines sending requests, each one
	// request at a time (default 1).
	Clients int
	// HTTP2 speaks HTTP/2 to the members: by prior knowledge (h2c) on
	// http:// endpoints, negotiated on https:// ones. The default is
	// HTTP/1.1, what client.New uses on http:// endpoints.
	HTTP2 bool
	// Total is the number of requests (default 10000); for Watch, of puts.
	Total int
	// Rate caps the requests per second over all the clients (0: as fast
	// as they go). Request n is sent no earlier than n/Rate seconds after
	// the start; its latency is counted from when it is sent.
	Rate float64

	// KeySize is the length of every key (default 8): KeyPrefix then the
	// key's number in decimal, padded with zeros, so that the keys of a
	// run sort in number order and read as text ("00000042").
	KeySize int
	// KeyPrefix starts every key (default none).
	KeyPrefix string
	// KeySpaceSize is the number of distinct keys (default 1): the keys
	// numbered 0 to KeySpaceSize-1.
	KeySpaceSize int
	// SequentialKeys takes the keys in order (request n uses key n mod
	// KeySpaceSize) instead of at random.
	SequentialKeys bool
	// ValSize is the length of every value (default 8).
	ValSize int
}

// Default values of Config.
const (
	DefaultTotal          = 10000
	DefaultKeySize        = 8
	DefaultValSize        = 8
	DefaultKeySpaceSize   = 1
	DefaultDialTimeout    = 5 * time.Second
	DefaultRequestTimeout = 10 * time.Second
)

// maxKeyBytes bounds the key table Run builds before it starts
// (KeySpaceSize × KeySize bytes).
const maxKeyBytes = 1 << 30

// withDefaults returns cfg with its zero values replaced by the defaults,
// or an error for values that make no sense.
func (cfg Config) withDefaults() (Config, error) {
	if len(cfg.Endpoints) == 0 {
		return cfg, errors.New("benchmark: no endpoints")
	}
	if cfg.Clients == 0 {
		cfg.Clients = 1
	}
	if cfg.Conns == 0 || cfg.Conns > cfg.Clients {
		cfg.Conns = cfg.Clients
	}
	if cfg.Total == 0 {
		cfg.Total = DefaultTotal
	}
	if cfg.KeySize == 0 {
		cfg.KeySize = DefaultKeySize
	}
	if cfg.ValSize == 0 {
		cfg.ValSize = DefaultValSize
	}
	if cfg.KeySpaceSize == 0 {
		cfg.KeySpaceSize = DefaultKeySpaceSize
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	switch {
	case cfg.Clients < 0, cfg.Conns < 0:
		return cfg, fmt.Errorf("benchmark: %d clients over %d connections: want positive numbers", cfg.Clients, cfg.Conns)
	case cfg.Total < 0:
		return cfg, fmt.Errorf("benchmark: total %d: want a positive number", cfg.Total)
	case cfg.Rate < 0:
		return cfg, fmt.Errorf("benchmark: rate %g: want a positive number (0: no limit)", cfg.Rate)
	case cfg.KeySize < 0, cfg.ValSize < 0, cfg.KeySpaceSize < 0:
		return cfg, fmt.Errorf("benchmark: key size %d, value size %d, key space size %d: want positive numbers",
			cfg.KeySize, cfg.ValSize, cfg.KeySpaceSize)
	case cfg.DialTimeout < 0, cfg.RequestTimeout < 0:
		return cfg, errors.New("benchmark: negative timeout")
	}
	if need := len(cfg.KeyPrefix) + len(strconv.Itoa(cfg.KeySpaceSize-1)); cfg.KeySize < need {
		return cfg, fmt.Errorf("benchmark: key size %d is too small for %d keys with the prefix %q: want at least %d",
			cfg.KeySize, cfg.KeySpaceSize, cfg.KeyPrefix, need)
	}
	if int64(cfg.KeySize)*int64(cfg.KeySpaceSize) > maxKeyBytes {
		return cfg, fmt.Errorf("benchmark: %d keys of %d bytes: more than the %d MiB of keys a run holds",
			cfg.KeySpaceSize, cfg.KeySize, maxKeyBytes>>20)
	}
	return cfg, nil
}
