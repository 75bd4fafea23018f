package concurrency_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cairnkv/cairn/internal/app"
	"github.com/cairnkv/cairn/internal/testutil/freeport"
)

// endpoints are the client URLs of the member TestMain starts for the
// examples. The package's behaviour is tested in package client, against
// single and three-member clusters.
var endpoints []string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "cairn-concurrency-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	port, err := freeport.Get()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	peer := app.Peer{Name: "example", URL: fmt.Sprintf("http://127.0.0.1:%d", port)}
	cfg := app.Defaults()
	cfg.Name, cfg.DataDir = peer.Name, dir
	cfg.ListenClientURLs = []string{"http://127.0.0.1:0"}
	cfg.ListenPeerURL = peer.URL
	cfg.InitialCluster = []app.Peer{peer}
	cfg.HeartbeatInterval, cfg.ElectionTimeout = 50*time.Millisecond, 500*time.Millisecond
	a, err := app.New(cfg.WithDerivedDefaults(), zerolog.Nop())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	endpoints = []string{a.ClientURL()}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(a.ClientURL() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "member not ready")
			return 1
		}
	}
	return m.Run()
}
