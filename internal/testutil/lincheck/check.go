package lincheck

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// ByKey groups ops per key and returns the keys in order.
func ByKey(ops []*Op) (map[string][]*Op, []string) {
	byKey := map[string][]*Op{}
	for _, o := range ops {
		byKey[o.Key] = append(byKey[o.Key], o)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return byKey, keys
}

// MaxOps returns the length of the longest history in byKey.
func MaxOps(byKey map[string][]*Op) int {
	n := 0
	for _, ops := range byKey {
		n = max(n, len(ops))
	}
	return n
}

// Check checks each key's history against Model, giving the checker at
// most timeout per key, and returns how many keys failed. It fails t for
// every value History finds impossible, every key whose history is not
// linearizable and every key the checker could not decide in time; the
// first key that is not linearizable is reported in full (see Report).
// It logs how long the check took.
func Check(t testing.TB, byKey map[string][]*Op, timeout time.Duration) (failed int) {
	t.Helper()
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	start := time.Now()
	var slowest time.Duration
	var slowestKey string
	reported := false
	for _, k := range keys {
		hist, errs := History(byKey[k])
		for _, err := range errs {
			t.Errorf("key %s: %v", k, err)
		}
		t0 := time.Now()
		res := porcupine.CheckOperationsTimeout(Model(), hist, timeout)
		if d := time.Since(t0); d > slowest {
			slowest, slowestKey = d, k
		}
		switch {
		case res == porcupine.Unknown:
			failed++
			t.Errorf("key %s: the checker timed out on %d ops", k, len(hist))
		case res != porcupine.Ok || len(errs) > 0:
			failed++
			t.Errorf("key %s: the history is not linearizable", k)
			if !reported {
				reported = true
				Report(t, k, byKey[k], hist)
			}
		}
	}
	t.Logf("checked %d keys in %v (slowest %s: %v)", len(keys), time.Since(start).Round(time.Millisecond), slowestKey, slowest.Round(time.Microsecond))
	return failed
}

// Report logs the part of a key's history where linearization got stuck,
// and writes the whole history (history.txt) and porcupine's
// visualization of it (history.html) to a directory that outlives the
// test. hist is History's result for ops.
func Report(t testing.TB, key string, ops []*Op, hist []porcupine.Operation) {
	t.Helper()
	sorted := slices.Clone(ops)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Call < sorted[j].Call })

	// The first op (by invocation) outside the longest partial
	// linearization is where it got stuck.
	model := Model()
	_, info := porcupine.CheckOperationsVerbose(model, hist, 30*time.Second)
	var longest []int
	for _, part := range info.PartialLinearizations() {
		for _, l := range part {
			if len(l) > len(longest) {
				longest = l
			}
		}
	}
	in := map[*Op]bool{}
	for _, i := range longest {
		in[hist[i].Metadata.(*Op)] = true
	}
	var stuck *Op
	for _, o := range sorted {
		if o.Outcome != Failed && !in[o] && (o.Outcome == OK || o.Return != OpenEnd) {
			stuck = o
			break
		}
	}
	var b strings.Builder
	if stuck != nil {
		fmt.Fprintf(&b, "the longest linearizable part has %d of %d ops; the first op outside it is\n  %v\nand around it:", len(longest), len(hist), stuck)
		for _, o := range sorted {
			if o.Call <= stuck.Call+int64(200*time.Millisecond) && o.Return >= stuck.Call-int64(300*time.Millisecond) {
				fmt.Fprintf(&b, "\n  %v", o)
			}
		}
	}
	t.Logf("key %s: %s", key, b.String())

	dir, err := os.MkdirTemp("", "cairn-linearizable-")
	if err != nil {
		t.Log(err)
		return
	}
	var all strings.Builder
	for _, o := range sorted {
		fmt.Fprintf(&all, "%v\n", o)
	}
	if err := os.WriteFile(filepath.Join(dir, "history.txt"), []byte(all.String()), 0o644); err != nil {
		t.Log(err)
	}
	if err := porcupine.VisualizePath(model, info, filepath.Join(dir, "history.html")); err != nil {
		t.Log(err)
	}
	t.Logf("key %s: the whole history is in %s (history.txt, history.html)", key, dir)
}
