// Command server runs one Cairn member.
//
//	go run ./cmd/server                      # a single member on 127.0.0.1:2379
//	go run ./cmd/server --config-file configs/node1.yaml
//	go run ./cmd/server snapshot restore backup.snap --data-dir DIR ...  # offline; -h for more
//	go run ./cmd/server healthcheck [URL]     # exit 0 when URL (default the local /readyz) answers 200
//
// Every flag also reads from CAIRN_<FLAG> and from the YAML file given by
// --config-file; see the README for the table.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/cairnkv/cairn/internal/app"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cairn:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) > 1 && os.Args[1] == "snapshot" {
		return app.SnapshotCommand(os.Args[2:], os.Stdout, os.Stderr)
	}
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		return app.HealthcheckCommand(os.Args[2:], os.Stdout, os.Stderr)
	}
	cfg, err := app.LoadConfig(os.Args[1:], os.Environ())
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log, err := app.NewLogger(cfg, os.Stderr, isTerminal(os.Stderr))
	if err != nil {
		return err
	}
	a, err := app.New(cfg, log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return a.Run(ctx)
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
