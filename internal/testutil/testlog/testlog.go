// Package testlog sends the logs of servers started by a test to that test.
package testlog

import (
	"io"
	"strings"
	"sync"
	"testing"
)

// Writer returns a writer that logs each line to t until t ends, and drops
// what comes after. hashicorp/raft's transport goroutines can log after a
// member has stopped (Close does not wait for its connection goroutines),
// and a t.Log after the test is a data race.
//
// Call it before starting the servers that write to it: its cleanup then
// runs after theirs (cleanups run last registered, first run).
func Writer(t testing.TB) io.Writer {
	w := &writer{t: t}
	t.Cleanup(w.detach)
	return w
}

type writer struct {
	mu       sync.Mutex
	t        testing.TB
	detached bool
}

func (w *writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.detached {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func (w *writer) detach() {
	w.mu.Lock()
	w.detached = true
	w.mu.Unlock()
}
