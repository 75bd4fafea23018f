package benchmark

import (
	"cmp"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"syscall"

	"github.com/cairnkv/cairn/client"
)

// ErrorCount is how many requests failed with one kind of error.
type ErrorCount struct {
	// Kind is the API's error code ("timeout", "no_leader", ...), or for
	// failures without an answer "connection_refused",
	// "connection_reset", "deadline_exceeded", "indeterminate", "network"
	// or "other"; for Watch also "watch_events_missing".
	Kind  string
	Count int64
	// Example is the message of the first error of the kind.
	Example string
}

// errorKind returns the kind of a request's error.
func errorKind(err error) string {
	var e *client.Error
	var ne net.Error
	switch {
	case errors.As(err, &e):
		if e.Code != "" {
			return e.Code
		}
		return "http_" + strconv.Itoa(e.StatusCode)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "connection_reset"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline_exceeded"
	case errors.Is(err, client.ErrIndeterminate):
		return "indeterminate"
	case errors.As(err, &ne):
		return "network"
	}
	return "other"
}

// errorCounts counts the errors of one client (no lock: its own).
type errorCounts struct {
	counts   map[string]int64
	examples map[string]string
}

func (ec *errorCounts) add(err error) {
	kind := errorKind(err)
	if ec.counts == nil {
		ec.counts, ec.examples = map[string]int64{}, map[string]string{}
	}
	if ec.counts[kind] == 0 {
		msg := err.Error()
		if len(msg) > 300 {
			msg = msg[:300] + "..."
		}
		ec.examples[kind] = msg
	}
	ec.counts[kind]++
}

// list returns the counts of ec.
func (ec *errorCounts) list() []ErrorCount {
	out := make([]ErrorCount, 0, len(ec.counts))
	for kind, n := range ec.counts {
		out = append(out, ErrorCount{Kind: kind, Count: n, Example: ec.examples[kind]})
	}
	return out
}

// mergeErrors adds up the counts of every client.
func mergeErrors(all []errorCounts) []ErrorCount {
	lists := make([][]ErrorCount, len(all))
	for i := range all {
		lists[i] = all[i].list()
	}
	return combineErrors(lists...)
}

// combineErrors adds up counts by kind (the first example of a kind
// stays), the most frequent kind first, then by name.
func combineErrors(lists ...[]ErrorCount) []ErrorCount {
	out := []ErrorCount{}
	for _, list := range lists {
		for _, e := range list {
			i := slices.IndexFunc(out, func(c ErrorCount) bool { return c.Kind == e.Kind })
			if i < 0 {
				out = append(out, e)
				continue
			}
			out[i].Count += e.Count
		}
	}
	slices.SortFunc(out, func(a, b ErrorCount) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Kind, b.Kind)
	})
	return out
}
