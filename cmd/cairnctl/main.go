// Command cairnctl is the command-line client of Cairn, with etcdctl's
// verbs, flags and output formats:
//
//	go run ./cmd/cairnctl put foo bar
//	go run ./cmd/cairnctl --endpoints http://10.0.0.1:2379,http://10.0.0.2:2379 get foo
//	go run ./cmd/cairnctl -w table member list
//
// Every global flag also reads from CAIRNCTL_<FLAG> (CAIRNCTL_ENDPOINTS,
// ...). `cairnctl --help` lists the verbs; `cairnctl VERB --help` has
// examples.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// SIGINT and SIGTERM end the context: a one-shot call is abandoned,
	// and lock, elect, watch and keep-alive let go of what they hold.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr}, os.Getenv)
	stop()
	os.Exit(code)
}
