package lincheck

import (
	"testing"

	"github.com/anishathalye/porcupine"
)

// The model and the history preparation on small hand-made histories.
func TestLinearizableModel(t *testing.T) {
	const inf = OpenEnd
	w := func(c int, v string, call, ret int64) *Op {
		o := &Op{Client: c, Key: "k", Kind: Write, Value: v, Call: call, Return: ret}
		if ret == inf {
			o.Outcome = Unknown
		}
		return o
	}
	r := func(c int, v string, call, ret int64) *Op {
		return &Op{Client: c, Key: "k", Kind: Read, Read: v, Call: call, Return: ret}
	}
	cas := func(c int, old, v string, swapped bool, found string, call, ret int64) *Op {
		o := &Op{Client: c, Key: "k", Kind: CAS, Old: old, Value: v, Swapped: swapped, Read: found, Call: call, Return: ret}
		if ret == inf {
			o.Outcome = Unknown
		}
		return o
	}
	failed := func(o *Op) *Op { o.Outcome = Failed; return o }
	cases := []struct {
		name    string
		ops     []*Op
		ok      bool
		prepErr bool // History reports it before the checker
	}{
		{"empty read", []*Op{r(0, "", 0, 1)}, true, false},
		{"write then read", []*Op{w(0, "a", 0, 1), r(1, "a", 2, 3)}, true, false},
		{"stale read", []*Op{w(0, "a", 0, 1), w(0, "b", 2, 3), r(1, "a", 4, 5)}, false, false},
		{"read of an empty register after a write", []*Op{w(0, "a", 0, 1), r(1, "", 2, 3)}, false, false},
		{"concurrent read may see either", []*Op{w(0, "a", 0, 1), w(0, "b", 2, 10), r(1, "a", 3, 4), r(2, "b", 5, 6)}, true, false},
		{"reads go back in time", []*Op{w(0, "a", 0, 1), w(0, "b", 2, 10), r(1, "b", 3, 4), r(2, "a", 5, 6)}, false, false},
		{"read from the future", []*Op{r(1, "a", 0, 1), w(0, "a", 2, 3)}, false, true},
		{"read of a value never written", []*Op{r(1, "z", 0, 1)}, false, true},
		{"read of a write not carried out", []*Op{failed(w(0, "a", 0, 1)), r(1, "a", 2, 3)}, false, true},
		{"unknown write never seen", []*Op{w(0, "a", 0, 1), w(0, "b", 2, inf), r(1, "a", 5, 6)}, true, false},
		{"unknown write seen late", []*Op{w(0, "a", 0, 1), w(0, "b", 2, inf), r(1, "a", 5, 6), r(1, "b", 7, 8)}, true, false},
		{"unknown write seen, then gone", []*Op{w(0, "a", 0, 1), w(0, "b", 2, inf), r(1, "b", 5, 6), r(1, "a", 7, 8)}, false, false},
		{"cas swaps", []*Op{w(0, "a", 0, 1), cas(1, "a", "b", true, "", 2, 3), r(2, "b", 4, 5)}, true, false},
		{"cas swaps a value that is not there", []*Op{w(0, "a", 0, 1), w(0, "c", 2, 3), cas(1, "a", "b", true, "", 4, 5)}, false, false},
		{"cas fails on another value", []*Op{w(0, "a", 0, 1), w(0, "c", 2, 3), cas(1, "a", "b", false, "c", 4, 5)}, true, false},
		{"cas fails on the value it compares", []*Op{w(0, "a", 0, 1), cas(1, "a", "b", false, "a", 4, 5)}, false, false},
		{"read of a failed cas's value", []*Op{w(0, "a", 0, 1), w(0, "c", 2, 3), cas(1, "a", "b", false, "c", 4, 5), r(2, "b", 6, 7)}, false, true},
		{"cas fails on a stale value", []*Op{w(0, "a", 0, 1), w(0, "c", 2, 3), w(0, "d", 4, 5), cas(1, "a", "b", false, "c", 6, 7)}, false, false},
		{"unknown cas seen", []*Op{w(0, "a", 0, 1), cas(1, "a", "b", false, "", 2, inf), r(2, "b", 3, 4)}, true, false},
		{"unknown cas seen without its compare holding", []*Op{w(0, "a", 0, 1), w(0, "c", 2, 3), cas(1, "a", "b", false, "", 4, inf), r(2, "b", 5, 6)}, false, false},
		{"two unknown writes, the later seen first", []*Op{w(0, "a", 0, inf), w(1, "b", 1, inf), r(2, "b", 2, 3), r(2, "a", 4, 5), r(2, "a", 6, 7)}, true, false},
		{"two unknown writes seen both ways", []*Op{w(0, "a", 0, inf), w(1, "b", 1, inf), r(2, "b", 2, 3), r(2, "a", 4, 5), r(2, "b", 6, 7)}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hist, errs := History(tc.ops)
			if got := len(errs) > 0; got != tc.prepErr {
				t.Fatalf("History errors %v, want some: %v", errs, tc.prepErr)
			}
			if tc.prepErr {
				return
			}
			if got := porcupine.CheckOperations(Model(), hist); got != tc.ok {
				t.Fatalf("linearizable = %v, want %v", got, tc.ok)
			}
		})
	}
	// The open end of an unknown write is closed by its first observer.
	hist, _ := History([]*Op{w(0, "a", 0, inf), r(1, "a", 5, 6), r(1, "a", 7, 8), w(0, "b", 9, inf)})
	if len(hist) != 3 || hist[0].Return != 6 {
		t.Fatalf("history %+v: want the unknown write ending at 6 and the unseen one left out", hist)
	}
}
