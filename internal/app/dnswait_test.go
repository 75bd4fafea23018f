package app

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestWaitResolvable(t *testing.T) {
	t.Parallel()
	notYet := errors.New("no such host")
	tests := []struct {
		name      string
		host      string
		failures  int32 // lookups that fail before one succeeds (-1: all)
		wantCalls int32
		wantLog   string
	}{
		{name: "IP", host: "10.0.0.1", wantCalls: 0},
		{name: "Resolves", host: "cairn-0.cairn-headless", wantCalls: 1},
		{name: "Later", host: "cairn-0.cairn-headless", failures: 2, wantCalls: 3, wantLog: "the advertised peer host name resolves"},
		{name: "Never", host: "cairn-0.cairn-headless", failures: -1, wantLog: "does not resolve"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			lookup := func(ctx context.Context, host string) ([]string, error) {
				if host != tt.host {
					t.Errorf("looked up %q, want %q", host, tt.host)
				}
				if n := calls.Add(1); tt.failures < 0 || n <= tt.failures {
					return nil, notYet
				}
				return []string{"10.0.0.1"}, nil
			}
			var buf bytes.Buffer
			waitResolvable(tt.host, 50*time.Millisecond, time.Millisecond, lookup, zerolog.New(&buf))
			if tt.wantCalls > 0 && calls.Load() != tt.wantCalls {
				t.Errorf("%d lookups, want %d", calls.Load(), tt.wantCalls)
			}
			if !strings.Contains(buf.String(), tt.wantLog) {
				t.Errorf("log %q, want %q", buf.String(), tt.wantLog)
			}
		})
	}
}
